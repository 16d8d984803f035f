"""The policy pages (政策管理, issue 22 §2) in a real browser, on the whole running system.

Cixi's first policy officer proposes a new Dibao standard through the form, in yuan; the page
offers them no approve button and says why (four eyes). The second officer approves it, the
browser lands on the recalculation's progress page, which reloads itself until approval's
worker has finished, and the history names both officers. The browser, the people and the
screenshots are tests/e2e/test_window_browser.py's.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any

import pytest

from deploy.supervisor import System
from shared import clock
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
