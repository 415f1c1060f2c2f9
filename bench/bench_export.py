"""Parquet export of an ITEM_EQUIPMENT day: throughput and peak memory on one core.

    .venv/bin/python bench/bench_export.py --characters 100000 --dir /tmp/bench-export

Writes a run of N item-equipment records (simulator bodies, 40-200 KB, distinct
keys) into a local store with the real ChunkWriter, then exports it in a child
process (threads=1, DuckDB memory limit 512 MB) and reports the child's wall
time, CPU time and peak RSS. Reuses the generated run when it exists.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import resource
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

from maplecollect.artifacts import ChunkWriter, build_manifest, open_store, write_manifest
from maplecollect.artifacts.lines import record_line
from maplecollect.sim import ITEM_EQUIPMENT_PATH, KST, SimConfig
from maplecollect.sim.simulator import Simulator

RUN_ID = "ie-bench"
NOW = datetime(2026, 11, 27, 12, 0, tzinfo=KST)

CHILD = """
import json, sys, time
from datetime import UTC, datetime
from maplecollect.artifacts import open_store
from maplecollect.export.run import export_run
from maplecollect.state.models import RunRow
now = datetime(2026, 11, 27, 3, tzinfo=UTC)
run = RunRow(run_id="ie-bench", phase="ITEM_EQUIPMENT", status="COMPLETED",
             snapshot_date="2026-11-26", started_at=now, completed_at=now, updated_at=now,
             heartbeat_at=now, owner="bench", upstream_run_id=None)
t = time.perf_counter()
result = export_run(run, store=open_store(sys.argv[1]), dest=open_store(sys.argv[2]))
print(json.dumps({"seconds": time.perf_counter() - t, "table": result["tables"]["items"]}))
"""


async def generate(store_dir: Path, characters: int) -> dict[str, int]:
    sim = Simulator(SimConfig(seed=3, characters=1000, now=NOW))
    bodies = [
        sim.expected_body(ITEM_EQUIPMENT_PATH, {"ocid": c.ocid, "date": "2026-11-26"})
        for c in sim.world.characters
        if not c.empty
    ]
    store = open_store(str(store_dir))
    fetched = "2026-11-27T03:00:00Z"
    raw = 0
    async with ChunkWriter(store, RUN_ID, "item-equipment") as writer:
        for i in range(characters):
            body = bodies[i % len(bodies)]
            raw += len(body)
            await writer.add(i, record_line(f"{i:032x}", "item-equipment", fetched, body, False))
        chunks = await writer.close()
    started = datetime(2026, 11, 27, 3, tzinfo=UTC)
    manifest = build_manifest(
        run_id=RUN_ID,
        phase="ITEM_EQUIPMENT",
        endpoint="item-equipment",
        upstream_run_id=None,
        snapshot_date="2026-11-26",
        started_at=started,
        completed_at=started,
        status="COMPLETED",
        chunks=chunks,
    )
    await write_manifest(store, manifest, success=True)
    return {"records": characters, "rawBytes": raw}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--characters", type=int, default=10_000)
    parser.add_argument("--dir", type=Path, default=Path("/tmp/bench-export"))
    args = parser.parse_args()
    store_dir = args.dir / f"store-{args.characters}"
    manifest = store_dir / "runs" / RUN_ID / "item-equipment" / "manifest.json"
    if not manifest.exists():
        t = time.perf_counter()
        made = asyncio.run(generate(store_dir, args.characters))
        print(f"generated {made['records']:,} records, {made['rawBytes'] / 1e9:.2f} GB raw "
              f"in {time.perf_counter() - t:.0f} s")  # fmt: skip
    out = args.dir / f"out-{args.characters}"
    proc = subprocess.run(
        [sys.executable, "-c", CHILD, str(store_dir), str(out)],
        capture_output=True,
        text=True,
        check=True,
    )
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    seconds, table = result["seconds"], result["table"]
    cpu = usage.ru_utime + usage.ru_stime
    raw = json.loads(manifest.read_text())["rawBytes"]
    print(
        json.dumps(
            {
                "characters": table["characters"],
                "itemRows": table["rows"],
                "rawGB": round(raw / 1e9, 2),
                "parquetMB": round(table["bytes"] / 1e6, 1),
                "wallSeconds": round(seconds, 1),
                "childCpuSeconds": round(cpu, 1),
                "recordsPerSecond": round(table["characters"] / seconds),
                "recordsPerCpuSecond": round(table["characters"] / cpu),
                "itemRowsPerSecond": round(table["rows"] / seconds),
                "rawMBPerSecond": round(raw / 1e6 / seconds),
                "peakRssMB": round(usage.ru_maxrss / 1024),
            }
        )
    )


if __name__ == "__main__":
    main()
