"""`gittrack import mlflow`: stores built by real MLflow, imported, compared with what MLflow shows."""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import git, run_cli

pytest.importorskip("mlflow")
pytest.importorskip("sklearn")

BUILDER = Path(__file__).parent / "data" / "mlflow_import_store.py"
ENV = {"MLFLOW_DISABLE_TELEMETRY": "true", "MLFLOW_ALLOW_FILE_STORE": "true"}


def _clean_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MLFLOW_", "GITTRACK_"))}
    return {**env, **ENV}


def _build(uri: str, sha: str, where: Path, *extra: str) -> dict:
    out = where / "mlflow-view.json"
    script = where / BUILDER.name  # outside any git repository: MLflow records no commit
    shutil.copy(BUILDER, script)
    proc = subprocess.run(
        [sys.executable, str(script), uri, sha, str(out), *extra],
        cwd=where,
        env=_clean_env(),
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(out.read_text())


@pytest.fixture(scope="module")
def origin(tmp_path_factory) -> tuple[Path, str]:
    """A git repository with one commit (the runs' source) and its sha."""
    path = tmp_path_factory.mktemp("origin")
    git(path, "init", "-q", "-b", "main")
    (path / "train.py").write_text("print('train')\n")
    git(path, "add", ".")
    git(path, "commit", "-q", "-m", "initial")
    return path, git(path, "rev-parse", "HEAD").strip()


@pytest.fixture(scope="module")
def sqlite_store(tmp_path_factory, origin) -> tuple[str, dict, Path]:
    where = tmp_path_factory.mktemp("sqlstore")
    uri = f"sqlite:///{where / 'mlflow.db'}"
    return uri, _build(uri, origin[1], where), where


@pytest.fixture(scope="module")
def file_store(tmp_path_factory, origin) -> tuple[str, dict, Path]:
    where = tmp_path_factory.mktemp("filestore")
    uri = str(where / "mlruns")
    return uri, _build(uri, origin[1], where, "--no-model"), where


@pytest.fixture
def target(tmp_path, origin, monkeypatch) -> Path:
    """A clone of the origin repository (it has the runs' source commit)."""
    path = tmp_path / "target"
    git(tmp_path, "clone", "-q", str(origin[0]), str(path))
    git(path, "config", "user.name", "Test Author")
    git(path, "config", "user.email", "author@example.com")
    monkeypatch.chdir(path)
    return path


def _import(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return run_cli("import", "mlflow", *args, "--quiet", cwd=cwd, env=ENV)


def _refs(path: Path) -> str:
    return git(path, "for-each-ref", "refs/gittrack")


def _same_as_mlflow(client, view: dict) -> None:
    """Every run shows the same status, params, tags, metrics and histories as in MLflow."""
    for name, want in view["runs"].items():
        run = client.get_run(want["run_id"])  # MLflow's run id is kept
        assert run.info.run_name == name
        assert run.info.status == want["status"], name
        assert run.info.lifecycle_stage == want["lifecycle"], name
        assert (run.info.start_time, run.info.end_time) == (
            want["start_time"],
            want["end_time"],
        ), name
        assert run.data.params == want["params"], name
        assert {k: repr(v) for k, v in run.data.metrics.items()} == want["metrics"], name
        for key, value in want["tags"].items():
            assert run.data.tags[key] == value, (name, key)
        assert run.data.tags["gittrack.import.runId"] == want["run_id"]
        for key, points in want["history"].items():
            got = [
                [m.step, repr(m.value), m.timestamp]
                for m in client.get_metric_history(run.info.run_id, key)
            ]
            assert sorted(got) == sorted(points), (name, key)


def test_sqlite_store_imports_with_every_value(sqlite_store, target, origin):
    from gittrack.api.client import Client

    uri, view, where = sqlite_store
    first = _import(uri, cwd=target)
    assert first.returncode == 0, first.stderr
    assert "imported 5 new and 0 changed run(s)" in first.stdout
    client = Client(target)
    _same_as_mlflow(client, view)

    parent = view["runs"]["parent"]["run_id"]
    child = client.get_run(view["runs"]["child"]["run_id"])
    assert child.data.tags["mlflow.parentRunId"] == parent
    run = client.get_run(parent)
    assert run.data.tags["mlflow.note.content"] == "the parent run"
    history = client.get_metric_history(parent, "loss")
    assert len(history) == 1000
    assert repr(history[10].value) == "nan" and history[20].value == sys.float_info.max

    # the source commit is this repository's: the run's commit sits on it, checkout works
    assert run.data.tags["mlflow.source.git.commit"] == origin[1]
    assert git(target, "rev-parse", f"refs/gittrack/runs/{parent}^").strip() == origin[1]
    assert "gittrack.import.snapshot" not in run.data.tags
    broken = client.get_run(view["runs"]["broken"]["run_id"])
    assert broken.data.tags["gittrack.import.snapshot"] == "none: MLflow recorded no source commit"

    # experiments: tags and lifecycle
    vision = client.get_experiment_by_name("vision")
    assert vision.tags["team"] == "cv" and vision.lifecycle_stage == "active"
    assert client.get_experiment_by_name("old").lifecycle_stage == "deleted"
    assert run.info.experiment_id == vision.experiment_id

    # search_runs shows the same values MLflow shows
    found = client.search_runs([vision.experiment_id], "params.lr = '0.01'")
    assert [r.info.run_id for r in found] == [parent]
    assert found[0].data.metrics["acc"] == 0.75

    # the web UI shows the imported run
    pytest.importorskip("httpx")
    from starlette.testclient import TestClient

    from gittrack.ui import make_ui_app

    with TestClient(make_ui_app(str(target))) as ui:
        page = ui.get(f"/ui/api/runs/{parent}").json()
    assert page["run"]["name"] == "parent" and page["status"] == "FINISHED"

    # dataset inputs
    inputs = git(target, "show", f"refs/gittrack/runs/{parent}:.gittrack/inputs.yaml")
    assert "name: train" in inputs and "mlflow.data.context" in inputs

    # artifacts byte-identical; the model loads and predicts the same
    src = Path(view["runs"]["parent"]["artifact_uri"].removeprefix("file://"))
    got = Path(client.download_artifacts(parent, "notes/hello.txt", target.parent / "dl"))
    assert got.read_bytes() == (src / "notes" / "hello.txt").read_bytes()
    import numpy as np

    import gittrack

    model = gittrack.load_model(f"runs:/{parent}/model")
    assert model.predict(np.array([[4.0], [5.0]])).tolist() == view["predictions"]
    import mlflow.sklearn

    folder = client.download_artifacts(parent, "model", target.parent / "dlmodel")
    theirs = mlflow.sklearn.load_model(folder)
    assert theirs.predict(np.array([[4.0], [5.0]])).tolist() == view["predictions"]

    # the MLflow 3 LoggedModel is a record too, under its MLflow id
    from gittrack.core.logged_models import LoggedModelStore

    record = LoggedModelStore(client.repo).get(view["model_id"])
    assert (record["name"], record["source_run_id"]) == ("model", parent)
    assert "MLmodel" in record["artifacts"]
    # with its own params, tags, metrics and status, as MLflow shows them
    seen = view["model"]
    assert record["params"] == seen["params"] and record["params"]["alpha"] == "0.1"
    assert record["tags"] == seen["tags"] and record["tags"]["stage"] == "candidate"
    assert [[m["key"], m["value"], m["step"]] for m in record["metrics"]] == seen["metrics"]
    assert {m["run_id"] for m in record["metrics"]} == {parent}
    assert record["status"] == seen["status"] == "READY"

    # the host: MLflow records none; a local store's is this machine
    import socket

    assert client.get_run(parent).info.run_id == parent
    run_yaml = git(target, "show", f"refs/gittrack/runs/{parent}:.gittrack/run.yaml")
    assert f"host: {socket.gethostname()}" in run_yaml

    verify = _import(uri, "--verify", cwd=target)
    assert verify.returncode == 0, verify.stdout + verify.stderr
    assert "No difference" in verify.stdout

    # re-import: nothing new, no ref moves
    before = _refs(target)
    again = _import(uri, cwd=target)
    assert again.returncode == 0, again.stderr
    assert "imported 0 new and 0 changed run(s), 5 unchanged" in again.stdout
    assert _refs(target) == before


def test_file_store_imports_and_verifies(file_store, target):
    from gittrack.api.client import Client

    uri, view, _ = file_store
    out = _import(uri, cwd=target)
    assert out.returncode == 0, out.stderr
    _same_as_mlflow(Client(target), view)
    # file:// names the same folder: the same source, nothing new
    verify = _import(f"file://{uri}", "--verify", cwd=target)
    assert verify.returncode == 0, verify.stdout
    again = _import(f"file://{uri}", cwd=target)
    assert "imported 0 new and 0 changed run(s), 5 unchanged" in again.stdout


def test_changed_run_is_reimported_on_top(sqlite_store, tmp_path, target):
    import mlflow

    uri, view, where = sqlite_store
    copy = tmp_path / "copy.db"
    shutil.copy(where / "mlflow.db", copy)
    curi = f"sqlite:///{copy}"
    assert _import(curi, cwd=target).returncode == 0
    child = view["runs"]["child"]["run_id"]
    old = git(target, "rev-parse", f"refs/gittrack/runs/{child}").strip()
    mlflow.MlflowClient(curi).set_tag(child, "reviewed", "yes")
    out = _import(curi, cwd=target)
    assert "imported 0 new and 1 changed run(s), 4 unchanged" in out.stdout, out.stderr
    assert git(target, "rev-parse", f"refs/gittrack/runs/{child}^").strip() == old
    from gittrack.api.client import Client

    assert Client(target).get_run(child).data.tags["reviewed"] == "yes"


def test_dry_run_since_and_experiment_filter(sqlite_store, target):
    uri, view, _ = sqlite_store
    out = _import(uri, "--dry-run", cwd=target)
    assert "would import 5 new" in out.stdout, out.stderr
    assert _refs(target) == ""
    out = _import(uri, "--dry-run", "--since", "2999-01-01", cwd=target)
    assert "would import 0 new" in out.stdout
    out = _import(uri, "--experiment", "old", cwd=target)
    assert "1 experiment(s); imported 1 new" in out.stdout, out.stderr
    out = _import(uri, "--experiment", "nope", cwd=target)
    assert out.returncode == 1 and "No experiment named 'nope'" in out.stderr


def test_missing_artifacts_are_imported_reported_and_verified(sqlite_store, tmp_path, target):
    uri, view, where = sqlite_store
    copy = tmp_path / "copy.db"
    shutil.copy(where / "mlflow.db", copy)
    con = sqlite3.connect(copy)
    parent = view["runs"]["parent"]["run_id"]
    moved = tmp_path / "gone"
    con.execute("UPDATE logged_models SET artifact_location = ?", (str(moved),))
    con.commit()
    con.close()
    out = _import(f"sqlite:///{copy}", cwd=target)
    assert out.returncode == 0, out.stderr
    assert f"run {parent}: artifact model model" in out.stderr and "is missing" in out.stderr
    from gittrack.api.client import Client

    tag = Client(target).get_run(parent).data.tags["gittrack.import.artifacts"]
    assert tag.startswith("1 missing at the source")
    verify = _import(f"sqlite:///{copy}", "--verify", cwd=target)
    assert verify.returncode == 1
    assert f"run {parent}: artifact model model" in verify.stdout


def test_bad_sources_write_nothing(tmp_path, target):
    missing = tmp_path / "nope.db"
    out = _import(f"sqlite:///{missing}", cwd=target)
    assert out.returncode == 1 and f"no such file {missing}" in out.stderr
    assert not missing.exists()
    other = tmp_path / "other.db"
    sqlite3.connect(other).execute("CREATE TABLE t (x)").connection.commit()
    out = _import(f"sqlite:///{other}", cwd=target)
    assert out.returncode == 1 and "is not an MLflow tracking store" in out.stderr
    (tmp_path / "folder").mkdir()
    out = _import(str(tmp_path / "folder"), cwd=target)
    assert out.returncode == 1 and "is not an MLflow store" in out.stderr
    out = _import(str(tmp_path / "absent"), cwd=target)
    assert out.returncode == 1 and "no such file or folder" in out.stderr
    assert _refs(target) == ""


def test_unsupported_schema_is_refused(sqlite_store, tmp_path, target):
    _, _, where = sqlite_store
    copy = tmp_path / "old.db"
    shutil.copy(where / "mlflow.db", copy)
    con = sqlite3.connect(copy)
    con.execute("UPDATE alembic_version SET version_num = '451aebb31d03'")
    con.commit()
    con.close()
    out = _import(f"sqlite:///{copy}", cwd=target)
    assert out.returncode == 1
    assert "schema version 451aebb31d03" in out.stderr and "Supported: 7f2a7d5fae7d" in out.stderr
    assert _refs(target) == ""


def test_second_import_at_once_is_refused(sqlite_store, target):
    from gittrack.core.locks import FileLock

    uri, _, _ = sqlite_store
    lock = FileLock(target / ".git" / "gittrack" / "locks" / "import.lock")
    assert lock.acquire(block=False)
    try:
        out = _import(uri, cwd=target)
    finally:
        lock.release()
    assert out.returncode == 1
    assert "Another `gittrack import` is writing into this repository" in out.stderr
    assert _refs(target) == ""


def test_import_ends_with_refs_packed_and_no_lock_files(sqlite_store, target):
    uri, view, _ = sqlite_store
    out = _import(uri, cwd=target)
    assert out.returncode == 0, out.stderr
    git_dir = target / ".git"
    # every run is listed, from packed-refs: no loose ref file per run, no lock file per run
    assert len(_refs(target).splitlines()) >= len(view["runs"])
    assert [p for p in (git_dir / "refs" / "gittrack").rglob("*") if p.is_file()] == []
    assert "refs/gittrack/runs/" in (git_dir / "packed-refs").read_text()
    assert list((git_dir / "gittrack" / "locks").iterdir()) == []
    assert git(target, "fsck", "--no-dangling").strip() == ""


def test_import_through_mlflow_server(tmp_path, target, origin):
    from tests.server_helpers import start_mlflow_server, stop_mlflow_server

    proc, url = start_mlflow_server(tmp_path / "server")
    try:
        view = _build(url, origin[1], tmp_path)
        out = _import(url, cwd=target)
        assert out.returncode == 0, out.stderr
        from gittrack.api.client import Client

        client = Client(target)
        _same_as_mlflow(client, view)
        parent = view["runs"]["parent"]["run_id"]
        import numpy as np

        import gittrack

        model = gittrack.load_model(f"runs:/{parent}/model")
        assert model.predict(np.array([[4.0], [5.0]])).tolist() == view["predictions"]
        text = Path(client.download_artifacts(parent, "notes/hello.txt", tmp_path / "dl"))
        assert text.read_bytes() == b"hello import\n"
        from gittrack.core.logged_models import LoggedModelStore

        record = LoggedModelStore(client.repo).get(view["model_id"])
        seen = view["model"]
        assert record["params"] == seen["params"] and record["tags"] == seen["tags"]
        assert [[m["key"], m["value"], m["step"]] for m in record["metrics"]] == seen["metrics"]
        run_yaml = git(target, "show", f"refs/gittrack/runs/{parent}:.gittrack/run.yaml")
        assert "host: 127.0.0.1" in run_yaml  # the server's host: MLflow records none per run
        verify = _import(url, "--verify", cwd=target)
        assert verify.returncode == 0, verify.stdout
        again = _import(url, cwd=target)
        assert "imported 0 new and 0 changed run(s), 5 unchanged" in again.stdout
    finally:
        stop_mlflow_server(proc)


def test_import_leaves_gittrack_import_light():
    out = subprocess.run(
        [sys.executable, "-c", "import gittrack, sys; print('mlflow' in sys.modules)"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert out.stdout.strip() == "False"


def test_interrupted_import_resumes_without_duplicates(file_store, target):
    """Runs written before the mapping was committed are rewritten under the same ids."""
    uri, view, _ = file_store
    assert _import(uri, cwd=target).returncode == 0
    runs = sorted(line.split()[-1] for line in _refs(target).splitlines() if "/runs/" in line)
    git(target, "update-ref", "-d", "refs/gittrack/imports/mlflow")  # the mapping never saved
    out = _import(uri, cwd=target)
    assert "imported 5 new and 0 changed run(s)" in out.stdout, out.stderr
    again = sorted(line.split()[-1] for line in _refs(target).splitlines() if "/runs/" in line)
    assert again == runs  # no second copy of any run
    assert sorted(r["run_id"] for r in view["runs"].values()) == [
        r.removeprefix("refs/gittrack/runs/") for r in runs
    ]
    verify = _import(uri, "--verify", cwd=target)
    assert verify.returncode == 0, verify.stdout


@pytest.mark.parametrize(
    "server",
    [
        "postgresql+psycopg://postgres@127.0.0.1:5432",
        "mysql+pymysql://root@127.0.0.1:3306",
    ],
)
def test_postgresql_and_mysql_stores(server, tmp_path, target, origin):
    """MLflow on a real PostgreSQL / MariaDB database, read with that database's driver."""
    import sqlalchemy

    name = f"gt_import_{os.getpid()}"
    admin = sqlalchemy.create_engine(f"{server}/{'postgres' if 'postgresql' in server else 'test'}")
    try:
        with admin.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.exec_driver_sql(f"DROP DATABASE IF EXISTS {name}")
            conn.exec_driver_sql(f"CREATE DATABASE {name}")
    except sqlalchemy.exc.OperationalError as exc:
        from tests.conftest import require_service

        require_service(server.split(":")[0], str(exc.orig))
    uri = f"{server}/{name}"
    try:
        view = _build(uri, origin[1], tmp_path, "--no-model")
        out = _import(uri, cwd=target)
        assert out.returncode == 0, out.stderr
        from gittrack.api.client import Client

        _same_as_mlflow(Client(target), view)
        verify = _import(uri, "--verify", cwd=target)
        assert verify.returncode == 0, verify.stdout
    finally:
        with admin.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.exec_driver_sql(f"DROP DATABASE IF EXISTS {name}")
        admin.dispose()


def test_many_runs_in_worker_processes_verify_clean(tmp_path, target, monkeypatch):
    """Over one batch of runs: written by worker processes, every point and file verified."""
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    from benchmarks.import_bench import build_store

    monkeypatch.setenv("MLFLOW_DISABLE_TELEMETRY", "true")
    uri = build_store(tmp_path, 450, 10)
    out = _import(uri, cwd=target)
    assert "imported 450 new and 0 changed run(s)" in out.stdout, out.stderr
    assert "22500 metric points" in out.stdout
    verify = _import(uri, "--verify", cwd=target)
    assert verify.returncode == 0, verify.stdout[-2000:]
    again = _import(uri, cwd=target)
    assert "imported 0 new and 0 changed run(s), 450 unchanged" in again.stdout


@pytest.mark.timeout(900)  # two server start-ups and three imports, on a loaded machine
def test_mlflow_server_killed_mid_import_then_resumed(tmp_path, target):
    """The real `mlflow server` is killed while an import reads it: the import says so
    clearly, every run visible in the repository is whole (the batch being written is
    dropped), and the same import against the restarted server completes it."""
    import signal
    import time
    from urllib.parse import urlparse

    import mlflow
    from mlflow.entities import Metric, Param

    from gittrack.api.client import Client
    from gittrack.core.repo import Repo
    from gittrack.importer.mapping import Mapping
    from tests.server_helpers import start_mlflow_server, stop_mlflow_server

    runs = 16
    proc, url = start_mlflow_server(tmp_path / "server", wait=300)
    try:
        client = mlflow.MlflowClient(url)
        exp = client.create_experiment("served")
        made: dict[str, int] = {}
        for i in range(runs):
            run = client.create_run(exp, run_name=f"r{i}")
            rid = run.info.run_id
            points = [Metric("loss", 1.0 / (s + 1), 1_700_000_000_000 + s, s) for s in range(20)]
            client.log_batch(rid, metrics=points, params=[Param("i", str(i))])
            client.log_text(rid, f"run {i}\n", "out/result.txt")
            client.set_terminated(rid)
            made[rid] = i
        env = {**ENV, "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "0", "MLFLOW_HTTP_REQUEST_TIMEOUT": "10"}
        importer = subprocess.Popen(
            [sys.executable, "-m", "gittrack", "import", "mlflow", url, "--quiet"]
            + ["--batch-size", "2"],
            cwd=target,
            env={**os.environ, **env},
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        deadline = time.monotonic() + 300
        mapped = target / ".git" / "refs" / "gittrack" / "imports" / "mlflow"
        while not mapped.exists() and importer.poll() is None and time.monotonic() < deadline:
            time.sleep(0.02)  # until the first batch is in
        assert importer.poll() is None, "the import ended before the server could be killed"
        os.killpg(proc.pid, signal.SIGKILL)  # the server dies: no goodbye
        proc.wait(30)
        out, err = importer.communicate(timeout=300)
    finally:
        stop_mlflow_server(proc)

    assert importer.returncode == 1, out + err
    assert f"The MLflow server {url} stopped answering" in err, err
    assert "run the same import again to resume" in err and "Traceback" not in err, err

    # nothing half-written: the visible runs are exactly the mapped ones, each whole
    mapping = Mapping(Repo(str(target)), url)
    visible = {
        line.split("refs/gittrack/runs/")[1]
        for line in _refs(target).splitlines()
        if "refs/gittrack/runs/" in line
    }
    assert visible == {e.run_id for e in mapping.entries.values()}
    assert 0 < len(visible) < runs
    mine = Client(target)
    for rid in visible:
        got = mine.get_run(rid)
        i = made[rid]
        assert got.data.params == {"i": str(i)} and got.info.status == "FINISHED"
        assert len(mine.get_metric_history(rid, "loss")) == 20
        text = Path(mine.download_artifacts(rid, "out/result.txt", tmp_path / "dl" / rid))
        assert text.read_text() == f"run {i}\n"

    # the same server back (same store, same port): the import resumes and completes
    proc, again_url = start_mlflow_server(tmp_path / "server", urlparse(url).port, 300)
    try:
        assert again_url == url
        resumed = _import(url, cwd=target)
        assert resumed.returncode == 0, resumed.stderr
        assert f"imported {runs - len(visible)} new and 0 changed run(s)" in resumed.stdout
        verify = _import(url, "--verify", cwd=target)
        assert verify.returncode == 0, verify.stdout[-3000:]
    finally:
        stop_mlflow_server(proc)
