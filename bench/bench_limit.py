"""Zero 429 at the limit: NexonClient configured to exactly the simulator's rate limit.

The simulator (`python -m maplecollect.sim`, its real per-key sliding 1 s window at
--rate, lognormal latency 150 ms p50 / 400 ms p99) runs in its own process on CPU 0;
`NexonClient` with its default limiter (the default safety margin) runs here on CPU 1,
saturated by --workers tasks asking character/basic for --seconds.

Reported: 200 answers, 429 answers (counted by the SIMULATOR), the busiest 1 s window
at the simulator, utilisation = 200 answers per second / rate, client CPU-s per 1,000.
Exit 1 if any 429 was answered or utilisation < 97 %.

    .venv/bin/python bench/bench_limit.py --seconds 600          # the 10-minute run
    .venv/bin/python bench/bench_limit.py --seconds 60 --guard 0.005   # the old margin
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import resource
import subprocess
import sys
import time
from typing import Any

import aiohttp
import orjson

from maplecollect.errors import RecordError
from maplecollect.nexon import GcraLimiter, NexonClient, RetryPolicy
from maplecollect.nexon.limiter import DEFAULT_GUARD
from maplecollect.sim.world import make_ocid

API_KEY = "bench-key"
SEED = 42
CHARACTERS = 20_000
SIM_NOW = "2026-11-27T12:00:00+09:00"
SNAPSHOT = "2026-11-26"
UTILISATION_TARGET = 0.97


def start_simulator(args: argparse.Namespace, cpus: set[int] | None) -> tuple[Any, str]:
    def preexec() -> None:
        if cpus:
            with contextlib.suppress(OSError):
                os.sched_setaffinity(0, cpus)

    cmd = [
        sys.executable,
        "-m",
        "maplecollect.sim",
        "--port",
        "0",
        "--characters",
        str(CHARACTERS),
        "--seed",
        str(SEED),
        "--api-key",
        f"{API_KEY}={args.rate:g}",
        "--latency-ms",
        "150",
        "--latency-p99-ms",
        "400",
        "--now",
        SIM_NOW,
    ]
    # no threads exist yet that a preexec_fn could deadlock on
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True, preexec_fn=preexec)  # noqa: PLW1509
    assert proc.stdout is not None
    url = proc.stdout.readline().strip()  # the first line is the base URL
    if not url.startswith("http"):
        proc.kill()
        raise SystemExit(f"simulator did not start (got {url!r})")
    return proc, url


async def sim_stats(url: str, reset: bool = False) -> dict[str, Any]:
    async with aiohttp.ClientSession() as s:
        method = "POST" if reset else "GET"
        path = "/_sim/stats/reset" if reset else "/_sim/stats"
        async with s.request(method, url + path) as r:
            data: dict[str, Any] = orjson.loads(await r.read())
            return data


async def drive(url: str, args: argparse.Namespace) -> dict[str, Any]:
    guard = DEFAULT_GUARD if args.guard is None else args.guard
    limiter = GcraLimiter(args.rate, guard=guard)
    client = NexonClient(
        API_KEY,
        base_url=url,
        limiter=limiter,
        max_in_flight=args.workers,
        retry=RetryPolicy(max_attempts=3, base_delay=0.05),
        daily_quota=10**9,
    )
    ocids = [make_ocid(SEED, i) for i in range(CHARACTERS)]
    ok = failed = 0
    async with client:
        await client.character_basic(ocids[0], SNAPSHOT)  # open the pool
        await sim_stats(url, reset=True)
        deadline = time.monotonic() + args.seconds

        async def worker(n: int) -> None:
            nonlocal ok, failed
            i = n
            while time.monotonic() < deadline:
                try:
                    await client.character_basic(ocids[i % CHARACTERS], SNAPSHOT)
                except RecordError:
                    failed += 1
                    continue
                ok += time.monotonic() <= deadline
                i += args.workers

        usage0 = resource.getrusage(resource.RUSAGE_SELF)
        start = time.monotonic()
        await asyncio.gather(*(worker(n) for n in range(args.workers)))
        usage1 = resource.getrusage(resource.RUSAGE_SELF)
        stats = await sim_stats(url)
    await limiter.close()
    cpu = (usage1.ru_utime - usage0.ru_utime) + (usage1.ru_stime - usage0.ru_stime)
    by_status: dict[str, int] = {}
    for statuses in stats["requests"].values():
        for status, n in statuses.items():
            by_status[status] = by_status.get(status, 0) + n
    return {
        "guard": guard,
        "seconds": args.seconds,
        "wall": time.monotonic() - start,
        "ok": ok,
        "failed": failed,
        "sim_200": by_status.get("200", 0),
        "sim_429": by_status.get("429", 0),
        "sim_max_per_s": max(stats["maxPerSecond"].values(), default=0),
        "cpu": cpu,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--rate", type=float, default=500.0)
    parser.add_argument("--workers", type=int, default=256)
    parser.add_argument("--guard", type=float, default=None, help="limiter margin (s)")
    parser.add_argument("--no-pin", action="store_true")
    args = parser.parse_args()
    cpus = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else []
    pin = not args.no_pin and len(cpus) >= 2
    sim_cpus, own_cpus = ({cpus[0]}, {cpus[1]}) if pin else (None, None)
    load0 = os.getloadavg()[0]
    proc, url = start_simulator(args, sim_cpus)
    try:
        if own_cpus:
            os.sched_setaffinity(0, own_cpus)
        r = asyncio.run(drive(url, args))
    finally:
        proc.terminate()
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(10)
    utilisation = r["ok"] / r["seconds"] / args.rate
    print(
        f"rate {args.rate:g}/s = simulator limit, margin {r['guard'] * 1000:g} ms, "
        f"{r['seconds']:g} s, load average {load0:.2f} -> {os.getloadavg()[0]:.2f}"
    )
    print(
        f"200 answers {r['ok']:,} ({r['ok'] / r['seconds']:.1f}/s, {utilisation:.1%} of the "
        f"limit); 429 at the simulator {r['sim_429']}; busiest 1 s at the simulator "
        f"{r['sim_max_per_s']}; failed records {r['failed']}; client "
        f"{r['cpu'] / max(1, r['sim_200']) * 1000:.3f} CPU-s/1k"
    )
    met = r["sim_429"] == 0 and utilisation >= UTILISATION_TARGET
    print("targets (0 x 429, >= 97 % of the limit):", "met" if met else "NOT met")
    return 0 if met else 1


if __name__ == "__main__":
    raise SystemExit(main())
