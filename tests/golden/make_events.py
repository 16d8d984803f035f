"""Write tests/golden/events/: one record of each event type as the services wrote it, taken from
the outboxes after the access matrix's seeding (every service, real SQLite), so that the golden
files are the archive's own bytes. Run when an event type is added:

    .venv/bin/python -m tests.golden.make_events

An existing file is never rewritten: a golden file is what an old archive holds, and must keep
decoding (tests/unit/test_golden_events.py)."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

from sqlalchemy import select

from tests.integration.test_access_matrix import SERVICES, _system

OUT = Path(__file__).parent / "events"


def main() -> None:
    OUT.mkdir(exist_ok=True)
    found: dict[str, dict[str, object]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp)
        with _system({name: f"sqlite:///{data / name}.db" for name in SERVICES}, data) as system:
            for name in SERVICES:
                outbox = system.apps[name].state.runtime.bus.outbox
                with system.engines[name].connect() as conn:
                    for row in conn.execute(select(outbox).order_by(outbox.c.id)).mappings():
                        headers = dict(json.loads(row["headers"]))
                        key = f"{headers['ce_type']}.v{headers['ce_schemaversion']}"
                        found.setdefault(key, {
                            "topic": row["topic"], "key": bytes(row["key"]).decode(),
                            "headers": headers,
                            "value": json.loads(bytes(row["value"]).decode())})
    for key, record in sorted(found.items()):
        path = OUT / f"{key}.json"
        if not path.exists():
            path.write_text(json.dumps(record, indent=2, ensure_ascii=False) + "\n",
                            encoding="utf-8")
            print("wrote", path.name)


if __name__ == "__main__":
    main()
