"""The doorbell (shared/bus/doorbell.py) and the fetch waits by broker (shared/bus/poller.py)."""

from __future__ import annotations

import contextlib
import shutil
import socket
import uuid
from collections.abc import Iterator

import pytest

from shared.bus.doorbell import Doorbell, bell_directory, ring
from shared.bus.poller import fetch_max_wait_ms


@pytest.fixture
def addresses() -> Iterator[list[str]]:
    """Broker addresses of the test's own; their bell directories are removed afterwards."""
    made = [f"127.0.0.1:test-{uuid.uuid4().hex[:8]}" for _ in range(2)]
    yield made
    for bootstrap in made:
        with contextlib.suppress(FileNotFoundError):
            shutil.rmtree(bell_directory(bootstrap))


async def test_a_ring_wakes_every_bell_of_the_broker_and_no_other(addresses: list[str]) -> None:
    here, elsewhere = addresses
    bells = [Doorbell(here), Doorbell(here), Doorbell(elsewhere)]
    for bell in bells:
        bell.open()
    try:
        ring(here)
        assert [await bell.wait(0.5) for bell in bells] == [True, True, False]
    finally:
        for bell in bells:
            bell.close()


async def test_cleared_rings_are_forgotten_and_later_ones_kept(addresses: list[str]) -> None:
    here = addresses[0]
    bell = Doorbell(here)
    bell.open()
    try:
        ring(here)
        assert await bell.wait(0.5)
        bell.clear()
        assert not await bell.wait(0.05)
        ring(here)
        assert await bell.wait(0.5)
    finally:
        bell.close()


async def test_a_ring_says_which_topics_were_written(addresses: list[str]) -> None:
    here = addresses[0]
    bell = Doorbell(here)
    bell.open()
    try:
        ring(here, ["onedoor.decisions"])
        assert await bell.wait(0.5)
        assert not bell.take({"onedoor.applications"})  # and forgotten
        ring(here, ["onedoor.decisions", "onedoor.payments"])
        assert await bell.wait(0.5)
        assert bell.take({"onedoor.payments", "onedoor.referrals"})
        ring(here)  # no topic named: for every reader
        assert await bell.wait(0.5)
        assert bell.take({"onedoor.applications"})
        assert not await bell.wait(0.05)
    finally:
        bell.close()


async def test_a_ring_removes_the_socket_of_a_reader_that_is_gone(addresses: list[str]) -> None:
    here = addresses[0]
    directory = bell_directory(here)
    directory.mkdir(mode=0o700, exist_ok=True)
    gone = directory / "gone"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as dead:
        dead.bind(str(gone))  # closed without unlinking, as a killed process leaves it
    bell = Doorbell(here)
    bell.open()
    try:
        ring(here)
        assert await bell.wait(0.5)
        assert not gone.exists()
    finally:
        bell.close()


def test_a_ring_with_no_reader_does_nothing(addresses: list[str]) -> None:
    ring(addresses[0])


def test_the_fetch_wait_is_long_on_kafka_short_on_the_embedded_broker_unless_configured() -> None:
    assert fetch_max_wait_ms("kafka") == 500
    assert fetch_max_wait_ms("embedded") == 20
    assert fetch_max_wait_ms("kafka", 30) == 30
