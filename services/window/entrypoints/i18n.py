"""The words on the pages, Chinese first, English when the person chooses it.

``T[key] = (中文, English)``. Templates call ``t("key")``; codes (stages, programmes, roles,
actions, relations…) are shown with ``label("stage", code)``.
"""

from __future__ import annotations

from services.window.entrypoints.i18n_case import CASE_LABELS, CASE_T
from services.window.entrypoints.i18n_dashboard import DASHBOARD_T
from services.window.entrypoints.i18n_guardianship import GUARDIANSHIP_LABELS, GUARDIANSHIP_T
from services.window.entrypoints.i18n_lookup import LOOKUP_T
from services.window.entrypoints.i18n_policy import POLICY_LABELS, POLICY_T
from services.window.entrypoints.i18n_survey import SURVEY_LABELS, SURVEY_SCRIPT, SURVEY_T

LANGS = ("zh", "en")

T: dict[str, tuple[str, str]] = {
    "app": ("一门受理 · 社会救助窗口", "OneDoor · social assistance window"),
    "skip": ("跳到主要内容", "Skip to main content"),
    "sign_in": ("登录", "Sign in"), "sign_out": ("退出", "Sign out"),
    "account": ("账号", "Account"), "password": ("密码", "Password"),
    "signed_in_as": ("当前用户", "Signed in as"),
    "bad_credentials": ("账号或密码不正确。", "Wrong account or password."),
    "locked": ("该账号登录失败次数过多，已暂时锁定，请稍后再试。",
               "Too many failed sign-ins for this account: it is locked for a while."),
    "expired": ("登录已过期，请重新登录。", "Your session has ended: please sign in again."),
    "sign_in_oidc": ("通过统一身份认证登录", "Sign in with the single sign-on"),
    "oidc_failed": ("统一身份认证未能确认您的身份，请重新登录。",
                    "The single sign-on could not confirm who you are: please sign in again."),
    "no_account": ("统一身份认证已确认您的身份，但您在本系统没有有效账号，请联系管理员。",
                   "The single sign-on knows you, but you have no active account here: ask an "
                   "administrator."),
    "continue": ("继续", "Continue"),
    "csrf": ("表单已失效（可能已在其他页面退出或停留过久），请刷新后重试。",
             "This form has expired (signed out elsewhere, or open too long): reload and retry."),
    "home": ("首页", "Home"), "new_application": ("新申请受理", "New application"),
    "cases": ("案件查询", "Cases"), "notices": ("公示名单", "Public notice"),
    "monitoring": ("动态监测", "Monitoring"), "uploads": ("部门数据上传", "Partner uploads"),
    "language": ("语言", "Language"), "other_lang": ("English", "中文"),
    "queue_empty": ("暂无案件。", "Nothing here."),
    "unavailable_service": ("{0} 服务暂时无法访问，部分内容未显示。",
                            "The {0} service did not answer: some of this page is missing."),
    "case_id": ("案件编号", "Case id"), "programme": ("救助项目", "Programme"),
    "status": ("状态", "Status"), "stage": ("办理环节", "Stage"), "town": ("镇街", "Town"),
    "region": ("区县", "District"), "due": ("办理时限", "Due"), "overdue": ("已超时", "Overdue"),
    "submitted_at": ("受理时间", "Submitted"), "notice_ends": ("公示截止", "Notice ends"),
    "filter": ("筛选", "Filter"), "all": ("全部", "All"),
    "only_overdue": ("只看超时", "Overdue only"),
    "search": ("查询", "Search"), "search_case": ("按案件编号查找", "Find by case id"),
    "search_person": ("按身份证号查找（不会出现在网址中）",
                      "Find by resident ID number (never put in the address)"),
    "resident_id": ("身份证号码", "Resident ID number"), "name": ("姓名", "Name"),
    "relation": ("与申请人关系", "Relation"), "members": ("家庭成员", "Household members"),
    "member": ("成员", "Member"), "add_member": ("添加家庭成员", "Add a member"),
    "remove_member": ("移除此成员", "Remove this member"),
    "incomes": ("申报月收入", "Declared monthly income"),
    "income_kind": ("收入类型", "Kind of income"), "amount_yuan": ("金额（元/月）", "Yuan a month"),
    "disability_grade": ("残疾等级", "Disability grade"),
    "grade_on_record": ("残联记录残疾等级", "Disability grade on record"),
    "none": ("无", "None"),
    "consent": ("授权书签署日期", "Consent signed on"),
    "consent_hint": ("成年成员须签署家庭经济状况核对授权书。",
                     "Every adult member signs the consent to verification."),
    "able_to_work": ("劳动能力", "Able to work"), "yes": ("有", "Yes"), "no": ("无", "No"),
    "unknown": ("未申报", "Not declared"), "self_care": ("生活自理能力", "Self-care"),
    "town_code": ("受理镇街代码", "Town code"), "region_code": ("区县代码", "District code"),
    "referrals": ("同时申请专项救助", "Also asks for"),
    "temporary": ("临时救助请求", "Temporary assistance request"),
    "tmp_kind": ("类型", "Kind"), "tmp_yuan": ("申请金额（元）", "Amount asked (yuan)"),
    "tmp_cause": ("原因", "Cause"),
    "tmp_medical_yuan": ("近12个月刚性医疗支出（元）", "Rigid medical spending, 12 months (yuan)"),
    "tmp_description": ("情况说明", "What happened"), "care_mode": ("供养方式", "Care"),
    "submit_application": ("提交申请", "Submit the application"),
    "form_has_errors": ("申请未提交：请修改以下 {0} 处问题。",
                        "Not submitted: {0} problem(s) to correct."),
    "id_checked": ("号码有效：{0}出生，{1}", "Valid: born {0}, {1}"),
    "receipt": ("受理回执", "Acknowledgement of receipt"), "print": ("打印", "Print"),
    "receipt_text": ("您的社会救助申请已受理。请凭案件编号查询办理进度；"
                     "核对、审核、公示、审批各环节将依次办理，无需再跑其他部门。",
                     "Your application is received. Quote the case id to ask where it is: "
                     "verification, review, notice and approval follow without another visit."),
    "received_by": ("受理人", "Received by"), "received_on": ("受理日期", "Received on"),
    "timeline": ("办理记录", "Timeline"), "report": ("核对报告", "Verification report"),
    "decision": ("审批决定", "Decision"), "assessment": ("预审结果", "Pre-assessment"),
    "payments": ("资金发放", "Payments"), "actions": ("可办理操作", "Actions"),
    "no_actions": ("当前环节您无可办理的操作。", "Nothing for you to do in this stage."),
    "note": ("意见/理由", "Note or reason"), "justification": ("一事一议说明", "Justification"),
    "home_survey": ("入户调查", "Home survey"), "surveyed_on": ("调查日期", "Surveyed on"),
    "surveyors": ("调查人员（工号）", "Surveyors (staff ids)"),
    "findings": ("调查结论", "Findings"),
    "objection": ("异议", "Objection"), "upheld": ("异议成立", "Upheld"),
    "dismissed": ("异议不成立", "Dismissed"),
    "open_objection": ("待处理", "Open"), "review_records": ("审核记录", "Review records"),
    "per_capita": ("家庭月人均收入", "Per-capita monthly income"),
    "household_income": ("家庭月收入", "Household monthly income"),
    "assets": ("财产", "Assets"), "real_estate": ("房产", "Real estate"),
    "vehicles": ("车辆", "Vehicles"), "deposits": ("存款", "Deposits"),
    "declared": ("申报", "Declared"), "verified": ("核对", "On record"),
    "counted": ("认定", "Counted"), "sources": ("数据来源", "Sources"),
    "rule": ("规则", "Rule"), "passed": ("通过", "Passed"), "failed": ("未通过", "Failed"),
    "figures": ("依据数值", "Figures"), "policy_source": ("政策依据", "Policy source"),
    "monthly_amount": ("月救助金", "Monthly amount"), "one_off": ("一次性救助", "One-off amount"),
    "start_month": ("起始月份", "From month"), "decided_by": ("决定机关", "Decided by"),
    "period": ("月份", "Period"), "amount": ("金额", "Amount"), "kind": ("类型", "Kind"),
    "entitlement": ("待遇", "Entitlement"), "bank_account": ("收款账户", "Bank account"),
    "register_account": ("登记/更正收款账户", "Register or correct the bank account"),
    "bank_code": ("银行代码", "Bank code"), "account_number": ("账号", "Account number"),
    "holder_name": ("户名", "Account holder"), "save": ("保存", "Save"),
    "not_yet": ("暂无。", "None yet."),
    "forbidden_title": ("无权访问", "Not yours to see"),
    "forbidden_text": ("该案件不在您的管辖范围内，或您的角色无此权限。已记录本次访问。",
                       "This case is outside your jurisdiction, or your role does not allow "
                       "this. The attempt was logged."),
    "not_found_title": ("未找到", "Not found"),
    "not_found_text": ("没有这个案件，或它尚未到达此环节。", "No such case, or not here yet."),
    "error_title": ("服务暂不可用", "Service unavailable"),
    "error_text": ("后台服务暂时无法访问，请稍后再试。",
                   "A service did not answer: try again shortly."),
    "monitoring_intro": ("协同部门数据变化时，系统对低保、特困、低保边缘及近期临时救助家庭"
                         "自动预警（黄、橙、红三色），并从大额医疗费用名单中发现尚未申请的困难"
                         "群众。请核实后办结并记录结果。",
                         "When partner data changes, the system warns of hardship in the "
                         "households it watches (yellow, orange, red) and finds people who have "
                         "not applied in medical insurance's large-bill lists. Check each one, "
                         "then close it with its outcome."),
    "source_freshness": ("数据来源时效", "How current each source is"),
    "report_waiting": ("核对报告等待协同部门实时数据返回，系统将自动重试，"
                       "不会依据不完整的数据出具报告。",
                       "The report waits for a partner department's live data; it is retried "
                       "automatically and never made on part of the data."),
    "records": ("记录数", "Records"), "data_as_of": ("数据日期", "Data as of"),
    "stale": ("已过时效，请核实", "Out of date: check it"), "current": ("有效", "Current"),
    "warnings": ("预警", "Early warnings"), "leads": ("主动发现线索", "Discovery leads"),
    "leads_hint": ("线索只显示化名编号和部门记录号；审核人员可填写理由，向掌握记录的部门查询"
                   "本人身份（每次查询留痕），再上门了解。",
                   "A lead shows a pseudonym and the department's record numbers: a reviewer "
                   "may ask that department who it is, with a reason (every look-up is "
                   "recorded), then visit."),
    "tier": ("等级", "Tier"), "indicator": ("预警事由", "Indicator"),
    "raised_at": ("发现时间", "Raised"), "outcome": ("办理结果", "Outcome"),
    "evidence": ("依据记录", "Evidence"), "person_ref": ("化名编号", "Pseudonym"),
    "lead_case_id": ("已受理的案件编号（如已申请）", "Case id, if an application was made"),
    "close_item": ("办结", "Close"), "choose": ("请选择", "Choose"), "open_item": ("待办", "Open"),
    "closed_done": ("已办结。", "Closed."),
    "show_closed": ("查看全部（含已办结）", "Show all, closed ones too"),
    "show_open": ("只看待办", "Open ones only"),
    "uploads_intro": ("协同部门推送的数据文件：逐行校验，被拒的行及其原因；"
                      "同一文件重复推送不会重复入库。",
                      "Files partner departments published: checked line by line, with the "
                      "rejected lines and why; the same file sent again changes nothing."),
    "department": ("部门", "Department"), "received_at": ("接收时间", "Received"),
    "file_format": ("格式", "Format"), "lines": ("行数", "Lines"),
    "accepted": ("接收", "Accepted"), "rejected": ("被拒", "Rejected"),
    "upserted": ("新增/更新", "Added or updated"), "deleted": ("删除", "Deleted"),
    "line": ("行号", "Line"), "reason": ("原因", "Reason"),
    "publication": ("数据推送", "Publication"), "digest": ("文件摘要", "Digest"),
    "rejections_truncated": ("被拒行过多，仅显示前面部分。",
                             "Too many rejected lines: only the first are kept."),
    "no_rejections": ("没有被拒的行。", "No line was rejected."),
    "notice_title": ("社会救助拟批准对象公示", "Public notice of proposed recipients"),
    "notice_intro": ("以下家庭经审核拟予救助，现予公示。如有异议，请在公示截止日前向镇街反映。",
                     "The households below are proposed for assistance. Objections may be made "
                     "to the town office until the notice ends."),
    "household_size": ("家庭人数", "Household size"), "applicant": ("申请人", "Applicant"),
    "done": ("已办理：{0}", "Done: {0}"),
    "refused": ("未办理：{0}", "Not done: {0}"),
    "results": ("查询结果", "Results"),
    "pay_status": ("发放状态", "Payment status"),
}

LABELS: dict[str, dict[str, tuple[str, str]]] = {
    # Early warnings and leads (services/verification/domain/monitoring.py, shared catalogue).
    "flag": {"deceased": ("成员已死亡", "Member deceased"),
             "imprisoned": ("成员服刑中", "Member in prison"),
             "second_property": ("家庭拥有两套及以上住房", "Second property")},
    "tier": {"red": ("红色", "Red"), "orange": ("橙色", "Orange"), "yellow": ("黄色", "Yellow")},
    "indicator": {"medical_spending": ("大额医疗支出", "Large medical spending"),
                  "income_loss": ("收入骤降（失业、断保）", "Income lost (job, pension)"),
                  "earner_death": ("有收入成员死亡", "Death of an earner"),
                  "member_death": ("家庭成员死亡", "Death of a member"),
                  "repeated_temporary": ("多次临时救助", "Repeated temporary assistance")},
    "warning_outcome": {"assisted": ("已给予帮扶", "Assisted"),
                        "reassessed": ("已重新核定待遇", "Benefit reassessed"),
                        "referred": ("已转介专项救助", "Referred"),
                        "no_change": ("核实无需调整", "Checked, no change"),
                        "unreachable": ("无法联系", "Unreachable")},
    "lead_outcome": {"applied": ("已受理申请", "Applied"),
                     "assisted_otherwise": ("已通过其他渠道帮扶", "Assisted otherwise"),
                     "not_in_need": ("核实不困难", "Not in need"),
                     "declined": ("本人不愿申请", "Declined"),
                     "unreachable": ("无法联系", "Unreachable")},
    # Partner departments by verification's codes (services/verification/domain/partners.py).
    "department": {
        "public_security": ("公安", "Public security"),
        "hr_social_security": ("人力资源和社会保障", "HR and social security"),
        "real_estate_registry": ("不动产登记", "Real-estate registry"),
        "market_regulation": ("市场监管", "Market regulation"), "tax": ("税务", "Tax"),
        "housing_provident_fund": ("住房公积金", "Housing provident fund"),
        "bank": ("银行、保险机构", "Banks and insurers"),
        "medical_insurance": ("医疗保障", "Medical insurance"),
        "disabled_persons_federation": ("残疾人联合会", "Disabled persons' federation"),
        "court": ("法院", "Courts"),
        "child_welfare": ("儿童福利信息系统", "Children's welfare information system"),
    },
    "programme": {"dibao": ("最低生活保障", "Minimum living guarantee (Dibao)"),
                  "tekun": ("特困人员救助供养", "Extreme-hardship support"),
                  "marginal": ("低保边缘家庭", "Marginal low-income household"),
                  "temporary": ("临时救助", "Temporary assistance"),
                  "disability": ("残疾人两项补贴", "Disability subsidies"),
                  "orphan": ("孤儿、事实无人抚养儿童基本生活保障",
                             "Orphans' and de-facto unsupported children's allowance")},
    "stage": {"awaiting_report": ("待核对", "Awaiting verification"),
              "awaiting_review": ("待镇街审核", "Awaiting town review"),
              "returned": ("退回补充材料", "Returned to the window"),
              "under_notice": ("公示中", "Under public notice"),
              "awaiting_approval": ("待区县审批", "Awaiting approval"),
              "approved": ("已批准", "Approved"), "rejected": ("不予批准", "Rejected"),
              "advance_paid": ("已先行救助", "Advance paid"),
              "follow_up": ("待跟进", "Follow-up needed"), "exiting": ("渐退中", "Gradual exit"),
              "suspended": ("暂停发放", "Suspended"), "terminated": ("已终止", "Terminated"),
              "submitted": ("已受理", "Submitted"), "verified": ("已核对", "Verified"),
              "payment_scheduled": ("已安排发放", "Payment scheduled"),
              "undecidable": ("需人工处理", "Needs staff")},
    "role": {"window_clerk": ("窗口受理人员", "Window clerk"),
             "town_reviewer": ("镇街审核", "Town reviewer"),
             "district_approver": ("区县审批", "District approver"),
             "auditor": ("审计", "Auditor"), "administrator": ("管理员", "Administrator"),
             "policy_officer": ("政策管理", "Policy officer"),
             "social_worker": ("社工", "Social worker")},
    "action": {"accept": ("审核通过并公示", "Accept and post notice"),
               "return": ("退回补充", "Return to the window"), "resume": ("重新提交审核", "Resume"),
               "reject": ("不予批准", "Reject"), "object": ("登记异议", "Record an objection"),
               "resolve_objection": ("处理异议", "Resolve objection"),
               "close_notice": ("结束公示", "Close the notice"), "approve": ("批准", "Approve"),
               "advance": ("先行救助", "Pay in advance"), "confirm": ("确认", "Confirm"),
               "suspend": ("暂停", "Suspend"), "reinstate": ("恢复", "Reinstate"),
               "terminate": ("终止", "Terminate"),
               "withdraw": ("撤回申请", "Withdraw the application"),
               "close_without_consent": ("未授权核对，不予批准",
                                         "Close: no consent to the check, not approved"),
               "record_consent": ("登记核对授权并重新提交核对",
                                  "Record the consent and send back to verification")},
    "queue": {"returned": ("退回待补充", "Returned"),
              "new": ("新受理待核对", "New, being verified"),
              "under_notice": ("公示中", "In notice"), "overdue": ("已超时", "Overdue"),
              "to_review": ("待审核", "To review"),
              "awaiting_approval": ("待审批", "Awaiting approval"),
              "follow_up": ("先行救助待跟进", "Advances to follow up"),
              "consent_missing": ("待补签核对授权", "Awaiting a consent to verification")},
    "relation": {"applicant": ("申请人本人", "Applicant"), "spouse": ("配偶", "Spouse"),
                 "child": ("子女", "Child"), "parent": ("父母", "Parent"),
                 "sibling": ("兄弟姐妹", "Sibling"), "grandchild": ("孙子女", "Grandchild"),
                 "grandparent": ("祖父母", "Grandparent"), "other": ("其他", "Other")},
    "income": {"wage": ("工资", "Wage"), "pension": ("养老金", "Pension"),
               "business": ("经营收入", "Business"), "property": ("财产性收入", "Property"),
               "transfer": ("转移性收入", "Transfer"), "other": ("其他", "Other")},
    "self_care": {"full": ("全自理", "Full"), "partial": ("半自理", "Partial"),
                  "none": ("全护理", "None")},
    "care_mode": {"home": ("分散供养", "At home"), "centralised": ("集中供养", "Centralised")},
    "tmp_kind": {"emergency": ("急难型", "Emergency"), "spending": ("支出型", "Spending")},
    "tmp_cause": {"accident": ("意外事故", "Accident"), "illness": ("疾病", "Illness"),
                  "disaster": ("自然灾害", "Disaster"), "fire": ("火灾", "Fire"),
                  "education": ("教育支出", "Education"), "other": ("其他", "Other")},
    "referral": {"medical": ("医疗救助", "Medical"), "education": ("教育救助", "Education"),
                 "housing": ("住房救助", "Housing"), "employment": ("就业救助", "Employment")},
    "sex": {"male": ("男", "male"), "female": ("女", "female")},
    "payment_kind": {"monthly": ("按月发放", "Monthly"), "one_off": ("一次性", "One-off"),
                     "batch": ("批量补贴", "Subsidy"), "back_pay": ("补发", "Back pay")},
    "pay": {"scheduled": ("已安排", "Scheduled"), "held": ("暂缓", "Held"),
            "exported": ("已报送银行", "Sent to bank"), "paid": ("已到账", "Paid"),
            "failed": ("发放失败", "Failed"), "reissued": ("已重发", "Re-issued")},
    "decided_by": {"town": ("镇街", "Town"), "district": ("区县民政局", "District"),
                   "system": ("系统", "System")},
}

# The policy pages' words live in i18n_policy.py, a child's guardianship facts' in
# i18n_guardianship.py; one table for translate() and label().
T.update(POLICY_T)
T.update(GUARDIANSHIP_T)
T.update(DASHBOARD_T)  # the time-limit dashboard's (i18n_dashboard.py)
LABELS.update(POLICY_LABELS)
LABELS.update(GUARDIANSHIP_LABELS)
T.update(CASE_T)  # the case page's (i18n_case.py)
LABELS.update(CASE_LABELS)
T.update(SURVEY_T)  # the home survey's, on the phone and on the case page (i18n_survey.py)
T.update(SURVEY_SCRIPT)
LABELS.update(SURVEY_LABELS)
T.update(LOOKUP_T)  # a discovery lead's person look-up (i18n_lookup.py)


def translate(key: str, lang: str, *args: object) -> str:
    zh, en = T.get(key, (key, key))
    return (en if lang == "en" else zh).format(*args)


def label(kind: str, code: object, lang: str) -> str:
    """A code's words; the code itself when it has none (a new stage shows, if untranslated)."""
    pair = LABELS.get(kind, {}).get(str(code))
    if pair is None:
        return str(code)
    return pair[1] if lang == "en" else pair[0]
