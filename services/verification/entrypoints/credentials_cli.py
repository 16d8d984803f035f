"""``onedoor partners …``: partner departments' credentials, for an administrator at the server.

    onedoor partners issue-credential bank --expires-old-in 48 > bank-token   # the new token
    onedoor partners list-credentials
    onedoor partners revoke-credentials bank --except-newest                 # end the overlap

``issue-credential`` writes the new token, and nothing else, to standard output, once: hand it to
the department over a channel fit for a password, and do not keep a copy. Verification stores
only its SHA-256, so a lost token cannot be shown again — issue another. What it did goes to
standard error and the log, the token named by its fingerprint (the first characters of its
SHA-256: ``printf %s "$TOKEN" | sha256sum``).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

from services.verification.adapters.tables import bus
from services.verification.entrypoints import publish_cli
from services.verification.service_layer import credentials
from shared.db import make_engine
from shared.migrations import upgrade
from shared.settings import load_settings
from shared.uow import UnitOfWork

MIGRATIONS = Path(__file__).resolve().parents[1] / "migrations"
DEFAULT_OVERLAP_HOURS = 24.0


def add_commands(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser("partners", help="partner departments' credentials; a file published")
    commands = parser.add_subparsers(required=True)
    p_issue = commands.add_parser(
        "issue-credential", help="a new credential for a department, printed once; its "
                                 "previous ones stay accepted for an overlap")
    p_issue.add_argument("department", help="e.g. bank, tax, public_security")
    p_issue.add_argument("--expires-old-in", type=float, default=DEFAULT_OVERLAP_HOURS,
                         metavar="HOURS",
                         help="how long the department's previous credentials stay accepted "
                              f"(default {DEFAULT_OVERLAP_HOURS:g}; 0: they stop now)")
    p_issue.set_defaults(func=_issue)
    p_revoke = commands.add_parser("revoke-credentials",
                                   help="end a department's overlap: only its newest credential "
                                        "stays accepted")
    p_revoke.add_argument("department")
    p_revoke.add_argument("--except-newest", action="store_true", required=True,
                          help="required: the newest credential is kept (to replace it, "
                               "issue another with --expires-old-in 0)")
    p_revoke.set_defaults(func=_revoke)
    commands.add_parser("list-credentials", help="every credential kept: department, created, "
                                                 "expires, fingerprint (never the token)"
                        ).set_defaults(func=_list)
    publish_cli.add_command(commands)  # a department's: sends a bulk file to the service


def _on_database(work: Callable[[UnitOfWork], None]) -> int:
    """Runs ``work`` in a unit of work on verification's database: 0, or 2 and the refusal."""
    url = load_settings().database_url("verification")
    upgrade(url, MIGRATIONS)
    engine = make_engine(url)
    try:
        with UnitOfWork(engine, bus, source="/onedoor/verification") as uow:
            work(uow)
    except credentials.CredentialRefused as exc:
        print(f"refused: {exc}", file=sys.stderr)
        return 2
    finally:
        engine.dispose()
    return 0


def _moment(moment: datetime | None) -> str:
    return moment.isoformat(timespec="minutes") if moment else "-"


def _issue(args: argparse.Namespace) -> int:
    def issue(uow: UnitOfWork) -> None:
        hours = args.expires_old_in
        if hours != hours or hours < 0:  # NaN too
            raise credentials.CredentialRefused("--expires-old-in: a number of hours, 0 or more")
        issued = credentials.issue(uow, args.department, timedelta(hours=hours),
                                   datetime.now(UTC))
        print(issued.token)  # the one place it is shown
        sys.stdout.flush()
        old = (f"its previous credentials are accepted until {_moment(issued.old_until)}"
               if issued.old_until else "no previous credential is accepted any more")
        print(f"{issued.department}: credential {issued.fingerprint} issued; {old}",
              file=sys.stderr)
    return _on_database(issue)


def _revoke(args: argparse.Namespace) -> int:
    def revoke(uow: UnitOfWork) -> None:
        revoked = credentials.revoke_retiring(uow, args.department)
        print(f"{args.department}: {revoked} previous credential(s) revoked; the newest stays")
    return _on_database(revoke)


def _list(_args: argparse.Namespace) -> int:
    def show(uow: UnitOfWork) -> None:
        now = datetime.now(UTC)
        print(f"{'department':<22} {'fingerprint':<13} {'created':<17} expires")
        for c in credentials.listed(uow):
            expires = ("newest, until replaced" if c.newest else
                       f"{_moment(c.expires_at)}"
                       + (" (expired)" if c.expires_at and c.expires_at <= now else ""))
            print(f"{c.department:<22} {c.fingerprint:<13} {_moment(c.created_at):<17} "
                  f"{expires}")
    return _on_database(show)
