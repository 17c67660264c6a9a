"""End to end: `gittrack ui` on loopback driven by headless Chromium (Debian's package).

Screenshots of the main pages go to ``$GITTRACK_UI_SCREENSHOTS`` when it is set
(``docs/ui/`` for the documentation), else to the test's temporary directory.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import require_service
from tests.ui_data import XSS_NAME, XSS_TAG, build_demo_repo

CHROMIUM = os.environ.get("GITTRACK_CHROMIUM", "/usr/bin/chromium")
# read (and made absolute) before the fixtures clear GITTRACK_* and change directory
SCREENSHOTS = (
    os.path.abspath(os.environ["GITTRACK_UI_SCREENSHOTS"])
    if os.environ.get("GITTRACK_UI_SCREENSHOTS")
    else None
)
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SERIES_BLUE = (31, 119, 180)  # GT.palette[0], the first run's line colour
SERIES_RED = (214, 39, 40)  # GT.palette[1]


def start_ui(repo: Path) -> tuple[subprocess.Popen, str]:
    """Run ``gittrack ui --port 0 --no-browser`` and return (process, base URL)."""
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "gittrack",
            "ui",
            "--port",
            "0",
            "--no-browser",
            "--repo",
            str(repo),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    line = proc.stdout.readline()
    m = re.search(r"(http://127\.0\.0\.1:\d+)/", line)
    if not m:
        proc.kill()
        raise AssertionError(f"gittrack ui did not start: {line}{proc.stdout.read()}")
    return proc, m.group(1)


def launch_browser(pw):
    return pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)


@pytest.fixture(scope="module")
def browser():
    if not os.path.exists(CHROMIUM):
        require_service("chromium", f"{CHROMIUM} is missing (apt-get install chromium)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        require_service("playwright", "pip install playwright (the test extra)")
    with sync_playwright() as pw:
        b = launch_browser(pw)
        yield b
        b.close()


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    with pytest.MonkeyPatch.context() as mp:
        path, ids = build_demo_repo(tmp_path_factory, mp)
        proc, base = start_ui(path)
        try:
            yield base, ids, path
        finally:
            proc.terminate()
            proc.wait(timeout=10)


@pytest.fixture
def page(browser, site):
    # bypass_csp lets Playwright poll with string predicates; it also proves the pages
    # escape hostile text on their own, without the Content-Security-Policy's help.
    ctx = browser.new_context(viewport={"width": 1400, "height": 900}, bypass_csp=True)
    pg = ctx.new_page()
    pg.dialogs = []
    pg.errors = []
    pg.on("dialog", lambda d: (pg.dialogs.append(d.message), d.dismiss()))
    pg.on("pageerror", lambda e: pg.errors.append(str(e)))
    yield pg
    assert pg.evaluate("window.__xss === undefined"), "injected script ran"
    assert pg.dialogs == []
    assert pg.errors == []
    ctx.close()


@pytest.fixture(scope="module")
def shots(tmp_path_factory) -> Path:
    path = Path(SCREENSHOTS) if SCREENSHOTS else tmp_path_factory.mktemp("screens")
    path.mkdir(parents=True, exist_ok=True)
    return path


def plotted_pixels(pg, selector: str, rgb: tuple[int, int, int]) -> int:
    """Pixels of colour ``rgb`` (±40 per channel) drawn on the canvases under ``selector``."""
    return pg.evaluate(
        """([sel, rgb]) => {
          let n = 0;
          for (const c of document.querySelectorAll(sel + ' canvas')) {
            const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
            for (let i = 0; i < d.length; i += 4) {
              if (d[i + 3] > 100 && Math.abs(d[i] - rgb[0]) < 40 && Math.abs(d[i + 1] - rgb[1]) < 40
                  && Math.abs(d[i + 2] - rgb[2]) < 40) n++;
            }
          }
          return n;
        }""",
        [selector, list(rgb)],
    )


def column_texts(pg, col: str) -> list[str]:
    idx = pg.evaluate(
        """(col) => [...document.querySelectorAll('table.runs thead th')]
             .findIndex((th) => th.dataset.col === col)""",
        col,
    )
    assert idx >= 0, f"column {col} not shown"
    return pg.eval_on_selector_all(
        "table.runs tbody tr", f"(rows) => rows.map((r) => r.children[{idx}].textContent)"
    )


def test_table_filter_sort_columns(page, site, shots):
    base, ids, _repo = site
    page.goto(base + "/")
    page.wait_for_selector("table.runs tbody tr[data-run]")
    assert page.locator("table.runs tbody tr[data-run]").count() == 12
    assert "of 12 runs" in page.inner_text(".pager")
    # hostile run name and tag are shown as text
    assert page.get_by_text(XSS_NAME, exact=True).count() == 1
    crashed = page.locator(f"tr[data-run='{ids['crashed']}'] .status")
    assert crashed.inner_text() == "CRASHED"
    assert "status-crashed" in crashed.get_attribute("class")
    page.screenshot(path=str(shots / "table.png"))

    # sort by a metric, descending then ascending
    page.click("th[data-col='metrics.m0']")
    page.wait_for_function("location.hash.includes('order=metrics.m0')")
    page.wait_for_selector("th.sorted[data-col='metrics.m0']")
    values = [float(v) for v in column_texts(page, "metrics.m0") if v]
    assert values == sorted(values, reverse=True) and len(values) == 12
    page.click("th[data-col='metrics.m0']")
    page.wait_for_function("location.hash.includes('ASC')")
    page.wait_for_timeout(200)
    values = [float(v) for v in column_texts(page, "metrics.m0") if v]
    assert values == sorted(values)

    # choose a column: tags.evil appears, escaped, and the URL keeps it
    page.click("#columns > summary")
    page.fill("#columns input[type=search]", "evil")
    page.check("input[data-col='tags.evil']")
    page.wait_for_selector("th[data-col='tags.evil']")
    assert XSS_TAG in column_texts(page, "tags.evil")
    assert "tags.evil" in page.evaluate("decodeURIComponent(location.hash)")

    # the URL reproduces the view
    url = page.url
    page.goto("about:blank")
    page.goto(url)
    page.wait_for_selector("th[data-col='tags.evil']")
    assert page.locator("table.runs tbody tr[data-run]").count() == 12


def test_table_filter_and_inline_error(page, site):
    base, _ids, _repo = site
    page.goto(base + "/")
    page.wait_for_selector("table.runs tbody tr[data-run]")
    # a filter; then a filter with a syntax error is reported inline
    page.fill("input.filter", "params.p0 = 'v0'")
    page.press("input.filter", "Enter")
    page.wait_for_function("document.querySelector('.pager').textContent.includes('of 3 runs')")
    assert set(column_texts(page, "params.p0")) == {"v0"}
    page.fill("input.filter", "metrics.m0 >> 0.5")
    page.press("input.filter", "Enter")
    page.wait_for_selector(".filter-error:not([hidden])")
    assert "position" in page.inner_text(".filter-error")
    assert page.locator(".filter-error mark").count() == 1  # the spot is marked
    assert "invalid" in page.get_attribute("input.filter", "class")
    page.fill("input.filter", "")
    page.press("input.filter", "Enter")
    page.wait_for_function("document.querySelector('.pager').textContent.includes('of 12 runs')")
    assert page.is_hidden(".filter-error")


def test_run_page_charts_and_artifacts(page, site, shots):
    base, ids, _repo = site
    rid = ids["xss"]
    page.goto(f"{base}/#/run/{rid}")
    page.wait_for_selector(".chart[data-drawn='1'] canvas")
    page.wait_for_function("document.querySelectorAll('.chart[data-drawn=\"1\"]').length === 3")
    assert page.inner_text(".run-header h1").startswith(XSS_NAME)
    assert "uncommitted changes" in page.inner_text(".run-header")
    # the note is rendered as Markdown, its raw HTML and javascript: link are inert text
    assert page.locator(".markdown strong").inner_text() == "bold"
    assert page.locator(".markdown a").count() == 1
    assert page.locator(".markdown a").get_attribute("href") == "https://example.com/"
    assert page.locator(".markdown img").count() == 0
    # the chart canvas really has the line drawn
    assert plotted_pixels(page, ".chart[data-metric='m0']", SERIES_BLUE) > 200
    assert "points drawn" in page.inner_text(".chart-box:has(.chart[data-metric='m0'])")
    page.screenshot(path=str(shots / "run.png"), full_page=True)

    # drag to zoom: the zoomed range comes back at full resolution (the chart scrolled into
    # view first: a drag outside the viewport reaches no element)
    page.locator(".chart[data-metric='m0']").scroll_into_view_if_needed()
    over = page.locator(".chart[data-metric='m0'] .u-over").bounding_box()
    y = over["y"] + over["height"] / 2
    page.mouse.move(over["x"] + over["width"] * 0.40, y)
    page.mouse.down()
    page.mouse.move(over["x"] + over["width"] * 0.45, y, steps=5)
    page.mouse.up()
    note = ".chart-box:has(.chart[data-metric='m0']) .chart-note"
    page.wait_for_function(f"document.querySelector(\"{note}\").innerText.includes('zoomed')")
    assert "of 5,000" not in page.inner_text(note)
    assert plotted_pixels(page, ".chart[data-metric='m0']", SERIES_BLUE) > 50
    page.dblclick(".chart[data-metric='m0'] .u-over")
    page.wait_for_function(f"document.querySelector(\"{note}\").innerText.includes('of 5,000')")

    page.click("nav.tabs a[data-tab='code']")
    page.wait_for_selector(".diff-body")
    assert "+lr = 0.5" in page.inner_text(".diff-body")

    page.click("nav.tabs a[data-tab='env']")
    page.wait_for_selector("text=CPython")
    assert "distributions" in page.inner_text(".pane")

    page.click("nav.tabs a[data-tab='params']")
    assert "hp0999" not in page.inner_text("#params table.kv")  # first 500 of 1,000 shown
    page.fill("#params input[type=search]", "hp0999")
    page.wait_for_function(
        "document.querySelector('#params table.kv').innerText.includes('hp0999')"
    )
    assert page.locator("#params table.kv tr").count() == 1

    page.click("nav.tabs a[data-tab='artifacts']")
    page.click("a[data-path='plots']")
    page.click("a[data-path='plots/red.png']")
    page.wait_for_selector("img.art-image")
    page.wait_for_function("document.querySelector('img.art-image').complete")
    assert page.evaluate("document.querySelector('img.art-image').naturalWidth") == 16
    page.screenshot(path=str(shots / "artifact.png"))
    page.click(".crumbs a >> nth=0")
    page.click("a[data-path='page.html']")
    page.wait_for_selector(".art-preview pre.art-text")
    assert "<script>" in page.inner_text(".art-preview pre.art-text")
    page.click("a[data-path='table.csv']")
    page.wait_for_selector(".art-preview table.csv")
    assert page.inner_text(".art-preview table.csv tbody").split() == ["1", "2", "3", "4"]


def test_compare_two_runs(page, site, shots):
    base, ids, _repo = site
    page.goto(base + "/")
    page.wait_for_selector("table.runs tbody tr[data-run]")
    page.check(f"tr[data-run='{ids[0]}'] td.sel input")
    page.check(f"tr[data-run='{ids['xss']}'] td.sel input")
    assert page.inner_text("button.primary") == "Compare (2)"
    page.click("button.primary")
    page.wait_for_selector("text=Comparing 2 runs")
    page.wait_for_function("document.querySelectorAll('.chart[data-drawn=\"1\"]').length === 3")
    assert page.locator("tr.differs").count() > 3
    assert page.locator("tr.differs[data-key='metrics.m0']").count() == 1
    assert page.locator("tr.differs[data-key='params.hp0000']").count() == 1

    # both runs' lines are drawn on the overlaid chart
    assert plotted_pixels(page, ".chart[data-metric='m0']", SERIES_BLUE) > 50
    assert plotted_pixels(page, ".chart[data-metric='m0']", SERIES_RED) > 50
    page.wait_for_selector(".diff-body")
    assert "+lr = 0.5" in page.inner_text(".diff-body")
    page.select_option("select[aria-label='X axis']", "relative")
    page.wait_for_function("document.querySelectorAll('.chart[data-drawn=\"1\"]').length === 3")
    page.check("text=Log scale")
    page.wait_for_function("location.hash.includes('log=1')")
    page.wait_for_function("document.querySelectorAll('.chart[data-drawn=\"1\"]').length === 3")
    assert plotted_pixels(page, ".chart[data-metric='m0']", SERIES_RED) > 50
    page.click("text=Show all 1004 params")
    page.wait_for_selector("tr.differs[data-key='params.p0']")

    # the documentation's picture: four ordinary runs
    page.goto(base + "/#/compare?runs=" + ",".join(ids[i] for i in range(4)))
    page.wait_for_function("document.querySelectorAll('.chart[data-drawn=\"1\"]').length === 3")
    assert page.locator("canvas[data-drawn]").count() == 2  # parallel coordinates, scatter
    page.screenshot(path=str(shots / "compare.png"), full_page=True)


def test_unknown_run_in_url(page, site):
    base, _ids, _repo = site
    page.goto(f"{base}/#/run/{'ab' * 16}")
    page.wait_for_selector("text=Run not found")
    assert "not found" in page.inner_text(".error")


def test_live_run_refreshes(page, site):
    """A RUNNING run's page picks up new checkpoints without a reload."""
    from gittrack.api.client import Client

    base, _ids, repo = site
    client = Client(str(repo))
    run = client.create_run("0", run_name="live-run")
    rid = run.info.run_id
    try:
        for s in range(10):
            client.log_metric(rid, "loss", 1.0 / (s + 1), step=s)
        client.flush(rid)
        page.goto(f"{base}/#/run/{rid}")
        page.wait_for_selector(".chart[data-metric='loss'][data-drawn='1']")
        assert page.inner_text(".run-header .status") == "RUNNING"
        assert "10 points" in page.inner_text(".chart-box")
        for s in range(10, 25):
            client.log_metric(rid, "loss", 1.0 / (s + 1), step=s)
        client.flush(rid)
        page.wait_for_function(
            "document.querySelector('.chart-box') && "
            "document.querySelector('.chart-box').innerText.includes('25 points')",
            timeout=15_000,
        )
        client.set_terminated(rid)
        page.wait_for_function(
            "document.querySelector('.run-header .status').innerText === 'FINISHED'",
            timeout=15_000,
        )
    finally:
        if client.get_run(rid).info.status == "RUNNING":
            client.set_terminated(rid, status="KILLED")


def test_empty_repository(browser, repo):
    proc, base = start_ui(repo)
    try:
        ctx = browser.new_context(bypass_csp=True)
        pg = ctx.new_page()
        errors = []
        pg.on("pageerror", lambda e: errors.append(str(e)))
        pg.goto(base + "/")
        pg.wait_for_selector("td.empty")
        assert "No runs recorded yet" in pg.inner_text("td.empty")
        assert "of 0 runs" in pg.inner_text(".pager")
        assert errors == []
        ctx.close()
    finally:
        proc.terminate()
        proc.wait(timeout=10)
