"""Replaying the audit archive: 1,000,000 events of whole case histories, every case rebuilt
and every assessment re-run.

``python -m bench.audit_replay --events 1000000`` (part of ``make bench``, where
``AUDIT_EVENTS=...`` lowers the size). Issue 7's direction: replay and verify at 50,000 events/s
or more (1,000,000 events in under 20 s) on this machine. This bench covers replay;
``bench.audit_verify`` covers verify.

Setup (not timed): a fresh audit database (a temporary SQLite file, or ``--database-url`` for an
empty one) brought up by audit's migrations, filled through ``archiving.archive`` (the
archiver's own path) with case histories as the services publish them, in time order: an
application, its verification report, the assessment made by approval's own rules on the
packaged policy (``assess`` on the facts approval would build), the stage changes of review,
notice and approval, the decision, the recognition, monthly payments and their settlement, and
for some recipients a periodic review re-assessed against the household's own running status.
Programmes mixed: Dibao, extreme hardship, marginal, temporary assistance, disability subsidies.

Timed, in a fresh interpreter: ``replay_shares.replay_archive`` as ``onedoor audit replay``
runs it — one process per core (``--workers``), each reading every chain in event-time order
(one query on the archive's ``event_time`` index) and folding, re-running and storing its share
of the cases — writing the fresh store (cases, timeline, findings). CPU seconds are the parent's
and its processes'; peak RSS the largest process's.

The figure counts only if the replay re-ran every generated assessment and found no divergence.
Then (not timed) the same replay with one policy figure changed must report divergences: proof
that the measured code really re-runs the rules.
"""

from __future__ import annotations

import argparse
import heapq
import json
import random
import resource
import subprocess
import sys
import tempfile
import time
import zlib
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from bench.measure import machine, peak_mb, rate, safe_url
from services.approval.domain.assessment import assess
from services.approval.domain.facts import from_application, with_report
from services.approval.domain.policy import PolicyTable, load_policy
from services.approval.domain.reassessment import add_months
from services.approval.domain.stated import benefits, reasons
from services.approval.rules import DEFAULT_POLICY
from services.audit.service_layer import archiving, replay_shares, replaying
from shared import clock
from shared.db import make_engine
from shared.events import catalogue as ev
from shared.events.base import Event
from shared.events.envelope import Envelope, new_id, to_record
from shared.migrations import upgrade

ROOT = Path(__file__).resolve().parents[1]
MIGRATIONS = ROOT / "services" / "audit" / "migrations"
PARTITIONS, BATCH = 3, 2_000
DIRECTION_RATE, DIRECTION_N, DIRECTION_S = 50_000.0, 1_000_000, 20.0
REGIONS = ("330282", "370212", "370203")  # Cixi; two Qingdao districts (city figures)
PROGRAMMES = ("dibao",) * 6 + ("tekun", "marginal", "temporary", "disability")
SOURCE = {"intake": "/onedoor/intake", "verification": "/onedoor/verification",
          "approval": "/onedoor/approval", "payment": "/onedoor/payment"}


class Histories:
    """Whole case histories, each as approval would have published it, merged in time order."""

    def __init__(self, policy: PolicyTable, seed: int) -> None:
        self.policy, self.rng = policy, random.Random(seed)
        self.assessments = 0

    def records(self, n: int) -> Iterator[archiving.Incoming]:
        start = datetime(2025, 1, 6, 1, 0, tzinfo=UTC)
        pending: list[tuple[datetime, int, Event, str]] = []
        offsets: dict[tuple[str, int], int] = {}
        made = order = 0
        while made < n:
            start += timedelta(seconds=self.rng.randrange(60, 600))
            while pending and pending[0][0] < start and made < n:
                at, _, event, service = heapq.heappop(pending)
                self.assessments += isinstance(event, ev.CaseAssessed)
                yield _incoming(event, service, at, offsets)
                made += 1
            for at, event, service in self.case(start):
                order += 1
                heapq.heappush(pending, (at, order, event, service))
        # The cases still under way when N is reached are left incomplete, as in a live log.

    def case(self, t: datetime) -> list[tuple[datetime, Event, str]]:
        rng = self.rng
        region, programme = rng.choice(REGIONS), rng.choice(PROGRAMMES)
        case_id = f"{region}-{clock.local_date(t):%Y%m%d}-{rng.getrandbits(48):012x}"
        size = rng.choice((1, 1, 2, 3, 4))
        members = [ev.MemberFacts(
            person_ref=f"p-{rng.getrandbits(128):032x}",
            relation="applicant" if i == 0 else rng.choice(("spouse", "child", "parent")),
            age_years=rng.randrange(1, 95) if i else rng.randrange(19, 95),
            declared_incomes=[ev.DeclaredIncome(kind=rng.choice(("wage", "pension")),
                                                monthly_amount_fen=rng.randrange(0, 150_000))]
            if rng.random() < 0.6 else [],
            consent_signed=True,
            disability_grade=rng.choice((None, None, None, 1, 2, 3, 4)),
            able_to_work=rng.random() < 0.3, self_care=rng.choice(("full", "partial", "none")))
            for i in range(size)]
        temporary = ev.TemporaryRequest(
            kind="spending", requested_amount_fen=rng.randrange(100_000, 2_000_000),
            cause="illness", rigid_medical_spending_fen=rng.randrange(0, 5_000_000)) \
            if programme == "temporary" else None
        app = ev.ApplicationSubmitted(
            case_id=case_id, region_code=region, programme=programme, submitted_at=t,
            members=members, temporary=temporary,
            care_mode="home" if programme == "tekun" else None,
            legal_supporters=[ev.SupporterFacts(relation="child", able_to_support=False)]
            if programme == "tekun" else [])
        out: list[tuple[datetime, Event, str]] = [(t, app, "intake")]
        t += timedelta(seconds=2)
        out.append((t, _stage(case_id, 1, None, "awaiting_report", "submitted", t), "approval"))
        facts = from_application(app)
        report = self._report(app, t := t + timedelta(hours=rng.randrange(1, 48)), "application")
        out.append((t, report, "verification"))
        t += timedelta(seconds=1)
        facts = with_report(facts, report)
        result, assessed = self._assessed(case_id, replace(facts), t)
        out.append((t, assessed, "approval"))
        seq = 1
        if not result.eligible:
            for stage, action in (("awaiting_review", "report_received"),
                                  ("rejected", "rejected")):
                seq += 1
                t += timedelta(days=rng.randrange(0, 5), seconds=1)
                out.append((t, _stage(case_id, seq, None, stage, action, t), "approval"))
            out.append((t, self._decided(app, "rejected", result, t), "approval"))
            return out
        for stage, action in (("awaiting_review", "report_received"),
                              ("under_notice", "accepted"),
                              ("awaiting_approval", "notice_closed"), ("approved", "approved")):
            seq += 1
            t += timedelta(days=rng.randrange(1, 6), seconds=1)
            out.append((t, _stage(case_id, seq, None, stage, action, t), "approval"))
        decided = self._decided(app, "approved", result, t)
        out.append((t, decided, "approval"))
        if programme in ("dibao", "tekun", "marginal"):
            out.append((t, ev.HouseholdRecognised(
                case_id=case_id, status=programme, region_code=region,
                member_refs=decided.member_refs, valid_from=decided.start_month or
                f"{clock.local_date(t):%Y-%m}", recognised_at=t), "approval"))
        out += self._payments(decided, t)
        if decided.monthly_amount_fen and rng.random() < 0.2:
            # A periodic review: a fresh report, assessed with the household's own status.
            t += timedelta(days=rng.randrange(20, 40))
            report = self._report(app, t, "periodic_review")
            out.append((t, report, "verification"))
            t += timedelta(seconds=1)
            status = programme if programme in ("dibao", "tekun", "marginal") else None
            _, assessed = self._assessed(case_id, replace(with_report(facts, report),
                                                          household_status=status), t)
            out.append((t, assessed, "approval"))
        return out

    def _report(self, app: ev.ApplicationSubmitted, t: datetime, occasion: str
                ) -> ev.VerificationReported:
        rng = self.rng
        members = []
        for m in app.members:
            declared = sum(i.monthly_amount_fen for i in m.declared_incomes)
            counted = max(0, declared + rng.choice((0, 0, 0, rng.randrange(-20_000, 40_000))))
            members.append(ev.MemberIncome(
                person_ref=m.person_ref, declared_monthly_fen=declared,
                verified_monthly_fen=counted, counted_monthly_fen=counted,
                sources=["tax", "social_security"],
                employment_monthly_fen=counted if m.declared_incomes and
                m.declared_incomes[0].kind == "wage" else 0))
        total = sum(m.counted_monthly_fen for m in members)
        return ev.VerificationReported(
            case_id=app.case_id, report_id=new_id(), region_code=app.region_code,
            programme=app.programme, applicant_ref=app.members[0].person_ref,
            household_size=len(members), members=members,
            assets=ev.AssetSummary(real_estate_count=rng.choice((0, 1, 1, 2)),
                                   vehicle_count=rng.choice((0, 0, 0, 1)),
                                   deposits_fen=rng.randrange(0, 8_000_000)),
            household_monthly_income_fen=total, per_capita_monthly_income_fen=total // len(
                members), reported_at=t, occasion=occasion)

    def _assessed(self, case_id: str, facts: Any, t: datetime) -> tuple[Any, ev.CaseAssessed]:
        on = clock.local_date(t)
        result = assess(facts, self.policy, on)
        return result, ev.CaseAssessed(
            case_id=case_id, assessment_id=new_id(), report_id=facts.report_id,
            eligible=result.eligible, programme=facts.programme, region_code=facts.region_code,
            monthly_amount_fen=result.monthly_amount_fen,
            one_off_amount_fen=result.one_off_amount_fen, benefits=benefits(result.benefits),
            policy_version=result.policy_version, reasons=reasons(result.checks),
            assessed_on=on.isoformat(), assessed_at=t)

    def _decided(self, app: ev.ApplicationSubmitted, outcome: str, result: Any, t: datetime
                 ) -> ev.ApplicationDecided:
        approved = outcome == "approved"
        monthly = result.monthly_amount_fen if approved else 0
        return ev.ApplicationDecided(
            case_id=app.case_id, decision_id=new_id(), outcome=outcome,
            programme=app.programme, region_code=app.region_code,
            beneficiary_ref=app.members[0].person_ref, household_size=len(app.members),
            monthly_amount_fen=monthly,
            start_month=f"{clock.local_date(t):%Y-%m}" if monthly else None,
            policy_version=result.policy_version, reasons=reasons(result.checks), decided_at=t,
            one_off_amount_fen=result.one_off_amount_fen if approved else 0,
            benefits=benefits(result.benefits) if approved else [],
            member_refs=[m.person_ref for m in app.members], decided_by="district")

    def _payments(self, d: ev.ApplicationDecided, t: datetime
                  ) -> list[tuple[datetime, Event, str]]:
        out: list[tuple[datetime, Event, str]] = []
        month = d.start_month or f"{clock.local_date(t):%Y-%m}"
        plan = [(month, "one_off", d.one_off_amount_fen)] if d.one_off_amount_fen else []
        for _ in range(3 if d.monthly_amount_fen else 0):
            plan.append((month, "monthly", d.monthly_amount_fen))
            month = add_months(month, 1)
        for i, (period, kind, amount) in enumerate(plan):
            at = t + timedelta(days=30 * i + 1)
            payment_id = new_id()
            out.append((at, ev.PaymentScheduled(
                case_id=d.case_id, payment_id=payment_id, programme=d.programme,
                period=period, kind=kind, amount_fen=amount,
                beneficiary_ref=d.beneficiary_ref, region_code=d.region_code,
                scheduled_at=at), "payment"))
            out.append((at + timedelta(days=2), ev.PaymentSettled(
                case_id=d.case_id, payment_id=payment_id, programme=d.programme, period=period,
                kind=kind, amount_fen=amount, outcome="paid",
                bank_file_id=new_id(), settled_at=at + timedelta(days=2)), "payment"))
        return out


def _stage(case_id: str, seq: int, from_stage: str | None, to_stage: str, action: str,
           t: datetime) -> ev.CaseStageChanged:
    return ev.CaseStageChanged(
        case_id=case_id, sequence=seq, from_stage=from_stage,
        to_stage=to_stage, action=action, actor="system:onedoor",
        due_at=None, changed_at=t)


def _incoming(event: Event, service: str, at: datetime,
              offsets: dict[tuple[str, int], int]) -> archiving.Incoming:
    rec = to_record(Envelope(data=event, source=SOURCE[service], time=at))
    partition = zlib.crc32(rec.key) % PARTITIONS
    offset = offsets.get((rec.topic, partition), 0)
    offsets[(rec.topic, partition)] = offset + 1
    return archiving.Incoming(rec.topic, partition, offset, rec.key, rec.headers, rec.value)


# -- setup ------------------------------------------------------------------------------------

def fill(url: str, n: int, seed: int) -> dict[str, Any]:
    upgrade(url, MIGRATIONS)
    engine = make_engine(url)
    histories = Histories(load_policy(DEFAULT_POLICY), seed)
    t0 = time.perf_counter()
    batch: list[archiving.Incoming] = []
    for record in histories.records(n):
        batch.append(record)
        if len(batch) == BATCH:
            with engine.begin() as conn:
                archiving.archive(conn, batch)
            batch = []
    if batch:
        with engine.begin() as conn:
            archiving.archive(conn, batch)
    engine.dispose()
    return {"events": n, "assessments_made": histories.assessments,
            "setup_s": time.perf_counter() - t0}


# -- the timed part, in its own interpreter ----------------------------------------------------

def timed_replay(url: str, out_url: str, policy_dir: str, workers: str) -> dict[str, Any]:
    policy = load_policy(Path(policy_dir))
    cpu = _cpu()
    _, summary = replay_shares.replay_archive(url, policy, replaying.Scope(), out_url=out_url,
                                              workers=int(workers))
    cpu = _cpu() - cpu  # on a shared machine, steadier than the wall clock
    # The largest of this process and its processes (each counted whole, shared pages too).
    children_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    return {**summary.to_json(), "cpu_s": cpu, "peak_mb": max(peak_mb(), children_mb),
            "workers": int(workers)}


def _cpu() -> float:
    """CPU seconds of this process and of its processes that have ended."""
    own, children = resource.getrusage(resource.RUSAGE_SELF), \
        resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def _child(url: str, out_url: str, policy_dir: Path, workers: int) -> dict[str, Any]:
    result = subprocess.run(
        [sys.executable, "-m", "bench.audit_replay", "--child", url, out_url, str(policy_dir),
         str(workers)],
        capture_output=True, text=True, check=False, cwd=ROOT)
    if result.returncode != 0:
        raise SystemExit(f"replay failed:\n{result.stderr}")
    measured: dict[str, Any] = json.loads(result.stdout)
    return measured


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--events", type=int, default=DIRECTION_N)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--database-url", help="an empty audit database (default: temp SQLite)")
    parser.add_argument("--workers", type=int, default=replay_shares.default_workers(),
                        help="processes sharing the cases out (default: one per core)")
    parser.add_argument("--child", nargs=4, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(timed_replay(*args.child)))
        return
    work = Path(tempfile.mkdtemp(prefix="onedoor-bench-replay-"))
    url = args.database_url or f"sqlite:///{work / 'audit.db'}"
    print(machine())
    print(f"archive: {safe_url(url)}; generating and archiving {args.events:,} events "
          "(not timed)…", flush=True)
    setup = fill(url, args.events, args.seed)
    print(f"  {setup['assessments_made']:,} assessments made by approval's rules; setup "
          f"{setup['setup_s']:.0f} s")
    s = _child(url, f"sqlite:///{work / 'replay.db'}", DEFAULT_POLICY, args.workers)
    ok = s["events"] == args.events and s["decisions_rerun"] == setup["assessments_made"] \
        and s["divergences"] == 0
    print(f"replay: {s['events']:,} events, {s['cases']:,} cases, {s['decisions_rerun']:,} "
          f"assessments re-run, {s['divergences']} divergences, in {s['seconds']:.1f} s "
          f"({rate(s['events'], s['seconds'])}; {s['cpu_s']:.1f} s of CPU in "
          f"{s['workers']} process(es)), "
          f"peak {s['peak_mb']:.0f} MB")
    # The proof that the measured code re-runs the rules: one figure changed must diverge.
    changed = work / "policies"
    changed.mkdir()
    for f in DEFAULT_POLICY.glob("*.toml"):
        text = f.read_text(encoding="utf-8")
        if f.name == "dibao.toml":
            assert "value = 100500" in text
            text = text.replace("value = 100500", "value = 100400", 1)
        (changed / f.name).write_text(text, encoding="utf-8")
    tampered = _child(url, f"sqlite:///{work / 'replay-changed.db'}", changed, args.workers)
    print(f"  with Cixi's Dibao standard changed by 1 yuan: {tampered['divergences']:,} "
          "divergences")
    if not ok or tampered["divergences"] == 0:
        raise SystemExit("REFUSED: the replay did not re-run every assessment cleanly, or did "
                         "not notice a changed policy; no figure")
    meets = s["events"] / s["seconds"] >= DIRECTION_RATE
    print(f"direction (≥ {DIRECTION_RATE:,.0f} events/s, {DIRECTION_N:,} in < {DIRECTION_S:.0f}"
          f" s): {'met' if meets else 'MISSED'}")


if __name__ == "__main__":
    main()
