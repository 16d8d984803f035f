"""No event carries text a person typed (issue 21): every text field of every event is reviewed
here, and events archived before the change still decode — without their typed text."""

from __future__ import annotations

import json
import typing
from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel

from services.intake.service_layer import summaries
from shared.events import catalogue as ev
from shared.events.base import lookup, registered_types

# Every text field of every event, and why what it holds is not typed by a person. A new text
# field fails test_every_text_field_of_every_event_is_reviewed until it is added here — or,
# if people type it, kept in the service that owns it, the event saying only that there is one.
IDS = "an id or pseudonymous reference made by code"
CODE = "a code, date or month checked by its pattern or by the code that sets it"
COMPOSED = "composed by code from codes and figures, never from typed text"
REVIEWED = {
    **dict.fromkeys([
        "ApplicationDecided.beneficiary_ref", "ApplicationDecided.benefits.person_ref",
        "ApplicationDecided.case_id", "ApplicationDecided.decision_id",
        "ApplicationDecided.member_refs", "ApplicationSubmitted.case_id",
        "ApplicationSubmitted.members.person_ref", "BenefitChanged.beneficiary_ref",
        "BenefitChanged.case_id", "CaseAssessed.assessment_id", "CaseAssessed.benefits.person_ref",
        "CaseAssessed.case_id", "CaseAssessed.report_id", "CaseStageChanged.case_id",
        "DiscoveryLeadClosed.application_case_id", "DiscoveryLeadClosed.case_id",
        "DiscoveryLeadClosed.lead_id", "DiscoveryLeadRaised.case_id", "DiscoveryLeadRaised.lead_id",
        "DiscoveryLeadRaised.person_ref", "DiscoveryLeadPersonLookedUp.case_id",
        "DiscoveryLeadPersonLookedUp.lookup_id", "DiscoveryLeadPersonLookedUp.lead_id",
        "DiscoveryLeadPersonLookedUp.looked_up_by", "EarlyWarningClosed.case_id",
        "EarlyWarningClosed.warning_id", "EarlyWarningRaised.case_id",
        "EarlyWarningRaised.person_ref", "EarlyWarningRaised.warning_id",
        "HomeSurveyRecorded.case_id", "HomeSurveyRecorded.survey_id",
        "HouseholdRecognised.case_id", "HouseholdRecognised.member_refs", "PaymentHeld.case_id",
        "PaymentHeld.payment_id", "PaymentScheduled.beneficiary_ref", "PaymentScheduled.case_id",
        "PaymentScheduled.payment_id", "PaymentScheduled.reissue_of", "PaymentScheduled.run_id",
        "PaymentSettled.bank_file_id", "PaymentSettled.case_id", "PaymentSettled.payment_id",
        "ReassessmentRequested.case_id", "ReferralAnswered.case_id",
        "ReferralAnswered.referral_id", "ReferralRequested.case_id",
        "ReferralRequested.member_refs", "ReferralRequested.referral_id",
        "VerificationReported.applicant_ref", "VerificationReported.case_id",
        "VerificationReported.flags.person_ref", "VerificationReported.members.person_ref",
        "VerificationReported.report_id",
        "VerificationWithheld.case_id", "VerificationWithheld.member_refs",
        "ConsentRecorded.case_id", "ConsentRecorded.member_refs",
        # staff ids from the signed-in token ("town_reviewer:t-017"), not a name
        "CaseStageChanged.actor", "DiscoveryLeadClosed.closed_by", "EarlyWarningClosed.closed_by",
        "PolicyPublished.case_id", "PolicyPublished.proposal_id", "PolicyPublished.proposed_by",
        "PolicyPublished.approved_by",
    ], IDS),
    **dict.fromkeys([
        "ApplicationDecided.region_code", "ApplicationDecided.town_code",
        "ApplicationDecided.start_month", "ApplicationDecided.policy_version",
        "ApplicationSubmitted.region_code", "ApplicationSubmitted.town_code",
        "BenefitChanged.effective_month", "BenefitChanged.end_month", "CaseAssessed.assessed_on",
        "CaseAssessed.policy_version", "CaseAssessed.region_code", "CaseStageChanged.action",
        "DiscoveryLeadRaised.kind", "DiscoveryLeadRaised.region_code",
        "DiscoveryLeadRaised.town_code", "EarlyWarningRaised.cause",
        # The department asked who a lead is: a code of verification's partner table (the
        # worker's reason and the person named stay out of the event).
        "DiscoveryLeadPersonLookedUp.region_code", "DiscoveryLeadPersonLookedUp.town_code",
        "DiscoveryLeadPersonLookedUp.department",
        "EarlyWarningRaised.indicator", "EarlyWarningRaised.region_code",
        "EarlyWarningRaised.town_code", "HouseholdRecognised.region_code",
        "HouseholdRecognised.valid_from", "PaymentHeld.period", "PaymentScheduled.period",
        "PaymentScheduled.region_code", "PaymentSettled.period", "ReferralRequested.region_code",
        "VerificationReported.region_code", "VerificationReported.flags.source",
        "VerificationReported.members.sources", "VerificationReported.members.by_kind.sources",
        "VerificationReported.sources.department",
        # A warning's or a lead's figures: whole numbers, dates and references, each checked
        # by its kind against its reason code's list (shared/monitoring_reasons.py).
        "EarlyWarningRaised.reason_params", "DiscoveryLeadRaised.reason_params",
        # A figure's name (one approval knows), its region and the policy digest; the officers'
        # source document and reason stay in approval.
        "PolicyPublished.name", "PolicyPublished.region_code", "PolicyPublished.policy_version",
        *(f"{m}.reasons.{f}" for m in ("ApplicationDecided", "CaseAssessed")
          for f in ("rule", "label_zh", "parameters.name", "parameters.region",
                    "parameters.effective_from", "parameters.source")),
    ], CODE),
    **dict.fromkeys([
        # The rules' details and figures; the staff decision's says only that a note is on file.
        "ApplicationDecided.reasons.detail", "ApplicationDecided.reasons.figures",
        "CaseAssessed.reasons.detail", "CaseAssessed.reasons.figures",
        # The workflow's summary of the assessment; the staff's own note stays in approval.
        "CaseStageChanged.explanation",
        # The reassessment's figures, or which staff action it was ("suspend by ...").
        "BenefitChanged.reason",
        # Verification's monitoring rules' words, from figures and counts, in events archived
        # before issue 26 only (read, never written since: a code and figures travel instead);
        # the closing notes of warnings and leads stay in verification.
        "EarlyWarningRaised.reason", "DiscoveryLeadRaised.reason",
        # Payment's last guard: the cap and the amounts.
        "PaymentHeld.reason",
    ], COMPOSED),
    # The bank's own words on a refused payment stay in payment (they may name the holder); the
    # event's reason_code is a Literal, so it is not text to review here.
}


def _has_text(annotation: Any) -> bool:
    origin = typing.get_origin(annotation)
    if origin is typing.Literal:
        return False
    if annotation is str:
        return True
    return any(_has_text(a) for a in typing.get_args(annotation))


def _parts(annotation: Any) -> typing.Iterator[type[BaseModel]]:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        yield annotation
    for a in typing.get_args(annotation):
        yield from _parts(a)


def _text_fields(model: type[BaseModel], prefix: str) -> set[str]:
    found = set()
    for name, info in model.model_fields.items():
        if _has_text(info.annotation):
            found.add(f"{prefix}.{name}")
        for part in _parts(info.annotation):
            found |= _text_fields(part, f"{prefix}.{name}")
    return found


def test_every_text_field_of_every_event_is_reviewed():
    found: set[str] = set()
    for type_ in registered_types():
        for version in range(1, 10):
            model = lookup(type_, version)
            if model is not None:
                found |= _text_fields(model, model.__name__)
    assert sorted(found - REVIEWED.keys()) == [], "a text field no one reviewed (see REVIEWED)"
    assert sorted(REVIEWED.keys() - found) == []


AT = datetime(2026, 11, 20, 9, tzinfo=UTC).isoformat()
NOTE = "联系人 手机 13912345678，身份证 330282195803150024"


def _stage(**data: Any) -> dict[str, Any]:
    return {"case_id": "c1", "sequence": 3, "from_stage": "awaiting_review",
            "to_stage": "returned", "action": "return", "actor": "town_reviewer:t-017",
            "changed_at": AT, **data}


def test_an_archived_stage_change_decodes_without_the_staff_note():
    old = ev.CaseStageChanged.model_validate_json(json.dumps(_stage(note=NOTE)))
    assert old.has_note and old.explanation is None
    assert "13912345678" not in old.model_dump_json()
    assert "13912345678" not in summaries.stage_changed(old)
    blank = ev.CaseStageChanged.model_validate(_stage(note="  "))
    assert not blank.has_note


def test_an_archived_system_change_keeps_its_composed_words_as_the_explanation():
    old = ev.CaseStageChanged.model_validate(_stage(
        actor="system", action="pre_assessed", to_stage="awaiting_review",
        note="eligible: 405.00 yuan/month"))
    assert (old.has_note, old.explanation) == (False, "eligible: 405.00 yuan/month")
    assert summaries.stage_changed(old) == \
        "待审核 awaiting the town's review: eligible: 405.00 yuan/month"


def test_an_archived_decision_decodes_without_its_justification_or_the_staff_note():
    old = {"case_id": "c1", "decision_id": "d1", "outcome": "rejected", "programme": "dibao",
           "region_code": "330282", "beneficiary_ref": "p-1", "household_size": 1,
           "monthly_amount_fen": 0, "start_month": None, "policy_version": "v1",
           "decided_at": AT, "decided_by": "town", "justification": NOTE, "reasons": [
               {"rule": "vehicles", "passed": False, "detail": "1 vehicles (at most 0)"},
               {"rule": "staff_decision", "passed": False, "detail": f"town rejected: {NOTE}"}]}
    decided = ev.ApplicationDecided.model_validate_json(json.dumps(old))
    assert decided.has_justification
    assert [r.detail for r in decided.reasons] == ["1 vehicles (at most 0)",
                                                   "town rejected (note on file)"]
    assert "13912345678" not in decided.model_dump_json()
    assert summaries.decided(decided) == ("不予批准 rejected: 1 vehicles (at most 0); town "
                                          "rejected (note on file), decided by the town")


def test_an_archived_referral_answer_decodes_without_the_departments_note():
    answer = ev.ReferralAnswered.model_validate({
        "case_id": "c1", "referral_id": "r1", "kind": "medical", "outcome": "granted",
        "amount_fen": 150_000, "note": NOTE, "answered_at": AT})
    assert answer.has_note and "13912345678" not in answer.model_dump_json()
    assert summaries.referral_answered(answer) == \
        "转介答复 医疗救助 medical assistance: granted, 1,500.00 yuan (意见已存档 note on file)"


def test_the_timeline_says_a_note_is_on_file():
    returned = ev.CaseStageChanged.model_validate(_stage(has_note=True))
    assert summaries.stage_changed(returned) == "退回补充材料 returned (意见已存档 note on file)"
