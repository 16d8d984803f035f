"""The window spreads its calls over a service's instances, and a call that could not connect to
one goes to the next; one that connected is never sent twice."""

from __future__ import annotations

from datetime import timedelta

import httpx
import pytest

from services.window.adapters.services import Services, Unreachable
from services.window.domain.accounts import Role, StaffAccount
from shared.auth.tokens import load_token_keys
from shared.settings import Settings, instances

CLERK = StaffAccount("c-1", Role("window_clerk"), "330282001", "Clerk")


def services(tmp_path, handler) -> Services:  # type: ignore[no-untyped-def]
    issuer = load_token_keys(Settings(env="test", data_dir=tmp_path))[0]
    assert issuer is not None
    client = httpx.AsyncClient(transport=httpx.MockTransport(handler))
    return Services({"intake": "http://a:1, http://b:2/"}, issuer, timedelta(minutes=5), client)


def test_a_url_setting_names_one_or_several_instances():
    assert instances("http://a:1") == ["http://a:1"]
    assert instances("http://a:1, http://b:2/") == ["http://a:1", "http://b:2"]
    with pytest.raises(ValueError):
        instances(" , ")


async def test_calls_take_the_instances_in_turn(tmp_path):
    hosts: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        hosts.append(request.url.host)
        return httpx.Response(200, json={})

    window = services(tmp_path, handler)
    for _ in range(4):
        assert (await window.get(CLERK, "intake", "/applications")).ok
    assert sorted(hosts) == ["a", "a", "b", "b"]


async def test_an_instance_that_does_not_connect_is_passed_over(tmp_path):
    sent: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.host == "a":
            raise httpx.ConnectError("refused", request=request)
        sent.append(request.url.host)
        return httpx.Response(201, json={"case_id": "x"})

    window = services(tmp_path, handler)
    for _ in range(3):
        answer = await window.call(CLERK, "intake", "POST", "/applications", json={})
        assert answer.status == 201
    assert sent == ["b", "b", "b"]


async def test_a_call_that_connected_and_failed_is_not_sent_again(tmp_path):
    sent: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        sent.append(request.url.host)
        raise httpx.ReadTimeout("no answer", request=request)

    window = services(tmp_path, handler)
    with pytest.raises(Unreachable):
        await window.call(CLERK, "intake", "POST", "/applications", json={})
    assert len(sent) == 1
