"""Approval's policy figures: the names its programmes and workflow read (``FIGURES``), over the
shared machinery of versioned figures by region and effective date (``shared.policy``)."""

from __future__ import annotations

from pathlib import Path

from shared.policy import NATIONAL, Figure, PolicyError, PolicyTable, region_chain
from shared.policy import load_policy as _load
from shared.policy import parse_policies as _parse

__all__ = ["FIGURES", "NATIONAL", "Figure", "PolicyError", "PolicyTable", "load_policy",
           "parse_policies", "parse_policy", "region_chain"]

# Every figure a policy file may set: name → (meaning, 中文). Money in fen; ratios in permille
# (‰, so 1.5× is 1500); yes/no as 1/0. Names are "<programme>.<figure>".
FIGURES: dict[str, tuple[str, str]] = {
    "workflow.public_notice_days": ("days a proposed recipient is publicly noticed", "公示天数"),
    "workflow.town_review_working_days": ("working days the town has to review",
                                          "镇街审核时限(工作日)"),
    "workflow.district_approval_working_days": ("working days the district has to approve",
                                                "区县审批时限(工作日)"),
    "workflow.town_delegated_approval": ("1 when the town approves in the district's name",
                                         "审批权委托下放镇街"),
    "workflow.emergency_advance_hours": ("hours within which an emergency advance is paid",
                                         "急难先行救助时限(小时)"),
    "dibao.monthly_standard_fen": ("Dibao standard per person per month", "低保标准(元/人·月)"),
    "dibao.max_real_estate": ("most properties a recipient household may own", "住房套数上限"),
    "dibao.max_vehicles": ("most vehicles a recipient household may own", "机动车辆上限"),
    "dibao.deposit_limit_months": ("deposits may not exceed standard × members × months",
                                   "存款上限(标准×人数×月数)"),
    "dibao.employment_cost_deduction_fen": ("deducted monthly from each working member's "
                                            "earnings", "就业成本扣减(元/人·月)"),
    "dibao.elderly_age": ("age from which a member counts as elderly", "老年人年龄"),
    "dibao.addon_elderly_permille": ("extra for an elderly member, ‰ of the standard",
                                     "分类施保: 老年人(‰标准)"),
    "dibao.addon_disabled_permille": ("extra for a disabled member, ‰ of the standard",
                                      "分类施保: 残疾人(‰标准)"),
    "dibao.addon_minor_permille": ("extra for a member under 18, ‰ of the standard",
                                   "分类施保: 未成年人(‰标准)"),
    "dibao.gradual_exit_months": ("months a benefit continues after income rises from work",
                                  "低保渐退期(月)"),
    "tekun.basic_standard_fen": ("extreme-hardship basic living standard per month",
                                 "特困人员基本生活标准(元/月)"),
    "tekun.standard_multiple_permille": ("basic living standard as ‰ of the Dibao standard, "
                                         "where no amount is set", "特困基本生活标准(‰低保标准)"),
    "tekun.min_working_age": ("age below which a person has no work ability", "劳动年龄下限"),
    "tekun.care_full_fen": ("monthly care subsidy, fully self-caring", "照料护理: 全自理"),
    "tekun.care_partial_fen": ("monthly care subsidy, partly self-caring", "照料护理: 半自理"),
    "tekun.care_none_fen": ("monthly care subsidy, not self-caring", "照料护理: 全护理"),
    "marginal.income_multiple_permille": ("upper income bound as ‰ of the Dibao standard",
                                          "低保边缘收入上限(‰低保标准)"),
    "temporary.yearly_cap_fen": ("most temporary assistance per household per calendar year",
                                 "临时救助年度累计上限"),
    "temporary.normal_ceiling_fen": ("most per case without one case, one discussion",
                                     "临时救助单次常规上限(超出须一事一议)"),
    "temporary.town_approval_limit_fen": ("most per case the town approves itself",
                                          "镇街小额临时救助审批额度"),
    "temporary.medical_spending_months": ("months rigid medical spending is spread over",
                                          "刚性医疗支出分摊月数"),
    "temporary.income_multiple_permille": ("spending-type: income after rigid spending must be "
                                           "below this ‰ of the Dibao standard",
                                           "支出型: 收入上限(‰低保标准)"),
    "disability.living_subsidy_fen": ("monthly living subsidy per disabled member of a Dibao or "
                                      "marginal household", "困难残疾人生活补贴(元/人·月)"),
    "disability.nursing_subsidy_fen": ("monthly nursing subsidy per severely disabled person",
                                       "重度残疾人护理补贴(元/人·月)"),
    "disability.nursing_max_grade": ("grades up to this one count as severe", "护理补贴残疾等级"),
    "orphan.institution_monthly_fen": ("monthly allowance per orphan in a welfare institution",
                                       "集中养育孤儿基本生活费(元/人·月)"),
    "orphan.family_monthly_fen": ("monthly allowance per orphan cared for in a family",
                                  "社会散居孤儿基本生活费(元/人·月)"),
    "orphan.de_facto_monthly_fen": ("monthly allowance per de-facto unsupported child",
                                    "事实无人抚养儿童基本生活补贴(元/人·月)"),
    "orphan.adult_age": ("age from which a child no longer counts as a child", "保障年龄(未满)"),
    "orphan.in_school_continues": ("1 when a child past that age still in full-time school "
                                   "keeps the allowance", "成年后仍在校就读继续保障"),
    "orphan.university_grant_fen": ("one-off grant to a child entering university (0: none)",
                                    "考入大学助学金(元/人)"),
    "dibao.count_provident_fund": ("1 when the housing provident fund's balance counts among "
                                   "the financial assets tested against the deposit limit",
                                   "住房公积金余额计入金融资产"),
    "dibao.taxable_income_margin_permille": ("a member's taxable income on record above their "
                                             "counted income by more than this ‰ is flagged "
                                             "for the reviewer",
                                             "纳税收入高于认定收入提示幅度(‰)"),
}
# The first release knew only Dibao, with unprefixed names; its files still load.
_OLD_NAMES = {name: f"dibao.{name}" for name in (
    "monthly_standard_fen", "max_real_estate", "max_vehicles", "deposit_limit_months")}


def parse_policy(text: str, origin: str = "<policy>") -> PolicyTable:
    """Validate a whole policy file; any problem refuses all of it, naming every bad entry."""
    return parse_policies([(text, origin)])


def parse_policies(files: list[tuple[str, str]]) -> PolicyTable:
    """Validate several policy files (text, origin) as one table; any problem refuses them all."""
    return _parse(files, FIGURES, _OLD_NAMES)


def load_policy(*paths: Path) -> PolicyTable:
    """Load policy files — or every ``*.toml`` in a directory — as one table."""
    return _load(list(paths), FIGURES, _OLD_NAMES)
