"""The ``MLmodel`` file: which flavors a saved model has and how to load each.

It is YAML, as MLflow's: ``flavors`` maps a flavor name to its loader module
and files; ``python_function`` names the generic loader; ``signature`` (from
an input example) describes inputs and outputs.
"""

from __future__ import annotations

import platform
import uuid
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from gittrack.errors import ArtifactNotFound, InvalidParameter

FILENAME = "MLmodel"
PYFUNC = "python_function"


def new_mlmodel(name: str, run_id: str | None) -> dict[str, Any]:
    from gittrack import __version__

    return {
        "artifact_path": name,
        "run_id": run_id,
        "model_uuid": uuid.uuid4().hex,
        "utc_time_created": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M:%S.%f"),
        "gittrack_version": __version__,
        "python_version": platform.python_version(),
        "flavors": {},
    }


def pyfunc_flavor(loader_module: str, data: str) -> dict[str, Any]:
    return {
        "loader_module": loader_module,
        "python_version": platform.python_version(),
        "data": data,
        "env": {"requirements": "requirements.txt"},
    }


def write(path: Path, mlmodel: dict[str, Any]) -> None:
    from gittrack.core.records.formats import dump_yaml

    (path / FILENAME).write_bytes(dump_yaml(mlmodel))


def read(path: Path) -> dict[str, Any]:
    """The parsed MLmodel of a model folder.

    Raises:
        ArtifactNotFound: the folder has no MLmodel (it is not a model).
        InvalidParameter: the MLmodel is not a YAML mapping with flavors.
    """
    from gittrack.core.records.formats import load_yaml

    f = path / FILENAME
    if not f.is_file():
        raise ArtifactNotFound(f"{path} is not a model: it has no {FILENAME} file")
    try:
        data = load_yaml(f.read_bytes())
    except Exception as exc:
        raise InvalidParameter(f"{f} is not valid YAML: {exc}") from exc
    if not isinstance(data, dict) or not isinstance(data.get("flavors"), dict):
        raise InvalidParameter(f"{f} has no 'flavors' mapping")
    return data


def package_version(dist: str) -> str | None:
    from importlib import metadata

    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return None


def requirements(dists: list[str], extra: list[str] | None = None) -> str:
    """Pinned ``name==version`` lines for the installed ``dists`` (plus ``extra`` as given)."""
    lines = []
    for d in dists:
        v = package_version(d)
        lines.append(f"{d}=={v}" if v else d)
    lines += list(extra or [])
    return "\n".join(lines) + "\n"
