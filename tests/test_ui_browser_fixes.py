"""Browser tests for the UI defects of issue 17, in Debian's Chromium (see test_ui_browser)."""

# ruff: noqa: F811  (the shared fixtures are imported, then requested by name)
from __future__ import annotations

from tests.test_ui_browser import (  # noqa: F401
    SERIES_BLUE,
    browser,
    page,
    plotted_pixels,
    site,
)

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
