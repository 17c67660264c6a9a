"""``gittrack push``, ``pull``, ``fetch`` and ``remote setup``: thin over :mod:`gittrack.remote.transfer`."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import click

from gittrack.cli._common import EXIT_ERROR, handle_errors, open_repo, repo_option
from gittrack.core.validation import is_run_id_prefix


def _split_remote(repo: Any, words: Sequence[str]) -> tuple[str | None, list[str]]:
    """``[REMOTE] [RUN...]`` → (remote or None, runs): the first word is the remote when it
    names one (or is a URL); a hex word that is not a remote name starts the runs."""
    from gittrack.remote.refs import looks_like_url

    if not words:
        return None, []
    first, rest = words[0], list(words[1:])
    names = set(repo.git.remotes.names())
    if first in names or looks_like_url(first):
        return first, rest
    if is_run_id_prefix(first.lower()):
        return None, [first, *rest]
    return first, rest  # resolve_remote reports the unknown name


def _report(result: Any, quiet: bool) -> None:
    """Per-ref lines for what needs attention, then notes, then the summary line."""
    for o in result.outcomes:
        if o.action in ("rejected", "failed", "forced"):
            click.echo(o.describe(), err=o.action != "forced")
    if not quiet:
        for note in result.notes:
            click.echo(f"note: {note}")
    click.echo(result.summary())


def _run(fn: Callable[[], list[Any]], quiet: bool) -> None:
    results = fn()
    for r in results:
        _report(r, quiet)
    if any(not r.ok for r in results):
        raise SystemExit(EXIT_ERROR)


def _remotes(repo: Any, remote: str | None, all_remotes: bool) -> list[str | None]:
    if all_remotes:
        names = list(repo.git.remotes.names())
        if not names:
            raise click.ClickException("This repository has no remotes")
        return names
    return [remote]


progress_option = click.option(
    "--progress/--no-progress",
    default=None,
    help="Show git's transfer progress (default: when stderr is a terminal).",
)


def _transfer_options(verb: str) -> Callable[[Callable[..., None]], Callable[..., None]]:
    """The options push, pull and fetch share, below their own: ``--all-remotes`` ("``verb``
    every configured remote"), ``-q``, ``--progress``, ``--repo``; and the error handling."""

    def apply(fn: Callable[..., None]) -> Callable[..., None]:
        for option in (
            handle_errors,
            repo_option,
            progress_option,
            click.option("-q", "--quiet", is_flag=True, help="Only the summary and problems."),
            click.option("--all-remotes", is_flag=True, help=f"{verb} every configured remote."),
        ):
            fn = option(fn)
        return fn

    return apply


@click.command("push")
@click.argument("words", nargs=-1, metavar="[REMOTE] [RUN]...")
@click.option("-e", "--experiment", help="Push the runs of this experiment (name or id).")
@click.option(
    "--force", is_flag=True, help="Overwrite diverged run refs on the remote (says which)."
)
@click.option("--delete", "delete", multiple=True, metavar="RUN", help="Delete RUN on the remote.")
@click.option("--no-artifacts", is_flag=True, help="Do not upload large artifacts.")
@_transfer_options("Push to")
def push_cmd(
    words: tuple[str, ...],
    experiment: str | None,
    force: bool,
    delete: tuple[str, ...],
    no_artifacts: bool,
    all_remotes: bool,
    quiet: bool,
    progress: bool | None,
    repo: str | None,
) -> None:
    """Push runs (all by default) and experiments to REMOTE.

    Only new runs and runs that moved forward are sent. A run that diverged
    (changed on both sides) is reported with both commit ids and left alone
    unless --force. The exit status is 1 when anything was rejected.
    """
    from gittrack.remote import transfer as remote_mod

    repo_obj = open_repo(repo)
    name, runs = _split_remote(repo_obj, words)
    _run(
        lambda: [
            remote_mod.push(
                repo_obj,
                r,
                runs,
                experiment=experiment,
                force=force,
                delete=delete,
                artifacts=not no_artifacts,
                progress=progress,
            )
            for r in _remotes(repo_obj, name, all_remotes)
        ],
        quiet,
    )


def _fetch_like(pull: bool) -> click.Command:
    @click.argument("words", nargs=-1, metavar="[REMOTE] [RUN]...")
    @click.option(
        "--force",
        is_flag=True,
        help="Replace diverged local runs with the remote's (old ones kept as backup refs).",
    )
    @_transfer_options("Fetch from")
    def cmd(
        words: tuple[str, ...],
        force: bool,
        all_remotes: bool,
        quiet: bool,
        progress: bool | None,
        repo: str | None,
        **kw: Any,
    ) -> None:
        from gittrack.remote import transfer as remote_mod

        repo_obj = open_repo(repo)
        name, runs = _split_remote(repo_obj, words)
        if pull:

            def one(r: str | None) -> Any:
                return remote_mod.pull(
                    repo_obj,
                    r,
                    runs,
                    force=force,
                    artifacts=kw.get("artifacts", False),
                    progress=progress,
                )
        else:

            def one(r: str | None) -> Any:
                return remote_mod.fetch(repo_obj, r, runs, force=force, progress=progress)

        _run(lambda: [one(r) for r in _remotes(repo_obj, name, all_remotes)], quiet)

    if pull:
        cmd = click.option(
            "--artifacts", is_flag=True, help="Also download the runs' large artifacts now."
        )(cmd)
        cmd.__doc__ = """Fetch runs from REMOTE, then refresh the query index.

        New runs are added and runs that moved forward on the remote are
        fast-forwarded; diverged runs are reported with both commit ids and left
        alone. Branches and the working tree are never touched. Exit status 1
        when anything was rejected.
        """
        return click.command("pull")(cmd)
    cmd.__doc__ = """Fetch runs from REMOTE (like pull, without the index refresh).

    Diverged runs are reported with both commit ids and left alone unless --force.
    """
    return click.command("fetch")(cmd)


pull_cmd = _fetch_like(pull=True)
fetch_cmd = _fetch_like(pull=False)


@click.group("remote")
@handle_errors
def remote_cmd() -> None:
    """Configure git remotes for runs."""


@remote_cmd.command("setup")
@click.argument("remote", required=False)
@click.option("--no-push", is_flag=True, help="Only the fetch refspec; leave `git push` as it is.")
@repo_option
@handle_errors
def setup_cmd(remote: str | None, no_push: bool, repo: str | None) -> None:
    """Make plain `git fetch` / `git push` to REMOTE carry runs too.

    Adds the refspec refs/gittrack/*:refs/gittrack/* (fast-forward only) for
    fetch and push, plus HEAD for push when the remote had no push refspec, so
    `git push` still pushes the current branch.
    """
    from gittrack.remote import transfer as remote_mod
    from gittrack.remote.refs import resolve_remote

    repo_obj = open_repo(repo)
    name = resolve_remote(repo_obj, remote).name
    added = remote_mod.setup_remote(repo_obj, remote, push=not no_push)
    if not added:
        click.echo(f"{name}: already set up for runs")
        return
    for line in added:
        click.echo(f"added {line}")
    click.echo("The same by hand:")
    for line in remote_mod.setup_commands(name)[: 1 if no_push else None]:
        click.echo(f"  {line}")
