"""The outcome policy end to end (docs/collection.md "Outcome policy").

Real service, real phases, the simulator with injected faults or a real stub
server on loopback: a bad day is FAILED (no `_SUCCESS`, never "latest", never
an upstream), an acceptable one is COMPLETED with its failures counted.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
from aiohttp import web

from maplecollect.artifacts import build_manifest, open_store, read_run, write_manifest
from maplecollect.control.executor import run_row
from maplecollect.phases import Phase
from maplecollect.sim import SimConfig
from maplecollect.state.models import RunRow, RunStatus
from maplecollect.state.repository import Lease
from support.service import fast_settings, serve
from support.sim import SIM_NOW, SNAPSHOT, Stack, stack


async def _trigger(client: httpx.AsyncClient, phase: str, upstream: str | None = None) -> str:
    headers = {"X-Upstream-Run-Id": upstream} if upstream else {}
    res = await client.post(
        f"/api/internal/trigger/phase/{phase}", json={"date": SNAPSHOT}, headers=headers
    )
    assert res.status_code == 202, res.text
    return str(res.json()["runId"])


async def _upstreams(st: Stack) -> str:
    """A COMPLETED OCID_LOOKUP run (faults off), the upstream of the character phases."""
    ranking = await st.svc.complete("RANKING_FETCH")
    return await st.svc.complete("OCID_LOOKUP", upstream=ranking)


def _success_marker(tmp_path: Path, run: dict[str, Any], endpoint: str) -> Path:
    return tmp_path / "store" / "runs" / run["runId"] / endpoint / "_SUCCESS"


async def _latest(st: Stack, phase: Phase) -> str | None:
    """The run `--upstream latest` and the loops would read."""
    run = await st.svc.supervisor.repo.newest_completed(phase)
    return run.run_id if run else None


async def test_ten_percent_failed_keys_fail_the_run_with_counts(
    tmp_path: Path, clean_env: None
) -> None:
    # One attempt per key, so every injected fault is a failed record: 5 % 502s and
    # 5 % answers that never come (timeouts). (Connection resets are no good here:
    # aiohttp resends a request whose reused connection dropped, healing most.)
    async with stack(
        tmp_path, characters=400, retry_max_attempts=1, read_timeout=0.3, total_timeout=0.5
    ) as st:
        ocid = await _upstreams(st)
        faults = {"gatewayRate": 0.05, "hangRate": 0.05, "hangSeconds": 5}
        await st.svc.client.post(f"{st.sim.base_url}/_sim/config", json={"faults": faults})
        run = await st.svc.wait_run(await _trigger(st.svc.client, "CHARACTER_BASIC", ocid))
        assert run["status"] == "FAILED", run
        by_code = run["failuresByCode"]
        assert set(by_code) == {"HTTP_5XX", "TIMEOUT"}
        assert sum(by_code.values()) == run["recordsFailed"]
        assert run["recordsFailed"] > 0.05 * (run["recordsProcessed"] + run["recordsFailed"])
        message = run["errorMessage"]
        assert message.startswith("FAILED_RATIO: ")
        assert "MAPLECOLLECT_MAX_FAILED_RATIO=0.05" in message
        assert f"HTTP_5XX {by_code['HTTP_5XX']}" in message
        assert f"TIMEOUT {by_code['TIMEOUT']}" in message
        assert not _success_marker(tmp_path, run, "character-basic").exists()
        assert await _latest(st, Phase.CHARACTER_BASIC) is None
        # A resume starts after the published parts: the failed records it keeps are
        # counted again from those parts, so the verdict and the counts stay the same.
        res = await st.svc.client.post(f"/api/internal/resume/run/{run['runId']}")
        assert res.status_code == 202, res.text
        again = await st.svc.wait_run(run["runId"])
        assert again["resumeCount"] == 1 and again["status"] == "FAILED"
        assert again["failuresByCode"] == by_code
        assert again["errorMessage"] == message


async def test_two_percent_failed_keys_complete_with_their_counts(
    tmp_path: Path, clean_env: None
) -> None:
    async with stack(tmp_path, characters=400, retry_max_attempts=1) as st:
        ocid = await _upstreams(st)
        await st.svc.client.post(
            f"{st.sim.base_url}/_sim/config", json={"faults": {"gatewayRate": 0.02}}
        )
        run = await st.svc.wait_run(await _trigger(st.svc.client, "CHARACTER_BASIC", ocid))
        assert run["status"] == "COMPLETED", run
        assert run["errorMessage"] is None
        assert run["recordsFailed"] > 0  # the faults really happened
        assert run["failuresByCode"] == {"HTTP_5XX": run["recordsFailed"]}
        assert _success_marker(tmp_path, run, "character-basic").exists()
        assert await _latest(st, Phase.CHARACTER_BASIC) == run["runId"]


async def test_facts_about_the_data_never_count_against_a_run(
    tmp_path: Path, clean_env: None
) -> None:
    # 10 % renamed characters: their names answer OPENAPI00003, a fact, not a fault.
    config = SimConfig(seed=5, characters=300, now=SIM_NOW, renamed_fraction=0.10)
    async with stack(tmp_path, sim_config=config) as st:
        ranking = await st.svc.complete("RANKING_FETCH")
        run = await st.svc.wait_run(await _trigger(st.svc.client, "OCID_LOOKUP", ranking))
        assert run["status"] == "COMPLETED", run
        assert run["failuresByCode"] == {"OPENAPI00003": st.truth["renamedNames"]}


async def test_a_200_with_an_error_body_is_retried_never_stored(
    tmp_path: Path, clean_env: None
) -> None:
    async with stack(tmp_path, characters=200) as st:
        ocid = await _upstreams(st)
        await st.svc.client.post(
            f"{st.sim.base_url}/_sim/config", json={"faults": {"okErrorRate": 0.3}}
        )
        run = await st.svc.wait_run(await _trigger(st.svc.client, "ITEM_EQUIPMENT", ocid))
        stats = (await st.svc.client.get(f"{st.sim.base_url}/_sim/stats")).json()["requests"]
    assert stats["/maplestory/v1/character/item-equipment"]["200-error"] > 0
    assert run["status"] == "COMPLETED", run
    assert run["recordsFailed"] == 0 and run["failuresByCode"] == {}
    records = list(read_run(run["runId"], "item-equipment", store_url=str(tmp_path / "store")))
    assert len(records) == run["recordsProcessed"] > 0
    assert not [r for r in records if "error" in r["body"]]


async def test_a_200_with_an_error_body_that_keeps_coming_fails_by_its_name(
    tmp_path: Path, clean_env: None
) -> None:
    async with stack(tmp_path, characters=200, retry_max_attempts=2) as st:
        ocid = await _upstreams(st)
        await st.svc.client.post(
            f"{st.sim.base_url}/_sim/config", json={"faults": {"okErrorRate": 0.25}}
        )
        run = await st.svc.wait_run(await _trigger(st.svc.client, "CHARACTER_BASIC", ocid))
    # ~6 % of the keys get it twice in a row: failed records named OPENAPI00001.
    assert set(run["failuresByCode"]) == {"OPENAPI00001"}
    assert run["failuresByCode"]["OPENAPI00001"] == run["recordsFailed"] > 0


# -- a real stub server: an API that answers, but with nothing --------------------------


@contextlib.asynccontextmanager
async def _empty_ranking_api() -> AsyncIterator[str]:
    """Every ranking page is `{"ranking": []}`: a well-formed, empty ranking."""

    async def empty(_request: web.Request) -> web.Response:
        return web.json_response({"ranking": []})

    app = web.Application()
    app.router.add_get("/maplestory/v1/ranking/overall", empty)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        await runner.cleanup()


async def test_a_ranking_with_no_rows_fails_and_feeds_nothing(
    tmp_path: Path, clean_env: None
) -> None:
    async with _empty_ranking_api() as url:
        settings = fast_settings(tmp_path, nexon_base_url=url)
        async with serve(settings) as svc:
            run = await svc.wait_run(await _trigger(svc.client, "RANKING_FETCH"))
            assert run["status"] == "FAILED"
            assert run["errorMessage"].startswith("EMPTY_OUTPUT: 0 ranking rows published")
            assert not _success_marker(tmp_path, run, "ranking-overall").exists()
            # It is neither "latest" nor usable as an upstream.
            latest = await svc.client.post(
                "/api/internal/trigger/phase/OCID_LOOKUP", headers={"X-Upstream-Run-Id": "latest"}
            )
            assert (latest.status_code, latest.json()["error"]) == (404, "UPSTREAM_NOT_FOUND")
            named = await svc.client.post(
                "/api/internal/trigger/phase/OCID_LOOKUP",
                headers={"X-Upstream-Run-Id": run["runId"]},
            )
            assert (named.status_code, named.json()["error"]) == (409, "UPSTREAM_NOT_COMPLETED")
            # The daily chain ends at its first phase instead of waiting on an empty one.
            res = await svc.client.post("/api/internal/trigger/daily", json={"date": SNAPSHOT})
            chain_id = res.json()["chainId"]
            async with asyncio.timeout(60):
                while True:
                    chain = (await svc.client.get(f"/api/internal/chains/{chain_id}")).json()
                    if chain["status"] != "RUNNING":
                        break
                    await asyncio.sleep(0.05)
            assert chain["status"] == "FAILED"
            assert list(chain["runs"]) == ["RANKING_FETCH"]
            assert "EMPTY_OUTPUT" in chain["errorMessage"]


async def _legacy_empty_ocid_run(st: Stack, tmp_path: Path) -> str:
    """A COMPLETED OCID_LOOKUP run with 0 records, as a version without the policy left it."""
    sup = st.svc.supervisor
    now = datetime.now(UTC)
    row = run_row(
        Phase.OCID_LOOKUP,
        owner=sup.owner,
        now=now,
        upstream=None,
        snapshot_date=SNAPSHOT,
        airflow_run_id=None,
    )
    created = await sup.repo.create_run(row)
    await sup.repo.finish_run(Lease.of(created), RunStatus.COMPLETED, now=now)
    manifest = build_manifest(
        run_id=row.run_id,
        phase=Phase.OCID_LOOKUP.value,
        endpoint="ocid-lookup",
        upstream_run_id=None,
        snapshot_date=SNAPSHOT,
        started_at=now,
        completed_at=now,
        status="COMPLETED",
        chunks=[],
    )
    await write_manifest(open_store(str(tmp_path / "store")), manifest, success=True)
    return row.run_id


async def test_an_empty_upstream_is_refused_at_trigger_and_never_hangs_a_run(
    tmp_path: Path, clean_env: None
) -> None:
    async with stack(tmp_path, characters=50) as st:
        empty = await _legacy_empty_ocid_run(st, tmp_path)
        for upstream in (empty, "latest"):
            res = await st.svc.client.post(
                "/api/internal/trigger/phase/CHARACTER_BASIC",
                headers={"X-Upstream-Run-Id": upstream},
            )
            assert res.status_code == 409, res.text
            body = res.json()
            assert (body["error"], body["upstreamRunId"]) == ("UPSTREAM_EMPTY", empty)
        # A run that meets an empty input anyway (here: started past the trigger's check)
        # ends at once by rule EMPTY_INPUT; it used to stay RUNNING 0/0 forever.
        sup = st.svc.supervisor
        upstream = await sup.repo.get_run(empty)
        assert isinstance(upstream, RunRow)
        row = run_row(
            Phase.CHARACTER_BASIC,
            owner=sup.owner,
            now=datetime.now(UTC),
            upstream=upstream,
            snapshot_date=SNAPSHOT,
            airflow_run_id=None,
        )
        await sup.start_run(row)
        run = await st.svc.wait_run(row.run_id, within=30)
    assert run["status"] == "FAILED"
    assert run["totalKeys"] == 0
    assert run["errorMessage"].startswith("EMPTY_INPUT: ")
