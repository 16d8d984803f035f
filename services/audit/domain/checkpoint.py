"""Signed checkpoints: the heads of every chain at a moment, signed with Ed25519.

A chain alone proves only that it is consistent: whoever can write the archive can edit a record
and recompute every hash after it. A checkpoint pins "chain X had reached seq n with hash h",
signed with a key the archive's database does not hold; a copy of the checkpoints kept elsewhere
therefore proves the archive was not rewritten up to them (``verify.py``).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from hashlib import sha256
from itertools import pairwise
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)

from services.audit.domain.chain import ChainHead

# Part of the signed body, so a signature made for anything else can never pass as a checkpoint's.
FORMAT = "onedoor.audit.checkpoint/1"


@dataclass(frozen=True)
class Checkpoint:
    number: int
    at: str  # ISO 8601, UTC
    heads: tuple[ChainHead, ...]  # sorted by (topic, partition)
    key_id: str
    signature: str  # hex Ed25519 signature of checkpoint_body(number, at, heads, key_id)


def _sorted_heads(heads: Iterable[ChainHead]) -> tuple[ChainHead, ...]:
    ordered = tuple(sorted(heads, key=lambda h: (h.topic, h.partition)))
    for a, b in pairwise(ordered):
        if (a.topic, a.partition) == (b.topic, b.partition):
            raise ValueError(f"two heads for {a.topic}/{a.partition}")  # which one is vouched for?
    return ordered


def checkpoint_body(number: int, at: str, heads: Iterable[ChainHead], key_id: str) -> bytes:
    """The canonical JSON bytes that are signed: sorted keys, no spaces, heads sorted."""
    moment = datetime.fromisoformat(at)
    if moment.utcoffset() != timedelta(0):
        raise ValueError(f"checkpoint time must be UTC, got {at!r}")
    return json.dumps({
        "format": FORMAT,
        "number": number,
        "at": at,
        "key_id": key_id,
        "heads": [{"topic": h.topic, "partition": h.partition, "seq": h.seq, "hash": h.hash}
                  for h in _sorted_heads(heads)],
    }, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def key_id_of(public_key_pem: bytes) -> str:
    """First 16 hex digits of SHA-256 of the raw 32-byte public key: names a key in a keyring."""
    key = serialization.load_pem_public_key(public_key_pem)
    if not isinstance(key, Ed25519PublicKey):
        raise ValueError("not an Ed25519 public key")
    return _key_id(key)


def _key_id(key: Ed25519PublicKey) -> str:
    raw = key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return sha256(raw).hexdigest()[:16]


class Signer:
    """Holds the private key and signs checkpoints with it."""

    def __init__(self, private_key_pem: bytes) -> None:
        key = serialization.load_pem_private_key(private_key_pem, password=None)
        if not isinstance(key, Ed25519PrivateKey):
            raise ValueError("the checkpoint signing key must be an Ed25519 private key")
        self._key = key
        self.key_id = _key_id(key.public_key())

    key_id_of = staticmethod(key_id_of)

    @classmethod
    def generate(cls) -> Signer:
        return cls(Ed25519PrivateKey.generate().private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption()))

    def private_key_pem(self) -> bytes:
        return self._key.private_bytes(serialization.Encoding.PEM,
                                       serialization.PrivateFormat.PKCS8,
                                       serialization.NoEncryption())

    def public_key_pem(self) -> bytes:
        return self._key.public_key().public_bytes(serialization.Encoding.PEM,
                                                   serialization.PublicFormat.SubjectPublicKeyInfo)

    def sign(self, number: int, at: str, heads: Iterable[ChainHead]) -> Checkpoint:
        ordered = _sorted_heads(heads)
        body = checkpoint_body(number, at, ordered, self.key_id)
        return Checkpoint(number, at, ordered, self.key_id, self._key.sign(body).hex())


def verify_checkpoint(checkpoint: Checkpoint, public_keys: Mapping[str, bytes]) -> str | None:
    """None when the checkpoint is signed by the key it names; otherwise why not.

    ``public_keys`` maps key ids to public keys (PEM) held by the verifier, not read from the
    archive: a key that came with the archive would vouch for whatever the archive says.
    """
    pem = public_keys.get(checkpoint.key_id)
    if pem is None:
        return f"signed by unknown key {checkpoint.key_id!r}"
    try:
        key = serialization.load_pem_public_key(pem)
    except ValueError as exc:
        return f"the public key held for {checkpoint.key_id!r} cannot be read: {exc}"
    if not isinstance(key, Ed25519PublicKey) or _key_id(key) != checkpoint.key_id:
        return f"the public key held for {checkpoint.key_id!r} is not that key"
    try:
        body = checkpoint_body(checkpoint.number, checkpoint.at, checkpoint.heads,
                               checkpoint.key_id)
        signature = bytes.fromhex(checkpoint.signature)
    except (ValueError, TypeError) as exc:
        return f"malformed checkpoint: {exc}"
    try:
        key.verify(signature, body)
    except InvalidSignature:
        return "bad signature: the checkpoint is not what the key signed"
    return None


def to_json(checkpoint: Checkpoint) -> dict[str, Any]:
    """The checkpoint as plain JSON data, to export and keep a copy elsewhere."""
    return {
        "number": checkpoint.number,
        "at": checkpoint.at,
        "heads": [{"topic": h.topic, "partition": h.partition, "seq": h.seq, "hash": h.hash}
                  for h in checkpoint.heads],
        "key_id": checkpoint.key_id,
        "signature": checkpoint.signature,
    }


def from_json(data: Mapping[str, Any]) -> Checkpoint:
    """The inverse of to_json. Raises ValueError on a malformed document; a well-formed one with
    the wrong contents is left for verify_checkpoint to refuse."""
    try:
        heads = tuple(ChainHead(str(h["topic"]), _int(h["partition"]), _int(h["seq"]),
                                str(h["hash"])) for h in data["heads"])
        return Checkpoint(_int(data["number"]), str(data["at"]), _sorted_heads(heads),
                          str(data["key_id"]), str(data["signature"]))
    except (KeyError, TypeError) as exc:
        raise ValueError(f"malformed checkpoint: {exc!r}") from exc


def _int(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"expected an integer, got {value!r}")
    return value
