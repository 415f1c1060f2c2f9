"""Start and stop service processes for restart tests."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import IO

import httpx

SERVE_FAKE = Path(__file__).with_name("serve_fake.py")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _clean_env(**extra: str) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("MAPLECOLLECT_", "NEXON_")) or k.startswith("MAPLECOLLECT_TEST_")
    }
    env.update(extra)
    return env


def _wait_healthy(proc: subprocess.Popen[bytes], url: str) -> None:
    # Generous: importing the app costs CPU-seconds, and a loaded machine stretches them.
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"service exited with {proc.returncode}")
        try:
            if httpx.get(f"{url}/health", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    proc.kill()
    raise RuntimeError("service did not start")


def start_fake_service(
    data_dir: Path, *modes: str, env: dict[str, str] | None = None
) -> tuple[subprocess.Popen[bytes], str]:
    """The real API with test-double phases, in its own process."""
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, str(SERVE_FAKE), str(data_dir), str(port), *modes],
        env=_clean_env(**(env or {})),
    )
    url = f"http://127.0.0.1:{port}"
    _wait_healthy(proc, url)
    return proc, url


def start_real_service(
    data_dir: Path, *, port: int | None = None, stderr: IO[bytes] | None = None, **env: str
) -> tuple[subprocess.Popen[bytes], str]:
    """`maplecollect serve` exactly as an operator runs it, configured by environment.

    `port` reuses a port (a restart behind the same URL); `stderr` captures its log.
    """
    port = port or free_port()
    exe = shutil.which("maplecollect", path=str(Path(sys.executable).parent))
    assert exe, "the maplecollect console script is not installed in this venv"
    proc = subprocess.Popen(
        [exe, "serve", "--port", str(port), "--log-level", "warning"],
        env=_clean_env(MAPLECOLLECT_DATA_DIR=str(data_dir), **env),
        stderr=stderr,
    )
    url = f"http://127.0.0.1:{port}"
    _wait_healthy(proc, url)
    return proc, url
