"""Run the CLI through Typer's CliRunner or as a real subprocess of the console script."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from typer.testing import CliRunner, Result

from maplecollect.cli import app

EXE = shutil.which("maplecollect", path=str(Path(sys.executable).parent))


def clean_env(**extra: str) -> dict[str, str]:
    """The environment of a subprocess: no MAPLECOLLECT_* / NEXON_* from the developer."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("MAPLECOLLECT_", "NEXON_")) or k.startswith("MAPLECOLLECT_TEST_")
    }
    env.update({"COLUMNS": "200", "NO_COLOR": "1"})
    env.update(extra)
    return env


@dataclass
class Ran:
    """One finished command, in-process (CliRunner) or as a subprocess."""

    code: int
    stdout: str
    stderr: str

    @property
    def json(self) -> Any:
        return json.loads(self.stdout)

    @property
    def err_lines(self) -> list[str]:
        return [line for line in self.stderr.splitlines() if line.strip()]


def invoke(args: list[str], env: dict[str, str] | None = None) -> Ran:
    """Through Typer's CliRunner (same process)."""
    result: Result = CliRunner().invoke(app, args, env={"COLUMNS": "200", **(env or {})})
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return Ran(result.exit_code, result.stdout, result.stderr)


def spawn(args: list[str], env: dict[str, str] | None = None, timeout: float = 240) -> Ran:
    """Through the installed console script, in a real subprocess."""
    assert EXE, "the maplecollect console script is not installed in this venv"
    proc = subprocess.run(
        [EXE, *args],
        env=clean_env(**(env or {})),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    return Ran(proc.returncode, proc.stdout, proc.stderr)
