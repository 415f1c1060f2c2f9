"""Inputs of the non-root phases, read from the upstream run's published records.

Reading runs in a worker thread (the reader decompresses and verifies
checksums); only the small keys are kept, never the bodies.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from maplecollect.artifacts.reader import read_run
from maplecollect.artifacts.store import Store
from maplecollect.errors import StoreError
from maplecollect.phases import Phase


@dataclass(frozen=True, slots=True)
class NameKey:
    world_name: str
    character_name: str


@dataclass(frozen=True, slots=True)
class OcidKey:
    ocid: str
    character_name: str
    world_name: str


def _ranking_names(store: Store, run_id: str) -> list[NameKey]:
    seen: set[tuple[str, str]] = set()
    keys: list[NameKey] = []
    for record in read_run(run_id, Phase.RANKING_FETCH.endpoint, store=store):
        body = record["body"]
        pair = (body["world_name"], body["character_name"])
        if pair not in seen:
            seen.add(pair)
            keys.append(NameKey(*pair))
    return keys


def _ocids(store: Store, run_id: str) -> list[OcidKey]:
    keys: list[OcidKey] = []
    seen: set[str] = set()
    for record in read_run(run_id, Phase.OCID_LOOKUP.endpoint, store=store):
        body = record["body"]
        if body["ocid"] not in seen:
            seen.add(body["ocid"])
            keys.append(OcidKey(body["ocid"], body["characterName"], body["worldName"]))
    return keys


async def ranking_names(store: Store, run_id: str | None) -> list[NameKey]:
    """Distinct (world, name) of a RANKING_FETCH run, in ranking order."""
    if run_id is None:
        raise StoreError("OCID_LOOKUP needs an upstream RANKING_FETCH run")
    return await asyncio.to_thread(_ranking_names, store, run_id)


async def ocids(store: Store, run_id: str | None) -> list[OcidKey]:
    """Distinct ocids (with their names) of an OCID_LOOKUP run, in its order."""
    if run_id is None:
        raise StoreError("character phases need an upstream OCID_LOOKUP run")
    return await asyncio.to_thread(_ocids, store, run_id)
