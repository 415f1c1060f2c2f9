"""Typed loop updates and the one slot-taking transaction, on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from maplecollect.control.executor import run_row
from maplecollect.errors import ChainActive, InvalidTransition, RunNotFound, SlotConflict
from maplecollect.phases import Phase
from maplecollect.state import migrations
from maplecollect.state.database import create_async_db_engine
from maplecollect.state.models import ChainRow, LoopRow, LoopStatus, RunRow, RunStatus
from maplecollect.state.repository import Lease, Repository

NOW = datetime(2026, 11, 2, 3, 0, tzinfo=UTC)


@pytest.fixture(params=["sqlite", "postgres"])
async def repo(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Repository]:
    if request.param == "postgres":
        url = str(request.getfixturevalue("postgres_schema_url"))
    else:
        url = f"sqlite:///{tmp_path / 'state.db'}"
    await asyncio.to_thread(migrations.upgrade, url)
    repository = Repository(create_async_db_engine(url))
    yield repository
    await repository.dispose()


def _run(run_id: str, phase: Phase, **held_by: str) -> RunRow:
    row = run_row(
        phase,
        owner="test-owner",
        now=NOW,
        upstream=None,
        snapshot_date="2026-11-01",
        airflow_run_id=None,
        **held_by,
    )
    row.run_id = run_id  # the tests name their runs
    return row


def _loop(loop_id: str, phase: Phase) -> LoopRow:
    return LoopRow(
        loop_id=loop_id,
        phase=phase.value,
        status=LoopStatus.RUNNING.value,
        snapshot_date="latest",
        interval_seconds=0.0,
        iteration_count=0,
        consecutive_failures=0,
        owner="test-owner",
        heartbeat_at=NOW,
        started_at=NOW,
        updated_at=NOW,
        stop_requested=False,
    )


async def test_a_run_is_stamped_when_it_takes_the_slot(repo: Repository) -> None:
    # Built at NOW, it takes the slot later (e.g. queued behind its predecessor's end):
    # its times are those of the slot-taking transaction, never before that end.
    taken = NOW + timedelta(seconds=7)
    await repo.create_run(_run("ie-1", Phase.ITEM_EQUIPMENT), clock=lambda: taken)
    run = await repo.get_run("ie-1")
    assert run is not None
    stamps = {run.started_at, run.updated_at, run.heartbeat_at}
    assert {stamp.replace(tzinfo=UTC) for stamp in stamps} == {taken}

    def refused_clock() -> datetime:
        raise AssertionError("a refused run was stamped")

    with pytest.raises(SlotConflict):
        await repo.create_run(_run("ie-2", Phase.ITEM_EQUIPMENT), clock=refused_clock)


async def test_update_loop_sets_only_the_given_columns(repo: Repository) -> None:
    await repo.create_loop(_loop("loop-1", Phase.CHARACTER_BASIC))
    later = NOW + timedelta(seconds=5)
    await repo.update_loop("loop-1", now=later, current_run_id="cb-1", last_error="waiting")
    await repo.update_loop("loop-1", now=later, iteration_count=3, last_error=None)
    loop = await repo.get_loop("loop-1")
    assert loop is not None
    # UNSET columns keep their value; None clears one.
    assert (loop.current_run_id, loop.iteration_count, loop.last_error) == ("cb-1", 3, None)
    assert loop.updated_at.replace(tzinfo=UTC) == later
    await repo.update_loop("loop-1", now=later, status=LoopStatus.STOPPED, stopped_at=later)
    loop = await repo.get_loop("loop-1")
    assert loop is not None and loop.status == "STOPPED"


async def test_update_loop_with_a_misspelt_column_fails(repo: Repository) -> None:
    await repo.create_loop(_loop("loop-1", Phase.CHARACTER_BASIC))
    with pytest.raises(TypeError, match="iteration_cont"):
        await repo.update_loop("loop-1", now=NOW, iteration_cont=1)  # type: ignore[call-arg]
    with pytest.raises(RunNotFound):
        await repo.update_loop("no-such-loop", now=NOW, iteration_count=1)


async def test_one_slot_rule_for_new_and_resumed_runs(repo: Repository) -> None:
    first = await repo.create_run(_run("cb-1", Phase.CHARACTER_BASIC))
    with pytest.raises(SlotConflict) as held:
        await repo.create_run(_run("cb-2", Phase.CHARACTER_BASIC))
    assert held.value.run_id == "cb-1"
    await repo.finish_run(Lease.of(first), RunStatus.FAILED, now=NOW, error_message="x")
    # A loop holds the phase now: neither a new run nor a resumed one may take it.
    await repo.create_loop(_loop("loop-1", Phase.CHARACTER_BASIC))
    for take in (
        repo.create_run(_run("cb-3", Phase.CHARACTER_BASIC)),
        repo.resume_run("cb-1", owner="o2", now=NOW),
    ):
        with pytest.raises(SlotConflict) as by_loop:
            await take
        assert (by_loop.value.loop_id, by_loop.value.run_id) == ("loop-1", None)
    # ...but the loop's own iteration may.
    await repo.create_run(_run("cb-4", Phase.CHARACTER_BASIC, loop_id="loop-1"))
    with pytest.raises(InvalidTransition):
        await repo.resume_run("cb-4", owner="o2", now=NOW)


async def test_a_running_chain_goes_first_for_runs_and_resumes(repo: Repository) -> None:
    ranking = await repo.create_run(_run("rf-1", Phase.RANKING_FETCH))
    await repo.finish_run(Lease.of(ranking), RunStatus.FAILED, now=NOW, error_message="x")
    chain = ChainRow(
        chain_id="daily-1",
        status="RUNNING",
        snapshot_date="2026-11-01",
        owner="test-owner",
        heartbeat_at=NOW,
        started_at=NOW,
        updated_at=NOW,
    )
    await repo.create_chain(chain, _run("rf-2", Phase.RANKING_FETCH, chain_id="daily-1"))
    with pytest.raises(SlotConflict) as again:
        await repo.create_chain(chain, _run("rf-3", Phase.RANKING_FETCH, chain_id="daily-1"))
    assert (again.value.chain_id, again.value.run_id) == ("daily-1", "rf-2")
    with pytest.raises(ChainActive):
        await repo.create_run(_run("oc-1", Phase.OCID_LOOKUP))
    with pytest.raises(SlotConflict) as resumed:
        await repo.resume_run("rf-1", owner="o2", now=NOW)
    assert (resumed.value.run_id, resumed.value.chain_id) == ("rf-2", "daily-1")
