"""Partner sources queried live over HTTP, each behind a timeout, retries with backoff and a
circuit breaker of its own.

A live source answers ``POST {url}/records:query`` with ``{"person_refs": [...]}`` by
``{"records": [{"record_id", "kind", "person_ref", "amount_fen", "as_of"}, ...]}``: the household's
pseudonyms go out, never a name or a resident ID number. The department's matching adapter knows
its own people by the same keyed pseudonym (deploy/partner_simulator.py plays one).

A source that times out, refuses or answers nonsense is *unavailable*; after
``failures_to_open`` such failures in a row its breaker opens and no request is sent for
``reset_after_s`` (the partner is down: asking again at once only adds load), then one trial
request decides whether it closes again.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

import httpx

from services.verification.domain.model import PartnerRecord
from services.verification.domain.partners import DEPARTMENT_KINDS

log = logging.getLogger("onedoor.verification.live")


class SourceUnavailable(Exception):
    def __init__(self, department: str, reason: str) -> None:
        super().__init__(f"{department}: {reason}")
        self.department, self.reason = department, reason


@dataclass
class CircuitBreaker:
    failures_to_open: int
    reset_after_s: float
    clock: Callable[[], float] = time.monotonic
    failures: int = 0
    opened_at: float | None = None

    @property
    def state(self) -> str:
        if self.opened_at is None:
            return "closed"
        return "half_open" if self.clock() - self.opened_at >= self.reset_after_s else "open"

    def allow(self) -> bool:
        return self.state != "open"

    def succeeded(self) -> None:
        self.failures, self.opened_at = 0, None

    def failed(self) -> None:
        self.failures += 1
        # A failed trial (half open) opens it again at once, for another full period.
        if self.failures >= self.failures_to_open or self.opened_at is not None:
            self.opened_at = self.clock()


@dataclass
class LiveSource:
    department: str
    url: str
    client: httpx.Client
    breaker: CircuitBreaker
    timeout_s: float = 2.0
    retries: int = 2  # after the first try
    backoff_s: float = 0.2  # doubled after each retry
    sleep: Callable[[float], None] = time.sleep

    def fetch(self, person_refs: Sequence[str]) -> list[PartnerRecord]:
        """The source's records about these persons; SourceUnavailable when it cannot say."""
        if not self.breaker.allow():
            raise SourceUnavailable(self.department, "circuit open after repeated failures")
        delay, reason = self.backoff_s, "no answer"
        for attempt in range(self.retries + 1):
            if attempt:
                self.sleep(delay)
                delay *= 2
            try:
                response = self.client.post(f"{self.url}/records:query", timeout=self.timeout_s,
                                            json={"person_refs": list(person_refs)})
                if response.status_code >= 500 or response.status_code == 429:
                    reason = f"answered {response.status_code}"
                    continue
                if response.status_code != 200:
                    reason = f"refused with {response.status_code}"  # retrying will not help
                    break
                records = self._records(response.json(), set(person_refs))
            except httpx.TimeoutException:
                reason = f"no answer within {self.timeout_s:g} s"
                continue
            except httpx.HTTPError as exc:
                reason = f"unreachable ({type(exc).__name__})"
                continue
            except (ValueError, KeyError, TypeError) as exc:
                reason = f"answered something unreadable ({exc})"
                break
            self.breaker.succeeded()
            return records
        self.breaker.failed()
        log.warning("live source %s unavailable: %s (breaker %s)", self.department, reason,
                    self.breaker.state)
        raise SourceUnavailable(self.department, reason)

    def _records(self, body: Any, asked: set[str]) -> list[PartnerRecord]:
        allowed = DEPARTMENT_KINDS[self.department]
        found = []
        for item in body["records"]:
            if item["kind"] not in allowed or item["person_ref"] not in asked:
                raise ValueError("a record of a kind or a person not asked for")
            amount = item.get("amount_fen", 0)
            if not isinstance(amount, int) or isinstance(amount, bool) or amount < 0:
                raise ValueError("amount_fen must be whole fen")
            found.append(PartnerRecord(
                department=self.department, record_id=str(item["record_id"])[:100],
                kind=item["kind"], person_ref=item["person_ref"], amount_fen=amount,
                as_of=date.fromisoformat(item["as_of"])))
        return found
