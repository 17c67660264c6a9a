"""What code ran with: Python, platform, installed packages, lock files, accelerators.

:func:`capture` returns the environment snapshot as a plain dict; :func:`to_yaml`
writes it with sorted keys so two snapshots diff line by line; :func:`diff`
lists what differs between two snapshots. Every run stores one as
``.gittrack/environment.yaml``; the ``pre-commit`` hook writes one to a tracked
file (``.gittrack/environment.lock.yaml`` by default).

Package versions come from ``importlib.metadata`` (no ``pip`` subprocess).
Distributions whose metadata cannot be read (no ``METADATA``, no ``Name`` or
``Version``, undecodable bytes) are listed under ``problems`` and skipped.
torch, jax and CUDA versions are read from package metadata and files, never by
importing torch or jax.

Collecting lives in :mod:`gittrack.env.collect` (standard library only), which
another interpreter can run from its source: that is how a hook running in a
virtualenv of its own describes the project's interpreter (``capture(python=...)``).
This module adds caching, YAML, diffs and reading runs' snapshots.
"""

from __future__ import annotations

import copy
import json
import os
import sys
import threading
from typing import Any, NamedTuple

from gittrack.env import collect as envcollect
from gittrack.env.collect import FORMAT, normalize_name
from gittrack.errors import EnvironmentCaptureError

__all__ = [
    "FORMAT",
    "LOCK_FILE",
    "RUN_FILE",
    "Change",
    "capture",
    "capture_yaml",
    "clear_cache",
    "diff",
    "format_changes",
    "from_yaml",
    "normalize_name",
    "run_environment",
    "source_environment",
    "summary",
    "to_yaml",
]

_lock = threading.Lock()
_static_cache: dict[str | None, dict[str, Any]] = {}
_files_cache: dict[str, tuple[tuple, dict[str, Any]]] = {}
_yaml_cache: dict[tuple, bytes] = {}
_other_cache: dict[tuple, tuple[tuple, dict[str, Any]]] = {}

from gittrack.layout import ENVIRONMENT_FILE, ENVIRONMENT_LOCK_FILE, record_path  # noqa: E402


class Change(NamedTuple):
    """One difference between two snapshots: ``path`` names the entry, e.g.
    ``("distributions", "numpy")``; ``old``/``new`` is ``None`` when absent."""

    path: tuple[str, ...]
    old: Any
    new: Any

    @property
    def key(self) -> str:
        """The entry as one string, parts joined by ``/``: ``distributions/numpy``."""
        return "/".join(self.path)

    @property
    def kind(self) -> str:
        """``added``, ``removed`` or ``changed``."""
        if self.old is None:
            return "added"
        if self.new is None:
            return "removed"
        return "changed"

    def to_dict(self) -> dict[str, Any]:
        return {"key": self.key, "change": self.kind, "old": self.old, "new": self.new}

    def __str__(self) -> str:
        if self.kind == "added":
            return f"+ {self.key}: {_show(self.new)}"
        if self.kind == "removed":
            return f"- {self.key}: {_show(self.old)}"
        return f"~ {self.key}: {_show(self.old)} -> {_show(self.new)}"


def _show(value: Any) -> str:
    if isinstance(value, (list, dict)):
        return json.dumps(value, sort_keys=True)
    return str(value)


# --- public API -----------------------------------------------------------------


def capture(workdir: str | os.PathLike[str] | None = None, python: str | None = None) -> dict:
    """The environment snapshot of this process (or of interpreter ``python``).

    ``workdir`` is the working tree whose lock/requirements files are hashed
    (``None``: no ``files`` entries). The interpreter part is computed once per
    process; the files part again only when a file's size or mtime changed, so
    calls after the first cost well under a millisecond plus the copy.

    Returns:
        A new dict: ``format``, ``python``, ``platform``, ``distributions``
        (normalized name → version), ``files`` (name → sha256, size, and for
        ``pyproject.toml`` its dependencies), ``accelerators`` and, when there
        were any, ``problems`` (sorted messages).

    Raises:
        EnvironmentCaptureError: when ``python`` cannot be run or answers nonsense.
    """
    wd = _norm_workdir(workdir)
    return copy.deepcopy(_capture(wd, _norm_python(python), _signature(wd)))


def capture_yaml(workdir: str | os.PathLike[str] | None = None, python: str | None = None) -> bytes:
    """:func:`to_yaml` of :func:`capture`, cached while the snapshot is unchanged.

    This is what a run writes as ``.gittrack/environment.yaml``.
    """
    wd, py = _norm_workdir(workdir), _norm_python(python)
    sig = _signature(wd)  # one listing of the project per call: the snapshot and its key
    snap = _capture(wd, py, sig)
    key = (wd, py, sig)
    with _lock:
        hit = _yaml_cache.get(key)
    if hit is None:
        hit = to_yaml(snap)
        with _lock:
            if len(_yaml_cache) > 32:
                _yaml_cache.clear()
            _yaml_cache[key] = hit
    return hit


def to_yaml(snapshot: dict) -> bytes:
    """The snapshot as UTF-8 YAML, keys sorted at every level (lists kept in order).

    The last result is remembered: dumping a snapshot equal to the previous one
    costs a dict comparison, not a YAML dump.
    """
    global _last_yaml
    last = _last_yaml
    if last is not None and last[0] == snapshot:
        return last[1]
    from gittrack.core.records.formats import dump_yaml

    data = dump_yaml(_sorted(snapshot))
    _last_yaml = (copy.deepcopy(snapshot), data)
    return data


_last_yaml: tuple[dict, bytes] | None = None


def from_yaml(data: bytes | str) -> dict:
    """Parse a snapshot written by :func:`to_yaml`.

    Raises:
        EnvironmentCaptureError: when the text is not YAML or not a mapping.
    """
    import yaml

    from gittrack.core.records.formats import load_yaml

    try:
        value = load_yaml(data)
    except yaml.YAMLError as exc:
        raise EnvironmentCaptureError(f"environment snapshot is not valid YAML: {exc}") from exc
    if not isinstance(value, dict):
        raise EnvironmentCaptureError("environment snapshot is not a YAML mapping")
    return value


def diff(a: dict | None, b: dict | None) -> list[Change]:
    """What changed from snapshot ``a`` to snapshot ``b``, sorted by entry.

    Nested mappings are compared entry by entry; lists and scalars as wholes.
    ``None`` stands for "no snapshot" (everything is added or removed).
    """
    out: list[Change] = []
    _diff_into(out, (), a or {}, b or {})
    out.sort(key=lambda c: c.path)
    return out


def summary(snapshot: dict) -> str:
    """One line for ``gittrack show``: ``CPython 3.11.7, Linux x86_64, 195 packages, torch 2.3.1 (CUDA 12.1)``."""
    py = snapshot.get("python") or {}
    plat = snapshot.get("platform") or {}
    parts = [
        f"{py.get('implementation', '?')} {py.get('version', '?')}",
        f"{plat.get('system', '?')} {plat.get('machine', '?')}",
        f"{len(snapshot.get('distributions') or {})} packages",
    ]
    acc = snapshot.get("accelerators") or {}
    for name in ("torch", "jax"):
        if name in acc:
            cuda = acc.get("torch_cuda") if name == "torch" else None
            parts.append(f"{name} {acc[name]}" + (f" (CUDA {cuda})" if cuda else ""))
    if acc.get("nvidia_driver"):
        parts.append(f"NVIDIA driver {acc['nvidia_driver']}")
    return ", ".join(parts)


def format_changes(changes: list[Change]) -> str:
    """Changes one per line (``+ added``, ``- removed``, ``~ old -> new``)."""
    return "\n".join(str(c) for c in changes)


RUN_FILE = record_path(ENVIRONMENT_FILE)
LOCK_FILE = ENVIRONMENT_LOCK_FILE


def run_environment(repo: Any, run_id: str) -> dict | None:
    """The snapshot run ``run_id`` (a unique prefix is enough) recorded, or ``None``
    when it recorded none (``snapshot=False``, or made before environments were kept).

    Raises:
        RunNotFound, AmbiguousRunId: no run, or several, match ``run_id``.
        EnvironmentCaptureError: the recorded file is not a YAML mapping.
    """
    from gittrack.core.reader import Store

    store = Store(repo)
    full = store.resolve_run_id(run_id)
    return _tree_yaml(repo, store.run_commit(full), RUN_FILE)


def source_environment(repo: Any, run_id: str, path: str | None = None) -> dict | None:
    """The lock file (``path``, default git config ``gittrack.env-lock-path`` or
    ``.gittrack/environment.lock.yaml``) committed in the source commit of run
    ``run_id``, or ``None`` when that commit has none.

    Raises:
        RunNotFound, AmbiguousRunId: no run, or several, match ``run_id``.
        EnvironmentCaptureError: the file is not a YAML mapping.
    """
    from gittrack.core.reader import Store

    store = Store(repo)
    full = store.resolve_run_id(run_id)
    record = store.read_record(store.run_commit(full), full)
    commit = (record["run"].get("source") or {}).get("commit")
    if not commit:
        return None
    return _tree_yaml(repo, commit, path or repo.config("gittrack.env-lock-path") or LOCK_FILE)


def _tree_yaml(repo: Any, commit: str, path: str) -> dict | None:
    try:
        blob = repo.git[commit].tree[path]
        data = blob.data
    except (KeyError, ValueError, AttributeError):
        return None
    return from_yaml(data)


def clear_cache() -> None:
    """Forget cached snapshots (after installing packages in this process)."""
    with _lock:
        _static_cache.clear()
        _files_cache.clear()
        _yaml_cache.clear()
        _other_cache.clear()
    global _last_yaml
    _last_yaml = None


# --- caching --------------------------------------------------------------------


def _norm_workdir(workdir: str | os.PathLike[str] | None) -> str | None:
    return None if workdir is None else os.path.realpath(os.fspath(workdir))


def _norm_python(python: str | None) -> str | None:
    """``None`` for this interpreter, else the absolute path of ``python``."""
    if python is None:
        return None
    import shutil

    found = shutil.which(python) if os.sep not in python else python
    if found is None or not os.path.isfile(found):
        raise EnvironmentCaptureError(f"Python interpreter {python!r} not found")
    # compare without resolving symlinks: a virtualenv's python links to the base one
    if os.path.abspath(found) == os.path.abspath(sys.executable):
        return None
    return os.path.abspath(found)


def _signature(workdir: str | None) -> tuple:
    """The files signature of ``workdir`` (``()`` for none): listed once per capture, so
    the files read and the cache key they are kept under describe the same listing."""
    return envcollect.files_signature(workdir) if workdir else ()


def _capture(workdir: str | None, python: str | None, sig: tuple) -> dict:
    if python is not None:
        return _capture_other(workdir, python, sig)
    with _lock:
        static = _static_cache.get(None)
    if static is None:
        static = envcollect.collect_static()
        with _lock:
            _static_cache[None] = static
    snap = dict(static)
    if workdir is not None:
        files, problems = _files_cached(workdir, sig)
        snap["files"] = files
        if problems:
            snap["problems"] = sorted(set(snap.get("problems", [])) | set(problems))
    return snap


def _files_cached(workdir: str, sig: tuple) -> tuple[dict, list[str]]:
    with _lock:
        hit = _files_cache.get(workdir)
    if hit is not None and hit[0] == sig:
        return hit[1]["files"], hit[1]["problems"]
    problems: list[str] = []
    files = envcollect.collect_files(workdir, [name for name, *_ in sig], problems)
    with _lock:
        if len(_files_cache) > 32:
            _files_cache.clear()
        _files_cache[workdir] = (sig, {"files": files, "problems": problems})
    return files, problems


def _capture_other(workdir: str | None, python: str, sig: tuple) -> dict:
    import subprocess

    key = (python, workdir)
    with _lock:
        hit = _other_cache.get(key)
    if hit is not None and hit[0] == sig:
        return hit[1]
    with open(envcollect.__file__, encoding="utf-8") as fh:
        source = fh.read()
    prelude = "import sys; del sys.path[0]; exec(compile(sys.stdin.read(), 'gittrack-env', 'exec'))"
    args = [python, "-c", prelude, "--json"] + ([workdir] if workdir else [])
    try:
        proc = subprocess.run(
            args, input=source, capture_output=True, text=True, timeout=120, check=False
        )
    except (OSError, subprocess.SubprocessError) as exc:
        raise EnvironmentCaptureError(f"Cannot run Python interpreter {python}: {exc}") from exc
    if proc.returncode != 0:
        raise EnvironmentCaptureError(
            f"Python interpreter {python} failed to report its environment "
            f"(exit {proc.returncode}): {proc.stderr.strip()[-2000:]}"
        )
    try:
        snap = json.loads(proc.stdout)
    except ValueError as exc:
        raise EnvironmentCaptureError(
            f"Python interpreter {python} answered something that is not JSON"
        ) from exc
    if not isinstance(snap, dict) or "distributions" not in snap:
        raise EnvironmentCaptureError(
            f"Python interpreter {python} answered an unexpected snapshot"
        )
    with _lock:
        _other_cache[key] = (sig, snap)
    return snap


# --- diff / ordering ------------------------------------------------------------


def _sorted(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _sorted(value[k]) for k in sorted(value, key=str)}
    if isinstance(value, (list, tuple)):
        return [_sorted(v) for v in value]
    return value


def _diff_into(out: list[Change], path: tuple[str, ...], a: Any, b: Any) -> None:
    if isinstance(a, dict) and isinstance(b, dict):
        for key in sorted(set(a) | set(b), key=str):
            _diff_into(out, (*path, str(key)), a.get(key), b.get(key))
        return
    if a == b:
        return
    if isinstance(a, dict) and b is None:
        for key in a:
            _diff_into(out, (*path, str(key)), a[key], None)
        return
    if isinstance(b, dict) and a is None:
        for key in b:
            _diff_into(out, (*path, str(key)), None, b[key])
        return
    out.append(Change(path, a, b))
