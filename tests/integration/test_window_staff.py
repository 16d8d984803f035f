"""Staff accounts made and disabled by an administrator (``onedoor staff``), on a real database:
what is made signs in, what is refused is not made, a disabled account's sessions end."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta

import pytest

from services.window.domain.accounts import SessionPolicy, Throttle
from services.window.service_layer import signin, staff
from services.window.service_layer.identity import LocalPasswords
from tests.conftest import ROOT, migrated_engine

NOW = datetime(2026, 12, 3, 1, 0, tzinfo=UTC)
POLICY = SessionPolicy(timedelta(minutes=30), timedelta(hours=10))
THROTTLE = Throttle(5, timedelta(minutes=15))


@pytest.fixture
def engine(database_url):
    with migrated_engine(database_url, "window") as engine:
        yield engine


def test_an_account_made_signs_in_and_disabled_loses_its_session(engine):
    made = staff.add(engine, "c-nb-0142", "window_clerk", "330203001", "张三",
                     "correct horse battery", NOW)
    assert (made.role, made.jurisdiction) == ("window_clerk", "330203001")
    done = signin.sign_in(engine, LocalPasswords(), "c-nb-0142", "correct horse battery", NOW,
                          THROTTLE)
    assert signin.current(engine, done.session_id, NOW, POLICY) is not None

    staff.set_active(engine, "c-nb-0142", False)
    assert signin.current(engine, done.session_id, NOW, POLICY) is None
    with pytest.raises(signin.SignInRefused):
        signin.sign_in(engine, LocalPasswords(), "c-nb-0142", "correct horse battery", NOW,
                       THROTTLE)
    staff.set_active(engine, "c-nb-0142", True)
    assert signin.sign_in(engine, LocalPasswords(), "c-nb-0142", "correct horse battery",
                          NOW, THROTTLE).account.staff_id == "c-nb-0142"
    [(listed, last)] = staff.listed(engine)
    assert listed.active and last == NOW


@pytest.mark.parametrize(("staff_id", "role", "place", "password", "why"), [
    ("c-nb-0142", "window_clerk", "330203001", "short", "at least 12"),
    ("Zhang San", "window_clerk", "330203001", "correct horse battery", "staff id"),
    ("r-nb-01", "town_reviewer", "330203", "correct horse battery", "cannot hold"),
    ("p-hr", "partner", "", "correct horse battery", "not a staff role"),
])
def test_an_account_that_cannot_be_is_refused_and_not_made(engine, staff_id, role, place,
                                                          password, why):
    with pytest.raises(staff.AccountRefused, match=why):
        staff.add(engine, staff_id, role, place, "某人", password, NOW)
    assert staff.listed(engine) == []


def test_the_same_staff_id_twice_is_refused(engine):
    staff.add(engine, "a-nb", "district_approver", "330203", "王五", "correct horse battery", NOW)
    with pytest.raises(staff.AccountRefused, match="exists already"):
        staff.add(engine, "a-nb", "auditor", "", "王五", "another long password", NOW)
    assert [a.role for a, _ in staff.listed(engine)] == ["district_approver"]


def test_the_command_reads_the_password_from_stdin_not_the_command_line(tmp_path):
    env = {**os.environ, "ONEDOOR_DATA_DIR": str(tmp_path), "ONEDOOR_ENV": "test"}
    onedoor = [sys.executable, "-m", "deploy", "staff"]
    made = subprocess.run([*onedoor, "add", "c-nb-0142", "window_clerk", "330203001",
                           "--name", "张三"], input="correct horse battery\n", env=env,
                          cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert made.returncode == 0, made.stderr
    refused = subprocess.run([*onedoor, "disable", "nobody"], env=env, cwd=ROOT,
                             capture_output=True, text=True, timeout=60)
    assert refused.returncode == 2 and "no account nobody" in refused.stderr
    listed = subprocess.run([*onedoor, "list"], env=env, cwd=ROOT, capture_output=True,
                            text=True, timeout=60)
    assert "c-nb-0142" in listed.stdout and "active" in listed.stdout
    assert "correct horse" not in made.stdout + made.stderr + listed.stdout + listed.stderr
