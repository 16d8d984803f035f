"""Who is signing in: the seam between the window and whatever proves a person's identity.

The window keeps each person's role and jurisdiction in its own accounts whoever proves the
identity: a provider answers "this is c-cixi-001", the window's accounts say what c-cixi-001
may do where. Two providers:

- ``LocalPasswords`` (the default, ``ONEDOOR_WINDOW_IDENTITY_PROVIDER=local``): a password form,
  scrypt hashes in the window's database.
- OpenID Connect (``=oidc`` with ``ONEDOOR_WINDOW_OIDC_ISSUER``, ``…_CLIENT_ID``,
  ``…_CLIENT_SECRET``): the authorization-code flow with PKCE
  (services/window/adapters/oidc.py); passwords are the provider's business, so the password
  form is gone and every password is refused (``NoPasswords``).
"""

from __future__ import annotations

from typing import Protocol

import httpx

from services.window.adapters.oidc import OpenIDConnect
from services.window.adapters.passwords import hash_password, verify_password
from shared.settings import Settings


class IdentityProvider(Protocol):
    password_form: bool  # whether the sign-in page asks for a password

    def check_password(self, password: str, stored_hash: str | None) -> bool:
        """Whether the password matches (False for an account without a usable hash)."""
        ...


class LocalPasswords:
    password_form = True

    def __init__(self) -> None:
        # Compared against when the account is unknown, so that a wrong account name costs the
        # same scrypt time as a wrong password.
        self._dummy = hash_password("not-a-password-of-anyone")

    def check_password(self, password: str, stored_hash: str | None) -> bool:
        if stored_hash is None:
            verify_password(password, self._dummy)
            return False
        return verify_password(password, stored_hash)



class NoPasswords:
    """With an OpenID Connect provider: no password is ever right here."""

    password_form = False

    def check_password(self, password: str, stored_hash: str | None) -> bool:
        return False


def identity_provider(settings: Settings, client: httpx.AsyncClient
                      ) -> tuple[IdentityProvider, OpenIDConnect | None]:
    """The password checker, and the OpenID Connect client when one is configured."""
    if settings.window_identity_provider == "oidc":
        if not (settings.window_oidc_issuer and settings.window_oidc_client_id):
            raise ValueError("ONEDOOR_WINDOW_IDENTITY_PROVIDER=oidc needs "
                             "ONEDOOR_WINDOW_OIDC_ISSUER and ONEDOOR_WINDOW_OIDC_CLIENT_ID")
        secret = settings.window_oidc_client_secret
        return NoPasswords(), OpenIDConnect(
            settings.window_oidc_issuer, settings.window_oidc_client_id,
            secret.get_secret_value() if secret else None, client,
            username_claim=settings.window_oidc_username_claim)
    return LocalPasswords(), None
