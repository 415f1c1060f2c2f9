"""The status page over real HTTP: login cookie, CSRF, /metrics behind the token,
the run page's files and failures, the days grid and the throughput samples.

Real simulator + real service on loopback (tests/support/sim.py); no mocks.
"""

from __future__ import annotations

import asyncio
import hashlib
import re
from pathlib import Path
from typing import Any

import httpx

from maplecollect.api.auth import SESSION_COOKIE
from maplecollect.console.demo import sim_now
from maplecollect.sim import SimConfig
from support.sim import stack as _stack

TOKEN = "page-test-token-0123456789"
HANGUL = re.compile(r"[\uac00-\ud7a3]")


def stack(tmp_path: Path, **kw: Any) -> Any:
    """support.sim's stack on the real default dates (svc.date unset)."""
    return _LiveStack(tmp_path, kw)


class _LiveStack:
    def __init__(self, tmp_path: Path, kw: dict[str, Any]) -> None:
        # One ranking page per world type is the whole small world: never 500 pages.
        kw.setdefault("ranking_max_pages", 2)
        self._cm = _stack(tmp_path, **kw)

    async def __aenter__(self) -> Any:
        st = await self._cm.__aenter__()
        st.svc.date = None  # pages and buttons use the default date, like an operator
        return st

    async def __aexit__(self, *exc: Any) -> None:
        await self._cm.__aexit__(*exc)


def live(characters: int, **kw: Any) -> SimConfig:
    """A world whose clock is today noon KST: the page's buttons use the real default date."""
    return SimConfig(seed=11, characters=characters, now=sim_now(), **kw)


def _csrf(html: str) -> str:
    found = re.search(r'<meta name="csrf-token" content="([0-9a-f]*)">', html)
    assert found, "the page carries its CSRF token in a meta tag"
    return found.group(1)


async def _login(url: str) -> httpx.AsyncClient:
    client = httpx.AsyncClient(base_url=url, timeout=30)
    res = await client.post("/login", data={"token": TOKEN})
    assert res.status_code == 303, res.text
    return client


async def _wait(client: httpx.AsyncClient, run_id: str, within: float = 180) -> dict[str, Any]:
    async with asyncio.timeout(within):  # waits for the run to end
        while True:
            body: dict[str, Any] = (await client.get(f"/api/internal/runs/{run_id}")).json()
            if body.get("terminal"):
                return body
            await asyncio.sleep(0.05)


async def _complete(client: httpx.AsyncClient, phase: str, upstream: str | None = None) -> str:
    """Trigger and wait generously (a loaded CI machine), unlike support's 30 s."""
    headers = {"X-Upstream-Run-Id": upstream} if upstream else {}
    res = await client.post(f"/api/internal/trigger/phase/{phase}", headers=headers)
    assert res.status_code == 202, res.text
    run = await _wait(client, res.json()["runId"])
    assert run["status"] == "COMPLETED", run
    return str(run["runId"])


async def test_login_sets_a_strict_httponly_cookie_never_the_token(
    tmp_path: Path, clean_env: None
) -> None:
    async with stack(tmp_path, sim_config=live(40), api_token=TOKEN) as st:
        anon = httpx.AsyncClient(base_url=st.svc.url, timeout=30)
        page = await anon.get("/")
        assert page.status_code == 200 and 'action="/login"' in page.text
        assert "RANKING_FETCH" not in page.text  # nothing of the state before login
        assert (await anon.get("/api/internal/overview")).status_code == 401
        wrong = await anon.post("/login", data={"token": "nope"})
        assert wrong.status_code == 401 and "wrong token" in wrong.text
        assert SESSION_COOKIE not in wrong.headers.get("set-cookie", "")

        ok = await anon.post("/login", data={"token": TOKEN})
        assert ok.status_code == 303 and ok.headers["location"] == "/"
        cookie = ok.headers["set-cookie"]
        assert cookie.startswith(f"{SESSION_COOKIE}=")
        assert "HttpOnly" in cookie and "SameSite=strict" in cookie.replace("Strict", "strict")
        assert TOKEN not in cookie
        assert "token" not in ok.headers["location"]

        page = await anon.get("/")
        assert page.status_code == 200 and 'data-phase="RANKING_FETCH"' in page.text
        assert "Content-Security-Policy" in page.headers
        assert (await anon.get("/api/internal/overview")).status_code == 200

        # Writes with the cookie need the page's CSRF header; the bearer needs none.
        no_csrf = await anon.post("/api/internal/trigger/phase/RANKING_FETCH")
        assert no_csrf.status_code == 403 and no_csrf.json()["error"] == "CSRF_REJECTED"
        wrong_csrf = await anon.post(
            "/api/internal/trigger/phase/RANKING_FETCH", headers={"X-CSRF-Token": "0" * 64}
        )
        assert wrong_csrf.status_code == 403
        started = await anon.post(
            "/api/internal/trigger/phase/RANKING_FETCH",
            headers={"X-CSRF-Token": _csrf(page.text)},
        )
        assert started.status_code == 202, started.text
        await _wait(anon, started.json()["runId"])
        # A wrong bearer is refused even next to a good cookie (no silent fallback).
        bad_bearer = await anon.get(
            "/api/internal/overview", headers={"Authorization": "Bearer wrong"}
        )
        assert bad_bearer.status_code == 401

        # Logging out ends the page session; a forged or expired cookie is refused.
        out = await anon.post("/logout")
        assert out.status_code == 303
        assert (await anon.get("/api/internal/overview")).status_code == 401
        forged = httpx.AsyncClient(
            base_url=st.svc.url, cookies={SESSION_COOKIE: "9999999999.deadbeef"}
        )
        assert (await forged.get("/api/internal/overview")).status_code == 401
        for client in (anon, forged):
            await client.aclose()


async def test_metrics_need_the_token_unless_public(tmp_path: Path, clean_env: None) -> None:
    async with stack(tmp_path / "a", sim_config=live(20), api_token=TOKEN) as st:
        anon = httpx.AsyncClient(base_url=st.svc.url, timeout=30)
        assert (await anon.get("/metrics")).status_code == 401
        res = await anon.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
        assert res.status_code == 200 and "maplecollect_daily_snapshot_overdue" in res.text
        await anon.aclose()
    async with stack(
        tmp_path / "b", sim_config=live(20), api_token=TOKEN, metrics_public=True
    ) as st:
        res = await st.svc.client.get("/metrics")
        assert res.status_code == 200
        # ... and only /metrics: the control API keeps its token.
        assert (await st.svc.client.get("/api/internal/run-status")).status_code == 401


async def test_run_page_lists_parts_streams_them_and_shows_korean_failures(
    tmp_path: Path, clean_env: None
) -> None:
    async with stack(tmp_path, sim_config=live(150), chunk_max_records=40) as st:
        ranking = await _complete(st.svc.client, "RANKING_FETCH")
        ocid = await _complete(st.svc.client, "OCID_LOOKUP", upstream=ranking)
        client = st.svc.client
        run = (await client.get(f"/api/internal/runs/{ocid}")).json()
        assert run["recordsFailed"] > 0  # renamed characters: OPENAPI00003

        page = await client.get(f"/runs/{ocid}")
        assert page.status_code == 200
        assert page.headers["content-type"] == "text/html; charset=utf-8"
        failures = (await client.get(f"/api/internal/runs/{ocid}/failures")).json()
        samples = failures["byCode"]["OPENAPI00003"]["samples"]
        korean = [s["key"] for s in samples if HANGUL.search(s["key"])]
        assert korean  # the world's names are mostly Hangul
        for key in korean:
            assert f'<td class="key">{key}</td>' in page.text  # as text, in UTF-8
        assert failures["byCode"]["OPENAPI00003"]["count"] == run["recordsFailed"]

        manifest = (
            await client.get(f"/api/internal/runs/{ocid}/files/ocid-lookup/manifest.json")
        ).json()
        assert len(manifest["chunks"]) >= 3
        links = re.findall(
            r'href="(/api/internal/runs/[^"]+/chunks/part-\d+\.jsonl\.zst)"', page.text
        )
        assert len(links) == len(manifest["chunks"])
        for link, entry in zip(links, manifest["chunks"], strict=True):
            assert entry["sha256"] in page.text
            body = (await client.get(link)).content
            assert hashlib.sha256(body).hexdigest() == entry["sha256"]
        base = f"/api/internal/runs/{ocid}/files/ocid-lookup"
        for bad in (
            f"{base}/chunks/part-999999.jsonl.zst",  # not a part of this run
            f"{base}/chunks/manifest.json",  # not a part name
            f"{base}/other/part-000001.jsonl.zst",  # not a run folder
            f"/api/internal/runs/{ocid}/files/item-equipment/chunks/part-000001.jsonl.zst",
            f"{base}/chunks/..%2F..%2Fmanifest.json",
        ):
            res = await client.get(bad)
            assert res.status_code == 404, (bad, res.status_code)
        assert (await client.get(f"{base}/chunks/%2e%2e")).status_code in (400, 404)
        missing = await client.get(
            "/api/internal/runs/no-such-run/files/x/chunks/part-000001.jsonl.zst"
        )
        assert missing.status_code == 404
        assert (await client.get("/runs/no-such-run")).status_code == 404


async def test_days_grid_and_throughput_samples_mark_429s(tmp_path: Path, clean_env: None) -> None:
    # The simulated key allows 20 req/s while the service sends up to 60/s: 429s follow.
    config = live(150, api_keys={"test-key": 20.0})
    async with stack(tmp_path, sim_config=config, rate_limit=60.0, progress_seconds=0.2) as st:
        client = st.svc.client
        res = await client.post("/api/internal/trigger/daily")
        assert res.status_code == 202
        chain_id = res.json()["chainId"]
        async with asyncio.timeout(120):  # waits for the chain to end
            while True:
                chain = (await client.get(f"/api/internal/chains/{chain_id}")).json()
                if chain["status"] != "RUNNING":
                    break
                await asyncio.sleep(0.1)
        overview = (await client.get("/api/internal/overview")).json()
        today = overview["days"][0]
        assert today["chainId"] == chain_id and today["chainStatus"] == "COMPLETED"
        assert [c["colour"] for c in today["cells"]] == ["green"] * 4
        assert all(d["chainId"] is None for d in overview["days"][1:])
        assert {c["colour"] for d in overview["days"][1:] for c in d["cells"]} == {"grey"}
        page = (await client.get("/")).text
        for cell in today["cells"]:
            assert f'href="/runs/{cell["runId"]}"' in page

        basic = today["cells"][2]["runId"]
        samples = (await client.get(f"/api/internal/runs/{basic}/samples")).json()
        rows = samples["samples"]
        assert len(rows) >= 2
        records = [r[1] for r in rows]
        assert records == sorted(records)  # progress never goes back
        assert max(r[3] for r in rows) > 0  # requests/s seen
        limited = (await client.get("/metrics")).text
        total_429 = sum(
            float(line.rsplit(" ", 1)[1])
            for line in limited.splitlines()
            if line.startswith("maplecollect_nexon_rate_limited_total{")
        )
        assert total_429 > 0
        every_run = [c["runId"] for c in today["cells"]]
        marked = 0.0
        for run_id in every_run:
            body = (await client.get(f"/api/internal/runs/{run_id}/samples")).json()
            marked += sum(r[4] for r in body["samples"])
        assert marked > 0  # the 429s show up in some run's chart
        assert (await client.get("/api/internal/runs/unknown/samples")).json()["samples"] == []
