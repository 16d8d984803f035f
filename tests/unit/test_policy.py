"""Policy figures as versioned data: regions inherit, dates apply, bad files are refused."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from services.approval.domain import policy as policy_module
from services.approval.domain.policy import (
    FIGURES,
    PolicyError,
    PolicyTable,
    load_policy,
    parse_policies,
    parse_policy,
    region_chain,
)

POLICY_DIR = Path(policy_module.__file__).resolve().parents[1] / "policies"


def packaged_texts() -> list[tuple[str, str]]:
    return [(f.read_text(encoding="utf-8"), str(f)) for f in sorted(POLICY_DIR.glob("*.toml"))]


def figure_toml(name: str = "dibao.max_vehicles", region: str = '"000000"',
                effective: str = "2000-01-01", value: str = "0",
                extra: str = 'source = "test"') -> str:
    return (f'[[figure]]\nname = "{name}"\nregion = {region}\neffective_from = {effective}\n'
            f"value = {value}\n{extra}\n")


# --- the packaged policy -------------------------------------------------------------------


def test_the_packaged_policy_loads_and_sets_every_known_figure_somewhere():
    table = load_policy(POLICY_DIR)
    assert isinstance(table, PolicyTable)
    assert {f.name for f in table.figures} == set(FIGURES)
    assert all(f.source.strip() for f in table.figures)
    assert all(type(f.value) is int for f in table.figures)


def test_load_policy_takes_single_files_as_well_as_a_directory():
    table = load_policy(POLICY_DIR / "dibao.toml")
    assert table.figure("dibao.monthly_standard_fen", "330282", date(2021, 1, 1)).value == 100_500
    assert table.figure("tekun.basic_standard_fen", "330282", date(2021, 1, 1)) is None


@pytest.mark.parametrize(
    ("name", "region", "on", "value", "found_at", "effective"),
    [
        # Cixi Dibao standard, seed 001
        ("dibao.monthly_standard_fen", "330282", date(2021, 1, 1), 100_500, "330282",
         date(2021, 1, 1)),
        ("dibao.monthly_standard_fen", "330282", date(2026, 6, 30), 100_500, "330282",
         date(2021, 1, 1)),
        ("dibao.monthly_standard_fen", "330282", date(2020, 12, 31), None, None, None),
        # a district's figure holds neither for its city nor for a sibling district
        ("dibao.monthly_standard_fen", "330200", date(2022, 1, 1), None, None, None),
        ("dibao.monthly_standard_fen", "330281", date(2022, 1, 1), None, None, None),
        # Cixi extreme-hardship basic standard, seed 001
        ("tekun.basic_standard_fen", "330282", date(2021, 1, 1), 170_900, "330282",
         date(2021, 1, 1)),
        ("tekun.basic_standard_fen", "330282", date(2020, 12, 31), None, None, None),
        # Qingdao temporary yearly cap, seed 002: a district inherits the city's figure
        ("temporary.yearly_cap_fen", "370202", date(2020, 1, 1), 3_000_000, "370200",
         date(2020, 1, 1)),
        ("temporary.yearly_cap_fen", "370200", date(2023, 5, 5), 3_000_000, "370200",
         date(2020, 1, 1)),
        # ... and before it took effect the national default applies
        ("temporary.yearly_cap_fen", "370202", date(2019, 12, 31), 2_000_000, "000000",
         date(2000, 1, 1)),
        # other regions, including Qingdao's province, keep the national default
        ("temporary.yearly_cap_fen", "370000", date(2023, 5, 5), 2_000_000, "000000",
         date(2000, 1, 1)),
        ("temporary.yearly_cap_fen", "330282", date(2023, 5, 5), 2_000_000, "000000",
         date(2000, 1, 1)),
    ],
)
def test_seed_figures_resolve_by_region_and_effective_date(name, region, on, value, found_at,
                                                           effective):
    fig = load_policy(POLICY_DIR).figure(name, region, on)
    if value is None:
        assert fig is None
        return
    assert fig is not None
    assert (fig.value, fig.region, fig.effective_from) == (value, found_at, effective)
    assert fig.ref == f"{name}@{found_at}/{effective.isoformat()}"


@pytest.mark.parametrize(("name", "seed"), [
    ("dibao.monthly_standard_fen", "seed 001"),
    ("tekun.basic_standard_fen", "seed 001"),
    ("temporary.yearly_cap_fen", "seed 002"),
])
def test_seed_figures_are_not_defaults_and_cite_their_seed(name, seed):
    table = load_policy(POLICY_DIR)
    region = "370200" if name.startswith("temporary") else "330282"
    fig = table.figure(name, region, date(2022, 1, 1))
    assert fig is not None
    assert fig.default is False
    assert seed in fig.source


@pytest.mark.parametrize(("region", "chain"), [
    ("370202", ["370202", "370200", "370000", "000000"]),
    ("370200", ["370200", "370000", "000000"]),
    ("370000", ["370000", "000000"]),
    ("000000", ["000000"]),
])
def test_region_chain_goes_district_city_province_nation(region, chain):
    assert region_chain(region) == tuple(chain)


def test_the_latest_effective_figure_wins_and_the_most_specific_region_wins():
    table = parse_policy(
        figure_toml("dibao.monthly_standard_fen", '"370000"', "2019-01-01", "90000")
        + figure_toml("dibao.monthly_standard_fen", '"370200"', "2020-01-01", "95000")
        + figure_toml("dibao.monthly_standard_fen", '"370200"', "2021-01-01", "100000"))
    on = table.figure
    assert on("dibao.monthly_standard_fen", "370202", date(2019, 6, 1)).value == 90_000
    assert on("dibao.monthly_standard_fen", "370202", date(2020, 6, 1)).value == 95_000
    assert on("dibao.monthly_standard_fen", "370202", date(2020, 12, 31)).value == 95_000
    assert on("dibao.monthly_standard_fen", "370202", date(2021, 1, 1)).value == 100_000
    assert on("dibao.monthly_standard_fen", "370300", date(2021, 1, 1)).value == 90_000
    assert on("dibao.monthly_standard_fen", "370202", date(2018, 12, 31)) is None


def test_a_default_needs_no_source_and_is_marked_as_a_default():
    table = parse_policy(figure_toml(extra="default = true"))
    (fig,) = table.figures
    assert fig.default is True
    assert fig.source  # says it is a placeholder for the region to set


# --- bad files are refused whole, naming every problem ---------------------------------------

BAD_ENTRIES = [
    ("unknown figure", figure_toml(name="dibao.monthly_standard_yuan"),
     "unknown figure 'dibao.monthly_standard_yuan'"),
    ("bad region (not 6 digits)", figure_toml(region='"37020"'),
     "region must be a 6-digit code"),
    ("bad region (a number)", figure_toml(region="370202"), "region must be a 6-digit code"),
    ("datetime instead of date", figure_toml(effective="2021-01-01T00:00:00"),
     "effective_from must be a date"),
    ("date as a string", figure_toml(effective='"2021-01-01"'), "effective_from must be a date"),
    ("negative value", figure_toml(value="-1"), "value must be a whole number ≥ 0"),
    ("fractional value", figure_toml(value="1.5"), "value must be a whole number ≥ 0"),
    ("boolean value", figure_toml(value="true"), "value must be a whole number ≥ 0"),
    ("missing source without default", figure_toml(extra=""), "needs a source, or default = true"),
    ("default = false without source", figure_toml(extra="default = false"),
     "needs a source, or default = true"),
    ("unknown key", figure_toml(extra='source = "x"\nvalid_from = 2021-01-01'),
     "unknown key(s) valid_from"),
]


@pytest.mark.parametrize(("entry", "problem"), [(e, p) for _, e, p in BAD_ENTRIES],
                         ids=[n for n, _, _ in BAD_ENTRIES])
def test_each_bad_entry_is_refused_and_named(entry, problem):
    good = figure_toml("dibao.max_real_estate", value="1")
    with pytest.raises(PolicyError) as refused:
        parse_policy(good + entry, origin="bad.toml")
    assert f"bad.toml: figure #2: {problem}" in str(refused.value)
    assert "figure #1" not in str(refused.value)


def test_a_bad_file_is_refused_whole_with_every_problem_named():
    text = (figure_toml("dibao.max_real_estate", value="1")  # fine on its own
            + "".join(entry for _, entry, _ in BAD_ENTRIES)
            + '[calendar]\nholidays = [2024-10-01, "2024-10-02"]\n')
    with pytest.raises(PolicyError) as refused:
        parse_policy(text, origin="bad.toml")
    message = str(refused.value)
    for i, (_, _, problem) in enumerate(BAD_ENTRIES, start=2):
        assert f"bad.toml: figure #{i}: {problem}" in message, problem
    assert "calendar.holidays must hold dates, got '2024-10-02'" in message
    assert message.count("; ") == len(BAD_ENTRIES)  # one problem per bad entry + the calendar


def test_one_entry_with_several_problems_names_them_all():
    entry = figure_toml(name="nope", region='"12"', effective="2021-01-01T08:00:00",
                        value="-5", extra="colour = 1")
    with pytest.raises(PolicyError) as refused:
        parse_policy(entry)
    message = str(refused.value)
    for problem in ("unknown key(s) colour", "unknown figure 'nope'", "6-digit code",
                    "effective_from must be a date", "value must be a whole number",
                    "needs a source"):
        assert problem in message


def test_the_same_figure_twice_across_two_files_is_refused():
    one = figure_toml("dibao.monthly_standard_fen", '"330282"', "2021-01-01", "100500")
    two = figure_toml("dibao.monthly_standard_fen", '"330282"', "2021-01-01", "100600")
    with pytest.raises(PolicyError) as refused:
        parse_policies([(one, "a.toml"), (two, "b.toml")])
    assert ("b.toml: figure #1: dibao.monthly_standard_fen for 330282 from 2021-01-01 is set "
            "twice") in str(refused.value)


def test_the_same_figure_on_another_day_or_region_is_not_a_duplicate():
    one = figure_toml("dibao.monthly_standard_fen", '"330282"', "2021-01-01", "100500")
    two = figure_toml("dibao.monthly_standard_fen", '"330282"', "2022-01-01", "110000")
    three = figure_toml("dibao.monthly_standard_fen", '"330281"', "2021-01-01", "100500")
    assert len(parse_policies([(one, "a"), (two, "b"), (three, "c")]).figures) == 3


def test_a_duplicate_between_files_in_a_directory_refuses_the_directory(tmp_path):
    for name in ("a.toml", "b.toml"):
        (tmp_path / name).write_text(figure_toml(), encoding="utf-8")
    with pytest.raises(PolicyError, match="set twice"):
        load_policy(tmp_path)


def test_one_bad_file_refuses_the_good_files_with_it():
    bad = figure_toml(value="-1")
    with pytest.raises(PolicyError) as refused:
        parse_policies([*packaged_texts(), (bad, "local.toml")])
    assert "local.toml: figure #1: value must be a whole number" in str(refused.value)


@pytest.mark.parametrize(("text", "problem"), [
    ("this is not toml = = =", "not valid TOML"),
    (figure_toml() + "[limits]\nx = 1\n", "unknown section(s) limits"),
    ('[calendar]\nholidays = [2024-10-01]\n', "no figures"),
    (figure_toml() + '[calendar]\nworkdays = ["2024-09-29"]\n',
     "calendar.workdays must hold dates"),
    (figure_toml() + "[calendar]\nholidays = [2024-10-01T00:00:00]\n",
     "calendar.holidays must hold dates"),
    (figure_toml() + "[calendar]\nholidays = [2024-10-01]\nworkdays = [2024-10-01]\n",
     "days both holiday and working day: 2024-10-01"),
])
def test_file_level_problems_are_refused(text, problem):
    with pytest.raises(PolicyError) as refused:
        parse_policy(text, origin="f.toml")
    assert problem in str(refused.value)


# --- the first release's names ---------------------------------------------------------------

OLD_DIBAO = """
[[figure]]
name = "monthly_standard_fen"
region = "330282"
effective_from = 2021-01-01
value = 100500
source = "seed 001"

[[figure]]
name = "max_real_estate"
region = "000000"
effective_from = 2000-01-01
value = 1
default = true

[[figure]]
name = "max_vehicles"
region = "000000"
effective_from = 2000-01-01
value = 0
default = true

[[figure]]
name = "deposit_limit_months"
region = "000000"
effective_from = 2000-01-01
value = 24
default = true
"""


def test_old_unprefixed_dibao_names_still_load_under_their_new_names():
    table = parse_policy(OLD_DIBAO)
    on = date(2021, 3, 1)
    assert table.figure("dibao.monthly_standard_fen", "330282", on).value == 100_500
    assert table.figure("dibao.max_real_estate", "330282", on).value == 1
    assert table.figure("dibao.max_vehicles", "330282", on).value == 0
    assert table.figure("dibao.deposit_limit_months", "330282", on).value == 24
    assert {f.name for f in table.figures} == {
        "dibao.monthly_standard_fen", "dibao.max_real_estate", "dibao.max_vehicles",
        "dibao.deposit_limit_months"}


def test_an_old_name_and_its_new_name_for_the_same_day_are_a_duplicate():
    new = figure_toml("dibao.max_vehicles", extra="default = true")
    with pytest.raises(PolicyError) as refused:
        parse_policies([(OLD_DIBAO, "old.toml"), (new, "new.toml")])
    assert ("new.toml: figure #1: dibao.max_vehicles for 000000 from 2000-01-01 is set twice"
            in str(refused.value))


def test_only_the_first_release_names_are_accepted_unprefixed():
    with pytest.raises(PolicyError, match="unknown figure 'elderly_age'"):
        parse_policy(figure_toml("elderly_age", extra="default = true"))


# --- version -------------------------------------------------------------------------------


def test_version_is_stable_for_the_same_figures_in_any_file_order():
    texts = packaged_texts()
    assert parse_policies(texts).version == load_policy(POLICY_DIR).version
    assert parse_policies(list(reversed(texts))).version == parse_policies(texts).version


def test_version_changes_when_one_figure_changes():
    texts = packaged_texts()
    changed = [(t.replace("value = 100500", "value = 100600"), o) for t, o in texts]
    assert changed != texts
    assert parse_policies(changed).version != parse_policies(texts).version


def test_version_changes_when_a_figure_is_added_or_the_calendar_changes():
    texts = packaged_texts()
    base = parse_policies(texts).version
    added = figure_toml("dibao.monthly_standard_fen", '"370200"', "2020-01-01", "100000")
    assert parse_policies([*texts, (added, "x")]).version != base
    holiday = "[calendar]\nholidays = [2024-10-01]\n"
    workday = "[calendar]\nworkdays = [2024-10-01]\n"
    with_holiday = parse_policies([*texts, (holiday, "cal")]).version
    with_workday = parse_policies([*texts, (workday, "cal")]).version
    assert len({base, with_holiday, with_workday}) == 3


def test_version_ignores_what_does_not_change_a_decision():
    a = parse_policy(figure_toml(extra='source = "one wording"'))
    b = parse_policy(figure_toml(extra='source = "another wording"'))
    assert a.version == b.version


# --- working days --------------------------------------------------------------------------

NATIONAL_DAY_2024 = figure_toml() + """
[calendar]
holidays = [2024-10-01, 2024-10-02, 2024-10-03, 2024-10-04, 2024-10-07]
workdays = [2024-09-29, 2024-10-12]
"""


@pytest.mark.parametrize(("day", "working"), [
    (date(2024, 9, 27), True),    # Friday
    (date(2024, 9, 28), False),   # Saturday
    (date(2024, 9, 29), True),    # Sunday, a make-up working day (调休)
    (date(2024, 10, 1), False),   # Tuesday, a listed holiday
    (date(2024, 10, 5), False),   # Saturday, not listed: still a weekend
    (date(2024, 10, 7), False),   # Monday, a listed holiday
    (date(2024, 10, 8), True),    # Tuesday
    (date(2024, 10, 12), True),   # Saturday, a make-up working day
    (date(2024, 10, 13), False),  # Sunday
])
def test_working_days_skip_weekends_and_holidays_and_count_make_up_days(day, working):
    table = parse_policy(NATIONAL_DAY_2024)
    assert table.is_working_day(day) is working


def test_the_calendar_is_loaded_from_the_file():
    table = parse_policy(NATIONAL_DAY_2024)
    assert date(2024, 10, 1) in table.holidays
    assert table.workdays == frozenset({date(2024, 9, 29), date(2024, 10, 12)})


def test_without_a_calendar_only_weekends_are_off():
    table = load_policy(POLICY_DIR)
    assert table.is_working_day(date(2024, 10, 1)) is True
    assert table.is_working_day(date(2024, 9, 29)) is False


def test_what_is_in_force_is_the_same_when_asked_for_all_at_once_or_one_by_one():
    table = parse_policy(
        figure_toml("dibao.monthly_standard_fen", '"370000"', "2019-01-01", "90000")
        + figure_toml("dibao.monthly_standard_fen", '"370200"', "2021-01-01", "100000")
        + figure_toml("dibao.max_vehicles", '"000000"', "2020-01-01", "1"))
    for region in ("370202", "370300", "110101"):
        for on in (date(2018, 1, 1), date(2019, 6, 1), date(2020, 6, 1), date(2021, 1, 1)):
            found = table.in_force(region, on)
            for name in ("dibao.monthly_standard_fen", "dibao.max_vehicles"):
                one = next((f for level in region_chain(region)
                            for f in sorted(table.figures, key=lambda f: f.effective_from,
                                            reverse=True)
                            if (f.name, f.region) == (name, level) and f.effective_from <= on),
                           None)
                assert found.get(name) == one == table.figure(name, region, on)
    assert table.in_force("370202", date(2018, 1, 1)) == {}
