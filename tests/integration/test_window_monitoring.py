"""The window's monitoring queue in the reader's language (issue 26): verification words each
warning's and lead's reason (a code and its figures) in the language the window asks for, and
the page shows that one language only.

Verification is its real app (own migrations, SQLite) served by uvicorn with its lifespan off
(no broker): the application and its decision are handed to its handlers, and the partner files
sent to its API, as in tests/integration/test_monitoring.py. The window is its real app, served
with its lifespan (migrations, demo accounts); the district approver reads the queue in a
browser of their own (an httpx client with its cookies)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from services.verification.bootstrap import _demo_credentials
from services.verification.bootstrap import create_app as create_verification
from services.window.bootstrap import create_app as create_window
from services.window.service_layer.demo import DEMO_PASSWORD
from shared.bus.broker import free_port
from shared.settings import load_settings
from tests.conftest import migrated_engine
from tests.integration.test_monitoring import (
    MOTHER,
    RECENT,
    STRANGER,
    TOWN,
    apply,
    approve,
    publish,
    ref,
)
from tests.integration.test_partner_publications import Service, rec
from tests.integration.test_window_policy import csrf, serving

APPROVER = "a-cixi"  # the district's: sees its towns' warnings and leads


@pytest.fixture
def window_url(tmp_path: Path) -> Iterator[tuple[str, str]]:
    """The window's URL, with a warning (a death) and a lead (large bills) in verification;
    and the dead member's reference as a reason shows it."""
    ports = {"verification": free_port(), "window": free_port()}
    urls = {name: f"http://127.0.0.1:{port}" for name, port in ports.items()}
    nowhere = f"http://127.0.0.1:{free_port()}"
    database = f"sqlite:///{tmp_path / 'verification.db'}"
    settings = load_settings(env="test", data_dir=tmp_path, verification_database_url=database,
                             window_database_url=f"sqlite:///{tmp_path / 'window.db'}",
                             verification_url=urls["verification"], intake_url=nowhere,
                             approval_url=nowhere, payment_url=nowhere)
    with migrated_engine(database, "verification") as engine:
        app = create_verification(settings)
        _demo_credentials(app.state.runtime, production=False)
        try:
            service = Service(app, engine, settings)
            apply(service, wage_fen=150_000)
            approve(service)
            publish(service, "public_security", rec("d-1", "death", MOTHER))
            publish(service, "medical_insurance", rec(
                "m-1", "large_medical_bill", STRANGER, 2_400_000, as_of=RECENT, town_code=TOWN))
            with serving(app, ports["verification"], "off"), \
                    serving(create_window(settings), ports["window"], "on"):
                yield urls["window"], ref(service, MOTHER)[:12]
        finally:
            app.state.runtime.engine.dispose()


def _queue(url: str, lang: str) -> str:
    with httpx.Client(base_url=url, follow_redirects=False, timeout=30,
                      cookies={"onedoor_lang": lang}) as browser:
        done = browser.post("/sign-in", data={"account": APPROVER, "password": DEMO_PASSWORD,
                                              "csrf_token": csrf(browser.get("/sign-in"))})
        assert done.status_code == 303, done.text
        page = browser.get("/monitoring")
    assert page.status_code == 200, page.text[:500]
    return page.text


def test_the_queue_shows_each_reason_in_the_readers_language_only(window_url):
    url, member = window_url
    chinese = _queue(url, "zh")
    assert f"成员 {member} 于 2026-11-30 登记死亡，其认定月收入 ¥1,500.00" in chinese
    assert "12 个月内大额医疗费用个人负担 1 笔，共 ¥24,000.00" in chinese
    assert "deceased" not in chinese and "personal share" not in chinese
    english = _queue(url, "en")
    assert (f"member {member} recorded deceased on 2026-11-30; counted income ¥1,500.00 a month"
            in english)
    assert "1 large medical bill(s) of ¥24,000.00 in 12 months, personal share" in english
    assert "登记死亡" not in english and "个人负担" not in english
