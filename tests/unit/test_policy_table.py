"""A policy table is a value: what it remembers of its own answers is kept in one declared
field that its equality, hash and repr leave out (issue 23)."""

from __future__ import annotations

import dataclasses
import pickle
from datetime import date
from pathlib import Path

import pytest

from services.approval.domain import policy as policy_module
from services.approval.domain.policy import Figure, PolicyTable, load_policy

POLICY_DIR = Path(policy_module.__file__).resolve().parents[1] / "policies"
CIXI, DAY = "330282", date(2025, 3, 1)
STANDARD = "dibao.monthly_standard_fen"


def test_equal_and_same_hash_whatever_either_has_remembered() -> None:
    asked, fresh = load_policy(POLICY_DIR), load_policy(POLICY_DIR)
    asked.in_force(CIXI, DAY)
    asked.figure(STANDARD, "370212", DAY)
    assert asked == fresh and hash(asked) == hash(fresh)
    assert len({asked, fresh}) == 1


def test_a_figure_more_makes_another_table() -> None:
    table = load_policy(POLICY_DIR)
    more = table.amended([Figure(STANDARD, CIXI, date(2031, 1, 1), 120_000, "test")])
    assert more != table and more.version != table.version


def test_the_repr_shows_the_figures_not_what_was_remembered() -> None:
    table = PolicyTable((Figure(STANDARD, CIXI, date(2021, 1, 1), 100_500, "test"),))
    table.in_force(CIXI, DAY)
    assert repr(table).startswith("PolicyTable(figures=(Figure(")
    assert "_in_force" not in repr(table) and "found" not in repr(table)


def test_nothing_can_be_assigned_or_given_for_the_remembered_answers() -> None:
    table = load_policy(POLICY_DIR)
    with pytest.raises(dataclasses.FrozenInstanceError):
        table.figures = ()  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        table._in_force = None  # type: ignore[misc, assignment]
    with pytest.raises(TypeError):
        PolicyTable(table.figures, _in_force=None)  # type: ignore[call-arg]


def test_a_table_made_from_another_answers_from_its_own_figures() -> None:
    table = PolicyTable((Figure(STANDARD, CIXI, date(2021, 1, 1), 100_500, "test"),))
    assert table.figure(STANDARD, CIXI, DAY).value == 100_500  # remembered now
    raised = dataclasses.replace(table, figures=(
        Figure(STANDARD, CIXI, date(2021, 1, 1), 110_000, "test"),))
    assert raised.figure(STANDARD, CIXI, DAY).value == 110_000
    assert table.figure(STANDARD, CIXI, DAY).value == 100_500


def test_a_pickled_table_comes_back_equal_and_answers_alike() -> None:
    table = load_policy(POLICY_DIR)
    before = dict(table.in_force(CIXI, DAY))
    back = pickle.loads(pickle.dumps(table))
    assert back == table and back.version == table.version
    assert dict(back.in_force(CIXI, DAY)) == before
    assert dict(back.in_force("370212", DAY)) == dict(table.in_force("370212", DAY))
