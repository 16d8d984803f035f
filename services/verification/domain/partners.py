"""The partner departments and the kinds of data each publishes (DOMAIN.md §4), as data.

A kind belongs to exactly one department: only that department may publish or correct records of
it. What a record's figures mean depends on its kind's ``measure``; the report builder
(``model.build_report``) reads every kind: incomes kind by kind, assets, grades, situations, and
the facts that raise the reviewer's flags (a death, an imprisonment, a registration elsewhere).
"""

from __future__ import annotations

from dataclasses import dataclass
from types import MappingProxyType
from typing import Literal

# monthly_fen: income per month, in fen; value_fen: a value or balance, in fen;
# grade: a grade (1 most severe … 4), no amount; fact: the record itself is the datum (a
# registration, a death, an imprisonment), dated by ``as_of``, no amount; situation: a parent's
# situation, one of SITUATIONS, in the record's ``situation``, no amount.
Measure = Literal["monthly_fen", "value_fen", "grade", "fact", "situation"]
MONEY_MEASURES: frozenset[str] = frozenset({"monthly_fen", "value_fen"})
GRADES = range(1, 5)
# A parent's situation, as the event catalogue's ParentSituation (民发〔2019〕62号, 〔2020〕125号).
SITUATIONS = ("present", "deceased", "missing", "severely_disabled", "seriously_ill",
              "imprisoned", "compulsory_isolation", "restricted_liberty", "lost_contact",
              "guardianship_revoked", "deported")


@dataclass(frozen=True)
class DataKind:
    name: str
    label: str  # 中文, for screens
    measure: Measure


@dataclass(frozen=True)
class Department:
    code: str  # the name its credential is stored under
    label: str
    kinds: tuple[DataKind, ...]


DEPARTMENTS: tuple[Department, ...] = (
    Department("public_security", "公安", (
        # The record's town_code is the town of registration (户籍所在地), whose first six digits
        # are its county; a record without one says only that the person is registered.
        DataKind("household_registration", "户籍登记", "fact"),
        DataKind("vehicle", "机动车", "value_fen"),
        DataKind("death", "死亡登记", "fact"),
    )),
    Department("hr_social_security", "人力资源和社会保障", (
        DataKind("wage", "工资收入", "monthly_fen"),
        DataKind("pension", "养老金", "monthly_fen"),
        DataKind("unemployment_benefit", "失业保险金", "monthly_fen"),
    )),
    Department("real_estate_registry", "不动产登记", (
        DataKind("real_estate", "不动产", "value_fen"),
    )),
    # A business registered to the person (个体工商户, 企业), with its monthly net business
    # income (经营净收入) as the department holds it — 0 where it holds none: the registration
    # is then a flag only. It was a value (the registered capital) until issue 22: a capital is
    # no income, and what the report needs is the monthly figure it counts beside the declared
    # business income (民发〔2021〕57号 counts 经营净收入 as income).
    Department("market_regulation", "市场监管", (
        DataKind("business", "工商登记（经营收入/月）", "monthly_fen"),
    )),
    # Taxable income is evidence of income, not a kind of it: it overlaps wages and business
    # income, so the report carries it beside the count and never adds it to the count.
    Department("tax", "税务", (
        DataKind("taxable_income", "纳税收入", "monthly_fen"),
    )),
    Department("housing_provident_fund", "住房公积金", (
        DataKind("provident_fund", "公积金账户余额", "value_fen"),
    )),
    # Banks and insurers publish under one credential for now; one per institution (Weihai has
    # 82) is a matter of adding departments here, not code.
    Department("bank", "银行、保险机构", (
        DataKind("deposit", "存款", "value_fen"),
        DataKind("wealth_product", "理财产品", "value_fen"),
        DataKind("insurance_policy", "商业保险（现金价值）", "value_fen"),
    )),
    Department("medical_insurance", "医疗保障", (
        DataKind("large_medical_bill", "大额医疗费用（个人负担）", "value_fen"),
    )),
    Department("disabled_persons_federation", "残疾人联合会", (
        DataKind("disability_grade", "残疾等级", "grade"),
    )),
    Department("court", "法院", (
        DataKind("imprisonment", "服刑", "fact"),
    )),
    # The children's welfare information system (儿童福利信息系统) holds, for a child, each
    # parent's situation as public security, the courts, justice administration, the disabled
    # persons' federation and health departments establish it (民发〔2019〕62号): a record about
    # the child, whose parents are not members of the household.
    Department("child_welfare", "儿童福利信息系统", (
        DataKind("father_situation", "父亲情况", "situation"),
        DataKind("mother_situation", "母亲情况", "situation"),
    )),
)

KINDS: MappingProxyType[str, DataKind] = MappingProxyType(
    {k.name: k for d in DEPARTMENTS for k in d.kinds})
OWNER: MappingProxyType[str, str] = MappingProxyType(
    {k.name: d.code for d in DEPARTMENTS for k in d.kinds})
# Which department may publish which kinds of record. A department publishing a kind that is not
# its own is refused: a bank has no say on a person's vehicles.
DEPARTMENT_KINDS: MappingProxyType[str, frozenset[str]] = MappingProxyType(
    {d.code: frozenset(k.name for k in d.kinds) for d in DEPARTMENTS})

assert len(OWNER) == sum(len(d.kinds) for d in DEPARTMENTS), "a kind has one owner"
