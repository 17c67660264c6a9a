"""Browser tests for the UI defects of issue 17, in Debian's Chromium (see test_ui_browser)."""

# ruff: noqa: F811  (the shared fixtures are imported, then requested by name)
from __future__ import annotations

from tests.test_ui_browser import (  # noqa: F401
    SERIES_BLUE,
    browser,
    page,
    plotted_pixels,
    site,
    start_ui,
)
from tests.ui_data import log_run

M0 = ".chart[data-metric='m0']"
NOTE = ".chart-box:has(.chart[data-metric='m0']) .chart-note"


def series_requests(pg) -> list[str]:
    """Start recording the URLs of the series endpoint's requests made by ``pg``."""
    seen: list[str] = []
    pg.on("request", lambda r: seen.append(r.url) if "/series?" in r.url else None)
    return seen


def test_zoom_repaints_at_full_resolution(page, site):
    """After a drag the chart shows the fetched full-resolution points, not the coarse line."""
    base, ids, _repo = site
    page.goto(f"{base}/#/run/{ids['xss']}")
    page.wait_for_function("document.querySelectorAll('.chart[data-drawn=\"1\"]').length === 3")
    assert "of 5,000 points drawn" in page.inner_text(NOTE)
    # the drag must land inside the viewport: how far down the chart sits depends on the
    # run header's text (e.g. the temporary path's length)
    page.locator(M0).scroll_into_view_if_needed()
    over = page.locator(M0 + " .u-over").bounding_box()
    y = over["y"] + over["height"] / 2
    page.mouse.move(over["x"] + over["width"] * 0.40, y)
    page.mouse.down()
    page.mouse.move(over["x"] + over["width"] * 0.45, y, steps=5)
    page.mouse.up()
    # uPlot stretches the coarse (min/max per pixel) line over the zoomed range at once
    coarse = plotted_pixels(page, M0, SERIES_BLUE)
    page.wait_for_function(f"document.querySelector(\"{NOTE}\").innerText.includes('zoomed')")
    page.wait_for_timeout(300)
    fine = plotted_pixels(page, M0, SERIES_BLUE)
    # ~250 noisy steps now drawn where ~60 coarse buckets were: many more line pixels
    assert fine > 1.5 * coarse, (coarse, fine)


def test_compare_zoom_repaints(page, site):
    """The compare view's charts share the repaint on zoom."""
    base, ids, _repo = site
    page.goto(f"{base}/#/compare?runs={ids[0]},{ids['xss']}")
    page.wait_for_function("document.querySelectorAll('.chart[data-drawn=\"1\"]').length === 3")
    page.locator(M0).scroll_into_view_if_needed()
    over = page.locator(M0 + " .u-over").bounding_box()
    y = over["y"] + over["height"] / 2
    page.mouse.move(over["x"] + over["width"] * 0.50, y)
    page.mouse.down()
    page.mouse.move(over["x"] + over["width"] * 0.56, y, steps=5)
    page.mouse.up()
    coarse = plotted_pixels(page, M0, SERIES_BLUE) + plotted_pixels(page, M0, (214, 39, 40))
    page.wait_for_function(f"document.querySelector(\"{NOTE}\").innerText.includes('zoomed')")
    page.wait_for_timeout(300)
    fine = plotted_pixels(page, M0, SERIES_BLUE) + plotted_pixels(page, M0, (214, 39, 40))
    assert fine > 1.5 * coarse, (coarse, fine)


def test_series_fetched_once_per_chart(page, site):
    """Page load asks for each chart's series once, for the whole range."""
    base, ids, _repo = site
    seen = series_requests(page)
    page.goto(f"{base}/#/run/{ids['xss']}")
    page.wait_for_function("document.querySelectorAll('.chart[data-drawn=\"1\"]').length === 3")
    page.wait_for_timeout(500)  # a second (range) request came 150 ms after the draw
    assert len(seen) == 3, seen
    assert not any("min=" in u or "max=" in u for u in seen), seen
    assert sorted(u.split("key=")[1].split("&")[0] for u in seen) == ["m0", "m1", "m2"]


def watch_failures(pg) -> list[str]:
    """Start recording ``pg``'s failed responses (status >= 400) and console errors."""
    bad: list[str] = []
    pg.on("response", lambda r: bad.append(f"{r.status} {r.url}") if r.status >= 400 else None)
    pg.on("console", lambda m: bad.append("console: " + m.text) if m.type == "error" else None)
    return bad


def test_no_404_or_console_error_on_load_and_artifacts(page, site):
    """No favicon 404 on load; opening an artifact file asks for its folder, not a listing of it."""
    base, ids, _repo = site
    bad = watch_failures(page)
    page.goto(base + "/")
    page.wait_for_selector("table.runs tbody tr[data-run]")
    page.wait_for_timeout(300)
    # the page declares its icon, so the browser does not ask for /favicon.ico
    assert page.evaluate("document.querySelector('link[rel=icon]').href").startswith("data:")
    page.goto(f"{base}/#/run/{ids['xss']}")
    page.wait_for_function("document.querySelectorAll('.chart[data-drawn=\"1\"]').length === 3")
    page.click("nav.tabs a[data-tab='artifacts']")
    page.click("a[data-path='plots']")
    page.click("a[data-path='plots/red.png']")
    page.wait_for_selector("img.art-image")
    page.click(".crumbs a >> nth=0")
    page.click("a[data-path='table.csv']")
    page.wait_for_selector(".art-preview table.csv")
    # a URL naming a file opens its folder with the file previewed
    url = page.url
    assert "table.csv" in page.evaluate("decodeURIComponent(location.hash)")
    page.goto("about:blank")
    page.goto(url)
    page.wait_for_selector(".art-preview table.csv")
    assert page.locator("a[data-path='table.csv']").count() == 1
    page.wait_for_timeout(300)
    assert bad == []


AXIS_FIT = """(sel) => {
  const u = document.querySelector(sel).uplot;
  const axis = u.axes[1];
  const ctx = document.createElement('canvas').getContext('2d');
  ctx.font = axis.font[0];
  const labels = axis._values.filter((v) => v !== '');
  const widest = Math.max(...labels.map((v) => ctx.measureText(v).width / devicePixelRatio));
  return {labels, room: axis._size - axis.ticks.size - axis.gap, widest};
}"""


def test_log_axis_labels_fit(page, site):
    """Log-scale tick labels (down to 1e-7 here) are whole: the y axis is as wide as they are."""
    base, ids, _repo = site
    page.goto(f"{base}/#/compare?runs={ids[0]},{ids['xss']}&log=1")
    page.wait_for_function("document.querySelectorAll('.chart[data-drawn=\"1\"]').length === 3")
    fit = page.evaluate(AXIS_FIT, M0)
    assert any("e-" in v for v in fit["labels"]), fit
    assert fit["widest"] <= fit["room"], fit
    assert all(float(v) > 0 for v in fit["labels"]), fit  # whole numbers, none clipped


def test_plain_text_searches_run_names(page, site):
    """Words with no operator find runs by name (ILIKE '%text%'); filters work as before."""
    base, ids, _repo = site
    page.goto(base + "/")
    page.wait_for_selector("table.runs tbody tr[data-run]")
    page.fill("input.filter", "CRASHED-run")
    page.press("input.filter", "Enter")
    page.wait_for_function("document.querySelector('.pager').textContent.includes('of 1 runs')")
    assert page.is_hidden(".filter-error")
    assert page.locator(f"tr[data-run='{ids['crashed']}']").count() == 1
    page.fill("input.filter", "run-0000")
    page.press("input.filter", "Enter")
    page.wait_for_function("document.querySelector('.pager').textContent.includes('of 10 runs')")
    assert page.is_hidden(".filter-error")
    # an operator makes it a filter again, with its errors
    page.fill("input.filter", "metrics.m0 >> 0.5")
    page.press("input.filter", "Enter")
    page.wait_for_selector(".filter-error:not([hidden])")


def test_default_columns_are_the_keys_most_runs_have(browser, repo):
    """Metrics of 3 runs (many points, names sorting first) do not crowd out the metrics all
    6 runs have: the default columns are chosen by how many runs have each key."""
    from gittrack.api.client import Client

    client = Client(str(repo))
    for i in range(6):
        rid = log_run(client, i, n_metrics=5, steps=3, status="RUNNING")  # m0..m4: all runs
        if i < 3:
            for key in ("a1", "a2", "a3", "a4"):
                for step in range(30):
                    client.log_metric(rid, key, step / 30, step=step)
        client.set_terminated(rid)
    client.flush()
    proc, base = start_ui(repo)
    try:
        ctx = browser.new_context(viewport={"width": 1400, "height": 900})
        pg = ctx.new_page()
        pg.goto(base + "/")
        pg.wait_for_selector("table.runs tbody tr[data-run]")
        shown = pg.eval_on_selector_all(
            "table.runs thead th[data-col^='metrics.']", "(ths) => ths.map((th) => th.dataset.col)"
        )
        assert shown == ["metrics.m0", "metrics.m1", "metrics.m2", "metrics.m3"]
        ctx.close()
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def gradient_pixels(pg) -> list[int]:
    """``[blue, red]`` pixels of the parallel-coordinates canvas: its two runs' lines (the
    colour gradient's ends), not its axes or text."""
    return pg.evaluate(
        """() => {
          const c = document.querySelector('canvas[data-drawn="1"]');
          const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
          const n = [0, 0];
          for (let i = 0; i < d.length; i += 4) {
            if (d[i + 3] < 100 || Math.abs(d[i + 1] - 80) > 30) continue;
            if (d[i + 2] - d[i] > 120) n[0]++;
            else if (d[i] - d[i + 2] > 120) n[1]++;
          }
          return n;
        }"""
    )


RIGHT_EDGE_INK = """() => {
  const c = document.querySelector('canvas[data-drawn="1"]');
  const d = c.getContext('2d').getImageData(c.width - 3, 0, 3, c.height).data;
  let n = 0;
  for (let i = 0; i < d.length; i += 4) if (d[i + 3] > 60) n++;
  return n;
}"""


def test_parallel_coordinates_with_two_axes(browser, repo):
    """Runs differing in one param have two axes (param, metric), each run drawn; a run
    missing the param still shows its metric value (a dot)."""
    from gittrack.api.client import Client

    client = Client(str(repo))
    ids = [
        log_run(client, i, n_metrics=1, params={"lr": f"0.{i + 1}", "seed": "1"}) for i in (0, 1)
    ]
    ids.append(log_run(client, 2, n_metrics=1, params={"seed": "1"}))  # no lr
    client.flush()
    proc, base = start_ui(repo)
    try:
        ctx = browser.new_context(viewport={"width": 1400, "height": 900})
        pg = ctx.new_page()
        pg.goto(f"{base}/#/compare?runs={ids[0]},{ids[1]}")
        pg.wait_for_selector('canvas[data-drawn="1"]')
        blue, red = gradient_pixels(pg)
        assert blue > 300 and red > 300, (blue, red)
        # the last axis's tick labels (m0's values, e.g. 0.0105483) are not cut at the edge
        assert pg.evaluate(RIGHT_EDGE_INK) == 0
        pg.goto("about:blank")
        # run 2 has no lr: on the axes (lr, m0) it has one value and no segment
        pg.goto(f"{base}/#/compare?runs={ids[0]},{ids[2]}")
        pg.wait_for_selector('canvas[data-drawn="1"]')
        blue, red = gradient_pixels(pg)
        assert max(blue, red) > 300 and 20 < min(blue, red) < 100, (blue, red)
        ctx.close()
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def test_run_page_chart_controls(page, site):
    """The run page's charts have the compare view's controls: log scale and smoothing."""
    base, ids, _repo = site
    page.goto(f"{base}/#/run/{ids['xss']}")
    page.wait_for_function("document.querySelectorAll('.chart[data-drawn=\"1\"]').length === 3")
    assert page.evaluate(f'document.querySelector("{M0}").uplot.scales.y.distr') == 1
    page.check("text=Log scale")
    page.wait_for_function(f'document.querySelector("{M0}").uplot.scales.y.distr === 3')
    page.wait_for_function("document.querySelectorAll('.chart[data-drawn=\"1\"]').length === 3")
    assert any("e-" in v for v in page.evaluate(AXIS_FIT, M0)["labels"])
    assert plotted_pixels(page, M0, SERIES_BLUE) > 200
    # smoothing adds the smoothed line over a faint raw one
    page.eval_on_selector(
        "input[aria-label='Smoothing']",
        "(el) => { el.value = '0.9'; el.dispatchEvent(new Event('change')); }",
    )
    page.wait_for_function(f'document.querySelector("{M0}").uplot.series.length === 3')
    assert page.evaluate(f'document.querySelector("{M0}").uplot.scales.y.distr') == 3
