"""End to end: households submitted over HTTP reach a scheduled payment or a reasoned rejection."""

from __future__ import annotations

import asyncio
import json
import os
import sqlite3
import subprocess
import sys

import httpx
import pytest

from shared.events import topics
from tests.e2e.conftest import HOUSEHOLDS, final_cases, payments, submit, tokens
from tests.integration.busutil import produce, read_topic

pytestmark = pytest.mark.e2e


def check_outcomes(system, households) -> list[str]:  # type: ignore[no-untyped-def]
    case_ids = [submit(system, h) for h in households]
    cases = final_cases(system, case_ids)
    for household, case_id in zip(households, case_ids, strict=True):
        case = cases[case_id]
        labels = [e["event_type"] for e in case["timeline"]]
        assert labels[0] == "onedoor.application.submitted"
        if household.expect == "approved":
            assert case["status"] == "payment_scheduled", (household.label, case)
            amount = case["decision"]["monthly_amount_fen"]
            assert amount > 0
            paid = payments(system, case_id)
            assert [(p["period"], p["amount_fen"]) for p in paid] == \
                [(case["decision"]["start_month"], amount)]
            assert "onedoor.payment.scheduled" in labels
        else:
            assert case["status"] == "rejected", (household.label, case)
            failed = [r for r in case["decision"]["reasons"] if not r["passed"]]
            assert failed and all(r["detail"] for r in failed)
            # Each failed rule names its inputs, and the policy figures with their source.
            rules = [r for r in failed if r["rule"] != "staff_decision"]
            assert rules and all(r["figures"] and r["parameters"] for r in rules)
            assert payments(system, case_id) == []
    return case_ids


def test_households_reach_payment_or_a_reasoned_rejection(system):
    check_outcomes(system, HOUSEHOLDS[:10])


def test_a_member_of_an_open_case_cannot_apply_again(system):
    household = HOUSEHOLDS[15]  # one member
    first = submit(system, household)
    final_cases(system, [first])
    application = household.application()
    again = httpx.post(system.url("intake") + "/applications", json=application,
                       headers=tokens(system).clerk(application["region_code"]), timeout=10)
    assert again.status_code == 422
    assert {tuple(d["loc"][1:]) for d in again.json()["detail"]} == {("members", 0,
                                                                       "resident_id")}
    assert first in again.json()["detail"][0]["msg"]
    assert len(payments(system, first)) == 1


@pytest.mark.postgres
def test_the_same_path_on_postgresql(pg_system):
    check_outcomes(pg_system, HOUSEHOLDS[:10])


@pytest.mark.kafka
def test_the_same_path_on_kafka_and_postgresql(kafka_system):
    check_outcomes(kafka_system, HOUSEHOLDS[:10])


def test_events_carry_pseudonyms_not_names_or_id_numbers(system):
    household = HOUSEHOLDS[11]
    case_id = submit(system, household)
    final_cases(system, [case_id])
    birth_dates = [f"{r[6:10]}-{r[10:12]}-{r[12:14]}".encode()
                   for r in (m["resident_id"] for m in household.members)]
    secrets = birth_dates + [m["resident_id"].encode() for m in household.members] + \
              [m["name"].encode() for m in household.members] + \
              [m["name"].encode("unicode_escape") for m in household.members]
    for topic in (topics.APPLICATIONS, topics.VERIFICATIONS, topics.DECISIONS, topics.PAYMENTS):
        records = asyncio.run(read_topic(system.bootstrap, topic,
                                         lambda r: r.key == case_id.encode(), want=1))
        assert records, topic
        for record in records:
            assert not any(s in record.value for s in secrets), topic


def test_onedoor_tail_prints_the_cloudevents_of_a_topic(system):
    case_id = submit(system, HOUSEHOLDS[10])
    final_cases(system, [case_id])
    result = subprocess.run(
        [sys.executable, "-m", "deploy", "tail", topics.PAYMENTS, "--from-beginning",
         "--exit-at-end"], capture_output=True, text=True, timeout=60,
        env={**os.environ, "ONEDOOR_KAFKA_BOOTSTRAP": system.bootstrap})
    assert result.returncode == 0, result.stderr
    block = next(b for b in result.stdout.split("\n\n") if f"key={case_id}" in b)
    assert "ce_type: onedoor.payment.scheduled" in block
    amount = payments(system, case_id)[0]["amount_fen"]
    assert f"ce_subject: {case_id}" in block and f'"amount_fen":{amount}' in block


def test_bad_input_is_refused_naming_each_field_and_storing_nothing(system):
    good = HOUSEHOLDS[0].application()
    clerk = tokens(system).clerk(good["region_code"])
    bad = {**good, "region_code": "3302", "members": [
        {**good["members"][0], "resident_id": good["members"][0]["resident_id"][:-1] + "0"},
        {"name": " ", "resident_id": "330282200001010011", "relation": "cousin",
         "declared_incomes": [{"kind": "wage", "monthly_amount_fen": 12.5}]},
    ]}
    intake_db = system.settings.database_url("intake").removeprefix("sqlite:///")
    before = sqlite3.connect(intake_db).execute("select count(*) from outbox").fetchone()[0]
    response = httpx.post(system.url("intake") + "/applications", json=bad, headers=clerk,
                          timeout=10)
    assert response.status_code == 422
    locs = {tuple(d["loc"][1:]) for d in response.json()["detail"]}
    assert locs == {("region_code",), ("members", 0, "resident_id"), ("members", 1, "name"),
                    ("members", 1, "relation"), ("members", 1, "resident_id"),
                    ("members", 1, "declared_incomes", 0, "monthly_amount_fen")}
    check = next(d for d in response.json()["detail"] if d["loc"][1:] == ["members", 0,
                                                                          "resident_id"])
    assert "check digit" in check["msg"]

    # Well-formed fields, broken rules (checked once the form is well-formed): named the same way.
    child = {"name": "小明", "resident_id": "330282201501010016", "relation": "applicant"}
    no_consent = {**good, "members": [{**good["members"][0], "consent_signed_on": None}, child]}
    response = httpx.post(system.url("intake") + "/applications", json=no_consent, headers=clerk,
                          timeout=10)
    assert response.status_code == 422
    locs = {tuple(d["loc"][1:]) for d in response.json()["detail"]}
    assert locs == {("members",), ("members", 0, "consent_signed_on")}
    # Full-width digits look like digits to \d; they must be refused, not crash the service.
    wide = {**good, "region_code": "33０２８２", "members": [
        {**good["members"][0], "resident_id": "３３０２８２１９５８０３１５００２４"}]}
    response = httpx.post(system.url("intake") + "/applications", json=wide, headers=clerk,
                          timeout=10)
    assert response.status_code == 422
    assert {tuple(d["loc"][1:]) for d in response.json()["detail"]} == {
        ("region_code",), ("members", 0, "resident_id")}
    after = sqlite3.connect(intake_db).execute("select count(*) from outbox").fetchone()[0]
    assert after == before
    assert httpx.get(system.url("intake") + "/applications/nope", headers=clerk,
                     timeout=10).status_code == 404


def test_a_retried_submission_with_the_same_idempotency_key_opens_one_case(system):
    body = HOUSEHOLDS[12].application()
    url = system.url("intake") + "/applications"
    key = {"Idempotency-Key": "window-7-0001", **tokens(system).clerk(body["region_code"])}
    first = httpx.post(url, json=body, headers=key, timeout=10)
    again = httpx.post(url, json=body, headers=key, timeout=10)
    changed = {**body["members"][0], "name": body["members"][0]["name"] + "甲"}
    other = httpx.post(url, json={**body, "members": [changed, *body["members"][1:]]},
                       headers=key, timeout=10)
    assert first.status_code == again.status_code == 201
    assert first.json()["case_id"] == again.json()["case_id"]
    assert other.status_code == 409


def test_partner_departments_publish_only_their_own_kinds(system):
    url = system.url("verification") + "/partner-records"
    record = {"record_id": "x1", "kind": "vehicle", "resident_id": "11010519491231002X",
              "amount_fen": 1, "as_of": "2026-10-01"}
    bank = {"Authorization": "Bearer demo-bank-token"}
    assert httpx.post(url, json={"records": [record]}, headers=bank).status_code == 403
    assert httpx.post(url, json={"records": [record]}).status_code == 401
    assert httpx.post(url, json={"records": [record]},
                      headers={"Authorization": "Bearer guessed"}).status_code == 401
    police = {"Authorization": "Bearer demo-public_security-token"}
    assert httpx.post(url, json={"records": [record]}, headers=police).status_code == 200
    twice = httpx.post(url, json={"records": [record, {**record, "amount_fen": 2}]},
                       headers=police)
    assert twice.status_code == 422 and "sent twice" in twice.text
    huge = httpx.post(url, json={"records": [{**record, "amount_fen": 10**19}]}, headers=police)
    assert huge.status_code == 422
    assert huge.json()["detail"][0]["loc"] == ["body", "records", 0, "amount_fen"]


# Last in this module: it reads the logs of every test above as well as its own requests'.
def test_logs_carry_no_names_or_id_numbers(system):
    """Issue 21: no log line carries a request's body or a value that can hold personal data,
    whatever the request — refused, malformed, a bad event on the bus — and every line of a
    service's log is a JSON object naming the service."""
    household = HOUSEHOLDS[13]
    case_id = submit(system, household)
    final_cases(system, [case_id])
    member = household.members[0]
    name, number, account = member["name"], member["resident_id"], "6222020200112233445"
    clerk, intake = tokens(system).clerk(household.application()["region_code"]), \
        system.url("intake")
    # Refused, with the person in the path or the query: the refusal is logged, by route.
    for path in (f"/applications/{number}", f"/applications/{name}", f"/applications?q={name}"):
        assert httpx.get(intake + path, timeout=10).status_code == 401
    assert httpx.get(f"{intake}/applications?q={name}", headers=clerk,
                     timeout=10).status_code == 200
    refused = httpx.post(f"{intake}/applications/search", json={"resident_id": number},
                         headers=tokens(system).auditor(), timeout=10)
    assert refused.status_code == 403
    # Malformed: a 422 (a bad check digit), and a body that is not even JSON.
    bad = {**household.application(), "members": [{**member, "resident_id": number[:-1] + "Y"}]}
    assert httpx.post(f"{intake}/applications", json=bad, headers=clerk,
                      timeout=10).status_code == 422
    broken = f'{{"members": [{{"name": "{name}", "resident_id": "{number}"'.encode()
    assert httpx.post(f"{intake}/applications", content=broken, timeout=10, headers={
        **clerk, "Content-Type": "application/json"}).status_code == 422
    account_url = f"{system.url('payment')}/cases/{case_id}/account"
    body = {"bank_code": "??", "account_number": account, "holder_name": name}
    for n, headers in enumerate((clerk, tokens(system).auditor())):
        assert httpx.put(account_url, json=body, timeout=10, headers={
            **headers, "Idempotency-Key": f"logs-{n}"}).status_code in (403, 422)
    # A bad event on the bus, its data quoting a name and a number: its consumers log their
    # failure (a pydantic error's message quotes the input) and dead-letter it.
    headers = [("ce_specversion", b"1.0"), ("ce_id", b"logs-bad-event"),
               ("ce_source", b"/test"), ("ce_type", b"onedoor.application.submitted"),
               ("ce_time", b"2026-01-01T00:00:00+00:00"), ("ce_schemaversion", b"1")]
    value = json.dumps({"case_id": case_id, "region_code": f"{name} {number}"}).encode()
    asyncio.run(produce(system.bootstrap, [(topics.APPLICATIONS, case_id.encode(), value,
                                            headers)]))
    dead = asyncio.run(read_topic(system.bootstrap, topics.DEAD_LETTER, lambda r: (
        "ce_id", b"logs-bad-event") in r.headers, want=2, timeout_s=30))
    assert len(dead) == 2  # by verification and by approval

    secrets = {account, "小明", "330282201501010016", "11010519491231002X",
               "３３０２８２１９５８０３１５００２４"}
    for h in HOUSEHOLDS:
        for person in h.members:
            secrets |= {person["name"], person["resident_id"]}
    logs = system.log_dir
    services = {child.name for child in system.children.values()} | {"supervisor"}
    read = {path.name: path.read_text(encoding="utf-8", errors="replace")
            for path in logs.iterdir() if path.is_file()}
    for file, text in read.items():
        found = sorted(s for s in secrets if s in text)
        assert not found, f"{file} holds {found}"
    assert {f"{service}.log" for service in services} <= read.keys()
    for service in services:  # payment-2 is an instance of payment
        lines = [json.loads(line) for line in read[f"{service}.log"].splitlines() if line]
        assert all(line["service"] == service.split("-")[0] for line in lines), service
    intake_lines = [json.loads(line) for line in read["intake.log"].splitlines()]
    assert {"/applications/{case_id}", "/applications"} <= {
        line.get("route") for line in intake_lines}
    assert any(line.get("case_id") == case_id for line in intake_lines)
    assert any(line["logger"] == "onedoor.access" and line.get("outcome") == "forbidden"
               for line in intake_lines)
