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
        return _TRAITS[self][0]

    @property
    def loopable(self) -> bool:
        return self in LOOPABLE

    @property
    def endpoint(self) -> str:
        """The artifact folder name of the phase's records."""
        return _TRAITS[self][1]

    @property
    def short(self) -> str:
        """Short tag used inside run ids."""
        return _TRAITS[self][2]

    @classmethod
    def parse(cls, name: str) -> Phase | None:
        """Exact, case-sensitive lookup; anything else is None (INVALID_PHASE)."""
        try:
            return cls(name)
        except ValueError:
            return None


# Upstream phase, artifact folder and run id tag of each phase, in pipeline order:
# stops, triggers and reports iterate in this order.
_TRAITS: dict[Phase, tuple[Phase | None, str, str]] = {
    Phase.RANKING_FETCH: (None, "ranking-overall", "rank"),
    Phase.OCID_LOOKUP: (Phase.RANKING_FETCH, "ocid-lookup", "ocid"),
    Phase.CHARACTER_BASIC: (Phase.OCID_LOOKUP, "character-basic", "basic"),
    Phase.ITEM_EQUIPMENT: (Phase.OCID_LOOKUP, "item-equipment", "equip"),
}
ORDER: tuple[Phase, ...] = tuple(_TRAITS)
LOOPABLE: tuple[Phase, ...] = (Phase.CHARACTER_BASIC, Phase.ITEM_EQUIPMENT)
