"""The words several topics' events share: the programmes, the kinds of income, a parent's
situation, a month, and the base of an event's nested parts.

Apart from the events themselves because every topic's module reads them, and because the rule
they carry — how an event archived before issue 21 drops the text a person typed
(``without_typed_text``) — is one rule for every topic, not one per event.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

IncomeKind = Literal["wage", "pension", "business", "property", "transfer", "other"]
# 低保, 特困, 低保边缘, 临时救助, 残疾人两项补贴, 孤儿和事实无人抚养儿童 (see DOMAIN.md §3)
Programme = Literal["dibao", "tekun", "marginal", "temporary", "disability", "orphan"]
ReferralKind = Literal["medical", "education", "housing", "employment"]
SelfCare = Literal["full", "partial", "none"]  # 生活自理能力: 全自理 / 半自理 / 全护理
# One parent's situation, for the orphans' and de-facto unsupported children's allowance: the
# situations 民发〔2019〕62号 and 民发〔2020〕125号 name (services/approval/policies/orphan.toml).
ParentSituation = Literal[
    "present",  # 在世, none of the situations below
    "deceased",  # 死亡 (or declared dead, 宣告死亡)
    "missing",  # 宣告失踪 (declared missing by a court)
    "severely_disabled",  # 重残
    "seriously_ill",  # 重病
    "imprisoned",  # 服刑在押
    "compulsory_isolation",  # 强制隔离戒毒
    "restricted_liberty",  # 被执行其他限制人身自由的措施
    "lost_contact",  # 失联 (no contact and no care for 6 months or more)
    "guardianship_revoked",  # 被撤销监护资格
    "deported",  # 被遣送(驱逐)出境
]
ChildCare = Literal["institution", "family"]  # 集中养育 (welfare institution) / 社会散居
Schooling = Literal["not_in_school", "in_school", "entering_university"]  # 在校就读 / 考入大学
Relation = Literal[
    "applicant", "spouse", "child", "parent", "sibling", "grandchild", "grandparent", "other"
]
Month = Annotated[str, Field(pattern=r"^[0-9]{4}-(0[1-9]|1[0-2])$")]  # "YYYY-MM"
PaymentKind = Literal["monthly", "one_off", "batch", "back_pay"]


class Part(BaseModel):
    # A part of an event (a member, an income, a reason): frozen, and no field the model does
    # not name, as the events themselves. No docstring: pydantic would publish it as the
    # description of every part's schema.
    model_config = ConfigDict(frozen=True, extra="forbid")


def without_typed_text(data: Any, *fields: str) -> tuple[Any, bool]:
    """Data of an event archived before issue 21 without its typed-text ``fields`` (their text is
    never read again: the owning service keeps it), and whether any of them held some."""
    if not isinstance(data, dict) or not any(f in data for f in fields):
        return data, False
    data = dict(data)
    held = [data.pop(f) for f in fields if f in data]
    return data, any(isinstance(t, str) and t.strip() for t in held)
