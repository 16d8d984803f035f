"""The consume loop every Kafka reader of OneDoor runs: fetch, hand the batch to a strategy,
commit the offsets — and stay in step with the broker's epoch.

A ``Poller`` owns the loop and the consumer's lifetime; a ``Strategy`` says what a batch is for
(``handle``) and when the epoch must be known to be unchanged (``epoch_check``). Offsets are
committed only after ``handle`` returned: a record counts as read once its effects are in, and
whatever ``handle`` raises ends the run (the supervisor starts it again) with that batch
uncommitted. Handling a batch twice must therefore be harmless — every strategy deduplicates or
is idempotent.

A fetch that fails (the broker went away; the consumer reconnects by itself) is logged and tried
again after a short sleep, never the end of the loop.

Broker epochs: the embedded broker forgets its log on restart and numbers every partition from 0
again, under a new cluster id (``Cluster.epoch``). Positions and offsets mean nothing across that:
a consumer that carried its position into the new log would skip its head. So the poller knows
the epoch its positions belong to; when the broker answers with another, it reads every assigned
partition again from the start (``read_from_start``) and commits no offset fetched in the old
epoch. When the check is made is the strategy's choice:

* ``"before commit"`` — handle the batch, then check; commit only when the epoch is unchanged.
  A batch of the new log read at the old position is handled, and read again after the rewind:
  fine where handling again is harmless (the services' event consumer: its inbox deduplicates).
* ``"before handling"`` — check after the batch was fetched, waiting for a broker that answers,
  and only then handle it; a batch fetched in the old epoch is dropped unhandled and read again in
  log order. After the fetch, not before: a batch fetched from a new log at the old position is
  caught, because the old broker is gone by the time the new one served it. For readers whose
  results record the order of the log (the audit archive's chains, partner lines applied in turn).

Either way the epoch is checked when a fetch brings nothing (so the next fetch is already from
the start) and again after each commit: a restart between the check and the commit may have put
the old log's offsets into the new one, and they are then overwritten with the start, so that a
later start of the consumer cannot skip the head of the new log either.

On Apache Kafka the log and the cluster id survive a restart: ``Cluster.epoch`` answers from its
cache after the first read, so every check here costs no round trip and never fires.

Resting (issue 24: a stack with nothing to do should cost nothing, and still pass an event on
within 20 ms). Apache Kafka holds a fetch until a record arrives or the fetch's wait is up, so
there a long wait (``fetch_max_wait_ms``) is free: the consumer asks twice a second and hears of
a record the moment it is written. Tansu, the embedded broker, looks at its log only when the
fetch comes in and then after half the remaining wait, a quarter, and so on: a long wait delays
a record by up to half of it, and a short one keeps every reader fetching fifty times a second.
So on the embedded broker a poller whose fetch brought nothing *rests*: it pauses its partitions
and waits for the doorbell (doorbell.py), which the outbox relays ring once their records are in
the log, or for ``rest_s`` — the latency left for writers that do not ring (partners, tools).
A ring naming one of its topics ends the rest at once; one for other topics leaves it resting.
Before each wait, and after ``rest_s`` without a ring for it, it asks the broker for the
partitions' ends: records past its position end the rest.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from typing import Literal, Protocol

from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition

from shared.bus.doorbell import Doorbell
from shared.bus.kafka import Cluster, start_with_retry
from shared.settings import BrokerKind

log = logging.getLogger(__name__)

EpochCheck = Literal["before commit", "before handling"]
Batches = dict[TopicPartition, list[ConsumerRecord]]

# How long a fetch may wait at the broker for records, unless configured: see "Resting" above.
# Tansu delays a record written during the wait by up to half of it, so it is kept short there.
FETCH_MAX_WAIT_MS: dict[BrokerKind, int] = {"embedded": 20, "kafka": 500}


# aiokafka's fetcher looks round every consumer_timeout_ms (200 by default) even with every
# partition paused. Whatever it waits for wakes it anyway (records consumed, a resume, a
# rebalance, new metadata), so a resting consumer need not look five times a second.
FETCHER_TIMEOUT_MS = 2000


def fetch_max_wait_ms(kind: BrokerKind, configured: int | None = None) -> int:
    """The fetch wait for a consumer of a ``kind`` broker: ``configured``, or else its default."""
    return FETCH_MAX_WAIT_MS[kind] if configured is None else configured


class Strategy(Protocol):
    """What a poller's batches are for."""

    # When the epoch must be known to be the positions' one: see the module's docstring.
    epoch_check: EpochCheck

    async def handle(self, records: list[ConsumerRecord]) -> None:
        """Apply a batch (every partition's records, each partition's in log order). Raising
        ends the poller's run with the batch uncommitted."""
        ...


async def broker_epoch(cluster: Cluster, who: str, *, quiet: bool = False) -> str | None:
    """The broker's epoch (its cluster id; the embedded broker gets a new one, and an empty log,
    each start), or None when it does not answer — logged as ``who``, as a warning or, when
    ``quiet``, as information. What None means is the caller's to decide."""
    try:
        return await cluster.epoch()
    except asyncio.CancelledError:
        raise
    except Exception as exc:
        log.log(logging.INFO if quiet else logging.WARNING,
                "%s: cannot read the broker epoch: %s", who, exc)
        return None


async def read_from_start(consumer: AIOKafkaConsumer, who: str, old: str | None,
                          new: str) -> bool:
    """After the broker epoch changed from ``old`` to ``new``: every partition assigned to
    ``consumer`` is read again from its start, the only position that means anything in the new
    log. Answers False when none is assigned (mid-rebalance: nothing to rewind yet)."""
    partitions = consumer.assignment()
    if not partitions:
        return False
    log.warning("%s: broker epoch changed (%s → %s); re-reading from the start", who, old, new)
    await consumer.seek_to_beginning(*partitions)
    return True


class Poller:
    """Runs a consumer for ``strategy``: a new one each run, made by ``new_consumer`` (with
    auto-commit off: the poller commits)."""

    def __init__(self, new_consumer: Callable[[], AIOKafkaConsumer], cluster: Cluster,
                 strategy: Strategy, *, who: str, fetch_timeout_ms: int = 1000,
                 max_records: int = 500, retry_s: float = 0.5, rest_s: float = 5.0,
                 quiet: bool = False) -> None:
        """``cluster`` is asked the epoch; a client of the poller's own is best, since
        ``Cluster.epoch`` closes its admin client on a failure, which must not pull another
        user's from under it. ``rest_s``: the longest rest on the embedded broker without a
        ring. ``quiet`` logs an unanswered epoch question as information rather than a warning
        (for a poller that asks often, or beside one that warns already)."""
        self._new_consumer = new_consumer
        self._cluster = cluster
        self._strategy = strategy
        self.who = who
        self._fetch_timeout_ms = fetch_timeout_ms
        self._max_records = max_records
        self._retry_s = retry_s
        self._rest_s = rest_s
        self._quiet = quiet
        # The embedded broker's readers rest on the doorbell; Kafka's wait at the broker.
        self.doorbell = Doorbell(cluster.bootstrap) if cluster.kind == "embedded" else None
        self.rests = 0  # rests begun (for the tests)
        self.consumer: AIOKafkaConsumer | None = None  # while running
        self.epoch: str | None = None  # the cluster id the consumer's positions belong to
        # Offsets were committed and the broker has not yet answered, since, with the epoch they
        # belong to: a restart in between may have put them into the new log.
        self._commit_unconfirmed = False

    @property
    def assignment(self) -> set[TopicPartition]:
        return set(self.consumer.assignment()) if self.consumer else set()

    async def run(self) -> None:
        # Read before the consumer starts: whatever it fetches afterwards comes from this log or
        # a later one, never from an earlier one mistaken for this.
        self.epoch = await self._epoch_when_known()
        consumer = self._new_consumer()
        await start_with_retry(consumer, self.who)
        self.consumer = consumer
        if self.doorbell is not None:
            self.doorbell.open()
        try:
            await self._poll(consumer)
        finally:
            self.consumer = None
            if self.doorbell is not None:
                self.doorbell.close()
            await consumer.stop()

    async def _poll(self, consumer: AIOKafkaConsumer) -> None:
        before_handling = self._strategy.epoch_check == "before handling"
        while True:
            try:
                batches = await consumer.getmany(timeout_ms=self._fetch_timeout_ms,
                                                 max_records=self._max_records)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # the broker went away; the consumer reconnects by itself
                log.warning("%s: fetch failed: %s", self.who, exc)
                await asyncio.sleep(self._retry_s)
                continue
            records = [r for part in batches.values() for r in part]
            if not records:
                # Idle: notice a restart now, so that the next fetch is already from the start.
                if await self._in_epoch(consumer, await self._epoch_now()) and self.doorbell:
                    await self._rest(consumer, self.doorbell)
                continue
            if before_handling:
                # A batch in hand is held until the broker answers: handling it unplaced could
                # handle a new log's records before its head.
                if not await self._in_epoch(consumer, await self._epoch_when_known()):
                    continue  # dropped: the rewind reads it again, in log order
                await self._strategy.handle(records)
            else:
                await self._strategy.handle(records)
                if not await self._in_epoch(consumer, await self._epoch_now()):
                    continue  # never commit an offset we cannot place in the current epoch
            await self._commit(consumer, batches)

    async def _rest(self, consumer: AIOKafkaConsumer, doorbell: Doorbell) -> None:
        """Stops fetching until a ring names one of its topics, the partitions hold records
        past the consumer's position (looked at every ``rest_s``), or the assignment or the
        epoch changes."""
        resting = consumer.assignment()
        if not resting:
            return
        topics = {tp.topic for tp in resting}
        consumer.pause(*resting)
        self.rests += 1
        try:
            while consumer.assignment() == resting:
                # Forgotten before looking: a record rung for before now is in the ends read
                # next, and a ring from now on ends the wait at once.
                doorbell.clear()
                if not await self._caught_up(consumer, resting):
                    return
                if await self._rung_for(doorbell, topics):
                    return
                if not await self._in_epoch(consumer, await self._epoch_now()):
                    return
                # Paused, this returns nothing; it tells the group this member still reads
                # (a consumer that stops asking for max_poll_interval_ms is put out of it).
                try:
                    await consumer.getmany(timeout_ms=0)
                except asyncio.CancelledError:
                    raise
                except Exception:
                    return  # the fetch after the rest meets it again, and says so
        finally:
            consumer.resume(*consumer.paused())

    async def _rung_for(self, doorbell: Doorbell, topics: set[str]) -> bool:
        """Whether a ring names one of ``topics`` within ``rest_s`` (rings for others wait on)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self._rest_s
        while (left := deadline - loop.time()) > 0:
            if not await doorbell.wait(left):
                return False
            if doorbell.take(topics):
                return True
        return False

    async def _caught_up(self, consumer: AIOKafkaConsumer,
                         partitions: set[TopicPartition]) -> bool:
        """Whether the consumer's position is at the end of every partition (False when the
        broker does not say)."""
        async def at_ends() -> bool:
            ends = await consumer.end_offsets(list(partitions))
            positions = {tp: await consumer.position(tp) for tp in partitions}
            # Kept at debug: the one place that shows a rest outliving records past its
            # position (a stale end from the broker would look like this).
            log.debug("%s: resting at %s, ends %s", self.who,
                      {f"{tp.topic}/{tp.partition}": at for tp, at in positions.items()},
                      {f"{tp.topic}/{tp.partition}": end for tp, end in ends.items()})
            return all(positions[tp] >= ends[tp] for tp in partitions)

        try:
            return await asyncio.wait_for(at_ends(), 10)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # the broker went away: fetching again finds out
            log.info("%s: cannot read the partitions' ends: %s", self.who, exc)
            return False

    async def _in_epoch(self, consumer: AIOKafkaConsumer, epoch: str | None) -> bool:
        """Whether ``epoch`` (None: the broker did not answer) is the positions' epoch; when it
        is another, every partition is read again from the start first."""
        if epoch == self.epoch:
            return True
        if epoch is not None:
            await self._rewind(consumer, epoch)
        return False

    async def _commit(self, consumer: AIOKafkaConsumer, batches: Batches) -> None:
        """Commits the offsets after a batch just handled, in the epoch it was read from."""
        self._commit_unconfirmed = True
        try:
            await consumer.commit({tp: part[-1].offset + 1 for tp, part in batches.items()
                                   if part})
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            # The batch is handled; a redelivery (a rebalance, a restarted broker's group that
            # no longer knows this member) is handled again, harmlessly.
            log.warning("%s: offset commit failed: %s", self.who, exc)
        epoch = await self._epoch_now()
        if epoch == self.epoch:
            self._commit_unconfirmed = False
        elif epoch is not None:
            # The broker restarted between the check and the commit, which may have put the old
            # log's offsets into the new one: _rewind overwrites them.
            await self._rewind(consumer, epoch)

    async def _rewind(self, consumer: AIOKafkaConsumer, epoch: str) -> None:
        """A new log: read every partition again from its start; and if offsets of the old log
        may have been committed into the new one, overwrite them with that start, so that even a
        crash now only re-reads instead of skipping the head of the new log."""
        if not await read_from_start(consumer, self.who, self.epoch, epoch):
            # Mid-rebalance: positions will come from committed offsets, which may be the old
            # log's. The old epoch is kept, so that the next check rewinds, once assigned.
            return
        self.epoch = epoch
        if self._commit_unconfirmed:
            # If this fails too, the new broker did not know the group: nothing was committed.
            with contextlib.suppress(Exception):
                await consumer.commit({tp: 0 for tp in consumer.assignment()})
            self._commit_unconfirmed = False

    async def _epoch_now(self) -> str | None:
        return await broker_epoch(self._cluster, self.who, quiet=self._quiet)

    async def _epoch_when_known(self) -> str:
        """The cluster id, waiting for a broker that answers."""
        while (epoch := await self._epoch_now()) is None:
            await asyncio.sleep(self._retry_s)
        return epoch
