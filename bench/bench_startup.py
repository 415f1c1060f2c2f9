"""Start-up cost: CPU seconds until `serve` is healthy and until `run` sends its first request.

For --runs rounds, with a database already migrated (the normal restart):
  serve  `maplecollect serve` on a free port; CPU (user + sys) of that process at the
         moment GET /health first answers 200
  run    `maplecollect run RANKING_FETCH` against a simulator (started once, separate
         process); CPU of the run process at the moment the simulator has counted its
         first request
  help   `maplecollect --help` and `python -c "import maplecollect.api.app"` (whole
         process CPU, the second is the whole app's import)
Medians are printed, with the ratio help / app import. Target (issue 15): serve healthy
and run's first request <= 1.5 CPU-s each on this machine; --help <= 25 % of the app.

    .venv/bin/python bench/bench_startup.py
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import psutil

HERE = Path(sys.executable).parent
EXE = str(HERE / "maplecollect")
SIM_NOW = "2026-11-27T12:00:00+09:00"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def cpu_of(proc: psutil.Process) -> float:
    t = proc.cpu_times()
    return float(t.user + t.system + t.children_user + t.children_system)


def wait_for(check: object, proc: subprocess.Popen[bytes], within: float) -> None:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"process exited early with {proc.returncode}")
        try:
            if check():  # type: ignore[operator]
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.005)
    raise SystemExit(f"not ready within {within} s")


def serve_cpu(env: dict[str, str]) -> float:
    port = free_port()
    proc = subprocess.Popen(
        [EXE, "serve", "--port", str(port), "--log-level", "warning"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    ps = psutil.Process(proc.pid)
    try:

        def healthy() -> bool:
            return httpx.get(f"http://127.0.0.1:{port}/health", timeout=1).status_code == 200

        wait_for(healthy, proc, 120)
        return cpu_of(ps)
    finally:
        proc.terminate()
        proc.wait(30)


def run_cpu(env: dict[str, str], sim_url: str) -> float:
    httpx.post(f"{sim_url}/_sim/stats/reset")
    proc = subprocess.Popen(
        [EXE, "run", "RANKING_FETCH", "--date", "2026-11-26", "--json"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    ps = psutil.Process(proc.pid)
    try:

        def first_request() -> bool:
            return int(httpx.get(f"{sim_url}/_sim/stats", timeout=1).json()["total"]) > 0

        wait_for(first_request, proc, 120)
        return cpu_of(ps)
    finally:
        proc.terminate()
        proc.wait(60)


def whole_process_cpu(cmd: list[str]) -> float:
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--runs", type=int, default=5)
    a = p.parse_args()
    work = Path(tempfile.mkdtemp(prefix="mc-startup-"))
    sim_cmd = [sys.executable, "-m", "maplecollect.sim", "--port", "0", "--characters", "200"]
    sim = subprocess.Popen(
        [*sim_cmd, "--now", SIM_NOW, "--api-key", "bench-key=0"],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert sim.stdout is not None
    sim_url = sim.stdout.readline().strip()
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("MAPLECOLLECT_")},
        "MAPLECOLLECT_DATA_DIR": str(work / "data"),
        "MAPLECOLLECT_NEXON_BASE_URL": sim_url,
        "NEXON_API_KEY": "bench-key",
    }
    load0 = os.getloadavg()[0]
    rows: dict[str, list[float]] = {"serve": [], "run": [], "help": [], "app": []}
    try:
        serve_cpu(env)  # first start migrates the database: not counted
        for _ in range(a.runs):
            rows["serve"].append(serve_cpu(env))
            rows["run"].append(run_cpu(env, sim_url))
            rows["help"].append(whole_process_cpu([EXE, "--help"]))
            rows["app"].append(
                whole_process_cpu([sys.executable, "-c", "import maplecollect.api.app"])
            )
    finally:
        sim.terminate()
        sim.wait(10)
        shutil.rmtree(work, ignore_errors=True)
    med = {k: statistics.median(v) for k, v in rows.items()}
    print(f"{a.runs} rounds, load average {load0:.2f} -> {os.getloadavg()[0]:.2f}")
    print(f"{'what':<44}{'median CPU-s':>13}{'min':>7}{'max':>7}")
    names = {
        "serve": "serve: start -> /health 200",
        "run": "run RANKING_FETCH: start -> first request",
        "help": "maplecollect --help (whole process)",
        "app": "python -c 'import maplecollect.api.app'",
    }
    for key, label in names.items():
        print(f"{label:<44}{med[key]:>13.2f}{min(rows[key]):>7.2f}{max(rows[key]):>7.2f}")
    ratio = statistics.median(h / app for h, app in zip(rows["help"], rows["app"], strict=True))
    print(f"--help / app import (paired median): {ratio:.0%}")
    ok = med["serve"] <= 1.5 and med["run"] <= 1.5 and ratio <= 0.25
    print(
        "targets (serve, run <= 1.5 CPU-s; --help <= 25 % of the app):", "met" if ok else "NOT met"
    )
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
