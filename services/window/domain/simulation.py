"""政策测算 as the window shows it (issue 22 §4): approval's simulation answer turned into what
a person reads and what the two charts plot.

Approval computes every figure; nothing is recounted here. The window only words the money
(fen to "1,105.00", the change with its sign), labels the distribution's bars in yuan, and keeps
the distribution to a number of bars a person can take in at a glance.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

OUTCOMES = ("newly_eligible", "newly_ineligible", "changed", "unchanged", "undecided")
# Approval's bars are 200 yuan wide and run from 0 to the highest amount: a standard typed
# 100 times too high would make thousands of them. Beyond this many, neighbours are merged.
MAX_BARS = 40


def signed_yuan(fen: object) -> str:
    """A change of money with its sign, "+1,005.00" or "-50.00" (and "0.00"): a cost that falls
    must not read like one that rises."""
    if not isinstance(fen, int):
        return "—"
    sign = "+" if fen > 0 else "-" if fen < 0 else ""
    fen = abs(fen)
    return f"{sign}{fen // 100:,}.{fen % 100:02d}"


def bars(distribution: Mapping[str, Any], max_bars: int = MAX_BARS) -> list[dict[str, int]]:
    """The distribution's bars as shown: empty ones at either end left out (they say nothing but
    stretch the axis), then neighbours merged until at most ``max_bars`` remain. Each bar:
    from_fen, to_fen (exclusive), before and after (households)."""
    width = distribution.get("bin_fen")
    found = [b for b in distribution.get("bins") or [] if isinstance(b, dict)]
    if not isinstance(width, int) or width <= 0 or not found:
        return []
    filled = [i for i, b in enumerate(found) if b.get("before") or b.get("after")]
    if not filled:
        return []
    found = found[filled[0]:filled[-1] + 1]
    step = -(-len(found) // max_bars)  # ceiling division: how many bins make one bar
    shown = []
    for start in range(0, len(found), step):
        group = found[start:start + step]
        shown.append({"from_fen": int(group[0]["from_fen"]),
                      "to_fen": int(group[-1]["from_fen"]) + width,
                      "before": sum(int(b.get("before") or 0) for b in group),
                      "after": sum(int(b.get("after") or 0) for b in group)})
    return shown


def bar_label(bar: Mapping[str, int]) -> str:
    """A bar's range in whole yuan, "400–600": the bins are whole hundreds of yuan."""
    return f"{bar['from_fen'] // 100:,}–{bar['to_fen'] // 100:,}"


def chart_data(result: Mapping[str, Any], words: Mapping[str, str], lang: str
               ) -> dict[str, Any]:
    """What static/policy_charts.js draws, with its words in the reader's language. Amounts
    are yuan as numbers here: a bar's height and its tooltip, never an amount to copy."""
    shown = bars(result.get("distribution") or {})
    towns = [t for t in result.get("by_town") or [] if isinstance(t, dict)]
    return {
        "lang": lang, "words": dict(words),
        "bar_yuan": (shown[0]["to_fen"] - shown[0]["from_fen"]) // 100 if shown else 0,
        "distribution": {"labels": [bar_label(b) for b in shown],
                         "before": [b["before"] for b in shown],
                         "after": [b["after"] for b in shown]},
        "towns": {"labels": [str(t.get("town_code")) for t in towns],
                  "before": [_yuan_number(t.get("before_fen")) for t in towns],
                  "after": [_yuan_number(t.get("after_fen")) for t in towns]},
    }


def _yuan_number(fen: object) -> float:
    return fen / 100 if isinstance(fen, int) else 0.0
