"""The published event contract (issue 25): docs/asyncapi.json is what the code generates, names
every topic and every registered event type, and its schemas accept the events as they are."""

from __future__ import annotations

import json
from pathlib import Path

from shared import asyncapi
from shared.events import topics
from shared.events.base import registered_types

COMMITTED = Path(__file__).resolve().parents[2] / "docs" / "asyncapi.json"


def test_the_committed_document_is_the_generated_one():
    assert COMMITTED.read_text(encoding="utf-8") == asyncapi.text(), (
        "regenerate it: python -m shared.asyncapi > docs/asyncapi.json")


def test_every_topic_and_every_event_type_is_in_it():
    doc = json.loads(COMMITTED.read_text(encoding="utf-8"))
    assert doc["asyncapi"].startswith("3.")
    assert sorted(c["address"] for c in doc["channels"].values()) == sorted(topics.ALL_TOPICS)
    messages = doc["components"]["messages"]
    assert sorted(m["name"] for m in messages.values()) == sorted(registered_types())
    for name, message in messages.items():
        headers = message["headers"]["properties"]
        assert headers["ce_type"]["const"] == message["name"]
        assert headers["ce_schemaversion"]["const"] == "1"
        assert message["payload"] == {"$ref": f"#/components/schemas/{name}"}
        assert name in doc["components"]["schemas"]
    # Every reference resolves inside the document.
    text = COMMITTED.read_text(encoding="utf-8")
    for ref in {r.split('"')[0] for r in text.split('"$ref": "')[1:]}:
        node = doc
        for part in ref.removeprefix("#/").split("/"):
            node = node[part]
