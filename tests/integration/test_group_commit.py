"""Group commit (shared/group_commit.py) on real SQLite and PostgreSQL: concurrent commands share
one transaction, yet each keeps its own outcome, its own undo and its own context."""

import asyncio
import contextvars
from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import func, select
from sqlalchemy.exc import OperationalError

from deploy.households import resident_id
from services.intake.adapters.tables import bus, cases
from services.intake.domain.model import Application, InvalidApplication, Member
from services.intake.service_layer import commands
from shared.auth.principals import Principal, Role
from shared.group_commit import GroupCommit
from shared.resident_id import parse_resident_id
from shared.uow import UnitOfWork
from tests.conftest import migrated_engine

KEY = b"test-key"
CLERK = Principal(subject="clerk-1", role=Role.WINDOW_CLERK, jurisdiction="330282",
                  expires_at=datetime.now(UTC) + timedelta(hours=1))


@pytest.fixture
def engine(database_url):
    with migrated_engine(database_url, "intake") as engine:
        yield engine


def application(sequence: int, *, consent: bool = True) -> Application:
    rid = parse_resident_id(resident_id("330282", date(1970, 3, 3), sequence), today=date.today())
    return Application("330282", "dibao", (Member(
        "李四", rid, "applicant", consent_signed_on=date.today() if consent else None),))


def submit(app: Application, key: str | None = None):
    return lambda uow_factory: commands.submit(
        uow_factory, app, pseudonym_key=KEY, idempotency_key=key, request_hash=f"h{key}",
        by=CLERK)


def counts(engine) -> tuple[int, int]:
    with engine.connect() as conn:
        return (conn.execute(select(func.count()).select_from(cases)).scalar_one(),
                conn.execute(select(func.count()).select_from(bus.outbox)).scalar_one())


def group_of(engine, woken: list[int] | None = None) -> GroupCommit:
    return GroupCommit(lambda: UnitOfWork(engine, bus, "/onedoor/intake", on_commit=(
        (lambda: woken.append(1)) if woken is not None else None)), service="intake")


class CommitRefused(UnitOfWork):
    """A fault injected at the commit, after every command's statements ran in the database
    (the transaction is then rolled back, as after a full disk)."""

    def commit(self) -> None:
        raise OperationalError("COMMIT", None, OSError("disk I/O error (injected)"))


def test_concurrent_commands_share_transactions_and_each_gets_its_own_case(engine):
    woken: list[int] = []
    group = group_of(engine, woken)

    async def main():
        return await asyncio.gather(*(group.run(submit(application(n))) for n in range(1, 41)))

    case_ids = asyncio.run(main())
    assert len(set(case_ids)) == 40
    assert counts(engine) == (40, 40)
    # The first command starts a group alone; the 39 queued meanwhile go in the next one.
    assert group.groups_committed < 40
    assert len(woken) == group.groups_committed  # the relay is woken once a transaction
    with engine.connect() as conn:
        keyed = set(conn.execute(select(bus.outbox.c.key)).scalars())
    assert keyed == {c.encode() for c in case_ids}


def test_a_refused_command_undoes_only_its_own_writes_and_hears_why(engine):
    group = group_of(engine)

    async def main():
        return await asyncio.gather(
            group.run(submit(application(1))),
            group.run(submit(application(2))),
            group.run(submit(application(2))),  # the same person again: an open case
            group.run(submit(application(3, consent=False))),
            group.run(submit(application(4))),
            return_exceptions=True)

    first, second, again, unsigned, fifth = asyncio.run(main())
    assert all(isinstance(c, str) for c in (first, second, fifth))
    assert isinstance(again, InvalidApplication)
    assert isinstance(unsigned, InvalidApplication)
    assert counts(engine) == (3, 3)


def test_an_idempotency_key_used_twice_in_one_group_answers_with_one_case(engine):
    group = group_of(engine)

    async def main():
        return await asyncio.gather(group.run(submit(application(1), key="k-1")),
                                    group.run(submit(application(1), key="k-1")),
                                    group.run(submit(application(1), key="k-1")))

    answers = asyncio.run(main())
    assert len(set(answers)) == 1
    assert counts(engine) == (1, 1)


def test_each_command_runs_in_its_own_callers_context(engine):
    request = contextvars.ContextVar("request", default="none")
    seen: dict[str, str] = {}
    group = group_of(engine)

    def command(name: str):
        def run(uow_factory):
            seen[name] = request.get()
            return name
        return run

    async def caller(name: str) -> str:
        request.set(name)  # a task's own context, as each HTTP request has
        return await group.run(command(name))

    async def main():
        return await asyncio.gather(*(caller(f"r{n}") for n in range(10)))

    assert asyncio.run(main()) == [f"r{n}" for n in range(10)]
    assert seen == {f"r{n}": f"r{n}" for n in range(10)}


def test_when_the_commit_fails_every_caller_hears_it_and_nothing_is_kept(engine):
    refusing = GroupCommit(lambda: CommitRefused(engine, bus, "/onedoor/intake"),
                           service="intake")

    async def main():
        return await asyncio.gather(
            *(refusing.run(submit(application(n))) for n in range(1, 6)),
            return_exceptions=True)

    answers = asyncio.run(main())
    assert len(answers) == 5 and all(isinstance(a, OperationalError) for a in answers)
    assert counts(engine) == (0, 0)
    # the database was left as it was: the next group writes as usual
    assert isinstance(asyncio.run(group_of(engine).run(submit(application(9)))), str)
    assert counts(engine) == (1, 1)


class CannotBegin(UnitOfWork):
    """A database that cannot begin a transaction (SQLite's writer's turn never came)."""

    def __init__(self, *args, tries: list[int], **kwargs):
        super().__init__(*args, **kwargs)
        self.tries = tries

    @property
    def conn(self):
        self.tries.append(1)
        raise OperationalError("BEGIN IMMEDIATE", None, TimeoutError("no turn to write"))


def test_when_the_group_cannot_begin_every_caller_hears_it_at_once(engine):
    tries: list[int] = []
    group = GroupCommit(lambda: CannotBegin(engine, bus, "/onedoor/intake", tries=tries),
                        service="intake")

    async def main():
        return await asyncio.gather(*(group.run(submit(application(n))) for n in range(1, 6)),
                                    return_exceptions=True)

    answers = asyncio.run(main())
    assert all(isinstance(a, OperationalError) for a in answers)
    # One attempt to begin for the group, not one wait per command.
    assert len(tries) == 1
    assert counts(engine) == (0, 0)
