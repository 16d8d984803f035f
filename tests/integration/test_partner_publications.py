"""Partner departments' bulk publications (issue 4), through verification's real app on real
SQLite and PostgreSQL: per-line validation, the same file twice, another department's kinds,
updates and deletions, the reports they cause on a recipient's case, pseudonyms only, CSV and
NDJSON, and a 200,000-line file streamed in and ingested in bounded memory."""

from __future__ import annotations

import asyncio
import csv
import hashlib
import io
import json
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import Engine, func, select

from deploy.households import resident_id
from deploy.tokens import DevTokens
from services.verification.adapters.tables import bus, metadata, partner_records
from services.verification.bootstrap import (
    _demo_credentials,
    create_app,
    demo_token,
    packaged_monitoring,
)
from services.verification.service_layer import handlers, publishing
from shared.auth.principals import Role
from shared.events.catalogue import (
    ApplicationDecided,
    ApplicationSubmitted,
    MemberFacts,
    VerificationReported,
)
from shared.events.envelope import Envelope
from shared.pseudonym import person_ref
from shared.settings import Settings, load_settings
from tests.conftest import migrated_engine

NDJSON, CSV = "application/x-ndjson", "text/csv"
MOTHER = resident_id("330282", date(1970, 3, 3), 2)
SON = resident_id("330282", date(2001, 5, 5), 1)
NEIGHBOUR = resident_id("330282", date(1960, 1, 1), 3)
CASE = "330282-20261122-000000000001"
NOW = datetime(2026, 11, 22, 8, 0, tzinfo=UTC)


class Service:
    def __init__(self, app: FastAPI, engine: Engine, settings: Settings) -> None:
        self.app, self.engine, self.settings = app, engine, settings
        self.key = settings.pseudonym_key.get_secret_value().encode()

    def send(self, department: str, body: bytes | AsyncIterator[bytes],
             media: str = NDJSON) -> httpx.Response:
        """POST /partner-publications through the ASGI app, the body streamed as given (the
        TestClient would read a streamed body whole first)."""
        async def go() -> httpx.Response:
            transport = httpx.ASGITransport(app=self.app)
            async with httpx.AsyncClient(transport=transport, base_url="http://v") as client:
                return await client.post("/partner-publications", content=body, headers={
                    "Authorization": f"Bearer {demo_token(department)}", "Content-Type": media})
        return asyncio.run(go())

    def get(self, url: str, headers: dict[str, str]) -> httpx.Response:
        async def go() -> httpx.Response:
            transport = httpx.ASGITransport(app=self.app)
            async with httpx.AsyncClient(transport=transport, base_url="http://v") as client:
                return await client.get(url, headers=headers)
        return asyncio.run(go())

    def post(self, url: str, body: dict[str, Any], headers: dict[str, str]) -> httpx.Response:
        async def go() -> httpx.Response:
            transport = httpx.ASGITransport(app=self.app)
            async with httpx.AsyncClient(transport=transport, base_url="http://v") as client:
                return await client.post(url, json=body, headers=headers)
        return asyncio.run(go())

    def records(self) -> dict[tuple[str, str], tuple[Any, ...]]:
        with self.engine.connect() as conn:
            return {(r.department, r.record_id): (r.kind, r.person_ref, r.amount_fen, r.as_of,
                                                  r.grade)
                    for r in conn.execute(select(partner_records))}

    def outbox_count(self) -> int:
        with self.engine.connect() as conn:
            return conn.execute(select(func.count()).select_from(bus.outbox)).scalar_one()

    def reports(self, case_id: str = CASE) -> list[VerificationReported]:
        with self.engine.connect() as conn:
            values = conn.execute(select(bus.outbox.c.value)
                                  .where(bus.outbox.c.key == case_id.encode(),
                                         bus.outbox.c.topic == VerificationReported.topic)
                                  .order_by(bus.outbox.c.id)).scalars().all()
        return [VerificationReported.model_validate_json(v) for v in values]

    def handle(self, event: Any) -> None:
        with self.app.state.runtime.uow() as uow:
            state = self.app.state  # the handlers as the app's consumer has them
            handler = handlers.handlers(state.monitoring, frozenset(
                s.department for s in state.live_sources))[type(event)]
            handler(event, Envelope(data=event, source="/test"), uow)
            uow.commit()


@pytest.fixture
def service(database_url: str, tmp_path: Path) -> Iterator[Service]:
    settings = load_settings(env="test", data_dir=tmp_path,
                             verification_database_url=database_url)
    with migrated_engine(database_url, "verification") as engine:
        app = create_app(settings)  # no lifespan: no broker; the outbox keeps what is published
        _demo_credentials(app.state.runtime, production=False)
        try:
            yield Service(app, engine, settings)
        finally:
            app.state.runtime.engine.dispose()


def ndjson(*lines: dict[str, Any] | str) -> bytes:
    return b"".join((line if isinstance(line, str) else json.dumps(line)).encode() + b"\n"
                    for line in lines)


def rec(record_id: str, kind: str, who: str, amount: int | None = None, *,
        as_of: str = "2026-11-30", **more: Any) -> dict[str, Any]:
    line = {"record_id": record_id, "kind": kind, "resident_id": who, "as_of": as_of, **more}
    if amount is not None:
        line["amount_fen"] = amount
    return line


def test_good_lines_are_stored_and_each_bad_one_is_reported_with_its_reason(service):
    bad_check = MOTHER[:-1] + ("0" if MOTHER[-1] != "0" else "1")
    body = ndjson(
        rec("w-1", "wage", MOTHER, 45_000),                          # 1 good
        rec("w-2", "wage", bad_check, 45_000),                       # 2 check character
        "{not json",                                                 # 3
        rec("w-3", "wage", SON),                                     # 4 no amount
        rec("w-4", "salary", SON, 1),                                # 5 unknown kind
        rec("w-5", "wage", SON, 30_000, as_of="2026-02-30"),         # 6 no such date
        rec("w-6", "wage", SON, 30_000.5),                           # 7 not whole fen
        "",                                                          # 8 blank: no record
        rec("p-1", "pension", SON, 1_000),                           # 9 good
        {**rec("w-7", "wage", SON, 1), "name": "王秀英"},             # 10 unknown field
        rec("w-8", "wage", SON, -1),                                 # 11 negative
        rec("u-1", "unemployment_benefit", NEIGHBOUR, 90_000),       # 12 good
        json.dumps([rec("w-9", "wage", SON, 1)]),                    # 13 not an object
        {"op": "replace", "record_id": "w-1"},                       # 14 unknown op
    )
    answer = service.send("hr_social_security", body)
    assert answer.status_code == 201, answer.text
    report = answer.json()
    assert (report["lines"], report["accepted"], report["rejected"]) == (13, 3, 10)
    assert (report["upserted"], report["deleted"]) == (3, 0)
    reasons = {r["line"]: r["reason"] for r in report["rejections"]}
    assert sorted(reasons) == [2, 3, 4, 5, 6, 7, 10, 11, 13, 14]
    assert "check character" in reasons[2] and reasons[3].startswith("not JSON")
    assert reasons[4].startswith("amount_fen: required") and reasons[5].startswith("kind:")
    assert reasons[6] == "as_of: not a real date" and reasons[7].startswith("amount_fen:")
    assert reasons[10] == "unknown field(s) name" and reasons[11].startswith("amount_fen:")
    assert reasons[13] == "not a JSON object" and reasons[14].startswith("op:")
    assert not any(rid in json.dumps(report) for rid in (MOTHER, SON, bad_check, NEIGHBOUR))
    key = service.key
    assert service.records() == {
        ("hr_social_security", "w-1"): ("wage", person_ref(key, MOTHER), 45_000,
                                        date(2026, 11, 30), None),
        ("hr_social_security", "p-1"): ("pension", person_ref(key, SON), 1_000,
                                        date(2026, 11, 30), None),
        ("hr_social_security", "u-1"): ("unemployment_benefit", person_ref(key, NEIGHBOUR),
                                        90_000, date(2026, 11, 30), None)}
    # The stored publication answers the same, to its department and to administrators.
    admin = DevTokens(service.settings).headers(Role.ADMINISTRATOR, "admin-1")
    one = service.get(f"/partner-publications/{report['publication_id']}", admin)
    assert one.status_code == 200 and one.json() == report
    own = {"Authorization": f"Bearer {demo_token('hr_social_security')}"}
    assert service.get(f"/partner-publications/{report['publication_id']}", own).json() == report
    other = {"Authorization": f"Bearer {demo_token('bank')}"}
    assert service.get(f"/partner-publications/{report['publication_id']}",
                       other).status_code == 404
    listed = service.get("/partner-publications?limit=10", admin).json()["publications"]
    assert [p["publication_id"] for p in listed] == [report["publication_id"]]
    assert service.get("/partner-publications", other).json() == {"publications": []}
    assert service.get("/partner-publications?department=hr_social_security",
                       other).status_code == 403
    clerk = DevTokens(service.settings).clerk("330282")
    assert service.get("/partner-publications", clerk).status_code == 403


def test_the_same_file_again_answers_the_first_report_and_changes_nothing(service):
    body = ndjson(rec("d-1", "deposit", MOTHER, 500_000), rec("d-2", "deposit", "bad", 1),
                  {"op": "delete", "record_id": "d-0"})
    first = service.send("bank", body)
    records, events = service.records(), service.outbox_count()
    again = service.send("bank", body)
    assert (first.status_code, again.status_code) == (201, 200)
    assert again.json() == first.json()
    assert service.records() == records and service.outbox_count() == events
    # Another department sending the same bytes is another publication (refused line by line).
    theirs = service.send("public_security", body)
    assert theirs.status_code == 201 and theirs.json()["accepted"] == 1  # only the deletion
    assert theirs.json()["publication_id"] != first.json()["publication_id"]


def test_a_department_may_not_publish_or_delete_another_departments_kinds(service):
    body = ndjson(rec("v-1", "vehicle", MOTHER, 3_000_000), rec("d-1", "deposit", MOTHER, 1),
                  rec("h-1", "real_estate", MOTHER, 1), {"op": "delete", "record_id": "v-1",
                                                         "kind": "vehicle"})
    report = service.send("bank", body).json()
    assert report["accepted"] == 1 and report["rejected"] == 3
    assert [r["reason"] for r in report["rejections"]] == [
        "kind: vehicle is published by public_security, not bank",
        "kind: real_estate is published by real_estate_registry, not bank",
        "kind: vehicle is published by public_security, not bank"]
    assert set(service.records()) == {("bank", "d-1")}


def test_updates_deletions_deaths_and_grades(service):
    first = ndjson(rec("h-1", "real_estate", MOTHER, 40_000_000),
                   rec("h-2", "real_estate", MOTHER, 60_000_000),
                   rec("h-3", "real_estate", SON, 10_000_000))
    assert service.send("real_estate_registry", first).json()["accepted"] == 3
    # The second house is sold, the first re-valued; within a file the last line wins.
    second = ndjson({"op": "delete", "record_id": "h-2"},
                    rec("h-1", "real_estate", MOTHER, 45_000_000),
                    rec("h-3", "real_estate", SON, 11_000_000),
                    {"op": "delete", "record_id": "h-3", "kind": "real_estate"},
                    {"op": "delete", "record_id": "never-sent"})  # nothing to delete: no harm
    report = service.send("real_estate_registry", second).json()
    assert (report["accepted"], report["upserted"], report["deleted"]) == (5, 2, 3)
    records = service.records()
    assert set(records) == {("real_estate_registry", "h-1")}
    assert records[("real_estate_registry", "h-1")][2] == 45_000_000
    # A death carries no amount; a disability grade is a grade, not money.
    death = service.send("public_security", ndjson(
        rec("dead-1", "death", NEIGHBOUR, as_of="2026-11-20"),
        rec("dead-2", "death", SON, 5))).json()
    assert death["accepted"] == 1 and death["rejections"] == [
        {"line": 2, "reason": "amount_fen: death carries no amount"}]
    graded = service.send("disabled_persons_federation", ndjson(
        rec("g-1", "disability_grade", SON, grade=2), rec("g-2", "disability_grade", MOTHER),
        rec("g-3", "disability_grade", MOTHER, grade=5))).json()
    assert graded["accepted"] == 1 and [r["line"] for r in graded["rejections"]] == [2, 3]
    records = service.records()
    assert records[("public_security", "dead-1")][:3] == ("death", person_ref(service.key,
                                                                              NEIGHBOUR), 0)
    assert records[("disabled_persons_federation", "g-1")][4] == 2


def _household(service: Service) -> None:
    service.handle(ApplicationSubmitted(
        case_id=CASE, region_code="330282", programme="dibao", submitted_at=NOW,
        members=[MemberFacts(person_ref=person_ref(service.key, rid),
                             relation="applicant" if i == 0 else "child",
                             age_years=56 if i == 0 else 25, consent_signed=True,
                             declared_incomes=[])
                 for i, rid in enumerate((MOTHER, SON))]))
    service.handle(ApplicationDecided(
        case_id=CASE, decision_id="d-1", outcome="approved", programme="dibao",
        region_code="330282", beneficiary_ref=person_ref(service.key, MOTHER),
        household_size=2, monthly_amount_fen=81_000, start_month="2026-12",
        policy_version="v", reasons=[], decided_at=NOW))


def test_changes_to_a_recipients_records_report_on_the_case_once_per_change(service):
    _household(service)
    service.send("real_estate_registry", ndjson(rec("h-1", "real_estate", MOTHER, 1),
                                                rec("h-2", "real_estate", SON, 1)))
    service.send("hr_social_security", ndjson(rec("w-1", "wage", SON, 30_000),
                                              rec("w-n", "wage", NEIGHBOUR, 10_000)))
    reports = service.reports()
    assert [r.occasion for r in reports] == ["application", "partner_data", "partner_data"]
    assert reports[-1].assets.real_estate_count == 2
    assert reports[-1].household_monthly_income_fen == 30_000
    # A property sold is a deletion; the report follows it. The same file again reports nothing.
    sold = ndjson({"op": "delete", "record_id": "h-2"})
    service.send("real_estate_registry", sold)
    service.send("real_estate_registry", sold)
    # Records sent again unchanged, in a new file, change no figure: no report either.
    service.send("hr_social_security", ndjson(rec("w-1", "wage", SON, 30_000), "  "))
    reports = service.reports()
    assert [r.occasion for r in reports] == ["application"] + ["partner_data"] * 3
    assert reports[-1].assets.real_estate_count == 1


def test_csv_with_a_bom_quotes_and_bad_lines(service):
    text = io.StringIO()
    writer = csv.writer(text, lineterminator="\r\n")
    writer.writerow(["op", "record_id", "kind", "resident_id", "amount_fen", "as_of"])
    writer.writerow(["", "d,1", "deposit", MOTHER, "500000", "2026-11-30"])
    writer.writerow(["upsert", "w-1", "wealth_product", SON.lower(), "1200000", "2026-11-30"])
    writer.writerow(["", "d-2", "deposit", SON, "12.50", "2026-11-30"])
    writer.writerow(["", "d-3", "deposit", SON])
    writer.writerow(["delete", "d-0", "", "", "", ""])
    body = "\ufeff".encode() + text.getvalue().encode() + b'"unclosed,d-4\r\n'
    report = service.send("bank", body, CSV).json()
    assert (report["lines"], report["accepted"], report["rejected"]) == (6, 3, 3)
    assert report["rejections"] == [
        {"line": 4, "reason": "amount_fen: not a whole number"},
        {"line": 5, "reason": "4 values, but the header names 6 columns"},
        {"line": 7, "reason": "not a CSV line (a quote not closed on this line?)"}]
    assert set(service.records()) == {("bank", "d,1"), ("bank", "w-1")}
    assert service.records()[("bank", "w-1")][1] == person_ref(service.key, SON)


@pytest.mark.parametrize(("body", "media", "status", "says"), [
    (b"record_id,kind,amount_fen\nx,deposit,1\n", CSV, 422, "missing column(s) as_of"),
    (b"record_id,kind,resident_id,as_of,330282197003030024\n", CSV, 422, "(unnamed)"),
    (b"", NDJSON, 422, "empty"),
    (b'{"record_id": "x"}\n', "application/json", 415, "Content-Type"),
])
def test_a_file_that_cannot_be_read_is_refused_whole(service, body, media, status, says):
    answer = service.send("bank", body, media)
    assert answer.status_code == status and says in answer.text
    assert "330282197003030024" not in answer.text
    assert service.records() == {}


def test_an_interrupted_ingestion_resumes_when_the_file_is_sent_again(service):
    lines = [rec(f"d-{i}", "deposit", MOTHER if i % 2 else SON, i) for i in range(10)]
    lines[3] = rec("d-3", "deposit", "bad", 1)
    body = ndjson(*lines)
    calls = 0

    def failing_uow():  # the fourth transaction (the third batch) fails: a crash, say
        nonlocal calls
        calls += 1
        if calls == 4:
            raise ConnectionError("the database went away")
        return service.app.state.runtime.uow()

    upload = publishing.Upload("bank", "ndjson", io.BytesIO(body),
                               hashlib.sha256(body).hexdigest(), len(body))
    with pytest.raises(ConnectionError):
        publishing.publish_file(upload, failing_uow, pseudonym_key=service.key, batch=3,
                                          monitoring=packaged_monitoring())
    assert len(service.records()) == 5  # two batches of three lines, one of them rejected
    new, report = publishing.publish_file(upload, service.app.state.runtime.uow,
                                          pseudonym_key=service.key, batch=3,
                                          monitoring=packaged_monitoring())
    assert new and (report["lines"], report["accepted"], report["rejected"]) == (10, 9, 1)
    assert [r["line"] for r in report["rejections"]] == [4]
    assert len(service.records()) == 9


async def _generated(n: int, sizes: list[int]) -> AsyncIterator[bytes]:
    """n NDJSON lines, made as they are sent, in pieces of ~64 KiB."""
    piece: list[bytes] = []
    held = 0
    for i in range(n):
        who = resident_id("330282", date(1940 + i % 60, 1 + i % 12, 1 + i % 28), i % 1000)
        line = json.dumps({"record_id": f"wage-{i:07d}", "kind": "wage", "resident_id": who,
                           "amount_fen": 100_000 + i % 50_000,
                           "as_of": "2026-11-30"}).encode() + b"\n"
        piece.append(line)
        held += len(line)
        if held >= 65_536:
            sizes.append(held)
            yield b"".join(piece)
            piece, held = [], 0
    sizes.append(held)
    yield b"".join(piece)


def _status_kb(field: str) -> int:
    with open("/proc/self/status") as status:
        return next(int(line.split()[1]) for line in status if line.startswith(field))


def test_a_large_file_is_ingested_in_bounded_memory(service, monkeypatch):
    # Memory is bounded by the lines of one transaction (publishing.BATCH, 50,000 by default:
    # ~20 MB, more than this file's third) and the lines judged ahead of it: shown here with
    # transactions of 2,000 lines, so that a file of 25 MiB is many times what may be held.
    monkeypatch.setattr(publishing, "BATCH", 2_000)
    # Judged in this process: a worker's memory would not show in this process's peak. The
    # worker's path holds a bounded number of chunks too; the next test shows it does the same.
    monkeypatch.setattr(publishing, "WORKER_FROM_BYTES", 10**12)
    n, sizes = 200_000, []
    # A small file first: what any first publication in a process loads (modules, compiled
    # statements, the policy's caches) is not this file's cost.
    warm = service.send("hr_social_security", ndjson(rec("warm-1", "wage", MOTHER, 1)))
    assert warm.status_code == 201, warm.text
    # Peak RSS (VmHWM) reset to the current RSS (Linux, proc(5) clear_refs "5"), so that the
    # peak read afterwards is this ingestion's, whatever earlier tests in the process did.
    with open("/proc/self/clear_refs", "w") as refs:
        refs.write("5")
    before = _status_kb("VmRSS:")
    answer = service.send("hr_social_security", _generated(n, sizes))
    growth = (_status_kb("VmHWM:") - before) * 1024
    assert answer.status_code == 201, answer.text
    assert (answer.json()["accepted"], answer.json()["rejected"]) == (n, 0)
    size = sum(sizes)
    assert size > 24 * 2**20  # ~25 MiB of NDJSON
    # Everything at its peak (HTTP, the spool's first MiB, one batch of 2,000 lines and those
    # judged ahead of it, the database driver's buffers) stays far below the file: nothing
    # holds it whole.
    assert growth < size / 3, f"peak RSS +{growth / 2**20:.1f} MiB for {size / 2**20:.1f} MiB"
    with service.engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(partner_records)).scalar_one() == n + 1


def _mixed_file(n: int, prefix: str) -> bytes:
    """n lines of every sort: upserts, the same record again (the last line wins), deletions
    (of a record earlier in the file, and of one never sent), blank lines, bad lines, a line
    longer than any record may be."""
    lines: list[dict[str, Any] | str] = []
    for i in range(n):
        who = resident_id("330282", date(1940 + i % 60, 1 + i % 12, 1 + i % 28), i % 1000)
        match i % 50:
            case 7:
                lines.append({"op": "delete", "record_id": f"{prefix}{i - 5}"})
            case 8:
                lines.append({"op": "delete", "record_id": "never-sent"})
            case 9:
                lines.append("")
            case 10:
                lines.append(rec(f"{prefix}{i}", "deposit", who[:-1] + "?", 1))
            case 11:
                lines.append(rec(f"{prefix}{i}", "vehicle", who, 1))
            case 12:
                lines.append("x" * (publishing.MAX_LINE_BYTES + 10))
            case 13:
                lines.append(rec(f"{prefix}{i - 10}", "deposit", who, 777))
            case _:
                lines.append(rec(f"{prefix}{i}", "deposit", who, i))
    return ndjson(*lines)


def test_lines_judged_in_a_worker_process_are_applied_as_in_this_one(service):
    reports = []
    for prefix, in_worker in (("here-", False), ("there-", True)):
        body = _mixed_file(12_000, prefix)
        upload = publishing.Upload("bank", "ndjson", io.BytesIO(body),
                                   hashlib.sha256(body).hexdigest(), len(body))
        new, report = publishing.publish_file(
            upload, service.app.state.runtime.uow, pseudonym_key=service.key, batch=3_000,
            monitoring=packaged_monitoring(), in_worker=in_worker)
        assert new
        reports.append(report)
    here, there = ({k: v for k, v in r.items() if k in ("lines", "accepted", "rejected",
                                                        "upserted", "deleted", "rejections")}
                   for r in reports)
    assert here == there
    assert (here["lines"], here["rejected"]) == (12_000 - 240, 3 * 240)
    assert [r["line"] for r in here["rejections"]][:3] == [11, 12, 13]
    records = service.records()
    stored = [{rid.removeprefix(prefix): v for (_, rid), v in records.items()
               if rid.startswith(prefix)} for prefix in ("here-", "there-")]
    assert stored[0] == stored[1]
    assert len(stored[0]) == (43 - 1) * 240  # in each 50 lines, 43 new records, one deleted
    assert stored[0]["3"][2] == 777  # sent again ten lines on: the last line won
    assert "2" not in stored[0]  # deleted five lines on


def test_no_table_holds_a_raw_resident_id(service):
    service.send("hr_social_security", ndjson(rec("w-1", "wage", MOTHER, 1),
                                              rec("w-2", "wage", SON + "0", 1)))
    service.send("bank", f"record_id,kind,resident_id,amount_fen,as_of\nd,deposit,{SON},1,"
                         f"2026-11-30\n".encode(), CSV)
    _household(service)
    with service.engine.connect() as conn:
        stored = " ".join(str(tuple(row)) for table in metadata.sorted_tables
                          for row in conn.execute(select(table)))
    assert person_ref(service.key, SON) in stored
    for raw in (MOTHER, SON, SON[:17]):
        assert raw not in stored
