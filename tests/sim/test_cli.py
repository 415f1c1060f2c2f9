"""`sim_command`: flag parsing and validation, and a real run in a subprocess."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import urllib.request

import orjson
import pytest
import typer
from typer.testing import CliRunner

from maplecollect.sim import cli
from maplecollect.sim.cli import parse_api_keys, sim_command
from maplecollect.sim.config import DEFAULT_API_KEY, SimConfig
from maplecollect.sim.simulator import Simulator


def _app() -> typer.Typer:
    app = typer.Typer()
    app.command()(sim_command)
    return app


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["--port", "70000"], "--port"),
        (["--characters", "0"], "--characters"),
        (["--fault-rate", "1.5"], "--fault-rate"),
        (["--rate-limit", "-1"], "--rate-limit"),
        (["--now", "tomorrow"], "--now"),
        (["--api-key", "k=fast"], "--api-key"),
        (["--fault-kinds", "5xx,meteor"], "--fault-kinds"),
        (["--latency-ms", "50", "--latency-p99-ms", "10"], "p99"),
        (["--item-min-kb", "300"], "--item-min-kb"),
    ],
)
def test_invalid_flags_give_a_clear_error(args: list[str], needle: str) -> None:
    result = CliRunner().invoke(_app(), args)
    assert result.exit_code == 2
    assert needle in result.output
    assert "Traceback" not in result.output


def test_flags_map_to_the_config(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[SimConfig] = []

    async def serve(simulator: Simulator, host: str, port: int) -> None:
        seen.append(simulator.config)

    monkeypatch.setattr(cli, "_serve_until_stopped", serve)
    flags = ["--characters", "10", "--seed", "5", "--api-key", "a", "--api-key", "b=20"]
    flags += ["--api-key", "c=0", "--rate-limit", "100", "--latency-ms", "10"]
    flags += ["--latency-p99-ms", "80", "--fault-rate", "0.3", "--fault-kinds", "5xx,hang"]
    flags += ["--hang-seconds", "9", "--now", "2026-11-27T12:00", "--renamed-fraction", "0.1"]
    flags += ["--empty-fraction", "0.2", "--item-max-kb", "100", "--item-min-kb", "20"]
    result = CliRunner().invoke(_app(), flags)
    assert result.exit_code == 0, result.output
    [config] = seen
    assert config.api_keys == {"a": 100, "b": 20, "c": None}
    assert (config.faults.error_rate, config.faults.hang_rate) == (0.15, 0.15)
    assert (config.faults.gateway_rate, config.faults.reset_rate) == (0.0, 0.0)
    assert config.faults.hang_seconds == 9
    assert config.latency.kind == "lognormal"
    assert config.now is not None and config.now.isoformat() == "2026-11-27T12:00:00+09:00"
    assert (config.item_max_bytes, config.item_min_bytes) == (100_000, 20_000)


def test_default_key() -> None:
    assert parse_api_keys([], 500.0) == {"test-key": 500.0}
    assert parse_api_keys([], None) == {"test-key": None}
    # --help names the default without importing sim.config: it must stay the same key.
    help_text = CliRunner().invoke(_app(), ["--help"], env={"COLUMNS": "200"}).output
    assert f"Default: {DEFAULT_API_KEY}." in help_text


def test_runs_until_interrupted() -> None:
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    command = [sys.executable, "-m", "maplecollect.sim", "--port", "0", "--characters", "60"]
    command += ["--now", "2026-11-27T12:00+09:00"]
    proc = subprocess.Popen(
        command,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
    )
    try:
        assert proc.stdout is not None
        base_url = proc.stdout.readline().decode().strip()
        assert base_url.startswith("http://127.0.0.1:")
        with urllib.request.urlopen(f"{base_url}/_sim/world", timeout=10) as resp:
            assert orjson.loads(resp.read())["characters"] == 60
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 0
    assert b"Traceback" not in err
    assert b"simulator stopped" in err
