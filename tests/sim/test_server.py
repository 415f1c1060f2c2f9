"""Serving: the async context manager, the thread runner, reuse and start-up failures."""

from __future__ import annotations

import socket
import urllib.error
import urllib.request

import aiohttp
import orjson
import pytest

from maplecollect.sim import (
    ID_PATH,
    RunningSimulator,
    Simulator,
    run_simulator_in_thread,
    serve_simulator,
)

from .helpers import KEY, small_config


def _get(url: str, key: str | None = KEY) -> tuple[int, bytes]:
    request = urllib.request.Request(url, headers={"x-nxopen-api-key": key} if key else {})
    try:
        with urllib.request.urlopen(request, timeout=10) as resp:
            return resp.status, resp.read()
    except urllib.error.HTTPError as exc:
        with exc:
            return exc.code, exc.read()


def test_thread_runner_serves_sync_code() -> None:
    sim = Simulator(small_config())
    name = next(c.name for c in sim.world.characters)
    with run_simulator_in_thread(sim) as running:
        assert running.base_url.startswith("http://127.0.0.1:")
        status, body = _get(f"{running.base_url}{ID_PATH}?character_name={_quote(name)}")
        world = orjson.loads(_get(f"{running.base_url}/_sim/world", key=None)[1])
    assert status == 200
    assert orjson.loads(body)["ocid"] == sim.world.by_name[name].ocid
    assert world["characters"] == 450
    with pytest.raises(OSError):
        _get(f"{running.base_url}/_sim/world")  # stopped


def _quote(text: str) -> str:
    return urllib.parse.quote(text)


async def test_a_simulator_can_be_served_twice() -> None:
    sim = Simulator(small_config())
    for _ in range(2):
        async with (
            serve_simulator(sim) as running,
            aiohttp.ClientSession() as session,
            session.get(f"{running.base_url}/_sim/world") as resp,
        ):
            assert resp.status == 200


async def test_port_in_use_is_an_error() -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        with pytest.raises(OSError):
            async with serve_simulator(small_config(), port=port):
                pass
        with pytest.raises(OSError), run_simulator_in_thread(small_config(), port=port):
            pass


def test_base_url_brackets_ipv6() -> None:
    sim = Simulator(small_config(characters=5))
    assert RunningSimulator(sim, "::1", 8090).base_url == "http://[::1]:8090"
    assert RunningSimulator(sim, "127.0.0.1", 8090).base_url == "http://127.0.0.1:8090"


def test_app_property_is_an_aiohttp_app() -> None:
    sim = Simulator(small_config(characters=5))
    assert isinstance(sim.app, aiohttp.web.Application)
    assert sim.app is sim.app
