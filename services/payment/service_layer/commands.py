"""Payment's commands run once per Idempotency-Key, and this is the one place in payment where a
request's unit of work commits (event handlers are committed by the consumer that runs them;
the runs commit chunk by chunk in ``runs``).

The same key with the same body answers with the original answer and does nothing again; the
same key with another body is refused. A key is its caller's (``Principal.key_scope``): a key
another caller used is, to this one, new. The answer is stored in the same transaction as the
effects, so a request either happened with its answer remembered, or did not happen at all."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from services.payment.adapters.repository import PaymentRepository
from shared.uow import UnitOfWork, once_more_on_conflict

Action = Callable[[UnitOfWork], tuple[int, Any]]


class KeyReused(Exception):
    """The caller's Idempotency-Key was already used for a different request."""


def fingerprint(*parts: Any) -> str:
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()


def once(uow_factory: Callable[[], UnitOfWork], caller: str, scope: str, key: str | None,
         request_hash: str, action: Action, *,
         remembered: Callable[[UnitOfWork, Any], None] | None = None) -> tuple[int, Any]:
    """Runs ``action`` in one unit of work and commits it, unless this key was seen before.

    A remembered answer comes back without running ``action``, so without the checks it makes
    as it goes: ``remembered(uow, answer)`` makes them (raising to refuse) where the caller
    could not make them before knowing the answer — a bank's result file names its region only
    in its content."""
    def attempt() -> tuple[int, Any]:
        with uow_factory() as uow:
            repo = PaymentRepository(uow.conn)
            known = _known(repo, caller, scope, key, request_hash) if key else None
            if known is not None:
                if remembered is not None:
                    remembered(uow, known[1])
                return known
            code, body = action(uow)
            if key:
                repo.remember(caller, scope, key, request_hash, code, body, datetime.now(UTC))
            uow.commit()
            return code, body

    return once_more_on_conflict(attempt)


def _known(repo: PaymentRepository, caller: str, scope: str, key: str,
           request_hash: str) -> tuple[int, Any] | None:
    """The caller's remembered answer, KeyReused for another request under their key, or None.
    A key stored before keys had callers (caller "") answers only the identical request, whose
    jurisdiction the route checked before asking, and is never refused: a refusal there would
    tell a stranger that the key was used."""
    known = repo.remembered(caller, scope, key)
    if known is not None and known[0] != request_hash:
        raise KeyReused(scope)
    if known is None:
        known = repo.remembered("", scope, key)
        if known is None or known[0] != request_hash:
            return None
    return known[1], known[2]
