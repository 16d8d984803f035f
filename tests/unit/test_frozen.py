"""Approval's value objects are plain frozen dataclasses (issue 23): equal and hashed by value,
immutable, picklable, with their own defaults; ``frozen.changed`` is ``dataclasses.replace``;
and no domain module builds code at run time (a speed trick lives in the adapter that needs it).
"""

from __future__ import annotations

import ast
import dataclasses
import pickle
from datetime import date
from pathlib import Path

import pytest

from services.approval.domain.assessment import Benefit
from services.approval.domain.facts import Member
from services.approval.domain.frozen import changed
from services.approval.domain.policy import Figure
from services.approval.domain.trace import Check

ROOT = Path(__file__).resolve().parents[2]
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
def test_equal_and_hashed_by_value(cls: type, args: tuple, kwargs: dict) -> None:
    made, again = cls(*args, **kwargs), cls(*args, **kwargs)
    assert made == again and made is not again
    first = dataclasses.fields(cls)[0].name
    assert made != changed(made, {first: "something else"})
    if cls is Check:  # a check holds a dict (its inputs), so it is not hashable
        with pytest.raises(TypeError):
            hash(made)
    else:
        assert hash(made) == hash(again)
        assert len({made, again}) == 1


@pytest.mark.parametrize(("cls", "args", "kwargs"), MADE)
def test_assigning_a_field_raises(cls: type, args: tuple, kwargs: dict) -> None:
    made = cls(*args, **kwargs)
    first = dataclasses.fields(cls)[0].name
    with pytest.raises(dataclasses.FrozenInstanceError):
        setattr(made, first, "changed")
    with pytest.raises(dataclasses.FrozenInstanceError):
        made.extra = 1
    assert getattr(made, first) == getattr(cls(*args, **kwargs), first)


@pytest.mark.parametrize(("cls", "args", "kwargs"), MADE)
def test_a_pickled_one_comes_back_equal(cls: type, args: tuple, kwargs: dict) -> None:
    made = cls(*args, **kwargs)
    assert pickle.loads(pickle.dumps(made)) == made


def test_defaults_and_a_fresh_dict_from_the_factory_for_each() -> None:
    member = Member("p1", "applicant", 70, 0)
    assert (member.disability_grade, member.counted_monthly_fen, member.registered_elsewhere) \
        == (None, None, False)
    one, other = Check("a", "a", True, "a"), Check("b", "b", True, "b")
    assert one.inputs == {} and one.inputs is not other.inputs and one.parameters == ()


@pytest.mark.parametrize(("args", "kwargs"), [
    (("income", "收入", True), {}),  # one missing
    (("income", "收入", True, "d"), {"colour": "red"}),  # no such field
    (("income", "收入", True, "d", {}, (), "more"), {}),  # too many
    (("income", "收入", True, "d"), {"rule": "again"}),  # given twice
])
def test_wrong_arguments_fail(args: tuple, kwargs: dict) -> None:
    with pytest.raises(TypeError):
        Check(*args, **kwargs)


def test_changed_is_replace_without_its_cost() -> None:
    member = Member("p2", "spouse", 40, 3000, 2, True, "full")
    changes = {"counted_monthly_fen": 2500, "employment_monthly_fen": 2000}
    made = changed(member, changes)
    assert made == dataclasses.replace(member, **changes)
    assert member.counted_monthly_fen is None  # the original untouched
    with pytest.raises(dataclasses.FrozenInstanceError):
        made.counted_monthly_fen = 1
    with pytest.raises(TypeError, match="colour"):
        changed(member, {"colour": "red"})


def _code_built(source: str) -> list[str]:
    """Each call of ``exec``, ``eval`` or ``compile`` in a module's source, by line."""
    return [f"{node.lineno}: {node.func.id}" for node in ast.walk(ast.parse(source))
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
            and node.func.id in {"exec", "eval", "compile"}]


def test_no_domain_module_builds_code_at_run_time() -> None:
    domains = sorted(ROOT.glob("services/*/domain/**/*.py"))
    assert ROOT / "services" / "approval" / "domain" / "facts.py" in domains
    built = {str(p.relative_to(ROOT)): found for p in domains
             if (found := _code_built(p.read_text(encoding="utf-8")))}
    assert built == {}


def test_the_look_for_built_code_finds_it() -> None:
    assert _code_built("source = 'x = 1'\nexec(source, {})\n") == ["2: exec"]
    assert _code_built("run.exec(source)\n") == []  # a method of that name is not it
