"""Two processes of every service on Apache Kafka (3 nodes) and PostgreSQL: requests land on
either instance, each service's two consumers share its group, and every case still reaches its
end once. On SQLite more than one instance is refused."""

from __future__ import annotations

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


def test_more_than_one_instance_on_sqlite_is_refused(tmp_path):
    with pytest.raises(ValueError, match="need PostgreSQL"):
        System(settings=Settings(env="test", data_dir=tmp_path), replicas=2)
