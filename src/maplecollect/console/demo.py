"""`maplecollect demo`: the whole system on one machine, on embedded defaults, in minutes.

The simulator and the control API in this process, then a tour through the API:
the daily chain, a re-run, a loop stopped, idle stops, and a summary (README).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.rule import Rule

from maplecollect.client.errors import Refused
from maplecollect.console.client import connect, describe
from maplecollect.console.errors import CliError, usage_error
from maplecollect.console.follow import follow
from maplecollect.console.render import (
    console,
    counts_table,
    elapsed,
    fmt_count,
    fmt_seconds,
    print_json,
    runs_table,
    status_table,
)
from maplecollect.dates import KST
from maplecollect.phases import ORDER, Phase

if TYPE_CHECKING:
    from maplecollect.client.sync import ControlClient
    from maplecollect.config import Settings

DEMO_KEY = "demo-key"
Body = dict[str, Any]


def sim_now() -> datetime:
    """Noon KST today: yesterday's ranking and character data are published by then."""
    today = datetime.now(UTC).astimezone(KST).date()
    return datetime(today.year, today.month, today.day, 12, 0, tzinfo=KST)


def wipe(data_dir: Path) -> None:
    """Remove what an earlier demo left (only the files a demo writes)."""
    for name in ("maplecollect.db", "maplecollect.db-wal", "maplecollect.db-shm"):
        (data_dir / name).unlink(missing_ok=True)
    shutil.rmtree(data_dir / "store", ignore_errors=True)


def shown_path(path: Path) -> str:
    """Relative to the working directory when below it (shorter, copy-pasteable)."""
    absolute = os.path.abspath(path)  # not resolve(): keep the venv's python symlink
    relative = os.path.relpath(absolute, Path.cwd())
    return absolute if relative.startswith("..") else relative


class Demo:
    def __init__(
        self, timeout: float, rate: float, out: Console, sim_url: str, api: ControlClient
    ) -> None:
        self.timeout = timeout
        self.rate = rate
        self.out = out
        self.sim_url = sim_url
        self.api = api
        self.deadline = time.monotonic() + timeout
        self.facts: dict[str, Any] = {}

    def left(self) -> float:
        left = self.deadline - time.monotonic()
        if left <= 0:
            raise CliError(f"the demo did not finish within --timeout {self.timeout:g} s")
        return left

    def step(self, title: str) -> None:
        self.out.print(Rule(title, align="left"))

    def sim(self, path: str, method: str = "GET") -> Body:
        """A control route of the simulator, e.g. `stats` (docs/simulator.md)."""
        import httpx

        return dict(httpx.request(method, f"{self.sim_url}/_sim/{path}", timeout=10).json())

    # -- the tour ----------------------------------------------------------------

    def daily(self) -> None:
        self.step("1. the daily chain: POST /api/internal/trigger/daily")
        self.sim("stats/reset", "POST")
        started = self.api.trigger_daily()
        if started.followed:
            raise CliError(f"daily chain not started: {describe(409, started.body)}")
        self.out.print(
            f"chain {started.chain_id} for snapshot {started.snapshot_date} "
            "(RANKING_FETCH → OCID_LOOKUP → CHARACTER_BASIC + ITEM_EQUIPMENT)"
        )
        chain = follow(self.api, "chain", started.chain_id, out=self.out, timeout=self.left())
        stats = self.sim("stats")
        if chain.get("status") != "COMPLETED":
            raise CliError(f"daily chain ended {chain.get('status')}: {chain.get('errorMessage')}")
        began = datetime.fromisoformat(chain["startedAt"])
        ended = datetime.fromisoformat(chain["completedAt"])
        self.facts["chain"] = chain
        self.facts["chain_requests"] = int(stats.get("total", 0))
        self.facts["chain_seconds"] = (ended - began).total_seconds()

    def rerun_one_phase(self) -> None:
        self.step("2. re-run one phase: CHARACTER_BASIC from the latest OCID_LOOKUP")
        started = self.api.trigger_phase(Phase.CHARACTER_BASIC, upstream_run_id="latest")
        if started.followed:
            raise CliError(f"CHARACTER_BASIC not started: {describe(409, started.body)}")
        self.out.print(
            f"run {started.run_id} (upstream {started.upstream_run_id}, "
            f"date {started.snapshot_date})"
        )
        run = follow(self.api, "run", started.run_id, out=self.out, timeout=self.left())
        if run["status"] != "COMPLETED":
            raise CliError(f"CHARACTER_BASIC ended {run['status']}: {run.get('errorMessage')}")

    def loop_and_stop(self) -> None:
        self.step("3. loop ITEM_EQUIPMENT, see an iteration finish, then stop the loop")
        loop_started = self.api.start_loop(Phase.ITEM_EQUIPMENT, interval_seconds=0)
        if loop_started.already_active:
            raise CliError(f"loop not started: {describe(409, loop_started.body)}")
        loop_id = loop_started.loop_id
        self.out.print(f"loop {loop_id} started (date {loop_started.snapshot_date})")
        first = self.wait_iteration(loop_id, lambda loop: bool(loop.get("currentRunId")))
        run = follow(self.api, "run", first["currentRunId"], out=self.out, timeout=self.left())
        self.out.print(f"iteration 1: run {run['runId']} {run['status']}")
        try:
            self.api.trigger_phase(Phase.ITEM_EQUIPMENT, upstream_run_id="latest")
        except Refused as exc:
            self.out.print(
                f"a one-shot ITEM_EQUIPMENT while the loop runs is refused: HTTP {exc.status} "
                f"{exc.code} (loop {exc.body.get('loopId')})"
            )
        else:
            raise CliError("a one-shot ITEM_EQUIPMENT was accepted while its loop runs")
        second = self.wait_iteration(
            loop_id,
            lambda loop: loop.get("iterationCount", 0) >= 1 and bool(loop.get("currentRunId")),
        )
        time.sleep(min(1.0, self.left()))  # let the second iteration collect a little
        stop = self.api.stop_loop(Phase.ITEM_EQUIPMENT).body
        self.out.print(
            f"maplecollect stop-loop ITEM_EQUIPMENT → {stop['status']} "
            f"(loop {stop.get('loopId')}, run {stop.get('runId')})"
        )
        stopped = follow(self.api, "run", second["currentRunId"], out=self.out, timeout=self.left())
        loop = self.wait_iteration(loop_id, lambda loop: loop.get("status") == "STOPPED")
        self.out.print(
            f"loop {loop_id} {loop['status']} after {loop['iterationCount']} finished "
            f"iteration(s); the interrupted run ended {stopped['status']} with a manifest of "
            f"its {stopped['recordsProcessed']:,} records"
        )

    def wait_iteration(self, loop_id: str, ready: Any) -> Body:
        while True:
            found = self.api.run_status().loop_summaries.get(Phase.ITEM_EQUIPMENT)
            loop = found.wire() if found is not None else {}
            if loop.get("loopId") == loop_id and ready(loop):
                return dict(loop)
            if loop.get("loopId") == loop_id and loop.get("status") == "STOPPED":
                raise CliError(f"loop {loop_id} stopped on its own: {loop.get('lastError')}")
            self.left()
            time.sleep(0.2)

    def idle_stops(self) -> None:
        self.step("4. stopping what is idle is harmless")
        body = self.api.stop_phase(Phase.RANKING_FETCH).body
        self.out.print(
            f"maplecollect stop RANKING_FETCH → {body['status']} (last run {body.get('lastRunId')})"
        )
        body = self.api.stop_loop(Phase.CHARACTER_BASIC).body
        self.out.print(f"maplecollect stop-loop CHARACTER_BASIC → {body['status']}")
        self.out.print(status_table(self.api.run_status().wire()))

    # -- the summary -------------------------------------------------------------

    def duckdb_check(self, store: Path, chain: Body) -> tuple[str, str]:
        """The one-liner printed for the reader, and what it printed when the demo ran it."""
        basic = chain["runs"]["CHARACTER_BASIC"]["runId"]
        glob = f"{shown_path(store)}/runs/{basic}/character-basic/chunks/*.jsonl.zst"
        sql = (
            "select body.character_class as class, count(*) as characters "
            f"from read_json('{glob}') where not empty group by 1 order by 2 desc limit 5"
        )
        python = shown_path(Path(sys.executable))
        one_liner = f'{python} -c "import duckdb; duckdb.sql(\\"{sql}\\").show()"'
        try:
            import duckdb
        except ImportError:
            return one_liner, "(duckdb is not installed here: pip install duckdb)"
        try:
            files = store / "runs" / basic / "character-basic" / "chunks" / "*.jsonl.zst"
            relation = duckdb.sql(sql.replace(glob, str(files)))
            rows = relation.fetchall() if relation is not None else []
        except Exception as exc:  # the one-liner must work: say so loudly if not
            raise CliError(f"the DuckDB query over the snapshot failed: {exc}") from None
        return one_liner, ", ".join(f"{cls} {n}" for cls, n in rows)

    def summary(self, total_seconds: float, store: Path, db: Path) -> Body:
        self.step("summary")
        chain = self.facts["chain"]
        runs = [run.wire() for run in reversed(self.api.runs(limit=100))]
        title = "records and failures per phase (all runs of the demo)"
        table = counts_table(title, ("phase", "runs", "records", "failed", "statuses"))
        per_phase: dict[str, Body] = {}
        for phase in ORDER:
            mine = [r for r in runs if r["phase"] == phase.value]
            statuses = sorted({r["status"] for r in mine})
            records = sum(int(r["recordsProcessed"]) for r in mine)
            failed = sum(int(r["recordsFailed"]) for r in mine)
            per_phase[phase.value] = {"runs": len(mine), "records": records, "failed": failed}
            table.add_row(
                phase.value,
                str(len(mine)),
                fmt_count(records),
                fmt_count(failed),
                " ".join(statuses),
            )
        self.out.print(runs_table(runs, title="every run of the demo (oldest first)"))
        self.out.print(table)

        requests = self.facts["chain_requests"]
        seconds = self.facts["chain_seconds"]
        minimum = requests / self.rate
        share = (minimum / seconds * 100) if seconds > 0 else 0.0
        self.out.print(
            f"daily chain: {requests:,} API requests in {seconds:.1f} s; the rate limit "
            f"({self.rate:g} req/s) allows it in {minimum:.1f} s at best "
            f"→ {share:.0f}% of the limit used"
        )
        world = self.sim("world")
        self.out.print(
            f"simulator truth: {world['characters']:,} characters, {world['renamedNames']} renamed "
            f"(→ OCID_LOOKUP failures, OPENAPI00003), {world['emptyCharacters']} empty"
        )
        one_liner, result = self.duckdb_check(store, chain)
        self.out.print("artifacts:")
        self.out.print(f"  store     {shown_path(store)}/runs/<runId>/<endpoint>/")
        self.out.print(f"  database  {shown_path(db)}")
        for phase in ORDER:
            run = chain["runs"].get(phase.value) or {}
            if run.get("manifestPath"):
                self.out.print(f"  {phase.value:<16} {run['manifestPath']}")
        self.out.print("query the snapshot with DuckDB (the demo just ran this):")
        self.out.print(f"  {one_liner}", soft_wrap=True, markup=False)
        self.out.print(f"  → {result}")
        self.out.print(f"demo finished in {fmt_seconds(total_seconds)}")
        return {
            "chainId": chain["chainId"],
            "snapshotDate": chain["snapshotDate"],
            "perPhase": per_phase,
            "chainRequests": requests,
            "chainSeconds": round(seconds, 2),
            "rateLimitMinimumSeconds": round(minimum, 2),
            "store": str(store),
            "database": str(db),
            "manifests": {p: r.get("manifestPath") for p, r in chain["runs"].items()},
            "duckdb": one_liner,
            "duckdbResult": result,
            "runs": [
                {k: r[k] for k in ("runId", "phase", "status", "recordsProcessed", "recordsFailed")}
                | {"seconds": elapsed(r)}
                for r in runs
            ],
        }


def keep_serving(out: Console, url: str) -> None:
    """Block until Enter (or end of input, or Ctrl-C) while the service thread serves."""
    out.print(f"status page: {url}/ — serving until you press Enter (or Ctrl-C)")
    with contextlib.suppress(KeyboardInterrupt):
        sys.stdin.readline()  # returns at once when stdin is closed (no hang in scripts)
    out.print("stopping the service and the simulator")


def demo_settings(**values: Any) -> Settings:
    """Settings from `values` and the defaults only: the environment is ignored.

    The demo must never write into a production database or store named by
    MAPLECOLLECT_DATABASE_URL / MAPLECOLLECT_STORE_URL, nor use a real key.
    """
    from pydantic_settings import BaseSettings, PydanticBaseSettingsSource

    from maplecollect.config import Settings

    class DemoSettings(Settings):
        @classmethod
        def settings_customise_sources(
            cls,
            settings_cls: type[BaseSettings],
            init_settings: PydanticBaseSettingsSource,
            env_settings: PydanticBaseSettingsSource,
            dotenv_settings: PydanticBaseSettingsSource,
            file_secret_settings: PydanticBaseSettingsSource,
        ) -> tuple[PydanticBaseSettingsSource, ...]:
            return (init_settings,)

    return DemoSettings(**values)


def demo(
    *,
    characters: Annotated[
        int,
        typer.Option(
            "--characters",
            min=10,
            max=200_000,
            envvar="MAPLECOLLECT_DEMO_CHARACTERS",
            help="Characters in the simulated world (small = quick, e.g. 100 in CI).",
        ),
    ] = 1000,
    rate: Annotated[
        float,
        typer.Option("--rate", min=1, max=5000, help="Rate limit of the simulated key, req/s."),
    ] = 100.0,
    latency_ms: Annotated[
        float, typer.Option("--latency-ms", min=0, max=2000, help="Simulated API latency (p50).")
    ] = 20.0,
    data_dir: Annotated[
        Path, typer.Option("--data-dir", help="Where the demo's database and store go.")
    ] = Path("data/demo"),
    seed: Annotated[int, typer.Option("--seed", help="Simulator world seed.")] = 42,
    timeout: Annotated[
        float, typer.Option("--timeout", min=10, help="Give up after this many seconds.")
    ] = 900.0,
    fresh: Annotated[
        bool,
        typer.Option(
            "--fresh/--no-fresh", help="Start from an empty data dir (default) or keep its runs."
        ),
    ] = True,
    keep: Annotated[
        bool,
        typer.Option(
            "--keep", help="After the tour, keep serving the status page until Enter or Ctrl-C."
        ),
    ] = False,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print the summary as JSON on stdout at the end.")
    ] = False,
) -> None:
    """Simulator + service + the daily chain + loop/stop, all local, in a few minutes."""
    if data_dir.exists() and not data_dir.is_dir():
        raise usage_error(f"--data-dir {data_dir} is not a directory")
    out = console(stderr=as_json)
    from maplecollect.console.service_thread import serve_in_thread
    from maplecollect.sim import Latency, SimConfig, run_simulator_in_thread

    data_dir.mkdir(parents=True, exist_ok=True)
    if fresh:
        wipe(data_dir)
    started = time.monotonic()
    config = SimConfig(
        seed=seed,
        characters=characters,
        api_keys={DEMO_KEY: rate},
        latency=Latency(latency_ms, latency_ms * 4 if latency_ms else None),
        now=sim_now(),
    )
    out.print(
        f"simulator: {characters:,} characters, {rate:g} req/s for key {DEMO_KEY!r}, "
        f"~{latency_ms:g} ms latency, clock pinned at {config.now:%Y-%m-%d %H:%M} KST"
    )
    with run_simulator_in_thread(config) as sim:
        # Embedded defaults only: no MAPLECOLLECT_* variable reaches the demo.
        settings = demo_settings(
            data_dir=data_dir,
            nexon_base_url=sim.base_url,
            nexon_api_key=DEMO_KEY,
            rate_limit=rate,
            max_in_flight=64,
            progress_seconds=0.5,
            chunk_max_records=500,
            pause_seconds=1.0,
            retry_base_delay=0.1,
            loop_upstream_wait_seconds=1.0,
        )
        with serve_in_thread(settings) as url:
            out.print(f"control API: {url} (docs at {url}/docs), data under {shown_path(data_dir)}")
            out.print(f"status page: {url}/ (open it to watch the tour live)")
            with connect(url) as api:
                health = api.health()
                out.print(f"GET /health → {health.status} (apiVersion {health.api_version})")
                tour = Demo(timeout, rate, out, sim.base_url, api)
                tour.daily()
                tour.rerun_one_phase()
                tour.loop_and_stop()
                tour.idle_stops()
                store = Path(settings.resolved_store_url)
                db = data_dir / "maplecollect.db"
                summary = tour.summary(time.monotonic() - started, store, db)
            if keep:
                keep_serving(out, url)
    if as_json:
        print_json(summary)


__all__ = ["demo", "sim_now"]
