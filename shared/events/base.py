"""The base of every event payload and the registry that maps CloudEvents types to models."""

from __future__ import annotations

from typing import ClassVar

from pydantic import BaseModel, ConfigDict


class Event(BaseModel):
    """An application event: something that happened to a case, in the past tense.

    Subclasses set ``type`` (the CloudEvents type), ``version`` (the schema version, sent as
    ``ce_schemaversion``; a record of a version no model is registered for is refused as
    unprocessable) and ``topic`` (where it is published). Every event type is at version 1: an
    event archived before a field changed is read by the model itself — a default for a field
    added, or a ``mode="before"`` validator (the model's own ``_upcast``) that rewrites the
    old form — so the old records still decode without a version of their own
    (``tests/golden/events`` keeps such records; ``test_golden_events.py`` decodes them).
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    type: ClassVar[str]
    version: ClassVar[int]
    topic: ClassVar[str]

    case_id: str


_REGISTRY: dict[tuple[str, int], type[Event]] = {}


def register(cls: type[Event]) -> type[Event]:
    """Class decorator: make an event type decodable from the bus."""
    key = (cls.type, cls.version)
    if key in _REGISTRY and _REGISTRY[key] is not cls:
        raise ValueError(f"event type {key} registered twice")
    _REGISTRY[key] = cls
    return cls


def registered_types() -> set[str]:
    """Every CloudEvents type some model is registered for."""
    return {t for t, _ in _REGISTRY}


def lookup(type_: str, version: int) -> type[Event] | None:
    """The model registered for a CloudEvents type and schema version, if any."""
    return _REGISTRY.get((type_, version))
