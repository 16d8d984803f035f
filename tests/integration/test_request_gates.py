"""Who is asking comes before what they sent, and a JSON body means one thing (issue 21).

Every route of intake, verification, approval, payment and audit that takes a JSON body answers
a caller without a token 401, and a role that may not use it 403, whatever the body — not a 422
that tells a stranger what the route expects. A body whose object names a member twice is
refused (422, naming where), in every service's bodies and in a partner's NDJSON lines; and a
partner's credential is taken with the scheme's name in any case, as the staff token is."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI, params
from fastapi.routing import APIRoute, iter_route_contexts
from fastapi.testclient import TestClient

from deploy.tokens import DevTokens
from services.verification.adapters.repositories.partners import PartnerRepository
from services.verification.bootstrap import demo_token
from shared.auth.permissions import PERMISSIONS
from shared.auth.principals import Role
from shared.http import CheckedRoute
from shared.settings import load_settings
from tests.conftest import migrated_engine
from tests.integration.test_access_matrix import CREATE_APP, POLICY_PATHS, SERVICES
from tests.integration.test_access_matrix import TODAY as MATRIX_TODAY

RESIDENT = "330282195803150024"


@pytest.fixture(scope="module")
def apps(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    data_dir: Path = tmp_path_factory.mktemp("gates")
    urls = {name: f"sqlite:///{data_dir / name}.db" for name in SERVICES}
    settings = load_settings(env="test", data_dir=data_dir, policy_paths=POLICY_PATHS,
                             **{f"{name}_database_url": url for name, url in urls.items()})
    engines = [migrated_engine(url, name) for name, url in urls.items()]
    for engine in engines:
        engine.__enter__()
    built = {name: CREATE_APP[name](settings) for name in SERVICES}
    with built["verification"].state.runtime.uow() as uow:
        PartnerRepository(uow.conn).set_token("bank", demo_token("bank"))
        uow.commit()
    try:
        yield {"apps": built, "tokens": DevTokens(settings),
               "http": {name: TestClient(app) for name, app in built.items()}}
    finally:
        for app in built.values():
            app.state.runtime.engine.dispose()
        for engine in engines:
            engine.__exit__(None, None, None)


def _api_routes(app: FastAPI) -> list[APIRoute]:
    """Every APIRoute the app answers, routers included (FastAPI ≥ 0.16x includes them lazily:
    app.routes holds the routers themselves)."""
    return [c.original_route for c in iter_route_contexts(app.routes)
            if isinstance(c.original_route, APIRoute)]


def _json_routes(app: FastAPI) -> list[APIRoute]:
    return [r for r in _api_routes(app) if r.body_field is not None
            and not isinstance(r.body_field.field_info, params.Form)
            and r.body_field.field_info.media_type == "application/json"]


def _permission(route: APIRoute) -> str | None:
    for sub in route.dependant.dependencies:
        if (permission := getattr(sub.call, "permission", None)) is not None:
            return permission  # type: ignore[no-any-return]
    return None


def _path(route: APIRoute) -> str:
    return route.path.replace("{", "").replace("}", "")  # any id: the answer comes before it


def test_every_route_with_a_body_is_checked(apps):
    routes = [(name, r) for name, app in apps["apps"].items() for r in _api_routes(app)
              if r.body_field is not None]
    assert len(routes) >= 15
    assert [(name, r.path) for name, r in routes if not isinstance(r, CheckedRoute)] == []


BAD_BODIES = [b"{not json", b'{"unexpected": 1}', b'{"a": 1, "a": 2}', b"[]"]


@pytest.mark.parametrize("body", BAD_BODIES, ids=["invalid", "wrong_schema", "twice", "list"])
def test_a_bad_body_from_a_stranger_is_401_and_from_a_refused_role_403(apps, body):
    tokens = apps["tokens"]
    checked = 0
    for name, app in apps["apps"].items():
        for route in _json_routes(app):
            method = next(iter(route.methods))
            http = apps["http"][name]
            send = {"content": body, "headers": {"content-type": "application/json"}}
            answer = http.request(method, _path(route), **send)
            assert answer.status_code == 401, (name, route.path, answer.text)
            assert answer.headers["www-authenticate"].startswith("Bearer")
            permission = _permission(route)
            if permission is not None:
                refused = next(r for r in Role if r not in PERMISSIONS[permission])
                who = tokens.headers(refused, "c-gates", "" if refused in (
                    Role.ADMINISTRATOR, Role.AUDITOR, Role.SERVICE) else "330282")
                answer = http.request(method, _path(route), content=body,
                                      headers={**send["headers"], **who})
                assert answer.status_code == 403, (name, route.path, answer.text)
            checked += 1
    assert checked >= 14  # the routes with JSON bodies were found


def test_a_member_named_twice_is_refused_where_it_is(apps):
    http, tokens = apps["http"]["intake"], apps["tokens"]
    body = ('{"region_code": "330282", "programme": "dibao", "members": [{"name": "王秀英", '
            f'"resident_id": "{RESIDENT}", "relation": "applicant", "relation": "spouse", '
            f'"consent_signed_on": "{MATRIX_TODAY}"}}]}}')
    answer = http.post("/applications", content=body.encode(), headers={
        "content-type": "application/json", **tokens.clerk("330282")})
    assert answer.status_code == 422, answer.text
    assert answer.json()["detail"] == [{
        "type": "json_duplicate_member", "loc": ["body", "members", 0, "relation"],
        "msg": "appears twice in one object: send each member once"}]
    assert RESIDENT not in answer.text and "王秀英" not in answer.text
    # A key that is not a field name is not echoed.
    answer = http.post("/applications", content='{"王秀英": 1, "王秀英": 2}'.encode(), headers={
        "content-type": "application/json", **tokens.clerk("330282")})
    assert answer.status_code == 422 and "王秀英" not in answer.text
    assert answer.json()["detail"][0]["loc"] == ["body"]


def _record(**fields: Any) -> dict[str, Any]:
    return {"record_id": "gate-1", "kind": "deposit", "resident_id": RESIDENT,
            "amount_fen": 0, "as_of": MATRIX_TODAY, **fields}


def test_a_partner_credential_is_taken_with_bearer_in_any_case(apps):
    http = apps["http"]["verification"]
    for scheme in ("Bearer", "bearer", "BEARER"):
        answer = http.post("/partner-records", json={"records": [_record()]},
                           headers={"Authorization": f"{scheme} {demo_token('bank')}"})
        assert answer.status_code == 200, (scheme, answer.text)
    answer = http.post("/partner-publications", content=b'{"record_id": "gate-2", "kind": '
                       b'"deposit", "resident_id": "' + RESIDENT.encode() + b'", "amount_fen": 5, '
                       b'"as_of": "' + MATRIX_TODAY.encode() + b'"}\n',
                       headers={"Authorization": f"bearer {demo_token('bank')}",
                                "content-type": "application/x-ndjson"})
    assert answer.status_code == 201, answer.text
    assert answer.json()["accepted"] == 1


def _twice(record_id: str, first: int, second: int) -> str:
    """A deposit record whose amount_fen is given twice."""
    return (f'{{"record_id": "{record_id}", "kind": "deposit", "resident_id": "{RESIDENT}", '
            f'"amount_fen": {first}, "amount_fen": {second}, "as_of": "{MATRIX_TODAY}"}}')


def test_a_partner_line_with_a_member_twice_is_rejected_with_the_reason(apps):
    http = apps["http"]["verification"]
    line = _twice("gate-3", 5, 500_000) + "\n"
    answer = http.post("/partner-publications", content=line.encode(), headers={
        "Authorization": f"Bearer {demo_token('bank')}", "content-type": "application/x-ndjson"})
    assert answer.status_code == 201, answer.text
    report = answer.json()
    assert (report["accepted"], report["rejected"]) == (0, 1), report
    detail = http.get(f"/partner-publications/{report['publication_id']}",
                      headers={"Authorization": f"Bearer {demo_token('bank')}"}).json()
    [rejection] = detail["rejections"]
    assert rejection["reason"] == "member 'amount_fen' appears twice in one object"
    # The single-record path refuses it too.
    body = '{"records": [' + _twice("gate-4", 0, 0) + "]}"
    answer = http.post("/partner-records", content=body.encode(), headers={
        "Authorization": f"Bearer {demo_token('bank')}", "content-type": "application/json"})
    assert answer.status_code == 422, answer.text
    assert answer.json()["detail"][0]["loc"] == ["body", "records", 0, "amount_fen"]


# -- a partner's single records are judged as a file's lines are ---------------------------------

def _valid_id(prefix17: str) -> str:
    total = sum(int(d) * w for d, w in zip(prefix17, (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5,
                                                       8, 4, 2), strict=True))
    return prefix17 + "10X98765432"[total % 11]


BAD_RECORDS = {
    "zeros": {"resident_id": "000000000000000000"},
    "check_digit": {"resident_id": RESIDENT[:17] + ("5" if RESIDENT[17] != "5" else "6")},
    "nul_in_record_id": {"record_id": "gate\u0000x"},
    "esc_in_record_id": {"record_id": "gate\u001b[2Jx"},
    "bidi_in_record_id": {"record_id": "gate\u202ex"},
    "as_of_number": {"as_of": 20261101},
    "as_of_not_a_day": {"as_of": "2026-02-30"},
    "amount_on_a_fact": {"kind": "death", "amount_fen": 5},
    "town_missing": {"kind": "large_medical_bill", "amount_fen": 5},
}


@pytest.mark.parametrize("change", list(BAD_RECORDS.values()), ids=list(BAD_RECORDS))
def test_a_record_the_bulk_path_rejects_the_single_path_refuses_for_the_same_reason(apps, change):
    http = apps["http"]["verification"]
    department = "medical_insurance" if change.get("kind") == "large_medical_bill" else (
        "public_security" if change.get("kind") == "death" else "bank")
    with apps["apps"]["verification"].state.runtime.uow() as uow:
        PartnerRepository(uow.conn).set_token(department, demo_token(department))
        uow.commit()
    auth = {"Authorization": f"Bearer {demo_token(department)}"}
    record = _record(**change)
    bulk = http.post("/partner-publications", content=json.dumps(record).encode() + b"\n",
                     headers={**auth, "content-type": "application/x-ndjson"})
    assert bulk.status_code == 201, bulk.text
    detail = http.get(f"/partner-publications/{bulk.json()['publication_id']}",
                      headers=auth).json()
    [rejection] = detail["rejections"]
    single = http.post("/partner-records", json={"records": [record]}, headers=auth)
    assert single.status_code == 422, single.text
    [problem] = single.json()["detail"]
    field, _, reason = rejection["reason"].partition(": ")
    assert (problem["loc"], problem["msg"]) == (["body", "records", 0, field], reason)
    assert RESIDENT not in single.text and "gate" not in single.text


def test_the_single_path_takes_what_the_bulk_path_takes(apps):
    http = apps["http"]["verification"]
    auth = {"Authorization": f"Bearer {demo_token('bank')}"}
    padded = _record(record_id="  gate-5 ", resident_id=_valid_id("33028219580315002").lower())
    answer = http.post("/partner-records", json={"records": [padded]}, headers=auth)
    assert answer.status_code == 200, answer.text
    # Values of any JSON type are judged, never a 500.
    for value in ([], {}, None, 1.5, True):
        odd = {**_record(), "record_id": value}
        answer = http.post("/partner-records", json={"records": [odd, odd]}, headers=auth)
        assert answer.status_code == 422, (value, answer.text)


# -- free text without control or bidi characters ----------------------------------------------

HOSTILE = {"nul": "孙\u0000七", "esc": "孙\u001b[2J七", "rlo": "孙\u202e七", "lre": "孙\u202a七",
           "line_separator": "孙\u2028七"}


@pytest.mark.parametrize("text", list(HOSTILE.values()), ids=list(HOSTILE))
def test_free_text_with_control_or_bidi_characters_is_refused_everywhere(apps, text):
    tokens = apps["tokens"]
    clerk = tokens.clerk("330282")
    cases: list[tuple[str, str, str, dict[str, Any], dict[str, str], list[Any]]] = [
        ("intake", "POST", "/applications", {
            "region_code": "330282", "programme": "dibao", "members": [{
                "name": text, "resident_id": RESIDENT, "relation": "applicant",
                "consent_signed_on": MATRIX_TODAY}]}, clerk, ["members", 0, "name"]),
        ("intake", "POST", "/applications", {
            "region_code": "330282", "programme": "temporary", "members": [{
                "name": "孙七", "resident_id": RESIDENT, "relation": "applicant",
                "consent_signed_on": MATRIX_TODAY, "able_to_work": True}],
            "temporary": {"kind": "emergency", "requested_amount_fen": 100, "cause": "fire",
                          "description": text}}, clerk, ["temporary", "description"]),
        ("intake", "POST", "/identity-lookups", {"person_ref": "p-" + "0" * 16,
                                                 "reason": "because " + text},
         tokens.auditor(), ["reason"]),
        ("payment", "PUT", "/cases/330282-20261101-aaaaaaaaaaaa/account", {
            "bank_code": "ICBC", "account_number": "6222020200000000", "holder_name": text},
         clerk, ["holder_name"]),
        ("payment", "POST", "/batches/preview", {
            "reference": "gate-batch", "region_code": "330282", "month": "2026-12",
            "programmes": ["dibao"], "amount_fen": 100, "reason": text},
         tokens.approver("330282"), ["reason"]),
        ("approval", "POST", "/cases/330282-20261101-aaaaaaaaaaaa/actions",
         {"action": "return", "note": text}, tokens.reviewer("330282"), ["note"]),
        ("verification", "POST", "/warnings/w-1/close", {"outcome": "no_change", "note": text},
         tokens.reviewer("330282"), ["note"]),
    ]
    for service, method, path, body, who, loc in cases:
        answer = apps["http"][service].request(method, path, json=body, headers=who)
        assert answer.status_code == 422, (service, path, answer.text)
        assert ["body", *loc] in [d["loc"] for d in answer.json()["detail"]], (path, answer.text)
        assert "孙" not in answer.text and "because" not in answer.text
    # Line breaks are free text's own; a name is one line.
    assert apps["http"]["approval"].post(
        "/cases/330282-20261101-aaaaaaaaaaaa/actions", json={"action": "return",
                                                             "note": "一\r\n二\t三"},
        headers=tokens.reviewer("330282")).status_code != 422


def test_every_whole_number_in_a_query_is_bounded_both_ways(apps):
    """A limit of 10**18 or an offset of -1 is a 422 naming it, never a query the database
    chokes on: every int query parameter of every service states its least and greatest."""
    seen = []
    for name, app in apps["apps"].items():
        for route in _api_routes(app):
            for param in route.dependant.query_params:
                if param.field_info.annotation is not int:
                    continue
                bounds = {type(m).__name__ for m in param.field_info.metadata}
                seen.append((name, route.path, param.name))
                assert {"Ge", "Le"} <= bounds or {"Gt", "Lt"} <= bounds, seen[-1]
    assert ("intake", "/applications", "limit") in seen
    assert ("audit", "/events", "from_seq") in seen or any(s[0] == "audit" for s in seen)
