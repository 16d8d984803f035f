"""Payment's database, one module a part: payments and their ledger (``payments``),
entitlements (``entitlements``), cases' areas and members (``cases``), accounts (``accounts``)
and remembered answers (``idempotency_keys``).

``PaymentRepository`` gathers them on one connection, for the handlers and routes that touch
several at once (an approval records the case's area and members, opens its entitlement and
writes its first payment in one transaction); each part reads and writes its own tables only.
"""

from __future__ import annotations

from services.payment.adapters.accounts import Accounts
from services.payment.adapters.cases import Cases
from services.payment.adapters.entitlements import Entitlements
from services.payment.adapters.idempotency_keys import IdempotencyKeys
from services.payment.adapters.payments import Payments


class PaymentRepository(Payments, Entitlements, Cases, Accounts, IdempotencyKeys):
    """Every table of payment's database on one connection (``PaymentRepository(uow.conn)``)."""
