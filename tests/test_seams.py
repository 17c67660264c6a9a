"""One read path: a filter gives the same runs, in the same order, through every face.

The web UI's JSON (``/ui/api/runs``), the REST API (``runs/search``, both served by
one ``gittrack server`` app), the CLI (``gittrack search --format json``, a separate
process) and Python (``gittrack.search_runs``) must agree with each other and with
the reference evaluator (``tests/reference.py``) applied to every run record read
straight from git. A bad filter is the same error everywhere, naming its token.
"""

from __future__ import annotations

import json

import pytest

from gittrack.query.grammar import parse_filter, parse_order_by
from tests.conftest import init_project, isolate_env, run_cli
from tests.reference import filter_runs, sort_runs
from tests.search_data import brute_force

pytest.importorskip("starlette")
pytest.importorskip("httpx")

N_RUNS = 20
DELETED = 13  # one deleted run: no face lists it by default


@pytest.fixture(scope="module")
def seam_repo(tmp_path_factory):
    """20 runs over two experiments: metrics acc/loss (some missing), params lr/opt, a
    team tag, statuses FINISHED/FAILED/KILLED, names alpha-0 … delta-19, one deleted.

    Returns ``(path, run ids by index, experiment ids)``.
    """
    home = tmp_path_factory.mktemp("seamhome")
    with pytest.MonkeyPatch.context() as mp:
        isolate_env(mp, home)
        path = init_project(tmp_path_factory.mktemp("seams") / "project")
        from gittrack.api.client import Client

        c = Client(path)
        second = c.create_experiment("second")
        ids = []
        for i in range(N_RUNS):
            run = c.create_run(
                second if i % 5 == 4 else "0",
                run_name=f"{['alpha', 'beta', 'gamma', 'delta'][i % 4]}-{i}",
                start_time=1_000 + (i % 7) * 10,  # ties: the order falls back to run_id
            )
            rid = run.info.run_id
            metrics = []
            if i % 6 != 5:
                acc = (i * 37 % 100) / 100
                metrics += [
                    {"key": "acc", "value": acc, "step": 0, "timestamp": 1},
                    {"key": "loss", "value": round(1 - acc, 2), "step": 0, "timestamp": 1},
                ]
            params = [{"key": "lr", "value": ["0.1", "0.01", "0.001"][i % 3]}]
            if i % 7:
                params.append({"key": "opt", "value": "adam" if i % 2 else "sgd"})
            team = ["ml-core", "ml-vision", "ops", "research"][i % 4]
            c.log_batch(rid, metrics=metrics, params=params, tags=[{"key": "team", "value": team}])
            status = "FAILED" if i % 5 == 1 else "KILLED" if i % 8 == 3 else "FINISHED"
            c.set_terminated(rid, status, end_time=5_000 + i)
            ids.append(rid)
        c.delete_run(ids[DELETED])
        c.flush()
        yield path, ids, ["0", second]


@pytest.fixture(scope="module")
def server(seam_repo):
    """One ``gittrack server`` app (REST API and web UI), in process."""
    from starlette.testclient import TestClient

    from gittrack.server.app import create_app
    from gittrack.server.config import ServerConfig

    path, _, _ = seam_repo
    with TestClient(create_app(ServerConfig(repo=str(path))), raise_server_exceptions=False) as c:
        yield c


def through_ui(server, filter_string: str, order_by: str | None) -> list[str]:
    params = {"filter": filter_string, "limit": 1000}
    if order_by:
        params["order_by"] = order_by
    r = server.get("/ui/api/runs", params=params)
    assert r.status_code == 200, r.text
    page = r.json()
    assert page["total"] == len(page["rows"])
    return [row["run_id"] for row in page["rows"]]


def through_rest(server, exp_ids, filter_string: str, order_by: str | None) -> list[str]:
    body = {"experiment_ids": exp_ids, "filter": filter_string, "max_results": 1000}
    if order_by:
        body["order_by"] = [order_by]
    r = server.post("/api/2.0/mlflow/runs/search", json=body)
    assert r.status_code == 200, r.text
    return [run["info"]["run_id"] for run in r.json().get("runs", [])]


def cli_search(path, filter_string: str, order_by: str | None):
    args = ["search", filter_string, "--format", "json", "--max-results", "1000"]
    if order_by:
        args += ["--order-by", order_by]
    return run_cli(*args, "--repo", str(path), cwd=path)


def through_cli(path, filter_string: str, order_by: str | None) -> list[str]:
    r = cli_search(path, filter_string, order_by)
    assert r.returncode == 0, r.stderr
    return [row["run_id"] for row in json.loads(r.stdout)] if r.stdout.strip() else []


def through_python(path, exp_ids, filter_string: str, order_by: str | None, monkeypatch):
    import gittrack

    monkeypatch.chdir(path)
    df = gittrack.search_runs(
        experiment_ids=exp_ids,
        filter_string=filter_string,
        order_by=[order_by] if order_by else None,
    )
    return list(df["run_id"])


FILTERS = [
    ("metrics.acc > 0.5", None),
    ("metrics.acc >= 0.3 AND metrics.loss < 0.6", "metrics.acc DESC"),
    ("metrics.loss <= 0.4", "metrics.loss ASC"),
    ("params.lr = '0.01'", "params.opt ASC"),
    ("params.opt = 'adam' AND params.lr != '0.1'", None),
    ("tags.team LIKE 'ml-%'", "attributes.run_name ASC"),
    ("tags.team ILIKE 'ML-V%'", None),
    ("attributes.status = 'FAILED'", "attributes.start_time ASC"),
    ("attributes.status != 'FINISHED'", "metrics.acc DESC"),
    ("attributes.run_name = 'beta-5'", None),
    ("run_name LIKE 'gamma%' AND params.opt = 'sgd'", None),
    ("attributes.run_id IN ({ids})", "attributes.run_name DESC"),
    ("", "metrics.loss DESC"),
]


@pytest.mark.parametrize(("filter_string", "order_by"), FILTERS)
def test_a_filter_gives_the_same_runs_everywhere(
    seam_repo, server, monkeypatch, filter_string, order_by
):
    path, ids, exp_ids = seam_repo
    if "{ids}" in filter_string:  # three live runs and the deleted one
        picked = [ids[2], ids[7], ids[11], ids[DELETED]]
        filter_string = filter_string.format(ids=", ".join(f"'{r}'" for r in picked))
    active = [r for r in brute_force(path) if r["lifecycle_stage"] == "active"]
    want = [
        r["run_id"]
        for r in sort_runs(
            filter_runs(active, parse_filter(filter_string)), parse_order_by(order_by)
        )
    ]
    assert 0 < len(want) <= N_RUNS - 1  # the filter selects something, never the deleted run

    assert through_ui(server, filter_string, order_by) == want
    assert through_rest(server, exp_ids, filter_string, order_by) == want
    assert through_cli(path, filter_string, order_by) == want
    assert through_python(path, exp_ids, filter_string, order_by, monkeypatch) == want


BAD = "metrics.acc > 0.5 AND colour = 'red'"


def test_a_bad_filter_is_the_same_error_everywhere(seam_repo, server, monkeypatch):
    from gittrack.errors import InvalidParameter

    path, _, exp_ids = seam_repo
    where = "position 22 ('colour')"

    r = server.get("/ui/api/runs", params={"filter": BAD})
    assert r.status_code == 400
    assert r.json()["error_code"] == "INVALID_PARAMETER_VALUE"
    assert where in r.json()["message"]

    r = server.post("/api/2.0/mlflow/runs/search", json={"experiment_ids": exp_ids, "filter": BAD})
    assert r.status_code == 400
    assert r.json()["error_code"] == "INVALID_PARAMETER_VALUE"
    assert where in r.json()["message"]

    r = cli_search(path, BAD, None)
    assert r.returncode == 1
    assert where in r.stderr and "Traceback" not in r.stderr

    with pytest.raises(InvalidParameter) as info:
        through_python(path, exp_ids, BAD, None, monkeypatch)
    assert where in info.value.message


def test_ui_sorts_by_its_own_columns_through_the_engine(seam_repo, server):
    """The table's attribute columns beyond MLflow's (duration, experiment, source branch
    and commit) sort in the engine too; REST takes the same order_by."""
    path, ids, exp_ids = seam_repo
    active = [r for i, r in enumerate(ids) if i != DELETED]
    durations = {rid: 5_000 + i - (1_000 + (i % 7) * 10) for i, rid in enumerate(ids)}
    want = sorted(active, key=lambda r: (-durations[r], r))
    assert through_ui(server, "", "attributes.duration DESC") == want
    assert through_rest(server, exp_ids, "", "attributes.duration DESC") == want
    by_exp = through_ui(server, "", "attributes.experiment_id ASC")
    assert by_exp == through_rest(server, exp_ids, "", "experiment_id ASC")
    exps = [server.get(f"/ui/api/runs/{r}").json()["experiment_id"] for r in by_exp]
    assert exps == sorted(exps)
    r = server.get("/ui/api/runs", params={"order_by": "attributes.colour DESC"})
    assert r.status_code == 400 and "'colour'" in r.json()["message"]
