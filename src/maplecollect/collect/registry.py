"""The real phase runners, one per phase, and the manifest finalizer."""

from __future__ import annotations

from collections.abc import Mapping

from maplecollect.collect.character import CharacterPhase
from maplecollect.collect.finalizer import ManifestFinalizer
from maplecollect.collect.ocid import OcidLookup
from maplecollect.collect.ranking import RankingFetch
from maplecollect.control.context import PhaseRunner, RunFinalizer
from maplecollect.phases import Phase


def phase_runners() -> Mapping[Phase, PhaseRunner]:
    return {
        Phase.RANKING_FETCH: RankingFetch(),
        Phase.OCID_LOOKUP: OcidLookup(),
        Phase.CHARACTER_BASIC: CharacterPhase(Phase.CHARACTER_BASIC),
        Phase.ITEM_EQUIPMENT: CharacterPhase(Phase.ITEM_EQUIPMENT),
    }


def default_finalizer() -> RunFinalizer:
    return ManifestFinalizer()
