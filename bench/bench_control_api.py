"""Latency of the control API under 100 concurrent pollers (issue 2; a script, not a test).

Processes (separate, pinned to separate cores when the machine has two):
  * `maplecollect sim` (pinned clock, small world, short latency, no server-side limit),
    sharing a core with this load generator;
  * `maplecollect serve` on a fresh temp data dir (SQLite by default, or
    --database-url), on the other core, so it can run real phases.

Load, for --seconds (after --warmup seconds that are not counted):
  * --pollers async tasks (aiohttp, one pooled session) each GET
    /api/internal/run-status, then sleep --interval s (0 = closed loop: the next
    request as soon as the answer is in, i.e. saturation), starting at random
    offsets so they do not poll in lockstep;
  * one trigger task starting a cycle every --every s (default 1 s): POST trigger
    RANKING_FETCH (202, a real run starts against the simulator) -> POST the same
    trigger again while the run holds the slot (409 ALREADY_RUNNING) -> POST stop
    (202 STOP_REQUESTED, or 200 NOT_RUNNING if the run already finished) -> poll
    /runs/{runId} until terminal.

Latency is measured per request in the client (send to full body read), so it
includes this process' own scheduling; the client core's load is printed too.
Target (issue 2): /run-status p99 < 25 ms with 100 concurrent pollers.

    .venv/bin/python bench/bench_control_api.py                    # 100 pollers, 1 s interval, 30 s
    .venv/bin/python bench/bench_control_api.py --interval 0       # closed loop: saturation
    .venv/bin/python bench/bench_control_api.py --database-url postgresql://root@127.0.0.1:5432/test
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp
import psutil

from bench_phases import Procs, clean_env, cli_cmd, cpu_plan, free_port, wait_http

SIM_NOW = "2026-11-27T12:00:00+09:00"
SNAPSHOT = "2026-11-26"
API_KEY = "bench-key"
TARGET_P99_MS = 25.0
STATUS = "/api/internal/run-status"
PHASE = "RANKING_FETCH"


@dataclass
class Series:
    """Latencies (ms) of one kind of request, plus counts of unexpected answers."""

    name: str
    ms: list[float] = field(default_factory=list)
    statuses: dict[int, int] = field(default_factory=dict)
    errors: int = 0

    def add(self, status: int, ms: float) -> None:
        self.ms.append(ms)
        self.statuses[status] = self.statuses.get(status, 0) + 1

    def pct(self, q: float) -> float:
        if not self.ms:
            return float("nan")
        data = sorted(self.ms)
        return data[min(len(data) - 1, max(0, round(q * len(data)) - 1))]


@dataclass
class Counting:
    """Whether requests are counted now (after warm-up, before the end)."""

    on: bool = False


async def timed(
    session: aiohttp.ClientSession, method: str, url: str, **kw: object
) -> tuple[int, float, bytes]:
    t0 = time.perf_counter()
    async with session.request(method, url, **kw) as resp:  # type: ignore[arg-type]
        body = await resp.read()
    return resp.status, (time.perf_counter() - t0) * 1000, body


async def poller(
    session: aiohttp.ClientSession,
    url: str,
    interval: float,
    stop_at: float,
    counting: Counting,
    series: Series,
) -> None:
    if interval > 0:
        await asyncio.sleep(random.uniform(0, interval))
    while time.monotonic() < stop_at:
        try:
            status, ms, _ = await timed(session, "GET", url + STATUS)
        except (aiohttp.ClientError, TimeoutError):
            if counting.on:
                series.errors += 1
            await asyncio.sleep(0.05)
            continue
        if counting.on:
            series.add(status, ms)
        if interval > 0:
            await asyncio.sleep(interval)


async def trigger_cycle(
    session: aiohttp.ClientSession,
    url: str,
    stop_at: float,
    counting: Counting,
    started: Series,
    conflict: Series,
    stop: Series,
    runs: list[str],
    every: float,
) -> None:
    trig = f"{url}/api/internal/trigger/phase/{PHASE}"
    body = {"date": SNAPSHOT}
    next_cycle = time.monotonic()
    while time.monotonic() < stop_at:
        await asyncio.sleep(max(0.0, next_cycle - time.monotonic()))
        next_cycle = time.monotonic() + every
        status, ms, raw = await timed(session, "POST", trig, json=body)
        if status != 202:  # a run from an earlier cycle still holds the slot
            await asyncio.sleep(0.05)
            continue
        if counting.on:
            started.add(status, ms)
        run_id = str(_json(raw)["runId"])
        runs.append(run_id)
        status, ms, _ = await timed(session, "POST", trig, json=body)
        if counting.on:
            conflict.add(status, ms)  # 409 ALREADY_RUNNING (200/202 would be a bug)
        status, ms, _ = await timed(session, "POST", f"{url}/api/internal/stop/phase/{PHASE}")
        if counting.on:
            stop.add(status, ms)
        while time.monotonic() < stop_at + 30:
            _, _, raw = await timed(session, "GET", f"{url}/api/internal/runs/{run_id}")
            if _json(raw).get("terminal"):
                break
            await asyncio.sleep(0.05)


def _json(raw: bytes) -> dict[str, object]:
    data = json.loads(raw)
    assert isinstance(data, dict)
    return data


async def load(args: argparse.Namespace, url: str, service: psutil.Process) -> dict[str, object]:
    connector = aiohttp.TCPConnector(limit=args.pollers + 10)
    timeout = aiohttp.ClientTimeout(total=30)
    status = Series("GET /run-status")
    started, conflict = Series("POST trigger 202"), Series("POST trigger 409")
    stop = Series("POST stop")
    runs: list[str] = []
    counting = Counting()
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
        stop_at = time.monotonic() + args.warmup + args.seconds
        tasks = [
            asyncio.create_task(poller(session, url, args.interval, stop_at, counting, status))
            for _ in range(args.pollers)
        ]
        if not args.no_triggers:
            tasks.append(
                asyncio.create_task(
                    trigger_cycle(
                        session, url, stop_at, counting, started, conflict, stop, runs, args.every
                    )
                )
            )
        await asyncio.sleep(args.warmup)
        me = psutil.Process()
        svc0, me0, t0 = sum(service.cpu_times()[:2]), sum(me.cpu_times()[:2]), time.monotonic()
        load0 = os.getloadavg()
        counting.on = True
        await asyncio.sleep(max(0.0, stop_at - time.monotonic()))
        counting.on = False
        wall = time.monotonic() - t0
        svc1, me1 = sum(service.cpu_times()[:2]), sum(me.cpu_times()[:2])
        load1 = os.getloadavg()
        await asyncio.gather(*tasks)
    return {
        "series": [status, started, conflict, stop],
        "wall": wall,
        "service_cores": (svc1 - svc0) / wall,
        "client_cores": (me1 - me0) / wall,
        "load": (load0, load1),
        "runs": len(runs),
    }


def print_table(args: argparse.Namespace, res: dict[str, object], db: str) -> bool:
    series: list[Series] = res["series"]  # type: ignore[assignment]
    wall: float = res["wall"]  # type: ignore[assignment]
    mode = f"every {args.interval:g} s" if args.interval > 0 else "closed loop"
    cycles = "back to back" if args.every <= 0 else f"every {args.every:g} s"
    print(
        f"\ncontrol API, {db}; {args.pollers} pollers ({mode}) on {STATUS}"
        f"{'' if args.no_triggers else f' + trigger/stop cycles on {PHASE} {cycles}'}; "
        f"{args.seconds:g} s measured after {args.warmup:g} s warm-up"
    )
    head = (
        f"{'request':<18}{'count':>8}{'req/s':>9}{'p50 ms':>9}{'p99 ms':>9}{'max ms':>9}"
        f"{'mean ms':>9}  statuses"
    )
    print(head)
    print("-" * (len(head) + 12))
    for s in series:
        if not s.ms and not s.errors:
            continue
        codes = " ".join(f"{k}:{v}" for k, v in sorted(s.statuses.items()))
        if s.errors:
            codes += f" errors:{s.errors}"
        print(
            f"{s.name:<18}{len(s.ms):>8}{len(s.ms) / wall:>9.1f}{s.pct(0.50):>9.2f}"
            f"{s.pct(0.99):>9.2f}{max(s.ms, default=float('nan')):>9.2f}"
            f"{statistics.fmean(s.ms) if s.ms else float('nan'):>9.2f}  {codes}"
        )
    l0: tuple[float, float, float]
    l1: tuple[float, float, float]
    l0, l1 = res["load"]  # type: ignore[misc]
    print(
        f"\nservice CPU {res['service_cores']:.2f} cores, load generator {res['client_cores']:.2f} "
        f"cores; {res['runs']} {PHASE} runs started; load average {l0[0]:.2f} -> {l1[0]:.2f}"
    )
    p99 = series[0].pct(0.99)
    ok = p99 < TARGET_P99_MS and not series[0].errors
    verdict = "met" if ok else "NOT met"
    print(f"target: {STATUS} p99 < {TARGET_P99_MS:g} ms -> {p99:.2f} ms, {verdict}")
    return ok


@contextlib.contextmanager
def database(url: str | None) -> Iterator[str | None]:
    """SQLite by default (None); for PostgreSQL a fresh schema, dropped afterwards."""
    if not url or not url.startswith("postgresql"):
        yield url
        return
    import psycopg

    schema = f"mc_bench_api_{os.getpid()}"
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(f"CREATE SCHEMA {schema}")
    try:
        sep = "&" if "?" in url else "?"
        yield f"{url}{sep}options=-csearch_path%3D{schema}"
    finally:
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")


def run(args: argparse.Namespace) -> int:
    load0 = os.getloadavg()
    print(
        f"machine: {os.cpu_count()} CPUs, load average {load0[0]:.2f} {load0[1]:.2f} "
        f"{load0[2]:.2f}; python {sys.version.split()[0]}",
        flush=True,
    )
    workdir = Path(args.keep or tempfile.mkdtemp(prefix="mc-bench-api-"))
    workdir.mkdir(parents=True, exist_ok=True)
    try:
        with database(args.database_url) as db_url, Procs() as procs:
            gen_cpus, svc_cpus = cpu_plan(args.no_pin)
            if gen_cpus:
                os.sched_setaffinity(0, gen_cpus)
            sim_cmd = ["sim", "--port", "0", "--characters", str(args.characters)]
            sim_cmd += ["--now", SIM_NOW, "--api-key", f"{API_KEY}=0"]
            sim_cmd += ["--latency-ms", str(args.sim_latency_ms), "--fault-rate", "0"]
            sim = procs.start(
                cli_cmd(sim_cmd),
                cpus=gen_cpus,
                env=clean_env(),
                stdout=subprocess.PIPE,
                log=workdir / "sim.log",
            )
            assert sim.stdout is not None
            sim_url = sim.stdout.readline().decode().strip()
            if not sim_url.startswith("http"):
                raise SystemExit(f"the simulator did not start (see {workdir / 'sim.log'})")
            wait_http(sim, f"{sim_url}/_sim/world", within=120)
            env = clean_env(
                MAPLECOLLECT_DATA_DIR=str(workdir / "data"),
                MAPLECOLLECT_NEXON_BASE_URL=sim_url,
                NEXON_API_KEY=API_KEY,
                MAPLECOLLECT_RATE_LIMIT="500",
            )
            if db_url:
                env["MAPLECOLLECT_DATABASE_URL"] = db_url
            port = free_port()
            svc = procs.start(
                cli_cmd(["serve", "--port", str(port), "--log-level", "warning"]),
                cpus=svc_cpus,
                env=env,
                log=workdir / "service.log",
            )
            url = f"http://127.0.0.1:{port}"
            wait_http(svc, f"{url}/health")
            print(f"service pid {svc.pid} at {url}", flush=True)
            res = asyncio.run(load(args, url, psutil.Process(svc.pid)))
    except KeyboardInterrupt:
        print("interrupted; processes stopped", file=sys.stderr)
        return 130
    finally:
        if not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)
    db = "PostgreSQL (own schema)" if args.database_url else "SQLite (default)"
    pins = f"service on CPU {sorted(svc_cpus)}" if svc_cpus else "not pinned"
    print(f"{pins}; simulator {args.characters} characters, {args.sim_latency_ms:g} ms latency")
    return 0 if print_table(args, res, db) else 1


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--pollers", type=int, default=100, help="concurrent /run-status pollers")
    p.add_argument("--interval", type=float, default=1.0, help="s between polls (0 = closed loop)")
    p.add_argument("--seconds", type=float, default=30.0, help="measured time")
    p.add_argument("--warmup", type=float, default=3.0, help="unmeasured start, s")
    p.add_argument("--characters", type=int, default=2000, help="simulator world size")
    p.add_argument("--sim-latency-ms", type=float, default=20.0, help="simulator latency")
    p.add_argument(
        "--database-url",
        help="PostgreSQL server URL: the service gets a fresh schema there (default: SQLite)",
    )
    p.add_argument("--no-triggers", action="store_true", help="pollers only")
    p.add_argument(
        "--every",
        type=float,
        default=1.0,
        help="start a trigger/stop cycle every N s (0 = back to back)",
    )
    p.add_argument("--keep", metavar="DIR", help="work dir to keep (data, service/sim logs)")
    p.add_argument("--no-pin", action="store_true", help="do not pin processes to cores")
    args = p.parse_args(argv)
    if args.pollers < 1 or args.seconds <= 0 or args.interval < 0:
        p.error("--pollers and --seconds must be positive, --interval >= 0")
    return args


def main(argv: list[str] | None = None) -> int:
    return run(parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
