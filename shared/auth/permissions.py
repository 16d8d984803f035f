"""Which role may do what: the permission table every route's ``require`` names."""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

from shared.auth.principals import Principal, Role

_R = Role
PERMISSIONS: Mapping[str, frozenset[Role]] = MappingProxyType({
    "case.submit": frozenset({_R.WINDOW_CLERK}),
    # SERVICE reads cases because the CLI and the demo follow a case to its end. Machine tokens
    # get nothing else but the payment run: one leaked from a job or a laptop must not browse the
    # audit archive, resolve persons or move money anywhere but through the run's own rules.
    "case.read": frozenset({_R.WINDOW_CLERK, _R.TOWN_REVIEWER, _R.DISTRICT_APPROVER,
                            _R.AUDITOR, _R.ADMINISTRATOR, _R.SERVICE}),
    # Finding a person's cases by resident ID number: the window and the case workers, never a
    # machine. Auditors resolve pseudonyms through the logged identity lookup instead.
    "case.search": frozenset({_R.WINDOW_CLERK, _R.TOWN_REVIEWER, _R.DISTRICT_APPROVER}),
    # Acting on a case in the workflow. Which action each role may take in which stage is the
    # workflow's rule (services/approval/domain/workflow.py), checked there with the token's role.
    "case.act": frozenset({_R.WINDOW_CLERK, _R.TOWN_REVIEWER, _R.DISTRICT_APPROVER}),
    "case.review": frozenset({_R.TOWN_REVIEWER}),
    "case.approve": frozenset({_R.DISTRICT_APPROVER}),
    # Recording another department's answer to a referral (专项救助), as it reaches the case.
    "referral.answer": frozenset({_R.TOWN_REVIEWER, _R.DISTRICT_APPROVER}),
    "payment.account.write": frozenset({_R.WINDOW_CLERK}),
    "payment.run": frozenset({_R.DISTRICT_APPROVER, _R.ADMINISTRATOR, _R.SERVICE}),
    "payment.bank_file.read": frozenset({_R.DISTRICT_APPROVER, _R.ADMINISTRATOR}),
    "payment.reconcile": frozenset({_R.DISTRICT_APPROVER, _R.AUDITOR, _R.ADMINISTRATOR}),
    "audit.read": frozenset({_R.AUDITOR, _R.ADMINISTRATOR}),
    "identity.lookup": frozenset({_R.AUDITOR, _R.ADMINISTRATOR}),
    # The list of partner departments' bulk publications and their rejected lines (each
    # department also reads its own, with its own credential: services/verification).
    "partner.publications.read": frozenset({_R.ADMINISTRATOR}),
    # Early warnings and discovery leads: the town's queue. The window clerk sees it (people
    # walk in), auditors read it; the case workers close items with an outcome.
    "monitoring.read": frozenset({_R.WINDOW_CLERK, _R.TOWN_REVIEWER, _R.DISTRICT_APPROVER,
                                  _R.AUDITOR, _R.ADMINISTRATOR}),
    "monitoring.close": frozenset({_R.TOWN_REVIEWER, _R.DISTRICT_APPROVER}),
    # Who a discovery lead is, asked of the department that owns its record (issue 26): the
    # case workers who must visit, with a reason; every look-up is logged for auditors.
    "monitoring.person_lookup": frozenset({_R.TOWN_REVIEWER, _R.DISTRICT_APPROVER}),
    # The bureau's policy figures: one officer proposes, another approves (four eyes: the
    # workflow refuses the proposer's own approval). Auditors and approvers read the history.
    "policy.propose": frozenset({_R.POLICY_OFFICER}),
    "policy.approve": frozenset({_R.POLICY_OFFICER}),
    "policy.read": frozenset({_R.POLICY_OFFICER, _R.DISTRICT_APPROVER, _R.AUDITOR,
                              _R.ADMINISTRATOR}),
    # The home survey (入户调查, issue 26): a town's social workers — and its reviewers, who
    # visit too — see the town's cases waiting for the town's review (a case reference, the
    # programme, the household's size: no name, no decision) and record a survey of one. Nothing
    # else: a social worker reads no case, decides nothing and looks nobody up.
    "survey.record": frozenset({_R.SOCIAL_WORKER, _R.TOWN_REVIEWER}),
    "admin": frozenset({_R.ADMINISTRATOR}),
})


def allowed(principal: Principal, permission: str) -> bool:
    """Whether the principal's role grants ``permission``; KeyError for a name not in the table,
    so that a typo fails loudly instead of refusing (or granting) quietly."""
    return principal.role in PERMISSIONS[permission]
