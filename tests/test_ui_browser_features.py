"""Browser tests for the UI features of issue 17 -- long pages drawn by the rows in view,
keyboard, the run diff view, live updates and grouping -- in Debian's Chromium (see
test_ui_browser). Each writes the documentation's screenshot of its feature."""

# ruff: noqa: F811  (the shared fixtures are imported, then requested by name)
from __future__ import annotations

import statistics

from tests.test_ui_browser import (  # noqa: F401
    browser,
    page,
    shots,
    site,
    start_ui,
)
from tests.ui_data import XSS_NAME, log_run

ROWS = "table.runs tbody tr[data-run]"


def cursor_run(pg) -> str | None:
    return pg.evaluate("(document.querySelector('tr.cursor') || {dataset: {}}).dataset.run || null")


def test_keyboard(page, site, shots):
    """/ focuses the filter, j/k move, x selects, c compares, d diffs, o opens."""
    base, ids, _repo = site
    page.goto(base + "/")
    page.wait_for_selector(ROWS)
    order = page.eval_on_selector_all(ROWS, "(trs) => trs.map((tr) => tr.dataset.run)")
    page.keyboard.press("/")
    assert page.evaluate("document.activeElement.classList.contains('filter')")
    page.keyboard.type("j")  # typed into the filter, not a move
    assert page.input_value("input.filter") == "j" and cursor_run(page) is None
    page.keyboard.press("Escape")
    page.fill("input.filter", "")
    page.evaluate("document.activeElement.blur()")
    page.keyboard.press("j")
    assert cursor_run(page) == order[0]
    page.keyboard.press("j")
    page.keyboard.press("j")
    page.keyboard.press("k")
    assert cursor_run(page) == order[1]
    page.keyboard.press("x")
    page.keyboard.press("j")
    page.keyboard.press("x")
    assert page.inner_text("button.primary") == "Compare (2)"
    assert page.locator("tr.selected").count() == 2
    assert page.locator(f"tr[data-run='{order[2]}'] td.sel input").is_checked()
    page.screenshot(path=str(shots / "keyboard.png"))
    page.keyboard.press("c")
    page.wait_for_selector("text=Comparing 2 runs")
    assert set(page.evaluate("decodeURIComponent(location.hash)").split("runs=")[1].split(",")) == {
        order[1],
        order[2],
    }
    page.go_back()
    page.wait_for_selector(ROWS)
    page.keyboard.press("d")
    page.wait_for_selector("text=Diff of two runs")
    page.go_back()
    page.wait_for_selector(ROWS)
    page.keyboard.press("j")
    page.keyboard.press("o")
    page.wait_for_selector(".run-header")
    assert page.evaluate("location.hash") == f"#/run/{order[0]}"


def test_long_page_draws_the_rows_in_view(browser, repo, shots):
    """A 1,000-row page builds the DOM of the rows in view only; scrolling (or j) brings
    the others, at the same height, and the pager counts them all."""
    from gittrack.api.client import Client

    client = Client(str(repo))
    n = 260  # over the 200 rows a page draws whole
    for i in range(n):
        run = client.create_run("0", run_name=f"r{i:03d}", start_time=1_700_000_000_000 + i)
        rid = run.info.run_id
        client.log_metric(rid, "loss", 1 / (i + 1), step=0)
        client.set_terminated(rid)
    client.flush()
    proc, base = start_ui(repo)
    try:
        ctx = browser.new_context(viewport={"width": 1200, "height": 800}, bypass_csp=True)
        pg = ctx.new_page()
        pg.goto(base + "/#/runs?size=1000")
        pg.wait_for_selector(ROWS)
        assert "1–260 of 260 runs" in pg.inner_text(".pager")
        drawn = pg.locator(ROWS).count()
        assert 20 < drawn < 120, drawn  # not 260
        names = pg.eval_on_selector_all(ROWS + " td.name", "(tds) => tds.map((t) => t.innerText)")
        assert names[0] == "r259"
        # the scroll height is that of all the rows
        heights = pg.evaluate(
            """() => { const w = document.querySelector('.runs-wrap');
                const tr = document.querySelector('table.runs tbody tr[data-run]');
                return [w.scrollHeight, tr.getBoundingClientRect().height]; }"""
        )
        assert heights[0] > 250 * heights[1], heights
        pg.eval_on_selector(".runs-wrap", "(w) => { w.scrollTop = w.scrollHeight; }")
        pg.wait_for_selector("tr[data-run] >> text=r000")
        last = pg.locator("tr[data-run]:has-text('r000')").bounding_box()
        wrap = pg.locator(".runs-wrap").bounding_box()
        assert (
            wrap["y"] < last["y"] and last["y"] + last["height"] <= wrap["y"] + wrap["height"] + 1
        )
        assert pg.locator(ROWS).count() < 120
        # j walks off the drawn rows: the cursor row is drawn and in view
        pg.eval_on_selector(".runs-wrap", "(w) => { w.scrollTop = 0; }")
        pg.wait_for_selector("tr[data-run] >> text=r259")
        pg.evaluate("document.activeElement.blur()")
        for _ in range(150):
            pg.keyboard.press("j")
        assert pg.inner_text("tr.cursor td.name") == "r110"
        box = pg.locator("tr.cursor").bounding_box()
        assert wrap["y"] <= box["y"] <= wrap["y"] + wrap["height"]
        # selecting a row redraws nothing else: the row elements stay the same
        pg.evaluate("window.__first = document.querySelector('table.runs tbody tr[data-run]')")
        pg.keyboard.press("x")
        assert pg.inner_text("button.primary") == "Compare (1)"
        assert pg.evaluate(
            "window.__first === document.querySelector('table.runs tbody tr[data-run]')"
        )
        ctx.close()
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def set_environment(client, run_id: str, change) -> None:
    """Rewrite the environment snapshot of live run ``run_id`` with ``change(env)``."""
    import pygit2
    import yaml

    from gittrack.layout import ENVIRONMENT_FILE, run_ref

    sha = client.repo.git.references[run_ref(run_id)].target
    tree = client.repo.git[sha].peel(pygit2.Commit).tree
    env = yaml.safe_load(tree[f".gittrack/{ENVIRONMENT_FILE}"].data)
    change(env)
    writer = client.writer(run_id)
    writer.put_record_file(ENVIRONMENT_FILE, yaml.safe_dump(env).encode())
    writer.mark_dirty()


def test_diff_view(browser, repo, shots):
    """Two runs: params, metrics, tags and attributes side by side with the differences
    marked, the environment's package changes, the code diff and the CLI command."""
    from gittrack.api.client import Client
    from tests.conftest import git

    client = Client(str(repo))
    a = log_run(client, 0, params={"lr": "0.1", "optimizer": "sgd", "seed": "7"}, status="RUNNING")
    set_environment(client, a, lambda env: env["distributions"].update(numpy="1.26.4"))
    client.set_terminated(a)
    (repo / "train.py").write_text("lr = 0.5\nprint('training')\n")
    b = log_run(
        client,
        1,
        params={"lr": "0.5", "optimizer": "sgd", "batch": "64"},
        tags={"evil": XSS_NAME},
        status="RUNNING",
    )
    set_environment(client, b, lambda env: env["distributions"].update(numpy="2.1.0"))
    client.set_terminated(b)
    git(repo, "checkout", "-q", "--", "train.py")
    client.flush()
    proc, base = start_ui(repo)
    try:
        ctx = browser.new_context(viewport={"width": 1300, "height": 1000}, bypass_csp=True)
        pg = ctx.new_page()
        errors: list[str] = []
        pg.on("pageerror", lambda e: errors.append(str(e)))
        pg.goto(base + "/")
        pg.wait_for_selector(ROWS)
        pg.check(f"tr[data-run='{a}'] td.sel input")
        pg.check(f"tr[data-run='{b}'] td.sel input")
        pg.click("button.diff-btn")
        pg.wait_for_selector("text=Diff of two runs")
        pg.wait_for_selector(".env-diff")
        pg.wait_for_selector(".diff-body")

        # A is the first run selected
        def row(key: str) -> list[str]:
            return pg.eval_on_selector(
                f"tr[data-key='{key}']", "(tr) => [...tr.children].map((c) => c.innerText)"
            )

        assert row("params.lr")[1:] == ["0.1", "0.5"]
        assert "differs" in pg.get_attribute("tr[data-key='params.lr']", "class")
        assert pg.locator("tr[data-key='params.optimizer']").count() == 0  # equal: hidden
        assert "only-b" in pg.get_attribute("tr[data-key='params.batch']", "class")
        assert "only-a" in pg.get_attribute("tr[data-key='params.seed']", "class")
        assert pg.locator(f"tr[data-key='tags.evil'] td >> text={XSS_NAME}").count() == 1
        m0 = row("metrics.m0")
        assert m0[3].startswith(("+", "-")) and "%" in m0[3], m0
        assert row("distributions/numpy")[1:] == ["1.26.4", "2.1.0"]
        assert "+lr = 0.5" in pg.inner_text(".diff-body")  # from A's code to B's
        assert pg.inner_text("code.cli") == f"gittrack diff {a[:8]} {b[:8]} --code"
        pg.screenshot(path=str(shots / "diff.png"), full_page=True)
        # show equal rows too; swap A and B
        pg.uncheck("text=Only what differs")
        pg.wait_for_selector("tr[data-key='params.optimizer']")
        pg.click("button[title='Swap A and B']")
        pg.wait_for_function(f"location.hash.includes('a={b}')")
        pg.wait_for_function(
            f"(document.querySelector('code.cli') || {{innerText: ''}}).innerText"
            f".includes('diff {b[:8]}')"
        )
        pg.wait_for_selector(".env-diff")
        assert row("params.lr")[1:] == ["0.5", "0.1"]
        assert pg.evaluate("window.__xss === undefined")
        assert errors == []
        ctx.close()
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def hide_tab(pg, hidden: bool) -> None:
    """Make the page believe its tab was hidden (or shown) and tell it so."""
    pg.evaluate(
        """(hidden) => {
          Object.defineProperty(document, 'hidden', {value: hidden, configurable: true});
          Object.defineProperty(document, 'visibilityState',
            {value: hidden ? 'hidden' : 'visible', configurable: true});
          document.dispatchEvent(new Event('visibilitychange'));
        }""",
        hidden,
    )


def test_live_table_and_run_page(page, site, shots):
    """A RUNNING run's row and run page follow its new points without a reload, and stop
    asking while the tab is hidden."""
    from gittrack.api.client import Client

    base, _ids, repo = site
    client = Client(str(repo))
    rid = client.create_run("0", run_name="live-table-run").info.run_id
    asked: list[str] = []
    page.on("request", lambda r: asked.append(r.url) if "/ui/api/" in r.url else None)
    try:
        client.log_metric(rid, "m0", 0.75, step=0)
        client.flush(rid)
        page.goto(base + "/#/runs?cols=metrics.m0")
        page.wait_for_selector(f"tr[data-run='{rid}']")
        page.evaluate("window.__same_page = 1")
        cell = f"tr[data-run='{rid}'] td.num"
        assert page.inner_text(cell) == "0.75"
        assert page.is_visible(".toolbar .live")
        client.log_metric(rid, "m0", 0.25, step=1)
        client.flush(rid)
        page.wait_for_function(
            f"document.querySelector(\"{cell}\").innerText === '0.25'", timeout=20_000
        )
        assert page.evaluate("window.__same_page") == 1  # no reload
        # hidden: no more requests; shown again: up to date at once
        hide_tab(page, True)
        page.wait_for_timeout(300)
        asked.clear()
        client.log_metric(rid, "m0", 0.125, step=2)
        client.flush(rid)
        page.wait_for_timeout(6_000)  # longer than the table's 5 s period
        assert asked == [], asked
        assert page.inner_text(cell) == "0.25"
        hide_tab(page, False)
        page.wait_for_function(
            f"document.querySelector(\"{cell}\").innerText === '0.125'", timeout=20_000
        )
        # the run page: its chart and summary follow, the chart element stays
        page.click(f"tr[data-run='{rid}'] td.name a")
        page.wait_for_selector(".chart[data-metric='m0'][data-drawn='1']")
        page.evaluate("window.__chart = document.querySelector('.chart[data-metric=\"m0\"]')")
        assert "3 points" in page.inner_text(".chart-box")
        client.log_metric(rid, "m0", 0.0625, step=3)
        client.flush(rid)
        page.wait_for_function(
            "document.querySelector('.chart-box').innerText.includes('4 points')", timeout=20_000
        )
        assert page.evaluate(
            "window.__chart === document.querySelector('.chart[data-metric=\"m0\"]')"
        )
        assert page.inner_text("tr[data-metric='m0'] td >> nth=0") == "0.0625"
        page.screenshot(path=str(shots / "live.png"))
        hide_tab(page, True)
        page.wait_for_timeout(300)
        asked.clear()
        client.log_metric(rid, "m0", 0.03125, step=4)
        client.flush(rid)
        page.wait_for_timeout(4_000)  # longer than the run page's 3 s period
        assert asked == [], asked
        hide_tab(page, False)
        page.wait_for_function(
            "document.querySelector('.chart-box').innerText.includes('5 points')", timeout=20_000
        )
        client.set_terminated(rid)
        page.wait_for_function(
            "document.querySelector('.run-header .status').innerText === 'FINISHED'",
            timeout=20_000,
        )
    finally:
        if client.get_run(rid).info.status == "RUNNING":
            client.set_terminated(rid, status="KILLED")


def test_grouping(page, site, shots):
    """Group by a param: one row per value with the count, best and mean of a metric
    (what the Python API computes), the best group marked; a group opens to its runs."""
    from gittrack.api.client import Client

    base, _ids, repo = site
    where = "params.p0 LIKE 'v%'"
    runs = Client(str(repo)).search_runs(["0"], where, max_results=1000)
    values: dict[str, list[float]] = {}
    for r in runs:
        values.setdefault(r.data.params["p0"], []).append(r.data.metrics["m1"])
    page.goto(base + "/")
    page.wait_for_selector(ROWS)
    page.fill("input.filter", where)
    page.press("input.filter", "Enter")
    page.wait_for_function("location.hash.includes('filter=')")
    page.select_option("select[aria-label='Group by']", "params.p0")
    page.wait_for_selector("tr.group-row")
    page.select_option("select[aria-label='Group metric']", "m1")
    page.wait_for_function("location.hash.includes('gmetric=m1')")
    page.wait_for_function("document.querySelector('thead').innerText.includes('Mean m1')")
    shown = page.eval_on_selector_all(
        "tr.group-row",
        "(trs) => trs.map((tr) => [tr.dataset.group, ...[...tr.children].map((c) => c.innerText)])",
    )
    assert sorted(g[0] for g in shown) == sorted(values)
    for group, label, count, best, mean, _worst, _n in shown:
        assert label.endswith(group)
        assert int(count) == len(values[group])
        assert abs(float(best) - min(values[group])) <= 1e-5
        assert abs(float(mean) - statistics.mean(values[group])) <= 1e-5
    lowest = min(values, key=lambda k: min(values[k]))
    assert page.get_attribute("tr.group-row.best", "data-group") == lowest
    assert f"groups of {len(runs)} runs" in page.inner_text(".pager")
    # open the group: its runs
    page.click(f"tr.group-row[data-group='{lowest}'] button.group-toggle")
    page.wait_for_selector("tr.group-runs table.inner tbody tr")
    assert page.locator("tr.group-runs table.inner tbody tr").count() == len(values[lowest])
    page.screenshot(path=str(shots / "grouped.png"))
    # highest is best: the best column shows the max
    page.select_option("select[aria-label='Best is']", "max")
    page.wait_for_function("document.querySelector('thead').innerText.includes('(max)')")
    highest = max(values, key=lambda k: max(values[k]))
    assert page.get_attribute("tr.group-row.best", "data-group") == highest
    # the URL keeps the grouping
    url = page.url
    page.goto("about:blank")
    page.goto(url)
    page.wait_for_selector("tr.group-row.best")
    assert page.input_value("select[aria-label='Group by']") == "params.p0"
    page.click(f"tr.group-row[data-group='{lowest}'] button.group-toggle")
    page.click("a.group-open")
    page.wait_for_function("!location.hash.includes('group=')")
    page.wait_for_selector(ROWS)
    page.wait_for_function(
        f"document.querySelector('.pager').textContent.includes('of {len(values[lowest])} runs')"
    )
