"""``onedoor audit replay | report | case | recipients | republish``: what auditors run on the
archive (audit's database) beyond verifying it.

    onedoor audit replay --region 330282 --since 2026-01-01 --out var/replay.db
    onedoor audit replay --policy ./policies-2026-03   # the packaged files as they were then
    onedoor audit report payments-without-approval --format csv > payments.csv
    onedoor audit case 330282-20260301-0a1b2c3d4e5f --as-of 2026-06-30
    onedoor audit recipients 330282 --on 2026-06-30
    onedoor audit republish --bootstrap 10.0.0.5:9092
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import Engine

from services.approval.rules import DEFAULT_POLICY, PolicyTable, load_policy
from services.audit.adapters import store
from services.audit.domain.findings import KINDS
from services.audit.service_layer import replay_shares, replaying
from shared.clock import CHINA
from shared.db import make_engine, reading
from shared.migrations import upgrade
from shared.progress import Progress
from shared.settings import load_settings

MIGRATIONS = Path(__file__).resolve().parents[1] / "migrations"


def add_commands(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = commands.add_parser("replay", help="rebuild every case and re-run every decision")
    _scope_arguments(p)
    p.add_argument("--out", help="the fresh store to write (default: a new SQLite file in "
                                 "the data directory)")
    p.add_argument("--from-kafka", metavar="BOOTSTRAP",
                   help="replay the broker's topics from offset 0 instead of the archive")
    p.add_argument("--json", action="store_true", help="print the summary as JSON")
    p.set_defaults(func=replay_command)

    p = commands.add_parser("report", help="an auditors' report, as JSON or CSV")
    p.add_argument("name", choices=sorted(replaying.REPORTS))
    p.add_argument("--format", choices=("json", "csv"), default="json")
    _scope_arguments(p)
    p.set_defaults(func=report_command)

    p = commands.add_parser("case", help="a case as it stood on a day: state and timeline")
    p.add_argument("case_id")
    p.add_argument("--as-of", type=date.fromisoformat, help="the day (default: today)")
    p.add_argument("--database-url")
    p.add_argument("--policy", type=Path, action="append")
    p.set_defaults(func=case_command)

    p = commands.add_parser("recipients", help="a region's recipients on a day")
    p.add_argument("region_code")
    p.add_argument("--on", type=date.fromisoformat, help="the day (default: today)")
    p.add_argument("--format", choices=("json", "csv"), default="json")
    p.add_argument("--database-url")
    p.set_defaults(func=recipients_command)

    p = commands.add_parser("republish", help="send the archive into a (fresh) broker")
    p.add_argument("--bootstrap", required=True, help="the broker to fill, host:port")
    p.add_argument("--topic", action="append", help="only these topics (default: all)")
    p.add_argument("--database-url")
    p.set_defaults(func=republish_command)


def _scope_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--case", dest="case_id")
    p.add_argument("--region", dest="region_code", help="a region code or its prefix")
    p.add_argument("--programme", choices=("dibao", "tekun", "marginal", "temporary",
                                           "disability", "orphan"))
    p.add_argument("--since", type=date.fromisoformat, help="report from this day (China time)")
    p.add_argument("--until", type=date.fromisoformat, help="replay up to the end of this day")
    p.add_argument("--policy", type=Path, action="append",
                   help="the base policy files or directories to re-run with (default: "
                        "approval's), amended by every publication in the archive")
    p.add_argument("--stale-after-days", type=int, default=180,
                   help="a report older than this at the decision is stale (default 180)")
    p.add_argument("--database-url", help="audit's database (default: the settings')")
    p.add_argument("--workers", type=int, default=replay_shares.default_workers(),
                   help="processes sharing the cases out (default: one per core)")


def start_of(day: date) -> datetime:
    """The first moment of a day in China."""
    return datetime.combine(day, time(0), CHINA)


def end_of(day: date) -> datetime:
    return start_of(day + timedelta(days=1)) - timedelta(microseconds=1)


def _scope(args: argparse.Namespace) -> replaying.Scope:
    return replaying.Scope(
        case_id=args.case_id, region_code=args.region_code, programme=args.programme,
        since=start_of(args.since) if args.since else None,
        until=end_of(args.until) if args.until else None)


def policy_table(paths: list[Path] | None) -> PolicyTable:
    """The base table: a replay amends it by the archive's publications."""
    return load_policy(*(paths or load_settings().policy_paths or [DEFAULT_POLICY]))


def archive_url(url: str | None) -> str:
    """Audit's database, migrated."""
    url = url or load_settings().database_url("audit")
    upgrade(url, MIGRATIONS)
    return url


def archive_engine(url: str | None) -> Engine:
    return make_engine(archive_url(url))


def replay_command(args: argparse.Namespace) -> int:
    policy = policy_table(args.policy)
    if args.from_kafka:
        scratch = Path(tempfile.mkdtemp(prefix="onedoor-replay-")) / "archive.db"
        url = archive_url(f"sqlite:///{scratch}")
        engine = make_engine(url)
        n = asyncio.run(_archive_from_kafka(args.from_kafka, engine))
        print(f"read {n:,} records from {args.from_kafka} (offset 0) into {scratch}",
              file=sys.stderr)
    else:
        url = archive_url(args.database_url)
        engine = make_engine(url)
    out_url = args.out or _new_store_url()
    with reading(engine) as conn:
        total = store.count(conn)
    engine.dispose()
    with Progress("replay", total, "events") as shown:
        _, summary = replay_shares.replay_archive(
            url, policy, _scope(args), out_url=out_url, workers=args.workers, total=total,
            progress=shown, stale_after_days=args.stale_after_days)
    if args.json:
        print(json.dumps({**summary.to_json(), "store": out_url}, indent=1))
    else:
        _print_summary(summary, out_url)
    return 0 if summary.divergences == 0 else 1


async def _archive_from_kafka(bootstrap: str, engine: Engine) -> int:
    from services.audit.entrypoints.recovery import archive_from_kafka

    return await archive_from_kafka(bootstrap, engine)


def _new_store_url() -> str:
    folder = load_settings().data_dir / "replays"
    folder.mkdir(parents=True, exist_ok=True)
    # The file name made first: a format spec after ``folder / datetime.now()`` applied to the
    # path, and ``replay`` without ``--out`` failed.
    name = f"{datetime.now():replay-%Y%m%d-%H%M%S-%f}.db"
    return f"sqlite:///{folder / name}"


def _print_summary(s: replaying.Summary, out_url: str) -> None:
    print(f"replayed {s.events:,} events in {s.seconds:.1f} s ({s.rate:,.0f}/s): "
          f"{s.cases:,} cases ({s.cases_selected:,} in scope), "
          f"{s.decisions_rerun:,} assessments re-run with policy {s.policy_digest}"
          + (f" and {s.policy_publications['publications']} publication(s)"
             if s.policy_publications.get("publications") else ""))
    _print_policy(s)
    for kind, n in s.findings.items():
        if n:
            print(f"  {n:>7,}  {kind:<26} {KINDS[kind]}")
    print(f"fresh store: {out_url}")
    print("OK: every decision re-ran to the recorded result" if s.divergences == 0 else
          f"DIVERGED: {s.divergences} assessment(s) re-run to another result")


def _print_policy(s: replaying.Summary) -> None:
    """The tables beyond the base that re-ran decisions, and what may make them not approval's."""
    for v in s.policy_versions:
        if v["sequence"]:
            print(f"  {v['decisions']:>7,}  with publication #{v['sequence']} ({v['name']} "
                  f"{v['region_code']} from {v['effective_from']}: {v['value']}), "
                  f"policy {v['version']}")
            if not v["rebuilt_as_published"]:
                print(f"           NOTE: approval published it as {v['published_version']}: "
                      "the base policy given is not the one approval amended")
    held = s.policy_publications
    if held.get("missing_sequences") or held.get("unreadable"):
        print(f"  NOTE: publications missing from the archive: {held['missing_sequences']}, "
              f"records unreadable: {held['unreadable']}")


def report_command(args: argparse.Namespace) -> int:
    findings, summary = replay_shares.replay_archive(
        archive_url(args.database_url), policy_table(args.policy), _scope(args),
        workers=args.workers, stale_after_days=args.stale_after_days)
    kinds = replaying.REPORTS[args.name]
    rows = [replaying.finding_json(f) for f in findings if f.kind in kinds]
    write_rows(rows, args.format, replaying.FINDING_COLUMNS, {
        "report": args.name, "scope": summary.scope, "policy_digest": summary.policy_digest,
        "policy_versions": summary.policy_versions,
        "policy_publications": summary.policy_publications, "events": summary.events})
    return 0


def write_rows(rows: list[dict[str, Any]], fmt: str, first: tuple[str, ...],
               about: dict[str, Any]) -> None:
    if fmt == "json":
        print(json.dumps({**about, "count": len(rows), "rows": rows}, indent=1,
                         ensure_ascii=False, default=str))
        return
    sys.stdout.write(replaying.csv_text(rows, first))


def case_command(args: argparse.Namespace) -> int:
    engine = archive_engine(args.database_url)
    day = args.as_of or date.today()
    view = replaying.case_as_of(engine, policy_table(args.policy), args.case_id, end_of(day))
    engine.dispose()
    if view is None:
        print(f"no case {args.case_id} in the archive up to {day}", file=sys.stderr)
        return 1
    print(json.dumps(view, indent=1, ensure_ascii=False, default=str))
    return 0


def recipients_command(args: argparse.Namespace) -> int:
    engine = archive_engine(args.database_url)
    day = args.on or date.today()
    found = replaying.recipients_on(engine, policy_table(None), args.region_code, end_of(day))
    engine.dispose()
    write_rows(found.pop("recipients"), args.format, replaying.RECIPIENT_COLUMNS, found)
    return 0


def republish_command(args: argparse.Namespace) -> int:
    from services.audit.entrypoints.recovery import republish

    engine = archive_engine(args.database_url)
    sent = asyncio.run(republish(
        engine, args.bootstrap, partitions=load_settings().topic_partitions,
        broker=load_settings().broker,
        topics=tuple(args.topic) if args.topic else None,
        progress=lambda n: print(f"\r  {n:,} records sent", end="", file=sys.stderr)))
    engine.dispose()
    print(f"\nre-published {sum(sent.values()):,} records to {args.bootstrap}: "
          + ", ".join(f"{t} {n:,}" for t, n in sorted(sent.items())))
    return 0
