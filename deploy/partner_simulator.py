"""A partner department's live query service, for development and tests.

    python -m deploy.partner_simulator --department bank --port 8098 [--latency-ms 50]
        [--failure-rate 0.1] [--records records.ndjson]

It plays the department's matching adapter: it holds the department's records by resident ID
number, knows each person by OneDoor's keyed pseudonym (``ONEDOOR_PSEUDONYM_KEY``, as the
adapter would be given), and answers ``POST /records:query {"person_refs": [...]}`` with the
records of those persons — so no resident ID number ever travels. Asked who the person of one of
its records is (``POST /persons:resolve {"person_ref", "record_id"}``, when a town worker must
visit a discovery lead), it answers the resident ID number and the name it holds, and the address
and phone when its records carry them; 404 when it holds no such person for that record. Its
behaviour is set at start
or at run time (``POST /admin/behaviour``): latency, a share of requests answered 503, or down
altogether, to see verification's timeouts, retries and circuit breaker at work.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import uvicorn
from fastapi import FastAPI, HTTPException
from pydantic import BaseModel, ConfigDict, Field

from shared import logs
from shared.pseudonym import person_ref
from shared.settings import load_settings


@dataclass
class Behaviour:
    latency_ms: int = 0
    failure_rate: float = 0.0  # share of queries answered 503
    down: bool = False  # every query answered 503
    queries: int = 0  # queries received, answered or not
    resolutions: int = 0  # persons:resolve requests received, answered or not
    rng: random.Random = field(default_factory=lambda: random.Random(7))


class Record(BaseModel):
    model_config = ConfigDict(extra="forbid")
    record_id: str
    kind: str
    resident_id: str = Field(pattern=r"^[0-9]{17}[0-9X]$")
    amount_fen: int = Field(ge=0)
    as_of: str
    # Who the person is, as the department holds them: answered only to persons:resolve.
    name: str | None = Field(default=None, max_length=100)
    address: str | None = Field(default=None, max_length=300)
    phone: str | None = Field(default=None, max_length=40)


class Query(BaseModel):
    person_refs: list[str] = Field(max_length=100)


class Resolve(BaseModel):
    person_ref: str = Field(max_length=80)
    record_id: str = Field(max_length=100)


class BehaviourIn(BaseModel):
    latency_ms: int | None = Field(default=None, ge=0)
    failure_rate: float | None = Field(default=None, ge=0, le=1)
    down: bool | None = None


async def _behave(state: Behaviour) -> None:
    """The department as set: slow by its latency, and down or failing a share of requests."""
    if state.latency_ms:
        await asyncio.sleep(state.latency_ms / 1000)
    if state.down or state.rng.random() < state.failure_rate:
        raise HTTPException(503, detail="simulated outage")


def build_app(key: bytes, department: str, behaviour: Behaviour | None = None,
              records: list[Record] | None = None) -> FastAPI:
    app = FastAPI(title=f"OneDoor partner simulator ({department})")
    state = behaviour or Behaviour()
    held: dict[str, list[dict[str, Any]]] = {}
    people: dict[tuple[str, str], dict[str, str]] = {}  # (person_ref, record_id) → who

    def hold(new: list[Record]) -> None:
        held.clear()
        people.clear()
        for record in new:
            ref = person_ref(key, record.resident_id)
            held.setdefault(ref, []).append({
                "record_id": record.record_id, "kind": record.kind, "person_ref": ref,
                "amount_fen": record.amount_fen, "as_of": record.as_of})
            if record.name is not None:
                people[ref, record.record_id] = {
                    "person_ref": ref, "resident_id": record.resident_id, "name": record.name,
                    **{k: v for k in ("address", "phone")
                       if (v := getattr(record, k)) is not None}}

    hold(records or [])
    app.state.behaviour = state

    @app.post("/records:query")
    async def query(body: Query) -> dict[str, Any]:
        state.queries += 1
        await _behave(state)
        return {"records": [r for ref in body.person_refs for r in held.get(ref, [])]}

    @app.post("/persons:resolve")
    async def resolve(body: Resolve) -> dict[str, str]:
        state.resolutions += 1
        await _behave(state)
        found = people.get((body.person_ref, body.record_id))
        if found is None:
            raise HTTPException(404, detail="no such person for this record")
        return found

    @app.put("/admin/records")
    def put_records(body: list[Record]) -> dict[str, int]:
        hold(body)
        return {"persons": len(held)}

    @app.post("/admin/behaviour")
    def set_behaviour(body: BehaviourIn) -> dict[str, Any]:
        for name, value in body.model_dump(exclude_none=True).items():
            setattr(state, name, value)
        return {"latency_ms": state.latency_ms, "failure_rate": state.failure_rate,
                "down": state.down, "queries": state.queries}

    @app.get("/admin/stats")
    def stats() -> dict[str, int]:
        return {"queries": state.queries, "resolutions": state.resolutions,
                "persons": len(held)}

    return app


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--department", required=True)
    parser.add_argument("--port", type=int, default=8098)
    parser.add_argument("--latency-ms", type=int, default=0)
    parser.add_argument("--failure-rate", type=float, default=0.0)
    parser.add_argument("--records", type=Path, help="NDJSON: record_id, kind, resident_id, "
                                                     "amount_fen, as_of [, name, address, "
                                                     "phone]")
    args = parser.parse_args()
    records = [Record(**json.loads(line)) for line in args.records.read_text().splitlines()
               if line.strip()] if args.records else []
    key = load_settings().pseudonym_key.get_secret_value().encode()
    app = build_app(key, args.department, Behaviour(args.latency_ms, args.failure_rate), records)
    logs.configure(f"partner-simulator-{args.department}", "WARNING")  # it holds resident IDs
    uvicorn.run(app, host="127.0.0.1", port=args.port, log_config=None)


if __name__ == "__main__":
    main()
