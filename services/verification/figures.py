"""Verification's published seam for policy administration: the figures it decides by
(monitoring indicators, discovery thresholds, freshness windows), by name with their meaning
and 中文 label. The bureau proposes and approves them where it does every figure, in approval
(four eyes); approval checks a proposal's name against this catalogue and publishes it as
``PolicyPublished``, which verification keeps and reads without a restart. Nothing else of
verification is approval's."""

from __future__ import annotations

from services.verification.domain.monitoring import FIGURES, TIERS

# A tier figure is 0 (off) to 3 (red).
TIER_MAX = len(TIERS)

__all__ = ["FIGURES", "TIER_MAX"]
