"""The explanation a decision carries: every rule, its inputs and the policy figures it used.

A reviewer reads ``detail`` (and ``label_zh``); an auditor reads ``inputs`` and ``parameters``,
which name each figure's value, region, effective date and source.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

from services.approval.domain.policy import FIGURES, Figure, PolicyTable


@dataclass(frozen=True)
class Check:
    rule: str
    label_zh: str
    passed: bool
    detail: str
    inputs: dict[str, str] = field(default_factory=dict)
    parameters: tuple[Figure, ...] = ()


class MissingFigures(LookupError):
    """Figures a rule needs are not in force for the region on the day."""

    def __init__(self, names: list[str]) -> None:
        super().__init__(", ".join(names))
        self.names = names


class PolicyView:
    """The figures in force for one region on one day, remembering which ones were used."""

    def __init__(self, table: PolicyTable, region: str, on: date) -> None:
        self.table, self.region, self.on = table, region, on
        self.used: dict[str, Figure] = {}
        self._in_force = table.in_force(region, on)

    def require(self, *names: str) -> None:
        """Fail with every missing figure at once, so a rejection is never half-explained."""
        in_force, used = self._in_force, self.used
        for name in names:  # every rule starts here: kept to a look-up each (audit re-runs all)
            fig = in_force.get(name)
            if fig is None:
                missing = [n for n in names if self.find(n) is None]
                raise MissingFigures(missing)
            used[name] = fig

    def find(self, name: str) -> Figure | None:
        fig = self._in_force.get(name)
        if fig is not None:
            self.used[name] = fig
        else:
            assert name in FIGURES, name  # a typo here is a bug, not a policy gap
        return fig

    def fig(self, name: str) -> Figure:
        fig = self._in_force.get(name)
        if fig is None:
            assert name in FIGURES, name
            raise MissingFigures([name])
        self.used[name] = fig
        return fig

    def __getitem__(self, name: str) -> int:
        return self.fig(name).value

    @property
    def version(self) -> str:
        """The figures used, each as name@region/effective-date: enough to re-run the decision."""
        return ",".join(sorted(f.ref for f in self.used.values()))
