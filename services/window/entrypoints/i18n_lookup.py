"""The words of a discovery lead's person look-up (查询身份, issue 26), merged into i18n.py's
tables: on the monitoring page's leads and the answer's page. Same shape: ``(中文, English)``."""

from __future__ import annotations

LOOKUP_T: dict[str, tuple[str, str]] = {
    "look_up_person": ("查询身份", "Look up the person"),
    "lookup_reason": ("查询理由（必填）", "Reason (required)"),
    "lookup_hint": ("向掌握该记录的部门查询此人身份。每次查询连同理由均记录在案，供审计查阅。",
                    "Asks the department that holds the record who this is. Every look-up is "
                    "recorded with its reason, for auditors."),
    "lookup_no_reason": ("请填写查询理由（reason）。", "a reason is required (reason)."),
    "lead_person": ("线索人员身份", "Who the lead is"),
    "lookup_address": ("部门登记地址", "Address on the department's record"),
    "lookup_phone": ("部门登记电话", "Phone on the department's record"),
    "lookup_answered_by": ("答复部门", "Answered by"),
    "lookup_not_found": ("{0}未找到该记录对应的人员。", "{0} holds no person for this record."),
    "lookup_once": ("身份信息仅在本页显示一次，系统不保存，也不会出现在其他页面；"
                    "请仅用于上门核实，勿转发、截图或留存。",
                    "Shown on this page once: it is kept nowhere and appears on no other page. "
                    "Use it for the visit only; do not forward, photograph or keep it."),
    "lookup_logged": ("本次查询已记录，编号", "This look-up is recorded as"),
    "lookup_back": ("返回动态监测", "Back to monitoring"),
    "lookup_not_connected": ("该部门未接入实时身份查询（本次查询已记录），请直接联系该部门。",
                             "That department is not connected for look-ups (this look-up is "
                             "recorded): ask it directly."),
    "lookup_unavailable": ("该部门暂时无法答复（本次查询已记录），请稍后再试。",
                           "The department could not answer now (this look-up is recorded): "
                           "try again later."),
    "lookup_closed": ("该线索已办结，无需查询身份。", "This lead is closed: nobody to look up."),
}
