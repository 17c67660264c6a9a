"""Console scripts for the pre-commit framework (``.pre-commit-hooks.yaml``).

- ``gittrack-env-snapshot``: write the environment snapshot to the lock file and
  stage it when it changed. pre-commit runs it from a virtualenv of its own, so
  it captures the *project's* interpreter: ``--python``, else git config
  ``gittrack.env-python``, else ``.venv``/``venv`` in the repository, else the
  first ``python3``/``python`` on ``PATH`` that is not pre-commit's.
- ``gittrack-no-large-files``: refuse staged files above a size limit (default
  1024 KiB) and point at ``gittrack.log_artifact`` for models and data.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
from pathlib import Path

from gittrack.errors import HookError
from gittrack.hooks._git import config, git, toplevel
from gittrack.layout import ENVIRONMENT_LOCK_FILE

DEFAULT_MAX_KB = 1024
MODEL_DATA_SUFFIXES = (
    ".bin", ".ckpt", ".csv", ".feather", ".gguf", ".h5", ".hdf5", ".joblib", ".keras",
    ".npy", ".npz", ".onnx", ".parquet", ".pb", ".pkl", ".pickle", ".pt", ".pth",
    ".safetensors", ".tar", ".tfrecord", ".tgz", ".zip",
)  # fmt: skip


def _in_hook_venv() -> bool:
    """True when running from a virtualenv that pre-commit made for this hook."""
    return os.environ.get("PRE_COMMIT") == "1" or "py_env-" in sys.prefix


def project_python(top: Path) -> str | None:
    """The interpreter whose environment the snapshot should describe; ``None``: this one."""
    configured = config("gittrack.env-python", cwd=top)
    if configured:
        return configured
    if not _in_hook_venv():
        return None
    for venv in (".venv", "venv"):
        for rel in ("bin/python", "Scripts/python.exe"):
            candidate = top / venv / rel
            if candidate.is_file():
                return str(candidate)
    own_bin = os.path.dirname(os.path.abspath(sys.executable))
    path = [
        p
        for p in os.environ.get("PATH", "").split(os.pathsep)
        if p and os.path.abspath(p) != own_bin
    ]
    for name in ("python3", "python"):
        found = shutil.which(name, path=os.pathsep.join(path))
        if found:
            return found
    return None


def env_snapshot_main(argv: list[str] | None = None) -> int:
    """``gittrack-env-snapshot [--path FILE] [--python PYTHON]``; exit 0, or 1 on error."""
    from gittrack.errors import GittrackError
    from gittrack.hooks.actions import lock_path, partial_commit, say, write_snapshot

    parser = argparse.ArgumentParser(
        prog="gittrack-env-snapshot",
        description="Write the environment snapshot to a tracked file and stage it if it changed.",
    )
    parser.add_argument(
        "--path",
        help=f"file to write (default: git config gittrack.env-lock-path or {ENVIRONMENT_LOCK_FILE})",
    )
    parser.add_argument("--python", help="interpreter to describe (default: the project's)")
    parser.add_argument("filenames", nargs="*", help=argparse.SUPPRESS)
    opts = parser.parse_args(argv)
    try:
        top = toplevel()
        if top is None:
            say("gittrack-env-snapshot needs a working tree")
            return 1
        from gittrack.hooks._git import replaying

        if replaying(top):
            return 0
        rel = opts.path or lock_path(top)
        if rel is None:
            return 0
        if partial_commit():
            say(f"partial commit (git commit PATHS): {rel} is left for the next full commit")
            return 0
        python = opts.python or project_python(top)
        _, staged = write_snapshot(top, rel, python=python)
    except GittrackError as exc:
        say(str(exc))
        return 1
    if staged:
        say(f"environment changed: staged {rel}")
    return 0


def _staged_changes(top: Path) -> list[str]:
    """Paths added or modified in the index relative to HEAD (all entries before a first commit)."""
    try:
        git("rev-parse", "--verify", "-q", "HEAD", cwd=top)
        out = git("diff", "--cached", "--name-only", "-z", "--diff-filter=AM", cwd=top)
    except HookError:
        out = git("ls-files", "-z", "--cached", cwd=top)
    return [p.decode("utf-8", "surrogateescape") for p in out.split(b"\0") if p]


def _sizes(top: Path, paths: list[str]) -> dict[str, int]:
    """Size of each path as staged (the blob git would commit), else on disk."""
    sizes: dict[str, int] = {}
    if not paths:
        return sizes
    listing = git("ls-files", "-s", "-z", "--", *paths, cwd=top)
    oids: dict[str, str] = {}
    for rec in listing.split(b"\0"):
        if not rec:
            continue
        meta, _, raw_path = rec.partition(b"\t")
        mode, raw_oid, _stage = meta.split()
        if mode != b"160000":  # submodules have no size
            oids[raw_path.decode("utf-8", "surrogateescape")] = raw_oid.decode()
    if oids:
        batch = git(
            "cat-file", "--batch-check=%(objectname) %(objectsize)", cwd=top,
            input="".join(f"{o}\n" for o in oids.values()).encode(),
        )  # fmt: skip
        by_oid: dict[str, int] = {}
        for line in batch.decode().splitlines():
            parts = line.split()
            if len(parts) == 2 and parts[1].isdigit():
                by_oid[parts[0]] = int(parts[1])
        for path, oid in oids.items():
            if oid in by_oid:
                sizes[path] = by_oid[oid]
    for path in paths:
        if path not in sizes:
            try:
                sizes[path] = os.path.getsize(top / path)
            except OSError:
                pass
    return sizes


def _human(n: int) -> str:
    size = float(n)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if size < 1024 or unit == "GiB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{n} B"


def large_files(
    top: Path, filenames: list[str] | None, max_kb: int, enforce_all: bool = False
) -> list[tuple[str, int]]:
    """``(path, size)`` of each file over ``max_kb`` KiB among ``filenames`` (default: the
    staged changes); unless ``enforce_all``, only files added or changed in the index count."""
    staged = _staged_changes(top)
    if filenames:
        cwd = Path.cwd()
        rel = []
        for name in filenames:
            full = (cwd / name).resolve()
            try:
                rel.append(full.relative_to(top.resolve()).as_posix())
            except ValueError:
                rel.append(name)
        candidates = rel if enforce_all else [p for p in rel if p in set(staged)]
    else:
        candidates = staged
    limit = max_kb * 1024
    sizes = _sizes(top, candidates)
    return sorted((p, sizes[p]) for p in candidates if sizes.get(p, 0) > limit)


def no_large_files_main(argv: list[str] | None = None) -> int:
    """``gittrack-no-large-files [--max-kb N] [--enforce-all] [FILES]``; exit 1 when refused."""
    from gittrack.errors import GittrackError
    from gittrack.hooks.actions import say

    parser = argparse.ArgumentParser(
        prog="gittrack-no-large-files",
        description="Refuse large model and data files in commits; log them as run artifacts.",
    )
    parser.add_argument(
        "--max-kb",
        type=int,
        default=None,
        help=f"limit in KiB (default: git config gittrack.max-file-kb or {DEFAULT_MAX_KB})",
    )
    parser.add_argument(
        "--enforce-all",
        action="store_true",
        help="check every named file, not only files added or changed",
    )
    parser.add_argument("filenames", nargs="*")
    opts = parser.parse_args(argv)
    try:
        top = toplevel()
        if top is None:
            return 0
        max_kb = opts.max_kb
        if max_kb is None:
            raw = config("gittrack.max-file-kb", cwd=top)
            try:
                max_kb = int(raw) if raw else DEFAULT_MAX_KB
            except ValueError:
                say(f"git config gittrack.max-file-kb={raw!r} is not a whole number of KiB")
                return 1
        found = large_files(top, opts.filenames or None, max_kb, opts.enforce_all)
    except GittrackError as exc:
        say(str(exc))
        return 1
    if not found:
        return 0
    for path, size in found:
        kind = "model/data file" if path.lower().endswith(MODEL_DATA_SUFFIXES) else "file"
        say(f"{path}: {kind} of {_human(size)} is over the {max_kb} KiB limit")
    say(
        "keep large models and data out of the source history: unstage them "
        "(git restore --staged PATH) and log them with a run instead, e.g. "
        "gittrack.log_artifact('PATH'), which stores them once, by content, in the artifact "
        "store. To commit anyway: raise --max-kb (or git config gittrack.max-file-kb) or "
        "use git commit --no-verify."
    )
    return 1
