"""The words of a child's guardianship facts (孤儿、事实无人抚养儿童基本生活保障), on the new-
application form and the case page; merged into i18n.py's tables.

The Chinese are the situations' names in 民发〔2019〕62号 and 民发〔2020〕125号; the English also
say what each covers (shared/events/catalogue.py, ParentSituation), for a reader who does not
know the documents.
"""

from __future__ import annotations

GUARDIANSHIP_T: dict[str, tuple[str, str]] = {
    "guardianship": ("儿童监护情况", "A child's guardianship"),
    "guardianship_legend": ("儿童监护情况（仅适用于孤儿、事实无人抚养儿童）",
                            "A child's guardianship (only for orphans and de-facto unsupported "
                            "children)"),
    "guardianship_hint": ("仅在申请孤儿、事实无人抚养儿童基本生活保障时，为申请保障的儿童填写"
                          "（依据证明材料）；其他成员和其他救助项目留空。",
                          "Only for the orphans' and de-facto unsupported children's allowance: "
                          "fill in for each child it is asked for, from the certificates; leave "
                          "blank for other members and other programmes."),
    "father": ("父亲情况", "Father's situation"), "mother": ("母亲情况", "Mother's situation"),
    "child_care": ("养育方式", "Where the child is cared for"),
    "schooling": ("就读情况", "Schooling"),
    "situation_on_record": ("儿童福利信息系统记录", "On the children's welfare record"),
    "record_differs": ("与申报不一致，以记录为准", "Differs from the declaration: the record "
                                                  "decides"),
    "guardianship_record_note": ("父母情况以儿童福利信息系统记录为准；记录与申报不一致时已标出，"
                                 "请核实证明材料。",
                                 "The children's welfare record decides each parent's situation; "
                                 "where it differs from the declaration it is flagged: check the "
                                 "certificates."),
}

GUARDIANSHIP_LABELS: dict[str, dict[str, tuple[str, str]]] = {
    "parent_situation": {
        "present": ("在世", "Living, none of these situations"),
        "deceased": ("死亡", "Dead (or declared dead)"),
        "missing": ("宣告失踪", "Declared missing by a court"),
        "severely_disabled": ("重残", "Severely disabled"),
        "seriously_ill": ("重病", "Seriously ill"),
        "imprisoned": ("服刑在押", "Serving a sentence, in custody"),
        "compulsory_isolation": ("强制隔离戒毒", "In compulsory drug rehabilitation"),
        "restricted_liberty": ("被执行其他限制人身自由的措施",
                               "Under another measure restricting liberty"),
        "lost_contact": ("失联", "Out of contact, not caring for the child (6 months or more)"),
        "guardianship_revoked": ("被撤销监护资格", "Guardianship revoked by a court"),
        "deported": ("被遣送(驱逐)出境", "Deported"),
    },
    "child_care": {"institution": ("集中养育（儿童福利机构）", "In a welfare institution"),
                   "family": ("社会散居（家庭）", "In a family")},
    "schooling": {"not_in_school": ("不在学", "Not in school"),
                  "in_school": ("在校就读", "In full-time school"),
                  "entering_university": ("考入大学", "Admitted to university this year")},
}
