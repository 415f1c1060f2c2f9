"""What one rate-limiter grant costs, against a plain paced sleep (a script, not a test).

    taskset -c 1 .venv/bin/python bench/bench_limiter_grants.py [--grants 2500] [--rate 500]

256 tasks saturate a `GcraLimiter` at --rate; the script counts the limiter's timer
wake-ups and the process CPU per grant. The peer, measured in the same run on the same
loop: ONE task that starts a request slot every 1/rate s by sleeping until it is due
(`bench/http_stacks.py`'s pacing, the floor's). Both idle between slots, so what differs
is the limiter's own work (a future per waiter, one timer, the FIFO hand-over).
On uvloop, before `never_early` (nexon/limiter.py) each grant took ~20 timer wake-ups:
uvloop's whole-ms timers fired early and the re-arm for the rest ran on the next loop turn.
"""

from __future__ import annotations

import argparse
import asyncio
import time
from collections.abc import Callable, Coroutine
from typing import Any

import uvloop

from maplecollect.nexon.limiter import GcraLimiter

WORKERS = 256


async def limiter_grants(n: int, rate: float) -> tuple[float, float]:
    """(CPU µs per grant, timer wake-ups per grant) of a saturated GcraLimiter."""
    limiter = GcraLimiter(rate)
    wakes = 0
    wake = limiter._wake

    def counted() -> None:
        nonlocal wakes
        wakes += 1
        wake()

    limiter._wake = counted  # type: ignore[method-assign]

    async def worker(first: int) -> None:
        for _ in range(first, n, WORKERS):
            await limiter.acquire()

    started = time.process_time()
    await asyncio.gather(*(worker(k) for k in range(WORKERS)))
    cpu = time.process_time() - started
    await limiter.close()
    return cpu / n * 1e6, wakes / n


async def paced_slots(n: int, rate: float) -> tuple[float, float]:
    """(CPU µs per slot, wake-ups per slot) of one task sleeping until each slot is due."""
    loop = asyncio.get_running_loop()
    t0 = loop.time()
    sleeps = 0
    started = time.process_time()
    for i in range(n):
        delay = t0 + i / rate - loop.time()
        if delay > 0.001:
            sleeps += 1
            await asyncio.sleep(delay)
    return (time.process_time() - started) / n * 1e6, sleeps / n


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--grants", type=int, default=2500)
    parser.add_argument("--rate", type=float, default=500.0)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    runners: dict[str, Callable[[Coroutine[Any, Any, tuple[float, float]]], Any]] = {
        "uvloop": uvloop.run,
        "asyncio": asyncio.run,
    }
    print(f"{args.grants} grants at {args.rate:g}/s by {WORKERS} tasks, {args.rounds} rounds")
    print(f"{'loop':<9}{'limiter µs/grant':>18}{'wake-ups':>10}{'paced µs/slot':>15}{'ratio':>7}")
    for name, run in runners.items():
        for _ in range(args.rounds):
            grant_cpu, wakes = run(limiter_grants(args.grants, args.rate))
            paced_cpu, _ = run(paced_slots(args.grants, args.rate))
            print(
                f"{name:<9}{grant_cpu:>18.1f}{wakes:>10.2f}{paced_cpu:>15.1f}"
                f"{grant_cpu / paced_cpu:>7.2f}"
            )


if __name__ == "__main__":
    main()
