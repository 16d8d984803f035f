"""Payment's domain: what an award pays, and how benefit changes move an entitlement."""

from dataclasses import replace
from datetime import UTC, date, datetime, timedelta

import pytest

from services.payment.domain.model import (
    Award,
    BenefitChange,
    ChangeRefused,
    Entitlement,
    apply_change,
    entitlement_for,
    first_monthly_payment,
    one_off_payment,
    previous_month,
)

AT = datetime(2026, 11, 20, 2, 0, tzinfo=UTC)
AWARD = Award(case_id="c1", programme="dibao", region_code="330282", beneficiary_ref="p-1",
              monthly_amount_fen=81_000, start_month="2026-11", one_off_amount_fen=0,
              decided_on=date(2026, 11, 20), decided_at=AT)


def running() -> Entitlement:
    entitlement = entitlement_for(AWARD)
    assert entitlement is not None
    return entitlement


def change(kind: str, month: str, amount_fen: int = 81_000, days: int = 1,
           end_month: str | None = None, programme: str = "dibao") -> BenefitChange:
    return BenefitChange(kind=kind, programme=programme, effective_month=month,  # type: ignore[arg-type]
                         end_month=end_month, monthly_amount_fen=amount_fen,
                         changed_at=AT + timedelta(days=days))


def test_an_award_pays_its_first_month_and_its_one_off():
    award = replace(AWARD, one_off_amount_fen=30_000, decided_on=date(2026, 12, 1))
    monthly = first_monthly_payment(running())
    one_off = one_off_payment(award)
    assert (monthly.kind, monthly.period, monthly.amount_fen) == ("monthly", "2026-11", 81_000)
    assert one_off is not None
    assert (one_off.kind, one_off.period, one_off.amount_fen) == ("one_off", "2026-12", 30_000)


def test_an_award_without_amounts_pays_nothing():
    award = replace(AWARD, monthly_amount_fen=0, start_month=None)
    assert entitlement_for(award) is None
    assert one_off_payment(award) is None


def test_a_monthly_amount_without_a_start_month_is_refused():
    with pytest.raises(ValueError, match="start month"):
        entitlement_for(replace(AWARD, start_month=None))


def test_previous_month_crosses_the_year():
    assert previous_month("2027-01") == "2026-12"
    assert previous_month("2026-11") == "2026-10"


def test_gradual_exit_sets_the_last_month_paid_and_may_change_the_amount():
    exiting = apply_change(running(), change("gradual_exit", "2027-02", 40_000,
                                             end_month="2027-07"))
    assert (exiting.status, exiting.status_from, exiting.end_month) == (
        "exiting", "2027-02", "2027-07")
    assert (exiting.monthly_amount_fen, exiting.amount_from) == (40_000, "2027-02")


def test_gradual_exit_needs_an_end_month():
    with pytest.raises(ChangeRefused):
        apply_change(running(), change("gradual_exit", "2027-02"))


def test_a_suspension_keeps_the_amount_a_resumption_pays():
    suspended = apply_change(running(), change("suspended", "2027-01", amount_fen=0))
    assert (suspended.status, suspended.monthly_amount_fen) == ("suspended", 81_000)
    resumed = apply_change(suspended, change("resumed", "2027-03", days=2))
    assert (resumed.status, resumed.status_from, resumed.amount_from) == (
        "active", "2027-03", "2026-11")


def test_a_resumption_of_an_active_entitlement_changes_nothing_but_the_time():
    resumed = apply_change(running(), change("resumed", "2027-03"))
    assert replace(resumed, updated_at=AT) == running()


def test_termination_ends_with_the_month_before_and_is_final():
    terminated = apply_change(running(), change("terminated", "2027-01", amount_fen=0))
    assert (terminated.status, terminated.end_month) == ("terminated", "2026-12")
    assert apply_change(terminated, change("terminated", "2027-01", amount_fen=0)) == terminated
    with pytest.raises(ChangeRefused, match="after termination"):
        apply_change(terminated, change("resumed", "2027-02", days=2))


def test_termination_during_an_exit_keeps_the_earlier_end():
    exiting = apply_change(running(), change("gradual_exit", "2027-02", end_month="2027-03"))
    terminated = apply_change(exiting, change("terminated", "2027-06", days=2))
    assert terminated.end_month == "2027-03"


def test_an_older_change_does_not_undo_a_newer_one():
    resumed = apply_change(apply_change(running(), change("suspended", "2027-01", days=1)),
                           change("resumed", "2027-02", days=2))
    assert apply_change(resumed, change("suspended", "2027-01", days=1)) == resumed


def test_the_same_change_twice_is_one_change():
    once = apply_change(running(), change("amount_changed", "2027-01", 60_000))
    assert apply_change(once, change("amount_changed", "2027-01", 60_000)) == once
    assert (once.monthly_amount_fen, once.amount_from, once.status) == (60_000, "2027-01",
                                                                        "active")


def test_a_change_of_another_programme_is_refused():
    with pytest.raises(ChangeRefused):
        apply_change(running(), change("suspended", "2027-01", programme="tekun"))


def test_what_each_month_pays_follows_the_schedule_through_every_change():
    e = running()
    e = apply_change(e, change("amount_changed", "2027-01", 90_000, days=1))
    e = apply_change(e, change("suspended", "2027-03", 0, days=2))
    e = apply_change(e, change("resumed", "2027-05", 90_000, days=3))
    e = apply_change(e, change("gradual_exit", "2027-07", 45_000, days=4, end_month="2027-09"))
    paid = {m: e.amount_for(m) for m in (
        "2026-10", "2026-11", "2026-12", "2027-01", "2027-02", "2027-03", "2027-04", "2027-05",
        "2027-06", "2027-07", "2027-09", "2027-10")}
    assert paid == {"2026-10": 0, "2026-11": 81_000, "2026-12": 81_000, "2027-01": 90_000,
                    "2027-02": 90_000, "2027-03": 0, "2027-04": 0, "2027-05": 90_000,
                    "2027-06": 90_000, "2027-07": 45_000, "2027-09": 45_000, "2027-10": 0}
    assert e.last_month == "2027-09"


def test_a_change_rewrites_the_schedule_from_its_month_and_keeps_what_came_before():
    suspended_later = apply_change(running(), change("suspended", "2027-06", 0, days=1))
    # Decided after, effective earlier: the latest decision says what holds from its month on,
    # so the suspension planned for June gives way (approval decides it again if it stands).
    changed = apply_change(suspended_later, change("amount_changed", "2027-02", 70_000, days=2))
    assert [(p.from_month, p.status, p.amount_fen) for p in changed.periods] == [
        ("2026-11", "active", 81_000), ("2027-02", "active", 70_000)]


def test_a_change_cannot_reach_back_before_the_start():
    terminated = apply_change(running(), change("terminated", "2026-05", days=1))
    assert terminated.amount_for("2026-11") == 0
    assert terminated.end_month == "2026-10"
    assert terminated.last_month == "2026-10"


def test_a_running_entitlement_has_no_last_month_and_an_exit_has_one():
    assert running().last_month is None
    exiting = apply_change(running(), change("gradual_exit", "2027-02", end_month="2027-04"))
    assert exiting.last_month == "2027-04"
    assert exiting.amount_for("2027-04") == 81_000 and exiting.amount_for("2027-05") == 0
