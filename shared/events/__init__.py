"""Event schemas, their CloudEvents envelope and the topic catalogue."""

from shared.events import catalogue, topics
from shared.events.base import Event
from shared.events.envelope import Envelope, UnprocessableEvent, from_record, to_record

__all__ = [
    "Envelope",
    "Event",
    "UnprocessableEvent",
    "catalogue",
    "from_record",
    "to_record",
    "topics",
]
