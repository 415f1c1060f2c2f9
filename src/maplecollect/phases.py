"""Phase names, pipeline order, upstream relation and loopability (docs/collection.md)."""

from __future__ import annotations

from enum import StrEnum


class Phase(StrEnum):
    RANKING_FETCH = "RANKING_FETCH"
    OCID_LOOKUP = "OCID_LOOKUP"
    CHARACTER_BASIC = "CHARACTER_BASIC"
    ITEM_EQUIPMENT = "ITEM_EQUIPMENT"

    @property
    def upstream(self) -> Phase | None:
        return _UPSTREAM[self]

    @property
    def loopable(self) -> bool:
        return self in LOOPABLE

    @property
    def endpoint(self) -> str:
        """The artifact folder name of the phase's records."""
        return _ENDPOINT[self]

    @property
    def short(self) -> str:
        """Short tag used inside run ids."""
        return _SHORT[self]

    @classmethod
    def parse(cls, name: str) -> Phase | None:
        """Exact, case-sensitive lookup; anything else is None (INVALID_PHASE)."""
        try:
            return cls(name)
        except ValueError:
            return None


# Pipeline order: stops, triggers and reports iterate in this order.
ORDER: tuple[Phase, ...] = (
    Phase.RANKING_FETCH,
    Phase.OCID_LOOKUP,
    Phase.CHARACTER_BASIC,
    Phase.ITEM_EQUIPMENT,
)
LOOPABLE: tuple[Phase, ...] = (Phase.CHARACTER_BASIC, Phase.ITEM_EQUIPMENT)

_UPSTREAM: dict[Phase, Phase | None] = {
    Phase.RANKING_FETCH: None,
    Phase.OCID_LOOKUP: Phase.RANKING_FETCH,
    Phase.CHARACTER_BASIC: Phase.OCID_LOOKUP,
    Phase.ITEM_EQUIPMENT: Phase.OCID_LOOKUP,
}
_ENDPOINT: dict[Phase, str] = {
    Phase.RANKING_FETCH: "ranking-overall",
    Phase.OCID_LOOKUP: "ocid-lookup",
    Phase.CHARACTER_BASIC: "character-basic",
    Phase.ITEM_EQUIPMENT: "item-equipment",
}
_SHORT: dict[Phase, str] = {
    Phase.RANKING_FETCH: "rank",
    Phase.OCID_LOOKUP: "ocid",
    Phase.CHARACTER_BASIC: "basic",
    Phase.ITEM_EQUIPMENT: "equip",
}


def downstream_of(phase: Phase) -> tuple[Phase, ...]:
    return tuple(p for p in ORDER if p.upstream is phase)
