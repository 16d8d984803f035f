"""A published figure recalculates every recipient it reaches: households/s (issue 22 §3).

``python -m bench.recalculation --recipients 100000`` (part of ``make bench``, where
``RECALC_RECIPIENTS=...`` sets the size). Issue 22's direction: 100,000 recipient households
recalculated in under 60 s on this machine (2 cores).

Setup (timed on its own, not part of the figure): a fresh approval database (a temporary SQLite
file, or ``--database-url`` for an empty one, e.g. PostgreSQL) brought up by approval's own
migrations, with N approved recipient households in Cixi (330282) written in bulk as approval's
handlers would have left them: each case's facts after its verification report, its last
assessment (the stored CaseAssessed body, assessed by the packaged policy through
``services.approval.rules``), its members, its home survey, and for a few an open objection or
a temporary grant this year. 70% Dibao (1-4 members, some elderly, disabled or minors), 8%
extreme hardship, 10% marginal low-income, 12% disability subsidies (a quarter of those for a
member of a Dibao household, so recognised through it).

Then two policy officers publish the Dibao standard +10% from next month (``policy_admin.propose``
and ``approve``), and the measured part runs ``recalculation.run_pending`` to the end: the job's
batches, each one transaction with its outbox rows.

The figures count only if the work was done: every household's outcome and new amount as the
domain rules give them one by one (``assess`` + ``reassessment.reassess``, worked out in setup), one
CaseAssessed and one BenefitChanged per changed household (and a stage change per suspension),
nothing for the others, the job done. Otherwise the bench refuses to print figures.
"""

from __future__ import annotations

import argparse
import cProfile
import gc
import json
import random
import shutil
import tempfile
import time
import uuid
from collections import Counter
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, func, select

from bench.measure import machine, peak_mb, rate, safe_url
from services.approval.adapters.tables import (
    assessments,
    bus,
    case_members,
    cases,
    home_surveys,
    objections,
    recalculated,
    recalculations,
    temporary_grants,
)
from services.approval.domain.facts import Assets
from services.approval.domain.reassessment import add_months, reassess
from services.approval.domain.workflow import Rules
from services.approval.rules import (
    DEFAULT_POLICY,
    Assessment,
    CaseFacts,
    PolicyTable,
    ReportFindings,
    assess,
    benefits,
    load_policy,
    reasons,
    with_findings,
)
from services.approval.service_layer import policy_admin, recalculation, simulation
from services.approval.service_layer.policy_book import PolicyBook
from shared import clock
from shared.bulk import insert_rows
from shared.db import make_engine, reading
from shared.events import catalogue as ev
from shared.migrations import upgrade
from shared.policy import published_figure
from shared.uow import UnitOfWork

ROOT = Path(__file__).resolve().parents[1]
MIGRATIONS = ROOT / "services" / "approval" / "migrations"
REGION, TOWN = "330282", "330282001"  # 慈溪市
STANDARD = "dibao.monthly_standard_fen"
DIRECTION_S = 60.0  # issue 22: 100,000 households in under 60 s
CHUNK = 10_000
SOURCE = "/onedoor/approval"


# -- setup ------------------------------------------------------------------------------------

def _member(ref: str, relation: str, age: int, income: int, *, grade: int | None = None,
            able: bool | None = None, self_care: str | None = None) -> dict[str, Any]:
    return {"person_ref": ref, "relation": relation, "age_years": age,
            "declared_monthly_fen": income, "disability_grade": grade, "able_to_work": able,
            "self_care": self_care}


def _facts(rng: random.Random, case_id: str, programme: str, ref: str,
           dibao_member: str | None) -> CaseFacts:
    """A household's facts as the application gave them (before its report)."""
    size = 1 if programme == "tekun" else rng.choice((1, 1, 2, 2, 2, 3, 3, 4))
    members = []
    for k in range(size):
        relation = "applicant" if k == 0 else rng.choice(("spouse", "child", "parent"))
        age = (rng.randrange(60, 95) if programme == "tekun" or rng.random() < 0.35
               else rng.randrange(5, 17) if relation == "child" else rng.randrange(18, 60))
        grade = rng.choice((1, 2, 3, 4)) if rng.random() < 0.08 else None
        if programme == "dibao":  # per person well below the standard (1,005 yuan)
            income = rng.randrange(0, 90_000)
        elif programme == "marginal":  # between the standard and 1.5×: some fall below 1,105.50
            income = rng.randrange(101_000, 150_000)
        elif programme == "tekun":
            income = rng.randrange(0, 90_000)
        else:
            income = rng.randrange(0, 300_000)
        members.append(_member(f"p-{ref}-{k}", relation, age, income, grade=grade,
                               able=False if programme == "tekun" else None,
                               self_care=rng.choice(("full", "partial", "none"))
                               if programme == "tekun" else None))
    if programme == "disability":
        members[0]["disability_grade"] = rng.choice((1, 2)) if dibao_member is None else \
            rng.choice((1, 2, 3, 4))
        if dibao_member is not None:  # the disabled person lives in a Dibao household
            members[0]["person_ref"] = dibao_member
    return CaseFacts.from_dict({
        "case_id": case_id, "programme": programme, "region_code": REGION,
        "members": members, "legal_supporters": [], "care_mode": "home" if
        programme == "tekun" else None, "temporary": None, "assets": None,
        "report_id": None, "temporary_granted_this_year_fen": 0,
        "household_status": "dibao" if dibao_member else None, "extra": {}})


def _reported(rng: random.Random, facts: CaseFacts) -> CaseFacts:
    """The facts with their verification report: incomes counted as declared, assets."""
    found = ReportFindings(
        f"report-{facts.case_id}",
        {m.person_ref: (m.declared_monthly_fen, 0) for m in facts.members},
        _assets(rng, facts), {m.person_ref: m.disability_grade for m in facts.members
                              if m.disability_grade is not None})
    return with_findings(facts, found)


def _assets(rng: random.Random, facts: CaseFacts) -> Assets:
    return Assets(rng.choice((0, 1, 1)), 0, rng.randrange(0, 2_000_000))


def _assessed(facts: CaseFacts, a: Assessment, assessment_id: str, at: datetime) -> str:
    """The stored CaseAssessed body, as ``casework.run_assessment`` writes it."""
    return ev.CaseAssessed(
        case_id=facts.case_id, assessment_id=assessment_id, report_id=facts.report_id,
        eligible=a.eligible, programme=facts.programme,
        region_code=facts.region_code, monthly_amount_fen=a.monthly_amount_fen,
        one_off_amount_fen=a.one_off_amount_fen, benefits=benefits(a.benefits),
        policy_version=a.policy_version, reasons=reasons(a.checks),
        assessed_on=a.on.isoformat(), assessed_at=at).model_dump_json()


def _expected(facts: CaseFacts, status: str | None, old: Assessment, monthly: int,
              table: PolicyTable, effective: date) -> tuple[str, int]:
    """What the job should make of the household, worked out one household at a time by the
    domain rules: (outcome, new monthly amount)."""
    new = assess(facts.but(household_status=status), table, effective)
    change = reassess("approved", monthly, old, new, 0, 0,
                      add_months(f"{effective:%Y-%m}", -1), Rules(table, REGION, effective))
    if change is None:
        return "unchanged", new.monthly_amount_fen if new.eligible else monthly
    return change.benefit_change or "changed", change.monthly_amount_fen


def setup(engine: Engine, n: int, packaged: PolicyTable, raised: PolicyTable, effective: date,
          seed: int = 22) -> dict[str, tuple[str, int]]:
    """Fills an empty approval database with N approved households; answers with what the job
    should make of each (case id → outcome, new monthly amount)."""
    rng = random.Random(seed)
    now = datetime.now(UTC)
    approved_at = now - timedelta(days=90)
    assessed_on = clock.local_date(approved_at)
    expected: dict[str, tuple[str, int]] = {}
    dibao_members: list[str] = []
    year = clock.local_date(now).year
    with reading(engine) as conn:
        if conn.execute(select(func.count()).select_from(cases)).scalar_one():
            raise SystemExit("the bench needs an empty approval database")
    for lo in range(0, n, CHUNK):
        case_rows, member_rows, assessment_rows = [], [], []
        survey_rows, objection_rows, grant_rows = [], [], []
        for i in range(lo, min(n, lo + CHUNK)):
            r = rng.random()
            programme = ("dibao" if r < 0.70 else "tekun" if r < 0.78 else "marginal"
                         if r < 0.88 else "disability")
            linked = (rng.choice(dibao_members) if programme == "disability" and dibao_members
                      and rng.random() < 0.25 else None)
            # As intake makes them: region, day, 12 hex digits.
            case_id = f"{REGION}-2026{rng.randrange(1, 12):02d}15-{rng.getrandbits(48):012x}"
            facts = _reported(rng, _facts(rng, case_id, programme, f"{i:07d}", linked))
            old = assess(facts, packaged, assessed_on)
            assert old.eligible, (programme, old.failed)
            assessment_id = str(uuid.uuid4())
            facts_json = json.dumps(facts.to_dict(), sort_keys=True)
            case_rows.append({
                "case_id": case_id, "programme": programme, "region_code": REGION,
                "town_code": TOWN, "stage": "approved", "sequence": 7, "emergency": False,
                "facts": facts_json, "assessment_id": assessment_id,
                "monthly_amount_fen": old.monthly_amount_fen, "due_at": None,
                "notice_ends_at": approved_at - timedelta(days=1),
                "submitted_at": approved_at - timedelta(days=30), "stage_since": approved_at})
            member_rows += [{"case_id": case_id, "person_ref": m.person_ref}
                            for m in facts.members]
            assessment_rows.append({
                "assessment_id": assessment_id, "case_id": case_id, "facts": facts_json,
                "assessed_on": assessed_on.isoformat(), "policy_digest": packaged.version,
                "body": _assessed(facts, old, assessment_id, approved_at),
                "assessed_at": approved_at})
            survey_rows.append({
                "survey_id": str(uuid.uuid4()), "case_id": case_id,
                "surveyed_on": assessed_on.isoformat(), "surveyors": "t-017, t-021",
                "findings": "lives as declared", "recorded_by": "town_reviewer:t-017",
                "recorded_at": approved_at})
            if rng.random() < 0.01:  # an objection raised since, not yet resolved
                objection_rows.append({
                    "objection_id": str(uuid.uuid4()), "case_id": case_id,
                    "summary": "a neighbour says the son sends money",
                    "recorded_by": "window_clerk:w-1", "recorded_at": approved_at,
                    "status": "open", "resolution": None, "resolved_by": None,
                    "resolved_at": None})
            if rng.random() < 0.01:  # a temporary grant this year to a member, on another case
                grant_rows.append({"case_id": f"t-{case_id}",
                                   "person_ref": facts.members[0].person_ref, "year": year,
                                   "amount_fen": 50_000})
            if programme == "dibao":
                dibao_members.append(facts.members[0].person_ref)
            # Today the household is recognised by its own running case (or the Dibao one).
            status = (programme if programme in ("dibao", "tekun", "marginal")
                      else "dibao" if linked else None)
            expected[case_id] = _expected(facts, status, old, old.monthly_amount_fen, raised,
                                          effective)
        with engine.begin() as conn:
            for table, rows in ((cases, case_rows), (case_members, member_rows),
                                (assessments, assessment_rows), (home_surveys, survey_rows),
                                (objections, objection_rows), (temporary_grants, grant_rows)):
                insert_rows(conn, table, rows)
    return expected


def publish(engine: Engine, book: PolicyBook, value: int, effective: date) -> str:
    """The Dibao standard raised by two policy officers (four eyes), as the API does it."""
    now = datetime.now(UTC)
    with UnitOfWork(engine, bus, SOURCE) as uow:
        proposal = policy_admin.propose(
            uow, book, policy_admin.Officer("policy_officer", "p-001"), name=STANDARD,
            region_code=REGION, effective_from=effective, value=value,
            source="慈政发〔2026〕1号 (bench)", reason="yearly rise", now=now)
    with UnitOfWork(engine, bus, SOURCE) as uow:
        policy_admin.approve(uow, book, proposal,
                             policy_admin.Officer("policy_officer", "p-002"), note=None, now=now)
    return proposal


# -- measured ---------------------------------------------------------------------------------

SIMULATION_S = 10.0


def simulate(engine: Engine, book: PolicyBook, value: int, effective: date) -> dict[str, Any]:
    change = simulation.Change(STANDARD, REGION, effective, value)
    figure = published_figure("bench-simulation", STANDARD, REGION, effective, value)
    t0 = time.perf_counter()
    with reading(engine) as conn:
        result = simulation.simulate(conn, book.current(conn), change, figure,
                                     datetime.now(UTC))
    return {"seconds": time.perf_counter() - t0, **result}


def foretold_problems(foretold: dict[str, Any], outcomes: dict[str, int]) -> list[str]:
    """The simulation must have said what the job did: the same changed and lost households."""
    said = foretold["households"]
    did_change = outcomes.get("amount_changed", 0)
    did_lose = outcomes.get("suspended", 0) + outcomes.get("gradual_exit", 0)
    problems = []
    if said["changed"] != did_change:
        problems.append(f"the simulation said {said['changed']:,} changed, the job changed "
                        f"{did_change:,}")
    if said["newly_ineligible"] != did_lose:
        problems.append(f"the simulation said {said['newly_ineligible']:,} lose the benefit, "
                        f"the job took it from {did_lose:,}")
    return problems


def measure(engine: Engine, book: PolicyBook, profile: str | None) -> dict[str, float]:
    def uow() -> UnitOfWork:
        return UnitOfWork(engine, bus, SOURCE)

    profiler = cProfile.Profile() if profile else None
    cpu, t0 = time.process_time(), time.perf_counter()
    if profiler is not None:
        jobs = profiler.runcall(recalculation.run_pending, uow, engine, book, "bench")
    else:
        jobs = recalculation.run_pending(uow, engine, book, "bench")
    seconds, cpu = time.perf_counter() - t0, time.process_time() - cpu
    if profiler is not None and profile:
        profiler.dump_stats(profile)
    if jobs != 1:
        raise SystemExit(f"refused: {jobs} jobs run, expected 1")
    return {"seconds": seconds, "cpu_s": cpu}


def check(engine: Engine, expected: dict[str, tuple[str, int]], outbox_before: int,
          ) -> tuple[dict[str, Any], list[str]]:
    """What the job did (counts), and what must hold for the figures to count."""
    with reading(engine) as conn:
        got = {r.case_id: (r.outcome, r.new_monthly_fen) for r in conn.execute(
            select(recalculated.c.case_id, recalculated.c.outcome,
                   recalculated.c.new_monthly_fen))}
        job = conn.execute(select(recalculations)).mappings().one()
        kinds = Counter(json.loads(h)[3][1] for h in conn.execute(
            select(bus.outbox.c.headers)).scalars())  # ce_type, as to_record orders them
        outbox = conn.execute(select(func.count()).select_from(bus.outbox)).scalar_one()
        suspended = conn.execute(select(func.count()).select_from(cases).where(
            cases.c.stage == "suspended")).scalar_one()
    outcomes = Counter(o for o, _ in got.values())
    moved = sum(n for o, n in outcomes.items() if o != "unchanged")
    problems = []
    wrong = [cid for cid, e in expected.items() if got.get(cid) != e]
    if wrong:
        cid = wrong[0]
        problems.append(f"{len(wrong):,} households not as the rules give them one by one "
                        f"(e.g. {cid}: {got.get(cid)} instead of {expected[cid]})")
    if len(got) != len(expected):
        problems.append(f"{len(got):,} households recalculated, expected {len(expected):,}")
    if (job["status"], job["done"], job["total"]) != ("done", len(expected), len(expected)):
        problems.append(f"job {job['status']} at {job['done']:,} of {job['total']:,}")
    wanted = {"onedoor.case.assessed": moved, "onedoor.benefit.changed": moved,
              "onedoor.case.stage_changed": outcomes["suspended"] + outcomes["gradual_exit"]}
    for kind, n in wanted.items():
        if kinds[kind] != n:
            problems.append(f"{kinds[kind]:,} {kind} events, expected {n:,}")
    written = outbox - outbox_before
    if written != sum(wanted.values()):
        problems.append(f"{written:,} outbox rows written, expected {sum(wanted.values()):,}")
    if suspended != outcomes["suspended"]:
        problems.append(f"{suspended:,} cases suspended, {outcomes['suspended']:,} reported")
    return {"outcomes": dict(outcomes), "outbox_rows": written,
            "events": {k: kinds[k] for k in wanted}}, problems


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--recipients", type=int, default=100_000,
                        help="approved recipient households in Cixi (default 100,000)")
    parser.add_argument("--database-url", help="an empty approval database to use (default: a "
                        "SQLite file in a temporary directory, removed afterwards)")
    parser.add_argument("--profile", metavar="FILE",
                        help="cProfile the measured part into FILE (its time then includes "
                             "the profiler's overhead)")
    args = parser.parse_args()
    n = args.recipients
    print(machine())
    work = Path(tempfile.mkdtemp(prefix="onedoor-bench-recalc-"))
    url = args.database_url or f"sqlite:///{work / 'approval.db'}"
    try:
        t0 = time.perf_counter()
        upgrade(url, MIGRATIONS)
        engine = make_engine(url)
        packaged = load_policy(DEFAULT_POLICY)
        effective = policy_admin.first_open_month(datetime.now(UTC))
        standard = packaged.figure(STANDARD, REGION, effective)
        assert standard is not None, f"the packaged policy has no {STANDARD} for {REGION}"
        value = standard.value * 11 // 10
        raised = packaged.amended([published_figure("bench", STANDARD, REGION, effective,
                                                    value)])
        # Kept as one string while the job runs: 100,000 outcomes as Python objects would be
        # traversed by every full garbage collection of the measured job (the service holds
        # nothing of the kind).
        expected_json = json.dumps(setup(engine, n, packaged, raised, effective))
        gc.collect()
        book = PolicyBook(packaged, engine)
        # The simulation (政策测算) of the same figure first: it writes nothing, and must
        # foretell what the job then does (issue 22 §4: 100,000 recipients in under 10 s).
        foretold = simulate(engine, book, value, effective)
        publish(engine, book, value, effective)
        with reading(engine) as conn:
            outbox_before = conn.execute(select(func.count()).select_from(bus.outbox)
                                         ).scalar_one()
        print(f"setup (not measured): {time.perf_counter() - t0:.1f} s — {safe_url(url)}, "
              f"{n:,} approved households in {REGION}; Dibao standard → {value / 100:,.2f} "
              f"yuan from {effective}")
        m = measure(engine, book, args.profile)
        expected = {case_id: (outcome, fen) for case_id, (outcome, fen)
                    in json.loads(expected_json).items()}
        done, problems = check(engine, expected, outbox_before)
        database = engine.dialect.name
        engine.dispose()
        problems += foretold_problems(foretold, done["outcomes"])
        if problems:
            raise SystemExit("these figures do not count:\n  " + "\n  ".join(problems))
        seconds = m["seconds"]
        print(f"  recalculated {seconds:7.1f} s  {n:,} households {rate(n, seconds)} "
              f"(CPU {m['cpu_s']:.1f} s, peak {peak_mb():,.0f} MB)")
        if n >= 100_000:
            met = "met" if seconds * 100_000 / n < DIRECTION_S else "NOT met"
            print(f"  direction: 100,000 in under {DIRECTION_S:.0f} s — {met}")
        print(f"  simulated    {foretold['seconds']:7.1f} s  {n:,} households "
              f"{rate(n, foretold['seconds'])} — it foretold the job's changes exactly")
        if n >= 100_000:
            met = "met" if foretold["seconds"] * 100_000 / n < SIMULATION_S else "NOT met"
            print(f"  direction: a simulation of 100,000 in under {SIMULATION_S:.0f} s — {met}")
        outcomes = ", ".join(f"{k} {v:,}" for k, v in sorted(done["outcomes"].items()))
        print(f"  outcomes: {outcomes}; outbox rows written {done['outbox_rows']:,}")
        print(json.dumps({"bench": "recalculation", "database": database,
                          "recipients": n, "seconds": round(m["seconds"], 2),
                          "cpu_s": round(m["cpu_s"], 2),
                          "households_per_s": round(n / m["seconds"]),
                          "simulation_s": round(foretold["seconds"], 2), **done}))
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
