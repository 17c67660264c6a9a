"""What gittrack's git hooks do; ``python -m gittrack.hooks NAME ARGS`` runs one.

- ``pre-commit``: write the environment snapshot to the tracked lock file
  (git config ``gittrack.env-lock-path``, default
  ``.gittrack/environment.lock.yaml``) and stage it when it changed.
- ``post-commit``: note the new commit in the run that made it
  (``GITTRACK_RUN_ID`` in the environment of ``git commit``).
- ``pre-push``: when git config ``gittrack.push-runs-with-branches`` is true,
  push the run refs to the same remote as the branches.

Nothing happens while git replays commits (rebase, cherry-pick, revert), so a
rebase on a detached HEAD goes through untouched. ``git commit --no-verify``
skips ``pre-commit`` (git's own rule). These hooks never block git: the
wrappers report a failure and let git go on.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path, PurePosixPath

from gittrack.errors import HookError
from gittrack.hooks._git import (
    config,
    config_bool,
    config_prefixed,
    git,
    git_text,
    replaying_in,
)
from gittrack.layout import (
    ENVIRONMENT_LOCK_FILE,
    NAMESPACE,
    env_snapshot_cache_path,
    env_snapshot_stamp_path,
    env_snapshot_watch_path,
    state_dir,
)

DEFAULT_LOCK_PATH = ENVIRONMENT_LOCK_FILE
_ZERO = "0" * 40
_OFF = {"", "false", "no", "off", "none", "0"}


def say(message: str) -> None:
    print(f"gittrack: {message}", file=sys.stderr)


_UNREAD = object()


def lock_path(top: Path, raw: str | None | object = _UNREAD) -> str | None:
    """The lock file's path relative to the working tree, or ``None`` when disabled.

    ``raw`` is git config ``gittrack.env-lock-path`` when the caller read it already.

    Raises:
        HookError: when ``gittrack.env-lock-path`` is absolute or leaves the tree.
    """
    if raw is _UNREAD:
        raw = config("gittrack.env-lock-path", cwd=top)
    if raw is None:
        return DEFAULT_LOCK_PATH
    assert isinstance(raw, str)
    if raw.strip().lower() in _OFF:
        return None
    rel = PurePosixPath(raw.strip().replace("\\", "/"))
    if rel.is_absolute() or ".." in rel.parts or not rel.parts or rel.parts[0] == ".git":
        raise HookError(
            f"git config gittrack.env-lock-path={raw!r} must be a path inside the working "
            "tree (relative, no '..', not under .git)"
        )
    return rel.as_posix()


def write_snapshot(
    top: Path, rel: str, python: str | None = None, state: Path | None = None
) -> tuple[bool, bool]:
    """Write the environment snapshot to ``top/rel`` and stage it if the index differs.

    With ``state`` (``.git/gittrack``) and this interpreter (``python`` None), the
    snapshot comes from :func:`cached_snapshot_yaml` when nothing it depends on changed.

    Returns:
        ``(written, staged)``: whether the file on disk changed, whether it was staged.

    Raises:
        HookError: when the file cannot be written or staged.
        EnvironmentCaptureError: when ``python`` cannot report its environment.
    """
    if state is not None and python is None:
        data, problems = cached_snapshot_yaml(top, state)
    else:
        from gittrack.env import environment

        snap = environment.capture(str(top), python=python)
        problems = snap.get("problems", [])
        data = environment.to_yaml(snap)
    for problem in problems:
        say(f"warning: {problem}")
    full = top / rel
    written = False
    try:
        current = full.read_bytes() if full.is_file() else None
        if current != data:
            full.parent.mkdir(parents=True, exist_ok=True)
            tmp = full.with_name(f".{full.name}.tmp{os.getpid()}")
            tmp.write_bytes(data)
            os.replace(tmp, full)
            written = True
    except OSError as exc:
        raise HookError(f"Cannot write {full}: {exc.strerror or exc}") from exc
    staged_line = git_text("ls-files", "-s", "--", rel, cwd=top)
    staged_oid = staged_line.split()[1] if staged_line else None
    staged = False
    if staged_oid != _blob_id(data):
        # -f: the path was configured on purpose, even if a .gitignore covers .gittrack/
        git("add", "-f", "--", rel, cwd=top)
        staged = True
    return written, staged


def _cuda_home() -> str:
    return os.environ.get("CUDA_HOME") or os.environ.get("CUDA_PATH") or "/usr/local/cuda"


def _key_paths() -> list[str]:
    """The files and directories whose ``stat`` the snapshot key depends on: each
    ``sys.path`` entry (installing, upgrading or removing a package adds or removes a
    ``.dist-info`` directory there), the collecting code itself, CUDA's version files."""
    from gittrack.env import collect

    cuda = _cuda_home()
    return [
        *(entry or "." for entry in sys.path),
        collect.__file__,
        __file__,
        os.path.join(cuda, "version.json"),
        os.path.join(cuda, "version.txt"),
    ]


def _snapshot_key(top: Path) -> str:
    """A digest of everything this interpreter's snapshot of ``top`` depends on: the
    interpreter, the ``stat`` of :func:`_key_paths`, the lock/requirements files'
    signatures, ``uname`` and the NVIDIA driver's version."""
    import hashlib

    from gittrack.env import collect

    def stamp(path: str) -> tuple[int, int] | None:
        try:
            st = os.stat(path)
        except OSError:
            return None
        return st.st_mtime_ns, st.st_size

    parts = [
        sys.executable,
        sys.version,
        sys.prefix,
        tuple(os.uname()),
        [(path, stamp(path)) for path in _key_paths()],
        collect.files_signature(str(top.resolve())),
        collect.FORMAT,
        _cuda_home(),
        collect._read_small("/proc/driver/nvidia/version", 4096),
    ]
    return hashlib.sha256(repr(parts).encode("utf-8", "surrogateescape")).hexdigest()


def _watched(top: Path, rel: str) -> list[str]:
    """What the pre-commit wrapper ``stat``s to decide, without Python, that nothing the
    snapshot depends on changed (:func:`stamp_current`): the interpreter and its
    ``pyvenv.cfg``, :func:`_key_paths`, the working tree's top (a lock or requirements
    file added there) and ``requirements/``, the lock/requirements files, the lock file
    itself and git's config files (``gittrack.env-*`` settings)."""
    from gittrack.env import collect

    files = [name for name, *_ in collect.files_signature(str(top.resolve()))]
    config_files = {
        os.path.expanduser("~/.gitconfig"),
        os.path.join(
            os.environ.get("XDG_CONFIG_HOME") or os.path.expanduser("~/.config"), "git", "config"
        ),
        "/etc/gitconfig",
    }
    try:
        listing = git("config", "--list", "--show-origin", "--name-only", "-z", cwd=top)
    except HookError:
        listing = b""
    for item in listing.decode("utf-8", "surrogateescape").split("\0"):
        origin = item.partition("\n")[0]
        if origin.startswith("file:"):
            config_files.add(origin[len("file:") :])
    paths = [
        os.path.realpath(sys.executable),
        os.path.join(sys.prefix, "pyvenv.cfg"),
        *_key_paths(),
        str(top),
        str(top / "requirements"),
        *(str(top / name) for name in files),
        str(top / rel),
        *sorted(config_files),
    ]
    return [os.path.join(top, p) for p in paths]


def stamp_current(top: Path, rel: str, state: Path) -> None:
    """Record that the snapshot at ``rel`` is current and staged, for the pre-commit
    wrapper's shell-only check: the list of watched files (:func:`_watched`), and the
    wrapper's signature of them (``GITTRACK_HOOK_SIG``, taken before this Python
    started) as the stamp. A new watch list drops the stamp: the signature was taken
    over the old list, so the next commit starts Python once more. A change during this
    run makes the next signature differ from the stamp, so it starts Python too."""
    watch = env_snapshot_watch_path(state)
    stamp = env_snapshot_stamp_path(state)
    paths = _watched(top, rel)
    try:
        if any("\n" in p for p in [rel, *paths]):
            watch.unlink(missing_ok=True)  # a line-based list cannot name it
            stamp.unlink(missing_ok=True)
            return
        text = "".join(f"{line}\n" for line in [rel, *paths])
        old = (
            watch.read_text(encoding="utf-8", errors="surrogateescape") if watch.is_file() else None
        )
        sig = os.environ.get("GITTRACK_HOOK_SIG", "")
        if old != text:
            stamp.unlink(missing_ok=True)
            _replace(watch, text)
        elif sig:
            _replace(stamp, sig)
    except OSError:
        pass  # a stamp that cannot be written costs time, not correctness


def _replace(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    tmp.write_text(text, encoding="utf-8", errors="surrogateescape")
    os.replace(tmp, path)


def cached_snapshot_yaml(top: Path, state: Path) -> tuple[bytes, list[str]]:
    """This interpreter's snapshot of ``top`` as YAML and its problems, from the cache at
    :func:`gittrack.layout.env_snapshot_cache_path` while its key is unchanged (a commit
    then costs a few ``stat`` calls, no package scan and no YAML), else captured anew
    and cached."""
    import json

    path = env_snapshot_cache_path(state)
    key = _snapshot_key(top)
    try:
        cached = json.loads(path.read_text(encoding="utf-8"))
        if cached.get("key") == key:
            return cached["yaml"].encode("utf-8"), list(cached.get("problems") or [])
    except (OSError, ValueError, AttributeError, KeyError, TypeError):
        pass  # no cache yet, or one from another version: capture
    from gittrack.env import environment

    snap = environment.capture(str(top))
    problems = list(snap.get("problems", []))
    data = environment.to_yaml(snap)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
        tmp.write_text(
            json.dumps({"key": key, "yaml": data.decode("utf-8"), "problems": problems}),
            encoding="utf-8",
        )
        os.replace(tmp, path)
    except OSError:
        pass  # a cache that cannot be written costs time, not correctness
    return data, problems


def _blob_id(data: bytes) -> str:
    import hashlib

    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


def partial_commit() -> bool:
    """True inside ``git commit PATHS`` (``--only``): git commits from a temporary
    index then, and a file staged there would be missing from the real index."""
    index = os.environ.get("GIT_INDEX_FILE", "")
    return os.path.basename(index).startswith("next-index")


def pre_commit(cwd: str | os.PathLike[str] | None = None) -> int:
    """The ``pre-commit`` hook. Returns the exit status (0).

    Two ``git`` calls before the snapshot (where the repository is, gittrack's
    settings) and the snapshot from the cache when nothing it depends on changed.
    """
    try:
        gitdir, common_raw, top_raw = git_text(
            "rev-parse", "--absolute-git-dir", "--git-common-dir", "--show-toplevel", cwd=cwd
        ).splitlines()[:3]
    except (HookError, ValueError):
        return 0  # a bare repository (no working tree): nothing to snapshot
    top = Path(top_raw)
    if replaying_in(Path(gitdir)):
        return 0
    settings = config_prefixed("gittrack.env-", cwd=top)
    rel = lock_path(top, settings.get("gittrack.env-lock-path"))
    if rel is None:
        return 0
    if partial_commit():
        say(f"partial commit (git commit PATHS): {rel} is left for the next full commit")
        return 0
    python = settings.get("gittrack.env-python") or None
    common = Path(common_raw)
    if not common.is_absolute():
        common = Path(cwd or os.getcwd()) / common
    state = state_dir(common)
    written, staged = write_snapshot(top, rel, python=python, state=state)
    if staged:
        say(f"environment changed: staged {rel}")
    if python is None and not written and not staged:
        stamp_current(top, rel, state)
    return 0


def post_commit(cwd: str | os.PathLike[str] | None = None) -> int:
    """The ``post-commit`` hook: note the new commit in the live run that made it.

    See :mod:`gittrack.hooks.runnotes` for how the run is found and the note kept.
    Lean on purpose (it runs after every commit): standard library only, no pygit2
    on Linux, and one ``git rev-parse`` when there is a run to note.
    """
    from gittrack.hooks import runnotes

    env_run = (os.environ.get("GITTRACK_RUN_ID") or os.environ.get("MLFLOW_RUN_ID") or "").strip()
    if not env_run and not runnotes.ancestor_holds_a_lock():
        return 0  # no live run can be ours: nothing to ask git
    gitdir, common_raw, commit, branch = git_text(
        "rev-parse", "--absolute-git-dir", "--git-common-dir", "HEAD", "--abbrev-ref", "HEAD",
        cwd=cwd,
    ).splitlines()[:4]  # fmt: skip
    if replaying_in(Path(gitdir)):
        return 0
    common = Path(common_raw)
    if not common.is_absolute():
        common = Path(cwd or os.getcwd()) / common
    state = state_dir(common)
    run_ids = [env_run] if env_run else runnotes.live_ancestor_runs(cwd, state_dir=state)
    if not run_ids:
        return 0
    now = int(time.time() * 1000)
    for run_id in run_ids:
        runnotes.note_commit(state, run_id, commit, "" if branch == "HEAD" else branch, now)
    return 0


def pre_push(args: list[str], lines: list[str], cwd: str | os.PathLike[str] | None = None) -> int:
    """The ``pre-push`` hook: push ``refs/gittrack/*`` with the branches when enabled.

    ``args`` are git's (remote name, url); ``lines`` are git's standard input
    (``<local ref> <local sha> <remote ref> <remote sha>``). A failed run push is
    reported and does not stop the branch push.
    """
    if os.environ.get("GITTRACK_PUSHING_RUNS"):
        return 0  # the push below runs this hook again
    if not config_bool("gittrack.push-runs-with-branches", cwd=cwd):
        return 0
    branch_pushed = False
    for line in lines:
        parts = line.split()
        if len(parts) == 4 and parts[0].startswith("refs/heads/") and parts[1] != _ZERO:
            branch_pushed = True
    if not branch_pushed:
        return 0
    remote = (args[0] if args else "") or (args[1] if len(args) > 1 else "")
    if not remote:
        return 0
    if not git_text("for-each-ref", "--count=1", NAMESPACE, cwd=cwd):
        return 0
    env = {**os.environ, "GITTRACK_PUSHING_RUNS": "1"}
    cmd = [sys.executable, "-m", "gittrack", "push", remote]
    say(f"pushing runs to {remote}")
    proc = subprocess.run(cmd, cwd=cwd, env=env, stdin=subprocess.DEVNULL, check=False)
    if proc.returncode != 0:
        say(
            f"pushing runs to {remote} failed (exit {proc.returncode}); the branches are "
            "pushed anyway. Push the runs later with `gittrack push`."
        )
    return 0


def main(argv: list[str]) -> int:
    """Dispatch ``python -m gittrack.hooks NAME ARGS``; errors are printed, exit 1."""
    if not argv:
        say("usage: python -m gittrack.hooks pre-commit|post-commit|pre-push [ARGS]")
        return 2
    name, args = argv[0], argv[1:]
    from gittrack.errors import GittrackError

    try:
        if name == "pre-commit":
            return pre_commit()
        if name == "post-commit":
            return post_commit()
        if name == "pre-push":
            return pre_push(args, sys.stdin.read().splitlines())
    except GittrackError as exc:
        say(str(exc))
        return 1
    say(f"unknown hook {name!r}")
    return 2
