"""The bureau publishes verification's figures through approval's four-eyes proposals (issue 22
§2): each ``PolicyPublished`` of a monitoring, discovery or freshness figure is kept, and every
instance reads it from its next use on (shared/policy_book.py); a figure of approval's is not
verification's and is passed over."""

from __future__ import annotations

import logging

from services.verification.adapters.repositories.policy import PolicyFigureRepository
from services.verification.domain.monitoring import FIGURES
from shared.events.catalogue import PolicyPublished
from shared.events.envelope import Envelope
from shared.uow import UnitOfWork

log = logging.getLogger(__name__)


def on_policy_published(event: PolicyPublished, envelope: Envelope, uow: UnitOfWork) -> None:
    if event.name not in FIGURES:
        return
    if PolicyFigureRepository(uow.conn).keep(
            sequence=event.sequence, proposal_id=event.proposal_id, name=event.name,
            region_code=event.region_code, effective_from=event.effective_from,
            value=event.value, published_at=event.published_at):
        log.info("policy figure %s for %s from %s published (sequence %d)", event.name,
                 event.region_code, event.effective_from.isoformat(), event.sequence)
