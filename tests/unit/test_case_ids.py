"""Case ids carry the office's day (China time), as every other date staff read does."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest

from services.intake.service_layer.commands import new_case_id


@pytest.mark.parametrize(("moment", "day"), [
    # 17:30 UTC on the 6th is 01:30 on the 7th in Cixi: the case was opened on the 7th.
    (datetime(2026, 12, 6, 17, 30, tzinfo=UTC), "20261207"),
    (datetime(2026, 12, 6, 15, 59, 59, tzinfo=UTC), "20261206"),  # 23:59:59 CST
    (datetime(2026, 12, 6, 16, 0, tzinfo=UTC), "20261207"),  # midnight CST
    (datetime(2026, 12, 31, 16, 0, tzinfo=UTC), "20270101"),  # the year turns in China first
])
def test_a_case_id_carries_the_day_in_china(moment: datetime, day: str) -> None:
    case_id = new_case_id("330282", moment)
    assert re.fullmatch(rf"330282-{day}-[0-9a-f]{{12}}", case_id)


def test_case_ids_opened_the_same_moment_differ() -> None:
    moment = datetime(2026, 12, 7, 1, 0, tzinfo=UTC)
    assert len({new_case_id("330282", moment) for _ in range(1000)}) == 1000
