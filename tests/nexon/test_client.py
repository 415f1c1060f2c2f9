"""NexonClient end to end over real loopback HTTP against the scriptable FakeNexon."""

import asyncio
import time
from datetime import datetime
from typing import Any

import aiohttp
import orjson
import pytest
from aiohttp import web
from prometheus_client import REGISTRY

from maplecollect.config import Settings
from maplecollect.errors import ClosedError, ConfigError, RecordError, RunFatalError
from maplecollect.nexon import AdaptiveRate, GcraLimiter, NexonClient, PausePolicy, RetryPolicy

from .conftest import (
    FAKE_KEY,
    OK_BASIC,
    ClientFactory,
    FakeNexon,
    nexon_error,
    reset_connection,
    slow,
)

BASIC = "/maplestory/v1/character/basic"
ITEMS = "/maplestory/v1/character/item-equipment"
ID = "/maplestory/v1/id"
RANKING = "/maplestory/v1/ranking/overall"


def sample(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


async def test_success_keeps_the_raw_body_and_sends_the_key(
    fake_api: FakeNexon, make_client: ClientFactory
) -> None:
    async with make_client() as client:
        resp = await client.character_basic("ocid-1", "2026-11-01")
    assert resp.status == 200 and resp.body == OK_BASIC and resp.attempts == 1
    assert datetime.fromisoformat(resp.fetched_at).utcoffset() is not None
    assert resp.fetched_at.endswith("Z")
    seen = fake_api.seen[0]
    assert seen.path == BASIC and seen.api_key == FAKE_KEY
    assert seen.query == {"ocid": "ocid-1", "date": "2026-11-01"}


async def test_latest_sends_no_date_and_params_are_encoded(
    fake_api: FakeNexon, make_client: ClientFactory
) -> None:
    fake_api.script(ID, (200, b'{"ocid":"abc"}'))
    fake_api.script(RANKING, (200, b'{"ranking": []}'), (200, b'{"ranking": []}'))
    client = make_client()
    await client.item_equipment("ocid-2", None)
    resp = await client.character_id("아델 & co")
    await client.ranking_overall(date="2026-11-01", world_type=1, page=3)
    await client.ranking_overall(date=None, world_name="스카니아")
    assert resp.body == b'{"ocid":"abc"}'
    assert [s.query for s in fake_api.seen] == [
        {"ocid": "ocid-2"},
        {"character_name": "아델 & co"},
        {"page": "3", "date": "2026-11-01", "world_type": "1"},
        {"page": "1", "world_name": "스카니아"},
    ]


async def test_empty_character_is_a_success_marked_empty(
    fake_api: FakeNexon, make_client: ClientFactory
) -> None:
    empty = orjson.dumps(
        {"date": "2026-11-01T00:00+09:00", "character_class": None, "item_equipment": None}
    )
    fake_api.script(ITEMS, (200, empty))
    client = make_client()
    resp = await client.item_equipment("ocid-3", "2026-11-01")
    assert resp.empty and resp.body == empty
    assert not (await client.character_basic("ocid-3", "2026-11-01")).empty


async def test_server_error_is_retried_then_succeeds(
    fake_api: FakeNexon, make_client: ClientFactory
) -> None:
    fake_api.script(BASIC, nexon_error("OPENAPI00001", 500), nexon_error("OPENAPI00001", 500))
    fp = "default"  # the configured key name, never derived from the key
    before = sample("maplecollect_nexon_retries_total", key=fp, endpoint="character-basic")
    resp = await make_client().character_basic("ocid", None)
    assert resp.status == 200 and resp.attempts == 3
    assert fake_api.count(BASIC) == 3
    assert (
        sample("maplecollect_nexon_retries_total", key=fp, endpoint="character-basic") == before + 2
    )


async def test_latency_is_observed_by_endpoint_and_status_class(
    fake_api: FakeNexon, make_client: ClientFactory
) -> None:
    name = "maplecollect_nexon_request_duration_seconds_count"

    def count(cls: str) -> float:
        return sample(name, endpoint="character-basic", status_class=cls) or 0.0

    before = {cls: count(cls) for cls in ("2xx", "4xx", "5xx", "error")}
    fake_api.script(BASIC, nexon_error("OPENAPI00001", 500), nexon_error("OPENAPI00003", 400))
    client = make_client()
    with pytest.raises(RecordError):
        await client.character_basic("ocid", None)
    await client.character_basic("ocid", None)
    refused = make_client(base_url="http://127.0.0.1:1")
    with pytest.raises(RecordError):
        await refused.character_basic("ocid", None)
    assert count("5xx") == before["5xx"] + 1
    assert count("4xx") == before["4xx"] + 1
    assert count("2xx") == before["2xx"] + 1
    assert count("error") > before["error"]  # no response: connection refused


@pytest.mark.parametrize("code", ["OPENAPI00003", "OPENAPI00004"])
async def test_bad_identifier_or_parameter_fails_the_record_without_retry(
    fake_api: FakeNexon, make_client: ClientFactory, code: str
) -> None:
    fake_api.script(BASIC, nexon_error(code, 400, "Please input valid id"))
    with pytest.raises(RecordError) as info:
        await make_client().character_basic("bad-ocid", None)
    err = info.value
    assert (err.code, err.status, err.attempts) == (code, 400, 1)
    assert (err.endpoint, err.key, err.message) == (BASIC, "bad-ocid", "Please input valid id")
    assert fake_api.count(BASIC) == 1


@pytest.mark.parametrize(
    ("code", "status"), [("OPENAPI00002", 403), ("OPENAPI00005", 400), ("OPENAPI00006", 400)]
)
async def test_key_permission_and_path_errors_fail_the_run(
    fake_api: FakeNexon, make_client: ClientFactory, code: str, status: int
) -> None:
    fake_api.script(ID, nexon_error(code, status))
    with pytest.raises(RunFatalError) as info:
        await make_client().character_id("someone")
    assert (info.value.code, info.value.status, info.value.key) == (code, status, "someone")
    assert fake_api.count(ID) == 1


async def test_rate_limit_answer_slows_the_limiter_retries_and_it_recovers(
    fake_api: FakeNexon, make_client: ClientFactory
) -> None:
    limiter = GcraLimiter(1000, adaptive=AdaptiveRate(hold=0.05, recover_per_second=20.0))
    fake_api.script(BASIC, nexon_error("OPENAPI00007", 429, "Too Many Requests"))
    fp = "default"  # the configured key name, never derived from the key
    before = sample("maplecollect_nexon_rate_limited_total", key=fp)
    resp = await make_client(limiter=limiter).character_basic("ocid", None)
    assert resp.attempts == 2
    assert limiter.effective_rate < 1000
    assert sample("maplecollect_nexon_rate_limited_total", key=fp) == before + 1
    for _ in range(500):  # recovery is gradual; poll, do not time it
        if limiter.effective_rate == 1000:
            break
        await asyncio.sleep(0.01)
    assert limiter.effective_rate == 1000


@pytest.mark.parametrize(
    ("code", "status"), [("OPENAPI00009", 400), ("OPENAPI00010", 400), ("OPENAPI00011", 503)]
)
async def test_pause_holds_every_request_then_retries(
    fake_api: FakeNexon, make_client: ClientFactory, code: str, status: int
) -> None:
    events: list[tuple[bool, float]] = []
    fake_api.script(BASIC, nexon_error(code, status, "come back later"))
    client = make_client(pause=PausePolicy(pause_seconds=0.2, max_pause_seconds=5))
    closed = asyncio.Event()

    def on_pause(paused: bool, reason: str) -> None:
        assert code in reason
        events.append((paused, time.monotonic()))
        if paused:
            closed.set()

    client.on_pause = on_pause
    first = asyncio.create_task(client.character_basic("ocid-a", None))
    await closed.wait()
    assert client.paused
    second = asyncio.create_task(client.character_basic("ocid-b", None))  # must wait too
    a, b = await asyncio.gather(first, second)
    assert (a.attempts, b.attempts) == (2, 1)
    assert [paused for paused, _ in events] == [True, False]
    assert not client.paused
    # Nothing reached the API while the gate was shut: both retries came after it opened.
    reopened = events[1][1]
    assert fake_api.count(BASIC) == 3
    assert all(s.at >= reopened for s in fake_api.seen[1:])


@pytest.mark.parametrize(
    ("code", "status", "words"),
    [("OPENAPI00009", 400, "data not ready"), ("OPENAPI00011", 503, "maintenance")],
)
async def test_pause_budget_exhausted_fails_the_run(
    fake_api: FakeNexon, make_client: ClientFactory, code: str, status: int, words: str
) -> None:
    fake_api.default = nexon_error(code, status, "not yet")
    client = make_client(pause=PausePolicy(pause_seconds=0.02, max_pause_seconds=0.1))
    with pytest.raises(RunFatalError, match=words) as info:
        await client.character_basic("ocid", "2026-11-01")
    assert info.value.code == code
    assert 2 <= fake_api.count(BASIC) == info.value.attempts


async def test_non_json_gateway_error_is_retried(
    fake_api: FakeNexon, make_client: ClientFactory
) -> None:
    fake_api.script(BASIC, (502, b"<html>502 Bad Gateway</html>"), (503, b""))
    resp = await make_client().character_basic("ocid", None)
    assert resp.attempts == 3


async def test_invalid_json_in_a_200_is_retried(
    fake_api: FakeNexon, make_client: ClientFactory
) -> None:
    # Invalid JSON is a truncated transfer: the next attempt may well be whole.
    fake_api.script(BASIC, (200, b'{"date": "2026-11-01", "character_name": '))
    fake_api.script(ID, (200, b'{"ocid": '), (200, b'{"ocid": "x"}'))
    assert (await make_client().character_basic("ocid", None)).attempts == 2
    assert (await make_client().character_id("name")).attempts == 2
    fake_api.default = (200, b"<html>")
    with pytest.raises(RecordError) as info:
        await make_client().character_basic("ocid", None)
    assert (info.value.code, info.value.attempts) == ("BAD_BODY", 4)


@pytest.mark.parametrize(
    ("path", "body"),
    [
        (ID, b'{"nope": 1}'),
        (ID, b'{"ocid": ""}'),
        (BASIC, b'{"character_name": "no date field"}'),
        (BASIC, b"[1, 2]"),
        (ITEMS, b'"a string"'),
        (RANKING, b'{"rows": []}'),  # no `ranking`: must never read as the last page
    ],
)
async def test_a_200_of_another_shape_is_a_bad_body_failure_without_retry(
    fake_api: FakeNexon, make_client: ClientFactory, path: str, body: bytes
) -> None:
    fake_api.default = (200, body)
    client = make_client()
    call = {
        ID: lambda: client.character_id("name"),
        BASIC: lambda: client.character_basic("ocid", None),
        ITEMS: lambda: client.item_equipment("ocid", None),
        RANKING: lambda: client.ranking_overall(date=None, world_type=0),
    }[path]
    with pytest.raises(RecordError) as info:
        await call()
    assert (info.value.code, info.value.status, info.value.attempts) == ("BAD_BODY", 200, 1)
    assert fake_api.count(path) == 1


@pytest.mark.parametrize("path", [ID, BASIC, ITEMS, RANKING])
async def test_a_200_with_an_error_object_is_judged_by_its_name(
    fake_api: FakeNexon, make_client: ClientFactory, path: str
) -> None:
    client = make_client(pause=PausePolicy(pause_seconds=0.02, max_pause_seconds=5))
    call = {
        ID: lambda: client.character_id("name"),
        BASIC: lambda: client.character_basic("ocid", None),
        ITEMS: lambda: client.item_equipment("ocid", None),
        RANKING: lambda: client.ranking_overall(date=None, world_type=0),
    }[path]
    good = {ID: b'{"ocid": "x"}', RANKING: b'{"ranking": []}'}.get(path, OK_BASIC)
    # 00001 (server error) is retried, 00009 (not ready) pauses, then the real answer.
    fake_api.script(path, nexon_error("OPENAPI00001", 200), nexon_error("OPENAPI00009", 200))
    fake_api.script(path, (200, good))
    resp = await call()
    assert resp.body == good and resp.attempts == 3
    # 00003 (unknown id) fails the key at once, never stored as data.
    fake_api.script(path, nexon_error("OPENAPI00003", 200, "no such character"))
    with pytest.raises(RecordError) as info:
        await call()
    assert (info.value.code, info.value.status, info.value.attempts) == ("OPENAPI00003", 200, 1)
    assert info.value.message == "no such character"
    # 00005 (invalid key) fails the run.
    fake_api.script(path, nexon_error("OPENAPI00005", 200))
    with pytest.raises(RunFatalError) as fatal:
        await call()
    assert fatal.value.code == "OPENAPI00005"


async def test_connection_reset_is_retried(fake_api: FakeNexon, make_client: ClientFactory) -> None:
    fake_api.script(BASIC, reset_connection, reset_connection)
    resp = await make_client().character_basic("ocid", None)
    # aiohttp itself resends once when a reused keep-alive connection drops (RFC 9112
    # §9.3.1), so the client may see one failed attempt where the server saw two.
    assert resp.status == 200 and resp.attempts >= 2
    assert fake_api.count(BASIC) == 3


async def test_read_timeout_is_retried(fake_api: FakeNexon, make_client: ClientFactory) -> None:
    fake_api.script(BASIC, slow(5.0))  # read timeout of the test client is 0.2 s
    resp = await make_client().character_basic("ocid", None)
    assert resp.attempts == 2


@pytest.mark.parametrize(
    ("reply", "code"),
    [
        (slow(5.0), "TIMEOUT"),
        ((502, b"<html>bad gateway</html>"), "HTTP_5XX"),
        ((404, b"not found"), "HTTP_4XX"),
    ],
)
async def test_failures_without_a_nexon_name_carry_a_code(
    fake_api: FakeNexon, make_client: ClientFactory, reply: Any, code: str
) -> None:
    fake_api.default = reply
    with pytest.raises(RecordError) as info:
        await make_client().character_basic("ocid", None)
    assert info.value.code == code


async def test_retries_stop_at_the_attempt_bound(
    fake_api: FakeNexon, make_client: ClientFactory
) -> None:
    fake_api.default = nexon_error("OPENAPI00001", 500, "boom")
    with pytest.raises(RecordError) as info:
        await make_client().character_basic("ocid", None)
    assert info.value.attempts == 4 == fake_api.count(BASIC)
    assert (info.value.code, info.value.status) == ("OPENAPI00001", 500)
    assert "boom" in info.value.message


async def test_retries_stop_at_the_time_bound(
    fake_api: FakeNexon, make_client: ClientFactory
) -> None:
    fake_api.default = (502, b"bad gateway")
    policy = RetryPolicy(
        max_attempts=1000, max_seconds=0.1, base_delay=0.03, max_delay=0.03, rand=lambda: 1.0
    )
    with pytest.raises(RecordError) as info:
        await make_client(retry=policy).character_basic("ocid", None)
    assert 1 < info.value.attempts < 10
    assert info.value.attempts == fake_api.count(BASIC)


async def test_transport_failures_exhausted_become_a_record_error(
    make_client: ClientFactory,
) -> None:
    client = make_client(base_url="http://127.0.0.1:1")  # nothing listens there
    with pytest.raises(RecordError) as info:
        await client.character_basic("ocid", None)
    assert info.value.attempts == 4 and info.value.status is None
    assert info.value.code == "TRANSPORT"
    assert isinstance(info.value.__cause__, aiohttp.ClientError)


async def test_redirects_are_not_followed(fake_api: FakeNexon, make_client: ClientFactory) -> None:
    async def redirect(request: web.Request) -> web.StreamResponse:
        raise web.HTTPFound("http://127.0.0.1:1/elsewhere")

    fake_api.script(BASIC, redirect)
    with pytest.raises(RecordError) as info:
        await make_client().character_basic("ocid", None)
    assert info.value.status == 302 and fake_api.count() == 1


async def test_in_flight_requests_are_bounded(
    fake_api: FakeNexon, make_client: ClientFactory
) -> None:
    fake_api.default = slow(0.05)
    client = make_client(max_in_flight=3)
    await asyncio.gather(*(client.character_basic(f"o{i}", None) for i in range(15)))
    assert fake_api.max_in_flight == 3


async def test_outcomes_are_counted_by_endpoint(
    fake_api: FakeNexon, make_client: ClientFactory
) -> None:
    fp = "default"  # the configured key name, never derived from the key
    labels = {"key": fp, "endpoint": "ocid-lookup"}
    ok = sample("maplecollect_nexon_requests_total", **labels, outcome="success")
    failed = sample("maplecollect_nexon_requests_total", **labels, outcome="record_fail")
    fake_api.script(ID, (200, b'{"ocid": "x"}'), nexon_error("OPENAPI00003", 400))
    client = make_client()
    await client.character_id("a")
    with pytest.raises(RecordError):
        await client.character_id("b")
    assert sample("maplecollect_nexon_requests_total", **labels, outcome="success") == ok + 1
    assert (
        sample("maplecollect_nexon_requests_total", **labels, outcome="record_fail") == failed + 1
    )


async def test_use_after_close_is_an_error(make_client: ClientFactory) -> None:
    client = make_client()
    async with client:
        pass
    assert client.closed
    with pytest.raises(ClosedError):
        await client.character_basic("ocid", None)
    with pytest.raises(ClosedError):
        async with client:
            pass


@pytest.mark.usefixtures("clean_env")
async def test_from_settings_uses_an_injected_session_and_leaves_it_open(
    fake_api: FakeNexon,
) -> None:
    settings = Settings(
        NEXON_API_KEY=FAKE_KEY,
        nexon_base_url=fake_api.url,
        max_in_flight=5,
        retry_base_delay=0.001,
        pause_seconds=0.05,
    )
    async with aiohttp.ClientSession() as session:
        async with NexonClient.from_settings(
            settings, session=session, limiter=GcraLimiter(100)
        ) as client:
            assert client.max_in_flight == 5 and client.pause.pause_seconds == 0.05
            assert (await client.character_basic("ocid", None)).status == 200
        assert not session.closed
    assert fake_api.seen[0].api_key == FAKE_KEY


@pytest.mark.usefixtures("clean_env")
def test_from_settings_without_a_key_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="NEXON_API_KEY is not set"):
        NexonClient.from_settings(Settings())
