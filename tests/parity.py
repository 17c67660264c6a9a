"""The server the ported MLflow suites run against.

``tests/test_mlflow_ported_rest.py`` and ``tests/test_mlflow_ported_search.py`` carry facts
from MLflow's own test suites (inputs and the outcomes MLflow's server gives) and check them
with MLflow's real ``MlflowClient`` against a real ``gittrack server``. To check that a fact
really is MLflow's, run the same files against a real ``mlflow server`` (SQLite store,
proxied artifacts, the installed MLflow):

    GITTRACK_PARITY_TARGET=mlflow python -m pytest tests/test_mlflow_ported_rest.py

Tests marked ``gittrack_only`` check something only gittrack has and are skipped then.
"""

from __future__ import annotations

import os
import subprocess
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.server_helpers import ServerProcess, start_mlflow_server, stop_mlflow_server

# read at import: the suite's autouse fixture clears GITTRACK_* variables for each test
TARGET = os.environ.get("GITTRACK_PARITY_TARGET", "gittrack")
if TARGET not in ("gittrack", "mlflow"):  # pragma: no cover - a typo in the variable
    raise RuntimeError(f"GITTRACK_PARITY_TARGET must be gittrack or mlflow, not {TARGET!r}")

gittrack_only = pytest.mark.skipif(TARGET != "gittrack", reason="checks gittrack itself")


@dataclass
class Target:
    """A running server: its base URL and where its files are."""

    url: str
    base: Path


def serve(base: Path) -> Iterator[Target]:
    """Start the server under test in ``base`` (a fresh directory); stop it after."""
    if TARGET == "mlflow":
        proc, url = start_mlflow_server(base / "mlflow")
        try:
            yield Target(url, base)
        finally:
            stop_mlflow_server(proc)
        return
    repo = base / "store.git"
    subprocess.run(["git", "init", "-q", "--bare", str(repo)], check=True)
    env = {"HOME": str(base), "GIT_CONFIG_NOSYSTEM": "1", "GIT_CONFIG_GLOBAL": str(base / "gc")}
    with ServerProcess(repo, env=env) as srv:
        yield Target(srv.url, base)


def unique(name: str) -> str:
    """``name`` made unique on a shared server (MLflow's tests each had a fresh one)."""
    return f"{name} {uuid.uuid4().hex[:8]}"


def count_cases(module: object, skip: str) -> int:
    """How many test cases ``module`` defines (a parametrized test once per case), leaving
    out the test named ``skip``; independent of which tests a run selects."""
    total = 0
    for name, fn in vars(module).items():
        if not name.startswith("test_") or name == skip or not callable(fn):
            continue
        cases = 1
        for mark in getattr(fn, "pytestmark", []):
            if mark.name == "parametrize":
                cases *= len(mark.args[1])
        total += cases
    return total


def table_counts(doc: str | None) -> tuple[int, int, int]:
    """(ported, passing, excluded) from the count table of a ported suite's docstring."""
    import re

    m = re.search(r"ported (\d+), passing (\d+), excluded (\d+)", doc or "")
    if not m:
        raise AssertionError("no 'ported N, passing N, excluded N' table in the docstring")
    return int(m.group(1)), int(m.group(2)), int(m.group(3))
