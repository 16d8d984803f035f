"""The project's benchmarks still run: each at a small size, as ``make bench`` runs it at full
size. Every benchmark checks its own work and refuses to print figures (exiting non-zero) when
the work was not done as asked, so a bench that no longer fits the code fails here, not the day
someone measures. (The audit verify bench once stopped at its first line when a topic was
added; nothing noticed until it was run.) No figure is asserted: speed is measured by
``make bench``, not by tests."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from shared.settings import SERVICES

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("bench", [
    ["bench.audit_verify", "--events", "3000"],
    ["bench.audit_replay", "--events", "3000", "--workers", "2"],
    ["bench.partner_ingest", "--records", "3000"],
    ["bench.reassessment_sweep", "--recipients", "300"],
    ["bench.payment_cycle", "--recipients", "2000"],
    ["bench.recalculation", "--recipients", "2000"],
], ids=lambda b: b[0])
def test_a_bench_runs_its_own_checks_at_a_small_size(bench: list[str]) -> None:
    done = subprocess.run([sys.executable, "-m", *bench], cwd=ROOT, capture_output=True,
                          text=True, timeout=600, check=False)
    assert done.returncode == 0, f"{' '.join(bench)}:\n{done.stdout}\n{done.stderr}"
    assert done.stdout.strip(), "it printed no figures"


@pytest.mark.e2e
@pytest.mark.parametrize("broker", [
    "embedded", pytest.param("kafka-cluster", marks=pytest.mark.kafka)])
def test_the_chaos_checker_runs_and_finds_nothing_lost(broker: str) -> None:
    """bench.chaos at a small size, faults and all: exactly one line on stdout, and on a sound
    system 0 lost, 0 duplicated (its checks are tested to fail: test_chaos_check.py)."""
    cases = "60" if broker == "embedded" else "150"
    done = subprocess.run([sys.executable, "-m", "bench.chaos", "--cases", cases, "--rate",
                           "15", "--broker", broker, "--settle-timeout", "300"], cwd=ROOT,
                          capture_output=True, text=True, timeout=900, check=False)
    assert done.returncode == 0, f"{done.stdout}\n{done.stderr[-3000:]}"
    [line] = done.stdout.strip().splitlines()
    assert line.startswith(f"{cases} cases, ") and line.endswith(
        ": 0 lost, 0 duplicated effects"), line


@pytest.mark.e2e
@pytest.mark.kafka
def test_a_rolling_restart_under_load_fails_no_request() -> None:
    """bench.rollout at a small size (one Kafka node, intake's two instances restarted in turn
    under load): exactly one line on stdout, and no failed request, nothing lost or doubled."""
    done = subprocess.run([sys.executable, "-m", "bench.rollout", "--kafka-nodes", "1",
                           "--services", "intake", "--rate", "3", "--warmup", "2", "--tail",
                           "2", "--max-cases", "300"], cwd=ROOT, capture_output=True, text=True,
                          timeout=900, check=False)
    assert done.returncode == 0, f"{done.stdout}\n{done.stderr[-3000:]}"
    [line] = done.stdout.strip().splitlines()
    assert line.endswith(", 2 restarts: 0 failed requests, 0 lost, 0 duplicated effects"), line


@pytest.mark.e2e
def test_the_soak_checks_its_work_and_samples_every_service() -> None:
    """bench.soak for one minute at 10 cases/s: every case pre-assessed (its own check, or it
    exits non-zero), and a memory line for every service process."""
    done = subprocess.run([sys.executable, "-m", "bench.soak", "--minutes", "1", "--rate", "10",
                           "--every", "5"], cwd=ROOT, capture_output=True, text=True,
                          timeout=600, check=False)
    assert done.returncode == 0, f"{done.stdout}\n{done.stderr[-3000:]}"
    assert "checked: all 600 cases pre-assessed on the bus and in intake's database" in done.stdout
    for service in SERVICES:
        assert re.search(rf"^{service} +\d+ MB +\d+ MB +\d+ MB", done.stdout, re.M), service
