"""``onedoor staff …``: the window's accounts, for an administrator at the server.

    onedoor staff add c-ningbo-0142 window_clerk 330203001 --name 张三   # asks for the password
    onedoor staff disable c-ningbo-0142                                  # ends their sessions
    onedoor staff enable c-ningbo-0142
    onedoor staff list

The password is read from the terminal (or, for scripts, one line of standard input), never
from the command line, where it would stay in the shell's history and the process list.
"""

from __future__ import annotations

import argparse
import getpass
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import Engine

from services.window.domain.accounts import STAFF_ROLES
from services.window.service_layer import staff
from shared.db import make_engine
from shared.migrations import upgrade
from shared.settings import load_settings

MIGRATIONS = Path(__file__).resolve().parents[1] / "migrations"


def add_commands(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser("staff", help="the window's staff accounts")
    commands = parser.add_subparsers(required=True)
    p_add = commands.add_parser("add", help="make an account (asks for its password)")
    p_add.add_argument("staff_id", help="2-32 lower-case letters, digits, '.', '_', '-'")
    p_add.add_argument("role", choices=[str(role) for role in STAFF_ROLES])
    p_add.add_argument("jurisdiction", help="9 digits a town, 6 a district or city, '' "
                                            "everywhere")
    p_add.add_argument("--name", required=True, help="shown to its owner, never logged")
    p_add.set_defaults(func=_add)
    for name, active in (("disable", False), ("enable", True)):
        p = commands.add_parser(name, help=f"{name} an account"
                                + (" and end its sessions" if not active else ""))
        p.add_argument("staff_id")
        p.set_defaults(func=_set_active, active=active)
    commands.add_parser("list", help="every account").set_defaults(func=_list)


def _engine() -> Engine:
    url = load_settings().database_url("window")
    upgrade(url, MIGRATIONS)
    return make_engine(url)


def _password() -> str:
    if not sys.stdin.isatty():
        return sys.stdin.readline().rstrip("\n")
    first = getpass.getpass("password: ")
    if first != getpass.getpass("again: "):
        raise staff.AccountRefused("the two passwords differ")
    return first


def _refusing(work: Callable[[Engine], str]) -> int:
    """Runs ``work`` on the window's database: 0 and its line, or 2 and the refusal."""
    engine = _engine()
    try:
        print(work(engine))
    except staff.AccountRefused as exc:
        print(f"refused: {exc}", file=sys.stderr)
        return 2
    finally:
        engine.dispose()
    return 0


def _add(args: argparse.Namespace) -> int:
    def add(engine: Engine) -> str:
        account = staff.add(engine, args.staff_id, args.role, args.jurisdiction, args.name,
                            _password(), datetime.now(UTC))
        return f"{account.staff_id}: {account.role}, {account.jurisdiction or 'everywhere'}"
    return _refusing(add)


def _set_active(args: argparse.Namespace) -> int:
    def set_active(engine: Engine) -> str:
        staff.set_active(engine, args.staff_id, args.active)
        return f"{args.staff_id}: {'enabled' if args.active else 'disabled, sessions ended'}"
    return _refusing(set_active)


def _list(_args: argparse.Namespace) -> int:
    def lines(engine: Engine) -> str:
        return "\n".join(
            f"{account.staff_id:<20} {account.role:<18} "
            f"{account.jurisdiction or 'everywhere':<10} "
            f"{'active' if account.active else 'disabled':<9} "
            f"last sign-in {last.isoformat(timespec='minutes') if last else 'never'}"
            for account, last in staff.listed(engine))
    return _refusing(lines)
