"""The ``gittrack`` command line: a thin layer over :class:`gittrack.api.client.Client`.

Commands live in small modules and are imported only when invoked, so
``gittrack --help`` and ``gittrack log`` start fast. Each is a thin wrapper over
a library function under the one error decorator
:func:`gittrack.cli._common.handle_errors`; exit statuses are listed in
``gittrack --help`` (:data:`gittrack.cli._common.EXIT_STATUS_HELP`).
"""

from __future__ import annotations

import importlib
from typing import Any

import click

from gittrack.cli._common import EXIT_STATUS_HELP

# command name -> "module:attribute"; each module holds one group of commands.
COMMANDS: dict[str, str] = {
    "log": "gittrack.cli.runs:log_cmd",
    "show": "gittrack.cli.runs:show_cmd",
    "diff": "gittrack.cli.runs:diff_cmd",
    "run": "gittrack.cli.runs:run_cmd",
    "checkout": "gittrack.cli.runs:checkout_cmd",
    "rerun": "gittrack.cli.rerun:rerun_cmd",
    "delete": "gittrack.cli.runs:delete_cmd",
    "restore": "gittrack.cli.runs:restore_cmd",
    "experiments": "gittrack.cli.experiments:experiments_cmd",
    "models": "gittrack.cli.models:models_cmd",
    "server": "gittrack.cli.server:server_cmd",
    "push": "gittrack.cli.remote:push_cmd",
    "pull": "gittrack.cli.remote:pull_cmd",
    "fetch": "gittrack.cli.remote:fetch_cmd",
    "remote": "gittrack.cli.remote:remote_cmd",
    "search": "gittrack.cli.search:search_cmd",
    "env": "gittrack.cli.env:env_cmd",
    "hooks": "gittrack.cli.hooks:hooks_cmd",
    "artifacts": "gittrack.cli.artifacts:artifacts_cmd",
    "gc": "gittrack.cli.artifacts:gc_cmd",
    "fsck": "gittrack.cli.artifacts:fsck_cmd",
    "sync": "gittrack.cli.sync:sync_cmd",
    "ui": "gittrack.cli.ui:ui_cmd",
    "import": "gittrack.cli.importer:import_cmd",
}


class LazyGroup(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMANDS)

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        target = COMMANDS.get(name)
        if target is None:
            return None
        module, attr = target.split(":")
        return getattr(importlib.import_module(module), attr)


@click.group(
    cls=LazyGroup,
    context_settings={"help_option_names": ["-h", "--help"]},
    epilog=EXIT_STATUS_HELP,
)
@click.version_option(package_name="gittrack")
def cli() -> None:
    """gittrack: ML experiment tracking in the git repository your code lives in."""


def main(argv: list[str] | None = None) -> Any:
    return cli.main(args=argv, prog_name="gittrack")
