"""``frozen.quick``: a frozen dataclass made in one step is the one its own ``__init__`` makes."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from datetime import date

import pytest

from services.approval.domain.assessment import Benefit
from services.approval.domain.facts import Member
from services.approval.domain.frozen import changed, quick
from services.approval.domain.policy import Figure
from services.approval.domain.trace import Check


def twin(cls: type) -> type:
    """The same fields as a plain frozen dataclass, with the ``__init__`` dataclasses writes."""
    return dataclass(frozen=True)(type(cls.__name__, (), {
        "__annotations__": {f.name: f.type for f in dataclasses.fields(cls)},
        **{f.name: field(default=f.default, default_factory=f.default_factory)
           for f in dataclasses.fields(cls)}}))


FIGURE = Figure("dibao.monthly_standard_fen", "330282", date(2025, 1, 1), 100500, "慈溪 2025")
MADE = [
    (Check, ("income", "收入", True, "below"), {}),
    (Check, ("income", "收入", False, "above", {"fen": "1"}, (FIGURE,)), {}),
    (Check, (), {"rule": "r", "label_zh": "l", "passed": True, "detail": "d",
                 "parameters": (FIGURE,)}),
    (Benefit, ("dibao", None), {}),
    (Benefit, ("dibao_classified", "p1", 1200), {"one_off_amount_fen": 5}),
    (Member, ("p1", "applicant", 70, 0), {}),
    (Member, ("p2", "spouse", 40, 3000, 2, True, "full", 2500, 2000), {}),
    (Member, ("p3",), {"relation": "child", "age_years": 9, "declared_monthly_fen": 0,
                       "employment_monthly_fen": 0}),
]


@pytest.mark.parametrize(("cls", "args", "kwargs"), MADE)
def test_made_at_once_as_its_own_init_makes_it(cls: type, args: tuple, kwargs: dict) -> None:
    made = cls(*args, **kwargs)
    plain = twin(cls)(*args, **kwargs)
    assert dataclasses.asdict(made) == dataclasses.asdict(plain)  # type: ignore[call-overload]
    assert made == cls(*args, **kwargs) and made != plain  # (another class)
    if cls is not Check:  # a check holds a dict, so neither way is it hashable
        assert hash(made) == hash(cls(*args, **kwargs))
    assert dataclasses.replace(made) == made


@pytest.mark.parametrize(("cls", "args", "kwargs"), MADE)
def test_still_frozen(cls: type, args: tuple, kwargs: dict) -> None:
    made = cls(*args, **kwargs)
    with pytest.raises(dataclasses.FrozenInstanceError):
        made.extra = 1


def test_each_gets_its_own_default_from_the_factory() -> None:
    one, other = Check("a", "a", True, "a"), Check("b", "b", True, "b")
    assert one.inputs == {} and one.inputs is not other.inputs


@pytest.mark.parametrize(("args", "kwargs"), [
    (("income", "收入", True), {}),  # one missing
    (("income", "收入", True, "d"), {"colour": "red"}),  # no such field
    (("income", "收入", True, "d", {}, (), "more"), {}),  # too many
    (("income", "收入", True, "d"), {"rule": "again"}),  # given twice
])
def test_wrong_arguments_fail_as_with_its_own_init(args: tuple, kwargs: dict) -> None:
    with pytest.raises(TypeError):
        Check(*args, **kwargs)
    with pytest.raises(TypeError):
        twin(Check)(*args, **kwargs)


def test_only_for_what_it_can_make_the_same() -> None:
    @dataclass
    class Thawed:
        a: int

    @dataclass(frozen=True)
    class Checked:
        a: int

        def __post_init__(self) -> None:
            raise AssertionError

    for cls in (Thawed, Checked):
        with pytest.raises(AssertionError):
            quick(cls)


def test_changed_is_replace_without_its_cost() -> None:
    member = Member("p2", "spouse", 40, 3000, 2, True, "full")
    changes = {"counted_monthly_fen": 2500, "employment_monthly_fen": 2000}
    assert changed(member, changes) == dataclasses.replace(member, **changes)
    assert member.counted_monthly_fen is None  # the original untouched
    with pytest.raises(TypeError, match="colour"):
        changed(member, {"colour": "red"})
