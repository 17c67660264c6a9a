"""Finding and opening the git repository runs are recorded in."""

from __future__ import annotations

import getpass
import os
import socket
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

from gittrack.errors import NoRepository, RepositoryError

if TYPE_CHECKING:
    import pygit2


def find_repo_path(start: str | os.PathLike[str] | None = None) -> str:
    """The git directory for ``start``: ``GITTRACK_REPO``, else the working directory.

    Raises:
        NoRepository: when there is no git repository at or above that path.
    """
    import pygit2

    where = (
        os.fspath(start) if start is not None else os.environ.get("GITTRACK_REPO") or os.getcwd()
    )
    found = pygit2.discover_repository(where)
    if found is None:
        raise NoRepository(os.path.abspath(where))
    return found


class Repo:
    """A git repository opened for gittrack: pygit2 handle, paths, config, identity."""

    def __init__(self, path: str | os.PathLike[str] | None = None) -> None:
        import pygit2

        gitdir = find_repo_path(path)
        try:
            self.git = pygit2.Repository(gitdir)
        except pygit2.GitError as exc:
            raise RepositoryError(f"Cannot open git repository {gitdir}: {exc}") from exc
        self.gitdir = Path(self.git.path)

    @cached_property
    def common_dir(self) -> Path:
        """The git directory shared by all worktrees (where refs and objects live)."""
        cd = self.gitdir / "commondir"
        if cd.is_file():
            return (self.gitdir / cd.read_text().strip()).resolve()
        return self.gitdir

    @cached_property
    def state_dir(self) -> Path:
        """``.git/gittrack``: local, derived state (locks, index, artifact cache)."""
        d = self.common_dir / "gittrack"
        d.mkdir(parents=True, exist_ok=True)
        return d

    @property
    def workdir(self) -> Path | None:
        wd = self.git.workdir
        return Path(wd) if wd else None

    @property
    def is_bare(self) -> bool:
        return self.git.is_bare

    def config(self, key: str, default: Any = None) -> Any:
        """A ``gittrack.*`` (or any) git config value as a string, or ``default``."""
        try:
            return self.git.config[key]
        except (KeyError, ValueError):
            return default

    def config_float(self, key: str, default: float) -> float:
        raw = self.config(key)
        if raw is None:
            return default
        try:
            return float(raw)
        except ValueError as exc:
            raise RepositoryError(f"git config {key}={raw!r} is not a number") from exc

    def signature(self) -> pygit2.Signature:
        """The committer: git's user.name/email, else the OS user at this host."""
        import pygit2

        name = self.config("user.name") or os.environ.get("GIT_AUTHOR_NAME")
        email = self.config("user.email") or os.environ.get("GIT_AUTHOR_EMAIL")
        if not name:
            name = os_user()
        if not email:
            email = f"{os_user()}@{socket.gethostname() or 'localhost'}"
        return pygit2.Signature(name, email)

    def user_name(self) -> str:
        """The user a run is attributed to (``mlflow.user``): the OS user, as MLflow."""
        return os_user()


def os_user() -> str:
    try:
        return getpass.getuser()
    except Exception:  # no passwd entry, no USER variable
        return f"uid{os.getuid()}" if hasattr(os, "getuid") else "unknown"
