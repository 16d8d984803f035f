"""The words of the case page (issue 26), merged into i18n.py's tables: the timeline's lines,
why an action is held back, and the figures of an assessment. Same shape: ``(中文, English)``;
the timeline's blanks are named (``{members}``), filled by case_lines.py."""

from __future__ import annotations

CASE_T: dict[str, tuple[str, str]] = {
    # Actions held back: approval's refusal codes (services/approval/domain/workflow.py).
    "why_notice_running": ("公示期未满", "The public notice has not ended"),
    "why_objections_open": ("公示异议尚未处理", "An objection to the notice is not resolved"),
    "why_not_assessed": ("尚无预审结果（等待核对报告）",
                         "Not pre-assessed yet (the verification report is awaited)"),
    "why_undecided": ("预审未能判断，请先处理", "The pre-assessment could not decide"),
    "why_ineligible": ("预审不符合条件：可退回或不予批准",
                       "The pre-assessment failed: return or reject"),
    "why_no_objection": ("没有待处理的异议", "No objection is open"),
    "why_consent_missing": ("等待成员签署核对授权书：登记授权后重新提交核对",
                            "A member's consent to verification is awaited: record it, and the "
                            "case goes back to verification"),
    # Verification may not check the household yet (approval's verification_hold, by reason
    # and occasion: services/window/domain/consent.py).
    "hold_consent_missing": ("核对暂停：缺少家庭经济状况核对授权",
                             "Verification on hold: a consent is missing"),
    "hold_consent_missing_application": (
        "以下成年家庭成员尚未签署核对授权书，核对机构不能查询其信息。请其签署后在此登记，"
        "案件将重新提交核对。",
        "These adult members have not signed the consent to verification, so no data about "
        "the household may be checked. Once they have signed, record it here: the case goes "
        "back to verification."),
    "hold_consent_missing_periodic_review": (
        "定期复核暂停：以下家庭成员可能已成年，尚未签署核对授权书。请其签署后在此登记，"
        "复核将重新核对；其间待遇照常发放。",
        "Periodic review on hold: these members may have come of age and have not signed the "
        "consent to verification. Once they have signed, record it here: the review checks "
        "again. The benefit is paid as before meanwhile."),
    "why_other": ("暂不可办理", "Not possible now"),
    "opens_on": ("{0} 起可办理", "Possible from {0}"),
    "machine_fields": ("原始字段", "Machine fields"),
    # The timeline (codes read from intake's lines, services/window/domain/lines.py).
    "tl_received": ("申请已受理（{members} 人）", "Application received ({members} members)"),
    "tl_verified": ("核对完成：家庭月人均收入 {per_capita} 元，房产 {properties} 处，"
                    "车辆 {vehicles} 辆",
                    "Verified: per-capita income {per_capita} yuan a month, "
                    "{properties} properties, {vehicles} vehicles"),
    "tl_due": ("，时限 {due}", ", due {due}"),
    "tl_by": ("（{action}，{who}）", " ({action}, {who})"),
    "tl_explained": ("：{text}", ": {text}"),
    "tl_note_on_file": ("（意见已存档）", " (note on file)"),
    "tl_assessed": ("预审：{text}", "Pre-assessment: {text}"),
    "tl_monthly": ("，每月 {monthly} 元", ", {monthly} yuan a month"),
    "tl_once": ("，一次性 {once} 元", ", {once} yuan once"),
    "tl_eligible": ("符合条件{amounts}", "eligible{amounts}"),
    "tl_eligible_again": ("重新符合条件，停止渐退{amounts}",
                          "eligible again, gradual exit stopped{amounts}"),
    # Why a rule failed is approval's English (``{failed}`` is ": …" or nothing); the Chinese
    # reader finds each rule, in Chinese, in the assessment below.
    "tl_not_eligible": ("不符合条件（详见预审结果）", "not eligible{failed}"),
    "tl_needs_staff": ("须人工判断（详见预审结果）", "needs a decision by staff{failed}"),
    "tl_no_longer_eligible": ("不再符合条件，待人工复核（详见预审结果）",
                              "no longer eligible, pending staff review{failed}"),
    "tl_work_income_rose": ("务工收入增加（每月 {before} → {after} 元）：继续发放至 {until}"
                            "（{months} 个月）后停止",
                            "income from work rose ({before} → {after} yuan a month): paid "
                            "until {until} ({months} months), then it ends{failed}"),
    "tl_emergency": ("急难型：可先行救助，事后核对",
                     "emergency: may be paid in advance, verified after"),
    "tl_by_staff": ("{action}（{role}）", "{action} by the {role}"),
    "tl_decided_approved": ("批准{advance}{amounts}{start}{justified}{by}",
                            "Approved{advance}{amounts}{start}{justified}{by}"),
    "tl_decided_rejected": ("不予批准（详见审批决定）{by}", "Rejected{failed}{by}"),
    "tl_decided_undecidable": ("须人工决定（详见审批决定）{by}",
                               "Needs a decision by staff{failed}{by}"),
    "tl_advance": ("（先行救助，事后核对）", " (paid in advance, verified afterwards)"),
    "tl_start": ("，自 {start} 起", ", from {start}"),
    "tl_justified": ("（一事一议）", " (one case, one discussion)"),
    "tl_decided_by": ("，{by}决定", ", decided by the {by}"),
    "tl_benefit": ("{change}，自 {from} 起{monthly}{last}", "{change} from {from}{monthly}{last}"),
    "tl_benefit_monthly": ("：每月 {monthly} 元", ": {monthly} yuan a month"),
    "tl_last": ("，最后发放 {last}", ", last paid {last}"),
    "tl_recognised": ("认定为{status}，自 {from} 起（{members} 人）",
                      "Recognised as {status} from {from} ({members} members)"),
    "tl_consent_missing": ("核对暂停：{members} 名成员尚未签署核对授权书",
                           "verification withheld: consent missing from {members} member(s)"),
    "tl_review_requested": ("定期复核：已申请新的核对报告",
                            "Periodic review: a new verification report was requested"),
    "tl_referral_requested": ("转介{kind}", "Referred for {kind}"),
    "tl_referral_answered": ("转介答复，{kind}：{outcome}{amount}",
                             "Referral answered, {kind}: {outcome}{amount}"),
    "tl_amount": ("，{amount} 元", ", {amount} yuan"),
    "tl_payment_scheduled_once": ("已安排发放：{period} 一次性 {amount} 元{reissue}",
                                  "Payment scheduled: {amount} yuan once, in {period}{reissue}"),
    "tl_payment_scheduled_subsidy": ("已安排发放：{period} 补贴 {amount} 元{reissue}",
                                     "Payment scheduled: {amount} yuan subsidy, in "
                                     "{period}{reissue}"),
    "tl_payment_scheduled_monthly": ("已安排发放：{period} {amount} 元{reissue}",
                                     "Payment scheduled: {amount} yuan for {period}{reissue}"),
    "tl_reissue": ("（重新发放）", " (re-issued)"),
    "tl_payment_held": ("暂缓发放：{period} {amount} 元",
                        "Payment held: {amount} yuan in {period}"),
    "tl_payment_paid": ("已到账：{period} {amount} 元", "Paid: {amount} yuan for {period}"),
    "tl_payment_failed": ("发放失败：{period} {amount} 元，{why}；请镇街核对账户",
                          "Payment failed: {amount} yuan for {period}, {why}; the town corrects "
                          "the account"),
    "tl_system": ("系统", "system"),
    # Units of an assessment's figures.
    "unit_yuan": ("{0} 元", "{0} yuan"), "unit_permille": ("{0}‰", "{0}‰"),
    "unit_days": ("{0} 天", "{0} days"), "unit_months": ("{0} 个月", "{0} months"),
    "unit_hours": ("{0} 小时", "{0} hours"), "unit_age": ("{0} 岁", "{0} years old"),
}

CASE_LABELS: dict[str, dict[str, tuple[str, str]]] = {
    "benefit_change": {"gradual_exit": ("渐退", "Gradual exit"),
                       "suspended": ("暂停发放", "Benefit suspended"),
                       "resumed": ("恢复发放", "Benefit resumed"),
                       "terminated": ("终止发放", "Benefit terminated"),
                       "amount_changed": ("调整金额", "Amount changed")},
    "recognised": {"dibao": ("低保家庭", "a Dibao household"),
                   "tekun": ("特困人员", "an extreme-hardship person"),
                   "marginal": ("低保边缘家庭", "a marginal low-income household")},
    "referral_kind": {"medical": ("医疗救助", "medical assistance"),
                      "education": ("教育救助", "education assistance"),
                      "housing": ("住房救助", "housing assistance"),
                      "employment": ("就业救助", "employment assistance")},
    "referral_outcome": {"granted": ("已给予", "granted"), "declined": ("未给予", "declined"),
                         "in_progress": ("办理中", "in progress")},
    "pay_failure": {"account_closed": ("账户已销户", "account closed"),
                    "no_such_account": ("账号不存在", "no such account"),
                    "name_mismatch": ("户名不符", "name does not match"),
                    "account_frozen": ("账户冻结", "account frozen"),
                    "other": ("银行退回", "refused by the bank")},
    "decider": {"town": ("镇街", "town"), "district": ("区县", "district")},
    # The moves approval makes itself, and those an objection makes (its ``history`` actions
    # that are not a staff action of the "action" table).
    "move": {"submitted": ("受理", "received"), "pre_assessed": ("预审", "pre-assessed"),
             "emergency_registered": ("急难登记", "emergency registered"),
             "objection_recorded": ("登记异议", "objection recorded"),
             "objection_upheld": ("异议成立", "objection upheld"),
             "objection_dismissed": ("异议不成立", "objection dismissed"),
             "verified_after_advance": ("先行救助后核对通过", "verified after the advance"),
             "verification_failed_after_advance": ("先行救助后核对未通过",
                                                   "verification failed after the advance"),
             "verification_inconclusive_after_advance": ("先行救助后核对未能判断",
                                                         "verification inconclusive after the "
                                                         "advance"),
             "verified_before_advance": ("先行救助前已核对", "verified before the advance"),
             "consent_missing": ("缺少核对授权", "consent missing"),
             "consent_recorded": ("已登记核对授权", "consent recorded")},
    # An assessment's figures (approval's trace inputs and policy figures, by their last part).
    "figure": {
        "household_income_fen": ("家庭月收入", "Household income a month"),
        "deducted_fen": ("就业成本扣减", "Employment-cost deduction"),
        "counted_income_fen": ("认定收入", "Income counted"),
        "household_size": ("家庭人数", "Household size"),
        "counted_size": ("计算人数", "Persons counted"),
        "per_capita_income_fen": ("月人均收入", "Per-capita income a month"),
        "members": ("成员收入", "Members' income"),
        "real_estate_count": ("房产", "Properties"), "vehicle_count": ("车辆", "Vehicles"),
        "deposits_fen": ("存款", "Deposits"), "deposit_limit_fen": ("存款上限", "Deposit limit"),
        "provident_fund_fen": ("公积金", "Provident fund"),
        "financial_assets_fen": ("金融资产", "Financial assets"),
        "taxable_income_fen": ("应税收入", "Taxable income"),
        "monthly_amount_fen": ("月救助金", "Monthly amount"),
        "one_off_amount_fen": ("一次性救助金", "One-off amount"),
        "amount_fen": ("金额", "Amount"), "upper_bound_fen": ("上限", "Upper bound"),
        "requested_amount_fen": ("申请金额", "Amount asked"),
        "rigid_spending_fen": ("刚性支出", "Rigid spending"),
        "after_spending_fen": ("扣除刚性支出后", "After rigid spending"),
        "granted_this_year_fen": ("本年已救助", "Granted this year"),
        "grantable_fen": ("可救助金额", "Grantable"), "age_years": ("年龄", "Age"),
        "disability_grade": ("残疾等级", "Disability grade"),
        "declared_grade": ("申报残疾等级", "Declared disability grade"),
        "grade_on_record": ("记录残疾等级", "Disability grade on record"),
        "household_status": ("家庭认定状态", "Household status"),
        "monthly_standard_fen": ("低保标准", "Dibao standard"),
        "employment_cost_deduction_fen": ("就业成本扣减", "Employment-cost deduction"),
        "max_real_estate": ("住房上限", "Most properties"),
        "max_vehicles": ("车辆上限", "Most vehicles"),
        "deposit_limit_months": ("存款上限月数", "Deposit limit in months"),
        "elderly_age": ("老年人年龄", "Elderly from age"),
        "public_notice_days": ("公示天数", "Public notice days"),
        "person_ref": ("成员（化名编号）", "Member (pseudonym)"),
        "addon_elderly_permille": ("老年人加发比例", "Extra for the elderly"),
        "addon_disabled_permille": ("残疾人加发比例", "Extra for the disabled"),
        "addon_minor_permille": ("未成年人加发比例", "Extra for minors"),
    },
}
