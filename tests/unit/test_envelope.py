from datetime import UTC, datetime

import pytest

from shared.events.catalogue import PaymentScheduled
from shared.events.envelope import Envelope, UnprocessableEvent, from_record, to_record
from shared.pseudonym import person_ref


def payment(**over: object) -> PaymentScheduled:
    fields = dict(case_id="330282-20261122-abc", payment_id="p1", programme="dibao",
                  period="2026-11", amount_fen=40_500, beneficiary_ref="p-x",
                  region_code="330282", scheduled_at=datetime(2026, 11, 22, tzinfo=UTC))
    fields.update(over)
    return PaymentScheduled(**fields)


def test_cloudevents_binary_mode_round_trip():
    envelope = Envelope(data=payment(), source="/onedoor/payment")
    record = to_record(envelope)
    headers = dict(record.headers)
    assert record.topic == "onedoor.payments"
    assert record.key == b"330282-20261122-abc"  # the case id: one case, one partition
    assert headers["ce_specversion"] == b"1.0"
    assert headers["ce_type"] == b"onedoor.payment.scheduled"
    assert headers["ce_subject"] == b"330282-20261122-abc"
    assert headers["ce_schemaversion"] == b"1"
    assert headers["content-type"] == b"application/json"
    back = from_record(record.value, record.headers)
    assert back == envelope


def test_undecodable_records_say_why():
    record = to_record(Envelope(data=payment(), source="/x"))
    with pytest.raises(UnprocessableEvent, match="ce_specversion"):
        from_record(record.value, [])
    bad_type = [(k, b"onedoor.nope" if k == "ce_type" else v) for k, v in record.headers]
    with pytest.raises(UnprocessableEvent, match=r"unknown event type onedoor\.nope"):
        from_record(record.value, bad_type)
    with pytest.raises(UnprocessableEvent, match="data invalid"):
        from_record(b'{"case_id": "x"}', record.headers)


def test_money_is_integer_fen_and_months_are_checked():
    with pytest.raises(ValueError):
        payment(amount_fen=405.5)
    with pytest.raises(ValueError):
        payment(period="2026-13")


def test_pseudonyms_are_keyed_stable_and_carry_no_id_number():
    number = "11010519491231002X"
    ref = person_ref(b"key-1", number)
    assert ref == person_ref(b"key-1", number.lower())
    assert ref != person_ref(b"key-2", number)
    assert number not in ref and "19491231" not in ref


def test_new_ids_are_version_7_uuids_that_sort_by_time():
    import time
    import uuid

    from shared.events.envelope import new_id

    earlier = new_id()
    time.sleep(0.002)
    later = [new_id() for _ in range(1000)]
    assert all(uuid.UUID(i).version == 7 and uuid.UUID(i).variant == uuid.RFC_4122
               for i in [earlier, *later])
    assert all(earlier < i for i in later)  # a later millisecond sorts after
    assert len(set(later)) == 1000
