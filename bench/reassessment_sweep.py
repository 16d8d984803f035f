"""A reassessment sweep: a partner publishes a large update about every recipient household.

``python -m bench.reassessment_sweep --recipients 100000`` (part of ``make bench``, where
``SWEEP_RECIPIENTS=...`` sets the size). Issue 4: "a reassessment sweep over all recipients when a
partner publishes a large update".

Setup (not measured): a fresh verification database (temporary SQLite file, or
``--database-url``) with N recipient households of two members each (written in bulk, as the
application handler would store them), and HR & social security's first file: every member's
wage (so each case has a report to compare with; timed and shown as "first").

Measured ("sweep"): the monthly file again, every member's wage, of which 10% changed — half of
those halved (an income loss, a warning), half up 20%. Through ``publishing.publish_file``, the
code behind ``POST /partner-publications``: each batch's records, the new report of every
household whose figures changed (approval's reassessment), and the early warnings, all in the
batch's transaction.

The figures count only if the work was done: one new report per household with a changed member
and none for the others, one income-loss warning per halved wage. Otherwise no figures.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import random
import shutil
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import Engine, func, select

from bench.measure import machine, rate, safe_url
from bench.partner_ingest import KEY, MIGRATIONS, _resident_id
from services.verification.adapters.tables import (
    bus,
    case_decisions,
    early_warnings,
    household_members,
    households,
    recipients,
    reports,
)
from services.verification.bootstrap import packaged_monitoring
from services.verification.service_layer import publishing
from shared.bulk import insert_rows
from shared.clock import today
from shared.db import make_engine, reading
from shared.migrations import upgrade
from shared.pseudonym import person_ref
from shared.uow import UnitOfWork

DEPARTMENT = "hr_social_security"
CHANGED = 0.10


def _households(engine: Engine, n: int) -> None:
    now = datetime.now(UTC)
    with engine.begin() as conn:
        for start in range(0, n, 10_000):
            ids = range(start, min(n, start + 10_000))
            case = [f"330282-20261201-{i:012d}" for i in ids]
            insert_rows(conn, households, [
                {"case_id": c, "region_code": "330282", "town_code": "330282001",
                 "programme": "dibao", "applicant_ref": person_ref(KEY, _resident_id(2 * i)),
                 "submitted_at": now} for c, i in zip(case, ids, strict=True)])
            insert_rows(conn, household_members, [
                {"case_id": c, "person_ref": person_ref(KEY, _resident_id(2 * i + k)),
                 "position": k, "age_years": 40, "consent_signed": True}
                for c, i in zip(case, ids, strict=True) for k in (0, 1)])
            insert_rows(conn, recipients, [{"case_id": c, "active": True, "changed_at": now}
                                           for c in case])
            insert_rows(conn, case_decisions, [
                {"case_id": c, "outcome": "approved", "decided_at": now} for c in case])


def _file(path: Path, n: int, changed: dict[int, int]) -> str:
    digest = hashlib.sha256()
    with path.open("wb") as out:
        for person in range(2 * n):
            line = json.dumps({"record_id": f"w-{person}", "kind": "wage",
                               "resident_id": _resident_id(person),
                               "amount_fen": changed.get(person, 200_000),
                               "as_of": today().isoformat()}).encode() + b"\n"
            out.write(line)
            digest.update(line)
    return digest.hexdigest()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--recipients", type=int, default=100_000)
    parser.add_argument("--database-url")
    args = parser.parse_args()
    n = args.recipients
    print(machine())
    work = Path(tempfile.mkdtemp(prefix="onedoor-sweep-"))
    url = args.database_url or f"sqlite:///{work / 'verification.db'}"
    try:
        started = time.perf_counter()
        upgrade(url, MIGRATIONS)
        engine = make_engine(url)
        _households(engine, n)
        rng = random.Random(4)
        moved = rng.sample(range(2 * n), int(2 * n * CHANGED))
        halved = set(moved[: len(moved) // 2])
        changed = {p: 100_000 if p in halved else 240_000 for p in moved}
        first, second = work / "first.ndjson", work / "second.ndjson"
        digests = _file(first, n, {}), _file(second, n, changed)
        print(f"setup (not measured): {time.perf_counter() - started:.1f} s — {safe_url(url)}, "
              f"{n:,} recipient households of 2, files of {2 * n:,} wages")
        policy = packaged_monitoring()

        def uow() -> UnitOfWork:
            return UnitOfWork(engine, bus, "/onedoor/verification")

        timings = []
        for path, digest in zip((first, second), digests, strict=True):
            with path.open("rb") as body:
                upload = publishing.Upload(DEPARTMENT, "ndjson", body, digest,
                                           path.stat().st_size)
                t0 = time.perf_counter()
                publishing.publish_file(upload, uow, pseudonym_key=KEY, monitoring=policy)
                timings.append(time.perf_counter() - t0)
        with reading(engine) as conn:
            partner_data = conn.execute(select(func.count()).select_from(reports).where(
                reports.c.occasion == "partner_data")).scalar_one()
            losses = conn.execute(select(func.count()).select_from(early_warnings).where(
                early_warnings.c.indicator == "income_loss")).scalar_one()
        engine.dispose()
        households_changed = len({p // 2 for p in moved})
        if partner_data != n + households_changed or losses != len(halved):
            raise SystemExit(f"refused: {partner_data:,} reports (expected "
                             f"{n + households_changed:,}), {losses:,} income-loss warnings "
                             f"(expected {len(halved):,})")
        print(f"  first        {timings[0]:7.1f} s  {2 * n:,} lines {rate(2 * n, timings[0])}, "
              f"a report for each of {n:,} households")
        print(f"  sweep        {timings[1]:7.1f} s  {2 * n:,} lines {rate(2 * n, timings[1])}: "
              f"{households_changed:,} households reassessed (new report), "
              f"{len(halved):,} income-loss warnings, {n - households_changed:,} unchanged")
        print(f"checked: {partner_data:,} partner-data reports, {losses:,} warnings, none twice")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
