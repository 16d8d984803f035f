"""The archive's hash chains: one per Kafka (topic, partition), each record linked to the last.

A record's ``hash`` is SHA-256 over the previous record's hash and an unambiguous encoding of
everything the record says (topic, partition, seq, key, headers, value). Changing any of those,
or the order of records, or the position (seq) a record claims, breaks a link that anyone holding
the records can recompute; checkpoints (``checkpoint.py``) sign the chains' heads so that even a
consistent recomputation of every hash after an edit is caught.

``offset`` is kept but not hashed: Kafka offsets restart when the embedded broker restarts and
are only a hint for finding the original record, not part of what is being proven.
"""

from __future__ import annotations

import json
import re
import struct
from collections.abc import Iterable
from dataclasses import dataclass
from hashlib import sha256

from services.audit.domain.event_time import micros

GENESIS = "0" * 64  # the "previous hash" of every chain's first record

# Every length and number the link covers, at fixed width and before the variable-length fields:
# topic length, partition, seq, key length, headers length, value length. With the lengths fixed
# up front no two different records can encode to the same bytes (b"ab" + b"c" vs b"a" + b"bc").
_SIZES = struct.Struct(">IiQIII")


@dataclass(frozen=True, slots=True)
class Record:
    """One archived Kafka record, as stored."""

    topic: str
    partition: int
    seq: int  # position in its (topic, partition) chain: 1, 2, 3, ...
    offset: int  # the Kafka offset when archived: informational, not hashed
    key: bytes
    headers: bytes  # canonical JSON from encode_headers()
    value: bytes
    prev_hash: str  # hex SHA-256 of the previous record of this chain (GENESIS for seq 1)
    hash: str  # hex SHA-256 link of this record
    # What the archive stored beside the record, read from its headers for speed (event type,
    # event time in µs, subject): not hashed, so verify re-derives it (None: not read, not
    # checked).
    derived: tuple[str | None, int | None, str | None] | None = None

    @property
    def head(self) -> ChainHead:
        """This record as the head of its chain (what a checkpoint signs)."""
        return ChainHead(self.topic, self.partition, self.seq, self.hash)


@dataclass(frozen=True, slots=True)
class ChainHead:
    """The last record of a chain: enough to extend it, and what a checkpoint vouches for."""

    topic: str
    partition: int
    seq: int
    hash: str


def link(prev_hash: str, topic: str, partition: int, seq: int, key: bytes, headers: bytes,
         value: bytes) -> str:
    """The hash that chains a record to the one before it.

    One ``join`` and one ``sha256`` call: this runs once per record both when archiving and when
    verifying, so it is kept to a few C calls (about a microsecond for a 1 KB value).
    """
    prev = bytes.fromhex(prev_hash)
    if len(prev) != 32:  # a short "hash" would shift every field after it
        raise ValueError(f"previous hash must be 64 hex digits, got {prev_hash!r}")
    t = topic.encode()
    sizes = _SIZES.pack(len(t), partition, seq, len(key), len(headers), len(value))
    return sha256(b"".join((prev, sizes, t, key, headers, value))).hexdigest()


def encode_headers(headers: Iterable[tuple[str, bytes | None]]) -> bytes:
    """Kafka headers as canonical JSON: ``[[name, value-as-text], ...]`` in their original order.

    Order and duplicates are kept because Kafka keeps them. Values are decoded as UTF-8 with
    replacement (CloudEvents headers are text); a header without a value (Kafka allows it)
    becomes ``null`` rather than failing the whole batch.
    """
    return json.dumps(
        [[name, None if v is None else v.decode("utf-8", "replace")] for name, v in headers],
        separators=(",", ":"), ensure_ascii=False,
    ).encode()


def decode_headers(data: bytes) -> list[tuple[str, bytes | None]]:
    """The inverse of encode_headers, to re-publish an archived record as Kafka headers."""
    return [(name, None if v is None else v.encode()) for name, v in json.loads(data)]


def extend(head: ChainHead | None, topic: str, partition: int, offset: int, key: bytes,
           headers: bytes, value: bytes) -> Record:
    """The next record of a chain whose last record is ``head`` (None: the chain's first)."""
    if head is None:
        seq, prev = 1, GENESIS
    elif (head.topic, head.partition) != (topic, partition):
        raise ValueError(f"head of {head.topic}/{head.partition} cannot extend {topic}/{partition}")
    else:
        seq, prev = head.seq + 1, head.hash
    return Record(topic, partition, seq, offset, key, headers, value, prev,
                  link(prev, topic, partition, seq, key, headers, value))


# The headers the archive derives columns from, found in the canonical bytes without parsing
# them all (a value holding a quote or a backslash is escaped: found by the full parse instead).
_TYPE = re.compile(rb'\["ce_type","([^"\\]*)"\]')
_TIME = re.compile(rb'\["ce_time","([^"\\]*)"\]')
_SUBJECT = re.compile(rb'\["ce_subject","([^"\\]*)"\]')


def header_text(headers: bytes, name: str) -> str | None:
    """The first header ``name`` in canonical header bytes, as archiving read it."""
    for key, value in json.loads(headers):
        if key == name:
            text: str | None = value
            return text
    return None


def derived_matches(headers: bytes, stored: tuple[str | None, int | None, str | None]) -> bool:
    """Whether the stored (event type, event time, subject) are what the hashed headers say."""
    kind, at, subject = (_TYPE.search(headers), _TIME.search(headers),
                         _SUBJECT.search(headers))
    if (kind is not None and at is not None and subject is not None
            # the first of its name (a duplicate further on is not what archiving read)
            and kind.start() == headers.find(b'["ce_type",')
            and at.start() == headers.find(b'["ce_time",')
            and subject.start() == headers.find(b'["ce_subject",')
            and (kind.group(1).decode(), micros(at.group(1).decode()),
                 subject.group(1).decode()) == stored):
        return True
    # The slow, exact way: escaped values, missing headers, a first header the search skipped.
    return (header_text(headers, "ce_type"), micros(header_text(headers, "ce_time")),
            header_text(headers, "ce_subject")) == stored
