"""The window's API for every programme: one 422 naming the bad fields, and the case shown back
with the facts it was asked for. The app runs on a migrated database without its bus (no
lifespan): what it publishes waits in the outbox, where the test reads it."""

from datetime import date

import httpx
import pytest
from sqlalchemy import select

from deploy.households import resident_id
from deploy.tokens import DevTokens
from services.intake.adapters.tables import bus
from services.intake.bootstrap import create_app
from shared.settings import load_settings
from tests.conftest import migrated_engine

TODAY = date.today().isoformat()


@pytest.fixture
async def client(database_url, tmp_path):
    with migrated_engine(database_url, "intake") as engine:
        settings = load_settings(env="test", intake_database_url=database_url, data_dir=tmp_path)
        app = create_app(settings)
        try:
            # As a clerk of the district signed in at the window: the API takes nobody else.
            async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                         base_url="http://intake",
                                         headers=DevTokens(settings).clerk("330282")) as http:
                yield http, engine
        finally:
            app.state.runtime.engine.dispose()


def applicant(sequence: int, **facts) -> dict:
    return {"name": "孙七", "resident_id": resident_id("330282", date(1958, 6, 6), sequence),
            "relation": "applicant", "consent_signed_on": TODAY, **facts}


async def test_a_temporary_application_is_shown_back_and_its_description_stays_here(client):
    http, engine = client
    response = await http.post("/applications", json={
        "region_code": "330282", "programme": "temporary",
        "members": [applicant(41, able_to_work=True)],
        "temporary": {"kind": "spending", "requested_amount_fen": 800_000, "cause": "illness",
                      "rigid_medical_spending_fen": 6_500_000,
                      "description": "丈夫住院，自付医疗费六万五千元"},
        "referrals": ["medical"]})
    assert response.status_code == 201, response.text
    shown = (await http.get(response.headers["Location"])).json()
    assert shown["status"] == "submitted"
    assert shown["temporary"] == {"kind": "spending", "requested_amount_fen": 800_000,
                                  "cause": "illness", "rigid_medical_spending_fen": 6_500_000,
                                  "description": "丈夫住院，自付医疗费六万五千元"}
    assert shown["referrals"] == ["medical"]
    assert (shown["legal_supporters"], shown["care_mode"]) == ([], None)
    assert shown["members"][0]["able_to_work"] is True
    assert shown["members"][0]["disability_grade"] is None
    with engine.connect() as conn:
        value = conn.execute(select(bus.outbox.c.value)).scalar_one()
    assert "住院".encode() not in value and b"6500000" in value


async def test_an_extreme_hardship_application_is_shown_back(client):
    http, _ = client
    response = await http.post("/applications", json={
        "region_code": "330282", "programme": "tekun",
        "members": [applicant(43, disability_grade=2, able_to_work=False, self_care="partial")],
        "legal_supporters": [{"relation": "child", "able_to_support": False}],
        "care_mode": "centralised"})
    assert response.status_code == 201, response.text
    shown = (await http.get(response.headers["Location"])).json()
    assert shown["legal_supporters"] == [{"relation": "child", "able_to_support": False}]
    assert shown["care_mode"] == "centralised"
    assert {k: shown["members"][0][k] for k in ("disability_grade", "able_to_work",
                                                "self_care")} == \
        {"disability_grade": 2, "able_to_work": False, "self_care": "partial"}


async def test_one_422_names_every_malformed_field(client):
    http, engine = client
    response = await http.post("/applications", json={
        "region_code": "330282", "programme": "temporary",
        "members": [applicant(45, disability_grade=7, self_care="mostly")],
        "legal_supporters": [{"relation": "child", "able_to_support": True, "name": "孙八"}],
        "temporary": {"kind": "emergency", "requested_amount_fen": -5, "cause": "fire"}})
    assert response.status_code == 422
    assert {tuple(d["loc"]) for d in response.json()["detail"]} == {
        ("body", "members", 0, "disability_grade"), ("body", "members", 0, "self_care"),
        ("body", "legal_supporters", 0, "name"), ("body", "temporary", "requested_amount_fen")}
    with engine.connect() as conn:
        assert conn.execute(select(bus.outbox)).first() is None


async def test_one_422_names_every_rule_the_programme_breaks(client):
    http, engine = client
    response = await http.post("/applications", json={
        "region_code": "330282", "programme": "tekun",
        "members": [applicant(47), {**applicant(49), "relation": "sibling"}],
        "referrals": ["housing", "housing"]})
    assert response.status_code == 422
    assert {tuple(d["loc"]): d["msg"] for d in response.json()["detail"]} == {
        ("body", "members"): "extreme-hardship support is for one person: list the applicant"
                             " only (found 2)",
        ("body", "members", 0, "self_care"): "required for extreme-hardship support",
        ("body", "referrals", 1): "'housing' is listed twice"}
    with engine.connect() as conn:
        assert conn.execute(select(bus.outbox)).first() is None
