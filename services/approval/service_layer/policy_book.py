"""The policy approval decides by: the packaged files, then every figure published through the
system, read from approval's own proposals table (shared/policy_book.py says how)."""

from __future__ import annotations

from sqlalchemy import Engine

from services.approval.adapters.tables import policy_proposals
from services.approval.domain.policy import PolicyTable
from shared import policy_book


class PolicyBook(policy_book.PolicyBook):
    def __init__(self, packaged: PolicyTable, engine: Engine | None = None) -> None:
        super().__init__(packaged, policy_proposals, engine)
