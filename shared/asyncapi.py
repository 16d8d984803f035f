"""The event contract as an AsyncAPI 3 document, generated from the topic catalogue
(``shared/events/topics.py``) and the event catalogue (``shared/events/catalogue.py``): every
topic, every event type with its schema version and JSON Schema, the record key, and the
CloudEvents headers each record carries (binary content mode, ``shared/events/envelope.py``).

A partner department codes against ``docs/asyncapi.json``; every service serves the same
document at ``GET /asyncapi.json``. ``tests/unit/test_asyncapi.py`` regenerates it and fails when
the committed file differs, so the published contract never drifts from the code:
``python -m shared.asyncapi > docs/asyncapi.json`` after changing an event.
"""

from __future__ import annotations

import inspect
import json
import re
from functools import cache
from typing import Any

from pydantic.json_schema import models_json_schema

from shared.events import catalogue, topics
from shared.events.base import Event, lookup, registered_types
from shared.events.envelope import CONTENT_TYPE, SPECVERSION
from shared.version import VERSION

_TOPIC_LINE = re.compile(r'^([A-Z_]+) = "([a-z.-]+)"(?:\s+#\s*(.*))?$', re.M)


def _topic_notes() -> dict[str, str]:
    """Each topic's comment in the catalogue: who writes it and who reads it."""
    source = inspect.getsource(topics)
    notes = {value: (note or "") for _name, value, note in _TOPIC_LINE.findall(source)}
    # A comment on the line above (the policy topic's) counts too.
    for above, value in re.findall(r'^# (.+)\n[A-Z_]+ = "([a-z.-]+)"$', source, re.M):
        notes[value] = notes[value] or above
    return notes


def _events() -> list[type[Event]]:
    found = []
    for type_ in sorted(registered_types()):
        model = lookup(type_, 1)
        assert model is not None, type_
        found.append(model)
    return found


def _headers(model: type[Event]) -> dict[str, Any]:
    def text(description: str, **more: Any) -> dict[str, Any]:
        return {"type": "string", "description": description, **more}

    return {
        "type": "object",
        "required": ["ce_specversion", "ce_id", "ce_source", "ce_type", "ce_time",
                     "ce_schemaversion", "content-type"],
        "properties": {
            "ce_specversion": text("CloudEvents version", const=SPECVERSION),
            "ce_id": text("the event's id, a UUIDv7: consumers drop an id seen before"),
            "ce_source": text("the writing service, /onedoor/<service>"),
            "ce_type": text("the event type", const=model.type),
            "ce_time": text("when it happened (ISO 8601, UTC)", format="date-time"),
            "ce_subject": text("the case id (the record key)"),
            "ce_schemaversion": text("the data's schema version", const=str(model.version)),
            "ce_traceparent": text("W3C trace context (CloudEvents distributed tracing), when "
                                   "the writer traced the work"),
            "content-type": text("the data's media type", const=CONTENT_TYPE),
        },
    }


@cache
def document() -> dict[str, Any]:
    events = _events()
    _, schemas = models_json_schema([(m, "validation") for m in events],
                                    ref_template="#/components/schemas/{model}")
    components: dict[str, Any] = dict(sorted(schemas.get("$defs", {}).items()))
    messages: dict[str, Any] = {}
    by_topic: dict[str, list[str]] = {}
    for model in events:
        name = model.__name__
        doc = inspect.cleandoc(model.__doc__ or "")
        messages[name] = {
            "name": model.type, "title": name, "summary": doc.split("\n\n")[0].replace("\n", " "),
            "contentType": CONTENT_TYPE,
            "headers": _headers(model),
            "payload": {"$ref": f"#/components/schemas/{name}"},
            "bindings": {"kafka": {"key": {"type": "string", "description": (
                f"always {catalogue.POLICY_KEY!r}" if model is catalogue.PolicyPublished
                else "the case id: one case's events keep their order")}}},
        }
        by_topic.setdefault(model.topic, []).append(name)
    notes = _topic_notes()
    channels: dict[str, Any] = {}
    operations: dict[str, Any] = {}
    for topic in topics.ALL_TOPICS:
        channel = topic.removeprefix("onedoor.").replace("-", "_")
        names = by_topic.get(topic, [])
        channels[channel] = {
            "address": topic,
            "description": notes.get(topic) or ("records a consumer could not process, with "
                                                "the reason, as they were"),
            "messages": {n: {"$ref": f"#/components/messages/{n}"} for n in names},
        }
        if names:
            operations[f"receive_{channel}"] = {
                "action": "receive", "channel": {"$ref": f"#/channels/{channel}"},
                "messages": [{"$ref": f"#/channels/{channel}/messages/{n}"} for n in names]}
    return {
        "asyncapi": "3.0.0",
        "info": {"title": "OneDoor events", "version": VERSION, "description": (
            "The CloudEvents OneDoor's services publish on Kafka, in binary content mode: "
            "context attributes in ce_* headers, the data as JSON in the value. Money is "
            "integer fen; persons appear only as pseudonymous references. Generated by "
            "shared/asyncapi.py.")},
        "defaultContentType": CONTENT_TYPE,
        "channels": channels,
        "operations": operations,
        "components": {"messages": messages, "schemas": components},
    }


def text() -> str:
    return json.dumps(document(), indent=2, ensure_ascii=False, sort_keys=False) + "\n"


if __name__ == "__main__":
    print(text(), end="")
