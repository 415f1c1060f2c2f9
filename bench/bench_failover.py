"""Failover time of two replicas, and start-up cost of `serve` (issue 11; a script, not a test).

Two `maplecollect serve` replicas (A, B) share one database (SQLite by default,
or --database-url) and store, against `maplecollect sim`, with the DEFAULT
heartbeat / lease settings (MAPLECOLLECT_HEARTBEAT_SECONDS=2,
MAPLECOLLECT_HEARTBEAT_TIMEOUT_SECONDS=10) unless overridden in the environment
of this script. For each scenario, A runs ITEM_EQUIPMENT and is then:

  * kill -9   - A's process is gone. B, on the same host, sees the pid is dead at
                its next sweep (every heartbeat);
  * SIGSTOP   - A is frozen: what a vanished host or a VM pause looks like. B can
                only tell by the lease expiring; A is woken afterwards and must
                find it lost the lease.

and the script records, from the moment of the signal: the run INTERRUPTED
(the lease taken from A) and the run RUNNING again under B (resumed, same
runId, next lease epoch), by polling the database every 20 ms.

Start-up: `serve` from exec to the first 200 of /health, wall seconds and the
CPU seconds the process used until then (user + system, from psutil).

    .venv/bin/python bench/bench_failover.py
    .venv/bin/python bench/bench_failover.py --database-url postgresql://root@127.0.0.1:5432/test
    .venv/bin/python bench/bench_failover.py --startups 5
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
import psutil

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_phases import Procs, clean_env, cli_cmd, cpu_seconds, free_port

SIM_NOW = "2026-11-27T12:00:00+09:00"
SNAPSHOT = "2026-11-26"
API_KEY = "bench-key"


def query(db_url: str, sql: str, *params: Any) -> list[tuple[Any, ...]]:
    if db_url.startswith("sqlite:///"):
        conn = sqlite3.connect(f"file:{db_url.removeprefix('sqlite:///')}?mode=ro", uri=True)
        try:
            return [tuple(r) for r in conn.execute(sql.replace("%s", "?"), params)]
        finally:
            conn.close()
    import psycopg

    with psycopg.connect(db_url) as conn:
        return [tuple(r) for r in conn.execute(sql, params).fetchall()]  # type: ignore[arg-type]


def start_serve(
    procs: Procs, env: dict[str, str], log: Path
) -> tuple[subprocess.Popen[bytes], str, float, float]:
    """Start a replica; returns (proc, url, wall s to healthy, CPU s to healthy)."""
    port = free_port()
    t0 = time.monotonic()
    proc = procs.start(
        cli_cmd(["serve", "--port", str(port), "--log-level", "warning"]), env=env, log=log
    )
    url = f"http://127.0.0.1:{port}"
    ps = psutil.Process(proc.pid)
    deadline = t0 + 300
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"serve exited with {proc.returncode} (see {log})")
        try:
            if httpx.get(f"{url}/health", timeout=2).status_code == 200:
                return proc, url, time.monotonic() - t0, cpu_seconds(ps)
        except httpx.HTTPError:
            pass
        time.sleep(0.02)
    raise SystemExit(f"{url}/health did not answer within 300 s")


def trigger(url: str, phase: str, upstream: str | None = None) -> str:
    headers = {"X-Upstream-Run-Id": upstream} if upstream else {}
    res = httpx.post(
        f"{url}/api/internal/trigger/phase/{phase}",
        json={"date": SNAPSHOT},
        headers=headers,
        timeout=30,
    )
    if res.status_code != 202:
        raise SystemExit(f"trigger {phase}: HTTP {res.status_code} {res.text}")
    return str(res.json()["runId"])


def wait_run(url: str, run_id: str, ok: Any, within: float = 600) -> dict[str, Any]:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        try:
            body = httpx.get(f"{url}/api/internal/runs/{run_id}", timeout=10).json()
            if ok(body):
                return dict(body)
        except httpx.HTTPError:
            pass
        time.sleep(0.05)
    raise SystemExit(f"run {run_id} did not reach the expected state within {within:g} s")


def _sqlite_write_lock_free(db_url: str) -> bool:
    conn = sqlite3.connect(db_url.removeprefix("sqlite:///"), timeout=0.3, isolation_level=None)
    try:
        conn.execute("BEGIN IMMEDIATE")
        conn.execute("ROLLBACK")
        return True
    except sqlite3.OperationalError:
        return False
    finally:
        conn.close()


def freeze(proc: subprocess.Popen[bytes], db_url: str) -> None:
    """SIGSTOP, but never inside a SQLite write transaction: SQLite has no server
    that could break a frozen writer's lock (docs/reliability.md)."""
    for _ in range(50):
        os.kill(proc.pid, signal.SIGSTOP)
        if not db_url.startswith("sqlite") or _sqlite_write_lock_free(db_url):
            return
        os.kill(proc.pid, signal.SIGCONT)
        time.sleep(0.02)
    raise SystemExit("could not freeze replica A outside a SQLite write transaction")


def failover(
    scenario: str, db_url: str, url_a: str, proc_a: subprocess.Popen[bytes], b_pid: int, ocid: str
) -> dict[str, float]:
    run_id = trigger(url_a, "ITEM_EQUIPMENT", ocid)
    wait_run(url_a, run_id, lambda r: r["chunksProcessed"] >= 1)
    t0 = time.monotonic()
    if scenario == "kill -9":
        os.kill(proc_a.pid, signal.SIGKILL)
        proc_a.wait()  # reaped at once, as a service manager does (a zombie looks alive)
    else:
        freeze(proc_a, db_url)
    marks: dict[str, float] = {}
    deadline = t0 + 300
    while "resumed" not in marks:
        if time.monotonic() > deadline:
            raise SystemExit(f"{scenario}: the run was not resumed within 300 s")
        rows = query(db_url, "select status, owner from runs where run_id = %s", run_id)
        status, owner = rows[0]
        now = time.monotonic() - t0
        if status != "RUNNING" or owner.split(":")[1] != str(proc_a.pid):
            marks.setdefault("interrupted", now)
        if status == "RUNNING" and owner.split(":")[1] == str(b_pid):
            marks["resumed"] = now
        time.sleep(0.02)
    if scenario == "SIGSTOP":
        os.kill(proc_a.pid, signal.SIGCONT)
    return marks


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--database-url", default=None, help="default: SQLite in a temp dir")
    ap.add_argument("--characters", type=int, default=2000)
    ap.add_argument("--rate-limit", type=float, default=100.0, help="req/s of each replica")
    ap.add_argument("--startups", type=int, default=3, help="extra serve starts to time")
    args = ap.parse_args(argv)

    workdir = Path(tempfile.mkdtemp(prefix="bench-failover-"))
    data = workdir / "data"
    db_url = args.database_url or f"sqlite:///{data / 'maplecollect.db'}"
    inherited = {k: v for k, v in os.environ.items() if k.startswith("MAPLECOLLECT_")}
    lease = inherited.get("MAPLECOLLECT_HEARTBEAT_TIMEOUT_SECONDS", "10.0 (default)")
    beat = inherited.get("MAPLECOLLECT_HEARTBEAT_SECONDS", "2.0 (default)")
    print(f"heartbeat {beat} s, lease {lease} s, database {db_url.split('://')[0]}", flush=True)
    procs = Procs()
    try:
        sim_cmd = ["sim", "--port", "0", "--characters", str(args.characters)]
        sim_cmd += ["--now", SIM_NOW, "--api-key", f"{API_KEY}=0", "--fault-rate", "0"]
        sim = procs.start(
            cli_cmd(sim_cmd), env=clean_env(), stdout=subprocess.PIPE, log=workdir / "sim.log"
        )
        assert sim.stdout is not None
        sim_url = sim.stdout.readline().decode().strip()
        env = clean_env(
            **inherited,
            MAPLECOLLECT_DATA_DIR=str(data),
            MAPLECOLLECT_DATABASE_URL=db_url,
            MAPLECOLLECT_NEXON_BASE_URL=sim_url,
            NEXON_API_KEY=API_KEY,
            MAPLECOLLECT_RATE_LIMIT=str(args.rate_limit),
        )
        walls: list[float] = []
        cpus: list[float] = []
        proc_a, url_a, wall, cpu = start_serve(procs, env, workdir / "a.log")
        walls.append(wall)
        cpus.append(cpu)
        proc_b, url_b, wall, cpu = start_serve(procs, env, workdir / "b.log")
        walls.append(wall)
        cpus.append(cpu)
        ranking = trigger(url_b, "RANKING_FETCH")
        wait_run(url_b, ranking, lambda r: r["status"] == "COMPLETED")
        ocid = trigger(url_b, "OCID_LOOKUP", ranking)
        wait_run(url_b, ocid, lambda r: r["status"] == "COMPLETED")

        results: dict[str, dict[str, float]] = {}
        for scenario in ("kill -9", "SIGSTOP"):
            results[scenario] = failover(scenario, db_url, url_a, proc_a, proc_b.pid, ocid)
            run = query(
                db_url,
                "select run_id from runs where phase = 'ITEM_EQUIPMENT' "
                "and status in ('RUNNING', 'STOPPING', 'INTERRUPTED')",
            )
            if run:  # let B finish the resumed run before the next scenario
                wait_run(url_b, run[0][0], lambda r: r["terminal"])
            if scenario == "SIGSTOP":
                proc_a.terminate()
                proc_a.wait(60)
            proc_a, url_a, wall, cpu = start_serve(procs, env, workdir / "a.log")
            walls.append(wall)
            cpus.append(cpu)
        for _ in range(args.startups):
            extra, _url, wall, cpu = start_serve(procs, env, workdir / "extra.log")
            walls.append(wall)
            cpus.append(cpu)
            extra.terminate()
            extra.wait(60)

        print("\n| owner lost by | lease taken (INTERRUPTED) | resumed on the survivor |")
        print("|---|---|---|")
        for scenario, marks in results.items():
            print(f"| {scenario} | {marks['interrupted']:.1f} s | {marks['resumed']:.1f} s |")
        print(
            f"\nserve start -> /health 200 ({len(walls)} starts): wall median "
            f"{statistics.median(walls):.1f} s (min {min(walls):.1f}, max {max(walls):.1f}); "
            f"CPU median {statistics.median(cpus):.2f} s (min {min(cpus):.2f}, "
            f"max {max(cpus):.2f})"
        )
        print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    except BaseException:
        procs.stop_all()
        print(f"logs kept in {workdir}", flush=True)
        raise
    procs.stop_all()
    shutil.rmtree(workdir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
