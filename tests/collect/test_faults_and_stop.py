"""Faults, stop and run-level failures against the simulator."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path
from typing import Any

import duckdb
import httpx

from maplecollect.artifacts import read_failed, read_manifest, read_run
from maplecollect.sim import Faults, Latency, SimConfig
from support.sim import SIM_NOW, SNAPSHOT, stack


async def _run(client: httpx.AsyncClient, phase: str, upstream: str | None = None) -> str:
    headers = {"X-Upstream-Run-Id": upstream} if upstream else {}
    res = await client.post(
        f"/api/internal/trigger/phase/{phase}", json={"date": SNAPSHOT}, headers=headers
    )
    assert res.status_code == 202, res.text
    return str(res.json()["runId"])


async def _until(client: httpx.AsyncClient, path: str, done: Callable[[Any], bool]) -> None:
    async with asyncio.timeout(120):
        while not done((await client.get(path)).json()):  # noqa: ASYNC110 - polling a server
            await asyncio.sleep(0.05)


async def test_injected_faults_still_give_a_complete_snapshot(
    tmp_path: Path, clean_env: None
) -> None:
    faults = Faults(
        error_rate=0.05, gateway_rate=0.03, reset_rate=0.02, hang_rate=0.01, hang_seconds=5
    )
    config = SimConfig(seed=3, characters=250, now=SIM_NOW, faults=faults)
    # A key's retry budget (3 s) leaves room for a few faults in a row on a busy
    # machine; every fault still costs a retry.
    async with stack(tmp_path, sim_config=config, read_timeout=0.5, total_timeout=3.0) as st:
        # A tight per-key limit on the simulator forces 429s too.
        await st.svc.client.post(
            f"{st.sim.base_url}/_sim/config", json={"apiKeys": {"test-key": 150}}
        )
        ranking = await st.svc.wait_run(await _run(st.svc.client, "RANKING_FETCH"), within=120)
        assert ranking["status"] == "COMPLETED", ranking
        ocid = await st.svc.wait_run(
            await _run(st.svc.client, "OCID_LOOKUP", ranking["runId"]), within=120
        )
        basic = await st.svc.wait_run(
            await _run(st.svc.client, "CHARACTER_BASIC", ocid["runId"]), within=120
        )
        truth = st.truth
        store = str(tmp_path / "store")
        assert (
            read_manifest(ranking["runId"], "ranking-overall", store_url=store)["records"]
            == truth["characters"]
        )
        ocid_manifest = read_manifest(ocid["runId"], "ocid-lookup", store_url=store)
        assert ocid_manifest["records"] == truth["distinctNames"] - truth["renamedNames"]
        # Only the renamed names failed, despite the faults.
        failed = list(read_failed(ocid["runId"], "ocid-lookup", store_url=store))
        assert {f["errorCode"] for f in failed} == {"OPENAPI00003"}
        basic_manifest = read_manifest(basic["runId"], "character-basic", store_url=store)
        assert basic_manifest["records"] == ocid_manifest["records"]
        assert basic_manifest["failed"] == 0
        # Transient faults healed by retries are no failures: every run is COMPLETED
        # under the outcome policy, and only the facts (renamed names) are counted.
        assert ranking["failuresByCode"] == basic["failuresByCode"] == {}
        assert basic["status"] == "COMPLETED", basic
        assert ocid["failuresByCode"] == {"OPENAPI00003": truth["renamedNames"]}
        stats = (await st.svc.client.get(f"{st.sim.base_url}/_sim/stats")).json()["requests"]
        statuses = {status for by_status in stats.values() for status in by_status}
        assert {"500", "502", "429"} <= statuses  # the faults really happened


async def test_stop_mid_phase_keeps_what_was_collected(tmp_path: Path, clean_env: None) -> None:
    config = SimConfig(seed=4, characters=400, now=SIM_NOW, latency=Latency(p50_ms=20))
    async with stack(tmp_path, sim_config=config, rate_limit=100, chunk_max_records=20) as st:
        client = st.svc.client
        ranking = await st.svc.wait_run(await _run(client, "RANKING_FETCH"))
        assert ranking["status"] == "COMPLETED", ranking["errorMessage"]
        ocid = await st.svc.wait_run(await _run(client, "OCID_LOOKUP", ranking["runId"]))
        run_id = await _run(client, "ITEM_EQUIPMENT", ocid["runId"])
        await _until(client, f"/api/internal/runs/{run_id}", lambda b: b["recordsProcessed"] >= 30)
        res = await client.post("/api/internal/stop/phase/ITEM_EQUIPMENT")
        assert res.status_code == 202
        stopped = await st.svc.wait_run(run_id, within=10)
        assert stopped["status"] == "STOPPED"
        store = str(tmp_path / "store")
        manifest = read_manifest(run_id, "item-equipment", store_url=store)
        assert manifest["status"] == "STOPPED"
        assert not (tmp_path / "store" / "runs" / run_id / "item-equipment" / "_SUCCESS").exists()
        records = list(read_run(run_id, "item-equipment", store_url=store))
        assert 30 <= len(records) < ocid["recordsProcessed"]
        assert len(records) == manifest["records"] == stopped["recordsProcessed"]
        ocids = [r["body"]["ocid"] for r in read_run(ocid["runId"], "ocid-lookup", store_url=store)]
        assert [r["key"] for r in records] == ocids[: len(records)]  # a prefix, in order


async def test_invalid_api_key_fails_the_run_without_leaking_it(
    tmp_path: Path, clean_env: None
) -> None:
    secret = "live_0123456789abcdefSECRET"
    async with stack(tmp_path, nexon_api_key=secret) as st:
        run = await st.svc.wait_run(await _run(st.svc.client, "RANKING_FETCH"))
        assert run["status"] == "FAILED"
        assert "OPENAPI00005" in run["errorMessage"]
        status = await st.svc.client.get("/api/internal/run-status")
        metrics = await st.svc.client.get("/metrics")
        for text in (str(run), status.text, metrics.text):
            assert secret not in text
        manifest = tmp_path / "store" / "runs" / run["runId"] / "ranking-overall" / "manifest.json"
        assert secret not in manifest.read_text()


README = Path(__file__).resolve().parents[2] / "README.md"


def _readme_queries() -> list[str]:
    """The DuckDB statements of the README: the demo one-liner and the ```sql block."""
    text = README.read_text(encoding="utf-8")
    one_liner = text.split('duckdb.sql(\\"', 1)[1].split('\\")', 1)[0]
    block = text.split("```sql\n", 1)[1].split("```", 1)[0]
    statements = [line.rstrip(";") for line in block.splitlines() if line.startswith("select")]
    return [one_liner, *statements]


async def test_duckdb_runs_the_readme_queries_on_the_snapshot(
    tmp_path: Path, clean_env: None
) -> None:
    async with stack(tmp_path, characters=120) as st:
        res = await st.svc.client.post("/api/internal/trigger/daily", json={"date": SNAPSHOT})
        chain_id = res.json()["chainId"]
        await _until(
            st.svc.client, f"/api/internal/chains/{chain_id}", lambda b: b["status"] != "RUNNING"
        )
        chain = (await st.svc.client.get(f"/api/internal/chains/{chain_id}")).json()
        # A second CHARACTER_BASIC run, as after `make demo`: a glob over runs/*/ sees both.
        again = await st.svc.complete("CHARACTER_BASIC", chain["runs"]["OCID_LOOKUP"]["runId"])
        truth = st.truth
    runs = {phase: run["runId"] for phase, run in chain["runs"].items()}
    root = tmp_path / "store"
    classes, equipment, failures = _readme_queries()

    by_class = duckdb.sql(classes.replace("data/demo/store", str(root))).fetchall()
    assert 0 < len(by_class) <= 5 and all(isinstance(c, str) and n > 0 for c, n in by_class)
    every_class = classes.replace("data/demo/store", str(root)).replace(" limit 5", "")
    with_data = truth["characters"] - truth["renamedNames"] - truth["emptyCharacters"]
    assert sum(n for _, n in duckdb.sql(every_class).fetchall()) == with_data  # each once
    # Every line says where it comes from: the newest COMPLETED run was read.
    lines = f"{root}/runs/*/character-basic/chunks/*.jsonl.zst"
    origins = duckdb.sql(
        f"select runId, snapshotDate::varchar, count(*) from read_json('{lines}') group by all"
    )
    per_run = truth["characters"] - truth["renamedNames"]
    assert sorted(origins.fetchall()) == sorted(
        [(runs["CHARACTER_BASIC"], SNAPSHOT, per_run), (again, SNAPSHOT, per_run)]
    )

    equipment_sql = equipment.replace(
        "data/store/runs/<runId>", f"{root}/runs/{runs['ITEM_EQUIPMENT']}"
    )
    rows = duckdb.sql(equipment_sql).fetchall()
    expected = truth["characters"] - truth["renamedNames"]
    assert len(rows) == expected and len({key for key, _ in rows}) == expected
    assert sum(cls is None for _, cls in rows) == truth["emptyCharacters"]

    failures_sql = failures.replace("data/store/runs/<runId>", f"{root}/runs/{runs['OCID_LOOKUP']}")
    assert duckdb.sql(failures_sql).fetchall() == [("OPENAPI00003", truth["renamedNames"])]
