"""A service's routing table: each event type it consumes, to the one handler that applies it.

Typed by the event (cosmicpython's message bus, faststream's typed subscribers): ``on`` takes
an event class and a handler *of that class*, so routing ``ApplicationSubmitted`` to a handler
of ``ApplicationDecided`` is a type error where the table is written, not a surprise at run
time. A handler is a plain function ``(event, envelope, uow) -> None``; what else it needs (a
policy, the departments queried live) is bound once, by the service's bootstrap, with
``functools.partial`` or a closure. The consumer reads the table as a mapping.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from typing import Any, TypeVar

from shared.events.base import Event
from shared.events.envelope import Envelope
from shared.uow import UnitOfWork

E = TypeVar("E", bound=Event)
# What the consumer calls: the event as decoded (its type picked the handler), its envelope, and
# the batch's unit of work. ``Any`` for the event because a table holds handlers of many types;
# ``on`` is where each is checked against its own.
Handler = Callable[[Any, Envelope, UnitOfWork], None]


class Routes(Mapping[type[Event], Handler]):
    def __init__(self) -> None:
        self._table: dict[type[Event], Handler] = {}

    def on(self, event_type: type[E], handler: Callable[[E, Envelope, UnitOfWork], None]
           ) -> Routes:
        """Route ``event_type`` to ``handler``; an event type is routed once."""
        if event_type in self._table:
            raise ValueError(f"{event_type.__name__} is routed twice")
        self._table[event_type] = handler
        return self

    def __getitem__(self, event_type: type[Event]) -> Handler:
        return self._table[event_type]

    def __iter__(self) -> Iterator[type[Event]]:
        return iter(self._table)

    def __len__(self) -> int:
        return len(self._table)
