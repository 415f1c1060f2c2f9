"""A daily chain against the simulator produces a complete, verifiable snapshot."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import orjson

from maplecollect.artifacts import read_failed, read_manifest, read_run
from maplecollect.sim import BASIC_PATH, ITEM_EQUIPMENT_PATH
from support.sim import SNAPSHOT, Stack, stack


async def _wait_chain(st: Stack, chain_id: str) -> dict[str, Any]:
    async with asyncio.timeout(120):
        while True:
            res = await st.svc.client.get(f"/api/internal/chains/{chain_id}")
            if res.json()["status"] != "RUNNING":
                return dict(res.json())
            await asyncio.sleep(0.1)


async def test_daily_chain_matches_the_simulator_world(tmp_path: Path, clean_env: None) -> None:
    async with stack(tmp_path) as st:
        res = await st.svc.client.post("/api/internal/trigger/daily", json={"date": SNAPSHOT})
        assert res.status_code == 202
        chain = await _wait_chain(st, res.json()["chainId"])
        assert chain["status"] == "COMPLETED", chain
        truth = st.truth
        store = str(tmp_path / "store")
        runs = chain["runs"]

        ranking = runs["RANKING_FETCH"]
        manifest = read_manifest(ranking["runId"], "ranking-overall", store_url=store)
        assert manifest["status"] == "COMPLETED"
        assert manifest["records"] == truth["characters"]
        assert manifest["records"] == sum(truth["rankingRows"].values())
        assert manifest["failed"] == 0
        assert ranking["recordsProcessed"] == truth["characters"]
        assert (
            tmp_path / "store" / "runs" / ranking["runId"] / "ranking-overall" / "_SUCCESS"
        ).exists()

        ocid = runs["OCID_LOOKUP"]
        manifest = read_manifest(ocid["runId"], "ocid-lookup", store_url=store)
        assert manifest["records"] == truth["distinctNames"] - truth["renamedNames"]
        assert manifest["failed"] == truth["renamedNames"]
        failed = list(read_failed(ocid["runId"], "ocid-lookup", store_url=store))
        assert {f["errorCode"] for f in failed} == {"OPENAPI00003"}
        assert all(f["status"] == 400 and f["attempts"] == 1 for f in failed)
        ocids = [r["body"]["ocid"] for r in read_run(ocid["runId"], "ocid-lookup", store_url=store)]

        for phase, endpoint, path in (
            ("CHARACTER_BASIC", "character-basic", BASIC_PATH),
            ("ITEM_EQUIPMENT", "item-equipment", ITEM_EQUIPMENT_PATH),
        ):
            run = runs[phase]
            assert run["upstreamRunId"] == ocid["runId"]
            records = list(read_run(run["runId"], endpoint, store_url=store))
            assert [r["key"] for r in records] == ocids  # input order, all of them
            assert sum(r["empty"] for r in records) == truth["emptyCharacters"]
            # Bodies are the simulator's bytes, embedded as JSON.
            for record in records[:25]:
                expected = st.sim.simulator.expected_body(
                    path, {"ocid": record["key"], "date": SNAPSHOT}
                )
                assert record["body"] == orjson.loads(expected)
                assert record["status"] == 200 and record["endpoint"] == endpoint
            manifest = read_manifest(run["runId"], endpoint, store_url=store)
            assert manifest["records"] == len(ocids)
            assert manifest["failed"] == 0
            assert manifest["parts"] == len(run_chunks := manifest["chunks"])
            assert all(c["sha256"] for c in run_chunks)


async def test_ocid_cache_removes_id_calls_on_second_run(tmp_path: Path, clean_env: None) -> None:
    async with stack(tmp_path) as st:
        client = st.svc.client
        ranking = await st.svc.complete("RANKING_FETCH")
        first = await st.svc.complete("OCID_LOOKUP", upstream=ranking)
        before = (await client.get(f"{st.sim.base_url}/_sim/stats")).json()["requests"]
        second = await st.svc.complete("OCID_LOOKUP", upstream=ranking)
        after = (await client.get(f"{st.sim.base_url}/_sim/stats")).json()["requests"]
        id_calls = sum(after.get("/maplestory/v1/id", {}).values()) - sum(
            before.get("/maplestory/v1/id", {}).values()
        )
        truth = st.truth
        # Only the renamed (never cached) names are asked again.
        assert id_calls == truth["renamedNames"]
        store = str(tmp_path / "store")
        one = [r["body"]["ocid"] for r in read_run(first, "ocid-lookup", store_url=store)]
        two = list(read_run(second, "ocid-lookup", store_url=store))
        assert [r["body"]["ocid"] for r in two] == one
        assert {r["body"]["source"] for r in two} == {"cache"}
