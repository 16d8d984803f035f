"""Old archives still replay (issue 25): each file in tests/golden/events/ is one record as a
service wrote it — the current shape of every event type, taken from the services' outboxes
(tests/golden/make_events.py), and the shapes archived before issue 21, when typed text still
travelled. Each must decode through the consumers' own path (``from_record``), read as its
``reads_as`` says, keep no typed text, and survive being written again unchanged."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from shared.events.base import registered_types
from shared.events.envelope import Envelope, from_record, to_record

GOLDEN = Path(__file__).resolve().parents[1] / "golden" / "events"
FILES = sorted(GOLDEN.glob("*.json"))
LONG_DIGITS = re.compile(r"[0-9]{11,}")  # a phone, ID or account number


def _decode(path: Path) -> tuple[dict, Envelope]:  # type: ignore[type-arg]
    record = json.loads(path.read_text(encoding="utf-8"))
    headers = [(k, v.encode()) for k, v in record["headers"].items()]
    value = json.dumps(record["value"], ensure_ascii=False).encode()
    return record, from_record(value, headers)


def test_every_event_type_has_a_golden_file():
    current = {p.name.split(".v1")[0] for p in FILES}
    assert current == registered_types()


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.stem)
def test_an_archived_record_still_decodes_as_it_says(path):
    record, envelope = _decode(path)
    data = envelope.data
    assert data.type == record["headers"]["ce_type"] and data.topic == record["topic"]
    assert data.case_id == record["key"]
    read = data.model_dump(mode="json")
    for field, value in record.get("reads_as", {}).items():
        assert read[field] == value, field
    assert not LONG_DIGITS.search(json.dumps(read, ensure_ascii=False))
    again = from_record(to_record(envelope).value, to_record(envelope).headers)
    assert again.data == data


def test_the_old_shapes_lose_their_typed_text_on_the_way_in():
    olds = [p for p in FILES if "before-issue-21" in p.name]
    assert len(olds) >= 4
    for path in olds:
        record, envelope = _decode(path)
        typed = {k for k in ("note", "justification", "reason") if k in record["value"]}
        kept = envelope.data.model_dump()
        assert typed and not typed & kept.keys(), path.name
