"""Access tokens for OneDoor's own scripts — the demo, the benchmarks, the tests — which act as
the staff would after signing in: a clerk of the household's town, the district's approver.

Signed with the development key in the data directory (shared/auth/tokens.py makes it once), so a
running system trusts them. Refused in production, where tokens come from the sign-in service
alone.
"""

from __future__ import annotations

import time
from datetime import timedelta

from shared.auth.principals import Role
from shared.auth.tokens import TokenIssuer, bearer, load_token_keys
from shared.settings import Settings

_TTL = timedelta(minutes=30)
_RENEW_AFTER_S = 20 * 60  # well before the token's end: a long demo never sends a stale one


class DevTokens:
    def __init__(self, settings: Settings) -> None:
        if settings.env == "production":
            raise RuntimeError("development tokens are refused in production")
        issuer, _ = load_token_keys(settings)
        if issuer is None:
            raise RuntimeError("no signing key here (only public keys are configured)")
        self._issuer: TokenIssuer = issuer
        self._made: dict[tuple[str, str, str], tuple[float, dict[str, str]]] = {}

    def headers(self, role: Role | str, subject: str, jurisdiction: str = "") -> dict[str, str]:
        """``Authorization: Bearer …`` for this person, renewed when it grows old."""
        key = (str(role), subject, jurisdiction)
        made = self._made.get(key)
        if made is None or time.monotonic() - made[0] > _RENEW_AFTER_S:
            made = (time.monotonic(),
                    bearer(self._issuer.issue(subject, role, jurisdiction, _TTL)))
            self._made[key] = made
        return made[1]

    # The people the scripts play, each in the place of the case at hand.
    def clerk(self, area: str) -> dict[str, str]:
        return self.headers(Role.WINDOW_CLERK, f"demo-clerk-{area}", area)

    def reviewer(self, area: str) -> dict[str, str]:
        return self.headers(Role.TOWN_REVIEWER, f"demo-town-{area}", area)

    def approver(self, district: str) -> dict[str, str]:
        return self.headers(Role.DISTRICT_APPROVER, f"demo-district-{district}", district)

    def auditor(self) -> dict[str, str]:
        return self.headers(Role.AUDITOR, "demo-auditor")

    def service(self) -> dict[str, str]:
        """OneDoor's own machine: reads cases everywhere and runs payments, nothing else."""
        return self.headers(Role.SERVICE, "onedoor-scripts")
