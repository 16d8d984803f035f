"""The audit archive's hash chains, signed checkpoints and verification.

An archive of three chains × 200 CloudEvents-like records, checkpointed after 60, 130 and 190
records per chain, is tampered with the ways someone with write access to the archive's database
could; each must be found and located: kind, topic, partition and seq.
"""

from __future__ import annotations

import json
import tracemalloc
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from services.audit.domain.chain import (
    GENESIS,
    ChainHead,
    Record,
    decode_headers,
    encode_headers,
    extend,
    link,
)
from services.audit.domain.checkpoint import (
    Checkpoint,
    Signer,
    checkpoint_body,
    from_json,
    key_id_of,
    to_json,
    verify_checkpoint,
)
from services.audit.domain.verify import Finding, verify

CHAINS = (("onedoor.applications", 0), ("onedoor.applications", 1), ("onedoor.payments", 0))
APPS, PAYS = CHAINS[0], CHAINS[2]
LENGTH = 200
CHECKPOINTS_AFTER = (60, 130, 190)  # records per chain when checkpoints 1, 2, 3 were signed
START = datetime(2026, 11, 1, 8, 0, tzinfo=UTC)


def event(topic: str, partition: int, n: int) -> tuple[bytes, bytes, bytes]:
    """Key, headers and value of a record as the services publish them (CloudEvents binary)."""
    case_id = f"330282-20261101-{partition}{n:04d}"
    kind = "payment.scheduled" if topic.endswith("payments") else "application.submitted"
    headers = [
        ("ce_specversion", b"1.0"),
        ("ce_id", f"0193a2c4-{partition:04d}-7000-8000-{n:012d}".encode()),
        ("ce_source", f"/onedoor/{kind.split('.')[0]}".encode()),
        ("ce_type", f"onedoor.{kind}".encode()),
        ("ce_time", (START + timedelta(seconds=n)).isoformat().encode()),
        ("ce_subject", case_id.encode()),
        ("ce_schemaversion", b"1"),
        ("content-type", b"application/json"),
    ]
    value = {"case_id": case_id, "programme": "dibao", "region_code": "330282",
             "town_zh": "慈溪市浒山街道", "household_size": 1 + n % 5,
             "amount_fen": 40_500 + 10 * n, "period": "2026-11",
             "beneficiary_ref": f"p-{n * 7919 % 100_003:06d}",
             "documents": [{"kind": "income_statement", "sha256": f"{n:064x}"}]}
    return case_id.encode(), encode_headers(headers), json.dumps(value, ensure_ascii=False).encode()


def build() -> tuple[list[Record], list[Checkpoint], Signer]:
    """The archive as the archiver writes it: records arrive interleaved across chains."""
    signer = Signer.generate()
    heads: dict[tuple[str, int], ChainHead] = {}
    chains: dict[tuple[str, int], list[Record]] = {c: [] for c in CHAINS}
    checkpoints = []
    for n in range(1, LENGTH + 1):
        for topic, partition in CHAINS:
            r = extend(heads.get((topic, partition)), topic, partition, 1000 + n,
                       *event(topic, partition, n))
            chains[(topic, partition)].append(r)
            heads[(topic, partition)] = r.head
        if n in CHECKPOINTS_AFTER:
            at = (START + timedelta(hours=len(checkpoints) + 1)).isoformat()
            checkpoints.append(signer.sign(len(checkpoints) + 1, at, heads.values()))
    return [r for c in CHAINS for r in chains[c]], checkpoints, signer


@pytest.fixture(scope="module")
def archive() -> tuple[list[Record], list[Checkpoint], Signer]:
    return build()


def check(records: list[Record], checkpoints: list[Checkpoint], signer: Signer
          ) -> list[tuple[str, str | None, int | None, int | None, int | None]]:
    found = verify(records, checkpoints, {signer.key_id: signer.public_key_pem()}).findings
    return [(f.kind, f.topic, f.partition, f.seq, f.last_seq) for f in found]


def at(records: list[Record], chain: tuple[str, int], seq: int) -> int:
    return next(i for i, r in enumerate(records) if (r.topic, r.partition, r.seq) == (*chain, seq))


def rehashed(r: Record, **changes: object) -> Record:
    """A record edited and its own hash recomputed, its successor left alone."""
    r = replace(r, **changes)
    return replace(r, hash=link(r.prev_hash, r.topic, r.partition, r.seq, r.key, r.headers,
                                r.value))


def rewritten(records: list[Record], index: int, **changes: object) -> list[Record]:
    """Edits one record and recomputes every hash after it in its chain, consistently."""
    out = list(records)
    first = replace(out[index], **changes)
    head = None if first.seq == 1 else ChainHead(first.topic, first.partition, first.seq - 1,
                                                 first.prev_hash)
    i = index
    while i < len(out) and (out[i].topic, out[i].partition) == (first.topic, first.partition):
        r = first if i == index else out[i]
        out[i] = extend(head, r.topic, r.partition, r.offset, r.key, r.headers, r.value)
        head, i = out[i].head, i + 1
    return out


# --- the chain ----------------------------------------------------------------------------


def test_link_covers_every_field_but_the_offset_and_cannot_be_shifted():
    base = ("ab" * 32, "onedoor.payments", 0, 5, b"key", b"[]", b"value")
    h = link(*base)
    assert len(h) == 64 and h != link(GENESIS, *base[1:])
    for i, other in [(1, "onedoor.paymentz"), (2, 1), (3, 6), (4, b"kex"), (5, b"[ ]"),
                     (6, b"valuf")]:
        changed = list(base)
        changed[i] = other
        assert link(*changed) != h, i
    # The same bytes split differently between fields are a different record.
    assert link("ab" * 32, "t", 0, 1, b"ab", b"", b"c") != link("ab" * 32, "t", 0, 1, b"a", b"",
                                                                b"bc")
    with pytest.raises(ValueError, match="64 hex"):
        link("abcd", *base[1:])
    a = extend(None, "t", 0, 7, b"k", b"[]", b"v")
    b = extend(None, "t", 0, 99_999, b"k", b"[]", b"v")  # the broker restarted: offsets differ
    assert (a.seq, a.prev_hash, a.hash) == (1, GENESIS, b.hash)


def test_extend_follows_the_head_of_its_own_chain_only():
    first = extend(None, "t", 3, 0, b"k", b"[]", b"v1")
    second = extend(first.head, "t", 3, 1, b"k", b"[]", b"v2")
    assert (second.seq, second.prev_hash) == (2, first.hash)
    assert second.hash == link(first.hash, "t", 3, 2, b"k", b"[]", b"v2")
    with pytest.raises(ValueError, match="cannot extend"):
        extend(first.head, "t", 4, 1, b"k", b"[]", b"v2")


def test_headers_are_canonical_json_in_their_original_order():
    headers = [("ce_type", b"onedoor.x"), ("ce_id", b"1"), ("ce_id", b"2"),
               ("note", "慈溪".encode()), ("raw", b"\xff"), ("empty", None)]
    encoded = encode_headers(headers)
    assert encoded == ('[["ce_type","onedoor.x"],["ce_id","1"],["ce_id","2"],["note","慈溪"],'
                       '["raw","\ufffd"],["empty",null]]').encode()
    assert decode_headers(encoded)[:4] == headers[:4]
    assert decode_headers(encoded)[5] == ("empty", None)


# --- checkpoints ----------------------------------------------------------------------------


def test_a_checkpoint_is_signed_exported_and_imported_intact():
    signer = Signer.generate()
    heads = [ChainHead("b", 0, 9, "c" * 64), ChainHead("a", 1, 4, "d" * 64),
             ChainHead("a", 0, 2, "e" * 64)]
    cp = signer.sign(3, "2026-11-22T10:00:00+00:00", heads)
    assert [(h.topic, h.partition) for h in cp.heads] == [("a", 0), ("a", 1), ("b", 0)]
    keys = {signer.key_id: signer.public_key_pem()}
    assert verify_checkpoint(cp, keys) is None
    copy = from_json(json.loads(json.dumps(to_json(cp))))
    assert copy == cp and verify_checkpoint(copy, keys) is None
    # The key and its id survive a round trip through PEM.
    again = Signer(signer.private_key_pem())
    assert again.key_id == signer.key_id == key_id_of(signer.public_key_pem())
    assert Signer.key_id_of(signer.public_key_pem()) == signer.key_id
    assert len(signer.key_id) == 16
    body = json.loads(checkpoint_body(cp.number, cp.at, reversed(cp.heads), cp.key_id))
    assert body["number"] == 3 and [h["topic"] for h in body["heads"]] == ["a", "a", "b"]


def test_a_checkpoint_not_signed_by_a_known_key_is_refused_with_the_reason():
    signer, other = Signer.generate(), Signer.generate()
    keys = {signer.key_id: signer.public_key_pem()}
    cp = signer.sign(1, "2026-11-22T10:00:00Z", [ChainHead("a", 0, 5, "e" * 64)])
    moved = replace(cp, heads=(ChainHead("a", 0, 4, "e" * 64),))
    assert "bad signature" in verify_checkpoint(moved, keys)
    assert "unknown key" in verify_checkpoint(other.sign(1, cp.at, cp.heads), keys)
    impostor = replace(other.sign(1, cp.at, cp.heads), key_id=signer.key_id)
    assert "bad signature" in verify_checkpoint(impostor, keys)
    assert "not that key" in verify_checkpoint(cp, {signer.key_id: other.public_key_pem()})
    assert "malformed" in verify_checkpoint(replace(cp, signature="zz"), keys)
    with pytest.raises(ValueError, match="UTC"):
        signer.sign(2, "2026-11-22T10:00:00+08:00", cp.heads)
    with pytest.raises(ValueError, match="two heads"):
        signer.sign(2, cp.at, [ChainHead("a", 0, 5, "e" * 64), ChainHead("a", 0, 6, "f" * 64)])
    with pytest.raises(ValueError, match="malformed"):
        from_json({"number": "1", "at": cp.at, "heads": [], "key_id": "x", "signature": ""})


# --- verification -------------------------------------------------------------------------


def test_a_clean_archive_verifies_with_its_counts(archive):
    records, checkpoints, signer = archive
    result = verify(iter(records), checkpoints, {signer.key_id: signer.public_key_pem()})
    assert result.ok and result.findings == []
    assert (result.records, result.chains, result.checkpoints) == (600, 3, 3)


@pytest.mark.parametrize("field", ["value", "headers", "key"])
def test_a_modified_record_is_reported_once_where_it_was_changed(archive, field):
    records, checkpoints, signer = archive
    out = list(records)
    i = at(out, APPS, 77)
    data = bytearray(getattr(out[i], field))
    data[len(data) // 2] ^= 0x01  # one bit
    out[i] = replace(out[i], **{field: bytes(data)})
    # Seq 78 still links to 77's stored hash: the edit is one finding, not two.
    assert check(out, checkpoints, signer) == [("modified", *APPS, 77, None)]


def test_a_modified_record_with_a_garbled_hash_is_still_one_finding(archive):
    records, checkpoints, signer = archive
    out = list(records)
    i = at(out, APPS, 77)
    out[i] = replace(out[i], value=b"{}", hash="f" * 64)  # seq 78 no longer links to it
    j = at(out, PAYS, 60)  # checkpoint 1 vouches for this one: still reported once
    out[j] = replace(out[j], value=b"{}", hash="f" * 64)
    assert check(out, checkpoints, signer) == [("modified", *APPS, 77, None),
                                               ("modified", *PAYS, 60, None)]


def test_a_modified_header_is_located(archive):
    records, checkpoints, signer = archive
    out = list(records)
    i = at(out, PAYS, 130)  # a checkpointed record: its stored hash still matches, still found
    headers = decode_headers(out[i].headers)
    headers[3] = ("ce_type", b"onedoor.payment.cancelled")
    out[i] = replace(out[i], headers=encode_headers(headers))
    assert check(out, checkpoints, signer) == [("modified", *PAYS, 130, None)]


def test_a_record_replaced_with_its_own_hash_recomputed_is_modified(archive):
    records, checkpoints, signer = archive
    out = list(records)
    i = at(out, PAYS, 42)
    out[i] = rehashed(out[i], value=out[i].value.replace(b'"amount_fen": 4', b'"amount_fen": 9'))
    assert out[i].value != records[i].value
    assert check(out, checkpoints, signer) == [("modified", *PAYS, 42, None)]


def test_deleted_records_are_reported_as_the_missing_range(archive):
    records, checkpoints, signer = archive
    one = [r for r in records if (r.topic, r.partition, r.seq) != (*APPS, 100)]
    assert check(one, checkpoints, signer) == [("deleted", *APPS, 100, None)]
    several = [r for r in records if not (r.topic == PAYS[0] and 140 <= r.seq <= 144)]
    assert check(several, checkpoints, signer) == [("deleted", *PAYS, 140, 144)]
    first = [r for r in records if (r.topic, r.partition, r.seq) != (*APPS, 1)]
    assert check(first, checkpoints, signer) == [("deleted", *APPS, 1, None)]


def test_a_deletion_hidden_by_renumbering_the_rows_after_it_is_still_a_deletion(archive):
    records, checkpoints, signer = archive
    # DELETE seq 100..102, then UPDATE seq = seq - 3 for the rest: no gap in the seq column.
    chain = CHAINS[1]
    out = []
    for r in records:
        if (r.topic, r.partition) == chain and 100 <= r.seq <= 102:
            continue
        out.append(replace(r, seq=r.seq - 3) if (r.topic, r.partition) == chain
                   and r.seq > 102 else r)
    result = verify(out, checkpoints, {signer.key_id: signer.public_key_pem()})
    assert [(f.kind, f.topic, f.partition, f.seq, f.last_seq) for f in result.findings] == [
        ("deleted", *chain, 100, 102)]
    assert "renumbered" in result.findings[0].detail


def test_two_records_swapped_are_reordered(archive):
    records, checkpoints, signer = archive
    # As streamed in storage order: the rows kept their seqs.
    out = list(records)
    i = at(out, APPS, 50)
    out[i], out[i + 1] = out[i + 1], out[i]
    assert check(out, checkpoints, signer) == [("reordered", *APPS, 51, None)]
    # As the database would hold it: the two rows' seq columns exchanged (ordered by seq).
    out = list(records)
    a, b = out[i], out[i + 1]
    out[i], out[i + 1] = replace(b, seq=a.seq), replace(a, seq=b.seq)
    result = verify(out, checkpoints, {signer.key_id: signer.public_key_pem()})
    assert [(f.kind, f.seq) for f in result.findings] == [("reordered", 50)]
    assert "archived as seq 51" in result.findings[0].detail


def test_distant_swaps_and_moves_blame_only_the_records_moved(archive):
    records, checkpoints, signer = archive
    out = list(records)
    i, j = at(out, PAYS, 20), at(out, PAYS, 120)
    out[i], out[j] = out[j], out[i]
    assert check(out, checkpoints, signer) == [("reordered", *PAYS, 20, None),
                                               ("reordered", *PAYS, 120, None)]
    out = list(records)
    moved = out.pop(at(out, APPS, 30))
    out.insert(at(out, APPS, 90), moved)  # seq 30 now stored after seq 89
    assert check(out, checkpoints, signer) == [("reordered", *APPS, 30, None)]
    out = list(records)
    moved = out.pop(at(out, APPS, 90))
    out.insert(at(out, APPS, 30), moved)  # seq 90 now stored before seq 30
    assert check(out, checkpoints, signer) == [("reordered", *APPS, 90, None)]


def test_a_record_moved_far_by_renumbering_the_rows_between_is_reordered(archive):
    records, checkpoints, signer = archive
    # In the database: seq 30 given seq 150, and seqs 31..150 moved down by one to make room.
    # Its predecessor (seq 29) is still recognised by hash, so it is found to be seq 30.
    out = []
    for r in records:
        if (r.topic, r.partition) == APPS and 30 <= r.seq <= 150:
            out.append(replace(r, seq=150 if r.seq == 30 else r.seq - 1))
        else:
            out.append(r)
    out.sort(key=lambda r: (r.topic, r.partition, r.seq))
    result = verify(out, checkpoints, {signer.key_id: signer.public_key_pem()})
    assert [(f.kind, f.topic, f.partition, f.seq) for f in result.findings] == [
        ("reordered", *APPS, 150)]
    assert "archived as seq 30" in result.findings[0].detail


def test_a_copied_record_is_reported(archive):
    records, checkpoints, signer = archive
    out = list(records)
    i = at(out, APPS, 10)
    out.insert(i + 5, out[i])
    assert check(out, checkpoints, signer) == [("reordered", *APPS, 10, None)]


def test_a_tail_cut_before_a_checkpoint_is_truncated_with_the_missing_range(archive):
    records, checkpoints, signer = archive
    out = [r for r in records if not ((r.topic, r.partition) == APPS and r.seq > 150)]
    result = verify(out, checkpoints, {signer.key_id: signer.public_key_pem()})
    assert [(f.kind, f.topic, f.partition, f.seq, f.last_seq) for f in result.findings] == [
        ("truncated", *APPS, 151, 190)]
    assert "checkpoint 3" in result.findings[0].detail
    gone = [r for r in records if (r.topic, r.partition) != PAYS]
    assert check(gone, checkpoints, signer) == [("truncated", *PAYS, 1, 190)]


def test_a_tail_cut_after_the_last_checkpoint_cannot_be_detected(archive):
    # The honest limit: nothing vouches yet for records 191..200, so dropping them leaves a
    # consistent chain that every checkpoint agrees with. Checkpoint often.
    records, checkpoints, signer = archive
    out = [r for r in records if not ((r.topic, r.partition) == APPS and r.seq > 190)]
    result = verify(out, checkpoints, {signer.key_id: signer.public_key_pem()})
    assert result.ok and result.records == 590


def test_a_consistent_rewrite_is_caught_by_the_checkpoints_after_it(archive):
    records, checkpoints, signer = archive
    i = at(records, PAYS, 100)
    out = rewritten(records, i, value=records[i].value.replace(b'"amount_fen": 4',
                                                                b'"amount_fen": 9'))
    assert out[i].hash != records[i].hash
    result = verify(out, checkpoints, {signer.key_id: signer.public_key_pem()})
    assert [(f.kind, f.topic, f.partition, f.seq) for f in result.findings] == [
        ("rewritten", *PAYS, 130), ("rewritten", *PAYS, 190)]
    assert result.findings[0].detail.startswith("checkpoint 2 ")
    assert "after seq 60 (which matches checkpoint 1)" in result.findings[0].detail
    # Without checkpoints the rewrite is invisible: that is what they are for.
    assert verify(out, [], {}).ok


def test_forged_checkpoints_are_reported_and_not_used(archive):
    records, checkpoints, signer = archive
    keys = {signer.key_id: signer.public_key_pem()}
    # The last checkpoint's heads altered (claiming the chain went on to 250) under the old
    # signature: if it were believed, the archive would look truncated.
    cp3 = checkpoints[2]
    altered = replace(cp3, heads=tuple(replace(h, seq=250) for h in cp3.heads))
    result = verify(records, [*checkpoints[:2], altered], keys)
    assert [(f.kind, f.seq) for f in result.findings] == [("forged_checkpoint", None)]
    assert "checkpoint 3" in result.findings[0].detail and result.checkpoints == 2
    # A rewrite vouched for by a checkpoint signed with another key is not vouched for.
    i = at(records, APPS, 20)
    out = rewritten(records, i, value=b"{}")
    other = Signer.generate()
    forged = [other.sign(c.number, c.at, [r.head for r in out if r.seq == n])
              for c, n in zip(checkpoints, CHECKPOINTS_AFTER, strict=True)]
    result = verify(out, forged, keys)
    assert [f.kind for f in result.findings] == ["forged_checkpoint"] * 3
    assert all("unknown key" in f.detail for f in result.findings)
    # The genuine checkpoints still catch it.
    assert [(f.kind, f.seq) for f in verify(out, checkpoints, keys).findings] == [
        ("rewritten", 60), ("rewritten", 130), ("rewritten", 190)]


def test_tampering_in_several_chains_is_each_located(archive):
    records, checkpoints, signer = archive
    out = list(records)
    i = at(out, APPS, 5)
    out[i] = replace(out[i], value=out[i].value + b" ")
    out.pop(at(out, CHAINS[1], 160))
    j = at(out, PAYS, 199)
    out[j], out[j + 1] = out[j + 1], out[j]
    assert check(out, checkpoints, signer) == [
        ("modified", *APPS, 5, None), ("deleted", *CHAINS[1], 160, None),
        ("reordered", *PAYS, 200, None)]


def test_records_must_arrive_chain_by_chain(archive):
    records = archive[0]
    with pytest.raises(ValueError, match="two runs"):
        verify([records[0], records[300], records[1]], [], {})


def test_a_damaged_stretch_is_one_finding():
    head, out = None, []
    for n in range(50):
        r = extend(head, "t", 0, n, b"k", b"[]", b"v%d" % n)
        out.append(r)
        head = r.head
    damaged = [replace(r, value=b"x") if 10 <= r.seq <= 19 else r for r in out]
    found = verify(damaged, [], {}).findings
    assert [(f.kind, f.seq, f.last_seq) for f in found] == [("modified", 10, 19)]


def test_a_chain_must_start_from_genesis():
    forged = extend(ChainHead("t", 0, 0, "a" * 64), "t", 0, 0, b"k", b"[]", b"v")
    assert forged.seq == 1 and forged.prev_hash != GENESIS
    assert [(f.kind, f.seq) for f in verify([forged], [], {}).findings] == [("modified", 1)]


def test_verifying_streams_in_memory_that_does_not_grow_with_the_archive():
    # 3 chains × 100,000 records of ~650 bytes, made on the fly: held at once they would take
    # about 200 MB, so a bounded peak shows verify keeps only per-chain state.
    signer = Signer.generate()
    _, headers, template = event("onedoor.payments", 0, 0)
    template = template.replace(b'"dibao"', b'"dibao-%09d"')

    def chain(partition: int, length: int) -> Iterator[Record]:
        head = None
        for n in range(1, length + 1):
            r = extend(head, "onedoor.payments", partition, n, b"%012d" % n, headers,
                       template % n)
            head = r.head
            yield r

    heads = [list(chain(p, 1000))[-1].head for p in range(3)]
    marks = [signer.sign(1, "2026-11-22T10:00:00+00:00", heads)]
    tracemalloc.start()
    try:
        result = verify((r for p in range(3) for r in chain(p, 100_000)), marks,
                        {signer.key_id: signer.public_key_pem()})
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert result.ok, result.findings[:3]
    assert (result.records, result.chains, result.checkpoints) == (300_000, 3, 1)
    assert peak < 30 * 2**20, f"peak {peak / 2**20:.1f} MB"


def test_findings_are_plain_data():
    f = Finding("deleted", "t", 0, 3, "seq 3..4 missing", 4)
    assert (f.kind, f.last_seq) == ("deleted", 4)
