"""What an item-equipment record costs beyond the GET: the body check, zstd, the whole path.

    .venv/bin/python bench/bench_record_parts.py [--characters 300] [--reps 5] [--records 6000]

Simulator bodies (the same world as `bench_phases.py`, seed 42), made before timing.
Per record, process CPU of the two steps the collector cannot skip: the character-body
check (`nexon.bodies.is_empty_character`: a 2xx body that is not a character object is
retried, so every byte is parsed) and the artifacts' codec as the chunk writer runs it
(one stream, `BATCH_BYTES` batches), beside plain zstd level 1 per body. Set against
`bench_phases.py`'s floor (bare aiohttp GET + read, same run there) they bound the ratio a
collector can reach: (floor + these) / floor, before any bookkeeping. Last, the whole
per-record path without the GET: `NexonClient.item_equipment` (its send replaced by a
stored body), the record line, `collect_ordered` and the `ChunkWriter` into a temp folder,
on uvloop with the heap frozen as a phase runs; that is what the collector adds to the floor
(all threads' CPU).
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import statistics
import tempfile
import time
from collections.abc import Callable
from datetime import datetime
from typing import Any

import uvloop
import zstandard

from maplecollect.artifacts.codec import ZSTD
from maplecollect.artifacts.store import open_store
from maplecollect.artifacts.writer import BATCH_BYTES, ChunkWriter
from maplecollect.collect.outcome import Entry, ok
from maplecollect.collect.pipeline import collect_ordered
from maplecollect.control.progress import Progress
from maplecollect.nexon.bodies import is_empty_character
from maplecollect.nexon.breaker import CircuitBreaker
from maplecollect.nexon.client import NexonClient
from maplecollect.sim import ITEM_EQUIPMENT_PATH, KST, SimConfig, Simulator


def item_bodies(characters: int) -> list[bytes]:
    """The item-equipment bodies of `characters` simulator characters (seed 42)."""
    now = datetime(2026, 11, 27, 12, tzinfo=KST)
    sim = Simulator(SimConfig(seed=42, characters=characters, now=now))
    bodies = []
    for character in sim.world.characters:
        body = sim.expected_body(
            ITEM_EQUIPMENT_PATH, {"ocid": character.ocid, "date": "2026-11-26"}
        )
        bodies.append(body if isinstance(body, bytes) else body.encode())
    return bodies


def per_record_ms(step: Callable[[bytes], object], bodies: list[bytes], reps: int) -> float:
    started = time.process_time()
    for _ in range(reps):
        for body in bodies:
            step(body)
    return (time.process_time() - started) / (reps * len(bodies)) * 1000


class StubContext:
    """What `collect_ordered` reads of a RunContext."""

    def __init__(self) -> None:
        self.stop = asyncio.Event()
        self.progress = Progress()


async def _pipeline(bodies: list[bytes], records: int, folder: str) -> float:
    run = "20261207-000000-equip-00000000"
    client = NexonClient("bench-key", base_url="http://127.0.0.1:9", rate=1e9, max_in_flight=256)

    async def send_once(_ep: Any, params: dict[str, str]) -> tuple[int, bytes, None]:
        await asyncio.sleep(0)  # one loop turn, as an answer would take
        return 200, bodies[int(params["ocid"], 16) % len(bodies)], None

    client._send_once = send_once  # type: ignore[method-assign,assignment]
    breaker = CircuitBreaker()
    provenance = {"runId": run, "snapshotDate": "2026-11-26"}
    writer = ChunkWriter(open_store(folder), run, "item-equipment", provenance=provenance)

    async def fetch(index: int) -> list[Entry]:
        ocid = f"{index:032x}"
        res = await client.item_equipment(ocid, "2026-11-26", breaker=breaker)
        return [ok(index, ocid, "item-equipment", res.fetched_at, res.body, empty=res.empty)]

    ctx: Any = StubContext()
    gc.freeze()  # as collect/heap.py does while a phase collects
    started = time.process_time()
    await collect_ordered(ctx, writer, iter(range(records)), fetch, workers=256)
    await writer.close()
    return (time.process_time() - started) / records * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--characters", type=int, default=300)
    parser.add_argument("--reps", type=int, default=5)
    parser.add_argument("--records", type=int, default=6000, help="for the whole path")
    args = parser.parse_args()
    bodies = item_bodies(args.characters)
    zstd = zstandard.ZstdCompressor(level=1, write_checksum=True)
    check = per_record_ms(is_empty_character, bodies, args.reps)
    plain = per_record_ms(zstd.compress, bodies, args.reps)
    per_batch = max(1, BATCH_BYTES // (sum(map(len, bodies)) // len(bodies)))
    batches = [b"".join(bodies[i : i + per_batch]) for i in range(0, len(bodies), per_batch)]
    writer = per_record_ms(ZSTD.compressor().compress, batches, args.reps)
    writer *= len(batches) / len(bodies)
    fresh = ZSTD.compressor()
    packed = sum(len(fresh.compress(b)) for b in batches) + len(fresh.finish())
    ratio = sum(map(len, batches)) / packed
    mean_kb = statistics.mean(len(b) for b in bodies) / 1024
    print(f"{len(bodies)} item-equipment bodies, mean {mean_kb:.0f} KB")
    print(f"body check (is_empty_character)  {check:.3f} ms/record")
    print(f"zstd level 1, one body a call    {plain:.3f} ms/record")
    print(f"the writer's zstd stream         {writer:.3f} ms/record (ratio {ratio:.1f})")
    print(f"check + the writer's zstd        {check + writer:.3f} ms/record")
    with tempfile.TemporaryDirectory() as folder:
        whole = uvloop.run(_pipeline(bodies, args.records, folder))
    print(f"whole path without the GET       {whole:.3f} ms/record ({args.records} records)")


if __name__ == "__main__":
    main()
