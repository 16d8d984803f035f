"""Idempotency-Keys are their caller's, and a member's open case elsewhere is not named (issue 21),
on SQLite and PostgreSQL: a clerk of one town who sends a key another town used learns nothing
of it — neither the other town's case id (a 201) nor that the key was used (a 409). Keys stored
before keys had callers keep answering the identical request in their jurisdiction."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, date, datetime
from pathlib import Path

import httpx
import pytest
from alembic import command
from alembic.config import Config
from sqlalchemy import func, insert, select, text

from deploy.households import resident_id
from deploy.tokens import DevTokens
from services.intake.adapters.tables import cases, idempotency_keys
from services.intake.bootstrap import create_app
from services.intake.entrypoints.schemas import ApplicationIn
from shared.db import make_engine
from shared.settings import load_settings
from tests.conftest import ROOT, migrated_engine
from tests.integration.test_payment_banks import REGION, Payment, account_for, approve

TODAY = date.today().isoformat()
TOWN_A, TOWN_B = "330282001", "330282002"


@pytest.fixture
async def intake(database_url, tmp_path):
    with migrated_engine(database_url, "intake") as engine:
        settings = load_settings(env="test", intake_database_url=database_url, data_dir=tmp_path)
        app = create_app(settings)
        try:
            async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                         base_url="http://intake") as http:
                yield http, engine, DevTokens(settings)
        finally:
            app.state.runtime.engine.dispose()


def application(sequence: int) -> dict:
    # No town_code: each town's clerk takes it for their own town.
    return {"region_code": "330282", "programme": "dibao", "members": [{
        "name": "孙七", "resident_id": resident_id("330282", date(1958, 6, 6), sequence),
        "relation": "applicant", "consent_signed_on": TODAY}]}


async def test_a_key_another_town_used_is_a_new_key_and_its_case_is_not_named(intake):
    http, engine, tokens = intake
    key = {"Idempotency-Key": "double-click-1"}
    first = await http.post("/applications", json=application(61),
                            headers={**key, **tokens.clerk(TOWN_A)})
    assert first.status_code == 201, first.text
    theirs = first.json()["case_id"]
    # The same body and key from town B: not town A's case, but a submission of its own, which
    # finds the person in an open case it may not name.
    replay = await http.post("/applications", json=application(61),
                             headers={**key, **tokens.clerk(TOWN_B)})
    assert replay.status_code == 422, replay.text
    assert theirs not in replay.text
    assert replay.json()["detail"] == [{
        "type": "value_error", "loc": ["body", "members", 0, "resident_id"],
        "msg": "already has an open case for dibao"}]
    # Another body under the key: town B's own new case, not a 409 saying the key was used.
    other = await http.post("/applications", json=application(63),
                            headers={**key, **tokens.clerk(TOWN_B)})
    assert other.status_code == 201, other.text
    assert other.json()["case_id"] != theirs
    # Each town's replay answers its own case.
    for town, case_id in ((TOWN_A, theirs), (TOWN_B, other.json()["case_id"])):
        again = await http.post("/applications", json=application(61 if town == TOWN_A else 63),
                                headers={**key, **tokens.clerk(town)})
        assert (again.status_code, again.json()["case_id"]) == (201, case_id)
    # And within its town the key still refuses another body.
    assert (await http.post("/applications", json=application(65),
                            headers={**key, **tokens.clerk(TOWN_A)})).status_code == 409
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(cases)).scalar_one() == 2


async def test_the_open_case_is_named_to_staff_whose_jurisdiction_covers_it(intake):
    http, _, tokens = intake
    first = await http.post("/applications", json=application(67), headers=tokens.clerk(TOWN_A))
    assert first.status_code == 201, first.text
    again = await http.post("/applications", json=application(67),
                            headers=tokens.clerk("330282"))  # the district's clerk
    assert again.status_code == 422
    [problem] = again.json()["detail"]
    assert problem["msg"] == f"already has an open case for dibao: {first.json()['case_id']}"


async def test_a_key_stored_before_callers_answers_only_the_identical_request_in_reach(intake):
    http, engine, tokens = intake
    first = await http.post("/applications", json=application(69), headers=tokens.clerk(TOWN_A))
    case_id = first.json()["case_id"]
    # A key remembered as before migration 0005 (caller ""), for the request as sent.
    fingerprint = ApplicationIn.model_validate(application(69)).fingerprint()
    digest = hashlib.sha256(json.dumps(fingerprint, sort_keys=True).encode()).hexdigest()
    with engine.begin() as conn:
        conn.execute(insert(idempotency_keys).values(
            key="legacy-1", request_hash=digest, case_id=case_id, created_at=datetime.now(UTC)))
    legacy = {"Idempotency-Key": "legacy-1"}
    same = await http.post("/applications", json=application(69),
                           headers={**legacy, **tokens.clerk(TOWN_A)})
    assert (same.status_code, same.json()["case_id"]) == (201, case_id)
    # Out of reach: not the case, and not a 409 either.
    elsewhere = await http.post("/applications", json=application(69),
                                headers={**legacy, **tokens.clerk(TOWN_B)})
    assert elsewhere.status_code == 422 and case_id not in elsewhere.text
    different = await http.post("/applications", json=application(71),
                                headers={**legacy, **tokens.clerk(TOWN_A)})
    assert different.status_code == 201 and different.json()["case_id"] != case_id


def test_migration_keeps_the_keys_stored_before_it(database_url):
    config = Config()
    config.set_main_option("script_location", str(ROOT / "services" / "intake" / "migrations"))
    config.attributes["url"] = database_url
    command.upgrade(config, "0004")
    engine = make_engine(database_url)
    try:
        with engine.begin() as conn:
            conn.execute(text("INSERT INTO idempotency_keys (key, request_hash, case_id, "
                              "created_at) VALUES ('k-1', 'h', 'c-1', :now)"),
                         {"now": datetime.now(UTC)})
        command.upgrade(config, "head")
        with engine.begin() as conn:
            assert conn.execute(text("SELECT caller, key, case_id FROM idempotency_keys")
                                ).all() == [("", "k-1", "c-1")]
            # One key, two callers: two rows.
            conn.execute(insert(idempotency_keys).values(
                caller="c-0142@330282001", key="k-1", request_hash="h2", case_id="c-2",
                created_at=datetime.now(UTC)))
        command.downgrade(config, "0004")
        with engine.connect() as conn:
            assert conn.execute(text("SELECT key, case_id FROM idempotency_keys")).all() == [
                ("k-1", "c-1")]
    finally:
        engine.dispose()


# -- payment ------------------------------------------------------------------------------------

@pytest.fixture
def payment(database_url: str, tmp_path: Path):
    with migrated_engine(database_url, "payment") as engine:
        service = Payment(engine, tmp_path)
        yield service, DevTokens(load_settings(env="test", data_dir=tmp_path))
        service.wait_for_runs()


def test_a_payment_key_another_caller_used_is_a_new_key(payment):
    api, tokens = payment
    approve(api.engine, 1)
    assert api.put_account(1, account_for(1)).status_code == 200
    key = {"Idempotency-Key": "export-1"}
    mine = api.http.post("/bank-files", headers=key,
                         json={"region_code": REGION, "up_to_month": "2026-11"})
    assert mine.status_code == 200, mine.text
    assert mine.json()["files"]
    # Another district's operator, the same key for their own region: their own answer.
    other = api.http.post("/bank-files", headers={**key, **tokens.approver("330283")},
                          json={"region_code": "330283", "up_to_month": "2026-11"})
    assert other.status_code == 200, other.text
    assert other.json() != mine.json()
    # Another operator of the same district replaying the same request: not the remembered
    # answer (which was someone else's), but the request done again — nothing new to export.
    colleague = tokens.headers("district_approver", "c-0999", REGION)
    again = api.http.post("/bank-files", headers={**key, **colleague},
                          json={"region_code": REGION, "up_to_month": "2026-11"})
    assert again.status_code == 200, again.text
    assert again.json() != mine.json()
    # The first caller still gets theirs, and a 409 for another request under their key.
    assert api.http.post("/bank-files", headers=key, json={
        "region_code": REGION, "up_to_month": "2026-11"}).json() == mine.json()
    assert api.http.post("/bank-files", headers=key, json={
        "region_code": REGION, "up_to_month": "2026-12"}).status_code == 409
