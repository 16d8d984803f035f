"""The home survey (入户调查) as a social worker records it on a phone: the checklist's words,
who may record one and when, and what a photo of a document may be.

National practice: 最低生活保障审核确认办法 (民发〔2021〕57号) has the town verify what a household
declared by, among other means, a home survey — two staff at least visit the home and see the
household's income, property and daily living (吃、穿、住、用), and fill in a survey form that
they and the members present sign. The checklist below is that form's usual content: housing
(tenure, state), durable goods, vehicles, who lives there and who was present, each member's
capacity to work, signs of hardship, and whether what was seen agrees with the application. The
surveys of 特困 (民发〔2021〕43号) and 低保边缘 households follow the same form, which is why the
workflow asks for one before the town accepts those programmes (workflow.NOTICED).

Pure: codes and counts in, problems out. What a surveyor types (the notes) and the photos stay
in approval; the bus hears only the codes and counts (``HomeSurveyRecorded``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from typing import Literal, get_args

# Where a case may be surveyed: at the town, from the application until its review is done —
# the survey runs beside the verification (the town starts its inquiries on receipt).
SURVEY_STAGES = ("awaiting_report", "awaiting_review")
SURVEYOR_ROLES = ("social_worker", "town_reviewer")

HousingTenure = Literal["owned", "rented", "public_rental", "borrowed", "self_built", "other"]
HousingState = Literal["sound", "ordinary", "poor", "dangerous"]  # 良好/一般/较差/危房
# What the surveyors saw agrees with the application, differs from it, or could not be seen.
Outcome = Literal["as_declared", "differs", "could_not_verify"]
# Yes/no items of the form. Goods: 耐用消费品; signs: the household's circumstances.
Item = Literal[
    "tv", "fridge", "washing_machine", "air_conditioner", "computer", "water_heater",
    "luxury_goods",  # 高档消费品 (jewellery, high-end electronics, collections)
    "food_clothing_secure",  # 吃穿有保障
    "serious_illness",  # 家中有重病患者
    "disability",  # 家中有残疾人
    "student",  # 有在学子女
    "business_activity",  # 从事经营活动
    "livestock_or_land",  # 有承包地、林地或养殖
]
PhotoKind = Literal["household_register", "identity_card", "income_proof", "medical_record",
                    "disability_certificate", "housing", "other"]
ITEMS: tuple[str, ...] = get_args(Item)
PHOTO_KINDS: tuple[str, ...] = get_args(PhotoKind)

MAX_MEMBERS = 30
MAX_VEHICLES = 20
MAX_NOTES = 4000
# A phone's photo of a page, as the survey page sends it (scaled to 1600 px, JPEG): 200–600 KB.
# The limit leaves room for a photo sent as taken; eight cover the documents of a household.
MAX_PHOTO_BYTES = 5 * 1024 * 1024
MAX_PHOTOS = 8
# The survey's form, notes and its multipart envelope, beside its photos.
MAX_FORM_BYTES = 64 * 1024
MAX_REQUEST_BYTES = MAX_PHOTOS * MAX_PHOTO_BYTES + MAX_FORM_BYTES
# How old a survey may be when recorded: one taken offline is sent when the phone is back.
MAX_AGE_DAYS = 60


@dataclass(frozen=True)
class Checklist:
    """The structured part of one survey; counts are of people and vehicles."""

    surveyed_on: date
    outcome: str
    housing_tenure: str
    housing_state: str
    members_living: int  # 共同生活的家庭成员
    members_present: int  # 在场
    able_to_work: int  # 有劳动能力
    partly_able: int  # 部分丧失劳动能力
    unable_to_work: int  # 完全丧失劳动能力
    cars: int = 0
    motorcycles: int = 0
    items: tuple[str, ...] = ()  # the yes items; the others were seen absent

    def problems(self, today: date) -> list[tuple[str, str]]:
        """(field, why) for each thing wrong; never the value itself."""
        found = []
        if self.surveyed_on > today:
            found.append(("surveyed_on", "is after today"))
        elif self.surveyed_on < today - timedelta(days=MAX_AGE_DAYS):
            found.append(("surveyed_on", f"is more than {MAX_AGE_DAYS} days ago"))
        if self.members_present > self.members_living:
            found.append(("members_present", "is more than the members living there"))
        if self.able_to_work + self.partly_able + self.unable_to_work != self.members_living:
            found.append(("unable_to_work", "able, partly able and unable to work must add up "
                                            "to the members living there"))
        if len(set(self.items)) != len(self.items):
            found.append(("items", "names an item twice"))
        return found

    def to_dict(self) -> dict[str, object]:
        return {"surveyed_on": self.surveyed_on.isoformat(), "outcome": self.outcome,
                "housing_tenure": self.housing_tenure, "housing_state": self.housing_state,
                "members_living": self.members_living, "members_present": self.members_present,
                "able_to_work": self.able_to_work, "partly_able": self.partly_able,
                "unable_to_work": self.unable_to_work, "cars": self.cars,
                "motorcycles": self.motorcycles, "items": sorted(self.items)}


# The types a photo may be, known by their first bytes (the name and the declared type are the
# sender's word): JPEG, PNG, WebP — what a phone's camera and every browser can show.
PHOTO_TYPES = ("image/jpeg", "image/png", "image/webp")


def photo_type(head: bytes) -> str | None:
    """The image type the bytes begin with, or None when they are none of PHOTO_TYPES."""
    if head.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if len(head) >= 12 and head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "image/webp"
    return None
