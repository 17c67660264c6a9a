"""``gittrack remote setup``: make plain ``git fetch``/``git push`` carry runs too."""

from __future__ import annotations

from typing import TYPE_CHECKING

from gittrack.errors import InvalidParameter, RemoteError
from gittrack.layout import REFSPEC
from gittrack.remote.gitexec import git_message, run_git
from gittrack.remote.refs import repo_cwd, resolve_remote

if TYPE_CHECKING:
    from gittrack.core.repo import Repo

FETCH_REFSPEC = PUSH_REFSPEC = REFSPEC


def _open(repo: Repo | str | None) -> Repo:
    from gittrack.core.repo import Repo as _Repo

    return repo if isinstance(repo, _Repo) else _Repo(repo)


def _config_all(repo: Repo, key: str) -> list[str]:
    res = run_git(repo_cwd(repo), ["config", "--get-all", key])
    return res.stdout.splitlines() if res.returncode == 0 else []


def _config_bool(repo: Repo, key: str) -> bool | None:
    res = run_git(repo_cwd(repo), ["config", "--type=bool", "--get", key])
    return res.stdout.strip() == "true" if res.returncode == 0 else None


def setup_commands(remote: str) -> list[str]:
    """The manual equivalent of :func:`setup_remote`, as shell lines."""
    return [
        f"git config --add remote.{remote}.fetch '{FETCH_REFSPEC}'",
        f"git config --add remote.{remote}.push HEAD",
        f"git config --add remote.{remote}.push '{PUSH_REFSPEC}'",
    ]


def setup_remote(
    repo: Repo | str | None = None, remote: str | None = None, *, push: bool = True
) -> list[str]:
    """Configure ``remote`` so plain ``git fetch`` / ``git push`` carry runs too.

    Adds the fetch refspec ``refs/gittrack/*:refs/gittrack/*`` (no ``+``: git
    fast-forwards run refs and refuses diverged ones) and, with ``push``, the push
    refspecs ``HEAD`` and ``refs/gittrack/*:refs/gittrack/*`` (``HEAD`` first when
    the remote had no push refspec, so ``git push`` keeps pushing the current
    branch). Running it twice changes nothing.

    Returns:
        The ``key = value`` lines added (empty when already set up).
    Raises:
        UnknownRemote / InvalidParameter: not a configured remote name.
        RemoteError: pruning is on for this remote (``git fetch --prune`` would
        delete every local-only run ref); turn it off for this remote first.
    """
    repo = _open(repo)
    target = resolve_remote(repo, remote)
    if not target.configured:
        raise InvalidParameter(
            f"{target.name!r} is a URL, not a configured remote; `git remote add NAME URL` first"
        )
    name = target.name
    prune = _config_bool(repo, f"remote.{name}.prune")
    if prune is None:
        prune = _config_bool(repo, "fetch.prune")
    if prune:
        raise RemoteError(
            f"Pruning is on for remote {name!r} (fetch.prune or remote.{name}.prune): with "
            "the runs refspec, `git fetch` would delete every run that is not on the remote. "
            f"Turn it off for this remote (`git config remote.{name}.prune false`) and "
            "run setup again."
        )
    added: list[str] = []
    fetches = _config_all(repo, f"remote.{name}.fetch")
    if not any(f.lstrip("+") == FETCH_REFSPEC for f in fetches):
        run_git(repo_cwd(repo), ["config", "--add", f"remote.{name}.fetch", FETCH_REFSPEC])
        added.append(f"remote.{name}.fetch = {FETCH_REFSPEC}")
    if push:
        pushes = _config_all(repo, f"remote.{name}.push")
        wanted = ([] if pushes else ["HEAD"]) + [PUSH_REFSPEC]
        for spec in wanted:
            if spec not in pushes:
                res = run_git(repo_cwd(repo), ["config", "--add", f"remote.{name}.push", spec])
                if res.returncode != 0:
                    raise RemoteError(f"git config failed: {git_message(res)}")
                added.append(f"remote.{name}.push = {spec}")
    return added
