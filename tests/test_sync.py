"""The SQL mirror (``gittrack sync``) against real SQLite, PostgreSQL and MariaDB.

Each test gets its own SQLite file, PostgreSQL schema or MariaDB database, so
engineers sharing the servers do not see each other's tables.
"""

from __future__ import annotations

import math
import re
import signal
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import pygit2
import pytest
import sqlalchemy as sa

from gittrack.api.client import Client
from gittrack.errors import SchemaConflict, SyncBusy, SyncError, SyncTargetError
from gittrack.mirror.sync import sync_to
from tests.conftest import ROOT, git, require_service, run_cli

PG = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
MARIADB = "mysql+pymysql://root@127.0.0.1:3306/test"
DOCS = ROOT / "docs" / "sql-schema.md"


# -- targets: a fresh database per test ----------------------------------------


def _server(url: str, service: str) -> sa.Engine:
    engine = sa.create_engine(url, connect_args={"connect_timeout": 5})
    try:
        with engine.connect():
            pass
    except sa.exc.DBAPIError as exc:
        engine.dispose()
        require_service(service, str(exc.orig))
    return engine


def _fresh(kind: str, tmp_path: Path):
    """Yield a URL of an empty database of ``kind``; drop it afterwards."""
    name = f"gt_sync_{uuid.uuid4().hex[:12]}"
    if kind == "sqlite":
        yield f"sqlite:///{tmp_path / 'mirror.db'}"
        return
    if kind == "postgresql":
        admin = _server(PG, "postgresql")
        with admin.begin() as c:
            c.exec_driver_sql(f"CREATE SCHEMA {name}")
        try:
            yield f"{PG}?options=-csearch_path%3D{name}"
        finally:
            with admin.begin() as c:
                c.exec_driver_sql(f"DROP SCHEMA {name} CASCADE")
            admin.dispose()
        return
    admin = _server(MARIADB, "mariadb")
    with admin.begin() as c:
        c.exec_driver_sql(f"CREATE DATABASE {name} CHARACTER SET utf8mb4")
    try:
        yield MARIADB.replace("/test", f"/{name}")
    finally:
        with admin.begin() as c:
            c.exec_driver_sql(f"DROP DATABASE {name}")
        admin.dispose()


@pytest.fixture(params=["sqlite", "postgresql", "mariadb"])
def target(request, tmp_path):
    """An empty database on each of the three servers."""
    yield from _fresh(request.param, tmp_path)


@pytest.fixture
def sqlite_target(tmp_path):
    yield from _fresh("sqlite", tmp_path)


def rows(url: str, sql: str, **params) -> list[tuple]:
    engine = sa.create_engine(url)
    try:
        with engine.connect() as c:
            return [tuple(r) for r in c.execute(sa.text(sql), params)]
    finally:
        engine.dispose()


def snapshot(url: str) -> dict[str, list[tuple]]:
    """Every mirrored table's rows (sorted), without the sync times."""
    out = {}
    for table, cols in {
        "runs": "*",
        "params": "*",
        "tags": "*",
        "latest_metrics": "*",
        "metrics": "*",
        "artifacts": "*",
        "experiments": "*",
        "experiment_tags": "*",
        "sync_state": "run_id, commit_sha, error",
    }.items():
        out[table] = sorted(rows(url, f"SELECT {cols} FROM {table}"), key=repr)
    return out


# -- repositories with runs --------------------------------------------------------


def log_run(c: Client, i: int, *, acc: list[float], lr: float, branch_tag: str = "") -> str:
    run = c.create_run(run_name=f"run-{i}", tags={"team": "vision", "idx": str(i)})
    rid = run.info.run_id
    c.log_param(rid, "lr", lr)
    c.log_param(rid, "optimizer", "adam" if i % 2 else "sgd")
    c.log_param(rid, "layers", 2 + i % 3)
    for step, v in enumerate(acc):
        c.log_metric(rid, "acc", v, step=step, timestamp=1_700_000_000_000 + step)
        c.log_metric(rid, "loss", 1.0 - v, step=step, timestamp=1_700_000_000_000 + step)
    c.set_terminated(rid)
    return rid


@pytest.fixture
def project(repo):
    """A repository with runs on three branches: name -> run id, plus expectations."""
    runs: dict[str, str] = {}
    accs = {
        "main": [[0.1, 0.5], [0.2, 0.7], [0.3, 0.6]],
        "feature-x": [[0.4, 0.9], [0.1, 0.2]],
        "feature-y": [[0.5, 0.8], [0.3, 0.85], [0.2, float("nan")]],
    }
    i = 0
    for branch, series in accs.items():
        if branch != "main":
            git(repo, "checkout", "-q", "-b", branch, "main")
            (repo / "train.py").write_text(f"print('training on {branch}')\n")
            git(repo, "commit", "-q", "-am", f"work on {branch}")
        c = Client(repo)
        for acc in series:
            runs[f"{branch}/{i}"] = log_run(c, i, acc=acc, lr=0.001 * (i + 1))
            i += 1
    git(repo, "checkout", "-q", "main")
    return runs


# -- mirroring -------------------------------------------------------------------------


def test_sync_mirrors_runs_params_tags_metrics_history_artifacts(target, project, repo):
    c = Client(repo)
    rid = project["main/1"]
    w = c.writer(rid)
    w.artifacts["model/weights.bin"] = {"sha256": "ab" * 32, "size": 1234, "where": "store"}
    w.mark_dirty()
    w.checkpoint()

    report = sync_to(target, repo)

    assert sorted(report.added) == sorted(project.values())
    assert report.skipped == [] and report.updated == [] and report.unchanged == 0
    run = c.get_run(rid)
    got = rows(
        target,
        "SELECT run_name, status, lifecycle_stage, source_branch, source_commit, experiment_id,"
        " start_time, end_time, in_repository FROM runs WHERE run_id = :r",
        r=rid,
    )
    assert got == [
        (
            "run-1",
            "FINISHED",
            "active",
            "main",
            run.source["commit"],
            "0",
            run.info.start_time,
            run.info.end_time,
            True,
        )
    ]
    assert rows(
        target, "SELECT name, value, value_num FROM params WHERE run_id = :r ORDER BY name", r=rid
    ) == [
        ("layers", "3", 3.0),
        ("lr", "0.002", 0.002),
        ("optimizer", "adam", None),
    ]
    assert rows(target, "SELECT name, value FROM tags WHERE run_id = :r ORDER BY name", r=rid) == [
        ("idx", "1"),
        ("team", "vision"),
    ]
    assert rows(
        target,
        "SELECT value, step, min_value, max_value, point_count FROM latest_metrics"
        " WHERE run_id = :r AND name = 'acc'",
        r=rid,
    ) == [(0.7, 1, 0.2, 0.7, 2)]
    history = [(m.step, m.value, m.timestamp) for m in c.get_metric_history(rid, "loss")]
    assert (
        rows(
            target,
            "SELECT step, value, timestamp FROM metrics WHERE run_id = :r AND name = 'loss' ORDER BY seq",
            r=rid,
        )
        == history
    )
    assert rows(
        target, "SELECT path, sha256, size, location FROM artifacts WHERE run_id = :r", r=rid
    ) == [("model/weights.bin", "ab" * 32, 1234, "store")]
    assert rows(target, "SELECT experiment_id, name, lifecycle_stage FROM experiments") == [
        ("0", "Default", "active")
    ]
    # NaN is stored as NULL on every database
    nan_run = project["feature-y/7"]
    assert rows(
        target, "SELECT value FROM latest_metrics WHERE run_id = :r AND name = 'acc'", r=nan_run
    ) == [(None,)]
    assert rows(target, "SELECT COUNT(*) FROM sync_state WHERE error IS NULL") == [(8,)]


def test_second_sync_changes_nothing(target, project, repo):
    sync_to(target, repo)
    before = snapshot(target)

    again = sync_to(target, repo)

    assert (again.added, again.updated, again.removed, again.restored) == ([], [], [], [])
    assert again.unchanged == 8 and not again.changed
    assert sum(again.rows.values()) == 0
    assert snapshot(target) == before


def test_incremental_sync_copies_only_moved_runs_and_appends_history(target, project, repo):
    sync_to(target, repo)
    c = Client(repo)
    live = c.create_run(run_name="live").info.run_id
    for s in range(3):
        c.log_metric(live, "loss", 1.0 / (s + 1), step=s)
    c.flush(live)
    first = sync_to(target, repo)
    assert first.added == [live] and first.unchanged == 8
    assert rows(target, "SELECT status FROM runs WHERE run_id = :r", r=live) == [("RUNNING",)]

    for s in range(3, 7):
        c.log_metric(live, "loss", 1.0 / (s + 1), step=s)
    c.log_param(live, "batch", 64)
    c.set_terminated(live, "FAILED")
    second = sync_to(target, repo)

    assert second.updated == [live] and second.added == [] and second.unchanged == 8
    assert second.rows["metrics"] == 4  # only the new points were written
    assert rows(target, "SELECT status FROM runs WHERE run_id = :r", r=live) == [("FAILED",)]
    assert rows(target, "SELECT name, value FROM params WHERE run_id = :r", r=live) == [
        ("batch", "64")
    ]
    assert rows(
        target, "SELECT seq, step, value FROM metrics WHERE run_id = :r ORDER BY seq", r=live
    ) == [(s, s, 1.0 / (s + 1)) for s in range(7)]


def test_deleted_runs_are_marked_and_restored_runs_come_back(target, project, repo):
    c = Client(repo)
    gone, deleted = project["main/0"], project["feature-x/3"]
    sync_to(target, repo)
    c.delete_run(deleted)
    ref = f"refs/gittrack/runs/{gone}"
    sha = git(repo, "rev-parse", ref).strip()
    git(repo, "update-ref", "-d", ref)

    report = sync_to(target, repo)

    assert report.removed == [gone] and report.updated == [deleted]
    state = "SELECT lifecycle_stage, in_repository FROM runs WHERE run_id = :r"
    assert rows(target, state, r=deleted) == [("deleted", True)]
    assert rows(target, state, r=gone) == [("deleted", False)]
    # their rows stay, so history remains answerable
    assert rows(target, "SELECT COUNT(*) FROM metrics WHERE run_id = :r", r=gone) == [(4,)]

    c.restore_run(deleted)
    git(repo, "update-ref", ref, sha)
    back = sync_to(target, repo)

    assert back.restored == [gone] and back.updated == [deleted]
    assert rows(target, state, r=deleted) == [("active", True)]
    assert rows(target, state, r=gone) == [("active", True)]
    assert rows(target, "SELECT COUNT(*) FROM metrics WHERE run_id = :r", r=gone) == [(4,)]


# -- the documented queries -------------------------------------------------------------


def documented_queries() -> dict[str, str]:
    text = DOCS.read_text()
    found = re.findall(r"<!-- query: (\w+) -->\s*```sql\n(.*?)```", text, re.S)
    return dict(found)


def test_docs_hold_the_three_example_queries():
    assert sorted(documented_queries()) == [
        "best_run_per_branch",
        "metric_history",
        "params_of_top_runs",
    ]


def test_documented_queries_answer_the_common_questions(target, project, repo):
    sync_to(target, repo)
    q = documented_queries()
    c = Client(repo)
    runs = {rid: c.get_run(rid) for rid in project.values()}

    # best run per branch, computed from the runs themselves
    expected = {}
    for rid, run in runs.items():
        acc = run.data.metrics["acc"]
        if math.isnan(acc):
            continue
        branch = run.source["branch"]
        if branch not in expected or acc > expected[branch][2]:
            expected[branch] = (rid, run.info.run_name, acc)
    best = rows(target, q["best_run_per_branch"])
    assert best == [(b, *expected[b]) for b in sorted(expected)]
    assert [r[0] for r in best] == ["feature-x", "feature-y", "main"]
    assert best[1][1] == project["feature-y/6"]  # 0.85 beats 0.8; NaN is not best

    rid = project["main/1"]
    history = [(m.step, m.value, m.timestamp) for m in c.get_metric_history(rid, "loss")]
    assert rows(target, q["metric_history"], run_id=rid) == history

    top = sorted(
        (r for r in runs.values() if not math.isnan(r.data.metrics["acc"])),
        key=lambda r: (-r.data.metrics["acc"], r.info.run_id),
    )[:3]
    assert [r.info.run_name for r in top] == ["run-3", "run-6", "run-5"]
    want = [
        (r.info.run_id, r.data.metrics["acc"], k, r.data.params[k])
        for r in top
        for k in sorted(r.data.params)
    ]
    assert rows(target, q["params_of_top_runs"]) == want


# -- concurrency and failures ---------------------------------------------------------------


def test_two_syncs_at_once_take_turns(target, project, repo):
    reports, errors = [], []

    def worker():
        try:
            reports.append(sync_to(target, repo))
        except Exception as exc:  # pragma: no cover - shown by the assert below
            errors.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)

    assert errors == []
    assert sorted(len(r.added) for r in reports) == [0, 0, 8]
    assert rows(target, "SELECT COUNT(*) FROM runs") == [(8,)]
    n_points = sum(len(Client(repo).get_metric_history(r, "acc")) * 2 for r in project.values())
    assert rows(target, "SELECT COUNT(*) FROM metrics") == [(n_points,)]


FAIL_TRIGGER = {
    "sqlite": [
        "CREATE TRIGGER boom BEFORE INSERT ON metrics "
        "BEGIN SELECT RAISE(ABORT, 'disk on fire'); END"
    ],
    "postgresql": [
        "CREATE FUNCTION boom() RETURNS trigger AS $$ BEGIN RAISE EXCEPTION 'disk on fire'; END $$"
        " LANGUAGE plpgsql",
        "CREATE TRIGGER boom BEFORE INSERT ON metrics FOR EACH ROW EXECUTE FUNCTION boom()",
    ],
    "mysql": [
        "CREATE TRIGGER boom BEFORE INSERT ON metrics FOR EACH ROW "
        "SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = 'disk on fire'"
    ],
}


def test_a_failing_sync_leaves_the_mirror_as_it_was(target, repo):
    c = Client(repo)
    first = log_run(c, 0, acc=[0.5], lr=0.1)
    sync_to(target, repo)
    before = snapshot(target)
    engine = sa.create_engine(target)
    with engine.begin() as conn:
        for stmt in FAIL_TRIGGER[engine.dialect.name]:
            conn.exec_driver_sql(stmt)
    engine.dispose()
    log_run(c, 1, acc=[0.6, 0.7], lr=0.2)
    c.set_tag(first, "stage", "changed")

    with pytest.raises(SyncError) as err:
        sync_to(target, repo)

    assert "disk on fire" in str(err.value)
    assert "rolled back; the mirror is unchanged" in str(err.value)
    assert snapshot(target) == before


def test_refuses_a_target_with_another_applications_tables(target, repo):
    log_run(Client(repo), 0, acc=[0.5], lr=0.1)
    engine = sa.create_engine(target)
    with engine.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE runs (run_uuid VARCHAR(32) PRIMARY KEY, name TEXT)")
        conn.exec_driver_sql("CREATE TABLE experiments (experiment_id INT PRIMARY KEY)")
        conn.exec_driver_sql("INSERT INTO runs VALUES ('abc', 'theirs')")
    engine.dispose()

    with pytest.raises(SchemaConflict) as err:
        sync_to(target, repo)

    msg = str(err.value)
    assert "already holds table(s) experiments, runs that gittrack did not create" in msg
    assert "Nothing was changed" in msg
    assert sorted(sa.inspect(sa.create_engine(target)).get_table_names()) == ["experiments", "runs"]
    assert rows(target, "SELECT * FROM runs") == [("abc", "theirs")]


def test_refuses_a_mirror_of_another_schema_version(sqlite_target, repo):
    sync_to(sqlite_target, repo)
    engine = sa.create_engine(sqlite_target)
    with engine.begin() as conn:
        conn.exec_driver_sql("UPDATE gittrack_meta SET value = '99' WHERE name = 'schema_version'")
    engine.dispose()
    with pytest.raises(SchemaConflict, match="schema version 99, this gittrack writes version 1"):
        sync_to(sqlite_target, repo)


def test_unparseable_run_is_reported_and_skipped(target, project, repo):
    g = pygit2.Repository(str(repo))
    good_id = project["main/0"]
    good = g.references[f"refs/gittrack/runs/{good_id}"].peel(pygit2.Commit)

    def broken_commit(parent: pygit2.Commit, run_yaml: bytes) -> pygit2.Oid:
        tb = g.TreeBuilder(parent.tree[".gittrack"])
        tb.insert("run.yaml", g.create_blob(run_yaml), pygit2.GIT_FILEMODE_BLOB)
        top = g.TreeBuilder(parent.tree)
        top.insert(".gittrack", tb.write(), pygit2.GIT_FILEMODE_TREE)
        sig = pygit2.Signature("t", "t@example.com")
        return g.create_commit(None, sig, sig, "broken", top.write(), [parent.id])

    bad_id = "f" * 32
    g.references.create(f"refs/gittrack/runs/{bad_id}", broken_commit(good, b"run_id: [oops\n"))
    sync_to(target, repo)  # the good version of main/0 is in the mirror now
    g.references[f"refs/gittrack/runs/{good_id}"].set_target(
        broken_commit(good, b"run_id: " + good_id.encode() + b"\nstatus: [1, 2\n")
    )

    report = sync_to(target, repo)

    assert [r for r, _ in report.skipped] == [good_id]
    assert "run.yaml" in report.skipped[0][1]
    # the first sync skipped the new bad run; the good one keeps its last good rows
    assert rows(target, "SELECT COUNT(*) FROM runs") == [(8,)]
    assert rows(target, "SELECT run_name FROM runs WHERE run_id = :r", r=good_id) == [("run-0",)]
    errors = rows(target, "SELECT run_id FROM sync_state WHERE error IS NOT NULL ORDER BY run_id")
    assert errors == [(good_id,), (bad_id,)]


def test_cli_reports_the_skipped_run(sqlite_target, repo):
    log_run(Client(repo), 0, acc=[0.5], lr=0.1)
    g = pygit2.Repository(str(repo))
    sig = pygit2.Signature("t", "t@example.com")
    tree = g.TreeBuilder()
    tree.insert("README", g.create_blob(b"no record here"), pygit2.GIT_FILEMODE_BLOB)
    oid = g.create_commit(None, sig, sig, "not a run", tree.write(), [])
    g.references.create("refs/gittrack/runs/" + "e" * 32, oid)

    out = run_cli("sync", sqlite_target, cwd=repo)

    assert out.returncode == 0, out.stderr
    assert re.match(
        r"Synced 2 runs into sqlite:///\S+: 1 added, 0 updated, 0 removed, 0 restored, "
        r"0 unchanged, 1 skipped \(\d+ rows, [\d.]+ s\)",
        out.stdout,
    )
    assert f"warning: skipped {'e' * 32}: Run {'e' * 32}: record is unreadable" in out.stderr


# -- connection errors --------------------------------------------------------------------


def test_wrong_password_is_a_clear_error_and_writes_nothing(repo):
    admin = _server(MARIADB, "mariadb")
    name = f"gt_sync_{uuid.uuid4().hex[:12]}"
    with admin.begin() as c:
        c.exec_driver_sql(f"CREATE DATABASE {name}")
    try:
        url = f"mysql+pymysql://root:not-the-password@127.0.0.1:3306/{name}"
        with pytest.raises(SyncTargetError) as err:
            sync_to(url, repo)
        msg = str(err.value)
        assert msg.startswith("Cannot connect to mysql+pymysql://root:***@127.0.0.1:3306/")
        assert "Access denied" in msg and "Nothing was written." in msg
        assert "not-the-password" not in msg
        with admin.connect() as c:
            tables = c.exec_driver_sql(
                "SELECT COUNT(*) FROM information_schema.tables WHERE table_schema = %s", (name,)
            ).scalar()
        assert tables == 0
    finally:
        with admin.begin() as c:
            c.exec_driver_sql(f"DROP DATABASE {name}")
        admin.dispose()


def test_unknown_postgres_role_is_a_clear_error(repo):
    _server(PG, "postgresql").dispose()
    url = "postgresql+psycopg://no_such_role_gt:pw@127.0.0.1:5432/test"
    with pytest.raises(SyncTargetError, match=r"Cannot connect to .*no_such_role_gt"):
        sync_to(url, repo)


def test_unreachable_host_is_a_clear_error(repo):
    with socket_port() as port:  # a port nobody listens on
        pass
    out = run_cli("sync", f"postgresql+psycopg://u:secret@127.0.0.1:{port}/db", cwd=repo)
    assert out.returncode == 1
    assert out.stderr.startswith(
        f"Error: Cannot connect to postgresql+psycopg://u:***@127.0.0.1:{port}/db"
    )
    assert "Connection refused" in out.stderr and "secret" not in out.stderr


def test_bad_urls_are_named(repo):
    with pytest.raises(SyncTargetError, match="Not a database URL: 'runs.db'"):
        sync_to("runs.db", repo)
    with pytest.raises(SyncTargetError, match="directory .*nowhere does not exist"):
        sync_to(f"sqlite:///{repo}/nowhere/runs.db", repo)


def socket_port():
    import contextlib
    import socket

    @contextlib.contextmanager
    def cm():
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        try:
            yield s.getsockname()[1]
        finally:
            s.close()

    return cm()


# -- watch -------------------------------------------------------------------------------


def wait_for(fn, what: str, timeout: float = 60.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = fn()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def test_watch_keeps_syncing_until_interrupted(sqlite_target, repo):
    c = Client(repo)
    log_run(c, 0, acc=[0.1], lr=0.1)
    proc = subprocess.Popen(
        [sys.executable, "-m", "gittrack", "sync", sqlite_target, "--watch", "0.2"],
        cwd=repo,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        count = "SELECT COUNT(*) FROM runs"
        db = Path(sqlite_target.removeprefix("sqlite:///"))
        wait_for(lambda: db.exists() and _safe_rows(sqlite_target, count) == [(1,)], "first sync")
        new = log_run(c, 1, acc=[0.9], lr=0.2)
        wait_for(lambda: _safe_rows(sqlite_target, count) == [(2,)], "the new run")
        assert rows(sqlite_target, "SELECT run_name FROM runs WHERE run_id = :r", r=new) == [
            ("run-1",)
        ]
    finally:
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    lines = out.splitlines()
    assert lines[0].startswith("Synced 1 runs into sqlite:///") and "1 added" in lines[0]
    assert "Synced 2 runs" in lines[1] and "1 added, 0 updated" in lines[1]
    assert len(lines) == 2  # quiet while nothing changes
    assert "Stopped watching." in err


def _safe_rows(url: str, sql: str):
    try:
        return rows(url, sql)
    except sa.exc.OperationalError:  # table not created yet
        return None


def test_json_report(sqlite_target, repo):
    rid = log_run(Client(repo), 0, acc=[0.5], lr=0.1)
    out = run_cli("sync", sqlite_target, "--json", cwd=repo)
    assert out.returncode == 0, out.stderr
    import json

    report = json.loads(out.stdout)
    assert report["added"] == [rid] and report["runs"] == 1
    assert report["rows"]["metrics"] == 2 and report["skipped"] == []


CRASHY = """
import time
import gittrack
from gittrack.api.client import Client
run = gittrack.start_run(run_name="crashy")
gittrack.log_metric("x", 1.0)
Client().flush(run.info.run_id)
print(run.info.run_id, flush=True)
time.sleep(600)
"""


def test_running_run_whose_process_died_becomes_crashed(sqlite_target, repo):
    proc = subprocess.Popen(
        [sys.executable, "-c", CRASHY], cwd=repo, stdout=subprocess.PIPE, text=True
    )
    try:
        rid = proc.stdout.readline().strip()
        assert len(rid) == 32
        sync_to(sqlite_target, repo)
        status = "SELECT status, end_time FROM runs WHERE run_id = :r"
        assert rows(sqlite_target, status, r=rid) == [("RUNNING", None)]
    finally:
        proc.kill()
        proc.wait(30)
        proc.stdout.close()

    report = sync_to(sqlite_target, repo)

    assert report.unchanged == 1 and report.updated == []  # no new commit, yet ...
    assert rows(sqlite_target, status, r=rid) == [("CRASHED", None)]


def test_values_every_database_can_hold(target, repo):
    c = Client(repo)
    rid = c.create_run(run_name="extremes").info.run_id
    c.log_metric(rid, "big", float("inf"))
    c.log_metric(rid, "small", float("-inf"))
    c.log_metric(rid, "nan", float("nan"))
    c.log_param(rid, "unicode", "größe ✓ 日本")
    c.log_param(rid, "sql", "x'); DROP TABLE runs; -- \\ \\' \"")
    c.log_param(rid, "Case", "upper")
    c.log_param(rid, "case", "lower")
    c.set_terminated(rid)
    nul = c.create_run(run_name="nul").info.run_id
    c.set_tag(nul, "note", "a\x00b")
    c.set_terminated(nul)

    report = sync_to(target, repo)

    assert report.added == [rid]
    assert report.skipped == [(nul, f"Run {nul}: tag 'note' contains a NUL character")]
    assert rows(
        target, "SELECT name, value FROM metrics WHERE run_id = :r ORDER BY name", r=rid
    ) == [
        ("big", 1.7976931348623157e308),
        ("nan", None),
        ("small", -1.7976931348623157e308),
    ]
    assert rows(
        target, "SELECT value FROM params WHERE run_id = :r AND name = 'unicode'", r=rid
    ) == [("größe ✓ 日本",)]
    assert rows(target, "SELECT value FROM params WHERE run_id = :r AND name = 'case'", r=rid) == [
        ("lower",)
    ]
    assert rows(target, "SELECT value FROM params WHERE run_id = :r AND name = 'sql'", r=rid) == [
        ("x'); DROP TABLE runs; -- \\ \\' \"",)
    ]


# -- property: the mirror holds what the client reads ------------------------------------------

from hypothesis import HealthCheck, assume, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from gittrack.errors import InvalidParameter  # noqa: E402

KEYS = st.text(alphabet=st.sampled_from("abcXYZ_-. /:0é日"), min_size=1, max_size=12).filter(
    lambda k: k.strip() == k and not k.startswith(".") and ".." not in k
)
SCALARS = st.one_of(
    st.text(alphabet=st.characters(blacklist_categories=("Cs", "Cc")), max_size=20),
    st.integers(-(2**40), 2**40),
    st.floats(allow_nan=False, allow_infinity=False, width=64),
    st.booleans(),
)
POINTS = st.lists(st.tuples(st.floats(width=64), st.integers(0, 1000)), min_size=1, max_size=15)


def _sql_value(v: float) -> float | None:
    if math.isnan(v):
        return None
    if math.isinf(v):
        return math.copysign(1.7976931348623157e308, v)
    return v


@settings(
    max_examples=15,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    params=st.dictionaries(KEYS, SCALARS, max_size=6),
    tags=st.dictionaries(KEYS, st.text(max_size=15).filter(lambda s: "\x00" not in s), max_size=4),
    metrics=st.dictionaries(KEYS, POINTS, max_size=3),
)
def test_mirror_matches_the_client_for_generated_runs(sqlite_target, repo, params, tags, metrics):
    c = Client(repo)
    rid = c.create_run(run_name="generated").info.run_id
    try:
        for k, v in params.items():
            c.log_param(rid, k, v)
        for k, v in tags.items():
            c.set_tag(rid, k, v)
        for k, points in metrics.items():
            for value, step in points:
                c.log_metric(rid, k, value, step=step)
    except InvalidParameter:
        c.set_terminated(rid)
        assume(False)
    c.set_terminated(rid)

    report = sync_to(sqlite_target, repo)

    assert rid in report.added and report.skipped == []  # (runs of rejected examples too)
    run = c.get_run(rid)
    assert dict(rows(sqlite_target, "SELECT name, value FROM params WHERE run_id = :r", r=rid)) == (
        run.data.params
    )
    user_tags = {
        k: v for k, v in run.data.tags.items() if not k.startswith(("mlflow.", "gittrack."))
    }
    assert dict(rows(sqlite_target, "SELECT name, value FROM tags WHERE run_id = :r", r=rid)) == (
        user_tags
    )
    for key in metrics:
        want = [(m.step, _sql_value(m.value), m.timestamp) for m in c.get_metric_history(rid, key)]
        got = rows(
            sqlite_target,
            "SELECT step, value, timestamp FROM metrics WHERE run_id = :r AND name = :k ORDER BY seq",
            r=rid,
            k=key,
        )
        assert got == want


def test_no_prune_keeps_runs_this_clone_lacks(sqlite_target, repo):
    c = Client(repo)
    kept = log_run(c, 0, acc=[0.5], lr=0.1)
    sync_to(sqlite_target, repo)
    git(repo, "update-ref", "-d", f"refs/gittrack/runs/{kept}")

    out = run_cli("sync", sqlite_target, "--no-prune", cwd=repo)

    assert out.returncode == 0, out.stderr
    assert "Synced 0 runs" in out.stdout and "0 removed" in out.stdout
    state = "SELECT lifecycle_stage, in_repository FROM runs WHERE run_id = :r"
    assert rows(sqlite_target, state, r=kept) == [("active", True)]
    assert run_cli("sync", sqlite_target, cwd=repo).returncode == 0
    assert rows(sqlite_target, state, r=kept) == [("deleted", False)]


def test_run_ids_given_by_the_user_and_refs_that_are_not_runs(target, repo):
    c = Client(repo)
    custom = "my-experiment-run_" + "7" * 100
    c.create_run(run_id=custom, run_name="custom")
    c.set_terminated(custom)
    good = c.create_run(run_name="plain").info.run_id
    c.set_terminated(good)
    sha = git(repo, "rev-parse", f"refs/gittrack/runs/{good}").strip()
    git(repo, "update-ref", "refs/gittrack/runs/not.a.run", sha)

    report = sync_to(target, repo)

    assert report.added == sorted([custom, good])
    assert report.skipped == [
        ("not.a.run", "ref refs/gittrack/runs/not.a.run does not name a valid run id")
    ]
    assert rows(target, "SELECT run_name FROM runs WHERE run_id = :r", r=custom) == [("custom",)]


def test_a_sync_gives_up_when_another_holds_the_lock_too_long(target, repo, monkeypatch):
    import gittrack.mirror.db

    log_run(Client(repo), 0, acc=[0.5], lr=0.1)
    sync_to(target, repo)
    monkeypatch.setattr(gittrack.mirror.db, "LOCK_WAIT_SECONDS", 1)
    holder = sa.create_engine(target)
    with holder.connect() as conn:
        if conn.dialect.name == "sqlite":
            conn.exec_driver_sql("BEGIN IMMEDIATE")
        else:
            conn.begin()
            conn.exec_driver_sql(
                "SELECT value FROM gittrack_meta WHERE name = 'sync_lock' FOR UPDATE"
            )
        with pytest.raises(SyncBusy, match="Another gittrack sync into .* holds the lock"):
            sync_to(target, repo)
        conn.rollback()
    holder.dispose()
    assert sync_to(target, repo).unchanged == 1  # and the next one goes through


def test_watch_rounds_see_what_another_sync_wrote_in_between(target, repo):
    c = Client(repo)
    log_run(c, 0, acc=[0.5], lr=0.1)
    seen = []

    def between_rounds(report):
        seen.append(report)
        if len(seen) == 1:  # another clone's sync mirrors a new run between two rounds
            log_run(c, 1, acc=[0.6], lr=0.2)
            assert len(sync_to(target, repo).added) == 1
        elif len(seen) == 2:
            log_run(c, 2, acc=[0.7], lr=0.3)

    sync_to(target, repo, watch=0.01, rounds=3, on_report=between_rounds)

    assert [(len(r.added), r.unchanged) for r in seen] == [(1, 0), (0, 2), (1, 2)]
    assert rows(target, "SELECT COUNT(*) FROM runs") == [(3,)]
    assert rows(target, "SELECT COUNT(*) FROM sync_state") == [(3,)]


def test_refuses_an_mlflow_database(tmp_path, repo):
    """The real schema of an MLflow tracking database (dumped from MLflow 3) is refused."""
    import sqlite3

    log_run(Client(repo), 0, acc=[0.5], lr=0.1)
    db = tmp_path / "mlflow.db"
    with sqlite3.connect(db) as conn:
        conn.executescript((ROOT / "tests" / "data" / "mlflow_sqlite_schema.sql").read_text())
        conn.execute("INSERT INTO experiments (experiment_id, name) VALUES (0, 'Default')")
    before = db.read_bytes()

    out = run_cli("sync", f"sqlite:///{db}", cwd=repo)

    assert out.returncode == 1
    assert out.stderr.startswith(f"Error: Refusing to sync into sqlite:///{db}: it already holds")
    assert (
        "experiment_tags, experiments, latest_metrics, metrics, model_version_tags, "
        "model_versions, params, registered_model_aliases, registered_model_tags, "
        "registered_models, runs, tags" in out.stderr
    )
    assert db.read_bytes() == before


def test_sync_from_a_bare_central_repository(tmp_path, project, repo):
    central = tmp_path / "central.git"
    git(tmp_path, "clone", "-q", "--mirror", str(repo), str(central))
    from_clone = f"sqlite:///{tmp_path / 'a.db'}"
    from_central = f"sqlite:///{tmp_path / 'b.db'}"

    sync_to(from_clone, repo)
    out = run_cli("sync", from_central, "--repo", str(central), cwd=tmp_path)

    assert out.returncode == 0, out.stderr
    assert "8 added" in out.stdout
    assert snapshot(from_central) == snapshot(from_clone)


def test_a_long_history_is_appended_across_chunks(sqlite_target, repo):
    from gittrack.core.records.formats import CHUNK_POINTS

    c = Client(repo)
    rid = c.create_run(run_name="long").info.run_id
    first = CHUNK_POINTS + 5
    for step in range(first):
        c.log_metric(rid, "loss", step / 7, step=step, timestamp=1_700_000_000_000 + step)
    c.flush(rid)
    sync_to(sqlite_target, repo)
    for step in range(first, 2 * CHUNK_POINTS + 10):
        c.log_metric(rid, "loss", step / 7, step=step, timestamp=1_700_000_000_000 + step)
    c.set_terminated(rid)

    report = sync_to(sqlite_target, repo)

    assert report.updated == [rid]
    assert report.rows["metrics"] == CHUNK_POINTS + 5  # only the new points
    want = [
        (i, m.step, m.value, m.timestamp) for i, m in enumerate(c.get_metric_history(rid, "loss"))
    ]
    got = rows(
        sqlite_target,
        "SELECT seq, step, value, timestamp FROM metrics WHERE run_id = :r ORDER BY seq",
        r=rid,
    )
    assert len(got) == 2 * CHUNK_POINTS + 10 and got == want
