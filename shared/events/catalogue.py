"""Every event type OneDoor publishes, one Pydantic model each: the index of the contract.

The models live one module a topic, each topic with its one writer — ``applications`` (intake),
``verifications`` and ``monitoring`` (verification), ``decisions``, ``referrals`` and ``policy``
(approval), ``payments`` (payment) — and the words they share in ``vocabulary``. This module
imports them all, so that importing it registers every type for decoding (``base.lookup``), and
names them all, so that a service reads the contract from one place:
``from shared.events.catalogue import ApplicationDecided``.

Money is integer fen. Persons appear only as pseudonymous references (``person_ref``), never by
name or resident ID number: this log is kept for years and replayed by auditors.

No text a person typed is published either (issue 21): staff notes, objections, survey findings,
justifications and partner departments' answers can hold anything — a phone number, an ID number
read out at the window — and the archive keeps every event forever. The service that owns such
text keeps it (approval's ``GET /cases/{id}``, for those entitled to the case) and its events say
only that there is some (``has_note``). Text that code composes from codes and figures (a rule's
detail, a composed reason) may travel. Events archived before this carried the text: their old
fields are still read, and dropped on the way in (``vocabulary.without_typed_text``).
"""

from __future__ import annotations

from shared.events.applications import (
    ApplicationSubmitted,
    DeclaredIncome,
    MemberFacts,
    SupporterFacts,
    TemporaryRequest,
)
from shared.events.base import Event
from shared.events.decisions import (
    NOTE_ON_FILE,
    STAFF_DECISION,
    ApplicationDecided,
    Benefit,
    BenefitChanged,
    CaseAssessed,
    CaseStageChanged,
    ConsentRecorded,
    DecisionReason,
    HomeSurveyRecorded,
    HouseholdRecognised,
    PolicyParameter,
    ReassessmentRequested,
    Stage,
)
from shared.events.monitoring import (
    DiscoveryLeadClosed,
    DiscoveryLeadPersonLookedUp,
    DiscoveryLeadRaised,
    EarlyWarningClosed,
    EarlyWarningRaised,
    LeadOutcome,
    PersonLookupOutcome,
    Tier,
    WarningOutcome,
)
from shared.events.payments import PaymentHeld, PaymentScheduled, PaymentSettled
from shared.events.policy import POLICY_KEY, PolicyPublished
from shared.events.referrals import ReferralAnswered, ReferralRequested
from shared.events.verifications import (
    AssetSummary,
    KindIncome,
    MemberIncome,
    ReportFlag,
    SourceFreshness,
    VerificationReported,
    VerificationWithheld,
    WithheldOccasion,
)
from shared.events.vocabulary import (
    ChildCare,
    IncomeKind,
    Month,
    ParentSituation,
    PaymentKind,
    Programme,
    ReferralKind,
    Relation,
    Schooling,
    SelfCare,
)

# Grouped by topic in the imports above.
__all__ = [
    "NOTE_ON_FILE", "POLICY_KEY", "STAFF_DECISION", "ApplicationDecided", "ApplicationSubmitted",
    "AssetSummary", "Benefit", "BenefitChanged", "CaseAssessed", "CaseStageChanged", "ChildCare",
    "ConsentRecorded", "DecisionReason", "DeclaredIncome", "DiscoveryLeadClosed",
    "DiscoveryLeadPersonLookedUp", "DiscoveryLeadRaised", "EarlyWarningClosed",
    "EarlyWarningRaised", "Event", "HomeSurveyRecorded", "HouseholdRecognised", "IncomeKind",
    "KindIncome", "LeadOutcome", "MemberFacts", "MemberIncome", "Month", "ParentSituation",
    "PaymentHeld", "PaymentKind", "PaymentScheduled", "PaymentSettled", "PersonLookupOutcome",
    "PolicyParameter", "PolicyPublished", "Programme", "ReassessmentRequested", "ReferralAnswered",
    "ReferralKind", "ReferralRequested", "Relation", "ReportFlag", "Schooling", "SelfCare",
    "SourceFreshness", "Stage", "SupporterFacts", "TemporaryRequest", "Tier",
    "VerificationReported", "VerificationWithheld", "WarningOutcome", "WithheldOccasion",
]
