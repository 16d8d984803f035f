"""The policy pages (政策管理, issue 22 §2) in a real browser, on the whole running system.

Cixi's first policy officer proposes a new Dibao standard through the form, in yuan; the page
offers them no approve button and says why (four eyes). The second officer approves it, the
browser lands on the recalculation's progress page, which reloads itself until approval's
worker has finished, and the history names both officers. A what-if simulation (政策测算)
shows its counts and towns as tables and draws its two Chart.js charts, served by the window
under its CSP; without script the tables alone. The browser, the people and the screenshots are
tests/e2e/test_window_browser.py's.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any

import pytest

from deploy.supervisor import System
from shared import clock
from tests.e2e.conftest import HOUSEHOLDS, final_cases, submit
from tests.e2e.test_window_browser import Person, browser, shots

pytestmark = pytest.mark.e2e
__all__ = ["browser", "shots"]  # the fixtures, used here by name

STANDARD = "dibao.monthly_standard_fen"


def _first_of_next_month(today: date) -> date:
    return date(today.year + today.month // 12, today.month % 12 + 1, 1)


def test_one_officer_proposes_and_another_approves_in_the_browser(
        browser: Any, system: System, shots: Path) -> None:
    first = Person(browser, system, "p-cixi-001")
    second = Person(browser, system, "p-cixi-002")
    try:
        first.sign_in()
        first.page.click("nav a[href='/policy']")
        first.page.click("a[href='/policy/new']")
        page = first.page
        page.select_option("#name", STANDARD)
        assert page.input_value("#region_code") == "330282"
        page.fill("#effective_from", _first_of_next_month(clock.today()).isoformat())
        page.fill("#value", "1,206.80")
        page.fill("#source", "慈政发〔2026〕99号（浏览器测试）")
        page.fill("#reason", "按上年度城乡居民人均消费支出调整")
        page.screenshot(path=str(shots / "policy-new.png"), full_page=True)
        page.click("form[action='/policy/new'] button[type=submit]")
        page.wait_for_url("**/policy/proposals/*")
        assert "1,206.80 元" in page.inner_text("main")
        proposal_id = page.url.split("/")[-1].split("?")[0]

        first.open("/policy")
        row = f"#p-{proposal_id}"
        assert "四眼原则" in first.page.inner_text(row)
        assert first.page.query_selector(f"{row} form[action$='/approve']") is None

        second.sign_in()
        second.open("/policy")
        second.page.screenshot(path=str(shots / "policy-proposals.png"), full_page=True)
        second.page.fill(f"#a-{proposal_id}", "同意")
        second.page.click(f"{row} form[action$='/approve'] button[type=submit]")
        second.page.wait_for_url("**/policy/recalculations/*")
        progress = second.page.url.split("?")[0].removeprefix(second.base)
        second.wait_for_text(progress, "#progress-title", "已完成")
        second.page.screenshot(path=str(shots / "policy-recalculation.png"), full_page=True)

        first.open(f"/policy/history?name={STANDARD}&region_code=330282")
        published = first.page.inner_text(f"#h-{proposal_id}")
        assert "policy_officer:p-cixi-001" in published
        assert "policy_officer:p-cixi-002" in published and "1,206.80 元" in published
    finally:
        first.close()
        second.close()


# Whether a chart drew: its canvas's pixels, and how many are the "after" bars' blue
# (static/policy_charts.js's AFTER, #0b5cad), so that axes and a legend alone do not pass.
_DRAWN = """(id) => {
  const canvas = document.getElementById(id);
  const pixels = canvas.getContext("2d").getImageData(0, 0, canvas.width, canvas.height).data;
  let inked = 0, blue = 0;
  for (let i = 0; i < pixels.length; i += 4) {
    if (pixels[i + 3]) inked++;
    if (pixels[i] === 11 && pixels[i + 1] === 92 && pixels[i + 2] === 173) blue++;
  }
  const chart = Chart.getChart(id);
  return {inked, blue, datasets: chart ? chart.data.datasets.length : 0,
          bars: chart ? chart.data.labels.length : 0};
}"""


def test_a_what_if_is_drawn_as_charts_beside_its_tables(
        browser: Any, system: System, shots: Path) -> None:
    # Recipients of Cixi first: a simulation of an empty district counts nothing, draws nothing.
    recipients = [h for h in HOUSEHOLDS[2:14] if h.expect == "approved"][:5]
    final_cases(system, [submit(system, h) for h in recipients])
    officer = Person(browser, system, "p-cixi-001")
    problems: list[str] = []
    page = officer.page
    # A failed load is told by its response below (the favicon, which the window has not, apart).
    page.on("console", lambda m: problems.append(m.text) if m.type == "error"
            and not m.text.startswith("Failed to load resource") else None)
    page.on("pageerror", lambda e: problems.append(str(e)))
    page.on("response", lambda r: problems.append(f"{r.status} {r.url}")
            if r.status >= 400 and not r.url.endswith("/favicon.ico") else None)
    try:
        officer.sign_in()
        officer.open("/policy")
        page.click("a[href='/policy/simulate']")
        page.select_option("#name", STANDARD)
        assert page.input_value("#region_code") == "330282"
        assert page.input_value("#effective_from") == _first_of_next_month(
            clock.today()).isoformat()
        page.fill("#value", "1,500.00")
        page.click("#what-if button[type=submit]")
        page.wait_for_url("**/policy/simulate?*")
        page.wait_for_function("() => window.Chart && Chart.getChart('chart-distribution')"
                               " && Chart.getChart('chart-towns')")
        assert int(page.inner_text("#sim-changed")) >= 1
        assert "元" in page.inner_text("#sim-change")
        for chart in ("chart-distribution", "chart-towns"):
            drawn = page.evaluate(_DRAWN, chart)
            assert drawn["datasets"] == 2 and drawn["bars"] >= 1, drawn
            assert drawn["inked"] > 5_000 and drawn["blue"] > 100, (chart, drawn)
        assert page.is_visible("#chart-towns") and page.is_visible("#sim-towns")
        page.screenshot(path=str(shots / "policy-simulation.png"), full_page=True)

        with page.expect_download() as got:
            page.click("#sim-csv")
        csv = Path(got.value.path()).read_text(encoding="utf-8")
        assert csv.startswith("town_code,recipients,before_fen,after_fen")
        assert "\n330282" in csv
        # Nothing refused by the CSP, nothing missing, no script error.
        assert problems == [], problems

        # Without script: the same page, its tables, and no empty chart frames.
        plain = browser.new_context(java_script_enabled=False, locale="zh-CN")
        try:
            plain.add_cookies(officer.context.cookies())
            bare = plain.new_page()
            bare.goto(page.url)
            assert bare.is_visible("#sim-towns") and bare.is_visible("#sim-distribution")
            assert not bare.is_visible("#chart-towns")
        finally:
            plain.close()
    finally:
        officer.close()
