"""The words of the home survey (入户调查, issue 26): the phone's list and form, its script's
messages, and the survey as the case page shows it. Merged into i18n.py's tables; same shape,
``(中文, English)``. The checklist's codes are approval's (services/approval/domain/survey.py)."""

from __future__ import annotations

SURVEY_T: dict[str, tuple[str, str]] = {
    "surveys": ("入户调查", "Home surveys"),
    "surveys_intro": ("本镇街待审核的案件。入户时填写调查表并拍摄证件照片；表单随时保存在本机，"
                      "网络恢复后再提交。",
                      "The town's cases awaiting its review. Fill in the survey at the home and "
                      "photograph the documents; the form is kept on this phone until it is sent."),
    "survey_none": ("暂无待调查的案件。", "No case to survey."),
    "survey_sent": ("案件 {0} 的入户调查已提交。", "The survey of case {0} was sent."),
    "survey_required": ("须入户调查", "Survey required"),
    "survey_optional": ("可选", "Optional"),
    "surveys_done": ("已调查 {0} 次", "Surveyed {0}×"),
    "household_size": ("家庭人口", "Household"),
    "persons": ("{0} 人", "{0} people"),
    "survey_of": ("入户调查：案件 {0}", "Home survey: case {0}"),
    "survey_closed_title": ("此案件已不在镇街审核环节", "This case is past the town's review"),
    "survey_closed_text": ("案件已审核完毕，不再记录入户调查。",
                           "The town has reviewed it: no survey is recorded now."),
    "sf_surveyed_on": ("调查日期", "Surveyed on"),
    "sf_surveyors": ("调查人员（工号，至少两人）", "Surveyors (staff ids, two at least)"),
    "sf_situation": ("家庭人员", "The household"),
    "sf_members_living": ("共同生活人数", "Members living there"),
    "sf_members_present": ("在场人数", "Members present"),
    "sf_work": ("劳动能力（人数）", "Capacity to work (people)"),
    "sf_able_to_work": ("有劳动能力", "Able"),
    "sf_partly_able": ("部分丧失", "Partly able"),
    "sf_unable_to_work": ("完全丧失", "Unable"),
    "sf_housing": ("居住状况", "Housing"),
    "sf_housing_tenure": ("住房性质", "Tenure"),
    "sf_housing_state": ("房屋状况", "State of the home"),
    "sf_vehicles": ("车辆", "Vehicles"),
    "sf_cars": ("汽车（辆）", "Cars"),
    "sf_motorcycles": ("摩托车/电动车（辆）", "Motorcycles, e-bikes"),
    "sf_items": ("生活状况（有则勾选）", "Living conditions (tick what you saw)"),
    "sf_outcome": ("调查结论", "Finding"),
    "sf_notes": ("调查记录（仅保存在审批系统，不对外发布）",
                 "Notes (kept by approval, never published)"),
    "sf_photos": ("证件照片", "Photos of documents"),
    "sf_photo_kind": ("照片内容", "The photo shows"),
    "sf_photo": ("拍照", "Take a photo"),
    "sf_photo_hint": ("最多 8 张；照片在本机缩小后随调查表提交。",
                      "Up to 8; each is made smaller on the phone and sent with the survey."),
    "sf_remove_photo": ("删除照片", "Remove photo"),
    "sf_send": ("提交调查", "Send the survey"),
    "sf_clear": ("清除草稿", "Discard the draft"),
    "sf_photo_count": ("{0} 张照片", "{0} photos"),
    "draft_rules": ("草稿只保存在本机：提交后、退出登录时清除，开始填写 7 天后自动删除。",
                    "The draft is kept on this phone only: it is cleared once sent, when you "
                    "sign out, and 7 days after it was started."),
    "drafts_expired": ("本机有 {0} 份入户调查草稿开始填写已超过 7 天，已删除。",
                       "{0} survey draft(s) on this phone, started more than 7 days ago, "
                       "were discarded."),
    "survey_id_taken": ("这份调查已提交过（当时未收到回复），之后的修改未提交。已提交的调查以案件中"
                        "所记为准；如需另作一次调查，请清除草稿后重新填写。",
                        "This survey was sent before (the answer was lost) and is recorded as "
                        "it was then; the changes made since were not sent. To record another "
                        "survey, discard the draft and fill in a new one."),
    "survey_too_large": ("照片过大或过多：请删除部分照片后重试。",
                         "The photos are too large or too many: remove some and try again."),
    "survey_problems": ("调查未提交，请修改：", "Not sent. Please correct:"),
    "survey_records": ("入户调查记录", "Home surveys"),
    "survey_by": ("记录人", "Recorded by"),
    "survey_no_checklist": ("（随审核一并记录，无调查表）", "(recorded with the review: no form)"),
}

# What the page's script says (static/survey.js reads them from data-* attributes).
SURVEY_SCRIPT: dict[str, tuple[str, str]] = {
    "draft_saved": ("草稿已保存在本机", "Draft kept on this phone"),
    "draft_restored": ("已恢复本机保存的草稿", "The draft kept on this phone was restored"),
    "offline": ("当前无网络：草稿保存在本机，恢复网络后再提交。",
                "Offline: the draft stays on this phone; send it when you are back online."),
    "send_failed": ("未能提交（网络中断）：草稿仍保存在本机，请稍后再试。",
                    "Not sent (no connection): the draft is kept on this phone; try again."),
    "sending": ("正在提交…", "Sending…"),
    "signed_out": ("登录已过期：请重新登录，草稿仍保存在本机。",
                   "Your session ended: sign in again; the draft is kept on this phone."),
    "signed_out_now": ("已退出登录：本机草稿已清除，此页不再保存。",
                       "You signed out: the drafts on this phone were cleared, and this page "
                       "keeps nothing more."),
    "photos_not_kept": ("照片过多，未能全部保存在本机草稿中。",
                        "Too many photos to keep them all in the draft on this phone."),
    "too_many_photos": ("最多 8 张照片。", "Up to 8 photos."),
}

SURVEY_LABELS: dict[str, dict[str, tuple[str, str]]] = {
    "survey_outcome": {"as_declared": ("与申报一致", "As declared"),
                       "differs": ("与申报不一致", "Differs from the application"),
                       "could_not_verify": ("无法核实", "Could not verify")},
    "housing_tenure": {"owned": ("自有住房", "Owned"), "rented": ("租住", "Rented"),
                       "public_rental": ("公租房", "Public rental"),
                       "borrowed": ("借住", "Borrowed"), "self_built": ("自建房", "Self-built"),
                       "other": ("其他", "Other")},
    "housing_state": {"sound": ("良好", "Sound"), "ordinary": ("一般", "Ordinary"),
                      "poor": ("较差", "Poor"), "dangerous": ("危房", "Dangerous")},
    "survey_item": {"tv": ("电视机", "TV"), "fridge": ("冰箱", "Fridge"),
                    "washing_machine": ("洗衣机", "Washing machine"),
                    "air_conditioner": ("空调", "Air conditioner"),
                    "computer": ("电脑", "Computer"), "water_heater": ("热水器", "Water heater"),
                    "luxury_goods": ("高档消费品", "Luxury goods"),
                    "food_clothing_secure": ("吃穿有保障", "Food and clothing secure"),
                    "serious_illness": ("有重病患者", "Someone seriously ill"),
                    "disability": ("有残疾人", "Someone disabled"),
                    "student": ("有在学子女", "A child in school"),
                    "business_activity": ("从事经营活动", "Runs a business"),
                    "livestock_or_land": ("有承包地或养殖", "Land or livestock")},
    "photo_kind": {"household_register": ("户口簿", "Household register"),
                   "identity_card": ("身份证", "Identity card"),
                   "income_proof": ("收入证明", "Proof of income"),
                   "medical_record": ("病历/诊断证明", "Medical record"),
                   "disability_certificate": ("残疾证", "Disability certificate"),
                   "housing": ("住房现状", "The home"), "other": ("其他", "Other")},
}

# Approval's reasons (English, services/approval/domain/survey.py and the photo checks), in
# Chinese: (a phrase of the reason, 中文).
SURVEY_REASONS: tuple[tuple[str, str], ...] = (
    ("is after today", "不能晚于今天"),
    ("days ago", "距今过久"),
    ("more than the members living", "不能多于共同生活人数"),
    ("must add up", "三项之和应等于共同生活人数"),
    ("names an item twice", "重复勾选"),
    ("is larger than", "照片过大，请重新拍摄"),
    ("not a JPEG, PNG or WebP", "不是 JPEG、PNG 或 WebP 图片"),
    ("photos a survey", "照片过多"),
    ("one kind for each photo", "每张照片须选择内容"),
    ("is not surveyed", "案件已不在镇街审核环节"),
)
