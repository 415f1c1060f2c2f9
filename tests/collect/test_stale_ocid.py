"""A cached ocid that went stale (OPENAPI00003) is looked up again by name, once."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from maplecollect.artifacts import read_failed, read_run
from maplecollect.state.repository import Repository
from support.sim import SNAPSHOT, stack

STALE = "0" * 32


async def test_stale_cached_ocid_is_refreshed(tmp_path: Path, clean_env: None) -> None:
    async with stack(tmp_path, characters=80) as st:
        svc = st.svc
        ranking = await svc.complete("RANKING_FETCH")
        first = await svc.complete("OCID_LOOKUP", upstream=ranking)
        store = str(tmp_path / "store")
        records = list(read_run(first, "ocid-lookup", store_url=store))
        victim = records[3]["body"]
        # Poison the cache: the name now maps to an ocid the API does not know.
        repo: Repository = svc.app.state.repo
        await repo.cache_ocids(
            [(victim["characterName"], victim["worldName"], STALE)], now=datetime.now(UTC)
        )
        second = await svc.complete("OCID_LOOKUP", upstream=ranking)
        stale_rows = [
            r
            for r in read_run(second, "ocid-lookup", store_url=store)
            if r["body"]["ocid"] == STALE
        ]
        assert [r["key"] for r in stale_rows] == [victim["characterName"]]

        res = await svc.client.post(
            "/api/internal/trigger/phase/CHARACTER_BASIC",
            json={"date": SNAPSHOT},
            headers={"X-Upstream-Run-Id": second},
        )
        basic = await svc.wait_run(res.json()["runId"])
        assert basic["status"] == "COMPLETED"
        assert basic["recordsFailed"] == 0
        rows = {r["key"]: r for r in read_run(basic["runId"], "character-basic", store_url=store)}
        assert rows[STALE]["body"]["character_name"] == victim["characterName"]
        assert list(read_failed(basic["runId"], "character-basic", store_url=store)) == []
        # The cache holds the fresh mapping again.
        cached = await repo.cached_ocids([victim["characterName"]])
        assert cached[victim["characterName"]].ocid == victim["ocid"]


async def test_stale_ocid_whose_name_is_gone_is_a_failed_record(
    tmp_path: Path, clean_env: None
) -> None:
    async with stack(tmp_path, characters=120) as st:
        svc = st.svc
        ranking = await svc.complete("RANKING_FETCH")
        first = await svc.complete("OCID_LOOKUP", upstream=ranking)
        store = str(tmp_path / "store")
        renamed = next(iter(read_failed(first, "ocid-lookup", store_url=store)))["key"]
        # A mapping cached before the rename: the name and its old ocid are both gone now.
        repo: Repository = svc.app.state.repo
        await repo.cache_ocids([(renamed, None, STALE)], now=datetime.now(UTC))
        second = await svc.complete("OCID_LOOKUP", upstream=ranking)
        res = await svc.client.post(
            "/api/internal/trigger/phase/ITEM_EQUIPMENT",
            json={"date": SNAPSHOT},
            headers={"X-Upstream-Run-Id": second},
        )
        run = await svc.wait_run(res.json()["runId"])
        assert run["status"] == "COMPLETED"
        failed = list(read_failed(run["runId"], "item-equipment", store_url=store))
        assert [(f["key"], f["errorCode"], f["status"]) for f in failed] == [
            (STALE, "OPENAPI00003", 400)
        ]
        assert run["recordsFailed"] == 1
