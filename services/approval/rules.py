"""Approval's rules as another service may run them: the one seam through which audit re-runs
approval's assessments (services/audit/domain/replay.py) — the facts an assessment reads, the
assessment itself, how its result is stated on the bus, the policy table and the policy packaged
with approval. Nothing here reaches approval's database, bus or HTTP wiring.
"""

from __future__ import annotations

from pathlib import Path

from services.approval.domain.assessment import Assessment, Benefit, assess
from services.approval.domain.facts import (
    CaseFacts,
    ReportFindings,
    application_facts,
    report_findings,
    with_findings,
)
from services.approval.domain.policy import Figure, PolicyTable, load_policy
from services.approval.domain.reassessment import add_months
from services.approval.domain.stated import benefits, reasons
from services.approval.domain.trace import Check
from services.approval.domain.workflow import HOUSEHOLD_STATUS_ORDER, RUNNING

__all__ = ["DEFAULT_POLICY", "HOUSEHOLD_STATUS_ORDER", "RUNNING", "Assessment", "Benefit",
           "CaseFacts", "Check", "Figure", "PolicyTable", "ReportFindings", "add_months",
           "application_facts", "assess",
           "benefits", "load_policy", "reasons", "report_findings", "with_findings"]

# The policy files approval ships with: what it decides by unless settings name others.
DEFAULT_POLICY = Path(__file__).parent / "policies"
