"""Relays to the real Redis and NATS JetStream of this machine, and to a real webhook receiver."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import nats
import orjson
import pytest
import redis.asyncio as aioredis
from aiohttp import web

from events.seed import seed_run
from maplecollect.events.nats_jetstream import NatsJetStreamSink
from maplecollect.events.redis_streams import RedisStreamsSink
from maplecollect.events.relay import Relay
from maplecollect.events.schema import TOPICS
from maplecollect.events.webhook import SIGNATURE_HEADER, WebhookSink, verify_signature
from maplecollect.metrics import RELAY_FAILURES
from maplecollect.nexon.retry import RetryPolicy
from maplecollect.phases import Phase
from maplecollect.state.repository import Repository
from support.sim import stack

FAST = RetryPolicy(max_attempts=1, max_seconds=1, base_delay=0.01, max_delay=0.05)


@pytest.fixture
async def redis_client(redis_url: str) -> AsyncIterator[tuple[aioredis.Redis, str]]:
    prefix = f"test-{secrets.token_hex(4)}."
    client = aioredis.Redis.from_url(redis_url)
    yield client, prefix
    keys = [k async for k in client.scan_iter(match=f"{prefix}*")]
    if keys:
        await client.delete(*keys)
    await client.aclose()


async def _entries(client: aioredis.Redis, prefix: str) -> list[dict[str, Any]]:
    """Every entry of every topic's stream, ordered by outbox seq."""
    out = []
    for topic in TOPICS.values():
        for _id, fields in await client.xrange(f"{prefix}{topic}"):
            out.append({k.decode(): v.decode() for k, v in fields.items()} | {"topic": topic})
    return sorted(out, key=lambda e: int(e["seq"]))


@pytest.mark.redis
async def test_redis_streams_get_every_event_once_and_a_restart_resumes_from_the_cursor(
    sqlite_repo: Repository, redis_client: tuple[aioredis.Redis, str], redis_url: str
) -> None:
    client, prefix = redis_client
    url = redis_url
    await seed_run(sqlite_repo, "rk-1", 2, phase=Phase.RANKING_FETCH)
    await seed_run(sqlite_repo, "oc-1", 1, phase=Phase.OCID_LOOKUP)

    relay = Relay(RedisStreamsSink(url, prefix=prefix), sqlite_repo.events, batch_size=2)
    assert await relay.drain() == 6
    await relay.sink.aclose()
    outbox = await sqlite_repo.events.after(0, 100)
    entries = await _entries(client, prefix)
    assert [e["eventId"] for e in entries] == [e.event_id for e in outbox]
    assert [e["topic"] for e in entries] == [e.topic for e in outbox]
    assert [orjson.loads(e["value"]) for e in entries] == [e.value for e in outbox]
    assert entries[-1]["eventType"] == "OCID_LOOKUP_READY"
    assert entries[-1]["key"] == "oc-1:ocid-lookup"
    assert await sqlite_repo.events.cursor("redis-streams") == outbox[-1].seq

    # A new relay (as after a restart) starts after the acknowledged cursor.
    await seed_run(sqlite_repo, "cb-1", 1, phase=Phase.CHARACTER_BASIC)
    again = Relay(RedisStreamsSink(url, prefix=prefix), sqlite_repo.events)
    assert await again.drain() == 2
    await again.sink.aclose()
    entries = await _entries(client, prefix)
    assert len(entries) == 8
    assert len({e["eventId"] for e in entries}) == 8


@pytest.mark.redis
async def test_a_broker_that_is_down_is_retried_and_nothing_is_acknowledged(
    sqlite_repo: Repository,
) -> None:
    await seed_run(sqlite_repo, "rk-2", 1, phase=Phase.RANKING_FETCH)
    # Nothing listens on port 1: every delivery fails.
    relay = Relay(RedisStreamsSink("redis://127.0.0.1:1/0"), sqlite_repo.events, backoff=FAST)
    stop = asyncio.Event()
    task = asyncio.create_task(relay.run(stop))
    failures = RELAY_FAILURES.labels("redis-streams")
    before = failures._value.get()
    async with asyncio.timeout(30):
        # Retried, not given up: three failures counted.
        while failures._value.get() < before + 3:  # noqa: ASYNC110 - polling a counter
            await asyncio.sleep(0.01)
    stop.set()
    await task
    await relay.sink.aclose()
    assert await sqlite_repo.events.cursor("redis-streams") == 0


async def test_nats_jetstream_gets_every_event_and_drops_a_redelivery_by_event_id(
    sqlite_repo: Repository, nats_url: str
) -> None:
    stream = f"TEST_{secrets.token_hex(4).upper()}"
    prefix = f"t{secrets.token_hex(4)}."
    await seed_run(sqlite_repo, "ie-1", 3)
    nc = await nats.connect(nats_url)
    js = nc.jetstream()
    try:
        sink = NatsJetStreamSink(nats_url, stream=stream, prefix=prefix)
        relay = Relay(sink, sqlite_repo.events)
        assert await relay.drain() == 4
        outbox = await sqlite_repo.events.after(0, 100)
        info = await js.stream_info(stream)
        assert info.state.messages == 4
        for n, event in enumerate(outbox, start=1):
            msg = await js.get_msg(stream, n)
            assert msg.subject == f"{prefix}{event.topic}"
            assert orjson.loads(msg.data or b"") == event.value
            assert (msg.headers or {})["Nats-Msg-Id"] == event.event_id
        # A crash before the cursor ack re-sends the batch: JetStream drops the copies.
        await sink.publish(outbox)
        assert (await js.stream_info(stream)).state.messages == 4
        await sink.aclose()
    finally:
        await js.delete_stream(stream)
        await nc.close()


@dataclass
class Receiver:
    """A webhook endpoint that refuses the first `refuse` requests with 503."""

    secret: str
    refuse: int = 0
    requests: list[dict[str, Any]] = field(default_factory=list)
    got: asyncio.Event = field(default_factory=asyncio.Event)
    want: int = 0

    async def handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        signed = verify_signature(self.secret, request.headers[SIGNATURE_HEADER], body)
        self.requests.append(
            {"signed": signed, "id": request.headers["X-Maplecollect-Event-Id"], "body": body}
        )
        if self.refuse > 0:
            self.refuse -= 1
            return web.Response(status=503)
        if not signed:
            return web.Response(status=401)
        if len({r["id"] for r in self.requests if r["signed"]}) >= self.want:
            self.got.set()
        return web.Response(status=204)


@pytest.fixture
async def receiver() -> AsyncIterator[tuple[Receiver, str]]:
    rec = Receiver(secret="whsec-test")
    app = web.Application()
    app.router.add_post("/hook", rec.handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    yield rec, f"http://127.0.0.1:{port}/hook"
    await runner.cleanup()


async def test_webhooks_are_signed_retried_with_backoff_and_delivered_in_order(
    sqlite_repo: Repository, receiver: tuple[Receiver, str]
) -> None:
    rec, url = receiver
    rec.refuse, rec.want = 2, 3
    await seed_run(sqlite_repo, "ie-2", 2)
    relay = Relay(WebhookSink(url, rec.secret), sqlite_repo.events, backoff=FAST)
    stop = asyncio.Event()
    task = asyncio.create_task(relay.run(stop))
    async with asyncio.timeout(30):
        await rec.got.wait()
    stop.set()
    await task
    await relay.sink.aclose()
    outbox = await sqlite_repo.events.after(0, 100)
    ids = [r["id"] for r in rec.requests]
    # The first event was refused twice and sent again; none was skipped or reordered.
    assert ids == [outbox[0].event_id] * 3 + [e.event_id for e in outbox[1:]]
    assert all(r["signed"] for r in rec.requests)
    assert [orjson.loads(r["body"]) for r in rec.requests[2:]] == [e.value for e in outbox]
    assert await sqlite_repo.events.cursor("webhook") == outbox[-1].seq


def test_a_signature_with_another_secret_or_body_or_too_old_is_refused() -> None:
    from maplecollect.events.webhook import sign

    header = sign("k1", b"{}", 1_000)
    assert verify_signature("k1", header, b"{}", now=lambda: 1_010)
    assert not verify_signature("k2", header, b"{}", now=lambda: 1_010)
    assert not verify_signature("k1", header, b"{ }", now=lambda: 1_010)
    assert not verify_signature("k1", header, b"{}", now=lambda: 2_000)
    assert not verify_signature("k1", "garbage", b"{}", now=lambda: 1_000)


@pytest.mark.redis
async def test_serve_relays_to_redis_when_configured(
    tmp_path: Path, clean_env: None, redis_client: tuple[aioredis.Redis, str], redis_url: str
) -> None:
    client, prefix = redis_client
    async with stack(
        tmp_path,
        characters=60,
        events_redis_url=redis_url,
        events_topic_prefix=prefix,
        events_poll_seconds=0.05,
    ) as st:
        ranking = await st.svc.complete("RANKING_FETCH")
        stream = f"{prefix}external-api.snapshot.run-completed"
        async with asyncio.timeout(30):
            while not await client.xlen(stream):  # noqa: ASYNC110 - polling a server
                await asyncio.sleep(0.02)
    entries = await _entries(client, prefix)
    assert entries[-1]["key"] == f"{ranking}:ranking-overall"
    assert [e["eventType"] for e in entries][:-1] == ["SNAPSHOT_CHUNK_READY"] * (len(entries) - 1)
