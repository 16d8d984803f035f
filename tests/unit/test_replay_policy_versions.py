"""The replay's policy library (``services/audit/domain/policies.py``): the base table amended
by each publication in sequence order, a decision's table found by its recorded version or else
by the moment it was made — and the fold, which makes no case of the publications."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta

from services.approval.rules import PolicyTable
from services.audit.domain import event_time
from services.audit.domain.policies import BY_TIME, BY_VERSION, PolicyLibrary, Publication
from services.audit.domain.replay import Replay
from services.audit.domain.restated import assessment_policy
from shared.events import catalogue as ev
from shared.policy import published_figure
from tests.unit.test_audit_replay import CIXI, POLICY, Log, cst, dibao_approved

STANDARD = "dibao.monthly_standard_fen"
T1, T2, T3 = cst(10), cst(20), cst(25)


def published(sequence: int, value: int, at: datetime, *, effective_from: date = date(2025, 4, 1),
              version: str = "approvals-own") -> Publication:
    return Publication(sequence, f"prop-{sequence}", STANDARD, CIXI, effective_from, value,
                       version, event_time.of(at))


def by_hand(*publications: Publication) -> list[PolicyTable]:
    """Approval's live tables, publication after publication."""
    tables = [POLICY]
    for p in publications:
        tables.append(tables[-1].amended([published_figure(
            p.proposal_id, p.name, p.region_code, p.effective_from, p.value)]))
    return tables


def test_each_table_is_the_base_amended_in_sequence_order_as_approval_amends() -> None:
    first, second = published(1, 110_000, T1), published(2, 120_000, T2)
    library = PolicyLibrary(POLICY, [second, first, first])  # out of order, one read twice
    assert [t.version for t in library.tables] == [t.version for t in by_hand(first, second)]
    assert library.tables[2].figure(STANDARD, CIXI, date(2025, 4, 1)).value == 120_000
    assert library.tables[1].figure(STANDARD, CIXI, date(2025, 3, 31)).value == 100_500
    assert library.archived() == {"publications": 2, "unreadable": 0, "missing_sequences": []}
    assert PolicyLibrary(POLICY, [second]).archived()["missing_sequences"] == [1]


def test_a_recorded_version_names_its_table_and_otherwise_the_moment_decides() -> None:
    first = published(1, 110_000, T1, version="approvals-digest-1")
    second = published(2, 120_000, T2)
    library = PolicyLibrary(POLICY, [first, second])
    micros = event_time.of
    # By the table's digest, as rebuilt here or as approval published it.
    assert library.chosen(library.tables[1].version, micros(T3)) == (1, BY_VERSION)
    assert library.chosen("approvals-digest-1", micros(T3)) == (1, BY_VERSION)
    assert library.chosen(POLICY.version, micros(T3)) == (0, BY_VERSION)
    # Figure references (what assessments record today), or nothing: the table of the moment.
    refs = f"{STANDARD}@{CIXI}/2021-01-01"
    assert library.chosen(refs, micros(T1) - 1) == (0, BY_TIME)
    assert library.chosen(refs, micros(T1)) == (1, BY_TIME)  # published by then
    assert library.chosen(None, micros(T2 + timedelta(days=1))) == (2, BY_TIME)


def test_a_clock_stepped_back_still_finds_the_last_publication_made_by_then() -> None:
    # Publication 2 carries an earlier moment than publication 1 (an approval instance's clock
    # behind another's): at a moment after both, the table is the one after both.
    library = PolicyLibrary(POLICY, [published(1, 110_000, T2), published(2, 120_000, T1)])
    assert library.in_force_at(event_time.of(T1) - 1) == 0
    assert library.in_force_at(event_time.of(T1)) == 2
    assert library.in_force_at(event_time.of(T3)) == 2


def test_a_version_two_tables_share_names_neither() -> None:
    # The same value published again for the same day: the same figures, the same digest.
    first, again = published(1, 110_000, T1), published(2, 110_000, T2)
    library = PolicyLibrary(POLICY, [first, again])
    assert library.tables[1].version == library.tables[2].version
    assert library.chosen(library.tables[1].version, event_time.of(T3)) == (2, BY_TIME)
    assert library.chosen(library.tables[1].version, event_time.of(T1)) == (1, BY_TIME)


def test_the_publication_is_read_from_its_event_json() -> None:
    e = ev.PolicyPublished(case_id=ev.POLICY_KEY, proposal_id="prop-7", sequence=7, name=STANDARD,
                           region_code=CIXI, effective_from=date(2025, 5, 1), value=1,
                           proposed_by="policy_officer:p-1", approved_by="policy_officer:p-2",
                           policy_version="abc", published_at=datetime(2025, 4, 2, tzinfo=UTC))
    p = Publication.of(e.model_dump_json().encode())
    assert (p.sequence, p.effective_from, p.published_at) == (
        7, date(2025, 5, 1), event_time.of(datetime(2025, 4, 2, tzinfo=UTC)))


def test_an_assessments_version_and_moment_are_read_as_written_or_the_long_way() -> None:
    case = dibao_approved(Log(), "read")
    assert case.assessed is not None
    value = case.assessed.model_dump_json().encode()
    expected = (case.assessed.policy_version, case.assessed.assessed_at)
    assert "@" in (expected[0] or "")  # figure references, not a table's digest
    reformatted = json.dumps(json.loads(value), indent=1).encode()
    for written in (value, reformatted):
        version, at = assessment_policy(written)
        assert (version, event_time.parsed(at)) == expected
    undecided = case.assessed.model_copy(update={"policy_version": None})
    assert assessment_policy(undecided.model_dump_json().encode())[0] is None


def test_the_fold_makes_no_case_of_the_publications_in_any_share() -> None:
    log = Log()
    raise_ = ev.PolicyPublished(
        case_id=ev.POLICY_KEY, proposal_id="prop-1", sequence=1, name=STANDARD,
        region_code=CIXI, effective_from=date(2025, 4, 1), value=120_000,
        proposed_by="policy_officer:p-1", approved_by="policy_officer:p-2",
        policy_version="v", published_at=cst(1))
    log.publish(raise_, cst(1))  # before any case: the first event the fold meets
    dibao_approved(log, "after")
    for owns in (None, lambda case_id: True, lambda case_id: False):
        fold = log.replay(owns=owns)
        assert ev.POLICY_KEY not in fold.cases and fold.findings == []
        assert ev.PolicyPublished.type not in fold.counts
    fold = Replay(PolicyLibrary(POLICY, [published(1, 120_000, cst(1))]))
    for at, kind, case_id, event_id, value in log.events:
        fold.apply(kind, case_id, at, event_id, value)
    # The March assessment is re-run with the table after the publication (made by then),
    # which decides alike before April.
    assert fold.findings == [] and fold.policy_used == {1: 1}
