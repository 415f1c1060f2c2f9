"""ExtApiHook against the real app: a daily 409 is followed by its `chainId` (issue 16).

The service is the real control API (`support/serve_fake.py`: the app of
`maplecollect serve` with fast fake phases) in its own process, not a fake
server. Before apiVersion 2 a daily 409 between two phases of a chain put the
chain id in `runId`; the hook looked it up as a run (404) and the Airflow task
failed instead of following the chain. A chain "between two phases" is written
into the service's database directly, as another replica's chain would look.

Also: the `ITEM_EQUIPMENT_LOOP` scope's call (`loop_phase`) during a chain is
accepted and the loop waits for the chain (docs/control-api.md "The daily chain
has priority"); a one-shot trigger of a phase the chain has still to do is
refused with CHAIN_ACTIVE.
"""

from __future__ import annotations

import sqlite3
import subprocess
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from maplecollect.airflow.hook import ExtApiHook
from maplecollect.client.endpoint import Endpoint
from maplecollect.client.errors import Conflict, Refused
from maplecollect.client.sync import ControlClient
from maplecollect.contract import LoopPublic
from maplecollect.phases import Phase
from support.procs import start_fake_service

AF_ID = "daily_collection_pipeline/scheduled__1/per_phase_trigger_daily"


@pytest.fixture
def service(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    data = tmp_path / "svc"
    data.mkdir()
    proc, url = start_fake_service(data, "CHARACTER_BASIC=block")
    try:
        yield url, data / "maplecollect.db"
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _sql(db: Path, statement: str, *params: Any) -> None:
    with sqlite3.connect(db, timeout=30) as conn:
        conn.execute(statement, params)


def _stamp(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")


def _until(what: str, check: Callable[[], Any], within: float = 60) -> Any:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out after {within} s waiting for {what}")


def test_the_hook_follows_the_chain_id_of_a_daily_409(service: tuple[str, Path]) -> None:
    url, db = service
    hook = ExtApiHook(endpoint=Endpoint(base_url=url, retries=0)).get_conn()
    api = httpx.Client(base_url=url, timeout=30)
    ranking = api.post("/api/internal/trigger/phase/RANKING_FETCH").json()["runId"]
    _until("ranking", lambda: hook.run(ranking).status == "COMPLETED")
    ocid = api.post(
        "/api/internal/trigger/phase/OCID_LOOKUP", headers={"X-Upstream-Run-Id": ranking}
    ).json()["runId"]
    _until("ocid", lambda: hook.run(ocid).status == "COMPLETED")

    # Another replica's chain, between two of its phases: it holds no slot.
    chain_id = "20260103-030000-daily-0a0b0c0d"
    now = datetime.now(UTC)
    _sql(
        db,
        "INSERT INTO chains (chain_id, status, snapshot_date, owner, heartbeat_at, "
        "started_at, updated_at) VALUES (?, 'RUNNING', '2026-01-02', 'other-host:1:ab', ?, ?, ?)",
        chain_id,
        _stamp(now.replace(year=now.year + 1)),  # its sweep-proof heartbeat
        _stamp(now),
        _stamp(now),
    )
    followed = hook.trigger_daily(date=None, airflow_run_id=AF_ID)
    assert (followed.chain_id, followed.followed) == (chain_id, True)
    assert hook.chain(chain_id).status == "RUNNING"

    # The ITEM_EQUIPMENT_LOOP scope's call is accepted; the loop waits for the chain.
    loop = hook.start_loop(Phase.ITEM_EQUIPMENT, airflow_run_id=AF_ID)
    assert loop.already_active is False
    _until(
        "the loop to wait for the chain",
        lambda: _loop(hook).status == "WAITING_FOR_CHAIN",
    )
    with pytest.raises(Refused, match="CHAIN_ACTIVE") as refused:
        hook.trigger_phase(Phase.ITEM_EQUIPMENT, airflow_run_id=AF_ID)
    assert refused.value.status == 409
    _sql(db, "UPDATE chains SET status = 'FAILED' WHERE chain_id = ?", chain_id)
    _until(
        "the loop to go on after the chain",
        lambda: _loop(hook).iteration_count >= 1,
    )
    assert hook.stop_loop(Phase.ITEM_EQUIPMENT, airflow_run_id=AF_ID).requested

    # A chain of this service: 202, then a second trigger follows it (its run holds a slot).
    started = hook.trigger_daily(date=None, airflow_run_id=AF_ID)
    assert started.followed is False
    _until(
        "the chain to reach CHARACTER_BASIC",
        lambda: Phase.CHARACTER_BASIC in hook.chain(started.chain_id).runs,
    )
    again = hook.trigger_daily(date=None, airflow_run_id=AF_ID)
    assert (again.chain_id, again.followed) == (started.chain_id, True)
    api.post("/api/internal/stop/phase/CHARACTER_BASIC")
    _until("the chain to end", lambda: hook.chain(started.chain_id).status != "RUNNING")

    # A one-shot run in the way: no chain to follow, SlotBusy names that run.
    one_shot = api.post(
        "/api/internal/trigger/phase/CHARACTER_BASIC", headers={"X-Upstream-Run-Id": "latest"}
    ).json()["runId"]
    with pytest.raises(Conflict) as busy:
        hook.trigger_daily(date=None, airflow_run_id=AF_ID)
    assert (busy.value.run_id, busy.value.chain_id) == (one_shot, None)
    api.post("/api/internal/stop/phase/CHARACTER_BASIC")
    api.close()
    hook.close()


def _loop(client: ControlClient) -> LoopPublic:
    loop = client.run_status().loop_summaries[Phase.ITEM_EQUIPMENT]
    assert loop is not None
    return loop
