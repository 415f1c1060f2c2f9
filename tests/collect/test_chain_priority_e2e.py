"""A loop of ITEM_EQUIPMENT during the daily chain, real phases against the simulator.

The rule (docs/control-api.md "The daily chain has priority"): the chain
completes, every record of its ITEM_EQUIPMENT run is there, no two
ITEM_EQUIPMENT runs ever collected at once, and the loop goes on after the
chain, fed by the chain's OCID_LOOKUP. The exact interleaving (the chain stops a
running iteration, or the loop waits between two) depends on timing; every
path must satisfy the same invariants. tests/api/test_chain_priority.py pins
each path with gated fake phases.
"""

from __future__ import annotations

import asyncio
from datetime import datetime
from itertools import pairwise
from pathlib import Path
from typing import Any

from maplecollect.artifacts import read_manifest, read_run
from support.sim import SNAPSHOT, Stack, stack


async def _get(st: Stack, path: str) -> Any:
    res = await st.svc.client.get(path)
    assert res.status_code == 200, res.text
    return res.json()


async def _until(st: Stack, path: str, predicate: Any, within: float = 120) -> Any:
    last: Any = None
    try:
        async with asyncio.timeout(within):
            while True:
                last = await _get(st, path)
                if predicate(last):
                    return last
                await asyncio.sleep(0.05)
    except TimeoutError:
        raise AssertionError(f"{path} never matched within {within} s; last: {last}") from None


def _loop(status: dict[str, Any]) -> dict[str, Any]:
    loop: dict[str, Any] = status["loopSummaries"]["ITEM_EQUIPMENT"]
    return loop


async def test_a_loop_never_makes_the_daily_chain_fail(tmp_path: Path, clean_env: None) -> None:
    # A low rate makes an ITEM_EQUIPMENT iteration last long enough to overlap the chain.
    async with stack(tmp_path, characters=120, rate_limit=100.0) as st:
        ranking = await st.svc.complete("RANKING_FETCH")
        await st.svc.complete("OCID_LOOKUP", upstream=ranking)
        res = await st.svc.client.post(
            "/api/internal/loop/phase/ITEM_EQUIPMENT", json={"date": SNAPSHOT}
        )
        assert res.status_code == 202, res.text
        loop_id = res.json()["loopId"]
        await _until(st, "/api/internal/run-status", lambda b: _loop(b)["currentRunId"])

        res = await st.svc.client.post("/api/internal/trigger/daily", json={"date": SNAPSHOT})
        assert res.status_code == 202, res.text
        chain_id = res.json()["chainId"]
        chain = await _until(
            st, f"/api/internal/chains/{chain_id}", lambda c: c["status"] != "RUNNING"
        )
        assert chain["status"] == "COMPLETED", chain

        store = str(tmp_path / "store")
        ocid_run = chain["runs"]["OCID_LOOKUP"]["runId"]
        item = chain["runs"]["ITEM_EQUIPMENT"]
        ocids = [r["body"]["ocid"] for r in read_run(ocid_run, "ocid-lookup", store_url=store)]
        records = list(read_run(item["runId"], "item-equipment", store_url=store))
        assert [r["key"] for r in records] == ocids
        manifest = read_manifest(item["runId"], "item-equipment", store_url=store)
        assert (manifest["status"], manifest["records"]) == ("COMPLETED", len(ocids))

        # The loop goes on after the chain, from the chain's OCID_LOOKUP.
        def fed_by_chain(body: dict[str, Any]) -> bool:
            loop = _loop(body)
            return bool(loop["status"] == "RUNNING" and loop["lastRunId"]) and (
                loop["lastRunId"] != item["runId"]
            )

        async def newest_iteration_from_chain() -> dict[str, Any]:
            while True:
                await _until(st, "/api/internal/run-status", fed_by_chain)
                runs = await _get(st, "/api/internal/runs?phase=ITEM_EQUIPMENT&limit=100")
                done = [r for r in runs if r["loopId"] == loop_id and r["status"] == "COMPLETED"]
                fed = [r for r in done if r["upstreamRunId"] == ocid_run]
                if fed:
                    return dict(fed[0])
                await asyncio.sleep(0.05)

        async with asyncio.timeout(120):
            iteration = await newest_iteration_from_chain()
        assert datetime.fromisoformat(iteration["startedAt"]) >= datetime.fromisoformat(
            item["completedAt"]
        )

        res = await st.svc.client.post("/api/internal/stop/loop/phase/ITEM_EQUIPMENT")
        assert res.status_code == 202
        await _until(st, "/api/internal/run-status", lambda b: _loop(b)["status"] == "STOPPED")
        loop = _loop(await _get(st, "/api/internal/run-status"))
        assert loop["consecutiveFailures"] == 0

        # Never two ITEM_EQUIPMENT runs at once: their [start, end] intervals are disjoint.
        runs = await _get(st, "/api/internal/runs?phase=ITEM_EQUIPMENT&limit=1000")
        spans = sorted(
            (datetime.fromisoformat(r["startedAt"]), datetime.fromisoformat(r["completedAt"]))
            for r in runs
        )
        for (_, end), (start, _) in pairwise(spans):
            assert end <= start, spans
        assert all(r["status"] in ("COMPLETED", "STOPPED") for r in runs), runs
