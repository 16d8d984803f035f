"""The checker of ``python -m bench.chaos``: after the faults, was anything lost or done twice?

Run it once the system has quiesced (outboxes drained, the archiver caught up; a driver may poll
it until clean or out of time). It reads what each service itself recorded, straight from its
database (read-only, one snapshot per service), with set-based queries — 10,000+ cases cost
seconds — and the audit archive. Lines name case, payment and event ids and counts, never a person.

Lost: a submitted case short of its terminal automatic stage, or an event or sum gone missing.
- approval.cases.stage: "awaiting_review" for Dibao (workflow.on_report puts the pre-assessment
  of its verification report before the town reviewer). An emergency is registered there at
  once (handlers.on_application_submitted, assessed on the form); the advance is the TOWN's
  action, so without staff "awaiting_review" is its end too — with it, "advance_paid",
  "approved" or "follow_up";
- verification.reports holds the case's application report and approval.reports.assessed says
  approval assessed it (an emergency is verified after it was staged);
- intake.cases agrees: stage_seq = approval.cases.sequence, status = that stage (or
  "payment_scheduled" for an approved/advance_paid case, intake's CaseStatus);
- each approved decision (approval.decisions) has its money in payment: an entitlement for a
  monthly amount, a one-off payment (the emergency's advance) for a one-off amount;
- nothing dead-lettered: no inbox.outcome = 'dead-lettered' in any service, and the dead-letter
  topic (archived, and with ``bootstrap`` read from the broker) holds nothing the inboxes don't;
- no outbox row unpublished; the archive's chains and signed checkpoints verify (as `onedoor
  audit verify`); it holds each case's submission and every event intake applied (timeline).

Duplicated: an effect that happened twice (most are also unique indexes: checked regardless).
- approval.assessments: one per case and report (facts.report_id; NULL: the emergency's one on
  the form); verification.reports: one application report per case;
- payment.payments, its unique indexes' promises: a monthly first issue once per case, programme
  and month and once per beneficiary, programme and month; a one-off once per case and
  programme; a batch payment once per run and beneficiary; a re-issue once per payment;
- intake.timeline: one entry per event (primary key) and per stage change (case, sequence: read
  from the archived event); an entry the archive lacks must not repeat an archived stage change;
- the archive: each event id once per topic (its dedupe promise), each submission once, each
  stage change (case, sequence) under one event id.

The ledger (payment.ledger), as payment's reconciliation promises it: every entry moves one
payment's whole amount; a payment's entries take it from where it came from ("approved", or
"failed" for a re-issue) to its status ("failed" when re-issued): balance −amount there, +amount
here, 0 elsewhere. An amount moved out of "approved" twice is duplicated, any other imbalance
lost; no entry names an unknown payment; each bank file's control total and count are its
payments'.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections import Counter, defaultdict
from collections.abc import Coroutine, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition
from sqlalchemy import JSON, ColumnElement, Connection, Engine, cast, func, select, type_coerce

from deploy.supervisor import System
from services.approval.adapters import tables as approval
from services.audit.adapters import store
from services.audit.adapters import tables as audit
from services.audit.adapters.keys import NoSigningKey, load_signer
from services.audit.domain.verify import verify
from services.intake.adapters import tables as intake
from services.payment.adapters import tables as payment
from services.verification.adapters import tables as verification
from shared.bus.kafka import start_with_retry
from shared.db import make_engine, reading
from shared.events.topics import APPLICATIONS, DEAD_LETTER

BUS = {"intake": intake.bus, "verification": verification.bus, "approval": approval.bus,
       "payment": payment.bus, "audit": audit.bus}  # the window has no bus
TERMINAL = {"dibao": {"awaiting_review"},
            "emergency": {"awaiting_review", "advance_paid", "approved", "follow_up"},
            # An emergency whose advance the town ordered (the chaos driver does, so that money
            # moves during the faults): its one-off payment must exist, once.
            "advanced": {"advance_paid", "approved", "follow_up"}}
PAYABLE = {"approved", "advance_paid"}  # intake shows these as "payment_scheduled" once paid
SUBMITTED, STAGE_CHANGED = "onedoor.application.submitted", "onedoor.case.stage_changed"


@dataclass
class Verdict:
    lost: list[str] = field(default_factory=list)
    duplicated: list[str] = field(default_factory=list)

    def line(self, cases: int, kills: int) -> str:
        return (f"{cases} cases, {kills} kills: {len(self.lost)} lost, "
                f"{len(self.duplicated)} duplicated effects")


def check(system: System, submitted: dict[str, str], *, bootstrap: str | None = None) -> Verdict:
    """``submitted``: case id → "dibao" | "emergency" | "advanced" (the town ordered the
    advance)."""
    unknown = set(submitted.values()) - TERMINAL.keys()
    if unknown:
        raise ValueError(f"unknown kinds of case: {sorted(unknown)}")
    v = Verdict()
    engines = {name: make_engine(system.settings.database_url(name)) for name in BUS}
    try:
        with ExitStack() as stack:
            db = {name: stack.enter_context(_snapshot(e)) for name, e in engines.items()}
            known = _stages(db, submitted, v)
            _decisions_paid(db, v)
            _advances_paid(db, submitted, v)
            _duplicates(db, v)
            _timeline(db, v)
            _ledger(db["payment"], v)
            _archive(db["audit"], known, v)
            dead = _inboxes(db, v)
            arc = audit.archive
            topic = db["audit"].execute(select(func.count()).where(
                arc.c.topic == DEAD_LETTER)).scalar_one()
        if bootstrap:
            topic = max(topic, _run(_dead_letter_records(bootstrap)))
        if topic > dead:
            v.lost.append(f"dead-letter topic: {topic - dead} record(s) no inbox accounts for")
        _chains(system, engines["audit"], v)
    finally:
        for engine in engines.values():
            engine.dispose()
    return v


@contextmanager
def _snapshot(engine: Engine) -> Iterator[Connection]:
    """Read-only: SQLite's WAL gives a reader a snapshot; PostgreSQL is asked for one."""
    with reading(engine) as conn:
        if conn.dialect.name == "postgresql":
            conn = conn.execution_options(isolation_level="REPEATABLE READ",
                                          postgresql_readonly=True)
        yield conn


def _stages(db: dict[str, Connection], submitted: dict[str, str], v: Verdict) -> set[str]:
    """Each case at its terminal automatic stage, verified, and intake agreeing (one line per
    lost case). Answers the cases intake knows."""
    a, i, vr, ar = approval.cases, intake.cases, verification.reports, approval.reports
    staged = {r.case_id: r for r in db["approval"].execute(
        select(a.c.case_id, a.c.stage, a.c.sequence))}
    shown = {r.case_id: r for r in db["intake"].execute(
        select(i.c.case_id, i.c.status, i.c.stage_seq))}
    reported = dict(db["verification"].execute(
        select(vr.c.case_id, vr.c.report_id).where(vr.c.occasion == "application")).all())
    assessed = set(db["approval"].execute(select(ar.c.report_id).where(ar.c.assessed)).scalars())
    for case_id, kind in sorted(submitted.items()):
        case, at, report = staged.get(case_id), shown.get(case_id), reported.get(case_id)
        problem = None
        if at is None:
            problem = "unknown to intake"
        elif case is None:
            problem = "never opened at approval"
        elif case.stage not in TERMINAL[kind]:
            problem = f"stuck at approval stage {case.stage}"
        elif report is None:
            problem = "no verification report"
        elif report not in assessed:
            problem = "its verification report never assessed by approval"
        elif at.stage_seq != case.sequence or at.status not in (
                {case.stage, "payment_scheduled"} if case.stage in PAYABLE else {case.stage}):
            problem = (f"intake shows {at.status} #{at.stage_seq}, approval {case.stage} "
                       f"#{case.sequence}")
        if problem:
            v.lost.append(f"case {case_id} ({kind}): {problem}")
    return set(shown)


def _decisions_paid(db: dict[str, Connection], v: Verdict) -> None:
    d, e, p = approval.decisions, payment.entitlements, payment.payments
    entitled = set(db["payment"].execute(select(e.c.case_id)).scalars())
    one_offs = set(db["payment"].execute(select(p.c.case_id).where(
        p.c.kind == "one_off", p.c.reissue_of.is_(None))).scalars())
    for case_id, monthly, body in db["approval"].execute(
            select(d.c.case_id, d.c.monthly_amount_fen, d.c.body).where(d.c.outcome == "approved")):
        if monthly and case_id not in entitled:
            v.lost.append(f"case {case_id}: approved monthly amount, no entitlement in payment")
        if json.loads(body).get("one_off_amount_fen") and case_id not in one_offs:
            v.lost.append(f"case {case_id}: approved one-off amount, no payment in payment")


def _advances_paid(db: dict[str, Connection], submitted: dict[str, str], v: Verdict) -> None:
    p = payment.payments
    one_offs = set(db["payment"].execute(select(p.c.case_id).where(
        p.c.kind == "one_off", p.c.reissue_of.is_(None))).scalars())
    for case_id, kind in sorted(submitted.items()):
        if kind == "advanced" and case_id not in one_offs:
            v.lost.append(f"case {case_id}: advance ordered, no payment in payment")


def _twice(conn: Connection, what: str, keys: list[ColumnElement[Any]],
           case_id: ColumnElement[Any], *where: ColumnElement[bool]) -> list[str]:
    """Groups of rows sharing ``keys`` (GROUP BY … HAVING count(*) > 1), named by case."""
    query = (select(func.count(), func.min(case_id), func.max(case_id)).where(*where)
             .group_by(*keys).having(func.count() > 1))
    return [f"{what}: {n} for case {first}" + (f" and {last}" if last != first else "")
            for n, first, last in conn.execute(query)]


def _json_text(conn: Connection, column: ColumnElement[Any], key: str) -> ColumnElement[Any]:
    """A key of a JSON text column: PostgreSQL must be told it is JSON; SQLite reads it as is."""
    as_json = cast(column, JSON) if conn.dialect.name == "postgresql" else type_coerce(column, JSON)
    text: ColumnElement[Any] = as_json[key].as_string()
    return text


def _duplicates(db: dict[str, Connection], v: Verdict) -> None:
    s, r, p = approval.assessments, verification.reports, payment.payments
    first = p.c.reissue_of.is_(None)
    found = _twice(db["approval"], "assessments of one report", [
        s.c.case_id, _json_text(db["approval"], s.c.facts, "report_id")], s.c.case_id)
    found += _twice(db["verification"], "application reports", [r.c.case_id], r.c.case_id,
                    r.c.occasion == "application")
    pay = db["payment"]
    found += _twice(pay, "monthly payments of one case and month",
                    [p.c.case_id, p.c.programme, p.c.period], p.c.case_id,
                    p.c.kind == "monthly", first)
    found += _twice(pay, "monthly payments of one household and month",
                    [p.c.beneficiary_ref, p.c.programme, p.c.period], p.c.case_id,
                    p.c.kind == "monthly", first)
    found += _twice(pay, "one-off payments", [p.c.case_id, p.c.programme], p.c.case_id,
                    p.c.kind == "one_off", first)
    found += _twice(pay, "batch payments of one household", [p.c.run_id, p.c.beneficiary_ref],
                    p.c.case_id, p.c.kind == "batch", first)
    found += _twice(pay, "re-issues of one payment", [p.c.reissue_of], p.c.case_id, ~first)
    v.duplicated.extend(found)


def _timeline(db: dict[str, Connection], v: Verdict) -> None:
    arc, t = audit.archive, intake.timeline
    archived = set(db["audit"].execute(select(arc.c.event_id).where(
        arc.c.event_id.is_not(None), arc.c.topic != DEAD_LETTER)).scalars())
    stage_of: dict[str, tuple[str, int]] = {}
    ids: dict[tuple[str, int], set[str]] = defaultdict(set)
    for event_id, subject, value in db["audit"].execute(select(
            arc.c.event_id, arc.c.subject, arc.c.value).where(arc.c.event_type == STAGE_CHANGED)):
        stage_of[event_id] = (subject, int(json.loads(bytes(value))["sequence"]))
        ids[stage_of[event_id]].add(event_id)
    v.duplicated.extend(f"archive: stage change {seq} of case {case} under {len(each)} event ids"
                        for (case, seq), each in sorted(ids.items()) if len(each) > 1)
    rows = db["intake"].execute(
        select(t.c.event_id, t.c.case_id, t.c.event_type, t.c.summary)).all()
    stages = Counter(stage_of[r.event_id] for r in rows if r.event_id in stage_of)
    v.duplicated.extend(f"intake timeline: stage change {seq} of case {case} {n} times"
                        for (case, seq), n in sorted(stages.items()) if n > 1)
    # An entry of an event the archive lacks is lost to the archive — unless it repeats an
    # archived stage change word for word (two assessments may read alike; stage changes,
    # with their time limits and notes, do not).
    said = {(r.case_id, r.summary) for r in rows if r.event_id in stage_of}
    for r in rows:
        if r.event_id in archived:
            continue
        if r.event_type == STAGE_CHANGED and (r.case_id, r.summary) in said:
            v.duplicated.append(f"intake timeline: {r.event_type} of case {r.case_id} again "
                                f"as unarchived event {r.event_id}")
        else:
            v.lost.append(f"archive: lacks {r.event_type} {r.event_id} of case {r.case_id}")


def _ledger(conn: Connection, v: Verdict) -> None:
    p, led, files = payment.payments, payment.ledger, payment.bank_files
    pays = {r.payment_id: r for r in conn.execute(
        select(p.c.payment_id, p.c.case_id, p.c.amount_fen, p.c.status, p.c.reissue_of))}
    moves: dict[str, list[Any]] = defaultdict(list)
    for row in conn.execute(
            select(led.c.payment_id, led.c.from_state, led.c.to_state, func.count(),
                   func.sum(led.c.amount_fen), func.min(led.c.amount_fen),
                   func.max(led.c.amount_fen))
            .group_by(led.c.payment_id, led.c.from_state, led.c.to_state)):
        moves[row[0]].append(row[1:])
    v.lost.extend(f"ledger: entries for payment {pid}, which does not exist"
                  for pid in sorted(moves.keys() - pays.keys()))
    for pid, pay in pays.items():
        amount, balance, approvals = pay.amount_fen, Counter[str](), 0
        for src, dst, n, total, low, high in moves.get(pid, ()):
            if low != amount or high != amount:
                v.lost.append(f"ledger: payment {pid} of case {pay.case_id} has entries of "
                              f"{low}..{high} fen for its {amount}")
            balance[dst] += int(total)
            balance[src] -= int(total)
            approvals += n if src == "approved" else 0
        expected = Counter({"approved" if pay.reissue_of is None else "failed": -amount})
        expected["failed" if pay.status == "reissued" else pay.status] += amount
        if approvals > (pay.reissue_of is None):
            v.duplicated.append(f"ledger: payment {pid} of case {pay.case_id} approved "
                                f"{approvals} times")
        elif {k: n for k, n in balance.items() if n} != {k: n for k, n in expected.items() if n}:
            v.lost.append(f"ledger: payment {pid} of case {pay.case_id} ({pay.status}) does not "
                          f"balance: {dict(balance)}")
    carried = {f: (int(n), int(total)) for f, n, total in conn.execute(
        select(p.c.bank_file_id, func.count(), func.sum(p.c.amount_fen))
        .where(p.c.bank_file_id.is_not(None)).group_by(p.c.bank_file_id))}
    for file_id, count, total in conn.execute(
            select(files.c.file_id, files.c.record_count, files.c.total_fen)):
        if carried.get(file_id, (0, 0)) != (count, total):
            v.lost.append(f"bank file {file_id}: {count} records, {total} fen, but its "
                          f"payments {carried.get(file_id, (0, 0))}")


def _archive(conn: Connection, known: set[str], v: Verdict) -> None:
    arc = audit.archive
    submissions: dict[str, int] = dict(conn.execute(
        select(arc.c.subject, func.count()).where(arc.c.topic == APPLICATIONS,
                                                  arc.c.event_type == SUBMITTED)
        .group_by(arc.c.subject)).all())
    for case_id in sorted(known):  # every case intake registered, submitted by the run or not
        n = submissions.get(case_id, 0)
        if n != 1:
            (v.lost if n == 0 else v.duplicated).append(
                f"archive: submission of case {case_id} held {n} times")
    v.duplicated.extend(
        f"archive: event {event_id} on {topic} held {n} times" for topic, event_id, n in
        conn.execute(select(arc.c.topic, arc.c.event_id, func.count())
                     .where(arc.c.event_id.is_not(None)).group_by(arc.c.topic, arc.c.event_id)
                     .having(func.count() > 1)))


def _inboxes(db: dict[str, Connection], v: Verdict) -> int:
    """Dead-lettered events and events stuck in an outbox; answers how many were dead-lettered."""
    dead = 0
    for name, conn in db.items():
        inbox, outbox = BUS[name].inbox, BUS[name].outbox
        for event_type, n in conn.execute(
                select(inbox.c.event_type, func.count())
                .where(inbox.c.outcome == "dead-lettered").group_by(inbox.c.event_type)):
            dead += n
            v.lost.append(f"{name}: {n} {event_type} event(s) dead-lettered")
        stuck = conn.execute(select(func.count()).where(
            outbox.c.published_at.is_(None))).scalar_one()
        if stuck:
            v.lost.append(f"{name}: {stuck} event(s) never left its outbox")
    return dead


def _chains(system: System, engine: Engine, v: Verdict) -> None:
    """`onedoor audit verify`, in-process: every link, and the checkpoints by audit's own key."""
    with reading(engine) as conn:
        marks = store.all_checkpoints(conn)
    try:
        signer = load_signer(system.settings, create=False)
        keys = {signer.key_id: signer.public_key_pem()}
    except NoSigningKey:
        marks, keys = [], {}  # no key to judge checkpoints by: the chains alone
    for f in verify(store.records(engine), marks, keys).findings:
        v.lost.append(f"archive {f.kind}: {f.topic}/{f.partition} seq {f.seq}")


def _run(coro: Coroutine[Any, Any, int]) -> int:
    """In a thread of its own, so a caller with a running event loop can call ``check`` too."""
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coro).result()


async def _dead_letter_records(bootstrap: str, timeout_s: float = 60) -> int:
    """How many records the dead-letter topic holds: read from the beginning, group-less, to
    the end offsets — and until two fetches bring nothing (the embedded broker may answer a low
    end offset; see services/audit/entrypoints/recovery.py)."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=None,
                                enable_auto_commit=False)
    await start_with_retry(consumer, "chaos check", attempts=20)
    try:
        await consumer.topics()
        parts = [TopicPartition(DEAD_LETTER, p)
                 for p in sorted(consumer.partitions_for_topic(DEAD_LETTER) or ())]
        if not parts:
            return 0
        consumer.assign(parts)
        await consumer.seek_to_beginning(*parts)
        ends = await consumer.end_offsets(parts)
        count, idle, deadline = 0, 0, time.monotonic() + timeout_s
        while idle < 2 and time.monotonic() < deadline:
            fetched = await consumer.getmany(*parts, timeout_ms=1000)
            got = sum(len(records) for records in fetched.values())
            count += got
            behind = [tp for tp in parts if await consumer.position(tp) < ends[tp]]
            idle = 0 if got or behind else idle + 1
        return count
    finally:
        await consumer.stop()
