"""maplecollect side by side with the collectors a MapleStory data engineer would write.

One simulator (its real per-key limit at --rate, lognormal latency 150 ms p50 / 400 ms
p99) on CPU 0; each collector in its own process on CPU 1, one after the other, asked
for the same work: character/basic of the same --characters ocids, every body written
as one line to a file. The collectors (each minimal, as such scripts are):

  maplecollect   NexonClient (its limiter at --rate with the default safety margin,
                 retries, classification), 256 concurrent tasks
  threads        requests.Session per thread + ThreadPoolExecutor(--threads) + sleep
                 pacing to --rate through a shared "next slot" time; 429/5xx: sleep 1 s,
                 up to 3 tries
  client/req     asyncio, a NEW httpx.AsyncClient for every request, launches paced
                 with asyncio.sleep(1 / rate), at most 256 in flight; same retries

Printed per collector: records/s (written / wall), % of the limit, client CPU-s per
1,000 records, peak RSS, 429s answered by the simulator, lost records (asked, not
written), and the ratios to maplecollect measured in this run. A collector that has not
finished after --timeout seconds stops asking; what it had not written counts as lost.

    .venv/bin/python bench/bench_peers.py                  # 3,000 characters, ~3 min
    .venv/bin/python bench/bench_peers.py --characters 1000 --timeout 60
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import resource
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

API_KEY = "bench-key"
KEY_HEADER = "x-nxopen-api-key"
BASIC = "/maplestory/v1/character/basic"
SIM_NOW = "2026-11-27T12:00:00+09:00"
SNAPSHOT = "2026-11-26"
COLLECTORS = ("maplecollect", "threads", "client/req")
TRIES = 3
# A collector stops asking once its time is up (what is left counts as lost), so even the
# slowest one reports its own CPU and RSS; set by the child from --timeout.
DEADLINE = [float("inf")]


def time_is_up() -> bool:
    return time.monotonic() > DEADLINE[0]


def ocids(seed: int, n: int) -> list[str]:
    from maplecollect.sim.world import make_ocid

    return [make_ocid(seed, i) for i in range(n)]


# -- the collectors (each runs in a child process) ---------------------------------------


async def collect_maplecollect(url: str, keys: list[str], a: Any, out: Any) -> int:
    from maplecollect.errors import RecordError
    from maplecollect.nexon import NexonClient

    written = 0
    queue = iter(keys)
    async with NexonClient(API_KEY, base_url=url, rate=a.rate, max_in_flight=256) as client:

        async def worker() -> None:
            nonlocal written
            for ocid in queue:
                if time_is_up():
                    return
                try:
                    res = await client.character_basic(ocid, SNAPSHOT)
                except RecordError:
                    continue
                out.write(ocid.encode() + b"\t" + res.body + b"\n")
                written += 1

        await asyncio.gather(*(worker() for _ in range(256)))
    return written


def collect_threads(url: str, keys: list[str], a: Any, out: Any) -> int:
    import requests

    lock = threading.Lock()
    next_slot = [time.monotonic()]
    local = threading.local()
    written = [0]

    def pace() -> None:
        with lock:
            now = time.monotonic()
            slot = max(next_slot[0], now)
            next_slot[0] = slot + 1 / a.rate
        if slot > now:
            time.sleep(slot - now)

    def one(ocid: str) -> None:
        if time_is_up():
            return
        session = getattr(local, "session", None)
        if session is None:
            session = local.session = requests.Session()
        for _ in range(TRIES):
            pace()
            try:
                res = session.get(
                    url + BASIC,
                    params={"ocid": ocid, "date": SNAPSHOT},
                    headers={KEY_HEADER: API_KEY},
                    timeout=30,
                )
            except requests.RequestException:
                time.sleep(1)
                continue
            if res.status_code == 200:
                with lock:
                    out.write(ocid.encode() + b"\t" + res.content + b"\n")
                    written[0] += 1
                return
            if res.status_code == 429 or res.status_code >= 500:
                time.sleep(1)
                continue
            return

    with ThreadPoolExecutor(a.threads) as pool:
        list(pool.map(one, keys))
    return written[0]


async def collect_client_per_request(url: str, keys: list[str], a: Any, out: Any) -> int:
    import httpx

    limit = asyncio.Semaphore(256)
    written = 0

    async def one(ocid: str) -> None:
        nonlocal written
        async with limit:
            for _ in range(TRIES):
                try:
                    async with httpx.AsyncClient(timeout=30) as client:
                        res = await client.get(
                            url + BASIC,
                            params={"ocid": ocid, "date": SNAPSHOT},
                            headers={KEY_HEADER: API_KEY},
                        )
                except httpx.HTTPError:
                    await asyncio.sleep(1)
                    continue
                if res.status_code == 200:
                    out.write(ocid.encode() + b"\t" + res.content + b"\n")
                    written += 1
                    return
                if res.status_code == 429 or res.status_code >= 500:
                    await asyncio.sleep(1)
                    continue
                return

    tasks = []
    for ocid in keys:
        if time_is_up():
            break
        tasks.append(asyncio.create_task(one(ocid)))
        await asyncio.sleep(1 / a.rate)
    await asyncio.gather(*tasks)
    return written


def run_child(a: argparse.Namespace) -> int:
    keys = ocids(a.seed, a.characters)
    # Import each collector's libraries before the clock starts: imports are start-up,
    # not CPU per record (bench/bench_startup.py measures start-up).
    if a.child == "maplecollect":
        import maplecollect.nexon  # noqa: F401
    elif a.child == "threads":
        import requests  # noqa: F401
    else:
        import httpx  # noqa: F401
    u0 = resource.getrusage(resource.RUSAGE_SELF)
    w0 = time.monotonic()
    DEADLINE[0] = w0 + a.timeout
    with open(a.out, "wb") as out:
        if a.child == "maplecollect":
            written = asyncio.run(collect_maplecollect(a.url, keys, a, out))
        elif a.child == "threads":
            written = collect_threads(a.url, keys, a, out)
        else:
            written = asyncio.run(collect_client_per_request(a.url, keys, a, out))
    wall = time.monotonic() - w0
    u1 = resource.getrusage(resource.RUSAGE_SELF)
    cpu = (u1.ru_utime - u0.ru_utime) + (u1.ru_stime - u0.ru_stime)
    print(json.dumps({"written": written, "wall": wall, "cpu": cpu, "rss_mb": u1.ru_maxrss / 1024}))
    return 0


# -- the driver ----------------------------------------------------------------------------


def pinned(cpus: set[int] | None) -> Any:
    def preexec() -> None:
        if cpus:
            with contextlib.suppress(OSError):
                os.sched_setaffinity(0, cpus)

    return preexec


def sim_get(url: str, path: str, method: str = "GET") -> dict[str, Any]:
    import urllib.request

    req = urllib.request.Request(url + path, method=method)
    with urllib.request.urlopen(req, timeout=30) as res:
        data: dict[str, Any] = json.loads(res.read())
        return data


def measure(name: str, url: str, a: argparse.Namespace, cpus: set[int] | None) -> dict[str, Any]:
    sim_get(url, "/_sim/stats/reset", "POST")
    with tempfile.NamedTemporaryFile(prefix="mc-peers-", delete=False) as f:
        out_path = f.name
    cmd = [sys.executable, __file__, "--child", name, "--url", url, "--out", out_path]
    cmd += ["--rate", str(a.rate), "--characters", str(a.characters), "--seed", str(a.seed)]
    cmd += ["--threads", str(a.threads), "--timeout", str(a.timeout)]
    w0 = time.monotonic()
    proc = subprocess.Popen(
        cmd,
        stdout=subprocess.PIPE,
        text=True,
        preexec_fn=pinned(cpus),  # noqa: PLW1509
    )
    try:
        stdout, _ = proc.communicate(timeout=a.timeout + 60)  # in-flight tail: 30 s timeouts
        result: dict[str, Any] = json.loads(stdout.strip().splitlines()[-1])
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.communicate()
        wall = time.monotonic() - w0
        with open(out_path, "rb") as f:
            lines = sum(1 for _ in f)
        result = {"written": lines, "wall": wall, "cpu": float("nan"), "rss_mb": float("nan")}
        result["timed_out"] = True
    stats = sim_get(url, "/_sim/stats")
    Path(out_path).unlink(missing_ok=True)
    result["sim_429"] = sum(s.get("429", 0) for s in stats["requests"].values())
    result["lost"] = a.characters - result["written"]
    return result


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--characters", type=int, default=3_000)
    p.add_argument("--rate", type=float, default=500.0)
    p.add_argument("--threads", type=int, default=10)
    p.add_argument("--timeout", type=float, default=120.0, help="per collector, s")
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--collectors", default=",".join(COLLECTORS))
    p.add_argument("--no-pin", action="store_true")
    p.add_argument("--child", choices=COLLECTORS, help=argparse.SUPPRESS)
    p.add_argument("--url", help=argparse.SUPPRESS)
    p.add_argument("--out", help=argparse.SUPPRESS)
    a = p.parse_args()
    if a.child:
        return run_child(a)

    cpus = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else []
    pin = not a.no_pin and len(cpus) >= 2
    sim_cpus, own_cpus = ({cpus[0]}, {cpus[1]}) if pin else (None, None)
    load0 = os.getloadavg()[0]
    cmd = [sys.executable, "-m", "maplecollect.sim", "--port", "0", "--now", SIM_NOW]
    cmd += ["--characters", str(max(a.characters, 1000)), "--seed", str(a.seed)]
    cmd += ["--api-key", f"{API_KEY}={a.rate:g}", "--latency-ms", "150", "--latency-p99-ms", "400"]
    sim = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True, preexec_fn=pinned(sim_cpus))  # noqa: PLW1509
    assert sim.stdout is not None
    url = sim.stdout.readline().strip()
    results: dict[str, dict[str, Any]] = {}
    try:
        for name in a.collectors.split(","):
            results[name] = measure(name, url, a, own_cpus)
            print(f"{name}: {results[name]}", flush=True)
    finally:
        sim.terminate()
        with contextlib.suppress(subprocess.TimeoutExpired):
            sim.wait(10)
    print(
        f"\n{a.characters:,} character/basic records, simulator limit = client rate = "
        f"{a.rate:g}/s, latency 150 ms p50 / 400 ms p99; load average {load0:.2f} -> "
        f"{os.getloadavg()[0]:.2f}; {'pinned' if pin else 'not pinned'}"
    )
    head = (
        f"{'collector':<14}{'records/s':>10}{'% limit':>9}{'CPU-s/1k':>10}{'peak RSS MB':>12}"
        f"{'429s':>6}{'lost':>6}{'speed vs mc':>12}{'CPU vs mc':>10}"
    )
    print(head)
    print("-" * len(head))
    base = results.get("maplecollect")
    for name, r in results.items():
        rate = r["written"] / r["wall"] if r["wall"] else 0.0
        cpu_1k = r["cpu"] / max(1, r["written"]) * 1000
        speed = cpu_rel = float("nan")
        if base:
            speed = rate / (base["written"] / base["wall"])
            cpu_rel = cpu_1k / (base["cpu"] / max(1, base["written"]) * 1000)
        note = " (stopped at --timeout)" if r.get("timed_out") or r["lost"] else ""
        print(
            f"{name:<14}{rate:>10.1f}{rate / a.rate:>9.1%}{cpu_1k:>10.3f}{r['rss_mb']:>12.0f}"
            f"{r['sim_429']:>6}{r['lost']:>6}{speed:>12.2f}{cpu_rel:>10.2f}{note}"
        )
    print("speed / CPU vs mc = records/s and CPU per record relative to maplecollect (1.00).")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
