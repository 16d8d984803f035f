"""The home survey taken on a phone (入户调查, issue 26), through approval's real HTTP API on a
database its migrations made (SQLite and PostgreSQL), with signed tokens.

A town's social worker sees the town's cases waiting for it (a reference, the programme, the
household's size: nothing else), records a survey with its checklist, notes and photos, and reads
nothing more of the case. The town's reviewer then finds it on the case, photos included, and the
acceptance no longer asks for a survey. Bad input is refused with the field and the reason —
413 for too much, 415 for what is not an image — and leaves nothing behind. The bus hears only
``HomeSurveyRecorded``: codes and counts, no notes, no photo.
"""

from __future__ import annotations

import io
import json
import struct
import threading
import time
import zlib
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, func, select

from deploy.tokens import DevTokens
from services.approval.adapters.surveys import SurveyRepository
from services.approval.adapters.tables import bus, home_surveys, survey_photos
from services.approval.bootstrap import DEFAULT_POLICY
from services.approval.bootstrap import create_app as create_approval
from services.approval.domain.policy import load_policy
from services.approval.domain.survey import MAX_PHOTO_BYTES, MAX_PHOTOS, PHOTO_KINDS
from shared import clock
from shared.auth.principals import Role
from shared.events import catalogue as ev
from shared.events.envelope import from_record
from shared.settings import load_settings
from tests.conftest import ROOT, migrated_engine
from tests.integration.test_approval_workflow import application, deliver, report

POLICY_PATHS = [DEFAULT_POLICY, ROOT / "tests" / "e2e" / "fast_notice.toml"]
POLICY = load_policy(*POLICY_PATHS)
DISTRICT, TOWN, OTHER_TOWN = "330282", "330282001", "330282002"
NOTES = "独居，屋顶漏雨；邻居 王阿姨 电话 0574-63012345"
JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + b"\x11" * 200 + b"\xff\xd9"


def _png() -> bytes:
    """A real 1×1 PNG, so the bytes served back are an image a browser shows."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return (struct.pack(">I", len(data)) + kind + data
                + struct.pack(">I", zlib.crc32(kind + data)))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(b"\x00\xff\x00\x00")) + chunk(b"IEND", b""))


PNG = _png()


def survey(**changes: Any) -> dict[str, Any]:
    return {"surveyed_on": clock.today().isoformat(), "surveyors": "s-001, t-021",
            "outcome": "as_declared", "housing_tenure": "rented", "housing_state": "poor",
            "members_living": 1, "members_present": 1, "able_to_work": 0, "partly_able": 0,
            "unable_to_work": 1, "cars": 0, "motorcycles": 1,
            "items": ["tv", "fridge", "serious_illness"], "notes": NOTES,
            "photo_kinds": ["household_register", "housing"], **changes}


def send(client: TestClient, case_id: str, headers: dict[str, str], body: dict[str, Any],
         photos: list[tuple[str, bytes, str]] | None = None) -> Any:
    photos = [("a.jpg", JPEG, "image/jpeg"), ("b.png", PNG, "image/png")] \
        if photos is None else photos
    files = [("photo", (name, io.BytesIO(data), kind)) for name, data, kind in photos]
    return client.post(f"/cases/{case_id}/surveys", headers=headers,
                       data={"survey": json.dumps(body, ensure_ascii=False)}, files=files)


@pytest.fixture
def approval(database_url: str, tmp_path: Path) -> Iterator[tuple[TestClient, Engine,
                                                                  DevTokens, str]]:
    settings = load_settings(env="test", data_dir=tmp_path, policy_paths=POLICY_PATHS,
                             approval_database_url=database_url)
    with migrated_engine(database_url, "approval") as engine:
        app = create_approval(settings)
        client = TestClient(app)  # no lifespan: no relay, the outbox stays to be read
        app_ = application("330282-survey", region=DISTRICT, town_code=TOWN)
        deliver(engine, app_, policy=POLICY)
        deliver(engine, report(app_), policy=POLICY)
        try:
            yield client, engine, DevTokens(settings), app_.case_id
        finally:
            client.close()
            app.state.runtime.engine.dispose()


def social_worker(tokens: DevTokens, town: str = TOWN) -> dict[str, str]:
    return tokens.headers(Role.SOCIAL_WORKER, f"s-{town}", town)


def _outbox(engine: Engine) -> list[tuple[ev.Event, bytes]]:
    found = []
    with engine.connect() as conn:
        for row in conn.execute(select(bus.outbox).order_by(bus.outbox.c.id)).mappings():
            headers = [(str(k), str(v).encode()) for k, v in json.loads(row["headers"])]
            found.append((from_record(bytes(row["value"]), headers).data, bytes(row["value"])))
    return found


def _rows(engine: Engine) -> tuple[int, int, int]:
    with engine.connect() as conn:
        return (conn.execute(select(func.count()).select_from(home_surveys)).scalar_one(),
                conn.execute(select(func.count()).select_from(survey_photos)).scalar_one(),
                conn.execute(select(func.count()).select_from(bus.outbox)).scalar_one())


def test_the_social_worker_sees_the_towns_cases_and_nothing_more(approval):
    client, _, tokens, case_id = approval
    mine = client.get("/surveys/cases", headers=social_worker(tokens))
    assert mine.status_code == 200, mine.text
    [case] = mine.json()["cases"]
    assert case["case_id"] == case_id and case["stage"] == "awaiting_review"
    assert case["members"] == 1 and case["survey_required"] is True and case["surveys"] == 0
    assert set(case) == {"case_id", "programme", "region_code", "town_code", "stage", "due_at",
                         "submitted_at", "surveys", "members", "survey_required"}
    one = client.get(f"/surveys/cases/{case_id}", headers=social_worker(tokens))
    assert one.status_code == 200 and one.json()["case_id"] == case_id
    # Another town's social worker sees none of it.
    other = social_worker(tokens, OTHER_TOWN)
    assert client.get("/surveys/cases", headers=other).json()["cases"] == []
    assert client.get(f"/surveys/cases/{case_id}", headers=other).status_code == 403
    assert send(client, case_id, other, survey()).status_code == 403
    # No case, no decision, no workflow action, no photo: those need other permissions.
    worker = social_worker(tokens)
    for path in (f"/cases/{case_id}", f"/decisions/{case_id}", "/cases"):
        assert client.get(path, headers=worker).status_code == 403, path
    acted = client.post(f"/cases/{case_id}/actions", headers=worker, json={"action": "accept"})
    assert acted.status_code == 403
    old_way = client.post(f"/cases/{case_id}/home-surveys", headers=worker, json={
        "surveyed_on": clock.today().isoformat(), "surveyors": "s", "findings": "x"})
    assert old_way.status_code == 403


def test_a_survey_is_kept_with_its_photos_and_the_reviewer_sees_it(approval):
    client, _, tokens, case_id = approval
    reviewer = tokens.reviewer(TOWN)
    before = client.get(f"/cases/{case_id}", headers=reviewer).json()
    [accept] = [a for a in before["allowed_actions"] if a["action"] == "accept"]
    assert "home_survey" in accept["needs"]  # the acceptance's form would ask for one

    sent = send(client, case_id, social_worker(tokens), survey())
    assert sent.status_code == 201, sent.text
    survey_id = sent.json()["survey_id"]
    assert sent.json()["photos"] == 2

    case = client.get(f"/cases/{case_id}", headers=reviewer).json()
    [kept] = case["home_surveys"]
    assert kept["survey_id"] == survey_id and kept["findings"] == NOTES
    assert kept["recorded_by"] == f"social_worker:s-{TOWN}"
    assert kept["checklist"]["items"] == ["fridge", "serious_illness", "tv"]
    assert kept["checklist"]["housing_state"] == "poor"
    assert [p["kind"] for p in kept["photos"]] == ["household_register", "housing"]
    for photo, data, kind in zip(kept["photos"], (JPEG, PNG), ("image/jpeg", "image/png"),
                                 strict=True):
        served = client.get(f"/cases/{case_id}/survey-photos/{photo['photo_id']}",
                            headers=reviewer)
        assert served.status_code == 200 and served.content == data
        assert served.headers["content-type"] == kind
        assert served.headers["x-content-type-options"] == "nosniff"
        # Another town's reviewer, and the social worker (who reads no case), are refused.
        for refused in (tokens.reviewer(OTHER_TOWN), social_worker(tokens)):
            assert client.get(f"/cases/{case_id}/survey-photos/{photo['photo_id']}",
                              headers=refused).status_code == 403
    # The acceptance no longer asks for a survey, and goes through without one.
    [accept] = [a for a in case["allowed_actions"] if a["action"] == "accept"]
    assert accept["possible"] and "home_survey" not in accept["needs"]
    accepted = client.post(f"/cases/{case_id}/actions", headers=reviewer,
                           json={"action": "accept"})
    assert accepted.status_code == 200, accepted.text
    # Past the town's review: no survey now, and the case leaves the social worker's list.
    late = send(client, case_id, social_worker(tokens), survey())
    assert late.status_code == 409, late.text
    assert client.get("/surveys/cases", headers=social_worker(tokens)).json()["cases"] == []


def test_the_bus_hears_codes_and_counts_and_nothing_typed_or_photographed(approval):
    client, engine, tokens, case_id = approval
    assert send(client, case_id, social_worker(tokens), survey()).status_code == 201
    published = _outbox(engine)
    [recorded] = [e for e, _ in published if isinstance(e, ev.HomeSurveyRecorded)]
    assert (recorded.outcome, recorded.housing_tenure, recorded.housing_state) == (
        "as_declared", "rented", "poor")
    assert (recorded.members_living, recorded.unable_to_work, recorded.motorcycles,
            recorded.photos, recorded.has_notes) == (1, 1, 1, 2, True)
    assert recorded.items == ["fridge", "serious_illness", "tv"]
    assert recorded.recorded_by_role == "social_worker"
    for _, value in published:
        for piece in (NOTES, "王阿姨", "0574-63012345", "s-001", "t-021"):
            for form in (piece.encode(), json.dumps(piece).strip('"').encode()):
                assert form not in value, piece
        assert JPEG[20:60] not in value and PNG[16:40] not in value
        assert b"image/" not in value


@pytest.mark.parametrize(("body", "field"), [
    (survey(unable_to_work=0), "unable_to_work"),  # 0 + 0 + 0 is not the 1 member living there
    (survey(members_present=2), "members_present"),
    (survey(surveyed_on="2999-01-01"), "surveyed_on"),
    (survey(items=["tv", "tv"]), "items"),
])
def test_a_checklist_that_does_not_hold_is_refused_by_field(approval, body, field):
    client, engine, tokens, case_id = approval
    before = _rows(engine)
    refused = send(client, case_id, social_worker(tokens), body)
    assert refused.status_code == 422, refused.text
    assert refused.json()["detail"][0]["loc"][-1] == field
    assert NOTES not in refused.text
    assert _rows(engine) == before


def test_a_schema_error_names_the_field_without_the_value(approval):
    client, engine, tokens, case_id = approval
    before = _rows(engine)
    refused = send(client, case_id, social_worker(tokens), survey(
        housing_state="palace-330282195803150024", cars=-1))
    assert refused.status_code == 422
    locs = {tuple(d["loc"]) for d in refused.json()["detail"]}
    assert ("body", "survey", "housing_state") in locs and ("body", "survey", "cars") in locs
    assert "330282195803150024" not in refused.text
    twice = send(client, case_id, social_worker(tokens), {})
    assert twice.status_code == 422
    kinds = send(client, case_id, social_worker(tokens), survey(photo_kinds=["housing"]))
    assert kinds.status_code == 422 and kinds.json()["detail"][0]["loc"][-1] == "photo_kinds"
    # A key no survey has is named "*": a client's key may be a name or an ID number.
    extra = send(client, case_id, social_worker(tokens),
                 {**survey(), "王秀英 330282195803150024": 1})
    assert extra.status_code == 422 and "330282195803150024" not in extra.text
    assert ("body", "survey", "*") in {tuple(d["loc"]) for d in extra.json()["detail"]}
    # Nested past any survey's shape: refused as unreadable, not a server error.
    deep = client.post(f"/cases/{case_id}/surveys", headers=social_worker(tokens),
                       files=[("survey", (None, "[" * 5_000 + "]" * 5_000))])
    assert deep.status_code == 422 and deep.json()["detail"][0]["loc"] == ["body", "survey"]
    assert _rows(engine) == before


def test_every_kind_of_photo_is_kept_on_every_database(approval):
    """Each kind a surveyor may choose fits where it is stored (PostgreSQL enforces lengths)."""
    client, engine, tokens, case_id = approval
    kinds = list(PHOTO_KINDS)
    sent = send(client, case_id, social_worker(tokens), survey(photo_kinds=kinds),
                [(f"{k}.png", PNG, "image/png") for k in kinds])
    assert sent.status_code == 201, sent.text
    with engine.connect() as conn:
        kept = set(conn.execute(select(survey_photos.c.kind)).scalars())
    assert kept == set(kinds)


def test_photos_past_the_limits_are_refused_413_and_415_and_leave_nothing(approval):
    client, engine, tokens, case_id = approval
    worker, before = social_worker(tokens), _rows(engine)
    # Not an image, whatever its name and declared type say.
    fake = send(client, case_id, worker, survey(photo_kinds=["housing"]),
                [("x.jpg", b"%PDF-1.7 not a photo", "image/jpeg")])
    assert fake.status_code == 415, fake.text
    assert fake.json()["detail"][0]["loc"] == ["body", "photos[0]"]
    assert "JPEG, PNG or WebP" in fake.json()["detail"][0]["msg"]
    # A photo over the limit.
    big = send(client, case_id, worker, survey(photo_kinds=["housing"]),
               [("big.jpg", JPEG[:3] + b"\x00" * MAX_PHOTO_BYTES, "image/jpeg")])
    assert big.status_code == 413, big.text
    assert big.json()["detail"][0]["loc"] == ["body", "photos[0]"]
    # Too many photos.
    many = send(client, case_id, worker, survey(photo_kinds=["other"] * (MAX_PHOTOS + 1)),
                [("p.jpg", JPEG, "image/jpeg")] * (MAX_PHOTOS + 1))
    assert many.status_code == 413, many.text
    # A body that says it is larger than any survey is refused before it is read.
    huge = client.post(f"/cases/{case_id}/surveys", headers={
        **worker, "content-type": "multipart/form-data; boundary=x",
        "content-length": str(100 * 1024 * 1024)}, content=b"--x--")
    assert huge.status_code == 413
    # Not a form at all.
    as_json = client.post(f"/cases/{case_id}/surveys", headers=worker, json=survey())
    assert as_json.status_code == 415
    assert _rows(engine) == before
    # The same survey with a real photo goes through: the refusals changed nothing.
    assert send(client, case_id, worker, survey(photo_kinds=["housing"]),
                [("ok.png", PNG, "image/png")]).status_code == 201


# --- sent again: the phone lost the answer, the worker sends the draft again ------------------
SURVEY_ID = "0b6a4c1e-5f3d-4e2a-9c87-3d1f0e2b4a69"


def _recorded(engine: Engine) -> list[ev.HomeSurveyRecorded]:
    return [e for e, _ in _outbox(engine) if isinstance(e, ev.HomeSurveyRecorded)]


def test_a_survey_sent_again_is_recorded_once_and_answered_as_the_first_time(approval):
    client, engine, tokens, case_id = approval
    worker = social_worker(tokens)
    first = send(client, case_id, worker, survey(survey_id=SURVEY_ID))
    assert first.status_code == 201, first.text
    assert first.json() == {"case_id": case_id, "survey_id": SURVEY_ID, "photos": 2}
    after_first = _rows(engine)
    assert after_first[:2] == (1, 2)

    again = send(client, case_id, worker, survey(survey_id=SURVEY_ID.upper()))  # same UUID
    assert again.status_code == 201, again.text
    assert again.json() == first.json()
    assert _rows(engine) == after_first  # no second survey, photo or event
    [recorded] = _recorded(engine)
    assert recorded.survey_id == SURVEY_ID
    [kept] = client.get(f"/cases/{case_id}", headers=tokens.reviewer(TOWN)).json()[
        "home_surveys"]
    assert kept["survey_id"] == SURVEY_ID and "content_sha256" not in kept

    # The town accepts meanwhile: the resend is still the survey recorded, not a refusal.
    accepted = client.post(f"/cases/{case_id}/actions", headers=tokens.reviewer(TOWN),
                           json={"action": "accept"})
    assert accepted.status_code == 200, accepted.text
    late = send(client, case_id, worker, survey(survey_id=SURVEY_ID))
    assert late.status_code == 201 and late.json() == first.json()
    # Another survey under the same id is refused, naming the field and nothing it holds.
    rows = _rows(engine)
    other = send(client, case_id, worker, survey(survey_id=SURVEY_ID, cars=1))
    assert other.status_code == 409, other.text
    assert other.json()["detail"].startswith("survey_id ")
    assert NOTES not in other.text
    assert _rows(engine) == rows


@pytest.mark.parametrize("change", [
    {"notes": NOTES + "。"},  # what was typed
    {"items": ["tv"]},  # the checklist
    {"photo_kinds": ["housing", "household_register"]},  # which photo shows what
])
def test_a_different_survey_under_a_recorded_id_is_refused(approval, change):
    client, engine, tokens, case_id = approval
    assert send(client, case_id, social_worker(tokens),
                survey(survey_id=SURVEY_ID)).status_code == 201
    before = _rows(engine)
    refused = send(client, case_id, social_worker(tokens), survey(survey_id=SURVEY_ID, **change))
    assert refused.status_code == 409, refused.text
    assert "survey_id" in refused.json()["detail"]
    # The same survey with other photos, and the same survey by someone else, are others too.
    photos = send(client, case_id, social_worker(tokens), survey(survey_id=SURVEY_ID),
                  [("a.jpg", JPEG, "image/jpeg"), ("b.jpg", JPEG, "image/jpeg")])
    assert photos.status_code == 409, photos.text
    someone = tokens.headers(Role.SOCIAL_WORKER, f"s-{TOWN}-2", TOWN)
    assert send(client, case_id, someone, survey(survey_id=SURVEY_ID)).status_code == 409
    assert _rows(engine) == before and len(_recorded(engine)) == 1


def test_a_survey_id_is_not_a_uuid_is_refused_by_field(approval):
    client, engine, tokens, case_id = approval
    before = _rows(engine)
    refused = send(client, case_id, social_worker(tokens),
                   survey(survey_id="330282195803150024"))
    assert refused.status_code == 422
    assert refused.json()["detail"][0]["loc"] == ["body", "survey", "survey_id"]
    assert "330282195803150024" not in refused.text
    assert _rows(engine) == before


def test_two_sends_of_one_survey_at_once_record_it_once(approval):
    """The phone's two sends arrive together (a retry while the first is still on its way):
    each waits for the other at the case, and both are answered with the one survey."""
    client, engine, tokens, case_id = approval
    start = threading.Barrier(2)

    def send_once(_: int) -> Any:
        start.wait(timeout=10)
        return send(client, case_id, social_worker(tokens), survey(survey_id=SURVEY_ID))

    with ThreadPoolExecutor(2) as pool:
        answers = list(pool.map(send_once, range(2)))
    assert [a.status_code for a in answers] == [201, 201], [a.text for a in answers]
    assert answers[0].json() == answers[1].json()
    assert _rows(engine)[:2] == (1, 2) and len(_recorded(engine)) == 1


def test_the_database_keeps_a_survey_id_once_whoever_sends_it(approval):
    """A survey id recorded by another send that has not committed yet (on another case: no
    lock is shared) is still found, or refused by the database; never recorded twice."""
    client, engine, tokens, case_id = approval
    other_case = application("330282-survey-b", region=DISTRICT, town_code=TOWN)
    deliver(engine, other_case, policy=POLICY)
    worker = social_worker(tokens)
    with engine.connect() as conn, conn.begin() as held:
        SurveyRepository(conn).add({
            "survey_id": SURVEY_ID, "case_id": other_case.case_id,
            "surveyed_on": clock.today().isoformat(), "surveyors": "s", "findings": "",
            "recorded_by": f"social_worker:s-{TOWN}", "recorded_at": datetime.now(UTC),
            "checklist": None, "content_sha256": "0" * 64}, [])
        with ThreadPoolExecutor(1) as pool:
            pending = pool.submit(send, client, case_id, worker, survey(survey_id=SURVEY_ID))
            time.sleep(1.5)  # the send reaches the database and waits for the held write
            assert not pending.done()
            held.commit()
            answer = pending.result(timeout=30)
    assert answer.status_code == 409, answer.text
    assert "survey_id" in answer.json()["detail"]
    with engine.connect() as conn:
        kept = conn.execute(select(home_surveys.c.case_id)
                            .where(home_surveys.c.survey_id == SURVEY_ID)).scalars().all()
    assert kept == [other_case.case_id] and _recorded(engine) == []
