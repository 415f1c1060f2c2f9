"""The CLI says why a run waits, never waits without a bound, and ends honestly.

A real `maplecollect serve` (subprocess) collects from the simulator, whose clock
is pinned to 2026-11-27 KST: the simulator's "tomorrow" has no data yet, so a run
for it is paused by OPENAPI00009 (data not ready), deterministically.
"""

from __future__ import annotations

import signal
import sqlite3
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from cli.clitools import EXE, invoke, spawn
from cli.clitools import clean_env as clean_env_of
from support.procs import free_port, start_real_service
from support.sim import SIM_NOW, SNAPSHOT

NOT_READY = (SIM_NOW + timedelta(days=1)).date().isoformat()  # the simulator's tomorrow
PAUSED = "paused: OPENAPI00009 data not ready"


def _collect_env(data_dir: Path, sim_url: str, pause: str = "60") -> dict[str, str]:
    return {
        "MAPLECOLLECT_DATA_DIR": str(data_dir),
        "MAPLECOLLECT_NEXON_BASE_URL": sim_url,
        "NEXON_API_KEY": "test-key",
        "MAPLECOLLECT_PROGRESS_SECONDS": "0.1",
        "MAPLECOLLECT_HEARTBEAT_SECONDS": "0.2",
        # 60: long enough that "next try" is in the future whenever the CLI renders it.
        "MAPLECOLLECT_PAUSE_SECONDS": pause,
    }


class Services:
    """`maplecollect serve` subprocesses on one data folder and the simulator."""

    def __init__(self, data_dir: Path, sim_url: str) -> None:
        self.env = _collect_env(data_dir, sim_url)
        self.data_dir = data_dir
        del self.env["MAPLECOLLECT_DATA_DIR"]  # start_real_service sets it
        self.procs: list[subprocess.Popen[bytes]] = []

    def __call__(self, port: int | None = None, **env: str) -> str:
        """Start one (`port`: the old one again, a restart); returns its URL."""
        proc, url = start_real_service(self.data_dir, port=port, **(self.env | env))
        self.procs.append(proc)
        return url

    def stop_last(self) -> None:
        proc = self.procs[-1]
        proc.terminate()
        proc.wait(30)


@pytest.fixture
def service(tmp_path: Path, simulator: str) -> Iterator[Services]:
    services = Services(tmp_path / "svc", simulator)
    yield services
    for proc in services.procs:
        if proc.poll() is None:
            proc.terminate()
            proc.wait(30)


class Reader:
    """A subprocess whose stdout/stderr are read as they come (never by sleeping)."""

    def __init__(self, args: list[str], env: dict[str, str]) -> None:
        self.proc = subprocess.Popen(
            [str(EXE), *args],
            env=clean_env_of(PYTHONUNBUFFERED="1", **env),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.out: list[str] = []
        self.err: list[str] = []
        self._pumps = [
            threading.Thread(target=self._pump, args=(stream, sink), daemon=True)
            for stream, sink in ((self.proc.stdout, self.out), (self.proc.stderr, self.err))
        ]
        for thread in self._pumps:
            thread.start()

    @staticmethod
    def _pump(stream: Any, sink: list[str]) -> None:
        for line in iter(stream.readline, ""):
            sink.append(line)

    @property
    def stdout(self) -> str:
        return "".join(self.out)

    @property
    def stderr(self) -> str:
        return "".join(self.err)

    def wait_for(self, text: str, *, after: int = 0, within: float = 90) -> int:
        """Block until stdout holds `text` (past character `after`); returns where it ends."""
        deadline = time.monotonic() + within
        while (at := self.stdout.find(text, after)) < 0:
            assert self.proc.poll() is None or text in self.stdout[after:], (
                f"exited {self.proc.returncode} before printing {text!r}: "
                f"{self.stdout[-2000:]} {self.stderr[-2000:]}"
            )
            assert time.monotonic() < deadline, f"{text!r} not printed: {self.stdout[-2000:]}"
            time.sleep(0.05)
        return at + len(text)

    def interrupt(self) -> int:
        self.proc.send_signal(signal.SIGINT)
        return self.proc.wait(60)

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(30)
        for thread in self._pumps:
            thread.join(30)
        for stream in (self.proc.stdout, self.proc.stderr):
            if stream is not None:
                stream.close()


def _until(what: str, check: Callable[[], Any], within: float = 60) -> Any:
    deadline = time.monotonic() + within
    while not (found := check()):
        assert time.monotonic() < deadline, f"{what} did not happen"
        time.sleep(0.05)
    return found


def test_a_pause_shows_in_status_runs_and_wait_and_ctrl_c_leaves_it_running(
    service: Services, clean_env: None
) -> None:
    url = ["--url", service()]
    started = invoke(["trigger", "RANKING_FETCH", "--date", NOT_READY, "--json", *url])
    assert started.code == 0, started.stderr
    run_id = started.json["runId"]

    def paused() -> Any:
        run = invoke(["status", "--json", *url]).json["slots"]["RANKING_FETCH"]
        return run if run["runId"] == run_id and run["pause"] else None

    run = _until("the pause to reach run-status", paused)
    assert run["status"] == "RUNNING"
    assert (run["pause"]["code"], run["pause"]["reason"]) == ("OPENAPI00009", "data not ready")

    table = invoke(["status", *url])
    assert table.code == 0
    assert f"RUNNING {PAUSED}, next try " in table.stdout and " KST" in table.stdout
    assert "0.0/s" not in table.stdout  # a paused run has no rate to show
    detail = invoke(["runs", run_id, *url])
    assert PAUSED in detail.stdout and "since" in detail.stdout

    # --wait on the busy phase follows the run and says why it waits; Ctrl-C ends
    # the wait (exit 130), not the run.
    waiter = Reader(["trigger", "RANKING_FETCH", "--wait", *url], {})
    try:
        waiter.wait_for(f"RANKING_FETCH run {run_id} {PAUSED}, next try ")
        assert waiter.interrupt() == 130
    finally:
        waiter.close()
    assert "stopped following run" in waiter.stderr
    assert "a STOPPED run is not resumed" in waiter.stderr
    assert invoke(["runs", run_id, "--json", *url]).json["status"] == "RUNNING"

    stop = invoke(["stop", "RANKING_FETCH", "--wait", *url])
    assert stop.code == 0, stop.stderr
    assert f"run {run_id} ended STOPPED" in stop.stdout
    after = invoke(["runs", run_id, "--json", *url]).json
    assert after["status"] == "STOPPED" and after["pause"] is None


def test_smoke_fails_fast_on_a_pause_then_passes_for_a_ready_date(
    service: Services, clean_env: None
) -> None:
    # The pause gate is the process's (one Nexon client): keep it short for the runs after.
    url = ["--url", service(MAPLECOLLECT_PAUSE_SECONDS="0.5")]
    # No --date: "yesterday" in real time is after the simulator's pinned today.
    paused = spawn(["smoke", "--timeout", "600", *url])
    assert paused.code == 1
    assert paused.err_lines[-1].startswith(
        "error: smoke check failed at step 'trigger RANKING_FETCH'"
    )
    assert PAUSED in paused.err_lines[-1] and "pass --date" in paused.err_lines[-1]
    assert "did not happen within" not in paused.stdout + paused.stderr
    lines = paused.stdout.splitlines()
    starts = [i for i, line in enumerate(lines) if line.startswith("...  trigger RANKING_FETCH")]
    assert starts and starts[0] < lines.index(next(x for x in lines if x.startswith("FAIL")))
    assert "cleanup: stop requested for run" in paused.stdout

    daily = spawn(["trigger", "daily", "--date", SNAPSHOT, "--wait", *url])
    assert daily.code == 0, daily.stderr
    out = daily.stdout
    assert "COMPLETED" in out and "took " in out
    summary = out[out.index("daily chain ") :]
    for phase, endpoint in (
        ("RANKING_FETCH", "ranking-overall"),
        ("OCID_LOOKUP", "ocid-lookup"),
        ("CHARACTER_BASIC", "character-basic"),
        ("ITEM_EQUIPMENT", "item-equipment"),
    ):
        assert phase in summary
        assert f"/{endpoint}/manifest.json" in summary
    # The OCID bar shows its failures (renamed characters): the simulator has some.
    assert any("OCID_LOOKUP" in line and " failed" in line for line in out.splitlines())
    assert not any("ETA" in line and "COMPLETED" in line for line in out.splitlines()), (
        "a finished bar labels its elapsed time as ETA"
    )

    ok = spawn(["smoke", "--date", SNAPSHOT, "--timeout", "120", *url])
    assert ok.code == 0, ok.stdout + ok.stderr
    lines = ok.stdout.splitlines()
    for step in ("health", "trigger RANKING_FETCH", "loop ITEM_EQUIPMENT", "idle-stop"):
        begun = next(i for i, line in enumerate(lines) if line.startswith(f"...  {step}"))
        passed = next(i for i, line in enumerate(lines) if line.startswith(f"ok   {step}"))
        assert begun < passed
    assert f"started for {SNAPSHOT}" in ok.stdout


def test_status_watch_and_trigger_wait_survive_a_service_restart(
    service: Services, clean_env: None
) -> None:
    port = free_port()
    url = service(port)
    started = invoke(["trigger", "RANKING_FETCH", "--date", NOT_READY, "--json", "--url", url])
    run_id = started.json["runId"]  # paused: it keeps the wait going across the restart
    # TTY_* make Rich draw the live table into the pipe, as on a terminal.
    watch = Reader(
        ["status", "--watch", "--interval", "0.2", "--url", url],
        {"TTY_COMPATIBLE": "1", "TTY_INTERACTIVE": "1"},
    )
    waiter = Reader(["trigger", "RANKING_FETCH", "--wait", "--url", url], {})
    try:
        at = watch.wait_for("maplecollect phases")
        waited = waiter.wait_for(f"RANKING_FETCH run {run_id} {PAUSED}")
        service.stop_last()
        at = watch.wait_for("unreachable, retrying", after=at)
        waited = waiter.wait_for("unreachable, retrying for up to 120 s", after=waited)
        service(port)
        at = watch.wait_for("the control API answers again", after=at)
        watch.wait_for("maplecollect phases", after=at)
        waiter.wait_for("the control API answers again", after=waited)
        invoke(["stop", "RANKING_FETCH", "--url", url])  # whatever the restart left running
        assert waiter.proc.wait(120) == 1
        assert watch.interrupt() == 0
    finally:
        watch.close()
        waiter.close()
    assert f"RANKING_FETCH run {run_id} ended " in waiter.stderr


def test_ctrl_c_of_a_local_run_exits_130_and_says_stopped_runs_are_re_triggered(
    simulator: str, tmp_path: Path, clean_env: None
) -> None:
    env = _collect_env(tmp_path, simulator)
    local = Reader(["run", "RANKING_FETCH", "--date", NOT_READY], env)
    try:
        local.wait_for(PAUSED)
        assert local.interrupt() == 130
    finally:
        local.close()
    assert "interrupted: RANKING_FETCH ended STOPPED" in local.stderr
    assert "a STOPPED run is not resumed: run `maplecollect run RANKING_FETCH` again" in (
        " ".join(local.stderr.split())
    )
    with sqlite3.connect(tmp_path / "maplecollect.db") as db:
        rows = db.execute("select status, pause_code from runs").fetchall()
    assert rows == [("STOPPED", None)]


@pytest.mark.parametrize("bad", ["htp:/nexon", "http://127.0.0.1:port"])
def test_a_malformed_nexon_base_url_is_bad_usage_before_any_run_row(
    cli: Any, tmp_path: Path, bad: str
) -> None:
    env = {
        "MAPLECOLLECT_DATA_DIR": str(tmp_path),
        "NEXON_API_KEY": "test-key",
        "MAPLECOLLECT_NEXON_BASE_URL": bad,
    }
    commands = [["run", "RANKING_FETCH", "--date", SNAPSHOT]]
    if bad == "htp:/nexon":  # the service refuses to start the same way
        commands.append(["serve", "--port", "0"])
    for args in commands:
        ran = cli(args, env=env)
        assert ran.code == 2, (args, ran.stdout, ran.stderr)
        assert ran.err_lines == [
            "error: invalid settings: MAPLECOLLECT_NEXON_BASE_URL: Value error, must look like "
            "https://open.api.nexon.com or http://127.0.0.1:8090"
        ]
    assert not (tmp_path / "maplecollect.db").exists()  # no run row: no database at all


def test_help_shows_defaults_and_environment_variables(clean_env: None) -> None:
    trigger = " ".join(invoke(["trigger", "--help"]).stdout.split())
    # Plain click help joins an option's notes: "[env var: X; default: Y]".
    assert "[env var: MAPLECOLLECT_URL; default: http://127.0.0.1:8081]" in trigger
    assert "[env var: MAPLECOLLECT_API_TOKEN]" in trigger
    assert "[default: (latest)]" in trigger
    assert "[default: (yesterday in KST)]" in trigger
    smoke = " ".join(invoke(["smoke", "--help"]).stdout.split())
    assert "--date" in smoke and "[default: 900.0; x>=1]" in smoke
