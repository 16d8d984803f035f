"""A dead-letter reason names where and what kind of error, never the event's data (issue 21):
it is kept for years in the inbox, on the dead-letter record and in GET /dead-letters."""

from __future__ import annotations

import json

import pytest
from sqlalchemy.exc import IntegrityError

from shared.events.catalogue import ApplicationSubmitted
from shared.events.envelope import Envelope, UnprocessableEvent, from_record, to_record
from shared.reasons import reason_of

NAME, RESIDENT_ID, PHONE = "王秀英", "330282197603150021", "13905741234"


def bad_application() -> tuple[bytes, list[tuple[str, bytes]]]:
    good = to_record(Envelope(data=ApplicationSubmitted.model_validate({
        "case_id": "330282-20261207-0123456789ab", "region_code": "330282",
        "programme": "dibao", "submitted_at": "2026-12-07T01:00:00Z",
        "members": [{"person_ref": "p-1", "relation": "applicant", "age_years": 40,
                     "consent_signed": True, "declared_incomes": []}]}), source="/test"))
    data = json.loads(good.value)
    data["members"][0]["age_years"] = f"{NAME} {RESIDENT_ID}"  # a producer's bug
    data["members"][0][f"{NAME}{PHONE}"] = RESIDENT_ID  # an unexpected key holding data
    data["region_code"] = PHONE
    return json.dumps(data, ensure_ascii=False).encode(), good.headers


def test_an_invalid_event_is_refused_naming_its_fields_never_their_values() -> None:
    value, headers = bad_application()
    with pytest.raises(UnprocessableEvent) as caught:
        from_record(value, headers)
    reason = reason_of(caught.value)
    for secret in (NAME, RESIDENT_ID, PHONE):
        assert secret not in reason
    assert "members.0.age_years (int_parsing)" in reason
    assert "region_code (string_pattern_mismatch)" in reason
    assert "members.0.* (extra_forbidden)" in reason


def test_bytes_that_are_not_json_are_not_quoted() -> None:
    _, headers = bad_application()
    with pytest.raises(UnprocessableEvent) as caught:
        from_record(f'{{"case_id": "{RESIDENT_ID}", {NAME}'.encode(), headers)
    assert RESIDENT_ID not in reason_of(caught.value) and "not JSON" in str(caught.value)


def test_a_bad_context_attribute_is_named_not_quoted() -> None:
    _, headers = bad_application()
    headers = [(k, RESIDENT_ID.encode() if k == "ce_time" else v) for k, v in headers]
    with pytest.raises(UnprocessableEvent) as caught:
        from_record(b"{}", headers)
    assert RESIDENT_ID not in reason_of(caught.value) and "ce_time" in str(caught.value)


def raised(exc_or_call):
    try:
        exc_or_call()
    except Exception as exc:
        return exc
    raise AssertionError("nothing raised")


def test_a_librarys_or_a_builtins_exception_keeps_only_its_type() -> None:
    error = IntegrityError("INSERT INTO members VALUES (?)", (NAME, RESIDENT_ID), Exception())
    assert reason_of(error) == "IntegrityError"
    assert reason_of(raised(lambda: json.loads(f'{{"{NAME}": {RESIDENT_ID}'))) \
        == "JSONDecodeError"
    assert reason_of(raised(lambda: int(RESIDENT_ID + NAME))) == "ValueError"
    assert reason_of(raised(lambda: {}[NAME])) == "KeyError"


class NoSuchBank(LookupError):
    """A domain exception, as our services define them."""


def test_an_exception_of_our_own_class_keeps_its_words_masked() -> None:
    def handler() -> None:  # as a handler of ours would
        raise NoSuchBank(f"the bank of the beneficiary does not exist ({RESIDENT_ID})")

    error = raised(handler)
    assert reason_of(error).startswith("NoSuchBank: the bank of the beneficiary does not exist")
    assert RESIDENT_ID not in reason_of(error)
    made = UnprocessableEvent(f"unknown event type x for {RESIDENT_ID}")  # never raised
    assert reason_of(made) == "UnprocessableEvent: unknown event type x for [number]"
