"""Git smart-HTTP for the server's repository at ``/git/``, served by dulwich.

``git clone http://HOST:PORT/git/``, ``git fetch`` and ``git push`` (and so
``gittrack pull/push``) work against it; run refs (``refs/gittrack/*``) are
ordinary refs to git, so ``git fetch origin 'refs/gittrack/*:refs/gittrack/*'``
brings the runs along.
"""

from __future__ import annotations

from typing import Any

PREFIX = "/git"


class GitSmartHTTP:
    """An ASGI app serving one repository over git's smart HTTP protocol."""

    def __init__(self, repo_path: str) -> None:
        from dulwich.web import make_wsgi_chain

        self.repo_path = repo_path
        self.wsgi = make_wsgi_chain(_backend(repo_path))

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        from gittrack.server.wsgi import call_wsgi

        path = scope["path"][len(PREFIX) :] or "/"
        await call_wsgi(self.wsgi, scope, receive, send, script_name=PREFIX, path_info=path)


def _backend(repo_path: str) -> Any:
    """A dulwich backend opening the repository afresh per request (no shared caches)."""
    from dulwich.errors import NotGitRepository
    from dulwich.repo import Repo as DulwichRepo
    from dulwich.server import Backend

    class OneRepo(Backend):
        def open_repository(self, path: str | bytes) -> Any:
            if isinstance(path, bytes):
                path = path.decode("utf-8", "replace")
            if path.strip("/"):
                raise NotGitRepository(f"No repository at {path!r}: the server's is at /git/")
            return DulwichRepo(repo_path)

    return OneRepo()
