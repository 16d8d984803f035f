"""The time-limit dashboard (时限, issue 26) in a real browser, on the whole running system.

Households of Cixi's first town are taken in (their reports come, so they wait for the town's
review, within its limit) and a few more go all the way to a decision (their stays in each stage
are the stage times). Cixi's district approver opens 时限 from the menu: both Chart.js charts
draw, served by the window under its CSP, beside the tables; the CSV downloads through the
window; without script the tables alone. The browser, the people and the screenshots are
tests/e2e/test_window_browser.py's.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest

from deploy.supervisor import System
from tests.conftest import wait_until
from tests.e2e.conftest import HOUSEHOLDS, final_cases, submit, tokens
from tests.e2e.test_window_browser import Person, browser, shots

pytestmark = pytest.mark.e2e
__all__ = ["browser", "shots"]  # the fixtures, used here by name

DISTRICT, TOWN = "330282", "330282001"

# Whether a chart drew: its canvas's pixels, and how many are exactly one colour of the chart
# (static/dashboard_charts.js), so that axes and a legend alone do not pass.
_DRAWN = """([id, rgb]) => {
  const canvas = document.getElementById(id);
  const pixels = canvas.getContext("2d").getImageData(0, 0, canvas.width, canvas.height).data;
  let inked = 0, coloured = 0;
  for (let i = 0; i < pixels.length; i += 4) {
    if (pixels[i + 3]) inked++;
    if (pixels[i] === rgb[0] && pixels[i + 1] === rgb[1] && pixels[i + 2] === rgb[2]) coloured++;
  }
  const chart = Chart.getChart(id);
  return {inked, coloured, datasets: chart ? chart.data.datasets.length : 0,
          labels: chart ? chart.data.labels.length : 0};
}"""
WITHIN_BLUE = (11, 92, 173)  # #0b5cad: the cases within their limit
OPEN_GREY = (91, 103, 117)  # #5b6775: the trend's line of cases in a stage with a limit


def _in_town(system: System, household: Any) -> str:
    """A household taken in by a clerk of TOWN (the case is the town's)."""
    response = httpx.post(system.url("intake") + "/applications",
                          json={**household.application(), "town_code": TOWN},
                          headers=tokens(system).clerk(TOWN), timeout=30)
    assert response.status_code == 201, response.text
    return str(response.json()["case_id"])


def _awaiting_review(system: System) -> int:
    answer = httpx.get(system.url("approval") + "/dashboard/time-limits",
                       headers=tokens(system).approver(DISTRICT), timeout=10)
    assert answer.status_code == 200, answer.text
    return int(answer.json()["total"]["stages"]["awaiting_review"]["within"])


def test_the_dashboard_draws_both_charts_beside_its_tables(
        browser: Any, system: System, shots: Path) -> None:
    waiting = [h for h in HOUSEHOLDS[20:30] if h.expect == "approved"][:3]
    decided = HOUSEHOLDS[30:34]
    for household in waiting:
        _in_town(system, household)
    final_cases(system, [submit(system, h) for h in decided])
    wait_until(lambda: _awaiting_review(system) >= len(waiting), timeout_s=60,
               what="the town's cases at review")

    approver = Person(browser, system, "a-cixi")
    problems: list[str] = []
    page = approver.page
    # A failed load is told by its response below (the favicon, which the window has not, apart).
    page.on("console", lambda m: problems.append(m.text) if m.type == "error"
            and not m.text.startswith("Failed to load resource") else None)
    page.on("pageerror", lambda e: problems.append(str(e)))
    page.on("response", lambda r: problems.append(f"{r.status} {r.url}")
            if r.status >= 400 and not r.url.endswith("/favicon.ico") else None)
    try:
        approver.sign_in()
        page.click("nav a[href='/dashboard']")
        page.wait_for_url("**/dashboard")
        page.wait_for_function("() => window.Chart && Chart.getChart('chart-stages')"
                               " && Chart.getChart('chart-trend')")
        stages = page.evaluate(_DRAWN, ["chart-stages", list(WITHIN_BLUE)])
        assert stages["datasets"] == 4 and stages["labels"] >= 2, stages
        assert stages["inked"] > 5_000 and stages["coloured"] > 100, stages
        trend = page.evaluate(_DRAWN, ["chart-trend", list(OPEN_GREY)])
        assert trend["datasets"] == 3 and trend["labels"] == 90, trend
        assert trend["inked"] > 5_000 and trend["coloured"] > 50, trend
        assert page.is_visible("#chart-stages") and page.is_visible("#chart-trend")

        # The tables say the same, in Chinese: the town's cases, within their limit.
        review = page.inner_text("#stage-awaiting_review")
        assert review.startswith("待镇街审核") and str(len(waiting)) in review
        assert TOWN in page.inner_text("#dash-towns")
        assert "国务院办公厅节假日安排通知" in page.inner_text("#dash-calendar")
        assert page.is_visible("#dash-pending-none") or page.is_visible("#dash-pending")
        page.screenshot(path=str(shots / "dashboard.png"), full_page=True)

        with page.expect_download() as got:
            page.click("#dash-csv")
        csv = Path(got.value.path()).read_text(encoding="utf-8")
        assert csv.startswith("level,region_code,town_code,stage,open,within,near,past")
        assert f"town,{DISTRICT},{TOWN},awaiting_review," in csv
        # Nothing refused by the CSP, nothing missing, no script error.
        assert problems == [], problems

        # Without script: the same page, its tables, and no empty chart frames.
        plain = browser.new_context(java_script_enabled=False, locale="zh-CN")
        try:
            plain.add_cookies(approver.context.cookies())
            bare = plain.new_page()
            bare.goto(page.url)
            assert bare.is_visible("#dash-stages") and bare.is_visible("#dash-towns")
            assert not bare.is_visible("#chart-stages")
        finally:
            plain.close()
    finally:
        approver.close()
