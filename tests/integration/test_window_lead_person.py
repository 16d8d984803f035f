"""A lead's person in the window (issue 26): on the monitoring page a reviewer asks who a lead is
with a reason; the answer is shown once, on the page that answers the form, sent with
``Cache-Control: no-store``, and shown nowhere after.

Verification is its real app (own migrations, SQLite) served by uvicorn with its lifespan off,
asking medical insurance — deploy/partner_simulator.py under uvicorn — over real HTTP; the lead is
made by the bureau's bill sent to verification's API, as in test_window_monitoring.py. The window
is its real app, served with its lifespan (migrations, demo accounts); each person signs in with
a browser of their own (an httpx client with its cookies)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from deploy.partner_simulator import Behaviour, Record, build_app
from services.verification.bootstrap import _demo_credentials
from services.verification.bootstrap import create_app as create_verification
from services.window.bootstrap import create_app as create_window
from services.window.entrypoints.i18n import translate
from services.window.service_layer.demo import DEMO_PASSWORD
from shared.bus.broker import free_port
from shared.settings import load_settings
from tests.conftest import migrated_engine
from tests.integration.test_monitoring import RECENT, STRANGER, TOWN, publish
from tests.integration.test_partner_publications import Service, rec
from tests.integration.test_window_policy import csrf, serving

APPROVER, AUDITOR = "a-cixi", "au-001"  # the district's approver; an auditor, everywhere
NAME, PHONE = "孙七", "13857400000"
REASON = "入户核实大额医疗支出"


@dataclass
class Running:
    window: str
    behaviour: Behaviour  # the pretend medical-insurance bureau's counters


@pytest.fixture
def running(tmp_path: Path) -> Iterator[Running]:
    ports = {"verification": free_port(), "window": free_port(), "partner": free_port()}
    urls = {name: f"http://127.0.0.1:{port}" for name, port in ports.items()}
    nowhere = f"http://127.0.0.1:{free_port()}"
    database = f"sqlite:///{tmp_path / 'verification.db'}"
    settings = load_settings(env="test", data_dir=tmp_path, verification_database_url=database,
                             window_database_url=f"sqlite:///{tmp_path / 'window.db'}",
                             verification_url=urls["verification"], intake_url=nowhere,
                             approval_url=nowhere, payment_url=nowhere,
                             verification_live_sources={"medical_insurance": urls["partner"]})
    behaviour = Behaviour()
    partner = build_app(settings.pseudonym_key.get_secret_value().encode(), "medical_insurance",
                        behaviour, [Record(record_id="m-1", kind="large_medical_bill",
                                           resident_id=STRANGER, amount_fen=2_400_000,
                                           as_of=RECENT, name=NAME, phone=PHONE)])
    with migrated_engine(database, "verification") as engine:
        app = create_verification(settings)
        _demo_credentials(app.state.runtime, production=False)
        try:
            publish(Service(app, engine, settings), "medical_insurance", rec(
                "m-1", "large_medical_bill", STRANGER, 2_400_000, as_of=RECENT, town_code=TOWN))
            with serving(partner, ports["partner"], "off"), \
                    serving(app, ports["verification"], "off"), \
                    serving(create_window(settings), ports["window"], "on"):
                yield Running(urls["window"], behaviour)
        finally:
            app.state.runtime.engine.dispose()


@contextmanager
def _signed_in(url: str, account: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=url, follow_redirects=False, timeout=30) as browser:
        done = browser.post("/sign-in", data={"account": account, "password": DEMO_PASSWORD,
                                              "csrf_token": csrf(browser.get("/sign-in"))})
        assert done.status_code == 303, done.text
        yield browser


def _form_action(page: str) -> str:
    """The look-up form's action: the lead's own."""
    found = re.search(r'action="(/monitoring/leads/[0-9a-f-]{36}/person)"', page)
    assert found, page[:500]
    return found.group(1)


def test_the_answer_is_shown_once_with_no_store(running):
    with _signed_in(running.window, APPROVER) as browser:
        queue = browser.get("/monitoring")
        assert queue.status_code == 200 and translate("look_up_person", "zh") in queue.text
        action = _form_action(queue.text)

        # A form from elsewhere (no session's token) asks nobody.
        assert browser.post(action, data={"reason": REASON}).status_code == 403
        # No reason: refused where it is typed, and nobody is asked.
        refused = browser.post(action, data={"csrf_token": csrf(queue), "reason": "  "})
        assert refused.status_code == 422
        assert translate("lookup_no_reason", "zh") in refused.text
        assert running.behaviour.resolutions == 0

        shown = browser.post(action, data={"csrf_token": csrf(queue), "reason": REASON})
        assert shown.status_code == 200, shown.text[:500]
        assert shown.headers["cache-control"] == "no-store"
        assert NAME in shown.text and STRANGER in shown.text and PHONE in shown.text
        assert translate("lookup_once", "zh") in shown.text
        assert running.behaviour.resolutions == 1

        # Nowhere after: the queue (open and closed) shows the pseudonym only.
        for page in (browser.get("/monitoring"), browser.get("/monitoring?closed=true")):
            assert page.status_code == 200
            assert NAME not in page.text and STRANGER not in page.text and PHONE not in page.text


def test_an_auditor_reads_the_lead_but_is_offered_no_look_up_and_is_refused_one(running):
    with _signed_in(running.window, APPROVER) as approver:
        action = _form_action(approver.get("/monitoring").text)
    lead_id = action.split("/")[3]
    with _signed_in(running.window, AUDITOR) as auditor:
        queue = auditor.get("/monitoring")
        assert queue.status_code == 200 and f'id="l-{lead_id}"' in queue.text
        assert translate("look_up_person", "zh") not in queue.text
        refused = auditor.post(action, data={"csrf_token": csrf(queue), "reason": REASON})
        assert refused.status_code == 403 and NAME not in refused.text
    assert running.behaviour.resolutions == 0
