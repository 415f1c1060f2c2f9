"""SIGKILL the service mid-phase, resume in a new process: the same records, none twice."""

from __future__ import annotations

import itertools
import random
import signal
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from maplecollect.artifacts import read_manifest, read_run
from maplecollect.sim import Latency, SimConfig, run_simulator_in_thread
from support.procs import start_real_service
from support.sim import SIM_NOW, SNAPSHOT


def _wait(url: str, run_id: str, predicate: Any, within: float = 120) -> dict[str, Any]:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        run = httpx.get(f"{url}/api/internal/runs/{run_id}", timeout=10).json()
        if predicate(run):
            return dict(run)
        time.sleep(0.05)
    raise AssertionError(f"run {run_id} did not reach the expected state")


def _trigger(url: str, phase: str, upstream: str | None = None) -> str:
    headers = {"X-Upstream-Run-Id": upstream} if upstream else {}
    res = httpx.post(
        f"{url}/api/internal/trigger/phase/{phase}", json={"date": SNAPSHOT}, headers=headers
    )
    assert res.status_code == 202, res.text
    return str(res.json()["runId"])


@pytest.mark.slow
@pytest.mark.parametrize("kill_after_parts", [1, 3])
def test_sigkill_then_resume_gives_the_uninterrupted_records(
    tmp_path: Path, kill_after_parts: int
) -> None:
    config = SimConfig(seed=5, characters=400, now=SIM_NOW, latency=Latency(p50_ms=2))
    with run_simulator_in_thread(config) as sim:
        env = {
            "MAPLECOLLECT_NEXON_BASE_URL": sim.base_url,
            "NEXON_API_KEY": "test-key",
            "MAPLECOLLECT_CHUNK_MAX_RECORDS": "25",
            "MAPLECOLLECT_RATE_LIMIT": "150",  # slow enough to be killed mid-phase
            "MAPLECOLLECT_PROGRESS_SECONDS": "0.1",
            # The manual path: auto-resume would continue the run by itself
            # (tests/collect/test_auto_resume.py).
            "MAPLECOLLECT_AUTO_RESUME": "0",
        }
        proc, url = start_real_service(tmp_path, **env)
        try:
            ranking = _trigger(url, "RANKING_FETCH")
            _wait(url, ranking, lambda r: r["status"] == "COMPLETED")
            ocid = _trigger(url, "OCID_LOOKUP", ranking)
            _wait(url, ocid, lambda r: r["status"] == "COMPLETED")
            victim = _trigger(url, "ITEM_EQUIPMENT", ocid)
            _wait(url, victim, lambda r: r["chunksProcessed"] >= kill_after_parts)
            time.sleep(random.uniform(0, 0.15))  # land anywhere inside the next part
        finally:
            proc.send_signal(signal.SIGKILL)
            proc.wait()

        proc, url = start_real_service(tmp_path, **env)
        try:
            abandoned = httpx.get(f"{url}/api/internal/runs/{victim}").json()
            assert abandoned["status"] == "ABANDONED"
            assert 0 < abandoned["chunksProcessed"] < 16
            res = httpx.post(f"{url}/api/internal/resume/run/{victim}")
            assert res.status_code == 202, res.text
            resumed = _wait(url, victim, lambda r: r["terminal"])
            assert resumed["status"] == "COMPLETED", resumed
            # The same phase, uninterrupted, for comparison.
            clean = _trigger(url, "ITEM_EQUIPMENT", ocid)
            _wait(url, clean, lambda r: r["status"] == "COMPLETED")
        finally:
            proc.terminate()
            proc.wait(timeout=60)

    store = str(tmp_path / "store")
    got = [(r["key"], r["body"]) for r in read_run(victim, "item-equipment", store_url=store)]
    want = [(r["key"], r["body"]) for r in read_run(clean, "item-equipment", store_url=store)]
    keys = [k for k, _ in got]
    assert len(keys) == len(set(keys)), "a key was collected twice"
    assert got == want
    ocids = [r["body"]["ocid"] for r in read_run(ocid, "ocid-lookup", store_url=store)]
    assert keys == ocids
    manifest = read_manifest(victim, "item-equipment", store_url=store)
    assert manifest["records"] == len(ocids)
    # Parts are numbered without gaps and cover the input without overlap.
    parts = manifest["chunks"]
    assert [p["part"] for p in parts] == list(range(1, len(parts) + 1))
    for before, after in itertools.pairwise(parts):
        assert after["firstIndex"] == before["lastIndex"] + 1
    # No stray part files beyond the manifest's.
    files = sorted((tmp_path / "store" / "runs" / victim / "item-equipment" / "chunks").iterdir())
    assert len(files) == len(parts)
