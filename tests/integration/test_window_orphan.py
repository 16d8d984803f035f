"""The orphans' and de-facto unsupported children's allowance (孤儿、事实无人抚养儿童, issue 22 §5)
at the window: a clerk's form carries each child's guardianship facts to a real intake, intake's
422 comes back next to the field it names, and the case page shows each parent's situation as
declared and as the children's welfare record has it, flagged where they differ.

Intake and verification are their real apps (own migrations, SQLite) served by uvicorn with
their lifespans off (no broker): intake's ApplicationSubmitted is taken from its outbox and
handed to verification's handlers, as the consumer would. The window is its real app too,
served with its lifespan (migrations, demo accounts); each clerk is a browser of their own (an
httpx client with its cookies) that never follows redirects. Approval and payment are down: the
case page shows what it can without them.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import Engine, select

from deploy.households import resident_id
from deploy.tokens import DevTokens
from services.intake.adapters.tables import bus as intake_bus
from services.intake.bootstrap import create_app as create_intake
from services.verification.adapters.tables import bus as verification_bus
from services.verification.bootstrap import create_app as create_verification
from services.verification.bootstrap import packaged_monitoring
from services.verification.service_layer import partner_data as verification
from services.verification.service_layer.handlers import handlers as verification_handlers
from services.verification.service_layer.partner_data import IncomingRecord
from services.window.bootstrap import create_app as create_window
from services.window.entrypoints.i18n import label, translate
from services.window.service_layer.demo import DEMO_PASSWORD
from shared.bus.broker import free_port
from shared.events import catalogue as ev
from shared.events.envelope import Envelope
from shared.settings import Settings, load_settings
from shared.uow import UnitOfWork
from tests.conftest import migrated_engine
from tests.integration.test_window_policy import csrf, serving

DISTRICT, TOWN, CLERK = "330282", "330282001", "c-cixi-001"
TODAY = date.today()


@dataclass
class Running:
    settings: Settings
    window_url: str
    intake_url: str
    intake_db: Engine
    verification_db: Engine

    def clerk(self, lang: str = "zh") -> httpx.Client:
        """A browser with the town's clerk signed in at the window."""
        http = httpx.Client(base_url=self.window_url, follow_redirects=False, timeout=30,
                            cookies={"onedoor_lang": lang})
        form = http.get("/sign-in")
        done = http.post("/sign-in", data={"account": CLERK, "password": DEMO_PASSWORD,
                                           "csrf_token": csrf(form)})
        assert done.status_code == 303, done.text
        return http

    def intake_case(self, case_id: str) -> Any:
        """What intake itself answers a clerk of the district."""
        answer = httpx.get(f"{self.intake_url}/applications/{case_id}", timeout=10,
                           headers=DevTokens(self.settings).clerk(DISTRICT))
        assert answer.status_code == 200, answer.text
        return answer.json()

    def submitted(self, case_id: str) -> ev.ApplicationSubmitted:
        with self.intake_db.connect() as conn:
            value = conn.execute(select(intake_bus.outbox.c.value).where(
                intake_bus.outbox.c.key == case_id.encode())).scalar_one()
        return ev.ApplicationSubmitted.model_validate_json(value)

    def verify(self, case_id: str, child: str, mother_on_record: str) -> None:
        """The children's welfare system's record of the child's mother, then the application
        handed to verification, which reports on it."""
        with UnitOfWork(self.verification_db, verification_bus, "/test") as work:
            verification.publish_records(
                "child_welfare", [IncomingRecord(
                    record_id=f"cw-{case_id}", kind="mother_situation", resident_id=child,
                    amount_fen=0, as_of=TODAY, situation=mother_on_record)], work,
                pseudonym_key=self.settings.pseudonym_key.get_secret_value().encode(),
                monitoring=packaged_monitoring())
        event = self.submitted(case_id)
        with UnitOfWork(self.verification_db, verification_bus, "/test") as work:
            handler: Any = verification_handlers(packaged_monitoring())[type(event)]
            handler(event, Envelope(data=event, source="/test"), work)
            work.commit()


@pytest.fixture(scope="module")
def running(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Running]:
    data_dir: Path = tmp_path_factory.mktemp("window-orphan")
    ports = {name: free_port() for name in ("intake", "verification", "window")}
    urls = {name: f"http://127.0.0.1:{port}" for name, port in ports.items()}
    nowhere = f"http://127.0.0.1:{free_port()}"  # approval and payment are down
    dbs = {name: f"sqlite:///{data_dir / name}.db"
           for name in ("intake", "verification", "window")}
    settings = load_settings(env="test", data_dir=data_dir, intake_database_url=dbs["intake"],
                             verification_database_url=dbs["verification"],
                             window_database_url=dbs["window"], intake_url=urls["intake"],
                             verification_url=urls["verification"], approval_url=nowhere,
                             payment_url=nowhere)
    with migrated_engine(dbs["intake"], "intake") as intake_db, \
            migrated_engine(dbs["verification"], "verification") as verification_db:
        intake, verifying = create_intake(settings), create_verification(settings)
        try:
            with serving(intake, ports["intake"], "off"), \
                    serving(verifying, ports["verification"], "off"), \
                    serving(create_window(settings), ports["window"], "on"):
                yield Running(settings, urls["window"], urls["intake"], intake_db,
                              verification_db)
        finally:
            intake.state.runtime.engine.dispose()
            verifying.state.runtime.engine.dispose()


def household(sequence: int, programme: str = "orphan", **child: str) -> dict[str, str]:
    """A grandmother applying for her grandson of ten: the form's fields as a browser sends
    them (``child`` are the grandson's card's guardianship fields, by name)."""
    return {
        "programme": programme, "region_code": DISTRICT, "town_code": TOWN,
        "m0_name": "王秀英", "m0_resident_id": resident_id(DISTRICT, date(1962, 4, 4), sequence),
        "m0_relation": "applicant", "m0_consent_signed_on": TODAY.isoformat(),
        "m1_name": "王小明",
        "m1_resident_id": grandson_id(sequence),
        "m1_relation": "grandchild", **{f"m1_{name}": value for name, value in child.items()},
        "op": "submit"}


def grandson_id(sequence: int) -> str:
    return resident_id(DISTRICT, TODAY - timedelta(days=365 * 10), sequence + 2)


def submit(http: httpx.Client, fields: dict[str, str]) -> httpx.Response:
    """The new-application form, fetched (its CSRF token and form id) and sent with ``fields``."""
    page = http.get("/applications/new")
    assert page.status_code == 200, page.text
    form_id = re.search(r'name="form_id" value="([^"]*)"', page.text)
    assert form_id
    return http.post("/applications/new", data={"csrf_token": csrf(page),
                                                 "form_id": form_id.group(1), **fields})


def case_of(answer: httpx.Response) -> str:
    assert answer.status_code == 303, answer.text[:2000]
    found = re.fullmatch(r"/cases/([^/]+)/receipt", answer.headers["location"])
    assert found, answer.headers["location"]
    return found.group(1)


def zh(kind: str, code: str) -> str:
    return label(kind, code, "zh")


def test_the_form_offers_each_childs_guardianship_under_a_legend_saying_whom_it_is_for(running):
    page = running.clerk().get("/applications/new")
    assert page.status_code == 200
    card = page.text.split('data-index="0"', 1)[1].split('id="member-template"', 1)[0]
    # Present without JavaScript on every card (app.js hides it for the other programmes).
    assert 'class="guardianship" data-programme="orphan"' in card
    assert translate("guardianship_legend", "zh") in card
    for name in ("father", "mother", "child_care", "schooling"):
        assert f'<select id="m0_{name}" name="m0_{name}"' in card
    for code in ("present", "deceased", "missing", "severely_disabled", "seriously_ill",
                 "imprisoned", "compulsory_isolation", "restricted_liberty", "lost_contact",
                 "guardianship_revoked", "deported"):
        assert f'<option value="{code}" >{zh("parent_situation", code)}</option>' in card
    assert "被遣送(驱逐)出境" in card and "集中养育" in card and "考入大学" in card
    assert 'data-programme="orphan"' in page.text.split('id="member-template"', 1)[1]


def test_an_orphan_application_reaches_intake_with_the_childs_guardianship(running):
    answer = submit(running.clerk(), household(101, father="deceased", mother="imprisoned",
                                               child_care="family", schooling="in_school"))
    case_id = case_of(answer)
    shown = running.intake_case(case_id)
    assert shown["programme"] == "orphan"
    assert {k: shown["members"][1][k] for k in ("father", "mother", "child_care",
                                                "schooling")} == {
        "father": "deceased", "mother": "imprisoned", "child_care": "family",
        "schooling": "in_school"}
    assert [shown["members"][0][k] for k in ("father", "mother", "child_care",
                                             "schooling")] == [None] * 4
    facts = running.submitted(case_id).members[1]
    assert (facts.father, facts.mother, facts.child_care, facts.schooling) == (
        "deceased", "imprisoned", "family", "in_school")


def test_a_missing_mothers_situation_is_intakes_422_next_to_its_field(running):
    answer = submit(running.clerk(), household(111, father="deceased", child_care="institution"))
    assert answer.status_code == 422, answer.text[:2000]
    page = answer.text
    required = "孤儿、事实无人抚养儿童保障必填"
    assert f'<p class="error" id="m1_mother-error">{required}</p>' in page
    assert re.search(r'<select id="m1_mother" name="m1_mother" aria-invalid="true" '
                     r'aria-describedby="m1_mother-error">', page)
    assert f'<a href="#m1_mother">{required}</a>' in page  # in the summary, linked to it
    # Only that field: what was chosen comes back chosen, and nothing else is flagged.
    assert re.findall(r'id="(m\d_\w+)-error"', page) == ["m1_mother"]
    assert '<option value="deceased" selected>' in page.split('id="m1_father"', 1)[1]
    assert '<option value="institution" selected>' in page.split('id="m1_child_care"', 1)[1]
    english = submit(running.clerk("en"), household(113, father="deceased",
                                                    child_care="institution"))
    assert english.status_code == 422
    assert ('<p class="error" id="m1_mother-error">required for a child of the orphans\' '
            "allowance</p>") in english.text.replace("&#39;", "'")


def test_guardianship_left_on_the_form_is_not_sent_for_another_programme(running):
    """Chosen, then the programme changed: the hidden fields still hold their values (and show
    without JavaScript), but intake would refuse them on a Dibao application."""
    answer = submit(running.clerk(), household(121, programme="dibao", father="deceased",
                                               mother="deceased", child_care="family"))
    case_id = case_of(answer)
    shown = running.intake_case(case_id)
    assert shown["programme"] == "dibao"
    assert [shown["members"][1][k] for k in ("father", "mother", "child_care")] == [None] * 3


def test_the_case_page_shows_the_situations_declared_and_on_record_flagged_where_they_differ(
        running):
    case_id = case_of(submit(running.clerk(), household(
        131, father="deceased", mother="imprisoned", child_care="family")))
    clerk = running.clerk()
    before = clerk.get(f"/cases/{case_id}")  # no report yet: what was declared
    assert before.status_code == 200, before.text[:2000]
    section = before.text.split('id="guardianship"', 1)[1].split("</section>", 1)[0]
    row = section.split('id="guardianship-2"', 1)[1].split("</tr>", 1)[0]
    assert "王小明" in row and zh("relation", "grandchild") in row
    assert zh("parent_situation", "deceased") in row and "服刑在押" in row
    assert "社会散居" in row and translate("unknown", "zh") in row  # schooling not declared
    assert 'id="guardianship-1"' not in section  # the grandmother declared none
    assert "record-differs" not in section

    running.verify(case_id, grandson_id(131), mother_on_record="deceased")
    after = clerk.get(f"/cases/{case_id}")
    section = after.text.split('id="guardianship"', 1)[1].split("</section>", 1)[0]
    father, mother = (section.split(f'<td class="{who}">', 1)[1].split("</td>", 1)[0]
                      for who in ("father", "mother"))
    assert father == zh("parent_situation", "deceased")  # nothing on record: no flag
    assert mother.startswith("服刑在押")
    assert f"{translate('situation_on_record', 'zh')}：死亡" in mother
    assert translate("record_differs", "zh") in mother and "record-differs" in mother
    assert translate("guardianship_record_note", "zh") in section

    english = running.clerk("en").get(f"/cases/{case_id}")
    section = english.text.split('id="guardianship"', 1)[1].split("</section>", 1)[0]
    assert "Serving a sentence, in custody" in section
    assert "On the children&#39;s welfare record：Dead (or declared dead)" in section
    assert "Differs from the declaration: the record decides" in section


def test_a_case_of_another_programme_shows_no_guardianship(running):
    case_id = case_of(submit(running.clerk(), household(141, programme="dibao")))
    page = running.clerk().get(f"/cases/{case_id}")
    assert page.status_code == 200
    assert 'id="guardianship"' not in page.text
