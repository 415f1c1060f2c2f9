"""Run as a separate process by test_redis_limiter: acquire from a shared Redis limiter.

argv: redis_url fingerprint rate seconds concurrency
Prints `ready` once connected, waits for a line on stdin (the parent's barrier,
so both children start together however busy the machine is), then acquires
for `seconds` and prints a JSON list of the monotonic times of every slot.
(CLOCK_MONOTONIC is system-wide on Linux, so parent and children compare.)
"""

from __future__ import annotations

import asyncio
import sys
import time

import orjson

from maplecollect.nexon.redis_limiter import RedisGcraLimiter


async def main(url: str, fingerprint: str, rate: float, seconds: float, n: int) -> None:
    sent: list[float] = []
    async with RedisGcraLimiter.from_url(url, fingerprint, rate) as limiter:
        await limiter.acquire()  # connected and the scripts loaded before the barrier
        sent.append(time.monotonic())
        sys.stdout.write("ready\n")
        sys.stdout.flush()
        await asyncio.to_thread(sys.stdin.readline)
        deadline = time.monotonic() + seconds

        async def worker() -> None:
            while True:
                await limiter.acquire()
                now = time.monotonic()
                if now >= deadline:
                    return
                sent.append(now)

        await asyncio.gather(*(worker() for _ in range(n)))
    sys.stdout.write(orjson.dumps(sent).decode())


if __name__ == "__main__":
    url, fp, rate, seconds, n = sys.argv[1:6]
    asyncio.run(main(url, fp, float(rate), float(seconds), int(n)))
