"""Every access to partner data is logged and listed to auditors within their jurisdiction: the
reports verification builds, and the reports people read — on real SQLite and PostgreSQL."""

from __future__ import annotations

from deploy.tokens import DevTokens
from tests.integration import test_partner_publications as publications
from tests.integration.test_monitoring import CASE, MOTHER, TOWN, apply, publish
from tests.integration.test_partner_publications import rec

service = publications.service  # the verification service on SQLite and PostgreSQL


def accesses(service, headers, **params):
    response = service.get("/partner-data-access?" + "&".join(
        f"{k}={v}" for k, v in params.items()), headers)
    assert response.status_code == 200, response.text
    return response.json()["accesses"]


def test_built_and_read_reports_are_logged_with_their_sources(service):
    tokens = DevTokens(service.settings)
    publish(service, "hr_social_security", rec("w-1", "wage", MOTHER, 150_000))
    apply(service)
    reviewer = tokens.reviewer(TOWN)
    assert service.get(f"/reports/{CASE}", reviewer).status_code == 200
    auditor = tokens.auditor()
    found = accesses(service, auditor, case_id=CASE)
    assert [(a["actor"], a["purpose"], a["sources"]) for a in found] == [
        ("demo-town-" + TOWN, "report_read", ["hr_social_security"]),
        ("verification", "application", ["hr_social_security"])]
    assert found[0]["role"] == "town_reviewer" and found[0]["town_code"] == TOWN
    # Auditors of the district see it; of another district nothing; case workers may not list.
    district = tokens.headers("auditor", "au-district", "330282")
    assert len(accesses(service, district)) == 2
    assert accesses(service, tokens.headers("auditor", "au-other", "330281")) == []
    assert service.get("/partner-data-access", reviewer).status_code == 403


def test_a_refused_read_is_not_a_read(service):
    tokens = DevTokens(service.settings)
    apply(service)
    assert service.get(f"/reports/{CASE}", tokens.reviewer("330282102")).status_code == 403
    assert [a["purpose"] for a in accesses(service, tokens.auditor())] == ["application"]


