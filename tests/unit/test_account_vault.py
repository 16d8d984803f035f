"""Bank account numbers: sealed at rest, bound to their case, masked when shown."""

import base64

import pytest
from pydantic import ValidationError

from services.payment.adapters.vault import (
    AccountVault,
    SealBroken,
    mask,
    normalise_account,
    normalise_holder,
)
from shared.settings import _DEV_PAYMENT_ACCOUNT_KEY, load_settings

ACCOUNT = "6222021234567890123"
CASE = "330282-20261122-5f0c"
OTHER_CASE = "330282-20261122-9a1b"


@pytest.fixture
def vault() -> AccountVault:
    return AccountVault("a test secret of reasonable length")


def assert_reveals_nothing(broken: pytest.ExceptionInfo[SealBroken]) -> None:
    # The reasons end up in logs and responses: not one digit of the account may appear, and no
    # chained exception may drag the token or the cipher's internals into a traceback.
    message = str(broken.value)
    assert message and not any(c.isdigit() for c in message), message
    assert broken.value.__cause__ is None
    assert broken.value.__context__ is None or broken.value.__suppress_context__


def nonce(token: str) -> bytes:
    return base64.urlsafe_b64decode(token[3:])[:12]


def test_round_trip(vault):
    token = vault.seal(ACCOUNT, bound_to=CASE)
    assert token.startswith("v1.")
    assert ACCOUNT not in token
    assert vault.open(token, bound_to=CASE) == ACCOUNT


def test_a_new_vault_from_the_same_secret_opens_what_the_first_sealed(vault):
    token = vault.seal(ACCOUNT, bound_to=CASE)
    assert AccountVault("a test secret of reasonable length").open(token, bound_to=CASE) == ACCOUNT


def test_two_seals_of_the_same_account_differ(vault):
    first, second = vault.seal(ACCOUNT, bound_to=CASE), vault.seal(ACCOUNT, bound_to=CASE)
    assert first != second
    assert nonce(first) != nonce(second)


def test_token_copied_to_another_case_does_not_open(vault):
    token = vault.seal(ACCOUNT, bound_to=CASE)
    with pytest.raises(SealBroken) as broken:
        vault.open(token, bound_to=OTHER_CASE)
    assert_reveals_nothing(broken)


def test_wrong_key_does_not_open(vault):
    token = vault.seal(ACCOUNT, bound_to=CASE)
    with pytest.raises(SealBroken) as broken:
        AccountVault("another secret").open(token, bound_to=CASE)
    assert_reveals_nothing(broken)


@pytest.mark.parametrize("position", [0, 11, 12, 20, -1])  # nonce, ciphertext, tag
def test_flipped_byte_does_not_open(vault, position):
    token = vault.seal(ACCOUNT, bound_to=CASE)
    raw = bytearray(base64.urlsafe_b64decode(token[3:]))
    raw[position] ^= 0x01
    tampered = "v1." + base64.urlsafe_b64encode(bytes(raw)).decode()
    with pytest.raises(SealBroken) as broken:
        vault.open(tampered, bound_to=CASE)
    assert_reveals_nothing(broken)


@pytest.mark.parametrize("mangle", [
    lambda t: "v2." + t[3:],          # a version this vault does not know
    lambda t: t[3:],                  # no version at all
    lambda t: ACCOUNT,                # a plaintext account where a token belongs
    lambda t: "v1." + base64.urlsafe_b64encode(  # shorter than nonce and tag
        base64.urlsafe_b64decode(t[3:])[:27]).decode(),
    lambda t: t[:-4] + "!!!!",        # not base64
    lambda t: "v1.",                  # empty body
])
def test_malformed_tokens_do_not_open(vault, mangle):
    token = vault.seal(ACCOUNT, bound_to=CASE)
    with pytest.raises(SealBroken) as broken:
        vault.open(mangle(token), bound_to=CASE)
    assert_reveals_nothing(broken)


def test_seal_broken_is_a_value_error():
    assert issubclass(SealBroken, ValueError)


def test_seal_needs_a_case_and_the_vault_a_secret(vault):
    with pytest.raises(ValueError):
        vault.seal(ACCOUNT, bound_to="")
    with pytest.raises(ValueError):
        AccountVault("")


def test_repr_shows_no_key_material(vault):
    assert "secret" not in repr(vault) and "key" not in repr(vault).lower()


@pytest.mark.parametrize("raw", [
    "6222 0212 3456 7890 123",
    "6222-0212-3456-7890-123",
    "６２２２０２１２３４５６７８９０１２３",
    "６２２２　０２１２－3456 7890-123",
])
def test_normalise_account_removes_separators_and_full_width(raw):
    assert normalise_account(raw) == ACCOUNT


@pytest.mark.parametrize("raw", [
    "123456789",            # 9 digits
    "1" * 31,               # 31 digits
    "",                     # nothing
    "6222O21234567890123",  # letter O for zero
    "6222_0212_3456_7890",  # separator that is not allowed
    "٦٢٢٢٠٢١٢٣٤٥٦٧٨٩٠",    # Arabic-Indic digits: digits, but not ASCII
])
def test_normalise_account_refuses_without_echoing(raw):
    with pytest.raises(ValueError) as refused:
        normalise_account(raw)
    reason = str(refused.value)
    assert reason
    if raw:
        assert raw not in reason
    # The only digits a reason may carry are the bounds it states.
    assert set(filter(str.isdigit, reason)) <= set("1030")


def test_normalise_account_accepts_the_bounds():
    assert normalise_account("1" * 10) == "1" * 10
    assert normalise_account("1" * 30) == "1" * 30


def test_mask_shows_only_the_last_four_digits():
    assert mask(ACCOUNT) == "**** 0123"
    assert mask("6222 0212 3456 7890 123") == "**** 0123"
    assert mask("1" * 10 + "9876") == "**** 9876"


def test_mask_does_not_reveal_length():
    assert mask("0" * 10) == mask("0" * 30) == "**** 0000"


@pytest.mark.parametrize("raw", ["1234", "12345678", "6222O21234567890123", ""])
def test_mask_of_something_not_an_account_shows_nothing(raw):
    assert mask(raw) == "****"


def test_normalise_holder_trims_and_collapses():
    assert normalise_holder("  王秀英  ") == "王秀英"
    assert normalise_holder("Wang   Xiu\u3000 Ying\n") == "Wang Xiu Ying"
    assert normalise_holder("张" * 60) == "张" * 60


@pytest.mark.parametrize(("raw", "reason"), [
    ("", "empty"),
    ("   \u3000 ", "empty"),
    ("张" * 61, "longer than 60"),
    ("王秀英\n李四", "control"),
    ("王秀英\x00", "control"),
    ("王秀\u202e英", "control"),  # right-to-left override: reorders what a clerk sees
])
def test_normalise_holder_refuses_without_echoing(raw, reason):
    with pytest.raises(ValueError, match=reason) as refused:
        normalise_holder(raw)
    assert "王" not in str(refused.value) and "张" not in str(refused.value)


def test_production_refuses_the_development_account_key():
    with pytest.raises(ValidationError, match="ONEDOOR_PAYMENT_ACCOUNT_KEY"):
        load_settings(env="production", pseudonym_key="a real pseudonym key")


def test_production_still_refuses_the_development_pseudonym_key():
    with pytest.raises(ValidationError, match="ONEDOOR_PSEUDONYM_KEY") as refused:
        load_settings(env="production", payment_account_key="a real account key")
    assert "ONEDOOR_PAYMENT_ACCOUNT_KEY" not in str(refused.value)


def test_production_accepts_keys_of_its_own():
    settings = load_settings(env="production", pseudonym_key="a real pseudonym key",
                             payment_account_key="a real account key")
    assert settings.payment_account_key.get_secret_value() == "a real account key"


def test_development_uses_the_development_account_key(monkeypatch):
    monkeypatch.delenv("ONEDOOR_PAYMENT_ACCOUNT_KEY", raising=False)
    settings = load_settings(env="development")
    assert settings.payment_account_key.get_secret_value() == _DEV_PAYMENT_ACCOUNT_KEY


def test_account_key_is_read_from_the_environment(monkeypatch):
    monkeypatch.setenv("ONEDOOR_PAYMENT_ACCOUNT_KEY", "from the environment")
    assert load_settings().payment_account_key.get_secret_value() == "from the environment"
