"""The model registry pages in Debian's Chromium: the Models page, a Model page (versions
with their source runs, the alias history from git), the run page's link to the versions
made from the run, and a bad model name in the URL.

Screenshots go to ``$GITTRACK_UI_SCREENSHOTS`` when it is set (as in test_ui_browser).
"""

# ruff: noqa: F811  (the shared fixtures are imported, then requested by name)
from __future__ import annotations

import json
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from tests.test_ui_browser import browser, shots, start_ui  # noqa: F401

MODEL = "house prices"
# a valid model name (no "/" or ":"), with what URLs must escape
HOSTILE = '<img src=x onerror="window.__xss = 8"> 50% ?#&'
BROKEN = "broken"  # a registry ref whose record is not YAML


def _log_model_run(gittrack, name: str, slope: float) -> str:
    import numpy as np
    from sklearn.linear_model import LinearRegression

    x = np.arange(20, dtype=float).reshape(10, 2)
    model = LinearRegression().fit(x, x @ np.array([slope, -2.0]) + 3)
    with gittrack.start_run(run_name=name) as run:
        gittrack.log_param("slope", slope)
        gittrack.log_model(model, "model", input_example=x[:2])
    return run.info.run_id


def _forge_broken_ref(git, name: str) -> None:
    import pygit2

    from gittrack.layout import REGISTERED_MODEL_FILE, registry_ref

    tb = git.TreeBuilder()
    tb.insert(
        REGISTERED_MODEL_FILE, git.create_blob(b"name: [unclosed\n"), pygit2.GIT_FILEMODE_BLOB
    )
    sig = pygit2.Signature("mallory", "m@example.com")
    oid = git.create_commit(None, sig, sig, "broken", tb.write(), [])
    git.references.create(registry_ref(name), oid)


@pytest.fixture(scope="module")
def reg_site(tmp_path_factory):
    """Two runs with a model each, registered as v1 and v2 of MODEL; alias ``champion``
    set to v1 by alice, then moved to v2 by bob (with the CLI). Also a hostile name."""
    from tests.conftest import git, init_project, isolate_env, run_cli

    with pytest.MonkeyPatch.context() as mp:
        isolate_env(mp, tmp_path_factory.mktemp("reghome"))
        path = init_project(tmp_path_factory.mktemp("regrepo") / "project", {"train.py": "x = 1\n"})
        mp.chdir(path)
        import gittrack
        from gittrack.api.client import Client

        run_a = _log_model_run(gittrack, "first fit", 1.5)
        run_b = _log_model_run(gittrack, "second fit", 2.5)
        gittrack.register_model(f"runs:/{run_a}/model", MODEL)
        gittrack.register_model(f"runs:/{run_b}/model", MODEL, tags={"data": "2026-11"})
        c = Client(str(path))
        c.update_registered_model(MODEL, description="Predicts house prices")
        git(path, "config", "user.name", "alice")
        c.set_registered_model_alias(MODEL, "champion", 1)
        git(path, "config", "user.name", "bob")
        cli = run_cli("models", "alias", MODEL, "champion", "2", cwd=path)
        assert cli.returncode == 0, cli.stderr
        c.create_registered_model(HOSTILE, description=HOSTILE)
        _forge_broken_ref(c.repo.git, BROKEN)
        proc, base = start_ui(path)
        try:
            yield base, {"a": run_a, "b": run_b}, path
        finally:
            proc.terminate()
            proc.wait(timeout=10)


@pytest.fixture
def page(browser):
    ctx = browser.new_context(viewport={"width": 1400, "height": 800}, bypass_csp=True)
    pg = ctx.new_page()
    pg.errors = []
    pg.dialogs = []
    pg.on("pageerror", lambda e: pg.errors.append(str(e)))
    pg.on("dialog", lambda d: (pg.dialogs.append(d.message), d.dismiss()))
    yield pg
    assert pg.evaluate("window.__xss === undefined"), "injected script ran"
    assert pg.errors == [] and pg.dialogs == []
    ctx.close()


def cells(pg, row_selector: str) -> list[list[str]]:
    return pg.eval_on_selector_all(
        row_selector, "rows => rows.map(r => [...r.cells].map(c => c.innerText.trim()))"
    )


def test_models_page(page, reg_site, shots: Path):
    base, _runs, _path = reg_site
    page.goto(base + "/")
    page.wait_for_selector("table.runs tbody tr")
    page.click("header nav a:text('Models')")
    page.wait_for_selector("table.models tbody tr[data-model]")
    assert page.url.endswith("#/models")
    rows = {r[0]: r for r in cells(page, "table.models tbody tr[data-model]")}
    assert set(rows) == {MODEL, HOSTILE}
    name, latest, aliases, description, updated = rows[MODEL]
    assert (latest, aliases, description) == ("v2", "@champion → v2", "Predicts house prices")
    assert updated.startswith("20")
    # the hostile name and description are text, with no versions and no aliases
    assert rows[HOSTILE][1:4] == ["", "", HOSTILE]
    # the unreadable record is named, not shown as a model, and not fatal
    warning = page.inner_text(".models-page .error")
    assert "Skipped refs/gittrack/registry/" in warning and "unreadable" in warning
    page.fill("input.filter", "house")  # a search of the registry (name ILIKE), not of the page
    others = "table.models tbody tr[data-model]:not(:has-text('house'))"
    page.wait_for_selector(others, state="detached")
    assert [r[0] for r in cells(page, "table.models tbody tr[data-model]")] == [MODEL]
    page.fill("input.filter", "")
    page.wait_for_selector(others)
    page.screenshot(path=str(shots / "models.png"))
    page.click(f"table.models a:text('{MODEL}')")
    page.wait_for_selector("#versions tbody tr[data-version]")
    assert page.inner_text(".model-page h1") == MODEL
    # a name with URL characters round-trips through the link
    page.go_back()
    page.click("table.models tr[data-model]:not(:has-text('house')) td.name a")
    page.wait_for_selector(".model-page h1")
    assert page.inner_text(".model-page h1") == HOSTILE
    assert "No versions." in page.inner_text("#versions") and "No alias" in page.inner_text(
        "#alias-history"
    )


def test_model_page_versions_and_alias_history(page, reg_site, shots: Path):
    base, runs, _path = reg_site
    page.goto(f"{base}/#/model/{MODEL.replace(' ', '%20')}")
    page.wait_for_selector("#versions tbody tr[data-version]")
    assert "Predicts house prices" in page.inner_text(".model-page .card")
    versions = cells(page, "#versions tbody tr[data-version]")
    assert [v[0] for v in versions] == ["v2", "v1"]
    v2, v1 = versions
    assert v2[1:5] == ["READY", "@champion", "", f"second fit {runs['b'][:8]}"]
    assert v1[1:5] == ["READY", "", "", f"first fit {runs['a'][:8]}"]
    assert v2[5] == f"runs:/{runs['b']}/model" and v2[6] == "data=2026-11"
    # alias history, newest first: bob moved champion 1 -> 2 after alice set it to 1
    history = cells(page, "#alias-history tbody tr[data-alias]")
    assert [h[1:4] for h in history] == [
        ["@champion", "v1 → v2", "bob"],
        ["@champion", "set → v1", "alice"],
    ]
    assert "alias champion: 1 -> 2" in history[0][5]
    page.screenshot(path=str(shots / "model.png"), full_page=True)
    # the source-run link opens that run's page
    page.click("#versions tr[data-version='1'] a.run-link")
    page.wait_for_selector(".run-header h1")
    assert page.url.endswith(f"#/run/{runs['a']}")
    assert page.inner_text(".run-header h1").startswith("first fit")


def test_run_page_links_to_its_versions(page, reg_site):
    base, runs, _path = reg_site
    page.goto(f"{base}/#/run/{runs['b']}")
    page.wait_for_selector(".run-header .model-versions a")
    row = page.locator(".run-header tr:has(th:text-is('Model versions')) td")
    assert row.inner_text().strip() == f"{MODEL} v2 @champion"
    page.click(".run-header .model-versions a")
    page.wait_for_selector("#versions tr.selected[data-version='2']")
    assert page.inner_text(".model-page h1") == MODEL
    # a run with no registered version shows an empty row, not a link
    page.goto(f"{base}/#/run/{runs['a']}")
    page.wait_for_selector(".run-header h1")
    assert page.locator(".run-header .model-versions a").count() == 1  # v1, from run a
    assert "house prices v1" in page.inner_text(".run-header .model-versions")


@pytest.mark.parametrize(
    ("name", "says"),
    [
        ("no such model", "Registered Model with name=no such model not found"),
        ("a:b", "Names cannot contain '/' or ':'"),
    ],
)
def test_bad_model_name_in_url(page, reg_site, name: str, says: str):
    base, _runs, _path = reg_site
    page.goto(f"{base}/#/model/{urllib.request.quote(name)}")
    page.wait_for_selector(".not-found h1")
    assert page.inner_text(".not-found h1") == "Model not found"
    text = page.inner_text(".not-found .error")
    assert says in text and "Traceback" not in text
    page.click("text=Back to all models")
    page.wait_for_selector("table.models tbody tr[data-model]")


def test_model_endpoint_errors_are_json(reg_site):
    base, _runs, _path = reg_site
    for query, status, code in [
        ("name=no%20such", 404, "RESOURCE_DOES_NOT_EXIST"),
        ("", 400, "INVALID_PARAMETER_VALUE"),
    ]:
        with pytest.raises(urllib.error.HTTPError) as err:
            urllib.request.urlopen(f"{base}/ui/api/model?{query}", timeout=30)
        assert err.value.code == status
        body = json.loads(err.value.read())
        assert body["error_code"] == code and "Traceback" not in body["message"]


MANY = 103  # one page (100, the runs table's page size) and three more


@pytest.fixture(scope="module")
def many_site(tmp_path_factory):
    """A repository with ``MANY`` registered models, ``model-000`` .. ``model-102``."""
    from tests.conftest import init_project, isolate_env

    with pytest.MonkeyPatch.context() as mp:
        isolate_env(mp, tmp_path_factory.mktemp("manyhome"))
        path = init_project(tmp_path_factory.mktemp("manyrepo") / "project")
        mp.chdir(path)
        from gittrack.api.client import Client

        c = Client(str(path))
        for i in range(MANY):
            c.create_registered_model(f"model-{i:03d}", description=f"number {i}")
        proc, base = start_ui(path)
        try:
            yield base, c
        finally:
            proc.terminate()
            proc.wait(timeout=10)


def _names(pg) -> list[str]:
    return [r[0] for r in cells(pg, "table.models tbody tr[data-model]")]


def _wait_first(pg, name: str) -> None:
    pg.wait_for_selector(f"table.models tbody tr[data-model='{name}']:first-child")


def test_models_page_pages_through_the_registry(page, many_site, shots: Path):
    """More models than a page: the first page, Next to the second, Prev back — each page
    the registry search's own page (the REST registered-models/search answers the same), and
    the name filter searches every model, not one page."""
    base, client = many_site
    page.goto(base + "/#/models")
    _wait_first(page, "model-000")
    first = _names(page)
    assert first == [f"model-{i:03d}" for i in range(100)]
    assert page.inner_text(".models-page .pager .count") == "1–100 models"
    assert page.is_disabled(".models-page .pager button.prev")
    page.click(".models-page .pager button.next")
    _wait_first(page, "model-100")
    assert _names(page) == ["model-100", "model-101", "model-102"]
    assert page.inner_text(".models-page .pager .count") == "101–103 models"
    assert page.is_disabled(".models-page .pager button.next")
    page.screenshot(path=str(shots / "models-page-2.png"))
    # the same pages the registry search gives, as the REST API pages it
    one = client.search_registered_models(max_results=100, order_by=["name ASC"])
    two = client.search_registered_models(
        max_results=100, order_by=["name ASC"], page_token=one.token
    )
    assert [m.name for m in one] == first and [m.name for m in two] == _names(page)
    assert two.token is None
    page.click(".models-page .pager button.prev")
    _wait_first(page, "model-000")
    assert _names(page) == first
    # a filter searches every model, in any case, not the page shown
    page.fill("input.filter", "DEL-1")
    _wait_first(page, "model-100")
    page.wait_for_function("document.querySelectorAll('table.models tbody tr').length === 3")
    assert _names(page) == ["model-100", "model-101", "model-102"]
    page.fill("input.filter", "0")  # every name: paged again, from the first page
    _wait_first(page, "model-000")
    page.wait_for_function("document.querySelectorAll('table.models tbody tr').length === 100")
    assert page.inner_text(".models-page .pager .count") == "1–100 models"
    page.fill("input.filter", "nothing like it")
    page.wait_for_selector("table.models td.empty")
    assert page.inner_text("table.models td.empty") == "No model matches."
