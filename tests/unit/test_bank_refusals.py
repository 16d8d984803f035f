"""A bank's refusal of a payment travels as a code; its words, which may name the holder, stay
in payment (issue 21)."""

from __future__ import annotations

import pytest

from services.payment.domain.failures import failure_code
from shared.events.catalogue import PaymentSettled


@pytest.mark.parametrize(("reason", "code"), [
    ("账户已销户", "account_closed"), ("账户已销户 (account closed, simulated)", "account_closed"),
    ("ACCOUNT CLOSED", "account_closed"), ("户名不符 张三", "name_mismatch"),
    ("Name does not match", "name_mismatch"), ("账户冻结", "account_frozen"),
    ("账号不存在", "no_such_account"), ("Invalid account number", "no_such_account"),
    ("系统繁忙", "other"), (None, None), ("", None),
])
def test_a_refusal_is_classified_by_its_words(reason: str | None, code: str | None) -> None:
    assert failure_code(reason) == code


def test_an_archived_refusal_with_the_banks_words_is_read_without_them() -> None:
    archived = {"case_id": "330282-20261207-0123456789ab", "payment_id": "p-1",
                "programme": "dibao", "period": "2026-12", "kind": "monthly",
                "amount_fen": 81_000, "outcome": "failed", "reason": "户名不符 张三",
                "bank_file_id": "bf-1", "settled_at": "2026-12-07T01:00:00Z"}
    event = PaymentSettled.model_validate(archived)
    assert event.reason_code == "other"
    assert "张三" not in event.model_dump_json()
