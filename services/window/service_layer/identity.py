"""Who is signing in: the seam between the window and whatever proves a person's identity.

The window keeps each person's role and jurisdiction in its own accounts whoever proves the
identity: a provider answers "this is c-cixi-001", the window's accounts say what c-cixi-001
may do where. Two providers are designed:

- ``LocalPasswords`` (the default, ``ONEDOOR_WINDOW_IDENTITY_PROVIDER=local``): a password form,
  scrypt hashes in the window's database.
- OpenID Connect (``=oidc`` with ``ONEDOOR_WINDOW_OIDC_ISSUER``, ``…_CLIENT_ID``,
  ``…_CLIENT_SECRET``): the authorization-code flow with PKCE. ``begin`` would send the browser
  to the provider's authorization endpoint with a state and nonce kept in a short-lived cookie;
  ``complete`` would exchange the code at the token endpoint, verify the ID token (signature by
  the provider's published keys, ``iss``, ``aud``, ``nonce``, ``exp``) and answer with the staff
  id its ``preferred_username`` claim names. Not written yet: the window refuses to start with
  ``oidc`` rather than pretend (docs/WINDOW.md).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Protocol

from shared.auth import hash_password, verify_password
from shared.settings import Settings


class IdentityProvider(Protocol):
    password_form: bool  # whether the sign-in page asks for a password

    def check_password(self, password: str, stored_hash: str | None) -> bool:
        """Whether the password matches (False for an account without a usable hash)."""
        ...

    def begin(self, state: str, nonce: str, redirect_uri: str) -> str:
        """Where to send the browser to sign in (redirect-based providers)."""
        ...

    def complete(self, answer: Mapping[str, str], state: str, nonce: str,
                 redirect_uri: str) -> str:
        """The staff id the provider's answer proves (redirect-based providers)."""
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

    def begin(self, state: str, nonce: str, redirect_uri: str) -> str:
        raise NotImplementedError("local accounts sign in with the password form")

    def complete(self, answer: Mapping[str, str], state: str, nonce: str,
                 redirect_uri: str) -> str:
        raise NotImplementedError("local accounts sign in with the password form")


def identity_provider(settings: Settings) -> IdentityProvider:
    if settings.window_identity_provider == "oidc":
        raise ValueError("ONEDOOR_WINDOW_IDENTITY_PROVIDER=oidc: the OpenID Connect client is "
                         "designed (services/window/service_layer/identity.py) but not written "
                         "yet; use local accounts")
    return LocalPasswords()
