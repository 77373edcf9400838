"""Consent tiers, ordered: a grant at a tier covers every tier below it."""

from __future__ import annotations

from enum import StrEnum


class Tier(StrEnum):
    """The three consent tiers, lowest first."""

    BASIC = "basic"
    BEHAVIOUR = "behaviour"
    PAYMENT = "payment"

    @property
    def rank(self) -> int:
        """Position in the order basic < behaviour < payment."""
        return _ORDER.index(self)

    def covers(self, other: Tier) -> bool:
        """True if a grant at this tier covers a field of tier ``other``."""
        return self.rank >= other.rank


_ORDER = [Tier.BASIC, Tier.BEHAVIOUR, Tier.PAYMENT]
