"""The client against the real app (uvicorn on 127.0.0.1, test-double phases): every verb's
answer is typed by the contract, the 409s are typed Conflicts, the wait verbs end."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from maplecollect.client.aio import AsyncControlClient
from maplecollect.client.endpoint import Endpoint
from maplecollect.client.errors import Conflict, ProtocolError, Refused, Unavailable
from maplecollect.client.sync import ControlClient
from maplecollect.client.waiting import Patience, Target, chain_target
from maplecollect.console.service_thread import serve_in_thread
from maplecollect.contract import LoopActive, RunStatus
from maplecollect.phases import Phase
from support.fake_phases import WalkerRunner, walkers
from support.service import fast_settings

TOKEN = "client-test-token-0123456789"
FAST = Patience(timeout=60, poll=0.02)


@pytest.fixture
def api(tmp_path: Path, clean_env: None):
    release = asyncio.Event()
    runners = walkers(CHARACTER_BASIC=WalkerRunner(mode="block", release=release))
    settings = fast_settings(tmp_path, api_token=TOKEN)
    with (
        serve_in_thread(settings, runners=runners) as url,
        ControlClient(Endpoint(url, TOKEN, retries=0)) as client,
    ):
        yield client


def test_trigger_follow_wait_and_typed_conflicts(api: ControlClient) -> None:
    assert api.health().status == "UP"
    ranking = api.trigger_phase(Phase.RANKING_FETCH)
    assert api.wait_run(ranking.run_id, FAST).status == RunStatus.COMPLETED
    ocid = api.trigger_phase(Phase.OCID_LOOKUP, upstream_run_id=ranking.run_id)
    assert api.wait_run(ocid.run_id, FAST).upstream_run_id == ranking.run_id

    basic = api.trigger_phase(Phase.CHARACTER_BASIC)  # blocks until stopped
    again = api.trigger_phase(Phase.CHARACTER_BASIC)
    assert (again.followed, again.run_id) == (True, basic.run_id)
    with pytest.raises(Refused) as busy:
        api.start_loop(Phase.CHARACTER_BASIC)
    assert (busy.value.status, busy.value.code) == (409, "ALREADY_RUNNING")
    with pytest.raises(Conflict) as daily:
        api.trigger_daily()
    assert (daily.value.run_id, daily.value.chain_id) == (basic.run_id, None)
    stop = api.stop_phase(Phase.CHARACTER_BASIC)
    assert (stop.requested, stop.run_id) == (True, basic.run_id)
    assert api.wait_run(basic.run_id, FAST).status == RunStatus.STOPPED

    loop = api.start_loop(Phase.ITEM_EQUIPMENT)
    assert api.start_loop(Phase.ITEM_EQUIPMENT).already_active
    with pytest.raises(Conflict) as held:
        api.trigger_phase(Phase.ITEM_EQUIPMENT)
    assert isinstance(held.value.conflict, LoopActive)
    assert held.value.loop_id == loop.loop_id
    assert api.stop_loop(Phase.ITEM_EQUIPMENT).requested
    idle = api.wait_idle(Phase.ITEM_EQUIPMENT, FAST)
    assert idle.loop_summaries[Phase.ITEM_EQUIPMENT].status == "STOPPED"
    assert not api.stop_loop(Phase.ITEM_EQUIPMENT).requested


def test_daily_chain_wait_and_refusals(api: ControlClient) -> None:
    started = api.trigger_daily()
    polled = chain_target(started.chain_id)  # the same polling, done at another point:
    reached = Target(
        polled.what, polled.call, lambda c: Phase.CHARACTER_BASIC in c.runs, polled.runs
    )
    api.wait(reached, FAST)
    assert api.stop_phase(Phase.CHARACTER_BASIC).requested  # the chain's blocking phase
    chain = api.wait_chain(started.chain_id, FAST)
    assert chain.status != "RUNNING" and Phase.RANKING_FETCH in chain.runs
    with pytest.raises(Refused, match="RUN_NOT_FOUND") as missing:
        api.run("20260102-030000-equip-00000000")
    assert missing.value.status == 404 and missing.value.code == "RUN_NOT_FOUND"
    with pytest.raises(ProtocolError):
        api.run("../health")  # refused before any request


def test_a_wrong_token_and_an_unreachable_service(api: ControlClient) -> None:
    wrong = ControlClient(Endpoint(api.url, "wrong-token-9876543210", retries=0))
    with wrong, pytest.raises(Refused) as refused:
        wrong.run_status()
    assert refused.value.status == 401
    assert "wrong-token" not in str(refused.value)
    gone = ControlClient(Endpoint("http://127.0.0.1:9", TOKEN, retries=1, backoff=0))
    with gone, pytest.raises(Unavailable, match="2 attempt") as down:
        gone.run_status()
    assert TOKEN not in str(down.value)


async def test_the_async_client_reads_the_same_documents(api: ControlClient) -> None:
    ranking = api.trigger_phase(Phase.RANKING_FETCH)
    client = await AsyncControlClient.open(api.endpoint)
    async with client:
        run = await client.wait_run(ranking.run_id, FAST)
        assert run.status == RunStatus.COMPLETED
        assert (await client.run_status()).slots[Phase.RANKING_FETCH].run_id == ranking.run_id
