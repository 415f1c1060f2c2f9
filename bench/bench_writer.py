"""Benchmark ChunkWriter: records/s, CPU per record and compression ratio per codec.

    .venv/bin/python bench/bench_writer.py [--large 1000] [--small 20000] [--store DIR]

Bodies are synthetic: ~200 KB item-equipment-like JSON (16 variants, so a
zstd window never sees a repeat) and ~1 KB character-basic-like JSON (one
per record, made before timing starts). Each record goes
through `record_line` and `ChunkWriter.add` into a local store, as the
collector does. "CPU ms/rec" is process CPU (all threads);
"loop ms/rec" is the event loop thread alone — what compression must not block.
Codec `zstd+p` is zstd with `provenance=` (runId and snapshotDate put at the
front of every line, as the collectors write): its cost against `zstd`, same run.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import resource
import shutil
import string
import tempfile
import time
from dataclasses import dataclass

import orjson

from maplecollect.artifacts import ChunkWriter, open_store, record_line

PARTS = ["모자", "상의", "하의", "신발", "장갑", "망토", "무기", "보조무기", "반지1", "반지2"]
STATS = ["str", "dex", "int", "luk", "max_hp", "max_mp", "attack_power", "magic_power"]


def _item(rng: random.Random) -> dict[str, object]:
    def options() -> dict[str, str]:
        return {s: str(rng.randint(0, 150)) for s in STATS}

    return {
        "item_equipment_part": rng.choice(PARTS),
        "item_equipment_slot": rng.choice(PARTS),
        "item_name": f"{rng.choice(['앱솔랩스', '아케인셰이드', '에테르넬'])} {rng.choice(PARTS)}",
        "item_icon": "https://open.api.nexon.com/static/maplestory/item/icon/"
        + "".join(rng.choices(string.ascii_uppercase, k=8)),
        "item_description": None,
        "item_shape_name": rng.choice(PARTS),
        "item_gender": None,
        "item_total_option": options(),
        "item_base_option": options(),
        "item_add_option": options(),
        "item_etc_option": options(),
        "item_starforce_option": options(),
        "potential_option_grade": rng.choice(["레어", "에픽", "유니크", "레전드리"]),
        "potential_option_1": f"STR : +{rng.randint(1, 12)}%",
        "potential_option_2": f"DEX : +{rng.randint(1, 12)}%",
        "potential_option_3": None,
        "starforce": str(rng.randint(0, 25)),
        "scroll_upgrade": str(rng.randint(0, 12)),
        "date_expire": None,
    }


def large_body(seed: int, target: int = 200_000) -> bytes:
    """Three equipment presets of random items, grown until the body reaches `target`."""
    rng = random.Random(seed)
    presets: list[list[dict[str, object]]] = [[], [], []]
    doc = {"date": "2026-11-26T00:00+09:00", "character_gender": "남", "presets": presets}
    while len(orjson.dumps(doc)) < target:
        for preset in presets:
            preset.extend(_item(rng) for _ in range(4))
    return orjson.dumps(doc)


def small_body(rng: random.Random) -> bytes:
    return orjson.dumps(
        {
            "date": "2026-11-26T00:00+09:00",
            "character_name": "".join(rng.choices("가나다라마바사아자차카타파하", k=6)),
            "world_name": rng.choice(["스카니아", "베라", "루나", "엘리시움"]),
            "character_gender": "남",
            "character_class": rng.choice(["아크메이지(불,독)", "나이트로드", "비숍", "히어로"]),
            "character_class_level": "6",
            "character_level": rng.randint(200, 290),
            "character_exp": rng.randint(0, 10**12),
            "character_exp_rate": f"{rng.random() * 100:.3f}",
            "character_guild_name": "".join(rng.choices(string.ascii_letters, k=8)),
            "character_image": "https://open.api.nexon.com/static/maplestory/character/look/"
            + "".join(rng.choices(string.ascii_uppercase, k=500)),
            "character_date_create": "2019-06-13T00:00+09:00",
            "access_flag": "true",
            "liberation_quest_clear_flag": "false",
        }
    )


@dataclass
class Result:
    kind: str
    codec: str
    records: int
    wall: float
    cpu: float
    loop_cpu: float
    raw: int
    compressed: int


async def run_one(
    store_dir: str, kind: str, codec: str, bodies: list[bytes], n: int, *, stamp: bool = False
) -> Result:
    store = open_store(store_dir)
    run_id = f"bench-{kind}-{codec}{'-p' if stamp else ''}"
    provenance = {"runId": run_id, "snapshotDate": "2026-11-26"} if stamp else None
    writer = ChunkWriter(store, run_id, "item-equipment", codec=codec, provenance=provenance)
    t0, c0, l0 = time.perf_counter(), time.process_time(), time.thread_time()
    for i in range(n):
        body = bodies[i % len(bodies)]
        await writer.add(
            i, record_line(f"ocid-{i}", "item-equipment", "2026-11-27T03:00Z", body, False)
        )
    chunks = await writer.close()
    wall = time.perf_counter() - t0
    cpu, loop_cpu = time.process_time() - c0, time.thread_time() - l0
    raw = sum(c.raw_bytes for c in chunks)
    compressed = sum(c.compressed_bytes for c in chunks)
    return Result(kind, codec + ("+p" if stamp else ""), n, wall, cpu, loop_cpu, raw, compressed)


async def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--large", type=int, default=1000, help="number of ~200 KB records")
    parser.add_argument("--small", type=int, default=20000, help="number of ~1 KB records")
    parser.add_argument("--store", default=None, help="store folder (default: a temp dir, removed)")
    args = parser.parse_args()

    large = [large_body(s) for s in range(16)]
    rng = random.Random(1)
    # bytes(bytearray(...)): an exact-size copy (orjson's results hold 8 KB buffers).
    small = [bytes(bytearray(small_body(rng))) for _ in range(args.small)]
    avg_large, avg_small = sum(map(len, large)) // 16, sum(map(len, small)) // max(1, len(small))
    print(f"bodies: large {avg_large:,} B, small {avg_small:,} B; cores {os.cpu_count()}")
    root = args.store or tempfile.mkdtemp(prefix="bench-writer-")
    try:
        results = [
            await run_one(root, kind, codec, bodies, n, stamp=stamp)
            for kind, bodies, n in (("200KB", large, args.large), ("1KB", small, args.small))
            for codec, stamp in (("zstd", False), ("zstd", True), ("gzip", False))
        ]
    finally:
        if args.store is None:
            shutil.rmtree(root, ignore_errors=True)

    header = ("body", "codec", "records", "rec/s", "CPU ms/rec", "loop ms/rec", "MB/s raw", "ratio")
    print(" ".join(f"{h:>{w}}" for h, w in zip(header, (6, 6, 8, 9, 11, 12, 9, 6), strict=True)))
    for r in results:
        print(
            f"{r.kind:>6} {r.codec:>6} {r.records:>8} {r.records / r.wall:>9,.0f}"
            f" {r.cpu * 1000 / r.records:>11.3f} {r.loop_cpu * 1000 / r.records:>12.3f}"
            f" {r.raw / r.wall / 1e6:>9.1f} {r.raw / r.compressed:>6.2f}"
        )
    # The interpreter and the bodies held by the benchmark are part of this.
    print(f"peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB")


if __name__ == "__main__":
    asyncio.run(main())
