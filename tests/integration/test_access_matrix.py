"""Who may call what, and where (issue 6): every HTTP endpoint of intake, verification,
approval, payment and audit × every role × in and out of jurisdiction, and without a valid token.

Each service is its real app, built by its bootstrap's ``create_app(settings)`` on a database its
own migrations made (SQLite, and PostgreSQL), and called with tokens signed by the development key
its verifier trusts. The bus is not started: one household is taken in through intake's API, and
the events each service writes to its outbox are handed, as written, to the handlers of the
services that read their type (as the consumers would after Kafka) and archived by audit, until
nothing new is written. Then staff act on the case through approval's and payment's APIs, so each
service's database knows the case — district 330282, town 330282001 — and its decision, payments,
cycle, bank file and archive records.

The matrix is ENDPOINTS: for each route, what it needs (a permission of auth.permissions,
whose roles tests/unit/test_auth.py pins, which a partner department's own credential may also
satisfy (``department_too``); or PUBLIC; or a partner department's credential alone) and
where the thing it touches lies. The expected outcome of every call follows from that table alone:
401 without a valid token, 403 for a role without the permission, 403 for a role with it outside
the place, otherwise through (2xx, 404, 409, 422); a list is filtered instead of refused. A route
missing from the table fails ``test_every_route_is_in_the_matrix``.
"""

from __future__ import annotations

import contextlib
import json
import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import Engine, select

from deploy.bank_simulator import settle
from deploy.households import resident_id
from deploy.tokens import DevTokens
from services.approval.bootstrap import DEFAULT_POLICY
from services.approval.bootstrap import create_app as create_approval
from services.approval.service_layer.handlers import handlers as approval_handlers
from services.audit.bootstrap import create_app as create_audit
from services.audit.service_layer.archiving import Incoming, archive, checkpoint
from services.intake.bootstrap import create_app as create_intake
from services.intake.service_layer.handlers import HANDLERS as INTAKE_HANDLERS
from services.payment.bootstrap import create_app as create_payment
from services.payment.service_layer.handlers import HANDLERS as PAYMENT_HANDLERS
from services.verification.adapters.repositories.partners import PartnerRepository
from services.verification.bootstrap import create_app as create_verification
from services.verification.bootstrap import demo_token
from services.verification.service_layer.handlers import handlers as verification_handlers
from shared import clock
from shared.auth.permissions import PERMISSIONS
from shared.auth.principals import Role
from shared.auth.tokens import TokenIssuer, bearer, load_token_keys
from shared.events.envelope import from_record
from shared.pseudonym import person_ref
from shared.settings import Settings, load_settings
from tests.conftest import ROOT, PostgresDatabases, migrated_engine

SERVICES = ("intake", "verification", "approval", "payment", "audit")
CREATE_APP: dict[str, Callable[[Settings], FastAPI]] = {
    "intake": create_intake, "verification": create_verification, "approval": create_approval,
    "payment": create_payment, "audit": create_audit}
# Cixi's public notice shortened to 0 days (the end-to-end tests' overlay), so the district can
# approve the case at once.
POLICY_PATHS = [DEFAULT_POLICY, ROOT / "tests" / "e2e" / "fast_notice.toml"]

DISTRICT, TOWN = "330282", "330282001"  # where the case is handled
OTHER_TOWN, OTHER_DISTRICT = "330282002", "370202"
# A policy proposal for the district: its Dibao standard from next month.
_NEXT = clock.today().replace(day=1) + timedelta(days=32)
PROPOSAL = {"name": "dibao.monthly_standard_fen", "region_code": DISTRICT,
            "effective_from": _NEXT.replace(day=1).isoformat(), "value": 110_550,
            "source": "access matrix document", "reason": "access matrix"}
PLACES = {"own_town": TOWN, "own_district": DISTRICT, "other_town": OTHER_TOWN,
          "other_district": OTHER_DISTRICT, "everywhere": ""}
# The roles that may hold every region ("" jurisdiction): docs/ARCHITECTURE.md, "Sign-in".
NATIONWIDE = frozenset({Role.ADMINISTRATOR, Role.AUDITOR, Role.SERVICE})
TODAY = clock.today().isoformat()  # China Standard Time, as the services count days


# -- who calls --------------------------------------------------------------------------------

@dataclass(frozen=True)
class Caller:
    """A signed-in role in a place, or (role None) someone without a valid staff token."""

    name: str
    role: Role | None = None
    jurisdiction: str | None = None

    def covers(self, area: str) -> bool:
        assert self.jurisdiction is not None
        return area.startswith(self.jurisdiction)


STAFF = [Caller(f"{role}@{place}", role, jurisdiction)
         for role in Role for place, jurisdiction in PLACES.items()
         if jurisdiction or role in NATIONWIDE]
# The expired token and the one signed by a key nobody trusts are an administrator's everywhere.
NO_TOKEN, MALFORMED, EXPIRED, UNKNOWN_KEY = (Caller("no_token"), Caller("malformed_token"),
                                            Caller("expired_token"), Caller("unknown_key_token"))
DEPARTMENT = Caller("partner_department_credential")  # verification's own partner credential
UNAUTHENTICATED = [NO_TOKEN, MALFORMED, EXPIRED, UNKNOWN_KEY, DEPARTMENT]
ALL_CALLERS = STAFF + UNAUTHENTICATED


# -- the matrix -------------------------------------------------------------------------------

PUBLIC = "public"  # answers anyone: health, the API's own documentation, published figures
# Answers anyone too; 503 here, where the services run without their bus (shared/health.py).
READINESS = "/health/ready"
# POST /partner-records and /partner-publications: a department's own bearer credential
# (verification's partner_credentials), not a staff access token
PARTNER_CREDENTIAL = "partner department credential"
# The bank's bulk publication (seeded; the matrix sends it again: the same file, its report).
PUBLICATION = (json.dumps({"record_id": "matrix-bulk-deposit", "kind": "deposit", "amount_fen": 0,
                           "as_of": TODAY, "resident_id": resident_id(OTHER_DISTRICT,
                                                                      date(1970, 1, 1), 9)})
               + "\n").encode()


@dataclass(frozen=True)
class Call:
    url: str
    json: Any = None
    content: bytes | None = None
    headers: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Endpoint:
    service: str
    method: str
    path: str  # the route's path as the app declares it
    needs: str  # a permission in shared.auth.permissions.PERMISSIONS, or PUBLIC, PARTNER_CREDENTIAL
    call: Callable[[Seed], Call]
    # Where what it touches lies: refused (403) to callers whose jurisdiction does not cover it.
    # None: not tied to a place (the whole archive's integrity, a list that is filtered).
    area: str | None = None
    # A list: everyone with the permission gets an answer, which names the case (shows(seed))
    # only for callers whose jurisdiction covers the case's town.
    shows: Callable[[Seed], str] | None = None
    # Sent with this Idempotency-Key, which an in-jurisdiction caller used first (end of _seed):
    # a remembered answer must be refused to whoever the request itself would be refused to.
    idempotency_key: str | None = None
    # Also answers a partner department's own credential (its own things only): DEPARTMENT.
    department_too: bool = False

    @property
    def name(self) -> str:
        return f"{self.service}:{self.method}:{self.path}"


@dataclass
class Seed:
    """What the services know after the seeding, in the ids the requests need."""

    case_id: str = ""
    applicant_id: str = ""  # resident ID number
    applicant_ref: str = ""  # its pseudonym
    new_application: dict[str, Any] = field(default_factory=dict, repr=False)  # another household
    referral_id: str = ""
    assessment_id: str = ""
    month: str = ""
    cycle_run_id: str = ""
    batch_run_id: str = ""
    batch: dict[str, Any] = field(default_factory=dict, repr=False)
    file_id: str = ""
    results: bytes = field(default=b"", repr=False)  # the bank's answer to the file
    payment_id: str = ""
    publication_id: str = ""  # the bank's bulk publication
    warning_id: str = ""  # an early warning on the case (the applicant's death)
    lead_id: str = ""  # a discovery lead in the town (a stranger's medical bills)
    proposal_id: str = ""  # a policy proposal for the district, awaiting a second officer
    job_id: str = ""  # the recalculation of a published one
    survey_case_id: str = ""  # another household of the town, waiting for the town's review
    photo_id: str = ""  # a photo of a document, taken at its home survey


# A home survey as the phone page sends it (issue 26): a ``survey`` part and one photo (a JPEG's
# first bytes: approval checks the type by them).
_BOUNDARY = "matrix-survey-boundary"
SURVEY = {"surveyed_on": TODAY, "surveyors": "s-1, t-1", "outcome": "as_declared",
          "housing_tenure": "rented", "housing_state": "ordinary", "members_living": 1,
          "members_present": 1, "able_to_work": 0, "partly_able": 0, "unable_to_work": 1,
          "items": ["tv"], "notes": "access matrix", "photo_kinds": ["household_register"]}
SURVEY_FORM = (
    f"--{_BOUNDARY}\r\nContent-Disposition: form-data; name=\"survey\"\r\n\r\n"
    f"{json.dumps(SURVEY)}\r\n--{_BOUNDARY}\r\nContent-Disposition: form-data; name=\"photo\"; "
    f"filename=\"p.jpg\"\r\nContent-Type: image/jpeg\r\n\r\n").encode() + (
    b"\xff\xd8\xff\xe0" + b"\x00" * 64 + b"\xff\xd9" + f"\r\n--{_BOUNDARY}--\r\n".encode())
SURVEY_HEADERS = {"Content-Type": f"multipart/form-data; boundary={_BOUNDARY}"}


def _get(url: str) -> Callable[[Seed], Call]:
    return lambda seed: Call(url.format(**vars(seed)))


def _case(seed: Seed) -> str:
    return seed.case_id


def _public(service: str, *paths: str, **values: str) -> list[Endpoint]:
    return [Endpoint(service, "GET", path, PUBLIC, _get(path.format(**values)))
            for path in paths]


def _operations(service: str) -> list[Endpoint]:
    return [*_public(service, "/openapi.json", "/docs", "/docs/oauth2-redirect", "/redoc",
                     "/health", "/health/live", READINESS, "/metrics",
                     "/asyncapi.json"),
            Endpoint(service, "GET", "/dead-letters", "admin", _get("/dead-letters"))]


ENDPOINTS: list[Endpoint] = [
    # -- intake --
    Endpoint("intake", "POST", "/applications", "case.submit", lambda s: Call(
        "/applications", json=s.new_application), area=TOWN,
             idempotency_key="matrix-application"),
    Endpoint("intake", "GET", "/applications/{case_id}", "case.read",
             _get("/applications/{case_id}"), area=TOWN),
    Endpoint("intake", "GET", "/applications", "case.read", _get("/applications?limit=1000"),
             shows=_case),
    Endpoint("intake", "POST", "/applications/search", "case.search", lambda s: Call(
        "/applications/search", json={"resident_id": s.applicant_id}), shows=_case),
    Endpoint("intake", "POST", "/identity-lookups", "identity.lookup", lambda s: Call(
        "/identity-lookups", json={"person_ref": s.applicant_ref,
                                   "reason": "access matrix: may this caller know the person?"}),
             area=TOWN),
    Endpoint("intake", "GET", "/identity-lookups", "audit.read",
             _get("/identity-lookups?limit=1000"), shows=lambda s: s.applicant_ref),
    *_operations("intake"),
    # -- verification --
    Endpoint("verification", "POST", "/partner-records", PARTNER_CREDENTIAL, lambda s: Call(
        "/partner-records", json={"records": [{
            "record_id": "matrix-deposit", "kind": "deposit", "amount_fen": 0, "as_of": TODAY,
            "resident_id": resident_id(OTHER_DISTRICT, date(1970, 1, 1), 7)}]})),
    Endpoint("verification", "POST", "/partner-publications", PARTNER_CREDENTIAL, lambda s: Call(
        "/partner-publications", content=PUBLICATION,
        headers={"Content-Type": "application/x-ndjson"})),
    Endpoint("verification", "GET", "/partner-publications", "partner.publications.read",
             _get("/partner-publications?limit=10"), department_too=True),
    Endpoint("verification", "GET", "/partner-publications/{publication_id}",
             "partner.publications.read", _get("/partner-publications/{publication_id}"),
             department_too=True),
    Endpoint("verification", "GET", "/reports/{case_id}", "case.read",
             _get("/reports/{case_id}"), area=TOWN),
    # (No case waits in the seeded system, which queries no live source: the list's filter by
    # jurisdiction is tested in test_live_sources.py.)
    Endpoint("verification", "GET", "/pending-reports", "case.read",
             _get("/pending-reports?limit=1000")),
    Endpoint("verification", "GET", "/partner-data-access", "audit.read",
             _get("/partner-data-access?limit=1000"), shows=_case),
    Endpoint("verification", "GET", "/warnings", "monitoring.read", _get("/warnings?limit=500"),
             shows=lambda s: s.warning_id),
    Endpoint("verification", "POST", "/warnings/{warning_id}/close", "monitoring.close",
             lambda s: Call(f"/warnings/{s.warning_id}/close", json={"outcome": "no_change"}),
             area=TOWN),
    Endpoint("verification", "GET", "/leads", "monitoring.read", _get("/leads?limit=500"),
             shows=lambda s: s.lead_id),
    # Who a lead is (issue 26): the town's case workers, with a reason. No live source answers
    # here, so an allowed caller's look-up is logged and answered 409 (not connected); the
    # seeded one is listed to auditors who reach the lead's town.
    Endpoint("verification", "POST", "/leads/{lead_id}/person", "monitoring.person_lookup",
             lambda s: Call(f"/leads/{s.lead_id}/person",
                            json={"reason": "access matrix: may this caller know who it is?"}),
             area=TOWN),
    Endpoint("verification", "GET", "/leads/person-lookups", "audit.read",
             _get("/leads/person-lookups?limit=1000"), shows=lambda s: s.lead_id),
    Endpoint("verification", "POST", "/leads/{lead_id}/close", "monitoring.close",
             lambda s: Call(f"/leads/{s.lead_id}/close", json={"outcome": "not_in_need"}),
             area=TOWN),
    *_operations("verification"),
    # -- approval --
    # close_notice on an approved case: through the checks, then refused by the workflow (409).
    Endpoint("approval", "POST", "/cases/{case_id}/actions", "case.act", lambda s: Call(
        f"/cases/{s.case_id}/actions", json={"action": "close_notice"}), area=TOWN),
    Endpoint("approval", "POST", "/cases/{case_id}/home-surveys", "case.review", lambda s: Call(
        f"/cases/{s.case_id}/home-surveys", json={
            "surveyed_on": TODAY, "surveyors": "t-1, t-2", "findings": "as declared"}),
             area=TOWN),
    Endpoint("approval", "POST", "/cases/{case_id}/periodic-review", "case.review",
             lambda s: Call(f"/cases/{s.case_id}/periodic-review"), area=TOWN),
    # No consent is awaited on the seeded case: through the checks, then refused (409).
    Endpoint("approval", "POST", "/cases/{case_id}/consent", "case.act", lambda s: Call(
        f"/cases/{s.case_id}/consent", json={"signed_on": TODAY}), area=TOWN),
    Endpoint("approval", "POST", "/referrals/{referral_id}/answer", "referral.answer",
             lambda s: Call(f"/referrals/{s.referral_id}/answer",
                            json={"outcome": "in_progress"}), area=TOWN),
    Endpoint("approval", "GET", "/cases", "case.read", _get("/cases?limit=1000"), shows=_case),
    Endpoint("approval", "GET", "/cases/{case_id}", "case.read", _get("/cases/{case_id}"),
             area=TOWN),
    Endpoint("approval", "GET", "/assessments/{assessment_id}/replay", "case.read",
             _get("/assessments/{assessment_id}/replay"), area=TOWN),
    Endpoint("approval", "GET", "/decisions/{case_id}", "case.read",
             _get("/decisions/{case_id}"), area=TOWN),
    # The home survey (issue 26): a town's social workers and reviewers, on the town's cases
    # waiting for its review; the photos to whoever reads the case.
    Endpoint("approval", "GET", "/surveys/cases", "survey.record",
             _get("/surveys/cases?limit=500"), shows=lambda s: s.survey_case_id),
    Endpoint("approval", "GET", "/surveys/cases/{case_id}", "survey.record",
             _get("/surveys/cases/{survey_case_id}"), area=TOWN),
    Endpoint("approval", "POST", "/cases/{case_id}/surveys", "survey.record", lambda s: Call(
        f"/cases/{s.survey_case_id}/surveys", content=SURVEY_FORM, headers=SURVEY_HEADERS),
             area=TOWN),
    Endpoint("approval", "GET", "/cases/{case_id}/survey-photos/{photo_id}", "case.read",
             _get("/cases/{survey_case_id}/survey-photos/{photo_id}"), area=TOWN),
    # Counts per town: the case's town is named only to those who reach it.
    Endpoint("approval", "GET", "/dashboard/time-limits", "case.read",
             _get("/dashboard/time-limits"), shows=lambda _s: f'"{TOWN}"'),
    # Policy administration: a district officer reaches the district (a city's, its districts).
    Endpoint("approval", "GET", "/policy/catalogue", "policy.read", _get("/policy/catalogue")),
    Endpoint("approval", "POST", "/policy/proposals", "policy.propose", lambda s: Call(
        "/policy/proposals", json={**PROPOSAL, "value": 110_600}), area=DISTRICT),
    Endpoint("approval", "GET", "/policy/proposals", "policy.read",
             _get("/policy/proposals?status=proposed")),  # filtered by reach: its own test
    Endpoint("approval", "GET", "/policy/proposals/{proposal_id}", "policy.read",
             _get("/policy/proposals/{proposal_id}"), area=DISTRICT),
    Endpoint("approval", "POST", "/policy/proposals/{proposal_id}/approve", "policy.approve",
             lambda s: Call(f"/policy/proposals/{s.proposal_id}/approve", json={}),
             area=DISTRICT),
    Endpoint("approval", "POST", "/policy/proposals/{proposal_id}/reject", "policy.approve",
             lambda s: Call(f"/policy/proposals/{s.proposal_id}/reject",
                            json={"note": "access matrix"}), area=DISTRICT),
    Endpoint("approval", "POST", "/policy/simulations", "policy.read", lambda s: Call(
        "/policy/simulations", json={k: PROPOSAL[k] for k in (
            "name", "region_code", "effective_from", "value")}), area=DISTRICT),
    Endpoint("approval", "GET", "/policy/proposals/{proposal_id}/simulation", "policy.read",
             _get("/policy/proposals/{proposal_id}/simulation"), area=DISTRICT),
    Endpoint("approval", "GET", "/policy/history", "policy.read",
             _get("/policy/history?region_code=" + DISTRICT)),
    Endpoint("approval", "GET", "/policy/recalculations/{job_id}", "policy.read",
             _get("/policy/recalculations/{job_id}"), area=DISTRICT),
    *_public("approval", "/policy/{region_code}", "/policy/dibao/{region_code}",
            region_code=DISTRICT),
    *_operations("approval"),
    # -- payment --
    Endpoint("payment", "GET", "/cases/{case_id}/payments", "case.read",
             _get("/cases/{case_id}/payments"), area=TOWN),
    Endpoint("payment", "PUT", "/cases/{case_id}/account", "payment.account.write",
             lambda s: Call(f"/cases/{s.case_id}/account", json={
                 "bank_code": "ICBC", "account_number": "6222 0212 3456 7890 123",
                 "holder_name": "王秀英"}), area=TOWN, idempotency_key="matrix-account"),
    Endpoint("payment", "GET", "/cycles/preview", "payment.run",
             _get("/cycles/preview?month={month}&region_code=" + DISTRICT), area=DISTRICT),
    Endpoint("payment", "POST", "/cycles", "payment.run", lambda s: Call(
        "/cycles", json={"month": s.month, "region_code": DISTRICT}), area=DISTRICT,
             idempotency_key="matrix-cycle"),
    Endpoint("payment", "GET", "/cycles/{run_id}", "payment.run", _get("/cycles/{cycle_run_id}"),
             area=DISTRICT),
    Endpoint("payment", "GET", "/batches/{run_id}", "payment.run",
             _get("/batches/{batch_run_id}"), area=DISTRICT),
    Endpoint("payment", "POST", "/batches/preview", "payment.run",
             lambda s: Call("/batches/preview", json=s.batch), area=DISTRICT),
    Endpoint("payment", "POST", "/batches", "payment.run", lambda s: Call("/batches", json=s.batch),
             area=DISTRICT, idempotency_key="matrix-batch"),
    Endpoint("payment", "POST", "/cycles/{run_id}/bank-files", "payment.run",
             lambda s: Call(f"/cycles/{s.cycle_run_id}/bank-files"), area=DISTRICT,
             idempotency_key="matrix-cycle-export"),
    Endpoint("payment", "POST", "/bank-files", "payment.run", lambda s: Call(
        "/bank-files", json={"region_code": DISTRICT, "up_to_month": s.month}), area=DISTRICT,
             idempotency_key="matrix-export"),
    Endpoint("payment", "GET", "/bank-files/{file_id}", "payment.bank_file.read",
             _get("/bank-files/{file_id}"), area=DISTRICT),
    Endpoint("payment", "POST", "/bank-files/results", "payment.run", lambda s: Call(
        "/bank-files/results", content=s.results, headers={"content-type": "text/csv"}),
             area=DISTRICT, idempotency_key="matrix-results"),
    Endpoint("payment", "POST", "/payments/{payment_id}/reissue", "payment.run",
             lambda s: Call(f"/payments/{s.payment_id}/reissue"), area=TOWN,
             idempotency_key="matrix-reissue"),
    Endpoint("payment", "GET", "/payments", "case.read",
             _get("/payments?region_code=" + TOWN), area=TOWN),
    Endpoint("payment", "GET", "/reconciliation", "payment.reconcile",
             _get("/reconciliation?month={month}&region_code=" + DISTRICT), area=DISTRICT),
    Endpoint("payment", "GET", "/cycles/{run_id}/reconciliation", "payment.reconcile",
             _get("/cycles/{cycle_run_id}/reconciliation"), area=DISTRICT),
    Endpoint("payment", "GET", "/ledger", "payment.reconcile", _get("/ledger?case_id={case_id}"),
             area=TOWN),
    *_operations("payment"),
    # -- audit --
    # The archive's integrity and its signed checkpoints: hashes and counts, no case's content.
    Endpoint("audit", "GET", "/verify", "audit.read", _get("/verify")),
    Endpoint("audit", "GET", "/checkpoints", "audit.read", _get("/checkpoints")),
    # A chain and the access log hold every district's events and queries in one order: for
    # nationwide auditors and administrators only (area "" is covered by "everywhere" alone).
    Endpoint("audit", "GET", "/records", "audit.read",
             _get("/records?topic=onedoor.applications&limit=1000"), area=""),
    Endpoint("audit", "GET", "/access-log", "audit.read", _get("/access-log?limit=1000"),
             area=""),
    Endpoint("audit", "GET", "/reports/{name}", "audit.read",
             _get("/reports/overdue?region=" + DISTRICT), area=DISTRICT),
    # Audit places a case by its id's first six digits, its district: a town's auditor is
    # refused even their own town's case (over-strict, not a leak).
    Endpoint("audit", "GET", "/cases/{case_id}", "audit.read", _get("/cases/{case_id}"),
             area=DISTRICT),
    Endpoint("audit", "GET", "/recipients/{region_code}", "audit.read",
             _get("/recipients/" + DISTRICT), area=DISTRICT),
    *_operations("audit"),
]


# -- expectations -----------------------------------------------------------------------------

@dataclass(frozen=True)
class Expected:
    status: int | None  # 401 or 403; None: through the checks
    listed: bool | None = None  # for a list: whether the case must be in the answer

    def __str__(self) -> str:
        if self.status is not None:
            return str(self.status)
        return "allowed" + {None: "", True: "-listed", False: "-unlisted"}[self.listed]


def expected(endpoint: Endpoint, caller: Caller) -> Expected:
    if endpoint.needs == PUBLIC:
        return Expected(None)
    if endpoint.needs == PARTNER_CREDENTIAL:
        return Expected(None if caller is DEPARTMENT else 401)
    if endpoint.department_too and caller is DEPARTMENT:
        return Expected(None)
    if caller.role is None:
        return Expected(401)
    if caller.role not in PERMISSIONS[endpoint.needs]:
        return Expected(403)
    if endpoint.area is not None and not caller.covers(endpoint.area):
        return Expected(403)
    return Expected(None, caller.covers(TOWN) if endpoint.shows else None)


def _callers(endpoint: Endpoint) -> list[Caller]:
    if endpoint.needs == PUBLIC:  # anyone: without a token, with a bad one, with a good one
        return [NO_TOKEN, MALFORMED, STAFF[0]]
    return ALL_CALLERS


def _matrix() -> Iterator[Any]:
    for endpoint in ENDPOINTS:
        for caller in _callers(endpoint):
            want = expected(endpoint, caller)
            yield pytest.param(endpoint, caller, id=f"{endpoint.name}-{caller.name}-{want}")


# -- the services, seeded ---------------------------------------------------------------------

@dataclass(repr=False)
class System:
    settings: Settings
    apps: dict[str, FastAPI]
    engines: dict[str, Engine]  # the test's own engines on each service's database
    tokens: DevTokens
    seed: Seed = field(default_factory=Seed)
    http: dict[str, TestClient] = field(default_factory=dict)
    # Outbox rows already carried, per service; audit's next offset per topic.
    carried: dict[str, int] = field(default_factory=dict)
    offsets: dict[str, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        # No context manager: the lifespan (migrations, relay, consumer) stays off.
        self.http = {name: TestClient(app) for name, app in self.apps.items()}

    def __repr__(self) -> str:
        return f"System({self.settings.database_url('intake').split(':')[0]}, {self.seed})"

    def headers(self, caller: Caller) -> dict[str, str]:
        if caller.role is not None:
            assert caller.jurisdiction is not None
            subject = f"matrix-{caller.role}-{caller.jurisdiction or 'all'}"
            return self.tokens.headers(caller.role, subject, caller.jurisdiction)
        issuer, _ = load_token_keys(self.settings)
        assert issuer is not None
        if caller is NO_TOKEN:
            return {}
        if caller is MALFORMED:
            return {"Authorization": "Bearer not-a-token"}
        if caller is EXPIRED:
            return bearer(issuer.issue("matrix-admin", Role.ADMINISTRATOR, "", timedelta(hours=1),
                                       now=datetime.now(UTC) - timedelta(hours=2)))
        if caller is UNKNOWN_KEY:
            return bearer(TokenIssuer(Ed25519PrivateKey.generate()).issue(
                "matrix-admin", Role.ADMINISTRATOR, "", timedelta(hours=1)))
        assert caller is DEPARTMENT
        return bearer(demo_token("bank"))

    def send(self, endpoint: Endpoint, caller: Caller) -> Any:
        call = endpoint.call(self.seed)
        headers = {**call.headers, **self.headers(caller)}
        if endpoint.idempotency_key:
            headers["Idempotency-Key"] = endpoint.idempotency_key
        return self.http[endpoint.service].request(
            endpoint.method, call.url, json=call.json, content=call.content, headers=headers)


def _ok(response: Any, *codes: int) -> Any:
    assert response.status_code in (codes or (200,)), response.text
    return response.json()


def _carry(system: System) -> None:
    """What the relays and consumers would do: every event in an outbox goes to the services
    whose consumers handle its type, and into audit's archive; until nothing new is written."""
    readers = {"intake": INTAKE_HANDLERS, "verification": verification_handlers(
                   system.apps["verification"].state.monitoring),
               "approval": approval_handlers(system.apps["approval"].state.policy),
               "payment": PAYMENT_HANDLERS}
    moved = True
    while moved:
        moved = False
        for source in readers:
            outbox = system.apps[source].state.runtime.bus.outbox
            with system.engines[source].connect() as conn:
                rows = conn.execute(select(outbox).where(outbox.c.id > system.carried.get(
                    source, 0)).order_by(outbox.c.id)).mappings().all()
            incoming = []
            for row in rows:
                moved = True
                system.carried[source] = row["id"]
                headers = [(k, v.encode()) for k, v in json.loads(row["headers"])]
                envelope = from_record(row["value"], headers)
                offset = system.offsets.get(row["topic"], 0)
                system.offsets[row["topic"]] = offset + 1
                incoming.append(Incoming(row["topic"], 0, offset, row["key"], headers,
                                         row["value"]))
                for reader, table in readers.items():
                    handler = table.get(type(envelope.data))  # type: ignore[call-overload]
                    if handler is None:
                        continue
                    with system.apps[reader].state.runtime.uow() as uow:
                        handler(envelope.data, envelope, uow)
                        uow.commit()
            if incoming:
                with system.engines["audit"].begin() as conn:
                    archive(conn, incoming)


def _application(applicant: str, **extra: Any) -> dict[str, Any]:
    """A pensioner living alone in the town, whom the pre-assessment finds eligible."""
    return {"region_code": DISTRICT, "town_code": TOWN, "programme": "dibao", **extra,
            "members": [{"name": "王秀英", "resident_id": applicant, "relation": "applicant",
                         "consent_signed_on": TODAY,
                         "declared_incomes": [{"kind": "pension", "monthly_amount_fen": 60_000}]}]}


def _seed(system: System) -> None:
    seed, tokens, http = system.seed, system.tokens, system.http
    with system.apps["verification"].state.runtime.uow() as uow:  # what its lifespan would do
        PartnerRepository(uow.conn).set_token("bank", demo_token("bank"))
        uow.commit()

    published = http["verification"].post(
        "/partner-publications", content=PUBLICATION, headers={
            "Content-Type": "application/x-ndjson", **bearer(demo_token("bank"))})
    seed.publication_id = str(_ok(published, 201)["publication_id"])

    # The window takes the application in the town; the services hear of it.
    seed.applicant_id = resident_id(DISTRICT, date(1958, 3, 15), 2)
    seed.case_id = _ok(http["intake"].post("/applications", json=_application(
        seed.applicant_id, referrals=["medical"]), headers=tokens.clerk(TOWN)), 201)["case_id"]
    seed.new_application = _application(resident_id(DISTRICT, date(1960, 7, 1), 4))
    seed.applicant_ref = person_ref(system.settings.pseudonym_key.get_secret_value().encode(),
                                    seed.applicant_id)
    _carry(system)

    # Another household of the town, left at the town's review: its social worker surveys it,
    # with a photo of the household register.
    seed.survey_case_id = _ok(http["intake"].post("/applications", json=_application(
        resident_id(DISTRICT, date(1962, 5, 5), 6)), headers=tokens.clerk(TOWN)), 201)["case_id"]
    _carry(system)
    worker = tokens.headers(Role.SOCIAL_WORKER, "matrix-seed-social-worker", TOWN)
    _ok(http["approval"].post(f"/cases/{seed.survey_case_id}/surveys", content=SURVEY_FORM,
                              headers={**SURVEY_HEADERS, **worker}), 201)
    [survey] = _ok(http["approval"].get(f"/cases/{seed.survey_case_id}",
                                        headers=tokens.reviewer(TOWN)))["home_surveys"]
    seed.photo_id = survey["photos"][0]["photo_id"]

    # The town accepts it after a home survey; after the (shortened) notice the district approves.
    case = _ok(http["approval"].get(f"/cases/{seed.case_id}", headers=tokens.service()))
    assert case["stage"] == "awaiting_review" and case["assessment"]["eligible"], case
    seed.assessment_id = case["assessment_id"]
    seed.referral_id = case["referrals"][0]["referral_id"]
    _ok(http["approval"].post(f"/cases/{seed.case_id}/actions", headers=tokens.reviewer(TOWN),
                              json={"action": "accept", "note": "as assessed", "home_survey": {
                                  "surveyed_on": TODAY, "surveyors": "t-1, t-2",
                                  "findings": "lives alone"}}))
    _ok(http["approval"].post(f"/cases/{seed.case_id}/actions", headers=tokens.approver(DISTRICT),
                              json={"action": "approve", "note": "as assessed"}))
    _carry(system)

    # Payment: the town registers the account; the district runs the month, sends the file to
    # the bank and imports its answer (the payment failed: the account was closed).
    pay, approver = http["payment"], tokens.approver(DISTRICT)
    [first] = _ok(pay.get(f"/cases/{seed.case_id}/payments", headers=approver))["payments"]
    seed.payment_id, seed.month = first["payment_id"], first["period"]
    _ok(pay.put(f"/cases/{seed.case_id}/account", headers=tokens.clerk(TOWN), json={
        "bank_code": "ICBC", "account_number": "6222 0212 3456 7890 123", "holder_name": "王秀英"}))
    seed.cycle_run_id = _ok(pay.post("/cycles", headers=approver, json={
        "month": seed.month, "region_code": DISTRICT}), 202)["run_id"]
    system.apps["payment"].state.runner.join(30)
    [bank_file] = _ok(pay.post(f"/cycles/{seed.cycle_run_id}/bank-files",
                               headers=approver))["files"]
    seed.file_id = bank_file["file_id"]
    disbursement = pay.get(f"/bank-files/{seed.file_id}", headers=approver)
    assert disbursement.status_code == 200, disbursement.text
    seed.results = settle(disbursement.text, fail=lambda line: "account closed").encode()
    _ok(pay.post("/bank-files/results", content=seed.results,
                 headers={"content-type": "text/csv", **approver}))
    seed.batch = {"reference": "matrix-price-linked", "region_code": DISTRICT,
                  "month": seed.month, "programmes": ["dibao"], "amount_fen": 5_000,
                  "reason": "access matrix"}
    seed.batch_run_id = _ok(pay.post("/batches", headers=approver, json=seed.batch),
                            202)["run_id"]
    system.apps["payment"].state.runner.join(30)
    _carry(system)

    # Audit: the archive is signed, and an auditor of the district has looked at the case.
    with system.engines["audit"].begin() as conn:
        checkpoint(conn, system.apps["audit"].state.signer)
    district_auditor = tokens.headers(Role.AUDITOR, "matrix-seed-auditor", DISTRICT)
    _ok(http["audit"].get(f"/cases/{seed.case_id}", headers=district_auditor))
    _ok(http["intake"].post("/identity-lookups", headers=district_auditor, json={
        "person_ref": seed.applicant_ref, "reason": "access matrix: the seeded lookup"}))

    # Monitoring: the applicant's death raises a warning on the case; a stranger's large medical
    # bills a lead for the town.
    for department in ("public_security", "medical_insurance"):
        with system.apps["verification"].state.runtime.uow() as uow:
            PartnerRepository(uow.conn).set_token(department, demo_token(department))
            uow.commit()
    _ok(http["verification"].post("/partner-records", headers=bearer(demo_token(
        "public_security")), json={"records": [{
            "record_id": "matrix-death", "kind": "death", "resident_id": seed.applicant_id,
            "amount_fen": 0, "as_of": TODAY}]}))
    _ok(http["verification"].post("/partner-records", headers=bearer(demo_token(
        "medical_insurance")), json={"records": [{
            "record_id": "matrix-bill", "kind": "large_medical_bill", "town_code": TOWN,
            "resident_id": resident_id(DISTRICT, date(1966, 6, 6), 5),
            "amount_fen": 5_000_000, "as_of": TODAY}]}))
    [warning] = _ok(http["verification"].get("/warnings", headers=tokens.reviewer(TOWN)))[
        "warnings"]
    [lead] = _ok(http["verification"].get("/leads", headers=tokens.reviewer(TOWN)))["leads"]
    seed.warning_id, seed.lead_id = warning["warning_id"], lead["lead_id"]
    # The town's reviewer asks who the lead is: no live source answers for medical insurance
    # here, and the look-up is logged all the same (and listed to auditors).
    looked_up = http["verification"].post(
        f"/leads/{seed.lead_id}/person", headers=tokens.reviewer(TOWN),
        json={"reason": "access matrix: the seeded look-up"})
    assert looked_up.status_code == 409 and "logged" in looked_up.text, looked_up.text
    _carry(system)

    # Policy: one figure proposed and approved by two officers (its recalculation is queued),
    # another proposed and waiting.
    first = tokens.headers(Role.POLICY_OFFICER, "matrix-seed-officer-1", DISTRICT)
    second = tokens.headers(Role.POLICY_OFFICER, "matrix-seed-officer-2", DISTRICT)
    published = _ok(http["approval"].post("/policy/proposals", headers=first, json=PROPOSAL),
                    201)
    seed.job_id = _ok(http["approval"].post(f"/policy/proposals/{published['proposal_id']}"
                                            "/approve", headers=second, json={})
                      )["recalculation_job_id"]
    seed.proposal_id = _ok(http["approval"].post("/policy/proposals", headers=first, json={
        **PROPOSAL, "value": 110_700}), 201)["proposal_id"]

    # Every request that takes an Idempotency-Key is made once in the place, with the key the
    # matrix sends again: a caller elsewhere must not get the remembered answer.
    for endpoint in ENDPOINTS:
        if endpoint.idempotency_key:
            insider = next(c for c in STAFF if expected(endpoint, c).status is None)
            answer = system.send(endpoint, insider)
            assert answer.status_code < 400 or answer.status_code == 409, answer.text
            system.apps["payment"].state.runner.join(30)


@contextlib.contextmanager
def _system(urls: dict[str, str], data_dir: Path) -> Iterator[System]:
    settings = load_settings(env="test", data_dir=data_dir, policy_paths=POLICY_PATHS,
                             **{f"{name}_database_url": url for name, url in urls.items()})
    with contextlib.ExitStack() as stack:
        engines = {name: stack.enter_context(migrated_engine(url, name))
                   for name, url in urls.items()}
        apps = {name: CREATE_APP[name](settings) for name in SERVICES}
        for app in apps.values():
            stack.callback(app.state.runtime.engine.dispose)
        stack.callback(apps["payment"].state.runner.join, 30)
        system = System(settings, apps, engines, DevTokens(settings))
        for client in system.http.values():
            stack.callback(client.close)
        _seed(system)
        yield system


@pytest.fixture(scope="module",
                params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def system(request: pytest.FixtureRequest,
           tmp_path_factory: pytest.TempPathFactory) -> Iterator[System]:
    data_dir = tmp_path_factory.mktemp(f"access-matrix-{request.param}")
    if request.param == "sqlite":
        with _system({name: f"sqlite:///{data_dir / name}.db" for name in SERVICES},
                     data_dir) as running:
            yield running
        return
    databases = PostgresDatabases()
    try:
        with _system({name: databases.create() for name in SERVICES}, data_dir) as running:
            yield running
    finally:
        databases.drop_all()


# -- the tests --------------------------------------------------------------------------------

def _routes(app: FastAPI) -> set[tuple[str, str]]:
    """(method, path) of every route the app answers, routers included."""
    try:  # FastAPI ≥ 0.16x includes routers lazily: app.routes holds the routers themselves
        from fastapi.routing import iter_route_contexts
        routes: list[Any] = list(iter_route_contexts(app.routes))
    except ImportError:
        routes = list(app.routes)
    return {(method, route.path) for route in routes
            for method in (route.methods or ()) if method != "HEAD"}


@pytest.mark.parametrize("service", SERVICES)
def test_every_route_is_in_the_matrix(service: str, tmp_path: Path) -> None:
    """A route nobody put in ENDPOINTS fails here, and so does an entry for a route gone."""
    app = CREATE_APP[service](load_settings(env="test", data_dir=tmp_path))
    declared = {(e.method, e.path) for e in ENDPOINTS if e.service == service}
    assert _routes(app) == declared


def test_the_matrix_names_real_permissions() -> None:
    guards = {PUBLIC, PARTNER_CREDENTIAL}
    assert {e.needs for e in ENDPOINTS} - guards <= set(PERMISSIONS)
    assert len({e.name for e in ENDPOINTS}) == len(ENDPOINTS)
    # Every place-bound endpoint is checked from inside and from outside its place.
    for endpoint in ENDPOINTS:
        if endpoint.needs in PERMISSIONS and (endpoint.area or endpoint.shows):
            outcomes = {expected(endpoint, c) for c in STAFF}
            assert len({o for o in outcomes if o.status is None}) >= 1, endpoint.name
            assert Expected(403) in outcomes or Expected(None, False) in outcomes, endpoint.name


@pytest.mark.parametrize(("endpoint", "caller"), list(_matrix()))
def test_access(system: System, endpoint: Endpoint, caller: Caller,
                caplog: pytest.LogCaptureFixture) -> None:
    want = expected(endpoint, caller)
    with caplog.at_level(logging.INFO, logger="onedoor.access"):
        response = system.send(endpoint, caller)
    said = f"{endpoint.method} {response.url} → {response.status_code}: {response.text[:300]}"
    if want.status is not None:
        assert response.status_code == want.status, said
        if want.status == 401:
            assert response.headers.get("www-authenticate", "").startswith("Bearer"), said
        if endpoint.needs in PERMISSIONS:  # shared.auth logs it
            outcome = "unauthenticated" if want.status == 401 else "forbidden"
            assert [r for r in caplog.records if r.name == "onedoor.access"
                    and getattr(r, "outcome", None) == outcome], f"refusal not logged: {said}"
        return
    not_ready = (503,) if endpoint.path == READINESS else ()
    assert response.status_code in (200, 201, 202, 204, 404, 409, 422, *not_ready), said
    if want.listed is not None:
        assert (endpoint.shows(system.seed) in response.text) is want.listed, said  # type: ignore[misc]
