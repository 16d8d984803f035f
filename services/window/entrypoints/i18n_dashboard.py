"""The words of the time-limit dashboard (时限, issue 26), merged into i18n.py's tables: kept
apart so that the window's main vocabulary stays readable. Same shape: ``(中文, English)``."""

from __future__ import annotations

DASHBOARD_T: dict[str, tuple[str, str]] = {
    "time_limits": ("时限", "Time limits"),
    "dash_title": ("办理时限", "Time limits"),
    "dash_intro": ("法定办理时限：镇街审核 15 个工作日，急难型临时救助 24 小时内先行救助，"
                   "区县审批 10 个工作日，均自案件进入该环节起算。“临近时限”指已用去该环节"
                   "时限的 80% 以上（最后 20%）。公示期是群众提出异议的期间，不计为工作人员的"
                   "时限；待核对环节的等待由核对部门的数据源决定，见下方“待核对”。",
                   "Statutory time limits: town review 15 working days, emergency temporary "
                   "assistance within 24 hours, district approval 10 working days, each counted "
                   "from the day the case entered the stage. \"Near\" means more than 80% of the "
                   "stage's time is gone (its last 20%). The public notice is the public's time "
                   "to object, not a limit on staff; the wait for the verification report depends "
                   "on the partner departments' sources (see \"Awaiting verification\" below)."),
    "dash_calendar": ("工作日按国家节假日安排计算，周末、法定节假日不计，调休上班日计入。"
                      "已载入 {0} 年国务院办公厅节假日安排通知（含调休）。",
                      "Working days follow the national holiday calendar: weekends and public "
                      "holidays do not count, make-up working days do. Loaded: the State "
                      "Council's holiday notice for {0} (make-up days included)."),
    "dash_calendar_provisional": ("{0} 年暂按法定节假日计算，尚未载入当年调休安排，"
                                  "临近节假日的时限可能略早于实际（不会晚于法定时限）。",
                                  "{0}: the statutory holidays only, until the year's notice is "
                                  "loaded; a limit near a holiday may fall a little early (never "
                                  "later than the law)."),
    "dash_reach": ("统计范围", "Reach"), "dash_everywhere": ("全部地区", "Everywhere"),
    "dash_as_of": ("统计时间", "As of"),
    "dash_show_all": ("查看全部范围", "Show my whole reach"),
    "dash_within": ("时限内", "Within the limit"), "dash_near": ("临近时限", "Near the limit"),
    "dash_past": ("已超时", "Past the limit"), "dash_untimed": ("无法定时限", "No statutory limit"),
    "dash_open": ("在办", "Open"), "dash_completed": ("近90天办结", "Left in 90 days"),
    "dash_median": ("用时中位数", "Median time"), "dash_p90": ("90% 分位用时", "90th percentile"),
    "dash_by_stage": ("各环节在办案件与用时", "Open cases and time taken, by stage"),
    "dash_by_stage_hint": ("用时为近 90 天内离开该环节的案件在该环节停留的日历天数。",
                           "Time taken: calendar days spent in the stage by the cases that left "
                           "it in the last 90 days."),
    "dash_by_town": ("各镇街在办案件", "Open cases by town"),
    "dash_town_total": ("合计", "Total"), "dash_district_total": ("区县合计", "District total"),
    "dash_no_town": ("未记录镇街", "No town recorded"),
    "dash_chart_stages": ("各环节在办案件（按时限）", "Open cases by stage and time limit"),
    "dash_chart_trend": ("近 90 天每日超时案件", "Cases past their limit, each day of 90"),
    "dash_chart_table": ("图表数据见下方表格。", "The figures are in the tables below."),
    "dash_stage_axis": ("办理环节", "Stage"), "dash_cases_axis": ("案件数", "Cases"),
    "dash_day_axis": ("日期", "Day"), "dash_cases_unit": ("件", "cases"),
    "dash_open_timed": ("限时环节在办", "Open in a stage with a limit"),
    "dash_trend": ("每日明细", "Day by day"),
    "dash_trend_hint": ("每日日终（今日为当前）处于限时环节的案件数，以及其中已超时的"
                        "案件数。仅列出有案件的日期。",
                        "At the end of each day (now, for today): the cases in a stage with a "
                        "limit, and of them those past it. Only days with a case are listed."),
    "dash_day": ("日期", "Day"),
    "dash_pending": ("待核对：等待部门数据", "Awaiting verification: partner data"),
    "dash_pending_hint": ("核对部门的数据源尚未全部返回时，案件在此等待，"
                          "不会以不完整的数据出具报告。",
                          "A case waits here while a partner department's source has not "
                          "answered: a report is never made on part of the data."),
    "dash_pending_count": ("等待件数", "Waiting"),
    "dash_pending_oldest": ("最长等待", "Longest wait"),
    "dash_pending_none": ("没有等待部门数据的案件。", "No case is waiting for partner data."),
    "dash_pending_more": ("仅统计最早的 {0} 件。", "Only the oldest {0} are counted."),
    "dash_department_missing": ("未返回的部门", "Departments not answering"),
    "dash_csv": ("下载 CSV", "Download CSV"),
    "dash_empty": ("当前范围内没有在办或近 90 天办结的案件。",
                   "No case open, or left a stage in the last 90 days, within this reach."),
}
