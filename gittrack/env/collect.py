"""Collecting the environment: standard library only, runnable by any Python 3.8+.

:mod:`gittrack.env.environment` uses these functions in-process, and feeds this
file's source to another interpreter (``python -c ... --json WORKDIR``) to
describe that interpreter: so nothing here may import gittrack or anything
outside the standard library.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import sys
from typing import Any

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


def collect_static() -> dict[str, Any]:
    """Everything but the files: format, python, platform, distributions,
    accelerators and (when there were any) problems."""
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
    found: dict[str, str] = {}
    try:
        from importlib import metadata
    except ImportError:  # Python < 3.8
        problems.append("importlib.metadata needs Python 3.8 or newer: distributions not listed")
        return found
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
                text = dist.read_text("")  # a bare .egg-info *file* (Debian's system Python)
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


def files_signature(workdir: str) -> tuple:
    """``(name, size, mtime_ns, inode)`` of each lock/requirements file in ``workdir``:
    equal signatures mean the files part of a snapshot is unchanged."""
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


def collect_files(workdir: str, names: list[str], problems: list[str]) -> dict[str, Any]:
    """name → ``{sha256, size}`` (plus dependencies for ``pyproject.toml``) of ``names``
    under ``workdir``; unreadable files are appended to ``problems``."""
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
    if sys.version_info >= (3, 11):
        import tomllib
    else:
        try:
            import tomli as tomllib
        except ImportError:  # tomli is optional before Python 3.11
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


if __name__ == "__main__":  # what capture(python=...) runs in another interpreter
    _args = [a for a in sys.argv[1:] if a != "--json"]
    _problems: list[str] = []
    _snap = collect_static()
    if _args:
        _wd = os.path.realpath(_args[0])
        _sig = files_signature(_wd)
        _snap["files"] = collect_files(_wd, [name for name, *_ in _sig], _problems)
    if _problems:
        _snap["problems"] = sorted(set(_snap.get("problems", [])) | set(_problems))
    sys.stdout.write(json.dumps(_snap, sort_keys=True))
