"""A published assessment read fast, and a re-run stated as the catalogue writes it.

A replay re-runs every assessment; parsing each published one whole cost more than the re-run.
So the few top-level values the fold needs are found by search, and the re-run is stated the
way the catalogue's model writes it (field order, compact JSON, UTF-8) and looked for in the
published bytes: found, the two are identical. Not found, the fold parses the published JSON and
compares field by field, so a difference in writing alone is never taken for a divergence.
"""

from __future__ import annotations

import json
import json.encoder
import re
from typing import Any

from services.approval.rules import Assessment, Benefit, Check, Figure

# Inside JSON strings quotes are escaped, so a search for `"name":` finds only keys; the
# top-level ones come before anything nested, except assessed_on, which is last.
_HEAD = re.compile(rb'"assessment_id":"([^"]*)","report_id":(?:null|"([^"]*)"),'
                   rb'"eligible":(true|false|null),.*?"monthly_amount_fen":(\d+),'
                   rb'"one_off_amount_fen":(\d+)', re.S)
_JSON = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode
_text = json.encoder.encode_basestring  # a str as _JSON writes it, without the dispatch


def assessment_head(value: bytes) -> dict[str, Any]:
    """What the fold needs of a published assessment: its ids, result and day."""
    m = _HEAD.search(value)
    on = value.rfind(b'"assessed_on":"')
    if m is None or on < 0:
        full = json.loads(value)  # not as the catalogue writes it: read it the long way
        return {k: full.get(k) for k in ("assessment_id", "report_id", "eligible",
                                         "monthly_amount_fen", "one_off_amount_fen",
                                         "assessed_on")}
    eligible = {b"true": True, b"false": False, b"null": None}[m.group(3)]
    start = on + len(b'"assessed_on":"')
    return {"assessment_id": m.group(1).decode(),
            "report_id": None if m.group(2) is None else m.group(2).decode(),
            "eligible": eligible, "monthly_amount_fen": int(m.group(4)),
            "one_off_amount_fen": int(m.group(5)),
            "assessed_on": value[start:value.index(b'"', start)].decode()}


def assessment_policy(value: bytes) -> tuple[str | None, str]:
    """A published assessment's recorded policy version and the moment it was made (its
    ``assessed_at`` as written): what the replay chooses its policy table by. Asked only when
    there is more than one table to choose from."""
    at = value.rfind(b'"assessed_at":"')
    key = value.find(b'"policy_version":')  # before the reasons: the top-level one
    if at < 0 or key < 0:
        full = json.loads(value)  # not as the catalogue writes it: read it the long way
        return full.get("policy_version"), full["assessed_at"]
    start = at + len(b'"assessed_at":"')
    assessed_at = value[start:value.index(b'"', start)].decode()
    start = key + len(b'"policy_version":')
    if value.startswith(b"null", start):
        return None, assessed_at
    # A version is a digest or figure references (name@region/day): no quote or escape in it.
    return value[start + 1:value.index(b'"', start + 1)].decode(), assessed_at


def stated_core(result: Assessment, programme: str, region_code: str) -> bytes:
    """What an assessment decides, from ``"eligible"`` to ``"assessed_on":``, as
    ``CaseAssessed.model_dump_json`` writes it."""
    return (f'"eligible":{_literal(result.eligible)},"programme":{_text(programme)},'
            f'"region_code":{_text(region_code)},'
            f'"monthly_amount_fen":{result.monthly_amount_fen},'
            f'"one_off_amount_fen":{result.one_off_amount_fen},'
            f'"benefits":[{",".join(map(_benefit, result.benefits))}],'
            f'"policy_version":{_literal(result.policy_version)},'
            f'"reasons":[{",".join(map(_reason, result.checks))}],"assessed_on":').encode()


# Stating the re-run cost as much as the re-run itself, most of it the encoder's dispatch on each
# value: the statement is written field by field, and the policy figures a reason cites, the
# same few for every case, encoded once each.
# Written another way than the catalogue's, it only fails to match: the slow path then decides.
def _benefit(b: Benefit) -> str:
    return (f'{{"kind":{_text(b.kind)},"person_ref":{_literal(b.person_ref)},'
            f'"monthly_amount_fen":{b.monthly_amount_fen},'
            f'"one_off_amount_fen":{b.one_off_amount_fen}}}')


def _reason(c: Check) -> str:
    return (f'{{"rule":{_text(c.rule)},"passed":{_literal(c.passed)},'
            f'"detail":{_text(c.detail)},"figures":{_inputs(c.inputs)},'
            f'"label_zh":{_text(c.label_zh)},"parameters":{_figures(c.parameters)}}}')


def _inputs(inputs: dict[str, str]) -> str:
    """A check's inputs (text by text: the encoder's walk of a dict cost more than the rest of
    a reason)."""
    try:
        return "{" + ",".join([_text(k) + ":" + _text(v) for k, v in inputs.items()]) + "}"
    except TypeError:  # a value that is not text: written as the encoder writes it
        return _JSON(inputs)


def _literal(value: bool | str | None) -> str:
    if value is True or value is False or value is None:
        return "true" if value is True else "false" if value is False else "null"
    return _text(value)  # what the encoder does with a str, without its dispatch


# The figures a reason cites, each tuple of them written once. Keyed by the figures' identities:
# hashing a figure hashes every field, each time. The entry holds the figures themselves, so no
# other object can take their identities while it is there.
_written: dict[tuple[int, ...], tuple[tuple[Figure, ...], str]] = {}


def _figures(parameters: tuple[Figure, ...]) -> str:
    key = tuple(map(id, parameters))
    hit = _written.get(key)
    if hit is not None and hit[0] == parameters:  # the same figures (compared by identity first)
        return hit[1]
    text = _JSON([{"name": f.name, "value": f.value, "region": f.region,
                   "effective_from": f.effective_from.isoformat(), "source": f.source,
                   "default": f.default} for f in parameters])
    if len(_written) >= 4096:
        _written.clear()
    _written[key] = (parameters, text)
    return text
