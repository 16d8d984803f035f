"""Verifying the audit archive: 1,000,000 events archived, then every link and checkpoint checked.

``python -m bench.audit_verify --events 1000000`` (part of ``make bench``, where
``AUDIT_EVENTS=...`` lowers the size). Issue 7's direction: replay and verify at 50,000 events/s
or more (1,000,000 events in under 20 s) on this machine. This bench covers verify.

Setup: a fresh audit database (a temporary SQLite file, or ``--database-url`` for an empty one,
e.g. PostgreSQL) brought up by audit's own migrations.

A. archive (timed; the archiver's ceiling, without Kafka) — N Kafka records as OneDoor's services
   publish them: real catalogue events (stage changes, assessments, decisions, benefit changes,
   applications, verification reports, payments, referrals, and dead letters with their ``dlq_*``
   headers) encoded by ``to_record`` in CloudEvents binary mode — ``ce_*`` headers with a unique
   ``ce_id``, the case id as key — over the 6 topics and 3 partitions each (partition by key).
   They go through ``archiving.archive``, the archiver's own path (heads read, ``ce_id``s
   deduplicated, chained, inserted), 2,000 a batch, one transaction each; a checkpoint is signed
   with ``archiving.checkpoint`` every 100,000 events (and at the end, for a tail). Generating the
   records is not timed.
B. verify (the figure) — in a fresh interpreter, so that its peak RSS is its own:
   ``verify(store.records(engine), checkpoints, {key_id: public_pem})`` over the whole archive,
   with the checkpoints and the public key from an exported copy, as an auditor would run it.

The figures count only if the verification is clean (no finding), covered N records and every
signed checkpoint. Then (not timed) the append-only trigger is dropped and one byte of one
record in the middle of the archive is changed: the same verification, run again in a fresh
interpreter, must report exactly one finding, ``modified`` at that record — proof that the
measured code really checks. Otherwise the bench refuses to print figures.
"""

from __future__ import annotations

import argparse
import cProfile
import json
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import zlib
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.engine import make_url

from bench.measure import machine, peak_mb, rate, rss_mb, safe_url
from services.audit.adapters import store
from services.audit.adapters.tables import archive as archive_table
from services.audit.domain.checkpoint import Signer, from_json, to_json
from services.audit.domain.verify import verify
from services.audit.service_layer import archiving
from shared.db import make_engine, reading
from shared.events import catalogue as ev
from shared.events import topics
from shared.events.base import Event
from shared.events.envelope import Envelope, new_id, to_record
from shared.migrations import upgrade

ROOT = Path(__file__).resolve().parents[1]
MIGRATIONS = ROOT / "services" / "audit" / "migrations"
PARTITIONS = 3
BATCH = 2_000  # records per archive() call and transaction, as the archiver's getmany
CHECKPOINT_EVERY = 100_000
DIRECTION_RATE = 50_000.0  # issue 7: ≥ 50,000 events/s,
DIRECTION_N, DIRECTION_S = 1_000_000, 20.0  # i.e. 1,000,000 events in under 20 s

# Share of the events per topic: payments and the decisions topic (stage changes, assessments,
# decisions) dominate a running system; dead letters are rare.
TOPIC_SHARE = {topics.PAYMENTS: 0.32, topics.DECISIONS: 0.33, topics.APPLICATIONS: 0.10,
               topics.VERIFICATIONS: 0.12, topics.REFERRALS: 0.06, topics.MONITORING: 0.02,
               topics.DEAD_LETTER: 0.04, topics.POLICY: 0.01}
assert set(TOPIC_SHARE) == set(topics.ALL_TOPICS)

REGIONS = ("330282", "330203", "330205", "330206", "330211", "330212", "330213", "330225",
           "330226", "330281")
PROGRAMMES = ("dibao", "dibao", "dibao", "tekun", "marginal", "temporary", "disability")
# Whether the staff wrote a note (its words stay in approval): five changes in seven have one.
HAS_NOTE = (False, False, True, True, True, True, True)
# Warnings' and leads' reasons, as codes and figures (shared/monitoring_reasons.py).
MEDICAL_SPENDING = {"months": 12, "total_fen": 3_600_000, "yearly_income_fen": 6_000_000,
                    "share_permille": 600}
MEDICAL_HARDSHIP = {"bills": 3, "total_fen": 4_500_000, "months": 12}


# -- the records ------------------------------------------------------------------------------

class Generator:
    """Kafka records as OneDoor's services would publish them, deterministic but for ``ce_id``
    and ``ce_time`` (made by the envelope, as in the services)."""

    def __init__(self, n: int, seed: int) -> None:
        self.rng = random.Random(seed)
        self.at = datetime(2026, 11, 2, 8, 30, tzinfo=UTC)
        rng = self.rng
        self.cases = []  # (case id, region, programme, member refs)
        for _ in range(max(1_000, n // 6)):  # a case has several events
            region = rng.choice(REGIONS)
            day = datetime(2026, 1, 1) + timedelta(days=rng.randrange(320))
            refs = [f"p-{rng.getrandbits(128):032x}" for _ in range(rng.choice((1, 1, 2, 3, 4)))]
            self.cases.append((f"{region}-{day:%Y%m%d}-{rng.getrandbits(48):012x}", region,
                               rng.choice(PROGRAMMES), refs))
        self.topics = list(TOPIC_SHARE)
        self.weights = [TOPIC_SHARE[t] for t in self.topics]
        self.offsets: dict[tuple[str, int], int] = {}

    def batches(self, n: int, size: int) -> Iterator[list[archiving.Incoming]]:
        for lo in range(0, n, size):
            yield [self.record() for _ in range(min(size, n - lo))]

    def record(self) -> archiving.Incoming:
        rng = self.rng
        self.at += timedelta(milliseconds=rng.randrange(1, 200))
        topic = rng.choices(self.topics, self.weights)[0]
        case = rng.choice(self.cases)
        if topic == topics.DEAD_LETTER:
            # The original record, with the consumer's reasons (shared/bus/consumer.py).
            source = rng.choice((topics.DECISIONS, topics.PAYMENTS))
            event, service = self._event(source, case)
            rec = to_record(Envelope(data=event, source=f"/onedoor/{service}"))
            part = rng.randrange(PARTITIONS)
            headers = [*rec.headers,
                       ("dlq_reason", b"ValueError: the case is not in a stage that accepts this"
                                      b" event"),
                       ("dlq_consumer", rng.choice((b"onedoor-intake", b"onedoor-payment"))),
                       ("dlq_topic", source.encode()), ("dlq_partition", str(part).encode()),
                       ("dlq_offset", str(rng.randrange(1_000_000)).encode())]
            key, value = rec.key, rec.value
        else:
            event, service = self._event(topic, case)
            rec = to_record(Envelope(data=event, source=f"/onedoor/{service}"))
            headers, key, value = rec.headers, rec.key, rec.value
        partition = zlib.crc32(key) % PARTITIONS
        offset = self.offsets.get((topic, partition), 0)
        self.offsets[(topic, partition)] = offset + 1
        return archiving.Incoming(topic, partition, offset, key, headers, value)

    def _event(self, topic: str, case: tuple[str, str, str, list[str]]) -> tuple[Event, str]:
        rng, at = self.rng, self.at
        case_id, region, programme, refs = case
        if topic == topics.PAYMENTS:
            if rng.random() < 0.6:
                return ev.PaymentScheduled(
                    case_id=case_id, payment_id=new_id(), programme=programme, period="2026-12",
                    amount_fen=rng.randrange(20_000, 300_000), beneficiary_ref=refs[0],
                    region_code=region, scheduled_at=at, run_id=new_id()), "payment"
            failed = rng.random() < 0.02
            return ev.PaymentSettled(
                case_id=case_id, payment_id=new_id(), programme=programme, period="2026-11",
                kind="monthly", amount_fen=rng.randrange(20_000, 300_000),
                outcome="failed" if failed else "paid",
                reason_code="account_closed" if failed else None,
                bank_file_id=new_id(), settled_at=at), "payment"
        if topic == topics.DECISIONS:
            r = rng.random()
            if r < 0.5:
                return ev.CaseStageChanged(
                    case_id=case_id, sequence=rng.randrange(1, 12), from_stage="awaiting_review",
                    to_stage=rng.choice(("under_notice", "awaiting_approval", "returned")),
                    action=rng.choice(("town_reviewed", "notice_posted", "returned_to_window")),
                    actor=f"town_reviewer:t-{rng.randrange(1, 200):03d}",
                    has_note=rng.choice(HAS_NOTE),
                    due_at=at + timedelta(days=7), changed_at=at), "approval"
            if r < 0.7:
                return ev.ApplicationDecided(
                    case_id=case_id, decision_id=new_id(),
                    outcome=rng.choice(("approved", "approved", "rejected")),
                    programme=programme, region_code=region, beneficiary_ref=refs[0],
                    household_size=len(refs), monthly_amount_fen=rng.randrange(0, 300_000),
                    start_month="2026-12", policy_version=f"{region}-2026.07",
                    reasons=self._reasons(region, 2), decided_at=at, member_refs=refs,
                    decided_by="district"), "approval"
            if r < 0.85:
                amount = rng.randrange(0, 300_000)
                return ev.CaseAssessed(
                    case_id=case_id, assessment_id=new_id(), report_id=new_id(),
                    eligible=amount > 0, programme=programme, region_code=region,
                    monthly_amount_fen=amount, one_off_amount_fen=0,
                    benefits=[ev.Benefit(kind="dibao", monthly_amount_fen=amount)],
                    policy_version=f"{region}-2026.07", reasons=self._reasons(region, 1),
                    assessed_on=f"{at:%Y-%m-%d}", assessed_at=at), "approval"
            return ev.BenefitChanged(
                case_id=case_id, change=rng.choice(("gradual_exit", "suspended", "resumed",
                                                    "amount_changed")),
                programme=programme, beneficiary_ref=refs[0], effective_month="2027-01",
                end_month=None, monthly_amount_fen=rng.randrange(0, 300_000),
                reason="年度复核：家庭人均收入超过低保标准，按规定渐退", changed_at=at), "approval"
        if topic == topics.APPLICATIONS:
            return ev.ApplicationSubmitted(
                case_id=case_id, region_code=region, programme=programme, submitted_at=at,
                members=[ev.MemberFacts(
                    person_ref=ref, relation="applicant" if i == 0 else "child",
                    age_years=rng.randrange(1, 90),
                    declared_incomes=[ev.DeclaredIncome(
                        kind="wage", monthly_amount_fen=rng.randrange(0, 300_000))]
                    if rng.random() < 0.5 else [], consent_signed=True)
                    for i, ref in enumerate(refs[:2])]), "intake"
        if topic == topics.VERIFICATIONS:
            members = [ev.MemberIncome(
                person_ref=ref, declared_monthly_fen=(d := rng.randrange(0, 200_000)),
                verified_monthly_fen=d, counted_monthly_fen=d,
                sources=["tax", "social_security"]) for ref in refs[:2]]
            total = sum(m.counted_monthly_fen for m in members)
            return ev.VerificationReported(
                case_id=case_id, report_id=new_id(), region_code=region, programme=programme,
                applicant_ref=refs[0], household_size=len(refs), members=members,
                assets=ev.AssetSummary(real_estate_count=rng.randrange(2), vehicle_count=0,
                                       deposits_fen=rng.randrange(0, 5_000_000)),
                household_monthly_income_fen=total,
                per_capita_monthly_income_fen=total // len(refs), reported_at=at), "verification"
        if topic == topics.MONITORING:
            return self._monitoring(case), "verification"
        if rng.random() < 0.5:
            return ev.ReferralRequested(
                case_id=case_id, referral_id=new_id(),
                kind=rng.choice(("medical", "education", "housing", "employment")),
                region_code=region, member_refs=refs, requested_at=at), "approval"
        return ev.ReferralAnswered(
            case_id=case_id, referral_id=new_id(), kind="medical",
            outcome=rng.choice(("granted", "declined", "in_progress")),
            amount_fen=rng.randrange(0, 500_000), has_note=True,
            answered_at=at), "approval"

    def _monitoring(self, case: tuple[str, str, str, list[str]]) -> Event:
        """An early warning or a discovery lead raised or closed (verification's monitoring)."""
        rng, at = self.rng, self.at
        case_id, region, _, refs = case
        town = f"{region}{rng.randrange(1, 30):03d}"
        r = rng.random()
        if r < 0.4:
            return ev.EarlyWarningRaised(
                case_id=case_id, warning_id=new_id(), region_code=region, town_code=town,
                indicator=rng.choice(("medical_spending", "income_loss", "member_death")),
                tier=rng.choice(("yellow", "orange", "red")), cause=f"record:{new_id()}",
                reason_code="medical_spending", reason_params=MEDICAL_SPENDING,
                person_ref=refs[0], raised_at=at)
        if r < 0.7:
            return ev.EarlyWarningClosed(
                case_id=case_id, warning_id=new_id(),
                outcome=rng.choice(("assisted", "reassessed", "no_change")),
                closed_by=f"town_caseworker:t-{rng.randrange(1, 200):03d}", closed_at=at)
        lead = f"lead-{rng.getrandbits(48):012x}"  # a lead has no case: its own id is the key
        if r < 0.9:
            return ev.DiscoveryLeadRaised(
                case_id=lead, lead_id=lead, person_ref=f"p-{rng.getrandbits(128):032x}",
                region_code=region, town_code=town, kind="medical_hardship",
                reason_code="medical_hardship_lead", reason_params=MEDICAL_HARDSHIP,
                raised_at=at)
        return ev.DiscoveryLeadClosed(
            case_id=lead, lead_id=lead, outcome=rng.choice(("applied", "not_in_need")),
            application_case_id=None, closed_by=f"town_caseworker:t-{rng.randrange(1, 200):03d}",
            closed_at=at)

    def _reasons(self, region: str, n: int) -> list[ev.DecisionReason]:
        income = self.rng.randrange(0, 150_000)
        return [ev.DecisionReason(
            rule="per_capita_income", passed=income < 110_000,
            detail=f"per-capita monthly income {income} fen against the standard 110000 fen",
            figures={"per_capita_income_fen": str(income), "standard_fen": "110000"},
            label_zh="家庭人均收入低于当地低保标准",
            parameters=[ev.PolicyParameter(name="dibao_standard_fen", value=110_000,
                                           region=region, effective_from="2026-07-01",
                                           source="甬民发〔2026〕12号")])
            for _ in range(n)]


# -- phase A: archive -------------------------------------------------------------------------

def archive_all(url: str, n: int, seed: int, signer: Signer) -> dict[str, Any]:
    """Migrates an empty audit database and archives N records through archiving.archive;
    answers with timings and what was signed."""
    t0 = time.perf_counter()
    upgrade(url, MIGRATIONS)
    migrate_s = time.perf_counter() - t0
    engine = make_engine(url)
    try:
        with reading(engine) as conn:
            if conn.execute(select(func.count()).select_from(archive_table)).scalar_one():
                raise SystemExit(f"{safe_url(url)} already has an archive: the bench needs an "
                                 "empty audit database")
        t1 = time.perf_counter()
        gen = Generator(n, seed)
        generate_s = time.perf_counter() - t1
        archive_s = checkpoint_s = 0.0
        archived = signed = 0
        value_sizes: list[int] = []
        header_bytes = 0
        last: list[archiving.Incoming] = []
        t2 = time.perf_counter()
        for batch in gen.batches(n, BATCH):
            value_sizes.extend(len(r.value) for r in batch[::50])  # a sample, for the report
            header_bytes += sum(len(k) + len(v) for r in batch for k, v in r.headers)
            s = time.perf_counter()
            with engine.begin() as conn:
                archived += archiving.archive(conn, batch)
            archive_s += time.perf_counter() - s
            due = archived // CHECKPOINT_EVERY > (archived - len(batch)) // CHECKPOINT_EVERY
            if due or archived == n:
                s = time.perf_counter()
                with engine.begin() as conn:
                    signed += archiving.checkpoint(conn, signer) is not None
                checkpoint_s += time.perf_counter() - s
            last = batch
        wall_s = time.perf_counter() - t2
        # Not timed: the same batch again, as a relay re-sends after a broker restart, must add
        # nothing (the ce_id deduplication the timed path paid for).
        with engine.begin() as conn:
            again = archiving.archive(conn, last)
        with reading(engine) as conn:
            marks = store.all_checkpoints(conn)
            heads = store.heads(conn)
        chains = sorted(heads.values(), key=lambda h: (h.topic, h.partition))
    finally:
        engine.dispose()
    return {"migrate_s": migrate_s, "generate_s": generate_s + wall_s - archive_s - checkpoint_s,
            "archive_s": archive_s, "checkpoint_s": checkpoint_s, "archived": archived,
            "signed": signed, "again": again, "marks": marks,
            "chains": [(h.topic, h.partition, h.seq) for h in chains],
            "value_sizes": value_sizes, "header_bytes": header_bytes}


# -- phase B: verify (a child process) --------------------------------------------------------







def measure(url: str, exported: Path) -> dict[str, Any]:
    """Verifies the whole archive against the exported checkpoints and public key."""
    rss_start = rss_mb()
    copy = json.loads(exported.read_text())
    marks = [from_json(c) for c in copy["checkpoints"]]
    keys = {copy["key_id"]: copy["public_key_pem"].encode()}
    engine = make_engine(url)
    t0 = time.perf_counter()
    result = verify(store.records(engine), marks, keys)
    seconds = time.perf_counter() - t0
    peak = peak_mb()
    engine.dispose()
    return {"verify_s": seconds, "records": result.records, "chains": result.chains,
            "checkpoints": result.checkpoints, "ok": result.ok,
            "findings": [{"kind": f.kind, "topic": f.topic, "partition": f.partition,
                          "seq": f.seq, "last_seq": f.last_seq, "detail": f.detail}
                         for f in result.findings],
            "rss_start_mb": rss_start, "peak_mb": peak}


def _child(args: argparse.Namespace) -> None:
    exported = Path(args.checkpoints)
    if args.profile:
        profiler = cProfile.Profile()
        result = profiler.runcall(measure, args.database_url, exported)
        profiler.dump_stats(args.profile)
    else:
        result = measure(args.database_url, exported)
    print(json.dumps(result))


def run_child(url: str, exported: Path, profile: str | None = None) -> dict[str, Any]:
    command = [sys.executable, "-m", "bench.audit_verify", "--measure", "--database-url", url,
               "--checkpoints", str(exported)]
    if profile:
        command += ["--profile", str(Path(profile).resolve())]
    child = subprocess.run(command, cwd=ROOT, stdout=subprocess.PIPE, text=True)
    if child.returncode != 0:
        raise SystemExit(f"the verification failed (exit {child.returncode})")
    measured: dict[str, Any] = json.loads(child.stdout.strip().splitlines()[-1])
    return measured


# -- the tamper check (not timed) -------------------------------------------------------------

def tamper(url: str, chains: list[tuple[str, int, int]], n: int) -> dict[str, Any]:
    """Changes one byte of the record at the middle of the stream (the order verify reads in),
    with the append-only trigger dropped as a privileged attacker would; answers with where."""
    middle = n // 2  # records before the one to change, in stream order
    for chain_topic, chain_partition, length in chains:
        if middle < length:
            topic, partition, seq = chain_topic, chain_partition, middle + 1
            break
        middle -= length
    else:
        raise SystemExit("the archive holds fewer records than it should")
    engine = make_engine(url)
    try:
        with engine.begin() as conn:
            if conn.dialect.name == "postgresql":
                conn.exec_driver_sql("DROP TRIGGER archive_append_only ON archive")
            else:
                conn.exec_driver_sql("DROP TRIGGER archive_no_update")
            where = ((archive_table.c.topic == topic) & (archive_table.c.partition == partition)
                     & (archive_table.c.seq == seq))
            value = bytes(conn.execute(select(archive_table.c.value).where(where)).scalar_one())
            i = len(value) // 2
            changed = value[:i] + bytes([value[i] ^ 0x01]) + value[i + 1:]
            if conn.execute(update(archive_table).where(where).values(value=changed)
                            ).rowcount != 1:
                raise SystemExit("the tampering did not change one row")
    finally:
        engine.dispose()
    return {"topic": topic, "partition": partition, "seq": seq, "byte": i,
            "was": value[i:i + 1].decode("latin-1"), "now": changed[i:i + 1].decode("latin-1")}


# -- checks and report ------------------------------------------------------------------------

def check(n: int, a: dict[str, Any], m: dict[str, Any], t: dict[str, Any],
          where: dict[str, Any]) -> list[str]:
    """What must hold for the figures to count; the problems, if any."""
    problems = []

    def want(what: str, got: Any, wanted: Any) -> None:
        if got != wanted:
            problems.append(f"{what}: {got} (expected {wanted})")

    chains = len(topics.ALL_TOPICS) * PARTITIONS
    want("records archived", a["archived"], n)
    want("records in the chains' heads", sum(seq for *_, seq in a["chains"]), n)
    want("a batch archived twice adds", a["again"], 0)
    want("records verified", m["records"], n)
    want("chains archived", len(a["chains"]), chains)
    want("chains verified", m["chains"], chains)
    want("checkpoints verified", m["checkpoints"], a["signed"])
    want("findings on the intact archive", m["findings"], [])
    want("records verified after tampering", t["records"], n)
    want("checkpoints verified after tampering", t["checkpoints"], a["signed"])
    want("findings after one byte of one record was changed (kind, topic, partition, seq, "
         "last_seq)",
         [(f["kind"], f["topic"], f["partition"], f["seq"], f["last_seq"])
          for f in t["findings"]],
         [("modified", where["topic"], where["partition"], where["seq"], None)])
    return problems








def report(n: int, url: str, a: dict[str, Any], m: dict[str, Any], t: dict[str, Any],
           where: dict[str, Any]) -> None:
    sizes = sorted(a["value_sizes"])
    pct = statistics.quantiles(sizes, n=20)
    print(f"archive of {n:,} events over {len(a['chains'])} chains ({len(topics.ALL_TOPICS)} "
          f"topics × {PARTITIONS} partitions); values {statistics.mean(sizes):,.0f} B on "
          f"average (p5 {pct[0]:,.0f}, median {statistics.median(sizes):,.0f}, p95 "
          f"{pct[-1]:,.0f}), headers {a['header_bytes'] / n:,.0f} B; database "
          f"{make_url(url).get_backend_name()}")
    print(f"setup (not measured): migrate {a['migrate_s']:.1f} s, generating the records "
          f"{a['generate_s']:.1f} s")
    print(f"  archive      {a['archive_s'] + a['checkpoint_s']:7.1f} s  "
          f"{rate(n, a['archive_s'] + a['checkpoint_s'])} — archiving.archive, {BATCH:,} a "
          f"transaction, and {a['signed']} checkpoint(s) signed ({a['checkpoint_s']:.2f} s)")
    if n >= DIRECTION_N:
        passed = m["verify_s"] < DIRECTION_S * n / DIRECTION_N and \
            n / m["verify_s"] >= DIRECTION_RATE
        verdict = "PASS: within" if passed else "FAIL: short of"
    else:
        verdict = ("not judged (the direction is for 1,000,000 events); "
                   + ("above" if n / m["verify_s"] >= DIRECTION_RATE else "below"))
    print(f"  verify       {m['verify_s']:7.1f} s  {rate(n, m['verify_s'])} — {verdict} the "
          f"direction (≥ {DIRECTION_RATE:,.0f} events/s, 1,000,000 in under {DIRECTION_S:.0f} s)")
    print(f"  peak RSS     {m['peak_mb']:7.0f} MB (verify's process; interpreter and imports "
          f"{m['rss_start_mb']:.0f} MB)")
    print(f"checked: {n:,} records archived once each (a batch sent again added none) and "
          f"verified clean against {m['checkpoints']} signed checkpoint(s); after one byte of "
          f"{where['topic']}/{where['partition']} seq {where['seq']} was changed (trigger "
          f"dropped), verify reported exactly that record as modified ({t['verify_s']:.1f} s)")


# -- main -------------------------------------------------------------------------------------

def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=DIRECTION_N,
                        help="events to archive and verify (default 1,000,000, issue 7's "
                             "figure)")
    parser.add_argument("--database-url", help="an empty audit database to use, a throw-away "
                        "one: the tamper check drops its append-only trigger and edits a record "
                        "(default: a SQLite file in a temporary directory, removed afterwards)")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--keep", action="store_true",
                        help="keep the temporary directory (database and checkpoints)")
    parser.add_argument("--profile", metavar="FILE",
                        help="cProfile the measured verification into FILE (its timing then "
                             "includes the profiler's overhead)")
    parser.add_argument("--measure", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--checkpoints", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.measure:
        _child(args)
        return
    if args.events < 2:
        parser.error("--events must be at least 2")

    work = Path(tempfile.mkdtemp(prefix="onedoor-bench-audit-"))
    url = args.database_url or f"sqlite:///{work / 'audit.db'}"
    print(machine(), flush=True)
    try:
        signer = Signer.generate()
        a = archive_all(url, args.events, args.seed, signer)
        # The copy an auditor keeps elsewhere (`onedoor audit export-checkpoints`).
        exported = work / "checkpoints.json"
        exported.write_text(json.dumps({
            "key_id": signer.key_id, "public_key_pem": signer.public_key_pem().decode(),
            "checkpoints": [to_json(c) for c in a["marks"]]}))
        m = run_child(url, exported, args.profile)
        where = tamper(url, a["chains"], args.events)
        t = run_child(url, exported)
        problems = check(args.events, a, m, t, where)
        if problems:
            raise SystemExit("these figures do not count:\n  " + "\n  ".join(problems))
        report(args.events, url, a, m, t, where)
    finally:
        if args.keep:
            print(f"kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
