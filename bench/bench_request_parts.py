"""Where an item-equipment record's CPU goes, with the real GET (a script, not a test).

    .venv/bin/python bench/bench_request_parts.py [--rounds 5] [--seconds 12]

The floor harness of `http_stacks.py` (simulator on one core, 150 ms lognormal latency,
each measurement a fresh process on the other core, 500 req/s, process CPU per answer),
run as a ladder: each step adds one part of what the collector does to the step before,
so the differences between medians price the parts in place (cache misses and loop
wake-ups included, which `bench_record_parts.py`'s stubbed loop does not see):

  bare         bare aiohttp GET + read of pre-built URLs, started at the rate (the floor)
  options      + the client's request options: query `params`, connect/read/total
               timeouts (the read timeout re-armed per chunk), no redirects
  client       `NexonClient.item_equipment` with the body check switched off: pause gate,
               breaker, semaphore, its own GCRA limiter pacing 256 workers, metrics,
               quota, verdict, `fetchedAt`
  +check       + the body check (`is_empty_character`: the whole body is parsed)
  +pipeline    + `collect_ordered` and the `ChunkWriter` (record lines, input order,
               batches), with the compressor replaced by one that drops its input
  +zstd        + the chunk codec as configured (zstd level 1) and the part file writes:
               the whole per-record path of a phase, without the service around it

Steps run interleaved (round 1: every step, round 2: every step, ...) so machine drift
hits them alike; medians and the differences between them are printed, and the bound
a collector that keeps the check and the codec could reach with no bookkeeping at all:
(options + check + zstd) / bare.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))
import http_stacks as hs

STEPS = ("bare", "options", "client", "+check", "+pipeline", "+zstd")
RUN_ID = "20261207-000000-equip-00000000"


async def _bare(urls: list[str], rate: float, n: int, *, options: bool) -> int:
    import aiohttp
    from yarl import URL

    headers = {hs.KEY_HEADER: hs.API_KEY}
    timeout = aiohttp.ClientTimeout(total=60, connect=5, sock_read=30)  # the client's
    base = URL(urls[0].split("?")[0])
    ocids = [u.split("ocid=")[1].split("&")[0] for u in urls]
    connector = aiohttp.TCPConnector(limit=hs.CONCURRENCY, keepalive_timeout=30.0)
    async with aiohttp.ClientSession(connector=connector) as session:

        async def one(i: int) -> int:
            if options:
                params = {"ocid": ocids[i % len(ocids)], "date": hs.SNAPSHOT}
                get = session.get(
                    base, params=params, headers=headers, timeout=timeout, allow_redirects=False
                )
            else:
                get = session.get(urls[i % len(urls)], headers=headers)
            async with get as res:
                return len(await res.read())

        await one(0)
        ok, _ = await hs.paced(rate, n, one)
        return ok


class _Dropping:
    """A compressor that drops its input: the pipeline without the codec's work."""

    def compress(self, data: bytes) -> bytes:
        return b""

    def finish(self) -> bytes:
        return b""


async def _client(urls: list[str], rate: float, n: int, step: str) -> int:
    from maplecollect.artifacts import codec
    from maplecollect.artifacts.store import open_store
    from maplecollect.artifacts.writer import ChunkWriter
    from maplecollect.collect.outcome import Entry, ok
    from maplecollect.collect.pipeline import collect_ordered
    from maplecollect.nexon import client as nexon_client
    from maplecollect.nexon.breaker import CircuitBreaker

    if step == "client":
        object.__setattr__(nexon_client.ITEM_EQUIPMENT, "check", lambda body: False)
    if step == "+pipeline":
        codec.Codec.compressor = lambda self: _Dropping()  # type: ignore[method-assign]
    ocids = [u.split("ocid=")[1].split("&")[0] for u in urls]
    base = urls[0].split("/maplestory")[0]
    client = nexon_client.NexonClient(
        hs.API_KEY, base_url=base, rate=rate, max_in_flight=hs.CONCURRENCY
    )
    breaker = CircuitBreaker()
    await client.item_equipment(ocids[0], hs.SNAPSHOT, breaker=breaker)  # connect, warm up
    # The limiter starts from the warm-up's slot; wait one interval so step 1 is not early.
    await asyncio.sleep(2 / rate)
    if step in ("client", "+check"):

        async def worker(first: int) -> None:
            for i in range(first, n, hs.CONCURRENCY):
                await client.item_equipment(ocids[i % len(ocids)], hs.SNAPSHOT, breaker=breaker)

        await asyncio.gather(*(worker(k) for k in range(hs.CONCURRENCY)))
    else:
        folder = tempfile.mkdtemp(prefix="mc-bench-parts-")
        provenance = {"runId": RUN_ID, "snapshotDate": hs.SNAPSHOT}
        writer = ChunkWriter(open_store(folder), RUN_ID, "item-equipment", provenance=provenance)

        async def fetch(i: int) -> list[Entry]:
            ocid = ocids[i % len(ocids)]
            res = await client.item_equipment(ocid, hs.SNAPSHOT, breaker=breaker)
            return [ok(i, ocid, "item-equipment", res.fetched_at, res.body, empty=res.empty)]

        gc.freeze()  # as collect/heap.py does while a phase collects
        from bench_record_parts import StubContext  # what collect_ordered reads

        ctx: Any = StubContext()
        await collect_ordered(ctx, writer, iter(range(n)), fetch, workers=hs.CONCURRENCY)
        await writer.close()
    await client.close()
    return n


def measure(step: str, urls: list[str], rate: float, seconds: float) -> dict[str, Any]:
    import uvloop

    # Everything imported before the first reading: imports are not per-request cost.
    import maplecollect.artifacts.writer
    import maplecollect.collect.pipeline
    import maplecollect.nexon.client  # noqa: F401

    n = int(rate * seconds)
    u0 = resource.getrusage(resource.RUSAGE_SELF)
    w0 = time.monotonic()
    if step in ("bare", "options"):
        ok = uvloop.run(_bare(urls, rate, n, options=step == "options"))
    else:
        ok = uvloop.run(_client(urls, rate, n, step))
    wall = time.monotonic() - w0
    u1 = resource.getrusage(resource.RUSAGE_SELF)
    cpu = (u1.ru_utime - u0.ru_utime) + (u1.ru_stime - u0.ru_stime)
    return {"step": step, "cpu_per_1k": cpu / max(ok, 1) * 1000, "rate": ok / wall}


def run_child(step: str, url: str, a: argparse.Namespace, cpus: set[int] | None) -> dict[str, Any]:
    def preexec() -> None:
        if cpus:
            with contextlib.suppress(OSError):
                os.sched_setaffinity(0, cpus)

    cmd = [sys.executable, __file__, "--child", step, "--url", url]
    cmd += ["--seconds", str(a.seconds), "--characters", str(a.characters), "--rate", str(a.rate)]
    out = subprocess.run(
        cmd,
        capture_output=True,
        text=True,
        timeout=a.seconds * 4 + 120,
        preexec_fn=preexec,
        check=False,
    )
    if out.returncode != 0:
        raise SystemExit(f"step {step} failed:\n{out.stderr[-3000:]}")
    result: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def main() -> int:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--seconds", type=float, default=12.0, help="per measurement")
    p.add_argument("--rate", type=float, default=500.0)
    p.add_argument("--characters", type=int, default=3000)
    p.add_argument("--steps", default=",".join(STEPS))
    p.add_argument("--child", choices=STEPS, help=argparse.SUPPRESS)
    p.add_argument("--url", help=argparse.SUPPRESS)
    a = p.parse_args()
    if a.child:
        urls = hs.target_urls(a.url, "items", 42, a.characters)
        print(json.dumps(measure(a.child, urls, a.rate, a.seconds)))
        return 0
    steps = [s for s in a.steps.split(",") if s]
    unknown = sorted(set(steps) - set(STEPS))
    if unknown or a.rounds < 1 or a.seconds <= 0:
        p.error(f"--rounds >= 1, --seconds > 0, steps from {', '.join(STEPS)} (got {unknown})")
    cpus = sorted(os.sched_getaffinity(0))
    sim_cpus, own_cpus = ({cpus[0]}, {cpus[1]}) if len(cpus) >= 2 else (None, None)
    sim_args = argparse.Namespace(characters=a.characters, seed=42)
    load0 = os.getloadavg()
    proc, url = hs.start_simulator(sim_args, sim_cpus)
    per_step: dict[str, list[float]] = {s: [] for s in steps}
    try:
        for r in range(a.rounds):
            for step in steps:
                res = run_child(step, url, a, own_cpus)
                per_step[step].append(res["cpu_per_1k"])
                print(
                    f"round {r + 1} {step:<10} {res['cpu_per_1k']:.3f} CPU-s/1k "
                    f"at {res['rate']:.0f} req/s",
                    flush=True,
                )
    finally:
        proc.terminate()
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(10)
    load1 = os.getloadavg()
    print(
        f"\n{a.rounds} rounds x {a.seconds:g} s at {a.rate:g} req/s, item-equipment bodies of "
        f"{a.characters} characters; load average {load0[0]:.2f} -> {load1[0]:.2f}"
    )
    med = {s: statistics.median(v) for s, v in per_step.items()}
    base = med.get("bare")
    print(f"{'step':<11}{'median':>8}{'min':>8}{'max':>8}{'step adds':>11}{'x bare':>8}")
    prev: float | None = None
    for s in steps:
        adds = f"{med[s] - prev:+.3f}" if prev is not None else ""
        ratio = f"{med[s] / base:.2f}" if base else ""
        print(
            f"{s:<11}{med[s]:>8.3f}{min(per_step[s]):>8.3f}{max(per_step[s]):>8.3f}"
            f"{adds:>11}{ratio:>8}"
        )
        prev = med[s]
    if set(STEPS) <= set(steps) and base:
        needed = (
            med["options"]
            + (med["+check"] - med["client"])
            + max(0.0, med["+zstd"] - med["+pipeline"])
        )
        print(
            f"bare + options + check + zstd (no bookkeeping at all): {needed:.3f} CPU-s/1k "
            f"= {needed / base:.2f} x bare; the whole path: {med['+zstd'] / base:.2f} x bare"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
