"""Two processes of every service on Apache Kafka (3 nodes) and PostgreSQL: requests land on
either instance, each service's two consumers share its group, and every case still reaches its
end once. On SQLite more than one instance is refused."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import httpx
import pytest

from deploy.kafka_cluster import KafkaCluster
from deploy.supervisor import System
from shared.settings import SERVICES, Settings
from tests.e2e.conftest import HOUSEHOLDS, final_cases, on_postgresql, payments, tokens
from tests.e2e.test_one_household import check_outcomes

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def replicated(tmp_path_factory, kafka_cluster: KafkaCluster) -> Iterator[System]:
    with on_postgresql(tmp_path_factory.mktemp("replicas"), kafka=kafka_cluster, replicas=2,
                       ready_s=120) as running:
        yield running


@pytest.mark.kafka
def test_every_case_reaches_its_end_with_two_instances_of_each_service(replicated):
    assert all(len(replicated.instances(s)) == 2 for s in SERVICES)
    check_outcomes(replicated, HOUSEHOLDS[30:40])


@pytest.mark.kafka
def test_a_case_submitted_to_one_instance_is_read_from_the_other(replicated):
    household = HOUSEHOLDS[40]
    application = household.application()
    first, second = replicated.urls("intake")
    response = httpx.post(first + "/applications", json=application,
                          headers=tokens(replicated).clerk(application["region_code"]), timeout=30)
    assert response.status_code == 201, response.text
    case_id = response.json()["case_id"]
    final_cases(replicated, [case_id])
    seen = httpx.get(f"{second}/applications/{case_id}", headers=tokens(replicated).service(),
                     timeout=10)
    assert seen.status_code == 200 and seen.json()["case_id"] == case_id
    for base in replicated.urls("payment"):
        paid = httpx.get(f"{base}/cases/{case_id}/payments",
                         headers=tokens(replicated).service(), timeout=10).json()["payments"]
        assert paid == payments(replicated, case_id)


@pytest.mark.kafka
def test_a_restarted_instance_drains_while_serving_then_its_successor_takes_cases(replicated):
    """One step of a rolling restart (System.restart, bench/rollout.py under load): on SIGTERM
    the instance answers readiness 503 "draining" at once and still serves while it drains, then
    stops by itself (not killed); its successor on the same port is ready and takes cases."""
    child = replicated.instances("intake")[0]
    base = f"http://127.0.0.1:{child.port}"
    seen: list[tuple[int, str, int]] = []  # readiness status, its word, liveness status
    stop = threading.Event()

    def watch() -> None:
        while not stop.is_set():
            try:
                ready = httpx.get(base + "/health/ready", timeout=2)
                live = httpx.get(base + "/health/live", timeout=2)
                seen.append((ready.status_code, ready.json().get("status", ""),
                             live.status_code))
            except httpx.TransportError:
                seen.append((0, "down", 0))
            time.sleep(0.05)

    watcher = threading.Thread(target=watch)
    watcher.start()
    try:
        restart = replicated.restart(child.name)
    finally:
        stop.set()
        watcher.join()
    assert not restart.forced
    assert restart.stop_s >= replicated.settings.shutdown_drain_s  # it drained, then stopped
    draining = [s for s in seen if s[1] == "draining"]
    assert draining, seen
    assert all(ready == 503 and live == 200 for ready, _, live in draining)
    assert httpx.get(base + "/health/ready", timeout=10).status_code == 200
    household = HOUSEHOLDS[41]
    application = household.application()
    response = httpx.post(base + "/applications", json=application,
                          headers=tokens(replicated).clerk(application["region_code"]), timeout=30)
    assert response.status_code == 201, response.text
    final_cases(replicated, [response.json()["case_id"]])


def test_more_than_one_instance_on_sqlite_is_refused(tmp_path):
    with pytest.raises(ValueError, match="need PostgreSQL"):
        System(settings=Settings(env="test", data_dir=tmp_path), replicas=2)
