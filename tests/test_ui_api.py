"""The UI's JSON endpoints, in process, on runs recorded by the real client."""

from __future__ import annotations

import os
import sys

import pytest

from tests.conftest import git
from tests.ui_data import HTML_ARTIFACT, XSS_NAME, XSS_TAG, build_demo_repo, png_bytes

pytest.importorskip("starlette")
pytest.importorskip("httpx")


@pytest.fixture(scope="module")
def ui_repo(tmp_path_factory):
    """A repository with 12 runs (one with XSS strings, artifacts, 1,000 params; one crashed)."""
    with pytest.MonkeyPatch.context() as mp:
        yield build_demo_repo(tmp_path_factory, mp)


@pytest.fixture
def api(ui_repo):
    from starlette.testclient import TestClient

    from gittrack.ui import make_ui_app

    path, _ids = ui_repo
    with TestClient(make_ui_app(path), raise_server_exceptions=False) as c:
        yield c


def test_runs_page_pages_and_sorts(api, ui_repo):
    first = api.get("/ui/api/runs", params={"limit": 5, "order_by": "metrics.m0 DESC"}).json()
    assert first["total"] == 12
    assert len(first["rows"]) == 5
    values = [r["metrics"]["m0"] for r in first["rows"]]
    assert values == sorted(values, reverse=True)
    second = api.get(
        "/ui/api/runs", params={"limit": 5, "offset": 5, "order_by": "metrics.m0 DESC"}
    ).json()
    assert {r["run_id"] for r in second["rows"]}.isdisjoint({r["run_id"] for r in first["rows"]})
    assert second["rows"][0]["metrics"]["m0"] <= values[-1]
    by_name = api.get(
        "/ui/api/runs", params={"order_by": "attributes.run_name ASC", "limit": 3}
    ).json()
    assert [r["run_name"] for r in by_name["rows"]] == sorted(
        r["run_name"] for r in by_name["rows"]
    )
    cols = first["columns"]
    assert {"m0", "m1", "m2"} <= set(cols["metrics"])
    assert {"team", "variant", "run_index"} <= set(cols["tags"])
    assert "hp0999" in cols["params"]


def test_runs_page_filter_and_filter_error(api):
    page = api.get("/ui/api/runs", params={"filter": "params.p0 = 'v0'"}).json()
    assert page["total"] == 3  # runs 0, 4, 8
    assert {r["params"]["p0"] for r in page["rows"]} == {"v0"}
    bad = api.get("/ui/api/runs", params={"filter": "metrics.m0 >> 1"})
    assert bad.status_code == 400
    assert bad.json()["error_code"] == "INVALID_PARAMETER_VALUE"
    assert bad.json()["message"]


def test_runs_page_bad_arguments_are_named(api):
    r = api.get("/ui/api/runs", params={"order_by": "bogus.x"})
    assert r.status_code == 400 and "bogus.x" in r.json()["message"]
    r = api.get("/ui/api/runs", params={"limit": "lots"})
    assert r.status_code == 400 and "lots" in r.json()["message"]
    r = api.get("/ui/api/runs", params={"branch": "no-such-branch"})
    assert r.status_code == 400 and "no-such-branch" in r.json()["message"]


def test_branch_picker_limits_runs_to_reachable_sources(api, ui_repo):
    path, _ = ui_repo
    assert api.get("/ui/api/runs", params={"branch": "main"}).json()["total"] == 12
    git(path, "branch", "-q", "orphaned-tip", "main")
    git(path, "checkout", "-q", "--orphan", "elsewhere")
    git(path, "commit", "-q", "-m", "unrelated", "--allow-empty")
    git(path, "checkout", "-q", "main")
    names = [b["name"] for b in api.get("/ui/api/branches").json()["branches"]]
    assert {"main", "elsewhere", "orphaned-tip"} <= set(names)
    assert api.get("/ui/api/runs", params={"branch": "elsewhere"}).json()["total"] == 0


def test_crashed_run_shows_crashed(api, ui_repo):
    _, ids = ui_repo
    detail = api.get(f"/ui/api/runs/{ids['crashed']}").json()
    assert detail["status"] == "CRASHED"
    rows = api.get("/ui/api/runs", params={"filter": "", "limit": 100}).json()["rows"]
    assert {r["run_id"]: r["status"] for r in rows}[ids["crashed"]] == "CRASHED"


def test_run_detail(api, ui_repo):
    _, ids = ui_repo
    rid = ids["xss"]
    d = api.get(f"/ui/api/runs/{rid[:10]}").json()
    assert d["run_id"] == rid
    assert d["run_name"] == XSS_NAME
    assert d["tags"]["evil"] == XSS_TAG
    assert d["note"].startswith("# Notes")
    assert len(d["params"]) == 1000 and d["params"]["hp0999"] == "999"
    assert d["metrics"]["m0"]["count"] == 5000
    assert d["source"]["dirty"] is True
    assert "main" in d["branches"]
    assert d["status"] == "FINISHED"


def test_unknown_and_malformed_run_ids(api):
    r = api.get("/ui/api/runs/" + "ab" * 16)
    assert r.status_code == 404 and "abab" in r.json()["message"]
    r = api.get("/ui/api/runs/not-a-run")
    assert r.status_code == 400 and "not-a-run" in r.json()["message"]


def test_series_downsampled_keeps_extremes_and_zoom_is_full_resolution(api, ui_repo):
    from gittrack.api.client import Client

    path, ids = ui_repo
    rid = ids["xss"]
    history = Client(str(path)).get_metric_history(rid, "m1")
    values = [m.value for m in history]
    s = api.get(f"/ui/api/runs/{rid}/series", params={"key": "m1", "width": 100}).json()
    assert s["total"] == 5000 and s["downsampled"] is True
    assert len(s["value"]) <= 202
    assert max(s["value"]) == max(values) and min(s["value"]) == min(values)
    assert s["step"][0] == 0 and s["step"][-1] == 4999
    z = api.get(
        f"/ui/api/runs/{rid}/series", params={"key": "m1", "width": 100, "min": 1000, "max": 1050}
    ).json()
    assert z["downsampled"] is False
    assert z["step"] == list(range(999, 1052))
    assert z["value"] == values[999:1052]
    r = api.get(f"/ui/api/runs/{rid}/series", params={"key": "nope"})
    assert r.status_code == 404 and "nope" in r.json()["message"]
    r = api.get(f"/ui/api/runs/{rid}/series", params={"key": "m1", "x": "epoch"})
    assert r.status_code == 400 and "epoch" in r.json()["message"]


def test_artifacts_listing_and_safe_headers(api, ui_repo):
    _, ids = ui_repo
    rid = ids["xss"]
    top = api.get(f"/ui/api/runs/{rid}/artifacts").json()["files"]
    assert [(f["name"], f["is_dir"]) for f in top] == [
        ("model", True),
        ("plots", True),
        ("metrics.json", False),
        ("page.html", False),
        ("table.csv", False),
    ]
    inner = api.get(f"/ui/api/runs/{rid}/artifacts", params={"path": "plots"}).json()["files"]
    assert [f["path"] for f in inner] == ["plots/red.png"]

    img = api.get(f"/ui/api/runs/{rid}/artifact", params={"path": "plots/red.png"})
    assert img.status_code == 200
    assert img.headers["content-type"] == "image/png"
    assert img.content == png_bytes()
    assert img.headers["x-content-type-options"] == "nosniff"

    html = api.get(f"/ui/api/runs/{rid}/artifact", params={"path": "page.html"})
    assert html.content == HTML_ARTIFACT
    assert html.headers["content-type"] == "application/octet-stream"
    assert html.headers["content-disposition"].startswith("attachment")
    assert "sandbox" in html.headers["content-security-policy"]
    assert html.headers["x-content-type-options"] == "nosniff"

    js = api.get(f"/ui/api/runs/{rid}/artifact", params={"path": "metrics.json"})
    assert js.headers["content-type"] == "text/plain; charset=utf-8"
    preview = api.get(f"/ui/api/runs/{rid}/preview", params={"path": "model/MLmodel"}).json()
    assert preview["kind"] == "yaml" and "sklearn" in preview["text"]

    r = api.get(f"/ui/api/runs/{rid}/artifact", params={"path": "../../etc/passwd"})
    assert r.status_code == 400 and "../../etc/passwd" in r.json()["message"]
    r = api.get(f"/ui/api/runs/{rid}/artifact", params={"path": "missing.txt"})
    assert r.status_code == 404 and "missing.txt" in r.json()["message"]


def test_uncommitted_diff_and_code_diff_between_runs(api, ui_repo):
    _, ids = ui_repo
    d = api.get(f"/ui/api/runs/{ids['xss']}/diff").json()
    assert [f["path"] for f in d["files"]] == ["train.py"]
    assert "-lr = 0.1" in d["files"][0]["patch"] and "+lr = 0.5" in d["files"][0]["patch"]
    clean = api.get(f"/ui/api/runs/{ids[0]}/diff").json()
    assert clean["files"] == []
    between = api.get("/ui/api/diff", params={"a": ids[0], "b": ids["xss"]}).json()
    assert [f["path"] for f in between["files"]] == ["train.py"]
    assert all(not f["path"].startswith(".gittrack") for f in between["files"])


def test_environment_endpoint(api, ui_repo):
    _, ids = ui_repo
    env = api.get(f"/ui/api/runs/{ids[0]}/environment").json()
    assert env["run_id"] == ids[0]
    assert env["environment"]["python"]["version"] == "{}.{}.{}".format(*sys.version_info[:3])
    assert "pyyaml" in {k.lower() for k in env["environment"]["distributions"]}
    assert env["summary"].startswith("CPython")


def test_compare_rows(api, ui_repo):
    _, ids = ui_repo
    rows = api.get("/ui/api/compare", params={"runs": f"{ids[1]},{ids[2][:8]}"}).json()["rows"]
    assert [r["run_id"] for r in rows] == [ids[1], ids[2]]
    assert rows[0]["params"]["p0"] == "v1" and rows[1]["params"]["p0"] == "v2"


def test_page_and_assets_carry_security_headers(api):
    page = api.get("/")
    assert page.status_code == 200
    assert "script-src 'self'" in page.headers["content-security-policy"]
    assert page.headers["x-content-type-options"] == "nosniff"
    assert "<script" in page.text
    js = api.get("/ui/static/vendor/uplot/uPlot.iife.min.js")
    assert js.status_code == 200 and b"uPlot" in js.content
    assert api.get("/ui/api/nothing-here").status_code == 404


def test_empty_repository(repo):
    from starlette.testclient import TestClient

    from gittrack.ui import make_ui_app

    with TestClient(make_ui_app(repo)) as c:
        page = c.get("/ui/api/runs").json()
        assert page["total"] == 0 and page["rows"] == []
        exps = c.get("/ui/api/experiments").json()["experiments"]
        assert exps[0]["experiment_id"] == "0"


def test_not_a_repository(tmp_path):
    from gittrack.errors import NoRepository
    from gittrack.ui import make_ui_app

    os.environ.pop("GITTRACK_REPO", None)
    with pytest.raises(NoRepository):
        make_ui_app(tmp_path)


def test_mounted_at_root_of_another_app(ui_repo):
    """How the tracking server serves it: its own routes first, the UI mounted at '/'."""
    from starlette.applications import Starlette
    from starlette.responses import JSONResponse
    from starlette.routing import Mount, Route
    from starlette.testclient import TestClient

    from gittrack.ui import make_ui_app

    path, ids = ui_repo

    async def health(request):
        return JSONResponse({"ok": True})

    host = Starlette(routes=[Route("/health", health), Mount("/", app=make_ui_app(path / ".git"))])
    with TestClient(host) as c:
        assert c.get("/health").json() == {"ok": True}
        assert "uPlot.iife.min.js" in c.get("/").text
        assert c.get("/ui/static/js/table.js").status_code == 200
        assert c.get("/ui/api/runs", params={"limit": 1}).json()["total"] == 12
        assert c.get(f"/ui/api/runs/{ids[3]}").json()["run_id"] == ids[3]


def test_rows_carry_only_the_shown_columns(api, ui_repo):
    _, ids = ui_repo
    page = api.get("/ui/api/runs", params={"filter": "", "limit": 100}).json()
    assert page["default_columns"][5:] == [
        "metrics.m0",
        "metrics.m1",
        "metrics.m2",
        "params.p0",
        "params.p1",
        "params.p2",
        "params.p3",
    ]
    wide = {r["run_id"]: r for r in page["rows"]}[ids["xss"]]
    assert wide["params"] == {}  # its 1,000 params are not among the defaults
    assert set(wide["metrics"]) == {"m0", "m1", "m2"}
    picked = api.get("/ui/api/runs", params={"columns": "params.hp0999,tags.evil"}).json()
    wide = {r["run_id"]: r for r in picked["rows"]}[ids["xss"]]
    assert wide["params"] == {"hp0999": "999"}
    assert wide["tags"] == {"evil": XSS_TAG}
    assert wide["metrics"] == {}
    assert wide["run_name"] == XSS_NAME


def test_deleted_runs_are_listed_on_request(api, ui_repo):
    from gittrack.api.client import Client

    path, ids = ui_repo
    client = Client(str(path))
    client.delete_run(ids[9])
    try:
        active = {r["run_id"] for r in api.get("/ui/api/runs").json()["rows"]}
        deleted = api.get("/ui/api/runs", params={"lifecycle": "deleted"}).json()["rows"]
        both = api.get("/ui/api/runs", params={"lifecycle": "all"}).json()["total"]
        assert ids[9] not in active
        assert [r["run_id"] for r in deleted] == [ids[9]]
        assert both == len(active) + 1
        bad = api.get("/ui/api/runs", params={"lifecycle": "gone"})
        assert bad.status_code == 400 and "gone" in bad.json()["message"]
    finally:
        client.restore_run(ids[9])


def test_artifact_held_in_the_store(repo, tmp_path):
    """A file over the inline limit lives in the artifact store, not in git; the UI
    serves it all the same."""
    from starlette.testclient import TestClient

    from gittrack.api.client import Client
    from gittrack.ui import make_ui_app

    client = Client(str(repo))
    rid = client.create_run("0", run_name="big-artifact").info.run_id
    big = tmp_path / "weights.bin"
    big.write_bytes(bytes(range(256)) * 8192)  # 2 MiB
    client.log_artifact(rid, str(big))
    client.set_terminated(rid)
    with TestClient(make_ui_app(repo)) as c:
        files = c.get(f"/ui/api/runs/{rid}/artifacts").json()["files"]
        assert [(f["name"], f["size"]) for f in files] == [("weights.bin", 2 * 1024 * 1024)]
        r = c.get(f"/ui/api/runs/{rid}/artifact", params={"path": "weights.bin"})
        assert r.status_code == 200
        assert r.content == big.read_bytes()
        assert r.headers["content-disposition"].startswith("attachment")


def test_groups_by_param_and_tag(api, ui_repo):
    """Groups count the filtered runs per value, with a metric's statistics, and give the
    filter listing each group -- which the runs endpoint answers with that many runs."""
    d = api.get(
        "/ui/api/groups", params={"group_by": "tags.team", "metric": "m0", "filter": "run-000"}
    ).json()
    assert d["total"] == 10 and d["metric"] == "m0"
    by_value = {g["value"]: g for g in d["groups"]}
    assert set(by_value) == {"red", "blue"}
    for g in d["groups"]:
        runs = api.get("/ui/api/runs", params={"filter": g["filter"], "columns": "metrics.m0"})
        rows = runs.json()["rows"]
        assert len(rows) == g["count"] == g["metric_count"] == 5
        values = [r["metrics"]["m0"] for r in rows]
        assert g["min"] == min(values) and g["max"] == max(values)
        assert abs(g["mean"] - sum(values) / 5) < 1e-12
    # runs without the param form the None group; its filter finds them
    d = api.get("/ui/api/groups", params={"group_by": "params.p0"}).json()
    missing = [g for g in d["groups"] if g["value"] is None]
    assert [g["count"] for g in missing] == [2]  # the XSS run and the crashed run
    assert api.get("/ui/api/runs", params={"filter": missing[0]["filter"]}).json()["total"] == 2
    assert d["groups"][0]["metric_count"] == 0 and d["groups"][0]["mean"] is None
    status = api.get("/ui/api/groups", params={"group_by": "attributes.status"}).json()
    assert {g["value"]: g["count"] for g in status["groups"]} == {"FINISHED": 11, "CRASHED": 1}


def test_groups_bad_input(api):
    for params, words in (
        ({}, "group_by"),
        ({"group_by": "metrics.m0"}, "group by a param"),
        ({"group_by": "attributes.start_time"}, "group by a param"),
        ({"group_by": "params."}, "position"),
        ({"group_by": "params.p0", "filter": "metrics.m0 >> 1"}, "position"),
        ({"group_by": "params.p0", "lifecycle": "gone"}, "lifecycle"),
    ):
        r = api.get("/ui/api/groups", params=params)
        assert r.status_code == 400, (params, r.text)
        assert r.json()["error_code"] == "INVALID_PARAMETER_VALUE"
        assert words in r.json()["message"], (params, r.json())


def test_environment_diff(api, ui_repo):
    _path, ids = ui_repo
    same = api.get("/ui/api/envdiff", params={"a": ids[0], "b": ids[1]}).json()
    assert same["recorded"] == [True, True] and same["changes"] == []
    assert same["run_a"] == ids[0]
    r = api.get("/ui/api/envdiff", params={"a": ids[0]})
    assert r.status_code == 400 and "two runs" in r.json()["message"]
    r = api.get("/ui/api/envdiff", params={"a": ids[0], "b": "ab" * 16})
    assert r.status_code == 404 and r.json()["error_code"] == "RESOURCE_DOES_NOT_EXIST"


def test_group_filter_quotes_values(repo):
    """A value with quotes, LIKE wildcards or markup makes a filter naming exactly its group."""
    from starlette.testclient import TestClient

    from gittrack.api.client import Client
    from gittrack.ui import make_ui_app

    client = Client(str(repo))
    values = ["O'Brien", "50%_off", '"><img src=x>', "O'Brien", "plain"]
    for i, v in enumerate(values):
        rid = client.create_run("0", run_name=f"q{i}", tags={"who": v}).info.run_id
        client.set_terminated(rid)
    with TestClient(make_ui_app(repo)) as c:
        groups = c.get("/ui/api/groups", params={"group_by": "tags.who"}).json()["groups"]
        assert {g["value"]: g["count"] for g in groups} == {
            "O'Brien": 2,
            "50%_off": 1,
            '"><img src=x>': 1,
            "plain": 1,
        }
        for g in groups:
            rows = c.get("/ui/api/runs", params={"filter": g["filter"]}).json()["rows"]
            assert [r["run_name"] for r in rows] == [
                f"q{i}" for i in reversed(range(5)) if values[i] == g["value"]
            ]
