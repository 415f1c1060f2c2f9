"""End-to-end benchmark of the four collection phases (issue 5; a script, not a test).

Two separate processes, each pinned to its own core when the machine has two:
  * the simulator: `maplecollect sim` with a pinned clock, 150 ms median lognormal
    latency (p99 400 ms) and NO server-side rate limit for the key, so only the
    collector's own limiter paces the traffic;
  * the collector: `maplecollect serve` with MAPLECOLLECT_RATE_LIMIT (default 500),
    MAPLECOLLECT_MAX_IN_FLIGHT (default 256 ~ rate x p99 latency) and a fresh data dir.
This script only drives them: it triggers each phase through the control API in
pipeline order (RANKING_FETCH, OCID_LOOKUP on that run, CHARACTER_BASIC and
ITEM_EQUIPMENT on the OCID run), waits for each to finish, and measures per phase:

  req/s      requests the simulator received (/_sim/stats total delta, retries
             included) / phase wall time (the run's startedAt..completedAt)
  % limit    req/s / --rate
  max/1s     the busiest trailing 1 s window at the simulator (`maxPerSecond`)
  CPU-s/1k   collector process CPU (user+sys, psutil) over the phase per 1,000
             records written; it INCLUDES the service's idle overhead (heartbeats,
             progress writes, this script's /run-status poll every --poll s), measured
             before the phases and printed separately; `net` subtracts it
  peak RSS   the collector's VmHWM during the phase (reset before each phase)

Targets (issue 5): every rate-bound phase >= 97 % of the limit and never more than the
limit in any 1 s window; <= 0.3 CPU-s/1k records for OCID_LOOKUP and CHARACTER_BASIC,
<= 2 CPU-s/1k for ITEM_EQUIPMENT (~40-200 KB bodies); peak RSS < 300 MB (the issue
states it for a 100,000-character world: run with --characters 100000 to judge it).
RANKING_FETCH has only ~characters/200 pages, fetched by a fixed number of concurrent
page workers: it is latency-bound, so it is judged against its concurrency bound
(min(rate, workers / median latency) pages/s), not against the rate limit.

    .venv/bin/python bench/bench_phases.py                        # 30,000 characters, ~4 min
    .venv/bin/python bench/bench_phases.py --characters 100000    # the issue's world, ~14 min
    .venv/bin/python bench/bench_phases.py --phases CHARACTER_BASIC --characters 5000
    .venv/bin/python bench/bench_phases.py --phases ITEM_EQUIPMENT --characters 12000 \
        --floor-seconds 15 --repeat 5     # x floor: the median of 5 phase runs, each
                                          # paired with a floor measured right after it
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import json
import math
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import psutil

PHASES = ("RANKING_FETCH", "OCID_LOOKUP", "CHARACTER_BASIC", "ITEM_EQUIPMENT")
UPSTREAM = {"OCID_LOOKUP": "RANKING_FETCH", "CHARACTER_BASIC": "OCID_LOOKUP"}
UPSTREAM["ITEM_EQUIPMENT"] = "OCID_LOOKUP"
CPU_TARGET = {"OCID_LOOKUP": 0.3, "CHARACTER_BASIC": 0.3, "ITEM_EQUIPMENT": 2.0}
RATE_TARGET = 0.97
RSS_TARGET_MB = 300.0
SIM_NOW = "2026-11-27T12:00:00+09:00"  # KST; day D-1's data is available
SNAPSHOT = "2026-11-26"
API_KEY = "bench-key"
MB = 1024 * 1024


# -- processes ---------------------------------------------------------------------------


def _die_with_parent() -> None:
    """preexec_fn: SIGKILL the child if this script dies (Linux), so nothing is left behind."""
    with contextlib.suppress(Exception):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG


def _preexec(cpus: set[int] | None) -> Any:
    def run() -> None:
        _die_with_parent()
        if cpus:
            with contextlib.suppress(OSError):
                os.sched_setaffinity(0, cpus)

    return run


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def maplecollect_exe() -> str:
    exe = shutil.which("maplecollect", path=str(Path(sys.executable).parent))
    if exe is None:
        raise SystemExit("the maplecollect console script is not installed in this venv")
    return exe


# `maplecollect serve` without the Typer CLI, used only when `maplecollect.cli` cannot be
# imported (e.g. while it is being edited): the same app and uvicorn call.
_SERVE_MODULE = (
    "import logging, sys, uvicorn\n"
    "from maplecollect.api.app import create_app\n"
    "logging.basicConfig(level=sys.argv[2].upper())\n"
    "uvicorn.run(create_app(), host='127.0.0.1', port=int(sys.argv[1]), log_level=sys.argv[2])\n"
)


def cli_cmd(argv: list[str]) -> list[str]:
    """`maplecollect <argv>` for `sim ...` and `serve --port P --log-level L`.

    Falls back to `python -m maplecollect.sim` / the app factory when the main
    CLI does not import, so the benchmark does not depend on unrelated CLI code.
    """
    exe = maplecollect_exe()
    probe = subprocess.run([exe, "--help"], capture_output=True, check=False)
    if probe.returncode == 0:
        return [exe, *argv]
    print("note: `maplecollect --help` failed; starting the same code by module", flush=True)
    if argv[0] == "sim":
        return [sys.executable, "-m", "maplecollect.sim", *argv[1:]]
    opts = dict(zip(argv[1::2], argv[2::2], strict=False))
    port, level = opts.get("--port", "8081"), opts.get("--log-level", "info")
    return [sys.executable, "-c", _SERVE_MODULE, port, level]


def clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MAPLECOLLECT_", "NEXON_"))}
    env.update(extra)
    return env


class Procs:
    """Children started by this script; all are stopped on exit, Ctrl-C or SIGTERM."""

    def __init__(self) -> None:
        self.procs: list[subprocess.Popen[bytes]] = []

    def start(
        self,
        cmd: list[str],
        *,
        cpus: set[int] | None = None,
        env: dict[str, str] | None = None,
        stdout: Any = None,
        log: Path | None = None,
    ) -> subprocess.Popen[bytes]:
        err: Any = open(log, "ab") if log else subprocess.DEVNULL  # noqa: SIM115
        try:
            proc = subprocess.Popen(
                cmd,
                env=env,
                stdout=stdout if stdout is not None else err,
                stderr=err,
                preexec_fn=_preexec(cpus),  # noqa: PLW1509 - no threads yet that could deadlock
            )
        finally:
            if log:
                err.close()
        self.procs.append(proc)
        return proc

    def stop_all(self) -> None:
        for proc in reversed(self.procs):
            if proc.poll() is None:
                proc.terminate()
        for proc in reversed(self.procs):
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        self.procs.clear()

    def __enter__(self) -> Procs:
        signal.signal(signal.SIGTERM, _raise_interrupt)
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop_all()


def _raise_interrupt(_sig: int, _frame: object) -> None:
    raise KeyboardInterrupt


def wait_http(proc: subprocess.Popen[bytes], url: str, within: float = 240) -> None:
    # 240 s: `serve` took over a minute to start on the 2-core machine at load 20+.
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            name = proc.args[0] if isinstance(proc.args, list) else proc.args
            raise SystemExit(f"{name!s} exited with {proc.returncode} (see its log)")
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(url, timeout=2).status_code == 200:
                return
        time.sleep(0.1)
    raise SystemExit(f"{url} did not answer within {within:.0f} s")


def cpu_plan(no_pin: bool) -> tuple[set[int] | None, set[int] | None]:
    """(simulator + this script, collector): separate cores when there are at least two."""
    if no_pin or not hasattr(os, "sched_getaffinity"):
        return None, None
    cpus = sorted(os.sched_getaffinity(0))
    if len(cpus) < 2:
        return None, None
    return {cpus[0]}, {cpus[1]}


# -- measurement helpers -------------------------------------------------------------------


def cpu_seconds(proc: psutil.Process) -> float:
    t = proc.cpu_times()
    return float(t.user + t.system)


def reset_peak_rss(pid: int) -> bool:
    """Reset VmHWM (Linux >= 4.0: write 5 to clear_refs); False where unsupported."""
    try:
        Path(f"/proc/{pid}/clear_refs").write_text("5")
    except OSError:
        return False
    return True


def peak_rss_mb(pid: int) -> float | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return None


def machine_busy() -> tuple[float, float]:
    """(busy, total) CPU seconds of the whole machine so far."""
    t = psutil.cpu_times()
    idle = t.idle + getattr(t, "iowait", 0.0)
    total = sum(t)
    return total - idle, total


def parse_ts(text: str | None) -> datetime | None:
    return datetime.fromisoformat(text.replace("Z", "+00:00")) if text else None


@dataclass
class Sampler:
    """Samples the collector's RSS and the simulator's request total while a phase runs."""

    proc: psutil.Process
    sim_url: str
    interval: float = 1.0
    rss_max: float = 0.0
    totals: list[tuple[float, int]] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def __enter__(self) -> Sampler:
        self._thread = threading.Thread(target=self._loop, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._thread:
            self._thread.join()

    def _loop(self) -> None:
        with httpx.Client(timeout=5) as client:
            while not self._stop.is_set():
                with contextlib.suppress(Exception):
                    self.rss_max = max(self.rss_max, self.proc.memory_info().rss / MB)
                with contextlib.suppress(Exception):
                    total = client.get(f"{self.sim_url}/_sim/stats").json()["total"]
                    self.totals.append((time.monotonic(), int(total)))
                self._stop.wait(self.interval)

    def steady_rate(self) -> float | None:
        """Median of the 1 s request rates, ignoring the first and last 2 samples (ramp, tail)."""
        rates = [
            (n1 - n0) / (t1 - t0)
            for (t0, n0), (t1, n1) in zip(self.totals, self.totals[1:], strict=False)
            if t1 > t0
        ]
        inner = rates[2:-2]
        return statistics.median(inner) if inner else None


# -- the benchmark --------------------------------------------------------------------------


@dataclass
class PhaseResult:
    phase: str
    run_id: str
    status: str
    records: int
    failed: int
    seconds: float
    requests: int
    max_per_second: int
    cpu_seconds: float
    peak_rss_mb: float | None
    steady_rate: float | None
    machine_busy_cores: float
    sim_cpu_seconds: float
    status_by_code: dict[str, int]
    wall: float = 0.0
    idle_cpu_per_s: float = 0.0

    @property
    def rate(self) -> float:
        return self.requests / self.seconds if self.seconds > 0 else 0.0

    @property
    def cpu_per_1k(self) -> float:
        n = self.records + self.failed
        return self.cpu_seconds / n * 1000 if n else math.nan

    @property
    def cpu_net_per_1k(self) -> float:
        """Without the idle overhead measured before the phases (service timers + polls)."""
        n = self.records + self.failed
        net = self.cpu_seconds - self.idle_cpu_per_s * self.wall
        return net / n * 1000 if n else math.nan


class Bench:
    def __init__(self, args: argparse.Namespace, procs: Procs, workdir: Path) -> None:
        self.args = args
        self.procs = procs
        self.workdir = workdir
        self.http = httpx.Client(timeout=30)
        self.sim_url = ""
        self.url = ""
        self.service: psutil.Process | None = None
        self.sim: psutil.Process | None = None
        self.idle_cpu_per_s = math.nan
        self.page_workers = 32

    def start(self) -> None:
        a = self.args
        sim_cpus, svc_cpus = cpu_plan(a.no_pin)
        if sim_cpus:
            os.sched_setaffinity(0, sim_cpus)  # this driver shares the simulator's core
        sim_cmd = ["sim", "--port", "0", "--characters", str(a.characters)]
        sim_cmd += ["--seed", str(a.seed), "--now", SIM_NOW, "--api-key", f"{API_KEY}=0"]
        sim_cmd += ["--latency-ms", str(a.latency_ms), "--latency-p99-ms", str(a.latency_p99_ms)]
        sim_cmd += ["--fault-rate", "0"]
        sim = self.procs.start(
            cli_cmd(sim_cmd),
            cpus=sim_cpus,
            env=clean_env(),
            stdout=subprocess.PIPE,
            log=self.workdir / "sim.log",
        )
        assert sim.stdout is not None
        self.sim_url = sim.stdout.readline().decode().strip()
        if not self.sim_url.startswith("http"):
            raise SystemExit(f"the simulator did not start (see {self.workdir / 'sim.log'})")
        wait_http(sim, f"{self.sim_url}/_sim/world", within=300)
        self.sim = psutil.Process(sim.pid)
        world = self.http.get(f"{self.sim_url}/_sim/world").json()

        port = free_port()
        env = clean_env(
            MAPLECOLLECT_DATA_DIR=str(self.workdir / "data"),
            MAPLECOLLECT_NEXON_BASE_URL=self.sim_url,
            NEXON_API_KEY=API_KEY,
            MAPLECOLLECT_RATE_LIMIT=str(a.rate),
            MAPLECOLLECT_MAX_IN_FLIGHT=str(a.max_in_flight),
        )
        svc = self.procs.start(
            cli_cmd(["serve", "--port", str(port), "--log-level", "warning"]),
            cpus=svc_cpus,
            env=env,
            log=self.workdir / "service.log",
        )
        self.url = f"http://127.0.0.1:{port}"
        wait_http(svc, f"{self.url}/health")
        self.service = psutil.Process(svc.pid)
        with contextlib.suppress(ImportError):
            from maplecollect.collect.ranking import PAGE_WORKERS

            self.page_workers = PAGE_WORKERS

        # The service's idle cost (heartbeats, timers) while this script polls as it will.
        t0, c0 = time.monotonic(), cpu_seconds(self.service)
        end = t0 + a.idle_seconds
        while time.monotonic() < end:
            self.http.get(f"{self.url}/api/internal/run-status")
            time.sleep(a.poll)
        self.idle_cpu_per_s = (cpu_seconds(self.service) - c0) / (time.monotonic() - t0)
        pins = f"sim on CPU {sorted(sim_cpus or ())}, collector on CPU {sorted(svc_cpus or ())}"
        print(
            f"world: {world['characters']} characters, ranking rows {world['rankingRows']}, "
            f"distinct names {world['distinctNames']}, renamed {world['renamedNames']}, "
            f"empty {world['emptyCharacters']}",
            flush=True,
        )
        print(
            f"collector: rate {a.rate:g}/s, max in flight {a.max_in_flight}; "
            f"{pins if sim_cpus and svc_cpus else 'not pinned'}; "
            f"idle collector CPU {self.idle_cpu_per_s * 1000:.1f} ms/s "
            f"(polled every {a.poll:g} s); collector pid {self.service.pid}",
            flush=True,
        )

    def trigger(self, phase: str, upstream: str | None) -> str:
        headers = {"X-Upstream-Run-Id": upstream} if upstream else {}
        res = self.http.post(
            f"{self.url}/api/internal/trigger/phase/{phase}",
            json={"date": SNAPSHOT},
            headers=headers,
        )
        if res.status_code != 202:
            raise SystemExit(f"trigger {phase}: {res.status_code} {res.text}")
        return str(res.json()["runId"])

    def timeout_for(self, phase: str) -> float:
        if self.args.phase_timeout:
            return float(self.args.phase_timeout)
        return float(self.args.characters / self.args.rate * 3 + 120)

    def run_phase(self, phase: str, upstream: str | None) -> tuple[PhaseResult, dict[str, Any]]:
        assert self.service is not None and self.sim is not None
        pid = self.service.pid
        self.http.post(f"{self.sim_url}/_sim/stats/reset")
        has_hwm = reset_peak_rss(pid)
        cpu0, sim0, (busy0, _) = cpu_seconds(self.service), cpu_seconds(self.sim), machine_busy()
        w0 = time.monotonic()
        with Sampler(self.service, self.sim_url) as sampler:
            run_id = self.trigger(phase, upstream)
            deadline = time.monotonic() + self.timeout_for(phase)
            while True:
                # The same cheap poll as during the idle measurement (what a sensor or UI does).
                status = self.http.get(f"{self.url}/api/internal/run-status").json()
                slot = status["slots"].get(phase) or {}
                if slot.get("runId") == run_id and slot.get("terminal"):
                    break
                if time.monotonic() > deadline:
                    self.http.post(f"{self.url}/api/internal/stop/phase/{phase}")
                    raise SystemExit(f"{phase} did not finish within {self.timeout_for(phase)} s")
                time.sleep(self.args.poll)
        cpu = cpu_seconds(self.service) - cpu0
        run = self.http.get(f"{self.url}/api/internal/runs/{run_id}").json()
        sim_cpu = cpu_seconds(self.sim) - sim0
        busy1, _ = machine_busy()
        wall = time.monotonic() - w0
        stats = self.http.get(f"{self.sim_url}/_sim/stats").json()
        started, completed = parse_ts(run["startedAt"]), parse_ts(run["completedAt"])
        seconds = (completed - started).total_seconds() if started and completed else wall
        codes: dict[str, int] = {}
        for by_status in stats["requests"].values():
            for code, n in by_status.items():
                codes[code] = codes.get(code, 0) + n
        peak = peak_rss_mb(pid) if has_hwm else None
        result = PhaseResult(
            phase=phase,
            run_id=run_id,
            status=run["status"],
            records=int(run["recordsProcessed"]),
            failed=int(run["recordsFailed"]),
            seconds=seconds,
            requests=int(stats["total"]),
            max_per_second=int(stats["maxPerSecond"].get(API_KEY, 0)),
            cpu_seconds=cpu,
            peak_rss_mb=peak if peak is not None else sampler.rss_max,
            steady_rate=sampler.steady_rate(),
            machine_busy_cores=(busy1 - busy0) / wall,
            sim_cpu_seconds=sim_cpu,
            status_by_code=codes,
            wall=wall,
            idle_cpu_per_s=self.idle_cpu_per_s,
        )
        return result, run


def judge(r: PhaseResult, args: argparse.Namespace, page_workers: int) -> dict[str, bool | None]:
    """Pass/fail per target; None where a target does not apply."""
    verdict: dict[str, bool | None] = {"rate": None, "window": None, "cpu": None, "rss": None}
    verdict["window"] = r.max_per_second <= args.rate
    if r.phase == "RANKING_FETCH":
        # Latency-bound: compare the page rate with what the page workers can do.
        bound = min(args.rate, page_workers / (args.latency_ms / 1000))
        ideal = r.requests / bound + args.latency_p99_ms / 1000
        verdict["rate"] = r.seconds <= ideal / RATE_TARGET + 1.0
    else:
        verdict["rate"] = r.rate >= RATE_TARGET * args.rate
        verdict["cpu"] = r.cpu_per_1k <= CPU_TARGET[r.phase]
    if r.peak_rss_mb is not None:
        verdict["rss"] = r.peak_rss_mb < RSS_TARGET_MB
    if r.status != "COMPLETED":
        verdict["rate"] = False
    return verdict


def _mark(ok: bool | None) -> str:
    return "" if ok is None else (" ok" if ok else " FAIL")


def print_table(results: list[PhaseResult], args: argparse.Namespace, page_workers: int) -> bool:
    head = (
        f"{'phase':<16}{'records':>9}{'failed':>7}{'seconds':>9}{'req/s':>9}{'% limit':>13}"
        f"{'steady/s':>10}{'max/1s':>11}{'CPU-s/1k':>14}{'net':>7}{'peak RSS MB':>15}"
    )
    print()
    print(head)
    print("-" * len(head))
    all_ok = True
    for r in results:
        v = judge(r, args, page_workers)
        all_ok &= all(x is not False for x in v.values())
        pct = r.rate / args.rate * 100
        rate_col = f"{pct:6.1f}%{_mark(v['rate'])}"
        if r.phase == "RANKING_FETCH":
            rate_col = f"{pct:6.1f}%*{_mark(v['rate'])}"
        steady = f"{r.steady_rate:.0f}" if r.steady_rate is not None else "-"
        rss = f"{r.peak_rss_mb:.0f}{_mark(v['rss'])}" if r.peak_rss_mb is not None else "-"
        window = f"{r.max_per_second}{_mark(v['window'])}"
        cpu = f"{r.cpu_per_1k:.3f}{_mark(v['cpu'])}"
        print(
            f"{r.phase:<16}{r.records:>9}{r.failed:>7}{r.seconds:>9.1f}{r.rate:>9.1f}"
            f"{rate_col:>13}{steady:>10}{window:>11}{cpu:>14}{r.cpu_net_per_1k:>7.3f}{rss:>15}"
        )
    print()
    print(
        "req/s = simulator requests / (completedAt - startedAt); steady/s = median 1 s rate "
        "without ramp and tail;\nmax/1s = busiest 1 s window at the simulator (target <= "
        f"{args.rate:g}); CPU-s/1k = collector user+sys per 1,000 records + failed,\n"
        "idle overhead included (judged), net = without it;\n"
        "peak RSS = collector VmHWM during the phase."
    )
    if any(r.phase == "RANKING_FETCH" for r in results):
        bound = min(args.rate, page_workers / (args.latency_ms / 1000))
        print(
            f"* RANKING_FETCH is latency-bound ({page_workers} page workers / "
            f"{args.latency_ms:g} ms median = {bound:.0f} pages/s at most): judged against "
            "that bound, not the rate limit."
        )
    for r in results:
        detail = ", ".join(f"{k}: {n}" for k, n in sorted(r.status_by_code.items()))
        print(
            f"  {r.phase}: run {r.run_id} {r.status}; {r.requests} requests ({detail}); "
            f"collector {r.cpu_seconds:.1f} CPU-s ({r.cpu_seconds / r.seconds:.2f} cores), "
            f"simulator {r.sim_cpu_seconds:.1f} CPU-s; machine busy {r.machine_busy_cores:.2f} "
            "of 2 cores"
        )
    return all_ok


FLOOR_ENDPOINT = {"OCID_LOOKUP": "id", "CHARACTER_BASIC": "basic", "ITEM_EQUIPMENT": "items"}
FLOOR_TARGET = {"OCID_LOOKUP": 1.3, "CHARACTER_BASIC": 1.3, "ITEM_EQUIPMENT": 1.6}


def measure_floor(args: argparse.Namespace, sim_url: str, phase: str) -> dict[str, Any] | None:
    """The floor of one phase, in this run: a bare aiohttp GET + read of the same endpoint
    and keys at the same rate, against the same simulator, on the collector's CPU
    (bench/http_stacks.py), while the collector idles; None for RANKING_FETCH."""
    endpoint = FLOOR_ENDPOINT.get(phase)
    if endpoint is None:
        return None
    sys.path.insert(0, str(Path(__file__).parent))
    from http_stacks import measure_in_child

    _, svc_cpus = cpu_plan(args.no_pin)
    spec = argparse.Namespace(
        rate=args.rate, seconds=args.floor_seconds, seed=args.seed, characters=args.characters
    )
    floor = measure_in_child("aiohttp", sim_url, endpoint, spec, svc_cpus)
    print(f"floor {endpoint}: {floor}", flush=True)
    return floor


def print_floor_table(results: list[PhaseResult], floors: list[dict[str, Any] | None]) -> bool:
    """CPU per record as a ratio to the floor measured right after it, in the same run.

    With --repeat, each phase run is paired with its own floor, and the phase is judged by
    the median of its pairs' ratios: the floor alone moves ~±15 % from one measurement to
    the next on a quiet machine, as much as the differences the target is about.
    """
    head = f"{'phase':<16}{'CPU-s/1k net':>13}{'floor':>8}{'floor req/s':>12}{'x floor':>9}"
    head += f"{'target':>8}"
    print()
    print(head)
    print("-" * len(head))
    ratios: dict[str, list[float]] = {}
    ok = True
    for r, floor in zip(results, floors, strict=True):
        if floor is None:
            continue
        if "error" in floor:
            print(f"{r.phase:<16} floor not measured: {floor['error'][:70]}")
            ok = False
            continue
        ratio = r.cpu_net_per_1k / floor["cpu_per_1k"]
        ratios.setdefault(r.phase, []).append(ratio)
        print(
            f"{r.phase:<16}{r.cpu_net_per_1k:>13.3f}{floor['cpu_per_1k']:>8.3f}"
            f"{floor['rate']:>12.1f}{ratio:>9.2f}{'<= ' + str(FLOOR_TARGET[r.phase]):>8}"
        )
    for phase, values in ratios.items():
        median = statistics.median(values)
        met = median <= FLOOR_TARGET[phase]
        ok &= met
        print(
            f"{phase}: median x floor {median:.2f} of {len(values)} run(s) "
            f"(min {min(values):.2f}, max {max(values):.2f}), target <= "
            f"{FLOOR_TARGET[phase]}{' ok' if met else ' FAIL'}"
        )
    print(
        "floor = bare aiohttp GET + read of the same endpoint and keys at the same rate "
        "(bench/http_stacks.py),\nmeasured in this run on the collector's CPU right after "
        "each phase run; x floor = net CPU per record / floor CPU per request."
    )
    return ok


def selected_phases(text: str) -> list[str]:
    wanted = [p.strip().upper() for p in text.split(",") if p.strip()]
    unknown = [p for p in wanted if p not in PHASES]
    if unknown:
        raise SystemExit(f"unknown phase(s) {unknown}; choose from {', '.join(PHASES)}")
    return [p for p in PHASES if p in wanted]


def run(args: argparse.Namespace) -> int:
    phases = selected_phases(args.phases)
    # A phase needs its upstream: run the whole prefix, but report only what was asked.
    needed = set(phases)
    for p in phases:
        up = UPSTREAM.get(p)
        while up:
            needed.add(up)
            up = UPSTREAM.get(up)
    load0 = os.getloadavg()
    print(
        f"machine: {os.cpu_count()} CPUs, load average {load0[0]:.2f} {load0[1]:.2f} "
        f"{load0[2]:.2f}; python {sys.version.split()[0]}",
        flush=True,
    )
    workdir = Path(args.data_dir or tempfile.mkdtemp(prefix="mc-bench-phases-"))
    workdir.mkdir(parents=True, exist_ok=True)
    results: list[PhaseResult] = []
    floors: list[dict[str, Any] | None] = []
    try:
        with Procs() as procs:
            bench = Bench(args, procs, workdir)
            bench.start()
            runs: dict[str, str] = {}
            failed = False
            for repeat in range(args.repeat):
                if failed:
                    break
                for phase in PHASES:
                    # The upstream prefix runs once; a repeat runs the measured phases again
                    # on the same upstream runs.
                    if phase not in (needed if repeat == 0 else phases):
                        continue
                    upstream = runs.get(UPSTREAM.get(phase, ""))
                    result, run_json = bench.run_phase(phase, upstream)
                    runs.setdefault(phase, result.run_id)
                    if result.status != "COMPLETED":
                        print(f"{phase} ended {result.status}: {run_json.get('errorMessage')}")
                    if phase in phases:
                        results.append(result)
                        print(
                            f"{phase}: {result.records} records in {result.seconds:.1f} s, "
                            f"{result.rate:.1f} req/s, {result.cpu_per_1k:.3f} CPU-s/1k",
                            flush=True,
                        )
                        if not args.no_floor:
                            floors.append(measure_floor(args, bench.sim_url, phase))
                    if result.status != "COMPLETED":
                        failed = True
                        break
    except KeyboardInterrupt:
        print("interrupted; processes stopped", file=sys.stderr)
        return 130
    finally:
        if not args.data_dir and not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)
        elif results:
            print(f"data and logs kept in {workdir}")
    load1 = os.getloadavg()
    ok = print_table(results, args, bench.page_workers)
    if floors:
        ok &= print_floor_table(results, floors)
    print(f"load average after: {load1[0]:.2f} {load1[1]:.2f} {load1[2]:.2f}")
    if args.json:
        Path(args.json).write_text(
            json.dumps(
                {
                    "args": vars(args),
                    "load_before": load0,
                    "load_after": load1,
                    "idle_cpu_per_s": bench.idle_cpu_per_s,
                    "results": [
                        {
                            **r.__dict__,
                            "rate": r.rate,
                            "cpu_per_1k": r.cpu_per_1k,
                            "cpu_net_per_1k": r.cpu_net_per_1k,
                        }
                        for r in results
                    ],
                    "floors": floors,
                },
                indent=2,
            )
        )
    print("targets:", "all met" if ok else "NOT all met")
    return 0 if ok else 1


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--characters", type=int, default=30_000, help="simulator world size")
    p.add_argument("--phases", default=",".join(PHASES), help="comma list (upstreams always run)")
    p.add_argument("--rate", type=float, default=500.0, help="MAPLECOLLECT_RATE_LIMIT, req/s")
    p.add_argument("--max-in-flight", type=int, default=256, help="MAPLECOLLECT_MAX_IN_FLIGHT")
    p.add_argument("--latency-ms", type=float, default=150.0, help="simulator median latency")
    p.add_argument("--latency-p99-ms", type=float, default=400.0, help="simulator p99 latency")
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--poll", type=float, default=1.0, help="run-status poll interval, s")
    p.add_argument("--idle-seconds", type=float, default=5.0, help="idle CPU measurement, s")
    p.add_argument("--phase-timeout", type=float, default=0, help="s (default 3x the ideal)")
    p.add_argument("--no-pin", action="store_true", help="do not pin processes to cores")
    p.add_argument("--data-dir", help="work dir (kept); default a temp dir, removed")
    p.add_argument("--keep", action="store_true", help="keep the temp work dir")
    p.add_argument("--json", help="also write the results as JSON here")
    p.add_argument("--floor-seconds", type=float, default=20.0, help="floor run per endpoint, s")
    p.add_argument("--no-floor", action="store_true", help="skip the bare-aiohttp floor runs")
    p.add_argument(
        "--repeat", type=int, default=1, help="run the measured phases (and floors) N times"
    )
    args = p.parse_args(argv)
    if args.characters < 1 or args.rate <= 0 or args.max_in_flight < 1 or args.repeat < 1:
        p.error("--characters, --rate, --max-in-flight and --repeat must be positive")
    return args


def main(argv: list[str] | None = None) -> int:
    return run(parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
