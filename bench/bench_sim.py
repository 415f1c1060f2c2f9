"""Throughput of the Nexon API simulator on one core (a script, not a test).

The simulator runs in its own process pinned to one CPU (`python -m maplecollect.sim`);
this process is the load generator, pinned to another CPU: a minimal keep-alive HTTP/1.1
client on asyncio streams (much cheaper per request than a full client, so the server is
what gets measured). For each scenario it prints requests/s, body size, latency
percentiles and the server's CPU use (100 % = the server's core is saturated); req/CPU-s
is requests per second of server CPU, i.e. what one saturated core would serve.

    .venv/bin/python bench/bench_sim.py                 # all scenarios, 4 s each
    .venv/bin/python bench/bench_sim.py --seconds 2 --connections 32 --characters 20000
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import os
import statistics
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime

import orjson

from maplecollect.sim import (
    BASIC_PATH,
    ID_PATH,
    ITEM_EQUIPMENT_PATH,
    KST,
    RANKING_PATH,
    SimConfig,
    Simulator,
)

NOW = "2026-11-27T12:00:00+09:00"
DAY = "2026-11-26"
KEY = "bench"
TARGETS = {"small": 3000.0, "item-equipment": 600.0}  # req/s the issue asks for


@dataclass
class Result:
    name: str
    requests: int
    seconds: float
    body_bytes: int
    latencies: list[float]
    cpu_seconds: float
    non_200: int

    @property
    def rate(self) -> float:
        return self.requests / self.seconds


def _cpu_seconds(pid: int) -> float:
    """utime + stime of a process, from /proc (Linux)."""
    with open(f"/proc/{pid}/stat", encoding="ascii") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _pin(pid: int, cpu: int) -> bool:
    try:
        os.sched_setaffinity(pid, {cpu})
    except (AttributeError, OSError):
        return False
    return True


def _query(path: str, params: dict[str, str]) -> bytes:
    return f"{path}?{urllib.parse.urlencode(params)}".encode()


async def _worker(
    host: str, port: int, targets: Iterator[bytes], deadline: float, out: Result
) -> None:
    reader, writer = await asyncio.open_connection(host, port)
    head = b" HTTP/1.1\r\nHost: bench\r\nx-nxopen-api-key: " + KEY.encode() + b"\r\n\r\n"
    try:
        while time.perf_counter() < deadline:
            started = time.perf_counter()
            writer.write(b"GET " + next(targets) + head)
            header = await reader.readuntil(b"\r\n\r\n")
            length = 0
            for line in header.split(b"\r\n"):
                if line[:15].lower() == b"content-length:":
                    length = int(line[15:])
            await reader.readexactly(length)
            out.latencies.append(time.perf_counter() - started)
            out.requests += 1
            out.body_bytes += length
            if header[9:12] != b"200":
                out.non_200 += 1
    finally:
        writer.close()
        with contextlib.suppress(OSError):
            await writer.wait_closed()


async def _run(
    name: str, targets: list[bytes], args: argparse.Namespace, port: int, pid: int
) -> Result:
    cycle = itertools.cycle(targets)
    warm = Result(name, 0, 0.0, 0, [], 0.0, 0)
    warm_deadline = time.perf_counter() + args.warmup
    await asyncio.gather(
        *(_worker(args.host, port, cycle, warm_deadline, warm) for _ in range(args.connections))
    )
    result = Result(name, 0, 0.0, 0, [], 0.0, 0)
    cpu_before, started = _cpu_seconds(pid), time.perf_counter()
    deadline = started + args.seconds
    await asyncio.gather(
        *(_worker(args.host, port, cycle, deadline, result) for _ in range(args.connections))
    )
    result.seconds = time.perf_counter() - started
    result.cpu_seconds = _cpu_seconds(pid) - cpu_before
    return result


def _scenarios(sim: Simulator) -> list[tuple[str, list[bytes]]]:
    """Request lists per scenario, built from the same world the server generates."""
    chars = [c for c in sim.world.characters if not c.empty]
    top = sorted(chars, key=lambda c: (-c.level, -c.exp))[:200]
    return [
        ("id (small)", [_query(ID_PATH, {"character_name": c.name}) for c in chars]),
        ("basic (small)", [_query(BASIC_PATH, {"ocid": c.ocid, "date": DAY}) for c in chars]),
        (
            "ranking page (~52 KB)",
            [
                _query(RANKING_PATH, {"date": DAY, "world_type": "0", "page": str(p)})
                for p in range(1, 21)
            ],
        ),
        (
            "item-equipment top 200 (~200 KB)",
            [_query(ITEM_EQUIPMENT_PATH, {"ocid": c.ocid, "date": DAY}) for c in top],
        ),
        (
            "item-equipment all chars (cold, mixed)",
            [_query(ITEM_EQUIPMENT_PATH, {"ocid": c.ocid, "date": DAY}) for c in chars],
        ),
    ]


def _start_server(args: argparse.Namespace) -> tuple[subprocess.Popen[bytes], int]:
    command = [sys.executable, "-m", "maplecollect.sim", "--host", args.host, "--port", "0"]
    command += ["--characters", str(args.characters), "--seed", str(args.seed), "--now", NOW]
    command += ["--api-key", f"{KEY}=0"]
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    assert proc.stdout is not None
    base_url = proc.stdout.readline().decode().strip()
    if not base_url:
        proc.kill()
        raise SystemExit("the simulator did not start")
    with urllib.request.urlopen(f"{base_url}/_sim/world", timeout=30) as resp:
        orjson.loads(resp.read())
    return proc, int(base_url.rsplit(":", 1)[1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--seconds", type=float, default=4.0)
    parser.add_argument("--warmup", type=float, default=1.0)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--characters", type=int, default=20_000)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--server-cpu", type=int, default=0)
    parser.add_argument("--client-cpu", type=int, default=1)
    args = parser.parse_args()

    # The same config as the server's flags, to know which ocids and names exist.
    sim = Simulator(
        SimConfig(
            seed=args.seed,
            characters=args.characters,
            now=datetime.fromisoformat(NOW).astimezone(KST),
        )
    )
    scenarios = _scenarios(sim)
    proc, port = _start_server(args)
    pinned = _pin(proc.pid, args.server_cpu) and _pin(0, args.client_cpu)
    try:
        with contextlib.suppress(ImportError):
            import uvloop

            asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
        results = [asyncio.run(_run(n, t, args, port, proc.pid)) for n, t in scenarios]
    finally:
        proc.terminate()
        proc.wait(timeout=30)

    print(
        f"\nsimulator: {args.characters} characters, {args.connections} keep-alive connections,"
        f" {args.seconds:g} s per scenario, server pinned to CPU {args.server_cpu}"
        f" / client to CPU {args.client_cpu}" + ("" if pinned else " (pinning FAILED)")
    )
    header = f"{'scenario':40} {'req/s':>8} {'avg body':>10} {'MB/s':>7} {'p50 ms':>7}"
    header += f" {'p99 ms':>7} {'server CPU':>10} {'req/CPU-s':>9} {'non-200':>7}"
    print(header)
    print("-" * len(header))
    for r in results:
        lat = sorted(r.latencies)
        p50 = statistics.median(lat) * 1000 if lat else 0.0
        p99 = lat[int(0.99 * (len(lat) - 1))] * 1000 if lat else 0.0
        avg = r.body_bytes / max(1, r.requests)
        print(
            f"{r.name:40} {r.rate:8.0f} {avg / 1000:8.1f}KB {r.body_bytes / r.seconds / 1e6:7.1f}"
            f" {p50:7.2f} {p99:7.2f} {100 * r.cpu_seconds / r.seconds:9.0f}%"
            f" {r.requests / max(r.cpu_seconds, 1e-9):9.0f} {r.non_200:7d}"
        )
    small = min(r.rate for r in results if "small" in r.name)
    items = min(r.rate for r in results if r.name.startswith("item-equipment"))
    print(
        f"\ntargets: small >= {TARGETS['small']:.0f}/s: {small:.0f}/s"
        f" {'OK' if small >= TARGETS['small'] else 'MISSED'};"
        f" item-equipment >= {TARGETS['item-equipment']:.0f}/s: {items:.0f}/s"
        f" {'OK' if items >= TARGETS['item-equipment'] else 'MISSED'}"
    )


if __name__ == "__main__":
    main()
