"""The public surface of ``import gittrack``: exactly these names, all resolvable, all lazy.

Adding or removing a public name is a decision: change ``PUBLIC`` here in the same
commit (and say so in CHANGELOG.md).
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

import gittrack

PUBLIC = [
    "ActiveRun",
    "Client",
    "GittrackError",
    "MlflowClient",
    "RunStatus",
    "ViewType",
    "active_run",
    "create_experiment",
    "delete_experiment",
    "delete_run",
    "delete_tag",
    "download_artifacts",
    "end_run",
    "get_artifact_uri",
    "get_experiment",
    "get_experiment_by_name",
    "get_metric_history",
    "get_parent_run",
    "get_run",
    "get_tracking_uri",
    "last_active_run",
    "list_artifacts",
    "load_dict",
    "load_model",
    "load_table",
    "load_text",
    "log_artifact",
    "log_artifacts",
    "log_dict",
    "log_figure",
    "log_image",
    "log_metric",
    "log_metrics",
    "log_model",
    "log_param",
    "log_params",
    "log_table",
    "log_text",
    "register_model",
    "rerun",
    "restore_run",
    "search_experiments",
    "search_runs",
    "set_experiment",
    "set_tag",
    "set_tags",
    "start_run",
    "sync_to",
]

# third-party packages `import gittrack` must not load (they load on first use)
HEAVY = [
    "click",
    "fsspec",
    "mlflow",
    "numpy",
    "pandas",
    "pygit2",
    "sqlalchemy",
    "starlette",
    "uvicorn",
    "yaml",
]


def test_all_is_the_written_list() -> None:
    assert PUBLIC == sorted(PUBLIC)
    assert gittrack.__all__ == PUBLIC


@pytest.mark.parametrize("name", PUBLIC)
def test_each_public_name_resolves(name: str) -> None:
    value = getattr(gittrack, name)
    assert value is not None
    assert name in dir(gittrack)
    if name != "MlflowClient":  # MLflow's name for the Client
        assert getattr(value, "__name__", name) == name


def test_mlflow_client_is_the_client() -> None:
    assert gittrack.MlflowClient is gittrack.Client


def test_unknown_name_is_an_attribute_error() -> None:
    with pytest.raises(AttributeError, match="module 'gittrack' has no attribute 'log_metricz'"):
        gittrack.log_metricz  # noqa: B018


def test_import_gittrack_loads_no_heavy_package() -> None:
    """In a fresh interpreter, ``import gittrack`` loads none of HEAVY and no submodule."""
    code = (
        "import json, sys\n"
        "before = set(sys.modules)\n"
        "import gittrack\n"
        "print(json.dumps(sorted(set(sys.modules) - before)))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    loaded = json.loads(out)
    heavy = [m for m in loaded if m.split(".")[0] in HEAVY]
    assert heavy == []
    assert [m for m in loaded if m.startswith("gittrack.")] == []
    assert "gittrack" in loaded
