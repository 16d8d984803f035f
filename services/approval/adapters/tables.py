"""Approval's own tables: cases and their workflow, assessments with their inputs, decisions.

Only pseudonymous references are stored here: names and resident ID numbers stay in intake.
What staff and partner departments type (notes, objections, survey findings, justifications) is
kept here and nowhere else: events only say there is some.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Date,
    DateTime,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
)

from shared.uow import BusTables

metadata = MetaData()
bus = BusTables(metadata)

decisions = Table(
    "decisions",
    metadata,
    Column("case_id", String(40), primary_key=True),
    Column("decision_id", String(40), nullable=False, unique=True),
    Column("outcome", String(20), nullable=False),
    Column("region_code", String(6), nullable=False, index=True),
    Column("monthly_amount_fen", BigInteger, nullable=False),
    Column("body", Text, nullable=False),  # JSON of the ApplicationDecided event
    Column("decided_at", DateTime(timezone=True), nullable=False),
    # What the deciding staff typed: kept here, never in the event (issue 21).
    Column("note", Text, nullable=True),
    Column("justification", Text, nullable=True),  # one case, one discussion (一事一议)
)

cases = Table(
    "cases",
    metadata,
    Column("case_id", String(40), primary_key=True),
    Column("programme", String(20), nullable=False),
    Column("region_code", String(6), nullable=False),
    # The town or street whose staff handle the case (None before towns were recorded).
    Column("town_code", String(9), nullable=True),
    Column("stage", String(30), nullable=False),
    # Counts the case's stage changes; every update checks it, so two reviewers acting at once
    # cannot both win (the second gets a 409 and acts again on what the first did).
    Column("sequence", Integer, nullable=False),
    Column("emergency", Boolean, nullable=False),
    Column("facts", Text, nullable=False),  # JSON of CaseFacts from the application
    Column("assessment_id", String(40), nullable=True),
    Column("monthly_amount_fen", BigInteger, nullable=False),  # the running benefit, if any
    Column("due_at", DateTime(timezone=True), nullable=True),  # the stage's time limit
    Column("notice_ends_at", DateTime(timezone=True), nullable=True),
    Column("submitted_at", DateTime(timezone=True), nullable=False),
    Column("stage_since", DateTime(timezone=True), nullable=False),
)

case_members = Table(
    "case_members",
    metadata,
    Column("case_id", String(40), primary_key=True),
    Column("person_ref", String(40), primary_key=True, index=True),
)

reports = Table(
    "reports",
    metadata,
    Column("report_id", String(40), primary_key=True),
    Column("case_id", String(40), nullable=False, index=True),
    Column("body", Text, nullable=False),  # JSON of the VerificationReported event
    Column("received_at", DateTime(timezone=True), nullable=False),
    Column("assessed", Boolean, nullable=False),  # false while the application is not here yet
)

assessments = Table(
    "assessments",
    metadata,
    Column("assessment_id", String(40), primary_key=True),
    Column("case_id", String(40), nullable=False, index=True),
    Column("facts", Text, nullable=False),  # JSON of the CaseFacts it was computed from
    Column("assessed_on", String(10), nullable=False),  # the policy day
    Column("policy_digest", String(16), nullable=False),  # the whole table's version
    Column("body", Text, nullable=False),  # JSON of the CaseAssessed event
    Column("assessed_at", DateTime(timezone=True), nullable=False),
)

stage_changes = Table(
    "stage_changes",
    metadata,
    Column("case_id", String(40), primary_key=True),
    Column("sequence", Integer, primary_key=True),
    Column("from_stage", String(30), nullable=True),
    Column("to_stage", String(30), nullable=False),
    Column("action", String(40), nullable=False),
    Column("actor", String(80), nullable=False),
    Column("note", Text, nullable=True),  # typed by the staff who acted: never published
    Column("explanation", Text, nullable=True),  # composed by the workflow from figures
    Column("at", DateTime(timezone=True), nullable=False),
)

home_surveys = Table(
    "home_surveys",
    metadata,
    Column("survey_id", String(40), primary_key=True),
    Column("case_id", String(40), nullable=False, index=True),
    Column("surveyed_on", String(10), nullable=False),
    Column("surveyors", String(200), nullable=False),
    Column("findings", Text, nullable=False),  # what the surveyors typed: never published
    Column("recorded_by", String(80), nullable=False),
    Column("recorded_at", DateTime(timezone=True), nullable=False),
    # JSON of domain.survey.Checklist, for a survey taken on the phone page (issue 26); None
    # for one recorded with the acceptance (a date, surveyors and findings only).
    Column("checklist", Text, nullable=True),
    # SHA-256 of a phone's survey as sent (checklist, surveyors, notes, photos, who sent it):
    # a resend under its survey id is told apart from another survey (migration 0007).
    Column("content_sha256", String(64), nullable=True),
)

survey_photos = Table(
    "survey_photos",
    metadata,
    # Photos of documents taken at a home survey: here, in approval's own database, so that a
    # survey and its photos are written (and backed up) together; never on the bus.
    Column("photo_id", String(40), primary_key=True),
    Column("survey_id", String(40), nullable=False, index=True),
    Column("case_id", String(40), nullable=False, index=True),
    Column("position", Integer, nullable=False),  # its order in the survey, from 0
    Column("kind", String(40), nullable=False),  # domain.survey.PhotoKind (22 at most)
    Column("content_type", String(20), nullable=False),  # from the bytes, not the sender
    Column("size_bytes", Integer, nullable=False),
    Column("sha256", String(64), nullable=False),
    Column("data", LargeBinary, nullable=False),
    Column("taken_at", DateTime(timezone=True), nullable=False),
)

objections = Table(
    "objections",
    metadata,
    Column("objection_id", String(40), primary_key=True),
    Column("case_id", String(40), nullable=False, index=True),
    Column("summary", Text, nullable=False),
    Column("recorded_by", String(80), nullable=False),
    Column("recorded_at", DateTime(timezone=True), nullable=False),
    Column("status", String(20), nullable=False),  # open | upheld | dismissed
    Column("resolution", Text, nullable=True),
    Column("resolved_by", String(80), nullable=True),
    Column("resolved_at", DateTime(timezone=True), nullable=True),
)

temporary_grants = Table(
    "temporary_grants",
    metadata,
    # One row per granted case and member: the yearly cap counts what any case that shares a
    # member got, so a household cannot pass the cap by changing who applies.
    Column("case_id", String(40), primary_key=True),
    Column("person_ref", String(40), primary_key=True, index=True),
    Column("year", Integer, nullable=False),
    Column("amount_fen", BigInteger, nullable=False),
)

referrals = Table(
    "referrals",
    metadata,
    Column("referral_id", String(40), primary_key=True),
    Column("case_id", String(40), nullable=False, index=True),
    Column("kind", String(20), nullable=False),
    Column("status", String(20), nullable=False),  # requested | granted | declined | in_progress
    Column("amount_fen", BigInteger, nullable=True),
    Column("note", Text, nullable=True),
    Column("requested_at", DateTime(timezone=True), nullable=False),
    Column("answered_at", DateTime(timezone=True), nullable=True),
)

policy_proposals = Table(
    "policy_proposals",
    metadata,
    # A new version of one policy figure, proposed by one officer and approved by another
    # (issue 22). Published rows, in ``sequence`` order over the packaged files, are the policy.
    Column("proposal_id", String(40), primary_key=True),
    Column("name", String(80), nullable=False),
    Column("region_code", String(6), nullable=False, index=True),
    Column("effective_from", Date, nullable=False),
    Column("value", BigInteger, nullable=False),
    Column("replaces_value", BigInteger, nullable=True),
    # What the officers typed: kept here, never on the bus (issue 21).
    Column("source", Text, nullable=False),
    Column("reason", Text, nullable=False),
    Column("status", String(12), nullable=False),  # proposed | published | rejected
    Column("proposed_by", String(80), nullable=False),
    Column("proposed_at", DateTime(timezone=True), nullable=False),
    Column("decided_by", String(80), nullable=True),
    Column("decided_at", DateTime(timezone=True), nullable=True),
    Column("decision_note", Text, nullable=True),
    Column("sequence", Integer, nullable=True, unique=True),  # publication order, from 1
    Column("policy_version", String(16), nullable=True),
)

recalculations = Table(
    "recalculations",
    metadata,
    # One job per publication: every recipient the figure reaches, recalculated in batches.
    # ``cursor`` (the last case done) moves in the same transaction as the batch's changes, so
    # a crash resumes where it stopped; the lease lets one instance of many run it.
    Column("job_id", String(40), primary_key=True),
    Column("proposal_id", String(40), nullable=False, unique=True),
    Column("status", String(12), nullable=False),  # queued | running | done
    Column("cursor", String(40), nullable=True),
    Column("total", Integer, nullable=False),
    Column("done", Integer, nullable=False),
    Column("changed", Integer, nullable=False),
    Column("to_review", Integer, nullable=False),
    Column("claimed_by", String(80), nullable=True),
    Column("lease_until", DateTime(timezone=True), nullable=True),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("finished_at", DateTime(timezone=True), nullable=True),
)

recalculated = Table(
    "recalculated",
    metadata,
    # Each household's change, explained: old and new monthly amount and the figures that moved.
    Column("job_id", String(40), primary_key=True),
    Column("case_id", String(40), primary_key=True),
    Column("outcome", String(20), nullable=False),  # amount_changed | suspended | … | unchanged
    Column("old_monthly_fen", BigInteger, nullable=False),
    Column("new_monthly_fen", BigInteger, nullable=False),
    Column("explanation", Text, nullable=False),  # composed by code from the figures
)

verification_holds = Table(
    "verification_holds",
    metadata,
    # Verification may not check the household (VerificationWithheld): why, on which occasion,
    # and which members must sign the consent (授权核对), until the town records it. The town's
    # queue lists the open ones; each stays as a record of who recorded the consent, and when.
    Column("hold_id", String(40), primary_key=True),
    Column("case_id", String(40), nullable=False, index=True),
    Column("reason", String(30), nullable=False),  # consent_missing
    Column("occasion", String(20), nullable=False),  # application | periodic_review
    Column("member_refs", Text, nullable=False),  # JSON list of pseudonymous references
    Column("held_at", DateTime(timezone=True), nullable=False),
    Column("signed_on", Date, nullable=True),  # the consent's date, once recorded
    Column("released_by", String(80), nullable=True),  # "town_reviewer:t-017"
    Column("released_at", DateTime(timezone=True), nullable=True),
)
