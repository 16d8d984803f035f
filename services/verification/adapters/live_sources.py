"""Partner sources queried live over HTTP, each behind a timeout, retries with backoff and a
circuit breaker of its own.

A live source answers ``POST {url}/records:query`` with ``{"person_refs": [...]}`` by
``{"records": [{"record_id", "kind", "person_ref", "amount_fen", "as_of"}, ...]}``: the household's
pseudonyms go out, never a name or a resident ID number. The department's matching adapter knows
its own people by the same keyed pseudonym (deploy/partner_simulator.py plays one).

The department that owns a discovery lead's record also says who the lead is, when a case worker
asks with a reason (service_layer/person_lookups.py): ``POST {url}/persons:resolve`` with
``{"person_ref", "record_id"}`` answers ``{"person_ref", "resident_id", "name"}`` and, when it
holds them, ``"address"`` and ``"phone"`` — or 404 when it holds no such person for the record.
That answer goes back to the caller only: a failure is logged with the department and a reason in
our own words, never with anything the answer said.

A source that times out, refuses or answers nonsense is *unavailable*; after
``failures_to_open`` such failures in a row its breaker opens and no request is sent for
``reset_after_s`` (the partner is down: asking again at once only adds load), then one trial
request decides whether it closes again.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any, TypeVar

import httpx

from services.verification.domain.model import PartnerRecord
from services.verification.domain.partners import DEPARTMENT_KINDS

log = logging.getLogger("onedoor.verification.live")
T = TypeVar("T")
_RESIDENT_ID = re.compile(r"[0-9]{17}[0-9X]")
_PERSON_TEXT = {"name": 100, "address": 300, "phone": 40}  # the most of each the answer shows


@dataclass(frozen=True, repr=False)
class PersonOnRecord:
    """Who a department says the person of one of its records is. Shown once to whoever asked:
    never stored, logged or published; its repr names no one, should it reach a traceback."""

    person_ref: str
    resident_id: str
    name: str
    address: str | None = None
    phone: str | None = None

    def __repr__(self) -> str:
        return f"PersonOnRecord({self.person_ref})"


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
        return self._ask("records:query", {"person_refs": list(person_refs)},
                         lambda status, body: self._records(body, set(person_refs)))

    def resolve(self, person_ref: str, record_id: str) -> PersonOnRecord | None:
        """Who the person of this record is, as the department holds them; None when it holds
        no such person for the record; SourceUnavailable when it cannot say."""
        return self._ask("persons:resolve", {"person_ref": person_ref, "record_id": record_id},
                         lambda status, body: _person(body, person_ref) if status == 200 else None,
                         answers=(200, 404))

    def _ask(self, operation: str, body: dict[str, Any], read: Callable[[int, Any], T],
             answers: tuple[int, ...] = (200,)) -> T:
        """POST ``body`` to ``{url}/{operation}`` with the timeout, retries and breaker; what
        ``read`` makes of an answer whose status is one of ``answers``."""
        if not self.breaker.allow():
            raise SourceUnavailable(self.department, "circuit open after repeated failures")
        delay, reason = self.backoff_s, "no answer"
        for attempt in range(self.retries + 1):
            if attempt:
                self.sleep(delay)
                delay *= 2
            try:
                response = self.client.post(f"{self.url}/{operation}", timeout=self.timeout_s,
                                            json=body)
                if response.status_code >= 500 or response.status_code == 429:
                    reason = f"answered {response.status_code}"
                    continue
                if response.status_code not in answers:
                    reason = f"refused with {response.status_code}"  # retrying will not help
                    break
                found = read(response.status_code,
                             response.json() if response.status_code == 200 else None)
            except httpx.TimeoutException:
                reason = f"no answer within {self.timeout_s:g} s"
                continue
            except httpx.HTTPError as exc:
                reason = f"unreachable ({type(exc).__name__})"
                continue
            except Unreadable as exc:  # our own words: an answer about a person is never logged
                reason = f"answered something unreadable ({exc})"
                break
            except (ValueError, KeyError, TypeError) as exc:
                # A record's message may quote its date; about a person it says nothing.
                reason = "answered something unreadable" + (
                    "" if operation == "persons:resolve" else f" ({exc})")
                break
            self.breaker.succeeded()
            return found
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


class Unreadable(ValueError):
    """An answer that is not what the protocol says; the message is ours, never the answer's."""


def _person(body: Any, asked: str) -> PersonOnRecord:
    if not isinstance(body, dict) or body.get("person_ref") != asked:
        raise Unreadable("not about the person asked")
    resident_id = body.get("resident_id")
    if not isinstance(resident_id, str) or not _RESIDENT_ID.fullmatch(resident_id):
        raise Unreadable("resident_id is not 18 characters of a resident ID number")
    shown: dict[str, str | None] = {}
    for field, longest in _PERSON_TEXT.items():
        value = body.get(field)
        if value is not None and (not isinstance(value, str) or not value.isprintable()
                                  or not value.strip() or len(value) > longest):
            raise Unreadable(f"{field} is not one line of at most {longest} characters")
        shown[field] = value
    if shown["name"] is None:
        raise Unreadable("name is missing")
    return PersonOnRecord(asked, resident_id, shown["name"], shown["address"], shown["phone"])
