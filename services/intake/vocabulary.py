"""Intake's published vocabulary: the words an application is written in (income kinds,
programmes, relations). The window's form offers exactly these, so it cannot drift from what
intake accepts; it reads them here, not from intake's domain."""

from __future__ import annotations

from services.intake.domain.model import INCOME_KINDS, PROGRAMMES, RELATIONS

__all__ = ["INCOME_KINDS", "PROGRAMMES", "RELATIONS"]
