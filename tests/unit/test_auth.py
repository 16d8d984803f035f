"""Sign-in mechanism (shared/auth/, and the window's passwords): access tokens, jurisdictions,
passwords, permissions, keys and the FastAPI guard every service puts in front of its routes."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import os
import stat
import threading
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from fastapi import Depends, FastAPI, Request
from fastapi.testclient import TestClient

from services.window.adapters.passwords import hash_password, needs_rehash, verify_password
from shared.auth import dependencies, tokens
from shared.auth.dependencies import check_jurisdiction, require
from shared.auth.permissions import PERMISSIONS, allowed
from shared.auth.principals import Principal, Role
from shared.auth.tokens import (
    LEEWAY,
    TokenIssuer,
    TokenVerifier,
    Unauthenticated,
    bearer,
    load_token_keys,
)
from shared.files import write_once
from shared.settings import load_settings

NOW = datetime(2026, 3, 2, 1, 0, tzinfo=UTC)
TTL = timedelta(minutes=15)
TOWN = "370212003"
DISTRICT = "370212"


def b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def b64json(value: Any) -> str:
    return b64(json.dumps(value).encode() if not isinstance(value, bytes) else value)


def unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@pytest.fixture
def key() -> Ed25519PrivateKey:
    return Ed25519PrivateKey.generate()


@pytest.fixture
def issuer(key) -> TokenIssuer:
    return TokenIssuer(key)


@pytest.fixture
def verifier(issuer) -> TokenVerifier:
    return TokenVerifier.trusting(issuer.public_key)


def claims(**changes: Any) -> dict[str, Any]:
    issued = int(NOW.timestamp())
    base = {"iss": "onedoor", "sub": "c-0142", "role": "town_reviewer", "jur": TOWN,
            "iat": issued, "exp": issued + 900, "jti": "j-1"}
    base.update(changes)
    return {k: v for k, v in base.items() if v is not DROP}


DROP = object()


def forge(key: Ed25519PrivateKey, body: Any, header: Any = None) -> str:
    """A token signed properly with ``key``, whatever its header and claims say: so that the
    claim checks are reached, not stopped at the signature."""
    header = header if header is not None else {
        "alg": "EdDSA", "typ": "JWT", "kid": tokens.key_id(key.public_key())}
    signing_input = f"{b64json(header)}.{b64json(body)}"
    return f"{signing_input}.{b64(key.sign(signing_input.encode()))}"


def refused(verifier: TokenVerifier, token: Any, now: datetime = NOW) -> str:
    with pytest.raises(Unauthenticated) as caught:
        verifier.verify(token, now=now)
    return caught.value.reason


# --- tokens ------------------------------------------------------------------------------------

def test_round_trip(issuer, verifier):
    token = issuer.issue("c-0142", Role.TOWN_REVIEWER, TOWN, TTL, now=NOW)
    principal = verifier.verify(token, now=NOW + timedelta(minutes=5))
    assert principal == Principal("c-0142", Role.TOWN_REVIEWER, TOWN, NOW + TTL)
    assert isinstance(principal.role, Role)
    header_segment, claims_segment, signature = token.split(".")
    assert "=" not in token
    assert json.loads(unb64(header_segment)) == {
        "alg": "EdDSA", "typ": "JWT", "kid": issuer.key_id}
    body = json.loads(unb64(claims_segment))
    assert body["iss"] == "onedoor" and body["exp"] - body["iat"] == 900
    assert {"sub", "role", "jur", "iat", "exp", "jti", "iss"} == set(body)
    assert len(unb64(signature)) == 64
    assert body["jti"] != json.loads(unb64(issuer.issue("c-0142", "town_reviewer", TOWN, TTL,
                                                        now=NOW).split(".")[1]))["jti"]


def test_key_id_is_sha256_of_the_raw_public_key(issuer):
    raw = issuer.public_key.public_bytes(serialization.Encoding.Raw,
                                         serialization.PublicFormat.Raw)
    assert issuer.key_id == hashlib.sha256(raw).hexdigest()[:16]


def test_tampered_payload_is_refused(issuer, verifier):
    header, _, signature = issuer.issue("c-0142", "window_clerk", TOWN, TTL, now=NOW).split(".")
    promoted = b64json(claims(role="administrator", jur=""))
    assert refused(verifier, f"{header}.{promoted}.{signature}") == "bad signature"


def test_tampered_signature_is_refused(issuer, verifier):
    header, body, signature = issuer.issue("c-0142", "window_clerk", TOWN, TTL,
                                           now=NOW).split(".")
    raw = bytearray(unb64(signature))
    raw[10] ^= 0x01
    assert refused(verifier, f"{header}.{body}.{b64(bytes(raw))}") == "bad signature"
    assert refused(verifier, f"{header}.{body}.{b64(bytes(raw[:63]))}") == "bad signature"


def test_a_key_not_trusted_is_refused(key, verifier):
    stranger = Ed25519PrivateKey.generate()
    other = TokenIssuer(stranger).issue("c-0142", "window_clerk", TOWN, TTL, now=NOW)
    assert refused(verifier, other) == "signed by an unknown key"
    # Signed by the stranger but naming our key: the signature must not check out.
    posing = forge(stranger, claims(), {"alg": "EdDSA", "typ": "JWT",
                                        "kid": tokens.key_id(key.public_key())})
    assert refused(verifier, posing) == "bad signature"


@pytest.mark.parametrize("kid", ["0123456789abcdef", "", None, 7, ["x"], {"a": 1}])
def test_unknown_or_strange_kid_is_refused(key, verifier, kid):
    assert refused(verifier, forge(key, claims(), {"alg": "EdDSA", "kid": kid})) == (
        "signed by an unknown key")


def test_verifier_trusts_several_keys(issuer, verifier):
    second = TokenIssuer(Ed25519PrivateKey.generate())
    both = TokenVerifier.trusting(issuer.public_key, second.public_key)
    for signer in (issuer, second):
        assert both.verify(signer.issue("c-1", "auditor", "", TTL, now=NOW), now=NOW).role == (
            Role.AUDITOR)
    with pytest.raises(ValueError):
        TokenVerifier({"0000000000000000": issuer.public_key})  # kid not that key's
    with pytest.raises(ValueError):
        TokenVerifier({})


def test_expiry_and_leeway(issuer, verifier):
    token = issuer.issue("c-0142", "window_clerk", TOWN, TTL, now=NOW)
    expires = NOW + TTL
    assert verifier.verify(token, now=expires + LEEWAY - timedelta(seconds=1))
    assert refused(verifier, token, now=expires + LEEWAY) == "expired"
    assert refused(verifier, token, now=expires + timedelta(hours=1)) == "expired"
    # Issued on a host whose clock runs ahead: a little is tolerated, more is not.
    assert verifier.verify(token, now=NOW - LEEWAY + timedelta(seconds=1))
    assert refused(verifier, token, now=NOW - LEEWAY - timedelta(seconds=1)) == "not yet valid"


def test_verify_uses_the_clock_when_no_time_is_given(issuer, verifier):
    assert verifier.verify(issuer.issue("c-0142", "window_clerk", TOWN, TTL)).subject == "c-0142"
    old = issuer.issue("c-0142", "window_clerk", TOWN, TTL, now=NOW - timedelta(days=1))
    with pytest.raises(Unauthenticated):
        verifier.verify(old)


def test_alg_none_is_refused(key, verifier):
    body = b64json(claims())
    for alg in ("none", "None", "NONE"):
        unsigned = f"{b64json({'alg': alg, 'typ': 'JWT', 'kid': tokens.key_id(key.public_key())})}"
        assert refused(verifier, f"{unsigned}.{body}.") == "algorithm refused: only EdDSA"
    assert refused(verifier, forge(key, claims(), {"typ": "JWT"})) == (
        "algorithm refused: only EdDSA")


def test_hs256_with_the_public_key_as_secret_is_refused(key, verifier):
    # The classic confusion: an HMAC "signed" with the public key, which everybody has.
    public = key.public_key().public_bytes(serialization.Encoding.Raw,
                                           serialization.PublicFormat.Raw)
    header = b64json({"alg": "HS256", "typ": "JWT", "kid": tokens.key_id(key.public_key())})
    signing_input = f"{header}.{b64json(claims())}"
    mac = hmac.new(public, signing_input.encode(), hashlib.sha256).digest()
    assert refused(verifier, f"{signing_input}.{b64(mac)}") == "algorithm refused: only EdDSA"


def test_crit_and_foreign_typ_are_refused(key, verifier):
    kid = tokens.key_id(key.public_key())
    assert refused(verifier, forge(key, claims(), {"alg": "EdDSA", "kid": kid, "crit": ["x"]}))
    assert refused(verifier, forge(key, claims(), {"alg": "EdDSA", "kid": kid, "typ": "at+x"}))


@pytest.mark.parametrize("token", [
    "", "garbage", "a.b", "a.b.c.d", "...", "!!!.e30.AAAA", "e30.e30.@@@",
    b64json(b"not json") + ".e30.AAAA", b64json([1, 2]) + ".e30.AAAA", b64json("s") + ".e30.",
    b64json(b"\xff\xfe") + ".e30.AAAA", "eyJ.e30.AAAA", "e30=.e30.AAAA", "e3 0.e30.AAAA",
    "é.e30.AAAA", "\udcff.e30.AAAA", "e30.e30." + "A" * 5000, "[" * 3000 + ".e30.AAAA",
    b64json(b"[" * 2500) + ".e30.AAAA", b64json(b'{"alg":"EdDSA","alg":"EdDSA"}') + ".e30.",
    None, 42, b"e30.e30.AAAA",
])
def test_malformed_tokens_give_unauthenticated(verifier, token):
    refused(verifier, token)


def test_non_canonical_base64_is_refused(issuer, verifier):
    header, body, signature = issuer.issue("c-0142", "window_clerk", TOWN, TTL,
                                           now=NOW).split(".")
    # 64 bytes take 86 characters; the last one carries 4 unused bits that must be zero.
    last = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_".index(signature[-1])
    respelled = signature[:-1] + "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"[
        last | 1]
    assert unb64(respelled) == unb64(signature)
    assert refused(verifier, f"{header}.{body}.{respelled}") == "malformed token"


@pytest.mark.parametrize("changes", [
    {"iat": "1772413200"}, {"exp": float(int(NOW.timestamp()) + 900)}, {"exp": True},
    {"iat": None}, {"exp": DROP}, {"jti": DROP}, {"jti": 5}, {"jti": ""}, {"jti": "x" * 65},
    {"sub": 142}, {"sub": DROP}, {"sub": ""}, {"sub": "张三"}, {"sub": "c-1\nforged line"},
    {"sub": "370212198001011234"}, {"sub": "37021219800101123X"},
    {"role": "superuser"}, {"role": "Auditor"}, {"role": None}, {"role": ["auditor"]},
    {"jur": "37021"}, {"jur": "3702120031"}, {"jur": "37021200a"}, {"jur": "٣٧٠٢١٢"},
    {"jur": 370212}, {"jur": None}, {"jur": ""},  # "" for a town reviewer
    {"iss": "someone-else"}, {"iss": DROP},
    {"exp": int(NOW.timestamp()) + 12 * 3600 + 1},  # longer than any token may live
    {"exp": int(NOW.timestamp())},  # expires as it is issued
    {"exp": 10**400}, {"iat": -(10**400)}, {"iat": 10**400},
])
def test_claims_of_the_wrong_shape_are_refused(key, verifier, changes):
    refused(verifier, forge(key, claims(**changes)))


def test_an_oversized_token_is_not_parsed_even_when_signed(key, verifier):
    assert verifier.verify(forge(key, claims(pad="x" * 2000)), now=NOW)
    assert refused(verifier, forge(key, claims(pad="x" * 4000))) == "malformed token"


def test_claims_that_are_not_an_object_are_refused(key, verifier):
    assert refused(verifier, forge(key, [claims()])) == "malformed claims"
    duplicated = b'{"sub":"c-1","role":"auditor","role":"administrator"}'
    assert refused(verifier, forge(key, duplicated)) == "malformed claims"


def test_nationwide_jurisdiction_only_for_the_roles_that_may_hold_it(key, verifier):
    for role in ("administrator", "auditor", "service"):
        assert verifier.verify(forge(key, claims(role=role, jur="")), now=NOW).jurisdiction == ""
    for role in ("window_clerk", "town_reviewer", "district_approver", "partner"):
        assert refused(verifier, forge(key, claims(role=role, jur=""))) == (
            f"role {role} may not hold every region")


@pytest.mark.parametrize("args", [
    ("c-0142", "window_clerk", TOWN, timedelta(hours=12, seconds=1)),
    ("c-0142", "window_clerk", TOWN, timedelta(0)),
    ("c-0142", "window_clerk", TOWN, timedelta(seconds=-5)),
    ("c-0142", "janitor", TOWN, TTL),
    ("c-0142", "window_clerk", "", TTL),
    ("c-0142", "window_clerk", "3702", TTL),
    ("Wang Fang", "window_clerk", TOWN, TTL),
    ("370212198001011234", "window_clerk", TOWN, TTL),
])
def test_issuer_refuses_what_no_verifier_would_accept(issuer, args):
    with pytest.raises(ValueError):
        issuer.issue(*args, now=NOW)


def test_twelve_hours_is_the_longest_token(issuer, verifier):
    token = issuer.issue("c-0142", "administrator", "", timedelta(hours=12), now=NOW)
    assert verifier.verify(token, now=NOW).expires_at == NOW + timedelta(hours=12)


# --- jurisdictions -----------------------------------------------------------------------------

@pytest.mark.parametrize(("jurisdiction", "area", "covered"), [
    (DISTRICT, TOWN, True),  # a district covers its towns
    (DISTRICT, DISTRICT, True),
    (DISTRICT, "370213001", False),  # another district's town
    (DISTRICT, "370213", False),
    (TOWN, TOWN, True),
    (TOWN, "370212004", False),  # another town of the same district
    (TOWN, DISTRICT, False),  # a case known only at district level
    (TOWN, None, False),
    (DISTRICT, None, False),
    (DISTRICT, "", False),
    ("", None, True),
    ("", TOWN, True),
    ("", DISTRICT, True),
])
def test_jurisdiction_is_a_prefix(jurisdiction, area, covered):
    role = Role.AUDITOR if jurisdiction == "" else Role.TOWN_REVIEWER
    assert Principal("c-0142", role, jurisdiction, NOW).covers(area) is covered


def test_a_principal_cannot_be_made_with_an_impossible_jurisdiction():
    with pytest.raises(ValueError):
        Principal("c-0142", Role.WINDOW_CLERK, "", NOW)
    with pytest.raises(ValueError):
        Principal("c-0142", Role.WINDOW_CLERK, "3702", NOW)
    assert Principal("c-0142", "district_approver", DISTRICT, NOW).role is Role.DISTRICT_APPROVER


# --- passwords ---------------------------------------------------------------------------------

def test_password_round_trip_and_format():
    stored = hash_password("correct horse 电池 staple")
    algorithm, n, r, p, salt, digest = stored.split("$")
    assert (algorithm, n, r, p) == ("scrypt", str(2**15), "8", "1")
    assert len(unb64(salt)) == 16 and len(unb64(digest)) == 32 and "=" not in stored
    assert unb64(digest) == hashlib.scrypt("correct horse 电池 staple".encode(), salt=unb64(salt),
                                           n=2**15, r=8, p=1, maxmem=2**26, dklen=32)
    assert verify_password("correct horse 电池 staple", stored)
    assert not verify_password("correct horse 电池 staplf", stored)
    assert not verify_password("", stored)
    assert not verify_password("x" * 1025, stored)
    assert not verify_password("\udcff", stored)
    assert hash_password("same") != hash_password("same")  # salted
    assert not needs_rehash(stored)


@pytest.mark.parametrize("password", ["", "x" * 1025, "\udcff", None])
def test_unacceptable_passwords_are_refused(password):
    with pytest.raises(ValueError):
        hash_password(password)


def test_the_longest_password_is_accepted():
    assert verify_password("x" * 1024, hash_password("x" * 1024))


def old_style(password: str, n: int, r: int = 8, p: int = 1, salt: bytes = b"s" * 16) -> str:
    digest = hashlib.scrypt(password.encode(), salt=salt, n=n, r=r, p=p, maxmem=2**27, dklen=32)
    return f"scrypt${n}${r}${p}${b64(salt)}${b64(digest)}"


def test_weaker_hashes_still_verify_and_ask_to_be_rehashed():
    weaker = old_style("pw", 2**14)
    assert verify_password("pw", weaker) and needs_rehash(weaker)
    assert needs_rehash(old_style("pw", 2**15, r=4))
    assert needs_rehash(old_style("pw", 2**15, salt=b"short-8!"))
    assert not needs_rehash(old_style("pw", 2**15))


@pytest.mark.parametrize("stored", [
    "", "scrypt", "plain-text-password", "bcrypt$2b$12$abc", None, 5,
    "scrypt$32768$8$1$c2FsdA$",  # no digest
    "scrypt$32768$8$1$!!!$" + b64(b"d" * 32),
    "scrypt$32768$8$1$" + b64(b"s" * 16) + "$" + b64(b"d" * 32) + "=",
    "scrypt$32767$8$1$" + b64(b"s" * 16) + "$" + b64(b"d" * 32),  # n not a power of two
    "scrypt$0$8$1$" + b64(b"s" * 16) + "$" + b64(b"d" * 32),
    "scrypt$-32768$8$1$" + b64(b"s" * 16) + "$" + b64(b"d" * 32),
    "scrypt$ 32768$8$1$" + b64(b"s" * 16) + "$" + b64(b"d" * 32),
    "scrypt$٣٢٧٦٨$8$1$" + b64(b"s" * 16) + "$" + b64(b"d" * 32),
    "scrypt$1073741824$8$1$" + b64(b"s" * 16) + "$" + b64(b"d" * 32),  # 1 TiB of memory
    "scrypt$32768$8$1$" + b64(b"s" * 16) + "$" + b64(b"d" * 32) + "$extra",
])
def test_malformed_stored_values_are_false_not_errors(stored):
    assert verify_password("pw", stored) is False
    assert needs_rehash(stored) is True


# --- permissions -------------------------------------------------------------------------------

EXPECTED = {
    "case.submit": {"window_clerk"},
    "case.read": {"window_clerk", "town_reviewer", "district_approver", "auditor",
                  "administrator", "service"},
    "case.search": {"window_clerk", "town_reviewer", "district_approver"},
    "case.act": {"window_clerk", "town_reviewer", "district_approver"},
    "case.review": {"town_reviewer"},
    "case.approve": {"district_approver"},
    "referral.answer": {"town_reviewer", "district_approver"},
    "payment.account.write": {"window_clerk"},
    "payment.run": {"district_approver", "administrator", "service"},
    "payment.bank_file.read": {"district_approver", "administrator"},
    "payment.reconcile": {"district_approver", "auditor", "administrator"},
    "audit.read": {"auditor", "administrator"},
    "identity.lookup": {"auditor", "administrator"},
    "partner.publications.read": {"administrator"},
    "monitoring.read": {"window_clerk", "town_reviewer", "district_approver", "auditor",
                        "administrator"},
    "monitoring.close": {"town_reviewer", "district_approver"},
    "monitoring.person_lookup": {"town_reviewer", "district_approver"},
    "policy.propose": {"policy_officer"},
    "policy.approve": {"policy_officer"},
    "policy.read": {"policy_officer", "district_approver", "auditor", "administrator"},
    "survey.record": {"social_worker", "town_reviewer"},
    "admin": {"administrator"},
}


def test_the_permission_table():
    assert {name: {str(role) for role in roles} for name, roles in PERMISSIONS.items()} == EXPECTED
    assert all(isinstance(role, Role) for roles in PERMISSIONS.values() for role in roles)
    with pytest.raises(TypeError):
        PERMISSIONS["case.read"] = frozenset(Role)  # type: ignore[index]


@pytest.mark.parametrize("role", list(Role))
def test_allowed_per_role(role):
    principal = Principal("c-1", role, "" if role in ("auditor", "administrator", "service")
                          else DISTRICT, NOW)
    for permission, roles in EXPECTED.items():
        assert allowed(principal, permission) is (role.value in roles), (role, permission)


def test_machines_are_kept_narrow():
    service = Principal("svc-cli", Role.SERVICE, "", NOW)
    assert [p for p in PERMISSIONS if allowed(service, p)] == ["case.read", "payment.run"]
    partner = Principal("dept-hr", Role.PARTNER, "370200", NOW)
    # A partner publishes with its department's own credential (services/verification): its
    # token grants nothing.
    assert [p for p in PERMISSIONS if allowed(partner, p)] == []


def test_unknown_permission_fails_loudly():
    with pytest.raises(KeyError):
        allowed(Principal("c-1", Role.ADMINISTRATOR, "", NOW), "case.reveiw")
    with pytest.raises(KeyError):
        require("case.reveiw")


# --- keys --------------------------------------------------------------------------------------

def settings(tmp_path, **overrides: Any):
    base: dict[str, Any] = {"data_dir": tmp_path, "auth_signing_key": None,
                            "auth_public_keys": None}
    if overrides.get("env") == "production":
        base |= {"pseudonym_key": "a real pseudonym key", "payment_account_key": "a real one"}
    return load_settings(**(base | overrides))


def pem_private(key: Ed25519PrivateKey) -> str:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption()).decode()


def pem_public(key: Ed25519PrivateKey) -> str:
    return key.public_key().public_bytes(serialization.Encoding.PEM,
                                         serialization.PublicFormat.SubjectPublicKeyInfo).decode()


def test_development_key_is_made_once(tmp_path):
    first, _ = load_token_keys(settings(tmp_path))
    second, second_verifier = load_token_keys(settings(tmp_path))
    assert first is not None and second is not None
    assert first.key_id == second.key_id
    path = tmp_path / "auth-signing-key.pem"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert os.listdir(tmp_path) == ["auth-signing-key.pem"]  # no drafts left behind
    token = first.issue("c-0142", "window_clerk", TOWN, TTL)
    assert second_verifier.verify(token).subject == "c-0142"


def test_processes_starting_together_agree_on_the_key(tmp_path):
    start = threading.Barrier(8)
    kids: list[str] = []

    def load() -> None:
        start.wait()
        issuer, _ = load_token_keys(settings(tmp_path / "fresh"))
        assert issuer is not None
        kids.append(issuer.key_id)

    threads = [threading.Thread(target=load) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(kids) == 8 and len(set(kids)) == 1


def test_the_loser_of_a_race_keeps_the_winners_key(tmp_path):
    path = tmp_path / "auth-signing-key.pem"
    write_once(path, b"winner")
    write_once(path, b"loser")
    assert path.read_bytes() == b"winner" and os.listdir(tmp_path) == [path.name]


def test_production_without_keys_refuses_to_start(tmp_path):
    with pytest.raises(ValueError, match="ONEDOOR_AUTH_SIGNING_KEY"):
        load_token_keys(settings(tmp_path, env="production"))
    assert not (tmp_path / "auth-signing-key.pem").exists()


def test_configured_keys_are_used_and_no_key_is_made(tmp_path, key):
    next_key = Ed25519PrivateKey.generate()
    issuer, verifier = load_token_keys(settings(
        tmp_path, env="production", auth_signing_key=pem_private(key),
        auth_public_keys=pem_public(next_key)))
    assert issuer is not None and issuer.key_id == tokens.key_id(key.public_key())
    for signer in (issuer, TokenIssuer(next_key)):  # its own key and the next one
        assert verifier.verify(signer.issue("c-1", "auditor", "", TTL)).role == Role.AUDITOR
    assert list(tmp_path.iterdir()) == []


def test_a_verifying_service_needs_only_public_keys(tmp_path, key):
    other = Ed25519PrivateKey.generate()
    issuer, verifier = load_token_keys(settings(
        tmp_path, env="production", auth_public_keys=pem_public(key) + "\n" + pem_public(other)))
    assert issuer is None
    for signer in (key, other):
        assert verifier.verify(TokenIssuer(signer).issue("c-1", "auditor", "", TTL))
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("public_keys", [
    "not a key",
    "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----",
])
def test_unreadable_public_keys_are_refused(tmp_path, public_keys):
    with pytest.raises(ValueError):
        load_token_keys(settings(tmp_path, auth_public_keys=public_keys))


def test_a_private_key_pasted_into_the_public_keys_is_refused(tmp_path, key):
    with pytest.raises(ValueError, match="nothing else"):
        load_token_keys(settings(tmp_path, auth_public_keys=pem_public(key) + pem_private(key)))


# --- FastAPI -----------------------------------------------------------------------------------

@pytest.fixture
def app(verifier) -> FastAPI:
    app = FastAPI()
    app.state.auth_verifier = verifier

    @app.get("/regions/{region}/cases")
    def review_queue(region: str, request: Request,
                     principal: Annotated[Principal, Depends(require("case.review"))],
                     ) -> dict[str, str]:
        check_jurisdiction(principal, region, request=request)
        return {"reviewer": principal.subject}

    return app


def refusals(caplog) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name == "onedoor.access"]


def test_the_guard(app, issuer, caplog):
    client = TestClient(app)
    caplog.set_level(logging.INFO, logger="onedoor.access")
    reviewer = issuer.issue("c-0142", "town_reviewer", TOWN, TTL)
    expired = issuer.issue("c-0142", "town_reviewer", TOWN, TTL, now=NOW - timedelta(days=1))
    clerk = issuer.issue("c-0007", "window_clerk", TOWN, TTL)

    answer = client.get(f"/regions/{TOWN}/cases", headers=bearer(reviewer))
    assert answer.status_code == 200 and answer.json() == {"reviewer": "c-0142"}
    assert refusals(caplog) == []

    cases = [  # (path, headers, status, reason, subject)
        (f"/regions/{TOWN}/cases?name=Wang", {}, 401, "no bearer token", None),
        (f"/regions/{TOWN}/cases", {"Authorization": f"Basic {reviewer}"}, 401,
         "no bearer token", None),
        (f"/regions/{TOWN}/cases", bearer(expired), 401, "expired", None),
        (f"/regions/{TOWN}/cases", bearer("garbage"), 401, "malformed token: not three segments",
         None),
        (f"/regions/{TOWN}/cases", bearer(clerk), 403, "role lacks permission", "c-0007"),
        ("/regions/370212004/cases", bearer(reviewer), 403, "outside jurisdiction", "c-0142"),
        (f"/regions/{DISTRICT}/cases?q=secret", bearer(reviewer), 403, "outside jurisdiction",
         "c-0142"),
    ]
    for path, headers, status, reason, subject in cases:
        caplog.clear()
        answer = client.get(path, headers=headers)
        assert answer.status_code == status, (path, answer.text)
        if status == 401:
            assert answer.headers["WWW-Authenticate"].startswith("Bearer")
        else:
            assert "WWW-Authenticate" not in answer.headers
        [record] = refusals(caplog)
        assert record.levelno == logging.WARNING
        assert record.reason == reason and record.subject == subject
        assert record.outcome == ("unauthenticated" if status == 401 else "forbidden")
        assert record.permission == "case.review" and record.method == "GET"
        assert record.path == path.split("?")[0]
        logged = record.getMessage() + repr(vars(record))
        for secret in (reviewer, expired, clerk, "Wang", "secret"):
            assert secret not in logged
            assert secret not in answer.text

    assert "'case.review'" in client.get(f"/regions/{TOWN}/cases",
                                         headers=bearer(clerk)).json()["detail"]
    detail = client.get("/regions/370212004/cases", headers=bearer(reviewer)).json()["detail"]
    assert "370212004" in detail and "jurisdiction" in detail
    assert client.get(f"/regions/{TOWN}/cases", headers=bearer(expired)).json() == {
        "detail": "access token expired"}


def test_control_characters_in_the_path_cannot_forge_a_log_line(caplog):
    caplog.set_level(logging.INFO, logger="onedoor.access")
    # As an ASGI server hands it over: the path already percent-decoded. (urlsplit drops \n and
    # \r by itself; an erase-line escape and U+2028, a line break to many viewers, remain.)
    request = Request({"type": "http", "method": "GET", "path": "/r/37\x1b[2K\u2028FORGED",
                       "headers": [], "query_string": b""})
    with pytest.raises(dependencies.Refused):
        check_jurisdiction(Principal("c-0142", Role.TOWN_REVIEWER, TOWN, NOW), "370212004",
                           request=request)
    [record] = refusals(caplog)
    assert "\x1b" in record.path and "\u2028" in record.path
    assert "\x1b" not in record.getMessage() and "\u2028" not in record.getMessage()


def test_a_district_approver_is_refused_a_review_but_a_district_reviewer_sees_its_towns(
        app, issuer):
    client = TestClient(app)
    approver = issuer.issue("c-0200", "district_approver", DISTRICT, TTL)
    assert client.get(f"/regions/{TOWN}/cases", headers=bearer(approver)).status_code == 403
    district_reviewer = issuer.issue("c-0201", "town_reviewer", DISTRICT, TTL)
    assert client.get(f"/regions/{TOWN}/cases",
                      headers=bearer(district_reviewer)).status_code == 200


def test_check_jurisdiction_logs_without_a_request(caplog):
    caplog.set_level(logging.INFO, logger="onedoor.access")
    principal = Principal("c-0142", Role.TOWN_REVIEWER, TOWN, NOW)
    check_jurisdiction(principal, TOWN)
    with pytest.raises(dependencies.Refused) as caught:
        check_jurisdiction(principal, None)
    assert caught.value.status_code == 403
    [record] = refusals(caplog)
    assert record.reason == "outside jurisdiction" and record.path is None


def test_a_service_without_a_verifier_fails_closed(issuer):
    app = FastAPI()

    @app.get("/x")
    def guarded(principal: Annotated[Principal, Depends(require("case.read"))]) -> str:
        return principal.subject

    with pytest.raises(RuntimeError, match="auth_verifier"):
        TestClient(app).get("/x", headers=bearer(issuer.issue("c-1", "auditor", "", TTL)))
