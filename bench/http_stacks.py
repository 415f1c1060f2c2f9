"""The floor: a bare HTTP GET + read at a given rate, on several HTTP stacks (not a test).

One harness, several stacks, the same simulator and work: requests are started at
--rate (evenly spaced, no limiter, no checks), each reads the whole body, and the
process CPU (user + sys) over the run is divided by the answers. `aiohttp` (one pooled
ClientSession) is the floor the collector's phases are compared with
(bench/bench_phases.py prints "x floor"); the other stacks are the candidates of
docs/nexon-client.md:

  aiohttp     aiohttp.ClientSession, TCPConnector(limit=256)        (what maplecollect uses)
  pycurl      pycurl.CurlMulti with 256 reusable easy handles, its own select loop
  pycurl-aio  the same CurlMulti driven from the asyncio loop (socket and timer callbacks
              on add_reader/add_writer/call_later): what a transport behind
              NexonClient._send_once would have to be, since the client is asyncio code
  curl_cffi   curl_cffi.requests.AsyncSession(max_clients=256)     (libcurl via cffi, asyncio)
  httpr       httpr.AsyncClient(max_concurrency=256)              (Rust reqwest, async facade)

The bench-only stacks are not runtime dependencies: `uv pip install -r
bench/requirements-bench.txt`. A stack that is not installed is reported as such.

    .venv/bin/python bench/http_stacks.py                       # simulator + every stack
    .venv/bin/python bench/http_stacks.py --stacks aiohttp,pycurl --seconds 10
    .venv/bin/python bench/http_stacks.py --child aiohttp --url U --endpoint basic ...
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import importlib
import io
import json
import os
import resource
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from typing import Any

API_KEY = "bench-key"
KEY_HEADER = "x-nxopen-api-key"
SIM_NOW = "2026-11-27T12:00:00+09:00"
SNAPSHOT = "2026-11-26"
STACKS = ("aiohttp", "pycurl", "pycurl-aio", "curl_cffi", "httpr")
PATHS = {
    "id": "/maplestory/v1/id",
    "basic": "/maplestory/v1/character/basic",
    "items": "/maplestory/v1/character/item-equipment",
}
CONCURRENCY = 256
IMPORTS = {
    "aiohttp": "aiohttp",
    "pycurl": "pycurl",
    "pycurl-aio": "pycurl",
    "curl_cffi": "curl_cffi.requests",
    "httpr": "httpr",
}


def target_urls(base: str, endpoint: str, seed: int, characters: int) -> list[str]:
    """The same keys a phase asks for: every character name (/id) or ocid of the world."""
    from urllib.parse import quote

    from maplecollect.sim.config import SimConfig
    from maplecollect.sim.world import World

    world = World(SimConfig(seed=seed, characters=characters))
    path = base + PATHS[endpoint]
    if endpoint == "id":
        return [f"{path}?character_name={quote(c.ranking_name)}" for c in world.characters]
    return [f"{path}?ocid={c.ocid}&date={SNAPSHOT}" for c in world.characters]


async def paced(rate: float, n: int, one: Callable[[int], Awaitable[int]]) -> tuple[int, int]:
    """Start request i at t0 + i / rate (no limiter object), wait for all; (ok, bytes)."""
    loop = asyncio.get_running_loop()
    t0 = loop.time()
    ok = size = 0
    pending: set[asyncio.Task[int]] = set()

    def done(task: asyncio.Task[int]) -> None:
        nonlocal ok, size
        pending.discard(task)
        if not task.cancelled() and task.exception() is None:
            ok += 1
            size = task.result()

    for i in range(n):
        delay = t0 + i / rate - loop.time()
        if delay > 0.001:
            await asyncio.sleep(delay)
        task = loop.create_task(one(i))
        pending.add(task)
        task.add_done_callback(done)
    while pending:
        await asyncio.wait(list(pending))
    return ok, size


async def run_aiohttp(urls: list[str], rate: float, n: int) -> tuple[int, int]:
    import aiohttp

    headers = {KEY_HEADER: API_KEY}
    connector = aiohttp.TCPConnector(limit=CONCURRENCY)
    async with aiohttp.ClientSession(connector=connector) as session:

        async def one(i: int) -> int:
            async with session.get(urls[i % len(urls)], headers=headers) as res:
                return len(await res.read())

        await one(0)
        return await paced(rate, n, one)


async def run_curl_cffi(urls: list[str], rate: float, n: int) -> tuple[int, int]:
    from curl_cffi.requests import AsyncSession

    headers = {KEY_HEADER: API_KEY}
    async with AsyncSession(max_clients=CONCURRENCY) as session:

        async def one(i: int) -> int:
            res = await session.get(urls[i % len(urls)], headers=headers)
            return len(res.content)

        await one(0)
        return await paced(rate, n, one)


async def run_httpr(urls: list[str], rate: float, n: int) -> tuple[int, int]:
    import httpr

    headers = {KEY_HEADER: API_KEY}
    async with httpr.AsyncClient(max_concurrency=CONCURRENCY) as client:

        async def one(i: int) -> int:
            res = await client.get(urls[i % len(urls)], headers=headers)
            return len(res.content)

        await one(0)
        return await paced(rate, n, one)


def run_pycurl(urls: list[str], rate: float, n: int) -> tuple[int, int]:
    """CurlMulti driven by its own loop: add a handle when its start time is due."""
    import pycurl

    multi = pycurl.CurlMulti()
    free: list[Any] = []
    for _ in range(CONCURRENCY):
        c = pycurl.Curl()
        c.setopt(pycurl.HTTPHEADER, [f"{KEY_HEADER}: {API_KEY}"])
        c.setopt(pycurl.NOSIGNAL, 1)
        free.append(c)
    buffers: dict[int, io.BytesIO] = {}
    t0 = time.monotonic()
    issued = finished = ok = size = 0
    while finished < n:
        now = time.monotonic()
        while issued < n and t0 + issued / rate <= now and free:
            c = free.pop()
            buf = io.BytesIO()
            buffers[id(c)] = buf
            c.setopt(pycurl.URL, urls[issued % len(urls)])
            c.setopt(pycurl.WRITEDATA, buf)
            multi.add_handle(c)
            issued += 1
        while multi.perform()[0] == pycurl.E_CALL_MULTI_PERFORM:
            pass
        while True:
            queued, succeeded, failed = multi.info_read()
            for c in succeeded:
                if c.getinfo(pycurl.RESPONSE_CODE) == 200:
                    ok += 1
                    size = len(buffers[id(c)].getvalue())
            for c in succeeded + [f[0] for f in failed]:
                multi.remove_handle(c)
                free.append(c)
                finished += 1
            if not queued:
                break
        wait = 0.01 if issued >= n else max(0.0, min(0.01, t0 + issued / rate - time.monotonic()))
        if wait > 0:
            multi.select(wait)
    return ok, size


class _CurlOnAsyncio:
    """CurlMulti on the running asyncio loop: curl says which sockets to watch and when
    its timer is due (CURLMOPT_SOCKETFUNCTION / TIMERFUNCTION); each event is handed back
    with socket_action, and finished transfers resolve their futures."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        import pycurl

        self.pycurl = pycurl
        self.loop = loop
        self.multi = pycurl.CurlMulti()
        self.multi.setopt(pycurl.M_SOCKETFUNCTION, self._on_socket)
        self.multi.setopt(pycurl.M_TIMERFUNCTION, self._on_timer)
        self.multi.setopt(pycurl.M_MAX_TOTAL_CONNECTIONS, CONCURRENCY)
        self.timer: asyncio.TimerHandle | None = None
        self.futures: dict[int, asyncio.Future[Any]] = {}
        self.free: list[Any] = []

    def _on_socket(self, what: int, fd: int, multi: Any, data: Any) -> None:
        pc, loop = self.pycurl, self.loop
        loop.remove_reader(fd)
        loop.remove_writer(fd)
        if what in (pc.POLL_IN, pc.POLL_INOUT):
            loop.add_reader(fd, self._action, fd, pc.CSELECT_IN)
        if what in (pc.POLL_OUT, pc.POLL_INOUT):
            loop.add_writer(fd, self._action, fd, pc.CSELECT_OUT)

    def _on_timer(self, ms: int) -> None:
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None
        if ms >= 0:
            self.timer = self.loop.call_later(
                ms / 1000, self._action, self.pycurl.SOCKET_TIMEOUT, 0
            )

    def _action(self, fd: int, ev: int) -> None:
        self.multi.socket_action(fd, ev)
        while True:
            queued, succeeded, failed = self.multi.info_read()
            for c in succeeded:
                self._finish(c, None)
            for c, _errno, msg in failed:
                self._finish(c, msg)
            if not queued:
                break

    def _finish(self, c: Any, error: str | None) -> None:
        self.multi.remove_handle(c)
        fut = self.futures.pop(id(c))
        if not fut.done():
            if error is None:
                fut.set_result((c.getinfo(self.pycurl.RESPONSE_CODE), c.buffer.getvalue()))
            else:
                fut.set_exception(OSError(error))
        c.buffer = None
        self.free.append(c)

    async def get(self, url: str) -> tuple[int, bytes]:
        pc = self.pycurl
        if self.free:
            c = self.free.pop()
        else:
            c = pc.Curl()
            c.setopt(pc.HTTPHEADER, [f"{KEY_HEADER}: {API_KEY}"])
            c.setopt(pc.NOSIGNAL, 1)
        c.buffer = io.BytesIO()
        c.setopt(pc.URL, url)
        c.setopt(pc.WRITEDATA, c.buffer)
        fut: asyncio.Future[tuple[int, bytes]] = self.loop.create_future()
        self.futures[id(c)] = fut
        self.multi.add_handle(c)
        return await fut


async def run_pycurl_aio(urls: list[str], rate: float, n: int) -> tuple[int, int]:
    curl = _CurlOnAsyncio(asyncio.get_running_loop())

    async def one(i: int) -> int:
        status, body = await curl.get(urls[i % len(urls)])
        if status != 200:
            raise OSError(f"HTTP {status}")
        return len(body)

    await one(0)
    return await paced(rate, n, one)


def measure(stack: str, urls: list[str], rate: float, seconds: float) -> dict[str, Any]:
    n = int(rate * seconds)
    # Imports before the first reading: importing aiohttp alone costs ~0.3 CPU-s, i.e.
    # +0.1 CPU-s per 1,000 requests of a 5 s run, which is not per-request cost.
    importlib.import_module(IMPORTS[stack])
    with contextlib.suppress(ImportError):
        import uvloop
    u0 = resource.getrusage(resource.RUSAGE_SELF)
    w0 = time.monotonic()
    if stack == "pycurl":
        ok, size = run_pycurl(urls, rate, n)
    else:
        runner = {
            "aiohttp": run_aiohttp,
            "pycurl-aio": run_pycurl_aio,
            "curl_cffi": run_curl_cffi,
            "httpr": run_httpr,
        }[stack]
        try:
            import uvloop  # the collector's loop, when installed

            ok, size = uvloop.run(runner(urls, rate, n))
        except ImportError:
            ok, size = asyncio.run(runner(urls, rate, n))
    wall = time.monotonic() - w0
    u1 = resource.getrusage(resource.RUSAGE_SELF)
    cpu = (u1.ru_utime - u0.ru_utime) + (u1.ru_stime - u0.ru_stime)
    return {
        "stack": stack,
        "requests": n,
        "ok": ok,
        "wall": wall,
        "rate": ok / wall if wall else 0.0,
        "cpu": cpu,
        "cpu_per_1k": cpu / max(1, ok) * 1000,
        "body_bytes": size,
        "rss_mb": u1.ru_maxrss / 1024,
    }


def child_cmd(stack: str, url: str, endpoint: str, a: argparse.Namespace | Any) -> list[str]:
    return [
        sys.executable,
        __file__,
        "--child",
        stack,
        "--url",
        url,
        "--endpoint",
        endpoint,
        "--rate",
        str(a.rate),
        "--seconds",
        str(a.seconds),
        "--seed",
        str(a.seed),
        "--characters",
        str(a.characters),
    ]


def measure_in_child(
    stack: str, url: str, endpoint: str, a: Any, cpus: set[int] | None
) -> dict[str, Any]:
    """Run one measurement in a fresh process (on `cpus`); its JSON line back."""

    def preexec() -> None:
        if cpus:
            with contextlib.suppress(OSError):
                os.sched_setaffinity(0, cpus)

    out = subprocess.run(
        child_cmd(stack, url, endpoint, a),
        capture_output=True,
        text=True,
        timeout=float(a.seconds) * 4 + 120,
        preexec_fn=preexec,  # the callers start no threads first
        check=False,
    )
    if out.returncode != 0:
        last = (out.stderr.strip().splitlines() or ["?"])[-1]
        return {"stack": stack, "error": last}
    result: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def start_simulator(a: argparse.Namespace, cpus: set[int] | None) -> tuple[Any, str]:
    def preexec() -> None:
        if cpus:
            with contextlib.suppress(OSError):
                os.sched_setaffinity(0, cpus)

    cmd = [sys.executable, "-m", "maplecollect.sim", "--port", "0", "--now", SIM_NOW]
    cmd += ["--characters", str(a.characters), "--seed", str(a.seed)]
    cmd += ["--api-key", f"{API_KEY}=0", "--latency-ms", "150", "--latency-p99-ms", "400"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True, preexec_fn=preexec)  # noqa: PLW1509
    assert proc.stdout is not None
    url = proc.stdout.readline().strip()
    if not url.startswith("http"):
        proc.kill()
        raise SystemExit(f"simulator did not start ({url!r})")
    return proc, url


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--stacks", default=",".join(STACKS))
    p.add_argument("--endpoints", default="basic,items")
    p.add_argument("--rate", type=float, default=500.0)
    p.add_argument("--seconds", type=float, default=20.0)
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--characters", type=int, default=20_000)
    p.add_argument("--no-pin", action="store_true")
    p.add_argument("--child", choices=STACKS, help=argparse.SUPPRESS)
    p.add_argument("--url", help=argparse.SUPPRESS)
    p.add_argument("--endpoint", choices=tuple(PATHS), help=argparse.SUPPRESS)
    a = p.parse_args()
    if a.child:
        urls = target_urls(a.url, a.endpoint, a.seed, a.characters)
        print(json.dumps(measure(a.child, urls, a.rate, a.seconds)))
        return 0

    cpus = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else []
    pin = not a.no_pin and len(cpus) >= 2
    sim_cpus, client_cpus = ({cpus[0]}, {cpus[1]}) if pin else (None, None)
    load0 = os.getloadavg()[0]
    proc, url = start_simulator(a, sim_cpus)
    rows: list[tuple[str, dict[str, Any]]] = []
    try:
        for endpoint in a.endpoints.split(","):
            # Interleave the stacks per endpoint so machine drift hits them alike.
            for stack in a.stacks.split(","):
                rows.append((endpoint, measure_in_child(stack, url, endpoint, a, client_cpus)))
    finally:
        proc.terminate()
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(10)
    print(
        f"\n{a.rate:g} req/s for {a.seconds:g} s per row, simulator latency 150 ms p50 / "
        f"400 ms p99; load average {load0:.2f} -> {os.getloadavg()[0]:.2f}; "
        f"{'client and simulator pinned to separate CPUs' if pin else 'not pinned'}"
    )
    head = f"{'endpoint':<9}{'stack':<11}{'req/s':>8}{'body B':>9}{'CPU-s/1k':>10}{'x aiohttp':>11}"
    print(head)
    print("-" * len(head))
    floor = {
        e: r["cpu_per_1k"] for e, r in rows if r.get("stack") == "aiohttp" and "error" not in r
    }
    for endpoint, r in rows:
        if "error" in r:
            print(f"{endpoint:<9}{r['stack']:<11}  not measured: {r['error'][:80]}")
            continue
        ratio = r["cpu_per_1k"] / floor[endpoint] if endpoint in floor else float("nan")
        print(
            f"{endpoint:<9}{r['stack']:<11}{r['rate']:>8.1f}{r['body_bytes']:>9,}"
            f"{r['cpu_per_1k']:>10.3f}{ratio:>11.2f}"
        )
    cheaper = [
        f"{r['stack']} ({e})"
        for e, r in rows
        if "error" not in r and e in floor and r["cpu_per_1k"] * 1.5 <= floor[e]
    ]
    print("stacks >= 1.5x cheaper per request than aiohttp:", ", ".join(cheaper) or "none")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
