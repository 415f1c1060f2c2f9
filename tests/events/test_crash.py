"""kill -9 at the publish points: no event is lost, none is duplicated.

Chunk rows and their events share one transaction, so whatever instant a
process dies, the database holds both or neither; a relay that dies after the
broker took a batch but before its cursor moved re-delivers exactly that batch,
with the same eventIds (consumers dedupe on them).
"""

from __future__ import annotations

import asyncio
import itertools
import os
import random
import shutil
import signal
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
import redis.asyncio as aioredis

from events.conftest import open_repo
from events.seed import seed_run
from maplecollect.events.schema import TOPICS
from maplecollect.phases import Phase
from maplecollect.sim import Latency, SimConfig, run_simulator_in_thread
from support.procs import start_real_service
from support.sim import SIM_NOW, SNAPSHOT

SUPPORT = Path(__file__).resolve().parents[1] / "support"


def _child_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MAPLECOLLECT_", "NEXON_"))}
    env["PYTHONPATH"] = str(SUPPORT.parent)
    env.update(extra)
    return env


@pytest.mark.parametrize(
    ("point", "kill_part", "parts_left", "completed"),
    [
        ("chunk-commit", 3, 2, False),
        ("chunk-after", 3, 3, False),
        ("finish-commit", 0, 5, False),
        ("finish-after", 0, 5, True),
    ],
)
async def test_a_process_killed_at_a_publish_point_keeps_data_and_events_together(
    database_url: str, point: str, kill_part: int, parts_left: int, completed: bool
) -> None:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        str(SUPPORT / "outbox_victim.py"),
        database_url,
        point,
        str(kill_part),
        env=_child_env(),
    )
    async with asyncio.timeout(120):
        assert await proc.wait() == -signal.SIGKILL
    repo = await open_repo(database_url)
    try:
        chunks = [c.part for c in await repo.list_chunks("ie-victim")]
        events = await repo.events.after(0, 100)
        run = await repo.get_run("ie-victim")
    finally:
        await repo.dispose()
    assert chunks == list(range(1, parts_left + 1))
    announced = [e.value["chunkId"] for e in events if e.event_type == "SNAPSHOT_CHUNK_READY"]
    assert announced == [f"part-{p:06d}" for p in chunks]  # one event per durable chunk
    finished = [e for e in events if e.event_type == "SNAPSHOT_RUN_COMPLETED"]
    assert run is not None
    assert (run.status == "COMPLETED") is completed
    assert len(finished) == (1 if completed else 0)


def _wait(url: str, run_id: str, predicate: Any, within: float = 120) -> dict[str, Any]:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        run = httpx.get(f"{url}/api/internal/runs/{run_id}", timeout=10).json()
        if predicate(run):
            return dict(run)
        time.sleep(0.05)
    raise AssertionError(f"run {run_id} did not reach the expected state within {within} s")


def _trigger(url: str, phase: str, upstream: str | None = None) -> str:
    headers = {"X-Upstream-Run-Id": upstream} if upstream else {}
    res = httpx.post(
        f"{url}/api/internal/trigger/phase/{phase}", json={"date": SNAPSHOT}, headers=headers
    )
    assert res.status_code == 202, res.text
    return str(res.json()["runId"])


def _all_events(url: str) -> list[dict[str, Any]]:
    events: list[dict[str, Any]] = []
    after = 0
    while True:
        page = httpx.get(
            f"{url}/api/internal/events", params={"after": after, "limit": 1000}, timeout=10
        ).json()
        if not page["events"]:
            return events
        events += page["events"]
        after = page["nextAfter"]


@pytest.mark.slow
def test_a_service_killed_mid_phase_and_resumed_announces_every_chunk_exactly_once(
    tmp_path: Path, sqlite_url: str
) -> None:
    """SQLite, the default store of run state; PostgreSQL is killed at exact points above."""
    database_url = sqlite_url
    config = SimConfig(seed=5, characters=150, now=SIM_NOW, latency=Latency(p50_ms=2))
    with run_simulator_in_thread(config) as sim:
        env = {
            "MAPLECOLLECT_NEXON_BASE_URL": sim.base_url,
            "NEXON_API_KEY": "test-key",
            "MAPLECOLLECT_DATABASE_URL": database_url,
            "MAPLECOLLECT_CHUNK_MAX_RECORDS": "10",
            "MAPLECOLLECT_RATE_LIMIT": "150",  # slow enough to be killed mid-phase
            "MAPLECOLLECT_PROGRESS_SECONDS": "0.1",
        }
        proc, url = start_real_service(tmp_path, **env)
        try:
            ranking = _trigger(url, "RANKING_FETCH")
            _wait(url, ranking, lambda r: r["status"] == "COMPLETED")
            ocid = _trigger(url, "OCID_LOOKUP", ranking)
            _wait(url, ocid, lambda r: r["status"] == "COMPLETED")
            victim = _trigger(url, "ITEM_EQUIPMENT", ocid)
            _wait(url, victim, lambda r: r["chunksProcessed"] >= 2)
            time.sleep(random.uniform(0, 0.15))  # land anywhere inside the next part
        finally:
            proc.send_signal(signal.SIGKILL)
            proc.wait()

        proc, url = start_real_service(tmp_path, **env)
        try:
            # The restarted service resumes the killed run by itself (auto-resume,
            # docs/reliability.md), under the same run id.
            done = _wait(url, victim, lambda r: r["terminal"])
            assert done["status"] == "COMPLETED", done
            assert done["resumeCount"] >= 1
            events = [e for e in _all_events(url) if e["value"]["runId"] == victim]
        finally:
            proc.terminate()
            proc.wait(timeout=60)

    chunk_keys = [f"{victim}:item-equipment:part-{c['part']:06d}" for c in done["chunks"]]
    announced = [e["key"] for e in events if e["eventType"] == "SNAPSHOT_CHUNK_READY"]
    assert announced == chunk_keys  # every durable part once, in part order, none twice
    completions = [e for e in events if e["eventType"] == "SNAPSHOT_RUN_COMPLETED"]
    assert len(completions) == 1
    assert completions[0]["seq"] == max(e["seq"] for e in events)  # after its last chunk
    assert completions[0]["value"]["chunkCount"] == len(chunk_keys)
    assert completions[0]["value"]["totalRecords"] == done["recordsProcessed"]
    assert (tmp_path / "store" / "runs" / victim / "item-equipment" / "_SUCCESS").exists()
    for before, after in itertools.pairwise(done["chunks"]):
        assert after["firstIndex"] == before["lastIndex"] + 1


@pytest.mark.redis
async def test_a_relay_killed_after_publishing_before_its_ack_redelivers_only_that_batch(
    sqlite_url: str, redis_url: str
) -> None:
    prefix = f"kill-{os.getpid()}-{random.randrange(1 << 30)}."
    repo = await open_repo(sqlite_url)
    try:
        await seed_run(repo, "rk-1", 3, phase=Phase.RANKING_FETCH)
        await seed_run(repo, "oc-1", 3, phase=Phase.OCID_LOOKUP)
        outbox = await repo.events.after(0, 100)
        assert len(outbox) == 9
        victim = await asyncio.create_subprocess_exec(
            sys.executable,
            str(SUPPORT / "relay_victim.py"),
            sqlite_url,
            redis_url,
            prefix,
            "2",
            env=_child_env(),
        )
        async with asyncio.timeout(120):
            assert await victim.wait() == -signal.SIGKILL
        # Batches of 3: the first was acknowledged, the second reached Redis only.
        assert await repo.events.cursor("redis-streams") == outbox[2].seq

        exe = shutil.which("maplecollect", path=str(Path(sys.executable).parent))
        assert exe
        restarted = await asyncio.create_subprocess_exec(
            exe,
            "relay",
            "--once",
            env=_child_env(
                MAPLECOLLECT_DATABASE_URL=sqlite_url,
                MAPLECOLLECT_EVENTS_REDIS_URL=redis_url,
                MAPLECOLLECT_EVENTS_TOPIC_PREFIX=prefix,
            ),
        )
        async with asyncio.timeout(120):
            assert await restarted.wait() == 0
        assert await repo.events.cursor("redis-streams") == outbox[-1].seq
    finally:
        await repo.dispose()

    client = aioredis.Redis.from_url(redis_url)
    try:
        entries = []
        for topic in TOPICS.values():
            entries += [f for _id, f in await client.xrange(f"{prefix}{topic}")]
        keys = [k async for k in client.scan_iter(match=f"{prefix}*")]
        if keys:
            await client.delete(*keys)
    finally:
        await client.aclose()
    copies = Counter(e[b"eventId"].decode() for e in entries)
    assert set(copies) == {e.event_id for e in outbox}  # nothing lost
    assert {i for i, n in copies.items() if n > 1} == {e.event_id for e in outbox[3:6]}
    assert max(copies.values()) == 2
    # A redelivery is the same message: consumers dedupe on eventId and lose nothing.
    by_id: dict[str, set[bytes]] = {}
    for e in entries:
        by_id.setdefault(e[b"eventId"].decode(), set()).add(e[b"value"])
    assert all(len(values) == 1 for values in by_id.values())
    assert [orjson.loads(next(iter(by_id[e.event_id]))) for e in outbox] == [
        e.value for e in outbox
    ]
