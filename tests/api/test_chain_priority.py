"""The daily chain has priority over loops; one-shot runs and the chain exclude each other.

Rules in docs/control-api.md "The daily chain has priority". Both orders (loop
first, chain first) through the API of the real service, on SQLite and on
PostgreSQL. ITEM_EQUIPMENT runs are gated by kind (loop iteration, chain run,
one-shot) so each test decides exactly when which run may end.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import insert

from maplecollect.control.context import RunContext
from maplecollect.control.supervisor import utcnow
from maplecollect.errors import RunFatalError
from maplecollect.ids import new_id
from maplecollect.phases import Phase
from maplecollect.state.models import ChainRow, ChainStatus
from maplecollect.state.repository import Repository
from support.fake_phases import walkers
from support.service import RunningService

LOOP, CHAIN, ONE_SHOT = "loop", "chain", "one-shot"


@dataclass
class Gated:
    """A phase whose runs go on until stopped or until the gate of their kind opens.

    Records which runs started, and the most runs it ever had at once (the slot
    rule says 1).
    """

    gates: dict[str, asyncio.Event] = field(
        default_factory=lambda: {k: asyncio.Event() for k in (LOOP, CHAIN, ONE_SHOT)}
    )
    started: list[tuple[str, str]] = field(default_factory=list)
    active: int = 0
    most_active: int = 0
    fail_one_shots: bool = False

    async def run(self, ctx: RunContext) -> None:
        kind = LOOP if ctx.run.loop_id else CHAIN if ctx.run.chain_id else ONE_SHOT
        if kind == ONE_SHOT and self.fail_one_shots:
            raise RunFatalError("OPENAPI00005 invalid API key (test)", code="OPENAPI00005")
        self.started.append((kind, ctx.run_id))
        self.active += 1
        self.most_active = max(self.most_active, self.active)
        ctx.progress.set_total(1)
        waits = [asyncio.create_task(ctx.stop.wait()), asyncio.create_task(self.gates[kind].wait())]
        try:
            await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
            ctx.progress.add(records=1)
        finally:
            self.active -= 1
            for task in waits:
                task.cancel()


@dataclass
class Held:
    """RANKING_FETCH: one record, then held until `release` is set (or a stop).

    One record because a root run with none ends FAILED (EMPTY_OUTPUT).
    """

    release: asyncio.Event = field(default_factory=asyncio.Event)

    async def run(self, ctx: RunContext) -> None:
        ctx.progress.set_total(1)
        ctx.progress.add(records=1)
        waits = [asyncio.create_task(ctx.stop.wait()), asyncio.create_task(self.release.wait())]
        try:
            await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in waits:
                task.cancel()


@pytest.fixture
def gated() -> Gated:
    return Gated()


@pytest.fixture
def phases(gated: Gated) -> dict[Phase, Any]:
    """Walkers, with ITEM_EQUIPMENT gated (overrides tests/api/conftest.py)."""
    runners: dict[Phase, Any] = dict(walkers())
    runners[Phase.RANKING_FETCH] = Held()
    runners[Phase.ITEM_EQUIPMENT] = gated
    return runners


def _release_ranking(phases: dict[Phase, Any]) -> None:
    ranking: Held = phases[Phase.RANKING_FETCH]
    ranking.release.set()


async def _poll(
    svc: RunningService, path: str, predicate: Callable[[Any], bool], within: float = 30
) -> Any:
    """GET `path` until `predicate(body)` holds; fails after `within` s naming the last body."""
    last: Any = None
    try:
        async with asyncio.timeout(within):
            while True:
                res = await svc.client.get(path)
                last = res.json()
                if res.status_code == 200 and predicate(last):
                    return last
                await asyncio.sleep(0.02)
    except TimeoutError:
        raise AssertionError(f"{path} never matched within {within} s; last: {last}") from None


async def _loop(svc: RunningService, predicate: Callable[[dict[str, Any]], bool]) -> Any:
    status = await _poll(
        svc,
        "/api/internal/run-status",
        lambda b: (lp := b["loopSummaries"]["ITEM_EQUIPMENT"]) is not None and predicate(lp),
    )
    return status["loopSummaries"]["ITEM_EQUIPMENT"]


async def _upstream_ready(svc: RunningService, phases: dict[Phase, Any]) -> str:
    """A COMPLETED OCID_LOOKUP (the loop's upstream) from one-shot runs."""
    res = await svc.client.post("/api/internal/trigger/phase/RANKING_FETCH")
    assert res.status_code == 202, res.text
    _release_ranking(phases)
    ranking = await svc.wait_run(res.json()["runId"])
    assert ranking["status"] == "COMPLETED"
    phases[Phase.RANKING_FETCH].release = asyncio.Event()  # the chain's ranking blocks again
    return await svc.complete("OCID_LOOKUP", upstream=ranking["runId"])


async def _stop_loop(svc: RunningService) -> None:
    res = await svc.client.post("/api/internal/stop/loop/phase/ITEM_EQUIPMENT")
    assert res.status_code == 202, res.text
    await _loop(svc, lambda lp: lp["status"] == "STOPPED")


async def test_loop_first_the_chain_stops_the_iteration_and_the_loop_waits_then_goes_on(
    svc: RunningService, phases: dict[Phase, Any], gated: Gated
) -> None:
    await _upstream_ready(svc, phases)
    res = await svc.client.post("/api/internal/loop/phase/ITEM_EQUIPMENT")
    assert res.status_code == 202, res.text
    loop_id = res.json()["loopId"]
    loop = await _loop(svc, lambda lp: lp["currentRunId"] is not None)
    iteration = loop["currentRunId"]

    # A running loop does not refuse the daily chain.
    res = await svc.client.post("/api/internal/trigger/daily")
    assert res.status_code == 202, res.text
    chain_id = res.json()["chainId"]
    # While the chain is in RANKING_FETCH the iteration goes on.
    assert (await svc.client.get(f"/api/internal/runs/{iteration}")).json()["status"] == "RUNNING"

    _release_ranking(phases)
    # At the fan-out the chain stops the iteration and takes ITEM_EQUIPMENT.
    waiting = await _loop(svc, lambda lp: lp["status"] == "WAITING_FOR_CHAIN")
    assert waiting["loopId"] == loop_id
    assert chain_id in waiting["lastError"]
    stopped = await svc.wait_run(iteration)
    assert stopped["status"] == "STOPPED"
    assert stopped["loopId"] == loop_id
    chain = await _poll(
        svc,
        f"/api/internal/chains/{chain_id}",
        lambda c: c["runs"].get("ITEM_EQUIPMENT", {}).get("status") == "RUNNING",
    )
    assert (await _loop(svc, lambda lp: True))["status"] == "WAITING_FOR_CHAIN"

    gated.gates[CHAIN].set()
    gated.gates[LOOP].set()
    chain = await _poll(svc, f"/api/internal/chains/{chain_id}", lambda c: c["status"] != "RUNNING")
    assert chain["status"] == "COMPLETED", chain
    chain_ocid = chain["runs"]["OCID_LOOKUP"]["runId"]
    # The loop goes on after the chain, fed by the chain's OCID_LOOKUP; the
    # iteration the chain stopped was neither a failure nor counted.
    loop = await _loop(svc, lambda lp: lp["status"] == "RUNNING" and lp["iterationCount"] >= 1)
    assert loop["loopId"] == loop_id
    assert loop["consecutiveFailures"] == 0
    assert loop["lastError"] is None
    after = (await svc.client.get(f"/api/internal/runs/{loop['lastRunId']}")).json()
    assert after["upstreamRunId"] == chain_ocid
    assert gated.started[:2] == [
        (LOOP, iteration),
        (CHAIN, chain["runs"]["ITEM_EQUIPMENT"]["runId"]),
    ]
    assert gated.most_active == 1
    await _stop_loop(svc)


async def test_chain_first_the_loop_waits_for_the_chain_then_goes_on(
    svc: RunningService, phases: dict[Phase, Any], gated: Gated
) -> None:
    await _upstream_ready(svc, phases)
    res = await svc.client.post("/api/internal/trigger/daily")
    assert res.status_code == 202, res.text
    chain_id = res.json()["chainId"]

    # Accepted, but no iteration while the chain has ITEM_EQUIPMENT still to do.
    res = await svc.client.post("/api/internal/loop/phase/ITEM_EQUIPMENT")
    assert res.status_code == 202, res.text
    loop_id = res.json()["loopId"]
    waiting = await _loop(svc, lambda lp: lp["status"] == "WAITING_FOR_CHAIN")
    assert waiting["loopId"] == loop_id
    assert waiting["currentRunId"] is None and waiting["iterationCount"] == 0
    assert chain_id in waiting["lastError"]

    _release_ranking(phases)
    chain = await _poll(
        svc,
        f"/api/internal/chains/{chain_id}",
        lambda c: c["runs"].get("ITEM_EQUIPMENT", {}).get("status") == "RUNNING",
    )
    chain_item = chain["runs"]["ITEM_EQUIPMENT"]["runId"]
    # The chain's run holds the slot: a second loop start is LOOP_ALREADY_ACTIVE and
    # a one-shot trigger is told to follow the chain's run.
    again = await svc.client.post("/api/internal/loop/phase/ITEM_EQUIPMENT")
    assert again.status_code == 409
    assert again.json()["status"] == "LOOP_ALREADY_ACTIVE"
    one_shot = await svc.client.post(
        "/api/internal/trigger/phase/ITEM_EQUIPMENT", headers={"X-Upstream-Run-Id": "latest"}
    )
    assert one_shot.status_code == 409
    assert one_shot.json() == {
        "status": "ALREADY_RUNNING",
        "phase": "ITEM_EQUIPMENT",
        "runId": chain_item,
        "chainId": chain_id,
    }
    assert (await _loop(svc, lambda lp: True))["status"] == "WAITING_FOR_CHAIN"

    gated.gates[LOOP].set()
    gated.gates[CHAIN].set()
    chain = await _poll(svc, f"/api/internal/chains/{chain_id}", lambda c: c["status"] != "RUNNING")
    assert chain["status"] == "COMPLETED", chain
    loop = await _loop(svc, lambda lp: lp["status"] == "RUNNING" and lp["iterationCount"] >= 1)
    after = (await svc.client.get(f"/api/internal/runs/{loop['lastRunId']}")).json()
    assert after["upstreamRunId"] == chain["runs"]["OCID_LOOKUP"]["runId"]
    assert gated.started[0] == (CHAIN, chain_item)
    assert all(kind == LOOP for kind, _ in gated.started[1:])
    assert gated.most_active == 1
    await _stop_loop(svc)


async def test_one_shot_triggers_and_the_chain_exclude_each_other(
    svc: RunningService, phases: dict[Phase, Any], gated: Gated
) -> None:
    await _upstream_ready(svc, phases)
    gated.fail_one_shots = True
    res = await svc.client.post(
        "/api/internal/trigger/phase/ITEM_EQUIPMENT", headers={"X-Upstream-Run-Id": "latest"}
    )
    failed_run = await svc.wait_run(res.json()["runId"])
    assert failed_run["status"] == "FAILED"
    failed = failed_run["runId"]
    gated.fail_one_shots = False
    # Chain first: a phase it has still to do is refused (nothing to follow yet),
    # a phase whose run it holds is ALREADY_RUNNING with that run and the chain.
    res = await svc.client.post("/api/internal/trigger/daily")
    chain_id, ranking = res.json()["chainId"], res.json()["runId"]
    res = await svc.client.post(f"/api/internal/resume/run/{failed}")
    assert res.status_code == 409
    assert (res.json()["status"], res.json()["chainId"]) == ("CHAIN_ACTIVE", chain_id)
    res = await svc.client.post(
        "/api/internal/trigger/phase/ITEM_EQUIPMENT", headers={"X-Upstream-Run-Id": "latest"}
    )
    assert res.status_code == 409
    body = res.json()
    assert body.pop("message").startswith(f"the daily chain {chain_id}")
    assert body == {"status": "CHAIN_ACTIVE", "phase": "ITEM_EQUIPMENT", "chainId": chain_id}
    res = await svc.client.post("/api/internal/trigger/phase/RANKING_FETCH")
    assert res.status_code == 409
    assert res.json() == {
        "status": "ALREADY_RUNNING",
        "phase": "RANKING_FETCH",
        "runId": ranking,
        "chainId": chain_id,
    }
    _release_ranking(phases)
    gated.gates[CHAIN].set()
    chain = await _poll(svc, f"/api/internal/chains/{chain_id}", lambda c: c["status"] != "RUNNING")
    assert chain["status"] == "COMPLETED", chain

    # One-shot first: the daily trigger is refused up front, naming the run, no chain.
    res = await svc.client.post(
        "/api/internal/trigger/phase/ITEM_EQUIPMENT", headers={"X-Upstream-Run-Id": "latest"}
    )
    assert res.status_code == 202, res.text
    one_shot = res.json()["runId"]
    res = await svc.client.post("/api/internal/trigger/daily")
    assert res.status_code == 409
    assert res.json() == {
        "status": "ALREADY_RUNNING",
        "phase": "ITEM_EQUIPMENT",
        "runId": one_shot,
        "chainId": None,
    }
    gated.gates[ONE_SHOT].set()
    assert (await svc.wait_run(one_shot))["status"] == "COMPLETED"


async def _insert_running_chain(repo: Repository) -> str:
    """A chain between two of its phases (it holds no slot), as another replica shows it.

    Its heartbeat is in the future so this replica's sweep leaves it alone.
    """
    now = utcnow()
    chain_id = new_id("daily", now)
    row = {
        "chain_id": chain_id,
        "status": ChainStatus.RUNNING.value,
        "snapshot_date": "2026-01-05",
        "owner": "other-replica",
        "heartbeat_at": now + timedelta(days=1),
        "started_at": now,
        "updated_at": now,
    }
    async with repo.engine.begin() as conn:
        await conn.execute(insert(ChainRow).values(**row))
    return chain_id


async def test_daily_409_between_two_phases_of_a_chain_names_the_chain(
    svc: RunningService, phases: dict[Phase, Any], gated: Gated
) -> None:
    """Issue 16: the 409 put the chain id in `runId`; now `chainId` is the chain."""
    await _upstream_ready(svc, phases)
    repo: Repository = svc.app.state.repo
    chain_id = await _insert_running_chain(repo)
    res = await svc.client.post("/api/internal/trigger/daily")
    assert res.status_code == 409
    assert res.json() == {
        "status": "ALREADY_RUNNING",
        "phase": None,
        "runId": None,
        "chainId": chain_id,
    }
    assert (await svc.client.get(f"/api/internal/chains/{chain_id}")).status_code == 200

    # A loop started now waits for that chain (it runs on "another replica", so
    # the loop finds out it ended by polling), then goes on.
    res = await svc.client.post("/api/internal/loop/phase/ITEM_EQUIPMENT")
    assert res.status_code == 202, res.text
    await _loop(svc, lambda lp: lp["status"] == "WAITING_FOR_CHAIN")
    assert gated.started == []
    await repo.finish_chain(chain_id, ChainStatus.FAILED, now=utcnow(), error_message="test")
    gated.gates[LOOP].set()
    await _loop(svc, lambda lp: lp["status"] == "RUNNING" and lp["iterationCount"] >= 1)
    await _stop_loop(svc)
