"""`import gittrack as mlflow` runs an ordinary MLflow script and records what MLflow would."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).parent / "data" / "mlflow_style_script.py"


def test_same_records_as_mlflow(repo, tmp_path):
    pytest.importorskip("mlflow")
    theirs = subprocess.run(
        [sys.executable, str(SCRIPT), "mlflow", f"sqlite:///{tmp_path / 'mlflow.db'}"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert theirs.returncode == 0, theirs.stderr[-3000:]
    ours = subprocess.run(
        [sys.executable, str(SCRIPT), "gittrack"],
        cwd=repo,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert ours.returncode == 0, ours.stderr[-3000:]
    expected = json.loads(theirs.stdout.strip().splitlines()[-1])
    got = json.loads(ours.stdout.strip().splitlines()[-1])
    assert set(got) == {"parent", "child", "broken", "killed"}
    for name in got:
        for key in ("status", "params", "metrics", "history", "tags", "runName", "parent", "user"):
            assert got[name][key] == _inf(expected[name][key]), (name, key)


def _inf(obj):
    """MLflow's SQL store saves ±inf as ±max float; gittrack keeps ±inf (as MLflow's API takes)."""
    if isinstance(obj, float) and abs(obj) == sys.float_info.max:
        return float("inf") if obj > 0 else float("-inf")
    if isinstance(obj, list):
        return [_inf(o) for o in obj]
    if isinstance(obj, dict):
        return {k: _inf(v) for k, v in obj.items()}
    return obj
