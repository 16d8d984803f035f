"""The home survey on a phone (入户调查, issue 26) in a real browser at a phone's viewport
(390×844), on the whole running system.

A household of Cixi's first town is taken in; once its report is in, the town's social worker
signs in on a phone-sized page, opens the town's cases to survey, fills in the survey and takes
a photo of a document. The connection drops: sending fails, the page says so and the draft stays
in the browser. Back online, the page is reloaded and the draft is restored, photo included, and
sent — and the answer is lost on the way back: the survey reached approval, the page says it was
not sent. Sent again (and its request replayed once more), it is recorded once. The town's
reviewer then finds the one survey on the case — checklist, notes and the photo, served through
the window — and the acceptance no longer asks for a survey. Drafts do not stay on the phone: one
started more than a week ago is discarded when a page loads, which says so, and signing out
leaves no survey draft in the browser. The browser, the people and the screenshots are
tests/e2e/test_window_browser.py's.
"""

from __future__ import annotations

import re
import struct
import zlib
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from deploy.supervisor import System
from shared import clock
from shared.auth.principals import Role
from tests.conftest import wait_until
from tests.e2e.conftest import HOUSEHOLDS, tokens
from tests.e2e.test_window_browser import Person, browser, shots

pytestmark = pytest.mark.e2e
__all__ = ["browser", "shots"]  # the fixtures, used here by name

TOWN = "330282001"
PHONE = {"width": 390, "height": 844}
HOUSEHOLD = HOUSEHOLDS[2]  # three people of the first town, found eligible
assert HOUSEHOLD.town_code == TOWN and HOUSEHOLD.expect == "approved"
NOTES = "入户所见：三口之家租住老房，屋顶漏雨（手机浏览器测试）"
UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}")
DRAFTS = "Object.keys(localStorage).filter(k => k.startsWith('onedoor.survey.')).sort()"


def _photo(path: Path, width: int = 320, height: int = 240) -> Path:
    """A real PNG (a grey gradient), as a phone's camera would hand the page an image."""
    row = b"\x00" + bytes(v for x in range(width) for v in (x * 255 // width,) * 3)
    rows = row * height

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (struct.pack(">I", len(data)) + kind + data
                + struct.pack(">I", zlib.crc32(kind + data)))
    path.write_bytes(b"\x89PNG\r\n\x1a\n"
                     + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
                     + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b""))
    return path


def _awaiting_survey(system: System) -> str:
    """The household taken in by a clerk of the town, once approval holds it at the town."""
    answer = httpx.post(system.url("intake") + "/applications", json=HOUSEHOLD.application(),
                        headers=tokens(system).clerk(TOWN), timeout=30)
    assert answer.status_code == 201, answer.text
    case_id = str(answer.json()["case_id"])
    worker = tokens(system).headers(Role.SOCIAL_WORKER, "s-cixi-001", TOWN)

    def listed() -> bool:
        cases = httpx.get(system.url("approval") + "/surveys/cases", headers=worker,
                          timeout=10).json()["cases"]
        return any(c["case_id"] == case_id and c["stage"] == "awaiting_review" for c in cases)
    wait_until(listed, timeout_s=60, what="the case at the town's review")
    return case_id


def _surveys(system: System, case_id: str) -> list[dict[str, Any]]:
    """The case's surveys as approval keeps them."""
    case = httpx.get(system.url("approval") + f"/cases/{case_id}",
                     headers=tokens(system).reviewer(TOWN), timeout=10)
    assert case.status_code == 200, case.text
    return list(case.json()["home_surveys"])


def _fill(page: Any, photo: Path) -> None:
    page.fill("#surveyed_on", clock.today().isoformat())
    page.fill("#surveyors", "s-cixi-001, r-cixi-001")
    page.fill("#members_living", "3")
    page.fill("#members_present", "2")
    page.fill("#able_to_work", "2")
    page.fill("#partly_able", "0")
    page.fill("#unable_to_work", "1")
    page.select_option("#housing_tenure", "rented")
    page.check("#housing_state-poor")
    page.fill("#motorcycles", "1")
    for item in ("tv", "fridge", "student"):
        page.check(f"#item-{item}")
    page.check("#outcome-as_declared")
    page.fill("#notes", NOTES)
    page.select_option("#photo_kind", "household_register")
    page.set_input_files("#photo", str(photo))
    page.wait_for_selector("#photo-list li img")


def test_a_survey_taken_offline_on_a_phone_reaches_the_reviewer(
        browser: Any, system: System, shots: Path, tmp_path: Path) -> None:
    case_id = _awaiting_survey(system)
    worker = Person(browser, system, "s-cixi-001", viewport=PHONE)
    reviewer = Person(browser, system, "r-cixi-001")
    problems: list[str] = []
    page = worker.page
    page.on("pageerror", lambda e: problems.append(str(e)))
    try:
        worker.sign_in()
        page.click("#home-surveys")
        page.wait_for_url("**/surveys")
        page.click(f"#survey-{case_id}")
        page.wait_for_url(f"**/surveys/{case_id}")
        _fill(page, _photo(tmp_path / "hukou.png"))
        # One column at the phone's width: nothing runs off the side, the send button is big.
        assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
        box = page.locator("#survey-send").bounding_box()
        assert box["height"] >= 44 and box["width"] >= PHONE["width"] * 0.8, box
        page.screenshot(path=str(shots / "survey-phone.png"), full_page=True)

        # The line drops: the send fails, the page says so, the draft stays in the browser.
        worker.context.set_offline(True)
        page.click("#survey-send")
        page.wait_for_function("() => document.getElementById('survey-status').textContent"
                               ".includes('未能提交')")
        assert page.url.endswith(f"/surveys/{case_id}")
        key = f"onedoor.survey.s-cixi-001.{case_id}"
        draft = page.evaluate(f"JSON.parse(localStorage.getItem('{key}'))")
        assert draft["fields"]["notes"] == NOTES and len(draft["photos"]) == 1
        survey_id = draft["survey_id"]  # made in the browser when the draft started
        assert UUID.fullmatch(survey_id), survey_id

        # Back online, the page reloaded: the draft comes back, photo and all, and is sent.
        worker.context.set_offline(False)
        page.reload()
        page.wait_for_function("() => document.getElementById('survey-status').textContent"
                               ".includes('已恢复')")
        assert page.input_value("#notes") == NOTES and page.input_value("#members_living") == "3"
        assert page.is_checked("#item-student") and page.is_checked("#housing_state-poor")
        assert page.locator("#photo-list li img").count() == 1

        # Sent, and the line drops as approval answers: the survey is recorded, the page hears
        # nothing back, says it was not sent and keeps the draft under the same survey id.
        posted: list[Any] = []

        def answer_lost(route: Any) -> None:
            posted.append(route.request)
            route.fetch()  # through the window to approval; its answer goes nowhere
            route.abort("connectionreset")
        page.route(f"**/surveys/{case_id}", answer_lost)
        page.click("#survey-send")
        page.wait_for_function("() => document.getElementById('survey-status').textContent"
                               ".includes('未能提交')")
        page.unroute(f"**/surveys/{case_id}")
        [request] = posted
        assert request.method == "POST"
        assert [s["survey_id"] for s in _surveys(system, case_id)] == [survey_id]
        assert page.evaluate(f"JSON.parse(localStorage.getItem('{key}')).survey_id") == survey_id

        # Sent again: approval has it already, so it answers as it did and records nothing more.
        page.click("#survey-send")
        page.wait_for_url(f"**/surveys?sent={case_id}")
        assert case_id in page.inner_text("#survey-sent")
        assert page.evaluate(f"localStorage.getItem('{key}')") is None
        # The very same post once more, replayed as it went: the same survey, nothing added.
        replayed = worker.context.request.post(
            worker.base + f"/surveys/{case_id}", data=request.post_data_buffer,
            headers={"Content-Type": request.headers["content-type"],
                     "Accept": "application/json"})
        assert replayed.status == 201, replayed.text()
        assert replayed.json()["survey_id"] == survey_id
        assert [s["survey_id"] for s in _surveys(system, case_id)] == [survey_id]
        # A social worker reads no case: the case page is refused.
        refused = worker.open(f"/cases/{case_id}")
        assert refused is not None and refused.status == 403

        # The town's reviewer finds the survey on the case, the photo shown through the window.
        reviewer.sign_in()
        reviewer.open(f"/cases/{case_id}")
        record = reviewer.page.locator(".survey-record")
        assert record.count() == 1
        text = record.inner_text()
        assert NOTES in text and "与申报一致" in text and "较差" in text and "有在学子女" in text
        img = reviewer.page.locator(".survey-record .thumbs img")
        img.wait_for()
        reviewer.page.wait_for_function(
            "() => document.querySelector('.survey-record .thumbs img').naturalWidth > 0")
        # Made smaller and sent as JPEG by the page: what approval keeps and serves back.
        src = img.get_attribute("src")
        served = reviewer.context.request.get(reviewer.base + src)
        assert served.status == 200 and served.headers["content-type"] == "image/jpeg"
        # The acceptance no longer asks for a survey on its form.
        assert reviewer.page.locator("#action-accept").count() == 1
        assert reviewer.page.locator("#accept-surveyed_on").count() == 0
        reviewer.page.screenshot(path=str(shots / "case-survey.png"), full_page=True)

        # A new draft of the case is a new survey. Started more than a week ago, it is
        # discarded when a page loads, and the page says so; a younger draft stays.
        worker.open(f"/surveys/{case_id}")
        page.fill("#notes", "第二次入户")
        page.wait_for_function(f"() => localStorage.getItem('{key}') !== null")
        second = page.evaluate(f"JSON.parse(localStorage.getItem('{key}'))")
        assert UUID.fullmatch(second["survey_id"]) and second["survey_id"] != survey_id
        old = (datetime.now(UTC) - timedelta(days=8)).isoformat()
        young = (datetime.now(UTC) - timedelta(days=6)).isoformat()
        page.evaluate("([key, old, young]) => {"
                      " const d = JSON.parse(localStorage.getItem(key));"
                      " localStorage.setItem(key, JSON.stringify({...d, started_at: old}));"
                      " localStorage.setItem('onedoor.survey.s-cixi-001.other',"
                      "   JSON.stringify({...d, started_at: young})); }", [key, old, young])
        page.reload()
        page.locator("#drafts-expired").wait_for()
        assert "7 天" in page.inner_text("#drafts-expired")
        assert page.input_value("#notes") == ""
        assert page.evaluate(DRAFTS) == ["onedoor.survey.s-cixi-001.other"]
        assert "7 天" in page.inner_text("#draft-rules")

        # Signing out leaves no survey draft in the browser, whichever case it was of.
        page.fill("#notes", "退出前的草稿")
        page.wait_for_function(f"() => localStorage.getItem('{key}') !== null")
        page.click("form[action='/sign-out'] button[type=submit]")
        page.wait_for_url("**/sign-in**")
        assert page.evaluate(DRAFTS) == []
        assert problems == [], problems
    finally:
        worker.close()
        reviewer.close()
