"""`maplecollect run`: in-process collection against the simulator, no service."""

from __future__ import annotations

import asyncio
import contextlib
import signal
import subprocess
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from cli.clitools import EXE, invoke
from cli.clitools import clean_env as clean_env_of
from maplecollect.artifacts import read_manifest, read_run
from maplecollect.console.purge import purge_older_than
from maplecollect.console.settings import load_settings
from support.sim import SNAPSHOT


def _env(data_dir: Path, sim_url: str) -> dict[str, str]:
    return {
        "MAPLECOLLECT_DATA_DIR": str(data_dir),
        "MAPLECOLLECT_NEXON_BASE_URL": sim_url,
        "NEXON_API_KEY": "test-key",
        "MAPLECOLLECT_CHUNK_MAX_RECORDS": "50",
        "MAPLECOLLECT_PROGRESS_SECONDS": "0.1",
    }


def _check_complete_snapshot(store: Path, runs: dict[str, dict[str, Any]], truth: Any) -> None:
    """The manifests of a daily chain agree with the simulator's ground truth."""
    for phase, run in runs.items():
        assert run["status"] == "COMPLETED", (phase, run)
        endpoint = {
            "RANKING_FETCH": "ranking-overall",
            "OCID_LOOKUP": "ocid-lookup",
            "CHARACTER_BASIC": "character-basic",
            "ITEM_EQUIPMENT": "item-equipment",
        }[phase]
        folder = store / "runs" / run["runId"] / endpoint
        assert (folder / "_SUCCESS").exists()
        assert run["manifestPath"].endswith(f"{run['runId']}/{endpoint}/manifest.json")
    manifest = {
        phase: read_manifest(run["runId"], run_endpoint, store_url=str(store))
        for (phase, run), run_endpoint in zip(
            runs.items(),
            ("ranking-overall", "ocid-lookup", "character-basic", "item-equipment"),
            strict=True,
        )
    }
    assert manifest["RANKING_FETCH"]["records"] == truth["characters"]
    assert manifest["RANKING_FETCH"]["records"] == sum(truth["rankingRows"].values())
    ocids = truth["distinctNames"] - truth["renamedNames"]
    assert manifest["OCID_LOOKUP"]["records"] == ocids
    assert manifest["OCID_LOOKUP"]["failed"] == truth["renamedNames"]
    for phase in ("CHARACTER_BASIC", "ITEM_EQUIPMENT"):
        assert manifest[phase]["records"] == ocids
        assert manifest[phase]["failed"] == 0
        assert manifest[phase]["snapshotDate"] == SNAPSHOT
        assert manifest[phase]["upstreamRunId"] == runs["OCID_LOOKUP"]["runId"]
    basic = list(
        read_run(runs["CHARACTER_BASIC"]["runId"], "character-basic", store_url=str(store))
    )
    assert sum(r["empty"] for r in basic) == truth["emptyCharacters"]


def test_run_daily_writes_a_complete_snapshot(cli: Any, simulator: str, tmp_path: Path) -> None:
    ran = cli(["run", "daily", "--date", SNAPSHOT, "--json"], env=_env(tmp_path, simulator))
    assert ran.code == 0, ran.stderr
    body = ran.json
    assert body["status"] == "COMPLETED"
    assert body["chainId"]
    runs = {r["phase"]: r for r in body["runs"]}
    assert list(runs) == ["RANKING_FETCH", "OCID_LOOKUP", "CHARACTER_BASIC", "ITEM_EQUIPMENT"]
    truth = httpx.get(f"{simulator}/_sim/world").json()
    _check_complete_snapshot(tmp_path / "store", runs, truth)
    # The progress bars went to stderr (stdout is the JSON); no traceback anywhere.
    assert "ITEM_EQUIPMENT" in ran.stderr
    assert "Traceback" not in ran.stderr


def test_run_one_phase_at_a_time_then_purge(
    clean_env: None, simulator: str, tmp_path: Path, monkeypatch: Any
) -> None:
    env = _env(tmp_path, simulator)
    early = invoke(["run", "OCID_LOOKUP"], env=env)
    assert early.code == 1
    assert early.err_lines == [
        "error: cannot start OCID_LOOKUP: there is no COMPLETED RANKING_FETCH run yet; "
        "run RANKING_FETCH first or pass --upstream RUN_ID"
    ]
    first = invoke(["run", "RANKING_FETCH", "--date", SNAPSHOT], env=env)
    assert first.code == 0, first.stderr
    assert "COMPLETED" in first.stdout
    # A non-root phase defaults to the newest COMPLETED upstream run.
    ocid = invoke(["run", "OCID_LOOKUP", "--json"], env=env)
    assert ocid.code == 0, ocid.stderr
    (ocid_run,) = ocid.json["runs"]
    assert ocid_run["snapshotDate"] == SNAPSHOT  # taken from the upstream run
    second = invoke(["run", "RANKING_FETCH", "--date", SNAPSHOT, "--json"], env=env)
    assert second.code == 0
    newest_ranking = second.json["runs"][0]["runId"]

    # Naming an upstream that does not exist is a failure with one line, not a traceback.
    missing = invoke(["run", "CHARACTER_BASIC", "--upstream", "no-such-run"], env=env)
    assert missing.code == 1
    assert missing.err_lines == [missing.err_lines[0]]
    assert "no-such-run not found" in missing.err_lines[0]

    # Nothing is old enough yet.
    none = invoke(["purge", "--older-than", "1d", "--yes", "--json"], env=env)
    assert none.code == 0, none.stderr
    assert none.json["storeRuns"] == [] and none.json["databaseRuns"] == []

    # With a cutoff in the future everything has ended before it, except what is kept:
    # the newest COMPLETED run of each phase.
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    settings = load_settings()
    cutoff = datetime.now(UTC) + timedelta(hours=1)
    dry = asyncio.run(purge_older_than(settings, cutoff, dry_run=True))
    older_ranking = first_ranking = dry.db_runs[0]
    assert dry.db_runs == [first_ranking]
    assert (tmp_path / "store" / "runs" / first_ranking).exists()
    done = asyncio.run(purge_older_than(settings, cutoff, dry_run=False))
    assert done.store_runs == [older_ranking] and done.db_runs == [older_ranking]
    assert not (tmp_path / "store" / "runs" / older_ranking).exists()
    assert (tmp_path / "store" / "runs" / newest_ranking).exists()
    assert sorted(done.kept_latest) == sorted([newest_ranking, ocid_run["runId"]])


def _db_rows(db: Path, sql: str) -> list[tuple[Any, ...]]:
    import sqlite3

    if not db.exists():
        return []
    with contextlib.closing(sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5)) as conn:
        try:
            return list(conn.execute(sql))
        except sqlite3.OperationalError:  # tables not created yet
            return []


@pytest.mark.slow
def test_kill_a_local_run_then_resume_it_locally(
    clean_env: None, simulator: str, tmp_path: Path
) -> None:
    env = _env(tmp_path, simulator) | {
        "MAPLECOLLECT_CHUNK_MAX_RECORDS": "10",
        "MAPLECOLLECT_RATE_LIMIT": "25",  # slow enough to be killed mid-phase
    }
    assert (
        invoke(
            ["run", "RANKING_FETCH", "--date", SNAPSHOT],
            env=env | {"MAPLECOLLECT_RATE_LIMIT": "500"},
        ).code
        == 0
    )
    assert invoke(["run", "OCID_LOOKUP"], env=env | {"MAPLECOLLECT_RATE_LIMIT": "500"}).code == 0
    db = tmp_path / "maplecollect.db"
    victim = subprocess.Popen(
        [EXE, "run", "ITEM_EQUIPMENT"],
        env=clean_env_of(**env),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        query = (
            "select r.run_id from runs r join chunks c on c.run_id = r.run_id "
            "where r.phase = 'ITEM_EQUIPMENT' group by r.run_id having count(*) >= 2"
        )
        deadline = time.monotonic() + 120
        while not (rows := _db_rows(db, query)):
            assert victim.poll() is None, "the run ended before it could be killed"
            assert time.monotonic() < deadline, "no chunk was published"
            time.sleep(0.05)
        (run_id,) = rows[0]
        victim.send_signal(signal.SIGKILL)
    finally:
        victim.kill()
        victim.wait(30)

    # The killed process's run is still RUNNING in the database; the next start sees
    # its owner is gone (ABANDONED) and `resume --local` continues it, same run id.
    resumed = invoke(
        ["resume", run_id, "--local", "--json"], env=env | {"MAPLECOLLECT_RATE_LIMIT": "500"}
    )
    assert resumed.code == 0, resumed.stderr
    (run,) = resumed.json["runs"]
    assert run["runId"] == run_id and run["status"] == "COMPLETED"
    assert run["resumeCount"] == 1
    truth = httpx.get(f"{simulator}/_sim/world").json()
    ocids = truth["distinctNames"] - truth["renamedNames"]
    store = str(tmp_path / "store")
    keys = [r["key"] for r in read_run(run_id, "item-equipment", store_url=store)]
    assert len(keys) == len(set(keys)) == ocids
    assert read_manifest(run_id, "item-equipment", store_url=store)["records"] == ocids

    again = invoke(["resume", run_id, "--local"], env=env)
    assert again.code == 1
    assert "is COMPLETED; cannot resume" in again.err_lines[0]


def _id_calls(simulator: str) -> int:
    stats = httpx.get(f"{simulator}/_sim/stats").json()
    return sum(stats["requests"].get("/maplestory/v1/id", {}).values())


def test_run_ocid_lookup_no_cache_looks_every_name_up_again(
    simulator: str, tmp_path: Path, clean_env: None
) -> None:
    env = _env(tmp_path, simulator)
    for args in (["run", "RANKING_FETCH"], ["run", "OCID_LOOKUP"]):
        ran = invoke([*args, "--date", SNAPSHOT, "--json"], env=env)
        assert ran.code == 0, ran.stderr
    truth = httpx.get(f"{simulator}/_sim/world").json()

    httpx.post(f"{simulator}/_sim/stats/reset")
    cached = invoke(["run", "OCID_LOOKUP", "--date", SNAPSHOT, "--json"], env=env)
    assert cached.code == 0, cached.stderr
    assert _id_calls(simulator) == truth["renamedNames"]  # only the names that never resolved

    httpx.post(f"{simulator}/_sim/stats/reset")
    fresh = invoke(["run", "OCID_LOOKUP", "--no-cache", "--date", SNAPSHOT, "--json"], env=env)
    assert fresh.code == 0, fresh.stderr
    assert _id_calls(simulator) == truth["distinctNames"]


def _ended(run: dict[str, Any]) -> float:
    started = datetime.fromisoformat(run["startedAt"])
    return (datetime.fromisoformat(run["completedAt"]) - started).total_seconds()


def test_api_unreachable_fails_within_seconds_and_is_never_latest(
    clean_env: None, simulator: str, tmp_path: Path
) -> None:
    """Nothing listens at the base URL: the circuit breaker fails the run (default settings)."""
    env = _env(tmp_path, simulator)
    ranking = invoke(["run", "RANKING_FETCH", "--date", SNAPSHOT, "--json"], env=env)
    assert ranking.code == 0, ranking.stderr
    good_ranking = ranking.json["runs"][0]["runId"]
    ocid = invoke(["run", "OCID_LOOKUP"], env=env)
    assert ocid.code == 0, ocid.stderr
    down = {**env, "MAPLECOLLECT_NEXON_BASE_URL": "http://127.0.0.1:1"}  # nothing listens
    failed: dict[str, str] = {}

    for phase, endpoint in (
        ("RANKING_FETCH", "ranking-overall"),
        ("CHARACTER_BASIC", "character-basic"),
    ):
        ran = invoke(["run", phase, "--date", SNAPSHOT, "--json"], env=down)
        assert ran.code == 1, ran.stderr
        (run,) = ran.json["runs"]
        failed[phase] = run["runId"]
        assert run["status"] == "FAILED"
        assert run["errorMessage"].startswith("CIRCUIT_BREAKER: ")
        assert "(TRANSPORT " in run["errorMessage"] and "3 pause(s) (14s)" in run["errorMessage"]
        assert ran.err_lines[-1] == f"error: {phase} ended FAILED: {run['errorMessage']}"
        # Seconds (3 back-off pauses of 2+4+8 s), not minutes of retries key by key:
        # 1,000 ranking pages or 100+ ocids were never all tried.
        assert _ended(run) < 60
        assert run["recordsFailed"] < 50
        assert not (tmp_path / "store" / "runs" / run["runId"] / endpoint / "_SUCCESS").exists()
        manifest = read_manifest(run["runId"], endpoint, store_url=str(tmp_path / "store"))
        assert manifest["status"] == "FAILED"

    # The failed runs are never "latest": the next phases still read the good ones.
    settings = load_settings_from(env)
    assert failed["RANKING_FETCH"] != good_ranking
    assert asyncio.run(_newest(settings, "RANKING_FETCH")) == good_ranking
    assert asyncio.run(_newest(settings, "CHARACTER_BASIC")) is None


def load_settings_from(env: dict[str, str]) -> Any:
    from maplecollect.config import Settings

    return Settings(data_dir=Path(env["MAPLECOLLECT_DATA_DIR"]))


async def _newest(settings: Any, phase: str) -> str | None:
    from maplecollect.phases import Phase
    from maplecollect.state.database import create_async_db_engine
    from maplecollect.state.repository import Repository

    repo = Repository(create_async_db_engine(settings.resolved_database_url))
    try:
        run = await repo.newest_completed(Phase(phase))
        return run.run_id if run else None
    finally:
        await repo.dispose()
