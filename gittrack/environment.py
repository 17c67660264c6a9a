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

The collection part of this module uses the standard library only, so it can be
run by another interpreter (``python - --json WORKDIR`` with this file on stdin):
that is how a hook running in its own virtualenv captures the project's
interpreter (see :func:`capture` ``python=``).
"""

from __future__ import annotations

import copy
import hashlib
import json
import os
import re
import sys
import threading
from typing import Any, NamedTuple

FORMAT = 1

# Lock and requirements files looked for at the top of the working tree.
LOCK_FILE_NAMES = (
    "Pipfile",
    "Pipfile.lock",
    "conda-lock.yml",
    "environment.yaml",
    "environment.yml",
    "pdm.lock",
    "poetry.lock",
    "pyproject.toml",
    "uv.lock",
)
_REQ_RE = re.compile(r"^(requirements|constraints)([-_.\w]*)\.(txt|in)$")
_NORMALIZE_RE = re.compile(r"[-_.]+")
_FILE_LIMIT = 64 * 1024 * 1024  # never hash a multi-GB "lock file"

_lock = threading.Lock()
_static_cache: dict[str | None, dict[str, Any]] = {}
_files_cache: dict[str, tuple[tuple, dict[str, Any]]] = {}
_yaml_cache: dict[tuple, bytes] = {}
_other_cache: dict[tuple, tuple[tuple, dict[str, Any]]] = {}

try:
    from gittrack.errors import GittrackError as _ErrorBase
except ImportError:  # run standalone by another interpreter (see capture(python=...))
    _ErrorBase = RuntimeError  # type: ignore[misc,assignment]


class EnvironmentCaptureError(_ErrorBase):  # type: ignore[misc,valid-type]
    """An interpreter's environment could not be captured, or a snapshot not read."""


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
    return copy.deepcopy(_capture(_norm_workdir(workdir), _norm_python(python)))


def capture_yaml(workdir: str | os.PathLike[str] | None = None, python: str | None = None) -> bytes:
    """:func:`to_yaml` of :func:`capture`, cached while the snapshot is unchanged.

    This is what a run writes as ``.gittrack/environment.yaml``.
    """
    wd, py = _norm_workdir(workdir), _norm_python(python)
    snap = _capture(wd, py)
    key = (wd, py, _files_signature(wd) if wd else ())
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
    from gittrack.records import dump_yaml

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

    from gittrack.records import load_yaml

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


RUN_FILE = ".gittrack/environment.yaml"
LOCK_FILE = ".gittrack/environment.lock.yaml"


def run_environment(repo: Any, run_id: str) -> dict | None:
    """The snapshot run ``run_id`` (a unique prefix is enough) recorded, or ``None``
    when it recorded none (``snapshot=False``, or made before environments were kept).

    Raises:
        RunNotFound, AmbiguousRunId: no run, or several, match ``run_id``.
        EnvironmentCaptureError: the recorded file is not a YAML mapping.
    """
    from gittrack.store import Store

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
    from gittrack.store import Store

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


def _capture(workdir: str | None, python: str | None) -> dict:
    if python is not None:
        return _capture_other(workdir, python)
    with _lock:
        static = _static_cache.get(None)
    if static is None:
        static = _collect_static()
        with _lock:
            _static_cache[None] = static
    snap = dict(static)
    if workdir is not None:
        files, problems = _files_cached(workdir)
        snap["files"] = files
        if problems:
            snap["problems"] = sorted(set(snap.get("problems", [])) | set(problems))
    return snap


def _files_cached(workdir: str) -> tuple[dict, list[str]]:
    sig = _files_signature(workdir)
    with _lock:
        hit = _files_cache.get(workdir)
    if hit is not None and hit[0] == sig:
        return hit[1]["files"], hit[1]["problems"]
    problems: list[str] = []
    files = _collect_files(workdir, [name for name, *_ in sig], problems)
    with _lock:
        if len(_files_cache) > 32:
            _files_cache.clear()
        _files_cache[workdir] = (sig, {"files": files, "problems": problems})
    return files, problems


def _capture_other(workdir: str | None, python: str) -> dict:
    import subprocess

    key = (python, workdir)
    with _lock:
        hit = _other_cache.get(key)
    sig = _files_signature(workdir) if workdir else ()
    if hit is not None and hit[0] == sig:
        return hit[1]
    with open(__file__, encoding="utf-8") as fh:
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


# --- collection (standard library only) -------------------------------------------


def _collect_static() -> dict[str, Any]:
    import platform

    problems: list[str] = []
    dists = _collect_distributions(problems)
    snap: dict[str, Any] = {
        "format": FORMAT,
        "python": {
            "implementation": platform.python_implementation(),
            "version": platform.python_version(),
        },
        "platform": _collect_platform(),
        "distributions": dists,
        "accelerators": _collect_accelerators(dists, problems),
    }
    if problems:
        snap["problems"] = sorted(set(problems))
    return snap


def _collect_platform() -> dict[str, str]:
    import platform

    uname = platform.uname()
    out = {"system": uname.system, "release": uname.release, "machine": uname.machine}
    if uname.system == "Linux":
        libc, version = platform.libc_ver()
        if libc:
            out["libc"] = f"{libc} {version}".strip()
    elif uname.system == "Darwin":
        out["macos"] = platform.mac_ver()[0]
    return out


def normalize_name(name: str) -> str:
    """A distribution name in PEP 503 form: ``Foo_Bar`` → ``foo-bar``."""
    return _NORMALIZE_RE.sub("-", name).lower()


def _dist_label(dist: Any) -> str:
    path = getattr(dist, "_path", None)  # PathDistribution keeps its .dist-info dir here
    if path is not None:
        return os.path.basename(str(path))
    return repr(dist)


def _read_headers(text: str) -> dict[str, str]:
    """The RFC 822 headers of a METADATA file (up to the first blank line)."""
    headers: dict[str, str] = {}
    last = None
    for line in text.splitlines():
        if not line.strip():
            break
        if line[0] in " \t" and last:
            continue  # continuation of a multi-line header (Description, License)
        name, sep, value = line.partition(":")
        if not sep:
            raise ValueError(f"line {line[:60]!r} is not a header")
        last = name.strip()
        headers.setdefault(last, value.strip())
    return headers


def _collect_distributions(problems: list[str]) -> dict[str, str]:
    """Normalized name → version of every importable distribution (first on sys.path wins)."""
    from importlib import metadata

    found: dict[str, str] = {}
    try:
        dists = list(metadata.distributions())
    except Exception as exc:  # a broken path entry must not stop the capture
        problems.append(f"cannot list installed distributions: {exc}")
        return found
    for dist in dists:
        label = _dist_label(dist)
        try:
            text = dist.read_text("METADATA")
            if text is None:
                text = dist.read_text("PKG-INFO")
            if text is None:
                raise ValueError("no METADATA or PKG-INFO file")
            headers = _read_headers(text)
            name, version = headers.get("Name", ""), headers.get("Version", "")
            if not name:
                raise ValueError("metadata has no Name")
            if not version or any(ch.isspace() for ch in version):
                raise ValueError(f"metadata has no valid Version (got {version!r})")
        except (ValueError, OSError, UnicodeDecodeError) as exc:
            problems.append(f"skipped distribution {label}: {exc}")
            continue
        found.setdefault(normalize_name(name), version)
    return dict(sorted(found.items()))


def _read_small(path: str, limit: int = 65536) -> str | None:
    try:
        with open(path, encoding="utf-8", errors="replace") as fh:
            return fh.read(limit)
    except OSError:
        return None


def _collect_accelerators(dists: dict[str, str], problems: list[str]) -> dict[str, Any]:
    """torch/jax/CUDA versions from metadata and files; nothing is imported or executed."""
    out: dict[str, Any] = {}
    for name in ("torch", "jax", "jaxlib", "tensorflow", "cupy"):
        if name in dists:
            out[name] = dists[name]
    cuda_pkgs = {
        n: v
        for n, v in dists.items()
        if n.startswith(("nvidia-cuda-runtime", "nvidia-cudnn", "jax-cuda", "jax-plugin-cuda"))
        or n.startswith("cupy-cuda")
    }
    if cuda_pkgs:
        out["cuda_packages"] = dict(sorted(cuda_pkgs.items()))
    if "torch" in dists:
        torch_cuda = _torch_build_value("cuda")
        if torch_cuda:
            out["torch_cuda"] = torch_cuda
        torch_hip = _torch_build_value("hip")
        if torch_hip:
            out["torch_hip"] = torch_hip
    driver = _read_small("/proc/driver/nvidia/version", 4096)
    if driver:
        m = re.search(r"Kernel Module(?: for [\w-]+)?\s+([\d.]+)", driver)
        out["nvidia_driver"] = m.group(1) if m else driver.splitlines()[0].strip()
        gpus = []
        base = "/proc/driver/nvidia/gpus"
        try:
            for entry in sorted(os.listdir(base)):
                info = _read_small(os.path.join(base, entry, "information"), 4096) or ""
                m2 = re.search(r"^Model:\s*(.+)$", info, re.M)
                if m2:
                    gpus.append(m2.group(1).strip())
        except OSError:
            pass
        if gpus:
            out["gpus"] = gpus
    toolkit = _cuda_toolkit_version()
    if toolkit:
        out["cuda_toolkit"] = toolkit
    return out


def _torch_build_value(name: str) -> str | None:
    """``torch.version.cuda`` read from ``torch/version.py`` without importing torch."""
    try:
        from importlib import metadata

        path = metadata.distribution("torch").locate_file("torch/version.py")
        text = _read_small(str(path))
    except Exception:  # no torch, or an odd installation: leave it out
        return None
    if not text:
        return None
    m = re.search(rf"^{name}\s*(?::[^=]*)?=\s*['\"]([^'\"]+)['\"]", text, re.M)
    return m.group(1) if m else None


def _cuda_toolkit_version() -> str | None:
    home = os.environ.get("CUDA_HOME") or os.environ.get("CUDA_PATH") or "/usr/local/cuda"
    text = _read_small(os.path.join(home, "version.json"))
    if text:
        try:
            return str(json.loads(text)["cuda"]["version"])
        except (ValueError, KeyError, TypeError):
            pass
    text = _read_small(os.path.join(home, "version.txt"), 1024)
    if text:
        m = re.search(r"([\d.]+)", text)
        return m.group(1) if m else None
    return None


def _candidate_names(workdir: str) -> list[str]:
    names = []
    try:
        with os.scandir(workdir) as it:
            for entry in it:
                if entry.name in LOCK_FILE_NAMES or _REQ_RE.match(entry.name):
                    names.append(entry.name)
    except OSError:
        return []
    req_dir = os.path.join(workdir, "requirements")
    if os.path.isdir(req_dir):
        try:
            with os.scandir(req_dir) as it:
                names.extend(
                    "requirements/" + e.name for e in it if e.name.endswith((".txt", ".in"))
                )
        except OSError:
            pass
    return sorted(names)


def _files_signature(workdir: str) -> tuple:
    sig = []
    for name in _candidate_names(workdir):
        try:
            st = os.stat(os.path.join(workdir, name))
        except OSError:
            continue
        if not os.path.isfile(os.path.join(workdir, name)):
            continue
        sig.append((name, st.st_size, st.st_mtime_ns, st.st_ino))
    return tuple(sig)


def _collect_files(workdir: str, names: list[str], problems: list[str]) -> dict[str, Any]:
    files: dict[str, Any] = {}
    for name in names:
        path = os.path.join(workdir, name)
        try:
            size = os.path.getsize(path)
            if size > _FILE_LIMIT:
                problems.append(f"{name}: larger than {_FILE_LIMIT} bytes, not hashed")
                continue
            with open(path, "rb") as fh:
                data = fh.read()
        except OSError as exc:
            problems.append(f"{name}: unreadable ({exc.strerror or exc})")
            continue
        entry: dict[str, Any] = {"sha256": hashlib.sha256(data).hexdigest(), "size": len(data)}
        if name == "pyproject.toml":
            entry.update(_pyproject_dependencies(data, problems))
        files[name] = entry
    return files


def _pyproject_dependencies(data: bytes, problems: list[str]) -> dict[str, Any]:
    try:
        import tomllib  # Python 3.11+
    except ImportError:
        try:
            import tomli as tomllib  # type: ignore[no-redef]
        except ImportError:
            return {}
    try:
        doc = tomllib.loads(data.decode("utf-8"))
    except (ValueError, UnicodeDecodeError) as exc:
        problems.append(f"pyproject.toml: not valid TOML ({exc})")
        return {}
    project = doc.get("project") if isinstance(doc, dict) else None
    out: dict[str, Any] = {}
    if isinstance(project, dict):
        if isinstance(project.get("dependencies"), list):
            out["dependencies"] = [str(d) for d in project["dependencies"]]
        extras = project.get("optional-dependencies")
        if isinstance(extras, dict) and extras:
            out["optional-dependencies"] = {
                str(k): [str(d) for d in v] for k, v in extras.items() if isinstance(v, list)
            }
        if project.get("requires-python"):
            out["requires-python"] = str(project["requires-python"])
    return out


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


if __name__ == "__main__":  # used by capture(python=...) through another interpreter
    _args = [a for a in sys.argv[1:] if a != "--json"]
    _wd = _norm_workdir(_args[0]) if _args else None
    _snap = _capture(_wd, None)
    sys.stdout.write(json.dumps(_snap, sort_keys=True))
