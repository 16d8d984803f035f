"""Partner departments that run Kafka publish to a topic of their own instead of uploading files.

Topic ``onedoor.partner.<department>`` (e.g. ``onedoor.partner.hr_social_security``): each
record's value is one line as in a bulk file — a JSON object with op, record_id, kind,
resident_id, amount_fen, grade, as_of, town_code, situation — judged by the same rules
(``domain.publication``). Who may write a department's topic is the cluster's business (an ACL
per department's principal on Apache Kafka); the topic names the department, and a kind it does
not own is refused as in a file.

Each poll is one transaction: the accepted lines applied with the reports, warnings and leads
they cause, and for each refused line a dead-letter record naming the topic, partition, offset
and reason. The dead-letter record carries **no value**: the line holds a resident ID number, and
the dead-letter topic is archived for years; the department re-reads its own line by offset.
Offsets are committed after the transaction: a crash re-delivers, and applying a line again
changes nothing. These topics are not in the event catalogue's ``ALL_TOPICS``: the audit archive
never holds partners' raw data.

The loop is a ``Poller``'s (shared/bus/poller.py): a fetch that fails is tried again, and after a
restart of the embedded broker (an empty log, numbered from 0 again, under a new cluster id) every
partition is read again from the start instead of from the old position, which would skip the
head of the new log. The epoch is checked ``"before handling"`` each batch, as the audit archiver
does: lines are applied in the order their topic holds them, each may raise reports, warnings and
leads, and a refused one is dead-lettered — a batch of the new log read at the old position would
apply later lines before earlier ones (reports on figures that never were) and dead-letter its
refused lines a second time when the rewind reads them again. So such a batch is dropped unapplied.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections import defaultdict
from collections.abc import Callable

from aiokafka import AIOKafkaConsumer, ConsumerRecord

from services.verification.domain import publication as lines
from services.verification.domain.partners import DEPARTMENT_KINDS
from services.verification.service_layer.publishing import apply_outcomes
from shared.bus.consumer import dead_letter_headers
from shared.bus.kafka import Cluster
from shared.bus.poller import FETCHER_TIMEOUT_MS, EpochCheck, Poller
from shared.events.envelope import KafkaRecord
from shared.events.topics import DEAD_LETTER
from shared.policy import PolicySource
from shared.pseudonym import pseudonymiser
from shared.uow import UnitOfWork

PREFIX = "onedoor.partner."
GROUP = "onedoor-verification-partner-topics"
BATCH = 2_000
log = logging.getLogger("onedoor.verification.partner_topics")


def topic_of(department: str) -> str:
    return PREFIX + department


TOPICS = tuple(topic_of(d) for d in sorted(DEPARTMENT_KINDS))


def apply_records(uow_factory: Callable[[], UnitOfWork], records: list[ConsumerRecord],
                  *, pseudonym_key: bytes, monitoring: PolicySource) -> int:
    """One poll's records in one transaction; returns how many were refused."""
    pseudonymise = pseudonymiser(pseudonym_key)
    by_department: dict[str, list[lines.Outcome]] = defaultdict(list)
    refused: list[tuple[ConsumerRecord, str]] = []
    for record in records:
        department = record.topic.removeprefix(PREFIX)
        outcome = lines.ndjson_line(department, record.offset, record.value or b"",
                                    pseudonymise) if department in DEPARTMENT_KINDS else \
            lines.Rejected(record.offset, "not a partner department's topic")
        if outcome is None:
            continue  # an empty value: no record
        if isinstance(outcome, lines.Rejected):
            refused.append((record, outcome.reason))
        else:
            by_department[department].append(outcome)
    with uow_factory() as uow:
        for department, outcomes in sorted(by_department.items()):
            apply_outcomes(uow, department, outcomes, monitoring, publication_id=None)
        for record, reason in refused:
            uow.publish_record(f"dlq-{uuid.uuid4()}", KafkaRecord(
                topic=DEAD_LETTER, key=b"", value=b"",
                headers=dead_letter_headers(record, reason, GROUP)))
        uow.commit()
    return len(refused)


class PartnerLines:
    """The poller's strategy: each batch applied in one transaction, its epoch checked first."""

    epoch_check: EpochCheck = "before handling"

    def __init__(self, uow_factory: Callable[[], UnitOfWork], *, pseudonym_key: bytes,
                 monitoring: PolicySource) -> None:
        self._uow_factory = uow_factory
        self._pseudonym_key = pseudonym_key
        self._monitoring = monitoring

    async def handle(self, records: list[ConsumerRecord]) -> None:
        refused = await asyncio.to_thread(apply_records, self._uow_factory, records,
                                          pseudonym_key=self._pseudonym_key,
                                          monitoring=self._monitoring)
        if refused:
            log.warning("partner topics: %d of %d records refused (dead-lettered)", refused,
                        len(records))


async def run(bootstrap: str, cluster: Cluster, uow_factory: Callable[[], UnitOfWork], *,
              pseudonym_key: bytes, monitoring: PolicySource) -> None:
    await cluster.ensure_topics(TOPICS)
    # The epoch from a client of its own: ``cluster`` is the service's, which its relay asks
    # too, and Cluster.epoch closes its admin client on a failure. Only the epoch is asked of
    # it, so the partition count is of no use.
    epochs = Cluster(bootstrap, 1, kind=cluster.kind)

    def new_consumer() -> AIOKafkaConsumer:
        return AIOKafkaConsumer(
            *TOPICS, bootstrap_servers=bootstrap, group_id=GROUP, enable_auto_commit=False,
            auto_offset_reset="earliest", metadata_max_age_ms=5000, max_poll_records=BATCH,
            consumer_timeout_ms=FETCHER_TIMEOUT_MS)

    # Quiet: the service's event consumer, beside this, warns already when the broker does not
    # answer.
    poller = Poller(new_consumer, epochs, PartnerLines(
        uow_factory, pseudonym_key=pseudonym_key, monitoring=monitoring),
        who="partner topics", fetch_timeout_ms=1000, max_records=BATCH, quiet=True)
    try:
        await poller.run()
    finally:
        await epochs.close()
