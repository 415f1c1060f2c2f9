"""GET /api/internal/events and `maplecollect events`, on the real service and simulator."""

from __future__ import annotations

import asyncio
import os
import shutil
import sys
from pathlib import Path

import orjson
import pytest

from support.fake_phases import walkers
from support.service import fast_settings, serve
from support.sim import stack


async def test_a_collected_run_is_a_feed_of_its_chunks_then_its_completion(
    tmp_path: Path, clean_env: None
) -> None:
    async with stack(tmp_path, characters=120, chunk_max_records=50) as st:
        client = st.svc.client
        ranking = await st.svc.complete("RANKING_FETCH")
        run = (await client.get(f"/api/internal/runs/{ranking}")).json()
        page = (await client.get("/api/internal/events", params={"after": 0})).json()
        events = page["events"]
        chunk_keys = [f"{ranking}:ranking-overall:part-{c['part']:06d}" for c in run["chunks"]]
        assert [e["key"] for e in events] == [*chunk_keys, f"{ranking}:ranking-overall"]
        assert events[-1]["eventType"] == "SNAPSHOT_RUN_COMPLETED"
        assert events[-1]["value"]["totalRecords"] == run["recordsProcessed"]
        assert events[-1]["value"]["manifestPath"] == run["manifestPath"]
        assert (tmp_path / "store" / "runs" / ranking / "ranking-overall" / "_SUCCESS").exists()
        assert page["nextAfter"] == events[-1]["seq"]
        assert sum(e["value"].get("recordCount", 0) for e in events) == run["recordsProcessed"]

        # Nothing newer: an immediate empty answer keeps the cursor.
        last = page["nextAfter"]
        empty = (await client.get("/api/internal/events", params={"after": last})).json()
        assert empty == {"events": [], "nextAfter": last}

        # A long-poll answers as soon as the next run publishes its first chunk.
        poll = asyncio.create_task(
            client.get("/api/internal/events", params={"after": last, "timeout": 25})
        )
        await asyncio.sleep(0)
        ocid = await st.svc.complete("OCID_LOOKUP", ranking)
        got = (await poll).json()["events"]
        assert got and got[0]["key"].startswith(f"{ocid}:ocid-lookup:part-")

        # The CLI prints the same feed as JSON lines, and --count ends a --follow.
        exe = shutil.which("maplecollect", path=str(Path(sys.executable).parent))
        assert exe
        proc = await asyncio.create_subprocess_exec(
            exe,
            "events",
            "--url",
            st.svc.url,
            "--json",
            "--follow",
            "--count",
            "3",
            "--after",
            str(last),
            stdout=asyncio.subprocess.PIPE,
            env={k: v for k, v in os.environ.items() if not k.startswith("MAPLECOLLECT_")},
        )
        async with asyncio.timeout(60):
            out, _ = await proc.communicate()
        assert proc.returncode == 0
        lines = [orjson.loads(line) for line in out.splitlines()]
        feed = (await client.get("/api/internal/events", params={"after": last})).json()
        assert lines == feed["events"][:3]
        assert lines[0]["value"]["eventId"] == lines[0]["eventId"]


@pytest.mark.parametrize(
    "params",
    [
        {"after": "-1"},
        {"after": "abc"},
        {"limit": "0"},
        {"limit": "1001"},
        {"timeout": "26"},
        {"timeout": "-1"},
    ],
)
async def test_bad_parameters_are_a_precise_400(
    tmp_path: Path, clean_env: None, params: dict[str, str]
) -> None:
    async with serve(fast_settings(tmp_path), walkers()) as svc:
        res = await svc.client.get("/api/internal/events", params=params)
    assert res.status_code == 400
    body = res.json()
    assert body["error"] == "INVALID_REQUEST"
    assert next(iter(params)) in body["message"]


async def test_the_feed_needs_the_token_like_every_internal_route(
    tmp_path: Path, clean_env: None
) -> None:
    settings = fast_settings(tmp_path, api_token="s3cret-token")
    async with serve(settings, walkers()) as svc:
        refused = await svc.client.get("/api/internal/events")
        allowed = await svc.client.get(
            "/api/internal/events", headers={"Authorization": "Bearer s3cret-token"}
        )
    assert refused.status_code == 401
    assert allowed.status_code == 200 and allowed.json() == {"events": [], "nextAfter": 0}
