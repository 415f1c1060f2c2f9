"""Run as a separate process by test_redis_limiter: acquire from a shared Redis limiter.

argv: redis_url fingerprint rate seconds start_at(monotonic) concurrency
Prints a JSON list of the monotonic times of every acquired slot.
(CLOCK_MONOTONIC is system-wide on Linux, so parent and children compare.)
"""

from __future__ import annotations

import asyncio
import sys
import time

import orjson

from maplecollect.nexon.redis_limiter import RedisGcraLimiter


async def main(
    url: str, fingerprint: str, rate: float, seconds: float, start_at: float, n: int
) -> None:
    sent: list[float] = []
    async with RedisGcraLimiter.from_url(url, fingerprint, rate) as limiter:
        await asyncio.sleep(max(0.0, start_at - time.monotonic()))
        deadline = start_at + seconds

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
    url, fp, rate, seconds, start_at, n = sys.argv[1:7]
    asyncio.run(main(url, fp, float(rate), float(seconds), float(start_at), int(n)))
