"""Scripted staff for the demo, the tests and the benchmark: a town reviewer and a district
approver who follow the pre-assessment.

Real reviewers read the report and visit the household; this script accepts what the
pre-assessment found eligible (recording a home survey), rejects what it found not eligible
(with its reasons), leaves undecidable cases alone, and approves once the public notice is over.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any

import httpx

from deploy.tokens import DevTokens

TOWN, DISTRICT, CLERK = "town_reviewer", "district_approver", "window_clerk"
SURVEY = {"surveyors": "demo-town-1, demo-town-2",
          "findings": "household as declared (scripted demo survey)"}
# Where the script has nothing more to do: decided, or waiting on time or a person.
SETTLED = {"approved", "rejected", "advance_paid", "follow_up", "exiting", "suspended",
           "terminated", "returned"}


class Staff:
    """Each action is taken by a person of the case's own town or district, signed in with a
    development token: the API checks role and jurisdiction for the script as for anyone."""

    def __init__(self, approval_url: str, tokens: DevTokens) -> None:
        self.client = httpx.Client(base_url=approval_url, timeout=30)
        self.tokens = tokens
        self._areas: dict[str, tuple[str, str | None]] = {}  # case -> (district, town)

    def close(self) -> None:
        self.client.close()

    def act(self, case_id: str, action: str, role: str, **body: Any) -> httpx.Response:
        district, town = self._areas.get(case_id) or self._area(case_id)
        who = {TOWN: self.tokens.reviewer(town or district),
               CLERK: self.tokens.clerk(town or district),
               DISTRICT: self.tokens.approver(district)}[role]
        return self.client.post(f"/cases/{case_id}/actions", json={"action": action, **body},
                                headers=who)

    def _area(self, case_id: str) -> tuple[str, str | None]:
        self._read(case_id)
        return self._areas[case_id]

    def _read(self, case_id: str) -> dict[str, Any] | None:
        response = self.client.get(f"/cases/{case_id}", headers=self.tokens.service())
        if response.status_code == 404:
            return None
        response.raise_for_status()
        case: dict[str, Any] = response.json()
        self._areas[case_id] = (case["region_code"], case.get("town_code"))
        return case

    def step(self, case_id: str) -> str | None:
        """One look at a case, one action if it is due; the stage afterwards (None: not here)."""
        case = self._read(case_id)
        if case is None:
            return None
        stage: str = case["stage"]
        assessment = case.get("assessment") or {}
        if stage == "awaiting_review" and assessment:
            if assessment["eligible"] is True:
                today = datetime.now(UTC).date().isoformat()
                done = self.act(case_id, "accept", TOWN, note="report and survey agree",
                                home_survey={**SURVEY, "surveyed_on": today})
            elif assessment["eligible"] is False:
                failed = [r["detail"] for r in assessment["reasons"] if not r["passed"]]
                done = self.act(case_id, "reject", TOWN,
                                note="pre-assessment failed: " + "; ".join(failed))
            else:
                return stage  # undecidable: a person must decide
            return str(done.json().get("stage", stage)) if done.status_code == 200 else stage
        if stage == "awaiting_approval" or (stage == "under_notice" and _notice_over(case)):
            done = self.act(case_id, "approve", DISTRICT, note="approved as assessed")
            return str(done.json().get("stage", stage)) if done.status_code == 200 else stage
        return str(stage)

    def work(self, case_ids: list[str], until: set[str] | None = None,
             timeout_s: float = 60) -> dict[str, str | None]:
        """Act on the cases until each reaches one of ``until`` (default: settled)."""
        until = until or SETTLED
        stages: dict[str, str | None] = {c: None for c in case_ids}
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            for case_id in case_ids:
                if stages[case_id] not in until:
                    stages[case_id] = self.step(case_id)
            if all(s in until for s in stages.values()):
                break
            time.sleep(0.2)
        return stages


def _notice_over(case: dict[str, Any]) -> bool:
    ends = case.get("notice_ends_at")
    if ends is None:
        return False
    notice_end = datetime.fromisoformat(ends)
    if notice_end.tzinfo is None:
        notice_end = notice_end.replace(tzinfo=UTC)
    return notice_end <= datetime.now(UTC) and not any(
        o["status"] == "open" for o in case.get("objections", []))
