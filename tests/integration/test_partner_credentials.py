"""Partner departments' credentials: demo ones in development and tests, never in production;
a new one issued with an overlap in which the old stays accepted (``onedoor partners``), on
SQLite and PostgreSQL, checked through verification's own HTTP gate."""

import logging
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from sqlalchemy import text

from deploy import cli
from services.verification.adapters.repositories.partners import PartnerRepository, token_digest
from services.verification.adapters.tables import bus, metadata
from services.verification.bootstrap import _demo_credentials, create_app, demo_token
from services.verification.service_layer import credentials
from shared.db import reading
from shared.migrations import upgrade
from shared.service import build_runtime
from shared.settings import Settings, load_settings
from tests.conftest import migrated_engine

MIGRATIONS = Path(__file__).resolve().parents[2] / "services" / "verification" / "migrations"


def department_of(runtime, token: str) -> str | None:  # type: ignore[no-untyped-def]
    with reading(runtime.engine) as conn:
        return PartnerRepository(conn).department_for_token(token)


def test_production_revokes_demo_credentials_left_by_development(database_url):
    upgrade(database_url, MIGRATIONS)
    runtime = build_runtime(
        name="verification", metadata=metadata, bus=bus, migrations_dir=MIGRATIONS, topics=[],
        handlers={}, settings=Settings(env="test", verification_database_url=database_url))
    try:
        _demo_credentials(runtime, production=False)
        assert department_of(runtime, demo_token("bank")) == "bank"
        with runtime.uow() as uow:
            PartnerRepository(uow.conn).set_token("bank", "a-real-secret-token-from-the-bank")
            uow.commit()
        _demo_credentials(runtime, production=True)
        assert department_of(runtime, demo_token("public_security")) is None
        assert department_of(runtime, "a-real-secret-token-from-the-bank") == "bank"
    finally:
        runtime.engine.dispose()


# -- issuing and overlapping credentials (onedoor partners …) ---------------------------------

OLD = "the-bank-credential-in-use-until-now"


@pytest.fixture
def verification(database_url, tmp_path):  # type: ignore[no-untyped-def]
    """Verification as its bootstrap builds it (no lifespan: no broker needed to check a
    credential), the bank holding ``OLD``."""
    settings = load_settings(env="test", data_dir=tmp_path,
                             verification_database_url=database_url)
    with migrated_engine(database_url, "verification"):
        app = create_app(settings)
        runtime = app.state.runtime
        with runtime.uow() as uow:
            PartnerRepository(uow.conn).set_token("bank", OLD)
            uow.commit()
        try:
            yield app
        finally:
            runtime.engine.dispose()


async def gate(app, token: str) -> int:  # type: ignore[no-untyped-def]
    """What verification's partner endpoint answers a credential: 401 for one it refuses, 422
    (an empty batch) for one it accepts."""
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                 base_url="http://verification") as http:
        answer = await http.post("/partner-records", json={"records": []},
                                 headers={"Authorization": f"Bearer {token}"})
    return answer.status_code


async def test_old_and_new_are_both_accepted_during_the_overlap_and_the_old_not_after(
        verification):
    runtime = verification.state.runtime
    now = datetime.now(UTC)
    with runtime.uow() as uow:
        issued = credentials.issue(uow, "bank", timedelta(hours=2), now)
    assert issued.token != OLD and len(issued.token) >= 43
    assert issued.old_until == now + timedelta(hours=2)
    assert await gate(verification, OLD) == 422
    assert await gate(verification, issued.token) == 422
    assert await gate(verification, "a-credential-nobody-was-given") == 401
    # The overlap is the bank's alone, and ends at its deadline.
    assert department_of(runtime, demo_token("bank")) is None
    with reading(runtime.engine) as conn:
        repo = PartnerRepository(conn)
        assert repo.department_for_token(OLD, at=now + timedelta(hours=1, minutes=59)) == "bank"
        assert repo.department_for_token(OLD, at=now + timedelta(hours=2)) is None
        assert repo.department_for_token(issued.token,
                                         at=now + timedelta(days=365)) == "bank"

    # Issued again: the first new one overlaps too, and no replaced credential outlives the
    # shorter deadline; then the overlap is ended by hand.
    with runtime.uow() as uow:
        again = credentials.issue(uow, "bank", timedelta(hours=1), now)
    for token in (OLD, issued.token, again.token):
        assert await gate(verification, token) == 422
    with reading(runtime.engine) as conn:
        assert PartnerRepository(conn).department_for_token(
            OLD, at=now + timedelta(hours=1, seconds=1)) is None
    with runtime.uow() as uow:
        assert credentials.revoke_retiring(uow, "bank") == 2
    assert await gate(verification, OLD) == 401
    assert await gate(verification, issued.token) == 401
    assert await gate(verification, again.token) == 422


async def test_an_overlap_of_none_ends_the_old_credential_at_once(verification):
    with verification.state.runtime.uow() as uow:
        issued = credentials.issue(uow, "bank", timedelta(0), datetime.now(UTC))
    assert issued.old_until is None
    assert await gate(verification, OLD) == 401
    assert await gate(verification, issued.token) == 422


def test_unknown_departments_and_overlaps_out_of_bounds_are_refused(verification):
    runtime = verification.state.runtime
    for department, overlap, says in (("the_moon", timedelta(hours=1), "department"),
                                      ("bank", timedelta(hours=-1), "overlap"),
                                      ("bank", timedelta(days=31), "overlap")):
        with runtime.uow() as uow, pytest.raises(credentials.CredentialRefused, match=says):
            credentials.issue(uow, department, overlap, datetime.now(UTC))
    assert department_of(runtime, OLD) == "bank"  # nothing was changed


def onedoor(monkeypatch, *argv: str) -> int:  # type: ignore[no-untyped-def]
    """The ``onedoor`` command as an operator types it; its exit status."""
    monkeypatch.setattr(sys, "argv", ["onedoor", *argv])
    with pytest.raises(SystemExit) as exited:
        cli.main()
    return int(exited.value.code or 0)


def test_the_command_prints_the_token_once_keeps_only_its_hash_and_never_logs_it(
        verification, database_url, monkeypatch, capsys, caplog):
    caplog.set_level(logging.DEBUG)
    monkeypatch.setenv("ONEDOOR_VERIFICATION_DATABASE_URL", database_url)
    monkeypatch.setenv("ONEDOOR_ENV", "test")
    runtime = verification.state.runtime

    # 0.0005 hours: the old credential is accepted for 1.8 s more.
    assert onedoor(monkeypatch, "partners", "issue-credential", "bank",
                   "--expires-old-in", "0.0005") == 0
    out, err = capsys.readouterr()
    token = out.strip()
    assert out == token + "\n" and len(token) >= 43  # the token, and nothing else
    fingerprint = token_digest(token)[:12]
    assert fingerprint in err and token not in err
    assert department_of(runtime, token) == "bank"
    assert department_of(runtime, OLD) == "bank"  # the overlap
    time.sleep(2.0)
    assert department_of(runtime, OLD) is None  # the deadline passed
    assert department_of(runtime, token) == "bank"

    assert onedoor(monkeypatch, "partners", "issue-credential", "tax") == 0
    second = capsys.readouterr().out.strip()
    assert onedoor(monkeypatch, "partners", "list-credentials") == 0
    listing = capsys.readouterr().out
    assert fingerprint in listing and token_digest(second)[:12] in listing
    assert "newest" in listing and "(expired)" in listing  # OLD, kept until revoked
    assert onedoor(monkeypatch, "partners", "revoke-credentials", "bank",
                   "--except-newest") == 0
    assert "1 previous credential(s) revoked" in capsys.readouterr().out
    assert onedoor(monkeypatch, "partners", "issue-credential", "the_moon") == 2
    assert "refused: department" in capsys.readouterr().err

    with reading(runtime.engine) as conn:
        stored = " ".join(str(v) for table in ("partner_credentials",
                                               "retiring_partner_credentials")
                          for row in conn.execute(text(f"SELECT * FROM {table}"))
                          for v in row)
    assert token_digest(token) in stored
    for secret in (token, second):
        assert secret not in stored
        assert secret not in listing
        assert secret not in caplog.text
        assert not [r for r in caplog.records if secret in r.getMessage()
                    or secret in str(r.__dict__)]
    assert any(fingerprint in r.getMessage() for r in caplog.records)
