"""The ``onedoor`` command: ``up`` runs the system, ``demo`` drives sample households through it."""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import time

from deploy.demo import load_partner_data, run_demo
from deploy.households import make_emergency, make_households
from deploy.postgres import LocalPostgres
from deploy.supervisor import DEFAULT_PORTS, ROOT, System
from deploy.tokens import DevTokens
from services.approval.rules import DEFAULT_POLICY
from services.audit.entrypoints.cli import add_commands as add_audit_commands
from services.verification.entrypoints.credentials_cli import (
    add_commands as add_partner_commands,
)
from services.window.entrypoints.cli import add_commands as add_staff_commands
from shared.settings import SERVICES, Settings, instances, load_settings

DEMO_HOUSEHOLDS = 20


# Development's own policy overlay: the demo region's public notice shortened to 0 days.
DEMO_POLICY = ROOT / "deploy" / "demo_policy.toml"


def up(args: argparse.Namespace) -> int:
    settings = load_settings()
    if settings.env == "development" and not settings.policy_paths:
        settings = settings.model_copy(update={"policy_paths": [DEFAULT_POLICY, DEMO_POLICY]})
    external = "ONEDOOR_KAFKA_BOOTSTRAP" in os.environ
    kind = args.broker or settings.broker
    port = None if external else int(settings.kafka_bootstrap.rsplit(":", 1)[1])
    database: LocalPostgres | None = None
    if args.database == "postgresql":
        settings, database = on_postgresql(settings)
    try:
        if external:
            system = System(settings=settings.model_copy(update={"broker": kind}),
                            replicas=args.replicas)
        elif kind == "kafka":
            # One Apache Kafka node under the supervisor, its log kept in the data directory.
            system = System(settings=settings, kafka_nodes=1, kafka_ports=[port or 19092],
                            replicas=args.replicas)
        else:
            system = System(settings=settings, broker_port=port, replicas=args.replicas)
    except ValueError as exc:  # more than one instance on SQLite
        print(f"refused: {exc}", file=sys.stderr)
        if database is not None:
            database.stop()
        return 2
    stopping = False

    def _stop(*_: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, _stop)
    signal.signal(signal.SIGTERM, _stop)
    try:
        system.start()
        system.wait_ready(timeout_s=90)
        if not args.no_demo_data:
            sent = load_partner_data(system.url("verification"),
                                     make_households(DEMO_HOUSEHOLDS))
            print(f"loaded {sent} demo partner records")
        print("\nOneDoor is running. Broker:", system.bootstrap,
              "(embedded Tansu)" if system.broker else
              "(Apache Kafka, one node)" if system.kafka else f"(external {kind})")
        for name in SERVICES:
            if name != "window":
                print(f"  {name:<13} {system.url(name)}/docs")
        print(f"\nStaff web application (窗口): {system.url('window')}/")
        if settings.env != "production":
            from services.window.service_layer.demo import DEMO_ACCOUNTS, DEMO_PASSWORD

            print(f"  demo accounts, password {DEMO_PASSWORD!r} (development only):")
            for account in DEMO_ACCOUNTS:
                print(f"    {account.staff_id:<11} {account.role:<18} "
                      f"{account.jurisdiction or 'everywhere':<10} {account.display_name}")
        if DEMO_POLICY in settings.policy_paths:
            print(f"  development: Cixi's public notice lasts 0 days here ({DEMO_POLICY.name}), "
                  "so `make demo` reaches payment; production keeps the packaged 7 days")
        print(f"\nData and logs in {settings.data_dir.resolve()}. "
              "Try `make demo` in another terminal; Ctrl-C stops everything.")
        while not stopping:
            system.watch_once()
            time.sleep(0.5)
    finally:
        print("\nstopping…")
        system.stop()
        if database is not None:
            database.stop()
    return 0


def on_postgresql(settings: Settings) -> tuple[Settings, LocalPostgres | None]:
    """Every service on PostgreSQL: the URLs given (ONEDOOR_<SERVICE>_DATABASE_URL), or else a
    database each on a throwaway server of our own (deploy/postgres.py) — for trying the
    production topology on one machine; its data goes when `up` stops."""
    missing = [s for s in SERVICES if not (getattr(settings, f"{s}_database_url") or "")
               .startswith("postgresql")]
    if not missing:
        return settings, None
    server = LocalPostgres()
    server.start()
    urls = {}
    for service in missing:
        urls[f"{service}_database_url"] = server.create_database(f"onedoor_{service}")
    print(f"PostgreSQL (throwaway, port {server.port}) for: {', '.join(missing)}")
    return settings.model_copy(update=urls), server


def demo(args: argparse.Namespace) -> int:
    # New households every run: one whose case is still open cannot apply a second time.
    seed = args.seed if args.seed is not None else time.time_ns()
    households = make_households(args.households, seed=seed)
    # A service of several instances is named by the list of them; the demo talks to the first.
    intake, verification, approval, payment = (
        instances(os.environ.get(f"ONEDOOR_{name.upper()}_URL",
                                 f"http://127.0.0.1:{DEFAULT_PORTS[name]}"))[0]
        for name in ("intake", "verification", "approval", "payment"))
    urgent = make_emergency(seed)
    sent = load_partner_data(verification, [*households, urgent])
    print(f"partner departments published {sent} records about the demo households")
    print(f"submitting {len(households)} households and one emergency to {intake}")
    summary = run_demo(intake, approval, households, DevTokens(load_settings()), urgent,
                       timeout_s=args.timeout, payment_url=payment)
    print(summary)
    return 0 if summary.endswith(" 0 lost") else 1


def tail(args: argparse.Namespace) -> int:
    """Print a topic's records: key, CloudEvents headers and the JSON data, one block each."""
    from aiokafka import AIOKafkaConsumer

    from shared.events.envelope import header_map

    async def run() -> int:
        consumer = AIOKafkaConsumer(
            args.topic, bootstrap_servers=load_settings().kafka_bootstrap, group_id=None,
            auto_offset_reset="earliest" if args.from_beginning else "latest")
        await consumer.start()
        shown = 0
        try:
            while args.count is None or shown < args.count:
                batches = await consumer.getmany(timeout_ms=1000)
                if not batches and args.exit_at_end:
                    break
                records = [r for part in batches.values() for r in part]
                for record in records[:None if args.count is None else args.count - shown]:
                    headers = header_map(list(record.headers or ()))
                    print(f"{record.topic}/{record.partition}@{record.offset} "
                          f"key={(record.key or b'').decode(errors='replace')}")
                    for name, value in headers.items():
                        print(f"  {name}: {value}")
                    print(f"  {(record.value or b'').decode(errors='replace')}\n")
                    shown += 1
        finally:
            await consumer.stop()
        return 0

    import asyncio

    return asyncio.run(run())


def token(args: argparse.Namespace) -> int:
    """A signed access token for a role, for curl and scripts (people sign in at the window).
    Signed with the development key in the data directory; refused in production, where tokens
    come from the window alone."""
    from datetime import timedelta

    from shared.auth.tokens import load_token_keys

    settings = load_settings()
    if settings.env == "production":
        print("refused: in production, tokens come from the sign-in service", file=sys.stderr)
        return 2
    issuer, _ = load_token_keys(settings)
    if issuer is None:
        print("refused: no signing key here (only public keys are configured)", file=sys.stderr)
        return 2
    print(issuer.issue(args.subject, args.role, args.jurisdiction,
                       timedelta(minutes=args.minutes)))
    return 0


def serve(args: argparse.Namespace) -> int:
    """One service in this process, as a container runs it (Dockerfile): uvicorn on every
    interface, its own lines as JSON (shared/logs.py), no access log."""
    import uvicorn

    # The service writes its own lines (shared/logs.py): main()'s plain ones would double them.
    for handler in logging.getLogger().handlers[:]:
        logging.getLogger().removeHandler(handler)
    uvicorn.run(f"services.{args.service}.bootstrap:create_app", factory=True, host=args.host,
                port=args.port, log_level="info", access_log=False,
                timeout_graceful_shutdown=args.grace)
    return 0


def migrate(args: argparse.Namespace) -> int:
    """Bring these services' databases (all of them by default) to the code's head, and do
    nothing else: the step before a rollout (deploy/k8s/migrate-job.yaml), so that no new
    instance waits on the migration lock and readiness sees the schema current."""
    from shared.migrations import upgrade

    unknown = set(args.services) - set(SERVICES)
    if unknown:
        print(f"refused: no service {', '.join(sorted(unknown))}; there are "
              f"{', '.join(SERVICES)}", file=sys.stderr)
        return 2
    settings = load_settings()
    for name in args.services or SERVICES:
        upgrade(settings.database_url(name), ROOT / "services" / name / "migrations")
        print(f"{name}: migrated")
    return 0


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)  # one line per request drowns the rest
    parser = argparse.ArgumentParser(prog="onedoor", description=__doc__)
    sub = parser.add_subparsers(required=True)
    p_up = sub.add_parser("up", help="run the broker and all services under one supervisor")
    p_up.add_argument("--no-demo-data", action="store_true",
                      help="do not load the demo partner records")
    p_up.add_argument("--database", choices=("sqlite", "postgresql"), default="sqlite",
                      help="SQLite files in the data directory (the default), or PostgreSQL: "
                           "the ONEDOOR_<SERVICE>_DATABASE_URL given, else a throwaway server")
    p_up.add_argument("--replicas", type=int, default=1,
                      help="processes per service, sharing its database and consumer group "
                           "(PostgreSQL only)")
    p_up.add_argument("--broker", choices=("embedded", "kafka"), default=None,
                      help="embedded Tansu (the default; no Java) or a single-node Apache Kafka "
                           "(Java 17 and Maven); with ONEDOOR_KAFKA_BOOTSTRAP set, which kind "
                           "that cluster is")
    p_up.set_defaults(func=up)
    p_demo = sub.add_parser("demo", help="submit sample households to the running system")
    p_demo.add_argument("--households", type=int, default=DEMO_HOUSEHOLDS)
    p_demo.add_argument("--timeout", type=float, default=60)
    p_demo.add_argument("--seed", type=int, default=None,
                        help="choose the households (default: new ones every run)")
    p_demo.set_defaults(func=demo)
    p_tail = sub.add_parser("tail", help="print a topic's records with their CloudEvents headers")
    p_tail.add_argument("topic", help="e.g. onedoor.decisions")
    p_tail.add_argument("--from-beginning", action="store_true")
    p_tail.add_argument("-n", "--count", type=int, default=None, help="stop after N records")
    p_tail.add_argument("--exit-at-end", action="store_true",
                        help="stop when no record arrives for a second")
    p_tail.set_defaults(func=tail)
    p_token = sub.add_parser("token", help="a development access token for a role")
    p_token.add_argument("role", choices=("window_clerk", "town_reviewer", "district_approver",
                                          "auditor", "administrator", "partner", "service"))
    p_token.add_argument("subject", help="staff or client id, e.g. a-001")
    p_token.add_argument("--jurisdiction", default="",
                         help="region code prefix (6 digits district, 9 town; '' everywhere)")
    p_token.add_argument("--minutes", type=int, default=60)
    p_token.set_defaults(func=token)
    p_serve = sub.add_parser("serve", help="run one service in this process (a container's "
                                           "command)")
    p_serve.add_argument("service", choices=SERVICES)
    p_serve.add_argument("--host", default="0.0.0.0")  # inside its container: every interface
    p_serve.add_argument("--port", type=int, default=8000)
    p_serve.add_argument("--grace", type=int, default=20,
                         help="seconds open requests get to finish on SIGTERM")
    p_serve.set_defaults(func=serve)
    p_migrate = sub.add_parser("migrate", help="migrate services' databases, and nothing else")
    # No choices=: Python 3.11's argparse refuses an empty list against them.
    p_migrate.add_argument("services", nargs="*", metavar="SERVICE",
                           help=f"any of {', '.join(SERVICES)} (default: all)")
    p_migrate.set_defaults(func=migrate)
    add_audit_commands(sub)
    add_staff_commands(sub)
    add_partner_commands(sub)
    args = parser.parse_args()
    sys.exit(args.func(args))


if __name__ == "__main__":
    main()
