"""Every fault switch, and latency sampling (no timing assertions)."""

from __future__ import annotations

import asyncio
import random
import statistics

import aiohttp
import orjson
import pytest

from maplecollect.errors import ConfigError
from maplecollect.sim import ID_PATH, RANKING_PATH, Faults, Latency, Simulator, serve_simulator
from maplecollect.sim.apierrors import ALL_ERRORS
from maplecollect.sim.faults import Fault, pick_fault, sample_latency

from .helpers import DAY, KEY, Api, small_config


async def _stats(api: Api) -> dict[str, dict[str, int]]:
    return dict((await api.sim("/_sim/stats")).json()["requests"])


async def test_server_error(api: Api) -> None:
    await api.sim("/_sim/config", {"faults": {"errorRate": 1.0}})
    reply = await api.get(RANKING_PATH, {"date": DAY})
    assert (reply.status, reply.error_name) == (500, "OPENAPI00001")


async def test_ok_error_is_a_200_with_an_error_body(api: Api) -> None:
    await api.sim("/_sim/config", {"faults": {"okErrorRate": 1.0}})
    reply = await api.get(RANKING_PATH, {"date": DAY})
    assert (reply.status, reply.error_name) == (200, "OPENAPI00001")
    assert (await _stats(api))[RANKING_PATH] == {"200-error": 1}
    assert (await api.sim("/_sim/config")).json()["faults"]["okErrorRate"] == 1.0


async def test_gateway_html(api: Api) -> None:
    await api.sim("/_sim/config", {"faults": {"gatewayRate": 1.0}})
    reply = await api.get(RANKING_PATH, {"date": DAY})
    assert reply.status == 502
    assert reply.content_type.startswith("text/html")
    with pytest.raises(orjson.JSONDecodeError):
        orjson.loads(reply.body)


async def test_connection_reset(api: Api) -> None:
    await api.sim("/_sim/config", {"faults": {"resetRate": 1.0}})
    with pytest.raises(aiohttp.ClientConnectionError):
        await api.get(RANKING_PATH, {"date": DAY})
    # aiohttp retries a GET once on a reused connection, so one or two resets.
    assert set((await _stats(api))[RANKING_PATH]) == {"reset"}
    await api.sim("/_sim/config", {"faults": {"resetRate": 0.0}})
    assert (await api.get(RANKING_PATH, {"date": DAY})).status == 200, "server still serves"


async def test_hang_outlasts_the_client_timeout(api: Api, simulator: Simulator) -> None:
    await api.sim("/_sim/config", {"faults": {"hangRate": 1.0, "hangSeconds": 120}})
    with pytest.raises(asyncio.TimeoutError):
        async with api.session.get(
            RANKING_PATH,
            headers={"x-nxopen-api-key": KEY},
            timeout=aiohttp.ClientTimeout(total=0.2),
        ) as resp:
            await resp.read()
    # The client hung up, so the handler is cancelled (no 120 s wait at shutdown).
    for _ in range(200):
        if (await _stats(api)).get(RANKING_PATH) == {"cancelled": 1}:
            break
        await asyncio.sleep(0.01)
    assert (await _stats(api))[RANKING_PATH] == {"cancelled": 1}


async def test_shutdown_ends_a_hang_in_progress() -> None:
    sim = Simulator(small_config(faults=Faults(hang_rate=1.0, hang_seconds=3600)))
    async with aiohttp.ClientSession() as session:
        async with serve_simulator(sim) as running:
            request = asyncio.ensure_future(
                session.get(f"{running.base_url}{ID_PATH}", headers={"x-nxopen-api-key": KEY})
            )
            for _ in range(3000):
                if sim.pending_sleeps:
                    break
                await asyncio.sleep(0.01)
            assert sim.pending_sleeps == 1
        # Leaving the block woke the hanging handler; the request ends one way or another.
        done, _ = await asyncio.wait([request], timeout=30)
        assert done, "shutdown did not end the hang"
        if request.exception() is None:
            request.result().release()


async def test_partial_rates_mix_outcomes_deterministically() -> None:
    async def run() -> list[int]:
        sim = Simulator(small_config(faults=Faults(error_rate=0.3, gateway_rate=0.2)))
        async with serve_simulator(sim) as running, aiohttp.ClientSession(running.base_url) as s:
            api = Api(s)
            return [(await api.get(ID_PATH, {"character_name": "x"})).status for _ in range(60)]

    first, second = await run(), await run()
    assert first == second, "fault draws follow the seed"
    assert {400, 500, 502} == set(first)


async def test_invalid_fault_patch_changes_nothing(api: Api) -> None:
    reply = await api.sim("/_sim/config", {"faults": {"errorRate": 0.7, "hangRate": 0.7}})
    assert reply.status == 400
    assert "add up" in reply.json()["error"]
    assert (await api.sim("/_sim/config")).json()["faults"]["errorRate"] == 0.0


def test_pick_fault_respects_rates() -> None:
    rng = random.Random(1)
    faults = Faults(
        error_rate=0.1, gateway_rate=0.2, reset_rate=0.3, hang_rate=0.1, ok_error_rate=0.1
    )
    draws = [pick_fault(faults, rng) for _ in range(20_000)]
    share = {f: draws.count(f) / len(draws) for f in Fault}
    expected = {
        Fault.ERROR: 0.1,
        Fault.GATEWAY: 0.2,
        Fault.RESET: 0.3,
        Fault.HANG: 0.1,
        Fault.OK_ERROR: 0.1,
    }
    for fault, rate in expected.items():
        assert abs(share[fault] - rate) < 0.02
    assert abs(share[Fault.NONE] - 0.2) < 0.02
    assert pick_fault(Faults(), rng) is Fault.NONE


def test_latency_distributions() -> None:
    rng = random.Random(2)
    assert sample_latency(Latency(), rng) == 0.0
    assert sample_latency(Latency(p50_ms=40), rng) == 0.040
    samples = sorted(sample_latency(Latency(p50_ms=20, p99_ms=200), rng) for _ in range(20_000))
    assert abs(statistics.median(samples) - 0.020) < 0.002
    assert abs(samples[int(0.99 * len(samples))] - 0.200) < 0.04


@pytest.mark.parametrize(
    "kwargs", [{"p50_ms": -1}, {"p50_ms": 50, "p99_ms": 10}, {"p50_ms": 0, "p99_ms": 10}]
)
def test_invalid_latency(kwargs: dict[str, float]) -> None:
    with pytest.raises(ConfigError):
        Latency(**kwargs)


async def test_latency_is_applied_as_a_wakeable_sleep(api: Api, simulator: Simulator) -> None:
    await api.sim("/_sim/config", {"latency": {"p50Ms": 60_000}})
    request = asyncio.ensure_future(api.get(ID_PATH, {"character_name": "x"}))
    for _ in range(3000):
        if simulator.pending_sleeps:
            break
        await asyncio.sleep(0.01)
    assert simulator.pending_sleeps == 1
    assert not request.done()
    simulator.wake_sleepers()  # what shutdown does
    reply = await request
    assert reply.error_name == "OPENAPI00003"
    simulator.allow_sleeps()


@pytest.mark.parametrize(
    ("code", "status"),
    [
        ("OPENAPI00001", 500),
        ("OPENAPI00002", 403),
        ("OPENAPI00003", 400),
        ("OPENAPI00004", 400),
        ("OPENAPI00005", 400),
        ("OPENAPI00006", 400),
        ("OPENAPI00007", 429),
        ("OPENAPI00009", 400),
        ("OPENAPI00010", 400),
        ("OPENAPI00011", 503),
    ],
)
def test_error_codes_have_the_real_statuses(code: str, status: int) -> None:
    error = next(e for e in ALL_ERRORS if e.name == code)
    assert error.status == status
    assert orjson.loads(error.body) == {"error": {"name": code, "message": error.message}}
