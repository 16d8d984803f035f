"""The words of the policy pages (政策管理), merged into i18n.py's tables: kept apart so that
the window's main vocabulary stays readable. Same shape: ``(中文, English)``."""

from __future__ import annotations

POLICY_T: dict[str, tuple[str, str]] = {
    "policy": ("政策管理", "Policy"),
    "policy_intro": ("政策指标（救助标准、比例、期限等）由政策管理员在系统中提出调整，须经另一名"
                     "政策管理员审批后发布（四眼原则），自生效日期起用于审批，并自动重算受影响家庭"
                     "的待遇。",
                     "Policy figures (standards, ratios, time limits…) are proposed here by a "
                     "policy officer and published once another officer approves (four eyes). "
                     "From its effective date a published figure decides cases, and the "
                     "households it affects are recalculated."),
    "policy_read_only": ("您可查阅政策调整和发布记录；提出和审批由政策管理员办理。",
                         "You may read the proposals and the history; policy officers propose "
                         "and approve."),
    "policy_awaiting": ("待审批的政策调整", "Proposals awaiting approval"),
    "policy_recent": ("近期已发布", "Recently published"),
    "policy_new": ("提出政策调整", "Propose a new figure"),
    "policy_history": ("政策发布记录", "Published history"),
    "figure": ("政策指标", "Figure"), "policy_region": ("行政区划代码", "Region code"),
    "effective_from": ("生效日期", "Effective from"), "value": ("数值", "Value"),
    "replaces_value": ("原数值", "Replaces"), "policy_doc": ("依据文件", "Source document"),
    "policy_doc_hint": ("文件名称及文号，一行。", "The document's title and number, one line."),
    "policy_reason": ("调整理由", "Reason"), "proposed_by": ("提出人", "Proposed by"),
    "proposed_at": ("提出时间", "Proposed"), "approved_by": ("审批人", "Approved by"),
    "published_at": ("发布时间", "Published"), "decided_at": ("审批时间", "Decided"),
    "rejected_by": ("驳回人", "Rejected by"),
    "decision_note": ("审批意见", "Decision note"), "sequence": ("发布序号", "No."),
    "policy_version": ("政策版本", "Policy version"), "origin": ("来源", "Origin"),
    "approve_publish": ("批准发布", "Approve and publish"),
    "reject_proposal": ("驳回", "Reject"),
    "approve_note": ("意见（可选）", "Note (optional)"),
    "reject_note": ("驳回理由（必填）", "Why it is rejected (required)"),
    "note_required": ("驳回须填写理由。", "A rejection needs a note."),
    "four_eyes": ("四眼原则：须由另一名政策管理员审批。",
                  "four eyes: another officer must approve"),
    "own_proposal": ("本人提出", "Your proposal"),
    "submit_proposal": ("提交审批", "Submit for approval"),
    "proposal_made": ("已提交，待另一名政策管理员审批。",
                      "Submitted: another policy officer must approve it."),
    "proposal_published": ("已批准发布，正在重算受影响家庭的待遇。",
                           "Published: the households it affects are being recalculated."),
    "proposal_rejected": ("已驳回。", "Rejected."),
    "proposal": ("政策调整", "Proposal"), "view": ("查看", "View"),
    "value_hint": ("金额类指标以元填写，最多两位小数（如 1105.00）；"
                   "其他指标填写整数，单位见所选指标。",
                   "Money in yuan, at most 2 decimals (e.g. 1105.00); anything else a whole "
                   "number in the figure's unit."),
    "effective_hint": ("待遇标准等金额类指标不得早于下月1日（{0}），已过去的月份不能更改；"
                       "监测预警、主动发现和数据有效期指标可自今日（{1}）起施行。",
                       "Figures that decide amounts: no earlier than the 1st of next month ({0}),"
                       " the past is not changed; monitoring, discovery and freshness figures:"
                       " from today ({1})."),
    "form_refused": ("未提交：请修改以下问题。", "Not submitted: see the problems below."),
    "recalculation": ("待遇重算", "Recalculation"),
    "recalc_total": ("受影响家庭", "Households"), "recalc_done": ("已重算", "Done"),
    "recalc_changed": ("待遇变化", "Amount changed"),
    "recalc_to_review": ("需人工复核", "To review"),
    "recalc_running": ("正在重算，本页每5秒自动刷新。",
                       "Recalculating: this page refreshes every 5 seconds."),
    "old_amount": ("原月救助金", "Old monthly amount"),
    "new_amount": ("新月救助金", "New monthly amount"),
    "explanation_col": ("说明", "Explanation"), "case_outcome": ("结果", "Outcome"),
    "earlier": ("上一页", "Previous"), "later": ("下一页", "Next"),
    "history_filter_name": ("指标", "Figure"),
    "started_at": ("开始时间", "Started"), "finished_at": ("完成时间", "Finished"),
    # 政策测算 (policy_simulation.py)
    "simulation": ("政策测算", "Simulation"), "simulate": ("测算", "Simulate"),
    "simulation_intro": ("测算不发布任何内容：按审批系统现有记录，将在保家庭和近12个月的申请家庭"
                         "在生效日分别按现行政策和调整后的指标评估，比较两次结果。",
                         "Nothing is published: the recipients and last year's applicants are "
                         "assessed on the effective day with the policy in force and with the "
                         "new figure, from the records approval holds, and compared."),
    "sim_hint_date": ("任何日期均可：测算不发布任何内容。",
                      "Any date: a simulation publishes nothing."),
    "sim_refused": ("未能测算：请修改以下问题。", "Not simulated: see the problems below."),
    "sim_population": ("在保家庭 {0} 户，近12个月申请 {1} 件 · 用时 {2} 毫秒",
                       "{0} recipient households, {1} applications in the last 12 months · "
                       "computed in {2} ms"),
    "sim_households": ("家庭（户）", "Households"),
    "sim_cost": ("每月救助金支出（在保家庭）", "Monthly cost (recipients)"),
    "sim_before": ("调整前", "Before"), "sim_after": ("调整后", "After"),
    "sim_change": ("变化", "Change"),
    "sim_applicants_cost": ("另：新符合条件的申请家庭每月",
                            "Besides: applicants newly eligible, per month"),
    "sim_applicants_col": ("新符合条件的申请家庭每月", "Applicants newly eligible, monthly"),
    "sim_by_town": ("分镇街", "By town"), "sim_town": ("镇街代码", "Town code"),
    "sim_recipients": ("在保户数", "Recipients"), "sim_total": ("合计", "Total"),
    "sim_distribution": ("月救助金分布（户数）", "Monthly amounts (households)"),
    "sim_amount_range": ("月救助金（元）", "Monthly amount (yuan)"),
    "sim_empty_ranges": ("每档{0}元；没有家庭的档次未列出（图中仍有）。",
                         "Ranges of {0} yuan; those without households are left out here "
                         "(the chart keeps them)."),
    "sim_csv": ("下载CSV（分镇街）", "Download CSV (by town)"),
    "sim_try_other": ("换一个数值测算", "Try another value"),
    "sim_for_proposal": ("按待审批的政策调整测算，如同现在发布。",
                         "The proposal, as if it were published now."),
    "sim_chart_distribution": ("月救助金分布：调整前后各区间的户数",
                               "Monthly amounts: households per range, before and after"),
    "sim_chart_towns": ("各镇街每月支出：调整前后", "Monthly cost by town, before and after"),
    "sim_chart_table": ("数据见下表。", "The figures are in the table below."),
    "sim_households_axis": ("户数", "Households"),
    "sim_cost_axis": ("每月支出（元）", "Monthly cost (yuan)"),
    "sim_households_unit": ("户", "households"), "sim_yuan": ("元", "yuan"),
}

POLICY_LABELS: dict[str, dict[str, tuple[str, str]]] = {
    "unit": {"fen": ("元", "yuan"), "permille": ("‰", "‰"), "count": ("个", ""),
             "days": ("天", "days"), "age": ("岁", "years old"), "months": ("个月", "months"),
             "hours": ("小时", "hours"), "flag": ("1是/0否", "1 yes/0 no"),
             "grade": ("级", "grade")},
    "flag_value": {"0": ("否", "no"), "1": ("是", "yes")},
    "proposal_status": {"proposed": ("待审批", "Awaiting approval"),
                        "published": ("已发布", "Published"), "rejected": ("已驳回", "Rejected")},
    "recalc_status": {"queued": ("排队中", "Queued"), "running": ("进行中", "Running"),
                      "done": ("已完成", "Done")},
    "origin": {"packaged": ("政策文件", "Policy file"),
               "published": ("系统发布", "Published here")},
    # How a household fares in a simulation (approval's simulation.py, _compare).
    "sim_outcome": {"newly_eligible": ("新增符合条件", "Newly eligible"),
                    "newly_ineligible": ("不再符合条件", "No longer eligible"),
                    "changed": ("金额变化", "Amount changed"), "unchanged": ("不变", "Unchanged"),
                    "undecided": ("需人工判断", "Undecided")},
    # Approval's outcome per household (services/approval/service_layer/recalculation.py): a
    # benefit change, or why there was none.
    "recalc_outcome": {"unchanged": ("不变", "Unchanged"),
                       "amount_changed": ("金额调整", "Amount changed"),
                       "changed": ("已调整", "Changed"), "resumed": ("恢复发放", "Resumed"),
                       "suspended": ("暂停，待镇街复核", "Suspended, for the town to review"),
                       "gradual_exit": ("渐退", "Gradual exit"),
                       "terminated": ("终止", "Terminated"),
                       "undecided": ("需人工处理", "Needs staff")},
}
