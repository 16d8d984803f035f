"""Kafka clients for the bus: producer, admin, topic creation and the broker epoch."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Sequence

from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import TopicAlreadyExistsError

from shared.events.topics import ALL_TOPICS

log = logging.getLogger(__name__)


def new_producer(bootstrap: str) -> AIOKafkaProducer:
    # acks=all: a record counts as published only when the cluster has it. Not idempotent: the
    # embedded broker refuses InitProducerId, and consumers deduplicate by event id anyway.
    return AIOKafkaProducer(
        bootstrap_servers=bootstrap,
        acks="all",
        linger_ms=2,
        max_batch_size=256 * 1024,
        request_timeout_ms=15000,
    )


async def start_with_retry(client: object, what: str, attempts: int = 60) -> None:
    """Start an aiokafka client, waiting for a broker that is still coming up."""
    for attempt in range(attempts):
        try:
            await client.start()  # type: ignore[attr-defined]
            return
        except Exception as exc:  # the broker may simply not be listening yet
            if attempt == attempts - 1:
                raise
            log.warning("%s: broker not reachable yet (%s); retrying", what, exc)
            await asyncio.sleep(min(0.2 * (attempt + 1), 2.0))


class Cluster:
    """Admin view of the cluster: which epoch it is in, and that our topics exist."""

    def __init__(self, bootstrap: str, partitions: int) -> None:
        self._bootstrap = bootstrap
        self._partitions = partitions
        self._admin: AIOKafkaAdminClient | None = None

    async def _client(self) -> AIOKafkaAdminClient:
        if self._admin is None:
            admin = AIOKafkaAdminClient(bootstrap_servers=self._bootstrap, request_timeout_ms=5000)
            await admin.start()
            self._admin = admin
        return self._admin

    async def epoch(self) -> str:
        """The cluster id. The embedded broker gets a fresh one each start (see broker.py)."""
        try:
            info = await (await self._client()).describe_cluster()
        except Exception:
            await self.close()  # a fresh client next time: the old one may hold a dead socket
            raise
        return str(info["cluster_id"])

    async def ensure_topics(self, extra: Sequence[str] = ()) -> None:
        """Create every catalogued topic (and these ``extra`` ones) that does not exist yet."""
        admin = await self._client()
        existing = set(await admin.list_topics())
        missing = [t for t in (*ALL_TOPICS, *extra) if t not in existing]
        for topic in missing:
            with contextlib.suppress(TopicAlreadyExistsError):  # another service was first
                await admin.create_topics([NewTopic(topic, self._partitions, 1)])

    async def close(self) -> None:
        if self._admin is not None:
            admin, self._admin = self._admin, None
            try:
                await admin.close()
            except Exception:
                log.debug("closing admin client failed", exc_info=True)
