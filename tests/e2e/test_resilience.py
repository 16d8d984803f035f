"""No case is lost when the broker restarts or a service crashes in the middle of a run."""

from __future__ import annotations

import os
import signal
import time

import pytest

from tests.e2e.conftest import HOUSEHOLDS, final_cases, payments, start_system, submit

pytestmark = pytest.mark.e2e


@pytest.fixture
def own_system(tmp_path):
    running = start_system(tmp_path)
    yield running
    running.stop()


def assert_each_once(system, households, case_ids) -> None:  # type: ignore[no-untyped-def]
    cases = final_cases(system, case_ids, timeout_s=120, on_poll=system.watch_once)
    for household, case_id in zip(households, case_ids, strict=True):
        expected = "payment_scheduled" if household.expect == "approved" else "rejected"
        assert cases[case_id]["status"] == expected, (household.label, cases[case_id])
        assert len(payments(system, case_id)) == (1 if expected == "payment_scheduled" else 0)


def test_a_broker_restart_mid_run_loses_no_case(own_system):
    first, second = HOUSEHOLDS[:20], HOUSEHOLDS[20:40]
    case_ids = [submit(own_system, h) for h in first]
    own_system.broker.restart()  # everything the broker held is gone, in-flight events too
    case_ids += [submit(own_system, h) for h in second]
    assert_each_once(own_system, first + second, case_ids)


def test_a_crashed_service_is_restarted_and_catches_up(own_system):
    households = HOUSEHOLDS[:10]
    payment = own_system.children["payment"].process
    os.kill(payment.pid, signal.SIGKILL)
    payment.wait()
    case_ids = [submit(own_system, h) for h in households]
    time.sleep(1)
    assert_each_once(own_system, households, case_ids)
    assert own_system.children["payment"].restarts == 1
