"""Demonstration accounts of every role, made when the window starts in development or test
(never in production). ``make up`` prints them."""

from __future__ import annotations

from services.window.domain.accounts import StaffAccount
from shared.auth.principals import Role

# A development password, printed by `make up`: these accounts exist only where nothing is real.
DEMO_PASSWORD = "onedoor-demo"

DEMO_ACCOUNTS = (
    StaffAccount("c-cixi-001", Role.WINDOW_CLERK, "330282001", "演示窗口受理员（一镇）"),
    StaffAccount("c-cixi-002", Role.WINDOW_CLERK, "330282002", "演示窗口受理员（二镇）"),
    StaffAccount("r-cixi-001", Role.TOWN_REVIEWER, "330282001", "演示镇街审核员"),
    # The town's social worker, who takes the home surveys on a phone (/surveys): the same town
    # as the demo reviewer, whose cases the demo's households land in.
    StaffAccount("s-cixi-001", Role.SOCIAL_WORKER, "330282001", "演示社工（一镇）"),
    StaffAccount("a-cixi", Role.DISTRICT_APPROVER, "330282", "演示区县审批员"),
    StaffAccount("au-001", Role.AUDITOR, "", "演示审计员"),
    StaffAccount("admin", Role.ADMINISTRATOR, "", "演示管理员"),
    # Two policy officers of the same place, so that one proposes and the other approves (four
    # eyes): Cixi, whose packaged figures (dibao.toml, tekun.toml) they can change.
    StaffAccount("p-cixi-001", Role.POLICY_OFFICER, "330282", "演示政策管理员（甲）"),
    StaffAccount("p-cixi-002", Role.POLICY_OFFICER, "330282", "演示政策管理员（乙）"),
)


def demo_accounts() -> list[tuple[StaffAccount, str]]:
    return [(account, DEMO_PASSWORD) for account in DEMO_ACCOUNTS]
