"""A long command's progress (shared/progress.py): plain lines where no terminal is, at most one
every few seconds and one at the end; a bar on a terminal; a background job's lines in its log."""

from __future__ import annotations

import io
import logging

import pytest

from shared.progress import Progress, counted, logged


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_without_a_terminal_it_writes_plain_lines_and_one_at_the_end():
    out = io.StringIO()
    with Progress("replay", 200, "events", stream=out, every_s=0) as shown:
        shown(50)
        shown(200)
    lines = out.getvalue().splitlines()
    assert lines[0].startswith("replay: 50 of 200 events (25%), ")
    assert lines[-1].startswith("replay: 200 of 200 events (100%), ")
    assert "\r" not in out.getvalue()  # no carriage returns in a log


def test_lines_are_kept_apart_by_the_interval():
    out = io.StringIO()
    with Progress("verify", None, "records", stream=out, every_s=3600) as shown:
        for n in range(1, 10_001):
            shown(n)
    [line] = out.getvalue().splitlines()  # only the last: the interval never passed
    assert line.startswith("verify: 10,000 records, ")


def test_on_a_terminal_it_draws_a_bar():
    out = Terminal()
    with Progress("replay", 40, "events", stream=out) as shown:
        shown(40)
    drawn = out.getvalue()
    assert "replay" in drawn and "40/40" in drawn and "100%" in drawn


def test_counted_passes_every_item_through_and_counts_them():
    out = io.StringIO()
    with Progress("verify", 2_500, "records", stream=out, every_s=0) as shown:
        assert list(counted(range(2_500), shown, every=1_000)) == list(range(2_500))
    assert [line.split(" records")[0] for line in out.getvalue().splitlines()] == [
        "verify: 1,000 of 2,500", "verify: 2,000 of 2,500", "verify: 2,500 of 2,500",
        "verify: 2,500 of 2,500"]


def test_a_background_job_logs_its_progress(caplog: pytest.LogCaptureFixture):
    log = logging.getLogger("onedoor.test.progress")
    with caplog.at_level(logging.INFO, logger=log.name), logged(
            "recalculation j-1", log, total=4_000, unit="households", every_s=0) as shown:
        shown(2_000, 4_000)
        shown(4_000)
    said = [r.getMessage() for r in caplog.records]
    assert [m.split(" households")[0] for m in said] == [
        "recalculation j-1: 2,000 of 4,000", "recalculation j-1: 4,000 of 4,000",
        "recalculation j-1: 4,000 of 4,000"]
