"""The base of every event payload and the registry that maps CloudEvents types to models."""

from __future__ import annotations

from typing import ClassVar

from pydantic import BaseModel, ConfigDict


class Event(BaseModel):
    """An application event: something that happened to a case, in the past tense.

    Subclasses set ``type`` (the CloudEvents type), ``version`` (the schema version, bumped on any
    incompatible change, with an upcaster for the old one) and ``topic`` (where it is published).
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
