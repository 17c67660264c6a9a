"""``gittrack hooks install|uninstall|status``: git hooks that record the environment."""

from __future__ import annotations

from typing import Any

import click

from gittrack.cli._common import handle_errors, open_repo, output_options, render, repo_option

_HOOK_HELP = (
    "Hook(s) to act on: pre-commit, post-commit, pre-push; comma-separated or repeated "
    "(default: all)."
)


def _cwd(repo: str | None) -> Any:
    r = open_repo(repo)
    return r.workdir or r.gitdir


@click.group("hooks")
@handle_errors
def hooks_cmd() -> None:
    """Install gittrack's git hooks: pre-commit records the environment in a
    tracked lock file, post-commit notes commits in the live run, pre-push
    pushes runs with branches (opt-in: git config gittrack.push-runs-with-branches true).
    """


@hooks_cmd.command("install")
@click.option("--hook", "hooks", multiple=True, metavar="NAMES", help=_HOOK_HELP)
@click.option("--python", default=None, metavar="PYTHON",
              help="Interpreter the hooks run gittrack with (default: this one).")  # fmt: skip
@repo_option
@handle_errors
def install_cmd(hooks: tuple[str, ...], python: str | None, repo: str | None) -> None:
    """Install the hooks into the repository's hooks directory (core.hooksPath is
    respected). Hooks already there are kept and run first; installing again is safe."""
    from gittrack.hooks.install import install

    for result in install(list(hooks) or None, cwd=_cwd(repo), python=python):
        click.echo(str(result))


@hooks_cmd.command("uninstall")
@click.option("--hook", "hooks", multiple=True, metavar="NAMES", help=_HOOK_HELP)
@repo_option
@handle_errors
def uninstall_cmd(hooks: tuple[str, ...], repo: str | None) -> None:
    """Remove gittrack's hooks and restore the hooks they chained, byte for byte."""
    from gittrack.hooks.install import uninstall

    for result in uninstall(list(hooks) or None, cwd=_cwd(repo)):
        click.echo(str(result))


@hooks_cmd.command("status")
@output_options
@repo_option
@handle_errors
def status_cmd(fmt: str, repo: str | None) -> None:
    """Which gittrack hooks are installed, and whether they chain an older hook."""
    from gittrack.hooks.install import status

    rows = [{"hook": r.name, "state": r.action, "path": str(r.path)} for r in status(_cwd(repo))]
    click.echo(render(rows, ["hook", "state", "path"], fmt))
