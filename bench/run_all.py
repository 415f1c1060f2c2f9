"""Run every benchmark in sequence at its default size (`make bench`; ~16 min on 2 cores).

Each benchmark runs as its own process (they pin processes to cores and start
servers), its output is streamed as it comes, and the machine's load average is
printed before and after each one (the numbers are only comparable on a quiet
machine; see docs/performance.md). Exit status: 1 if any benchmark exited
non-zero (bench_client, bench_phases, bench_control_api, bench_limit and
bench_startup do when a target is missed; bench_sim, bench_writer, bench_peers and
http_stacks only print their tables), else 0. `peers` is maplecollect side by side
with the two collectors people write (bench/bench_peers.py); `stacks` the HTTP-stack
floor (bench/http_stacks.py, its bench-only stacks from bench/requirements-bench.txt).

    .venv/bin/python bench/run_all.py
    .venv/bin/python bench/run_all.py --only client,control_api
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

HERE = Path(__file__).resolve().parent
BENCHMARKS = {
    "sim": ["bench_sim.py"],
    "writer": ["bench_writer.py"],
    "client": ["bench_client.py", "--seconds", "60"],
    "phases": ["bench_phases.py"],
    "control_api": ["bench_control_api.py"],
    "peers": ["bench_peers.py"],
    "stacks": ["http_stacks.py"],
    "limit": ["bench_limit.py", "--seconds", "60"],
    "startup": ["bench_startup.py"],
}


def load() -> str:
    one, five, fifteen = os.getloadavg()
    return f"load average {one:.2f} {five:.2f} {fifteen:.2f}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--only", help=f"comma list of benchmarks to run (default all: {', '.join(BENCHMARKS)})"
    )
    args = parser.parse_args(argv)
    names = list(BENCHMARKS)
    if args.only:
        names = [n.strip() for n in args.only.split(",") if n.strip()]
        unknown = [n for n in names if n not in BENCHMARKS]
        if unknown:
            parser.error(f"unknown benchmark(s) {unknown}; choose from {', '.join(BENCHMARKS)}")
    results: list[tuple[str, int, float]] = []
    for name in names:
        script, *rest = BENCHMARKS[name]
        cmd = [sys.executable, str(HERE / script), *rest]
        started = datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
        print(f"\n=== {name}: {' '.join(cmd[1:])} ({started}; {load()})", flush=True)
        t0 = time.monotonic()
        code = subprocess.call(cmd, cwd=HERE.parent)
        elapsed = time.monotonic() - t0
        print(f"=== {name}: exit {code} after {elapsed:.0f} s ({load()})", flush=True)
        results.append((name, code, elapsed))
    print("\nsummary")
    for name, code, elapsed in results:
        verdict = "ok" if code == 0 else f"exit {code} (targets missed or error)"
        print(f"  {name:<12} {elapsed:>6.0f} s  {verdict}")
    return 0 if all(code == 0 for _, code, _ in results) else 1


if __name__ == "__main__":
    sys.exit(main())
