"""Kafka clients for the bus: producer, admin, topic provisioning and the broker epoch.

Two brokers, one contract. The embedded Tansu broker keeps its log in memory and gets a new
cluster id each start, so the relays and consumers watch that id (the broker epoch) to re-send
and re-read after a restart; it also refuses InitProducerId, so its producers are not
idempotent. Apache Kafka keeps its log and its id: there the epoch is read once and never asked
again (the checks cost no round trip and never fire), and the producer is idempotent, so a
retried send after a lost acknowledgement is not written twice.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Sequence
from typing import Protocol

from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import TopicAlreadyExistsError

from shared.events.topics import ALL_TOPICS
from shared.settings import BrokerKind, Settings

log = logging.getLogger(__name__)


def new_producer(bootstrap: str, *, idempotent: bool = False) -> AIOKafkaProducer:
    # acks=all: a record counts as published only when the in-sync replicas have it. Consumers
    # deduplicate by event id anyway; idempotence (Apache Kafka only) keeps a retried batch from
    # being written twice, and the order per partition through retries.
    return AIOKafkaProducer(
        bootstrap_servers=bootstrap,
        acks="all",
        enable_idempotence=idempotent,
        linger_ms=2,
        max_batch_size=256 * 1024,
        request_timeout_ms=15000,
    )


def cluster_for(settings: Settings) -> Cluster:
    return Cluster(settings.kafka_bootstrap, settings.topic_partitions, kind=settings.broker,
                   replication_factor=settings.topic_replication_factor)


class Startable(Protocol):
    """An aiokafka client: a producer, a consumer or the admin client."""

    async def start(self) -> None: ...


async def start_with_retry(client: Startable, what: str, attempts: int = 60) -> None:
    """Start an aiokafka client, waiting for a broker that is still coming up."""
    for attempt in range(attempts):
        try:
            await client.start()
            return
        except Exception as exc:  # the broker may simply not be listening yet
            if attempt == attempts - 1:
                raise
            log.warning("%s: broker not reachable yet (%s); retrying", what, exc)
            await asyncio.sleep(min(0.2 * (attempt + 1), 2.0))


def min_insync(replication_factor: int) -> int:
    """2 of 3 replicas must have a record before it is acknowledged (one broker may die with no
    loss and no stop); a single node can only ask for itself."""
    return max(1, min(2, replication_factor - 1))


class Cluster:
    """Admin view of the cluster: which epoch it is in, and that our topics exist."""

    def __init__(self, bootstrap: str, partitions: int, *, kind: BrokerKind = "embedded",
                 replication_factor: int = 0) -> None:
        self._bootstrap = bootstrap
        self._partitions = partitions
        self.kind: BrokerKind = kind
        self._replication_factor = replication_factor
        self._admin: AIOKafkaAdminClient | None = None
        self._epoch: str | None = None

    @property
    def bootstrap(self) -> str:
        return self._bootstrap

    async def _client(self) -> AIOKafkaAdminClient:
        if self._admin is None:
            admin = AIOKafkaAdminClient(bootstrap_servers=self._bootstrap, request_timeout_ms=5000)
            await admin.start()
            self._admin = admin
        return self._admin

    async def epoch(self) -> str:
        """The cluster id. The embedded broker gets a fresh one each start (see broker.py);
        Apache Kafka's never changes, so it is asked once."""
        if self.kind == "kafka" and self._epoch is not None:
            return self._epoch
        try:
            info = await (await self._client()).describe_cluster()
        except Exception:
            await self.close()  # a fresh client next time: the old one may hold a dead socket
            raise
        self._epoch = str(info["cluster_id"])
        return self._epoch

    async def describe(self) -> dict[str, object]:
        """The cluster's id, controller and brokers, asked now: a round trip every time, unlike
        :meth:`epoch` on Apache Kafka (the readiness probe's question, shared/health.py)."""
        try:
            described: dict[str, object] = await (await self._client()).describe_cluster()
            return described
        except Exception:
            await self.close()
            raise

    async def ensure_topics(self, extra: Sequence[str] = ()) -> None:
        """Create every catalogued topic (and these ``extra`` ones) that does not exist yet: on
        Apache Kafka replicated (3, or fewer on a smaller cluster) with min.insync.replicas."""
        admin = await self._client()
        existing = set(await admin.list_topics())
        missing = [t for t in (*ALL_TOPICS, *extra) if t not in existing]
        if not missing:
            return
        replicas, configs = 1, {}
        if self.kind == "kafka":
            replicas = self._replication_factor or min(
                3, len((await admin.describe_cluster())["brokers"]))
            configs = {"min.insync.replicas": str(min_insync(replicas))}
        for topic in missing:
            with contextlib.suppress(TopicAlreadyExistsError):  # another service was first
                response = await admin.create_topics(
                    [NewTopic(topic, self._partitions, replicas, topic_configs=configs)])
                # The admin client answers a refusal (too few brokers for the replication
                # factor, say) in the response, not as an exception.
                for name, code, *message in response.topic_errors:
                    if code not in (0, TopicAlreadyExistsError.errno):
                        raise RuntimeError(f"creating topic {name} was refused: error {code} "
                                           f"{message[0] if message else ''}")

    async def close(self) -> None:
        if self._admin is not None:
            admin, self._admin = self._admin, None
            try:
                await admin.close()
            except Exception:
                log.debug("closing admin client failed", exc_info=True)
