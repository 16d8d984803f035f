"""The whole system — a broker, every service's uvicorn process — as `make up` runs it: on the
embedded broker with SQLite (``system``), with PostgreSQL (``pg_system``), and on the 3-node
Apache Kafka cluster with PostgreSQL (``kafka_system``), the production road."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from typing import Any

import httpx
import pytest

from deploy.demo import FINAL, load_partner_data
from deploy.households import Household, make_households
from deploy.kafka_cluster import KafkaCluster
from deploy.staff import Staff
from deploy.supervisor import System
from deploy.tokens import DevTokens
from services.approval.bootstrap import DEFAULT_POLICY
from shared.bus.broker import free_port
from shared.settings import SERVICES, Settings
from tests.conftest import PostgresDatabases, bus_settings, wait_until

HOUSEHOLDS = make_households(60)
# The packaged policy, with Cixi's public notice shortened to 0 days (see the file).
POLICY_PATHS = [DEFAULT_POLICY, Path(__file__).parent / "fast_notice.toml"]


def start_system(data_dir: Path, database_urls: dict[str, str] | None = None,
                 kafka: KafkaCluster | None = None, replicas: int = 1,
                 ready_s: float = 90) -> System:
    overrides: dict[str, object] = {f"{name}_database_url": url
                                    for name, url in (database_urls or {}).items()}
    if kafka is not None:
        overrides.update(bus_settings(kafka))
    settings = Settings(env="test", data_dir=data_dir, policy_paths=POLICY_PATHS,
                        **overrides)  # type: ignore[arg-type]
    system = System(settings=settings, ports={name: free_port() for name in SERVICES},
                    broker_port=None if kafka else free_port(), replicas=replicas)
    system.start()
    try:
        system.wait_ready(timeout_s=ready_s)
        load_partner_data(system.url("verification"), HOUSEHOLDS)
    except BaseException:
        system.stop()
        raise
    return system


@pytest.fixture(scope="module")
def embedded_system(tmp_path_factory) -> Iterator[System]:
    running = start_system(tmp_path_factory.mktemp("onedoor"))
    yield running
    running.stop()


@pytest.fixture(scope="module")
def system(embedded_system: System) -> System:
    return embedded_system


@pytest.fixture(scope="module")
def kafka_system(tmp_path_factory, kafka_cluster: KafkaCluster) -> Iterator[System]:
    """On the session's 3-node Kafka cluster and PostgreSQL: services' groups and topics are
    shared with other tests on that cluster, as they would be in a city's deployment."""
    with on_postgresql(tmp_path_factory.mktemp("onedoor-kafka"), kafka=kafka_cluster) as running:
        yield running


@contextlib.contextmanager
def on_postgresql(data_dir: Path, **start: Any) -> Iterator[System]:
    """The whole system with a fresh PostgreSQL database per service (dropped afterwards);
    ``start``: start_system's other settings (the broker, the replicas)."""
    databases = PostgresDatabases()
    try:
        running = start_system(data_dir, {name: databases.create() for name in SERVICES},
                               **start)
        try:
            yield running
        finally:
            running.stop()
    finally:
        databases.drop_all()


@pytest.fixture(scope="module")
def pg_system(tmp_path_factory) -> Iterator[System]:
    with on_postgresql(tmp_path_factory.mktemp("onedoor-pg")) as running:
        yield running


@cache
def _tokens(data_dir: Path) -> DevTokens:
    return DevTokens(Settings(env="test", data_dir=data_dir))


def tokens(system: System) -> DevTokens:
    """Tokens signed with the running system's development key, as its sign-in would sign
    them: every test request goes through the same role and jurisdiction checks as staff's."""
    return _tokens(system.settings.data_dir)


def submit(system: System, household: Household) -> str:
    application = household.application()
    response = httpx.post(system.url("intake") + "/applications", json=application,
                          headers=tokens(system).clerk(application["region_code"]), timeout=30)
    assert response.status_code == 201, response.text
    return str(response.json()["case_id"])


def final_cases(system: System, case_ids: list[str], timeout_s: float = 60,
                on_poll=None) -> dict[str, dict]:  # type: ignore[no-untyped-def,type-arg]
    """Let scripted staff review and approve the cases, then wait until intake shows each one
    paid or rejected."""
    cases: dict[str, dict] = {}  # type: ignore[type-arg]
    staff = Staff(system.url("approval"), tokens(system))

    def all_final() -> bool:
        if on_poll is not None:
            on_poll()
        for case_id in case_ids:
            if cases.get(case_id, {}).get("status") not in FINAL:
                staff.step(case_id)
        for case_id in case_ids:
            if cases.get(case_id, {}).get("status") in FINAL:
                continue
            cases[case_id] = httpx.get(f"{system.url('intake')}/applications/{case_id}",
                                       headers=tokens(system).service(), timeout=10).json()
        return all(cases[c]["status"] in FINAL for c in case_ids)

    try:
        wait_until(all_final, timeout_s=timeout_s, interval_s=0.3, what="every case final")
    except AssertionError:
        stuck = {c: cases[c]["status"] for c in case_ids if cases[c]["status"] not in FINAL}
        raise AssertionError(f"{len(stuck)} cases not final: {stuck}") from None
    finally:
        staff.close()
    return cases


def payments(system: System, case_id: str) -> list[dict]:  # type: ignore[type-arg]
    response = httpx.get(f"{system.url('payment')}/cases/{case_id}/payments",
                         headers=tokens(system).service(), timeout=10)
    return response.json()["payments"]  # type: ignore[no-any-return]
