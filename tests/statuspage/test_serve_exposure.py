"""`maplecollect serve` as an operator runs it: access log without query strings,
/metrics behind the token, the status page at `/`."""

from __future__ import annotations

import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx

from support.procs import _clean_env, free_port

TOKEN = "serve-test-token-0123456789"


def test_access_log_has_no_query_strings_and_metrics_need_the_token(tmp_path: Path) -> None:
    port = free_port()
    exe = shutil.which("maplecollect", path=str(Path(sys.executable).parent))
    assert exe
    proc = subprocess.Popen(
        [exe, "serve", "--port", str(port), "--log-level", "info"],
        env=_clean_env(MAPLECOLLECT_DATA_DIR=str(tmp_path), MAPLECOLLECT_API_TOKEN=TOKEN),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        # Generous: importing the app takes seconds of CPU on a loaded 2-core machine.
        deadline = time.monotonic() + 180
        while True:  # waits for /health to answer
            assert proc.poll() is None, "serve exited"
            try:
                if httpx.get(f"{url}/health", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, "serve did not become healthy within 180 s"
            time.sleep(0.1)
        bearer = {"Authorization": f"Bearer {TOKEN}"}
        res = httpx.get(f"{url}/api/internal/runs?limit=3&note=QUERYSECRET", headers=bearer)
        assert res.status_code == 200
        assert httpx.get(f"{url}/?from=QUERYTWO").status_code == 200  # the login form
        assert 'action="/login"' in httpx.get(f"{url}/").text
        assert httpx.get(f"{url}/metrics").status_code == 401
        assert httpx.get(f"{url}/metrics", headers=bearer).status_code == 200
    finally:
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=60)
    log = out.decode()
    assert f"status page: http://127.0.0.1:{port}/" in log
    assert '"GET /api/internal/runs HTTP/1.1" 200' in log, log[-2000:]
    assert '"GET /metrics HTTP/1.1" 401' in log
    assert "QUERYSECRET" not in log and "QUERYTWO" not in log and "limit=3" not in log
    assert TOKEN not in log


def test_serve_still_refuses_a_public_bind_without_a_token(tmp_path: Path, clean_env: None) -> None:
    from cli.clitools import invoke

    ran = invoke(["serve", "--host", "0.0.0.0"], env={"MAPLECOLLECT_DATA_DIR": str(tmp_path)})
    assert ran.code == 2
    assert "refusing to bind 0.0.0.0 without MAPLECOLLECT_API_TOKEN" in ran.stderr
