"""What a bank's refusal of a payment means, as a code the bus may carry.

A bank's result file says why it refused a payment in its own words ("账户已销户", "户名不符 张三"):
the town reads them in payment, entitled to the case, to correct the account. The words may name
the holder, so they stay in payment (``payments.failure_reason``); the event says only which kind
of refusal it was. The kinds are those a town acts on differently; anything else is ``other``.
"""

from __future__ import annotations

from typing import Literal

FailureCode = Literal["account_closed", "no_such_account", "name_mismatch", "account_frozen",
                      "other"]

# Checked in order: the first kind whose words the reason holds (Chinese and English, as banks
# write them; case does not matter).
_WORDS: tuple[tuple[FailureCode, tuple[str, ...]], ...] = (
    ("account_closed", ("销户", "已注销", "closed")),
    ("name_mismatch", ("户名", "名称不符", "name")),
    ("account_frozen", ("冻结", "止付", "frozen")),
    ("no_such_account", ("不存在", "无此", "账号错误", "账号有误", "no such", "invalid account",
                         "unknown account")),
)


def failure_code(reason: str | None) -> FailureCode | None:
    """The kind of refusal a bank's reason names; None when there is no reason."""
    if not reason:
        return None
    text = reason.casefold()
    return next((code for code, words in _WORDS if any(w in text for w in words)), "other")
