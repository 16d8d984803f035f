"""The other services' HTTP APIs, called on the signed-in person's behalf.

Every call carries a short-lived access token minted for that person (subject = staff id,
role, jurisdiction): each service checks role and jurisdiction itself, so a page can never
show more than its reader's token may read. The window adds no privilege of its own.

A service may run as several instances (its URL setting then lists them, comma-separated): the
calls take them in turn, and a call that could not even connect to one instance goes to the
next — it never reached a service, so sending it again cannot do anything twice. A call that
connected and then failed is not repeated.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import httpx

from services.window.domain.accounts import StaffAccount
from shared.auth.tokens import TokenIssuer, bearer
from shared.settings import instances

log = logging.getLogger("onedoor.window.services")


class Unreachable(Exception):
    """A service did not answer (down, restarting, timed out)."""

    def __init__(self, service: str) -> None:
        super().__init__(f"{service} did not answer")
        self.service = service


@dataclass(frozen=True)
class Answer:
    status: int
    body: Any  # the JSON answer; None when there was none

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300

    @property
    def detail(self) -> Any:
        return self.body.get("detail") if isinstance(self.body, dict) else self.body


@dataclass(frozen=True)
class Download:
    status: int
    content: bytes
    media_type: str

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300


class Services:
    def __init__(self, urls: dict[str, str], issuer: TokenIssuer, token_ttl: timedelta,
                 client: httpx.AsyncClient) -> None:
        self._urls = {service: instances(url) for service, url in urls.items()}
        self._turn = dict.fromkeys(urls, 0)
        self._issuer = issuer
        self._ttl = token_ttl
        self._client = client
        self._tokens: dict[tuple[str, str, str], tuple[float, str]] = {}

    def _token(self, who: StaffAccount) -> str:
        # One token per person for half its life: signing is cheap, but a page makes five calls.
        key = (who.staff_id, str(who.role), who.jurisdiction)
        made = self._tokens.get(key)
        if made is None or time.monotonic() - made[0] > self._ttl.total_seconds() / 2:
            made = (time.monotonic(),
                    self._issuer.issue(who.staff_id, who.role, who.jurisdiction, self._ttl))
            self._tokens[key] = made
        return made[1]

    async def call(self, who: StaffAccount, service: str, method: str, path: str, *,
                   json: Any = None, params: dict[str, str] | None = None,
                   headers: dict[str, str] | None = None) -> Answer:
        response = await self._send(who, service, method, path, json=json, params=params,
                                    headers=headers)
        try:
            body = response.json() if response.content else None
        except ValueError:
            body = None
        return Answer(response.status_code, body)

    async def send_form(self, who: StaffAccount, service: str, path: str, *,
                        fields: dict[str, str],
                        files: list[tuple[str, tuple[str, bytes, str]]]) -> Answer:
        """A ``multipart/form-data`` POST (a home survey and its photos): the window passes
        what the browser sent, on the person's behalf, and the service judges it."""
        response = await self._send(who, service, "POST", path, data=fields, files=files)
        try:
            body = response.json() if response.content else None
        except ValueError:
            body = None
        return Answer(response.status_code, body)

    async def download(self, who: StaffAccount, service: str, method: str, path: str, *,
                       json: Any = None, params: dict[str, str] | None = None) -> Download:
        """A service's answer as bytes (a CSV export): passed on to the browser by the window,
        which thus never hands the browser a token for the service."""
        response = await self._send(who, service, method, path, json=json, params=params)
        return Download(response.status_code, response.content,
                        response.headers.get("content-type", "application/octet-stream"))

    async def _send(self, who: StaffAccount, service: str, method: str, path: str, *,
                    json: Any = None, params: dict[str, str] | None = None,
                    headers: dict[str, str] | None = None, data: dict[str, str] | None = None,
                    files: list[tuple[str, tuple[str, bytes, str]]] | None = None
                    ) -> httpx.Response:
        bases = self._urls[service]
        first = self._turn[service] = (self._turn[service] + 1) % len(bases)
        try:
            for tried in range(len(bases)):
                try:
                    return await self._client.request(
                        method, bases[(first + tried) % len(bases)] + path, json=json,
                        params=params, data=data, files=files,
                        headers={**bearer(self._token(who)), **(headers or {})})
                except httpx.ConnectError:
                    if tried == len(bases) - 1:
                        raise
        except httpx.HTTPError as exc:
            # The path only: a query could hold a filter value, never worth a log line.
            log.warning("%s %s on %s failed: %s", method, path.split("?")[0], service,
                        type(exc).__name__)
            raise Unreachable(service) from exc
        raise Unreachable(service)  # not reached: the loop returns or raises; for the checker

    async def get(self, who: StaffAccount, service: str, path: str,
                  params: dict[str, str] | None = None) -> Answer:
        return await self.call(who, service, "GET", path, params=params)
