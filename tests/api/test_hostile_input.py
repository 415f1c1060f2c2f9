"""Hostile input costs neither memory nor bandwidth (docs/control-api.md "Hostile input").

- The token is decided from the headers: a request without it is 401 before its
  body is read. A body over MAPLECOLLECT_MAX_BODY_BYTES is 413, at once when
  Content-Length says so, else once the bytes read pass the limit.
- 100 MB bodies, streamed to `maplecollect serve` (real uvicorn, own process):
  the server's RSS grows by less than 20 MB.
- Errors quote at most ~100 characters of what the client sent.
"""

from __future__ import annotations

import json
import socket
import subprocess
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from support.fake_phases import walkers
from support.procs import start_real_service
from support.service import RunningService, fast_settings, serve

TOKEN = "hostile-input-token-0123456789"
DAILY = "/api/internal/trigger/daily"
MB = 1024 * 1024


def _rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError("no VmRSS line")


@pytest.fixture(scope="module")
def served(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[subprocess.Popen[bytes], str]]:
    """`maplecollect serve` with a token, as an operator runs it (one per module: its
    start-up costs seconds of CPU)."""
    data = tmp_path_factory.mktemp("hostile")
    proc, url = start_real_service(data, MAPLECOLLECT_API_TOKEN=TOKEN)
    try:
        yield proc, url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _raw(url: str, head: str, body: bytes = b"") -> tuple[int, dict[str, Any]]:
    """Send a request head (+ some body bytes, maybe fewer than declared) on a raw
    socket and read the answer. The server must answer without the rest of the
    body: if it waited for it, this read would time out (a generous 30 s)."""
    host, port = url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=30) as sock:
        sock.sendall(head.encode() + body)
        data = b""
        while b"\r\n\r\n" not in data or not _complete(data):
            chunk = sock.recv(65536)
            if not chunk:
                break
            data += chunk
    status_line, _, rest = data.partition(b"\r\n")
    _, _, payload = rest.partition(b"\r\n\r\n")
    return int(status_line.split()[1]), json.loads(payload)


def _complete(data: bytes) -> bool:
    head, _, payload = data.partition(b"\r\n\r\n")
    for line in head.split(b"\r\n"):
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            return len(payload) >= int(value)
    return False


def _head(url: str, *, token: bool, length: int | None) -> str:
    host = url.removeprefix("http://")
    lines = [f"POST {DAILY} HTTP/1.1", f"Host: {host}", "Content-Type: application/json"]
    if token:
        lines.append(f"Authorization: Bearer {TOKEN}")
    lines.append(
        f"Content-Length: {length}" if length is not None else "Transfer-Encoding: chunked"
    )
    return "\r\n".join(lines) + "\r\n\r\n"


def test_the_answer_comes_from_the_headers_before_the_body(
    served: tuple[subprocess.Popen[bytes], str],
) -> None:
    _, url = served
    # 100 MB declared, not one byte sent: no token → 401, token → 413.
    status, body = _raw(url, _head(url, token=False, length=100 * MB))
    assert (status, body["error"]) == (401, "UNAUTHORIZED")
    status, body = _raw(url, _head(url, token=True, length=100 * MB))
    assert (status, body["error"]) == (413, "PAYLOAD_TOO_LARGE")
    assert body["limitBytes"] == 65536
    # Chunked (no length): 413 once 64 KiB + 1 byte have arrived; the rest never comes.
    chunk = b"%x\r\n%s\r\n" % (40 * 1024, b" " * 40 * 1024)
    status, body = _raw(url, _head(url, token=True, length=None), chunk * 2)
    assert (status, body["error"]) == (413, "PAYLOAD_TOO_LARGE")
    # Without a token a chunked body is not even started on.
    status, body = _raw(url, _head(url, token=False, length=None), chunk)
    assert (status, body["error"]) == (401, "UNAUTHORIZED")


def _hundred_mb() -> Iterator[bytes]:
    block = b" " * MB
    for _ in range(100):
        yield block


@pytest.mark.parametrize("declared", [True, False], ids=["content-length", "chunked"])
def test_100_mb_bodies_cost_the_server_less_than_20_mb(
    served: tuple[subprocess.Popen[bytes], str], declared: bool
) -> None:
    proc, url = served
    auth = {"Authorization": f"Bearer {TOKEN}"}
    headers = {"Content-Length": str(100 * MB)} if declared else {}
    with httpx.Client(base_url=url, timeout=60) as client:
        # Warm up the same paths with small bodies (lazy imports, first allocations).
        assert client.post(DAILY, content=b"{}" + b" " * 70_000).status_code == 401
        assert client.post(DAILY, content=b" " * 70_000, headers=auth).status_code == 413
        before = _rss_kib(proc.pid)
        res = client.post(DAILY, content=_hundred_mb(), headers=headers)
        assert res.status_code == 401, res.text
        assert res.json()["error"] == "UNAUTHORIZED"
        res = client.post(DAILY, content=_hundred_mb(), headers={**headers, **auth})
        assert res.status_code == 413, res.text
        assert res.json()["error"] == "PAYLOAD_TOO_LARGE"
        growth_mib = (_rss_kib(proc.pid) - before) / 1024
    assert growth_mib < 20, f"RSS grew by {growth_mib:.1f} MiB"


@pytest.fixture
async def small(tmp_path: Path, clean_env: None) -> AsyncIterator[RunningService]:
    """The real app in-process, a 4 KiB body limit, no token."""
    async with serve(fast_settings(tmp_path, max_body_bytes=4096), walkers()) as running:
        yield running


async def test_the_limit_is_a_setting_and_a_body_at_it_is_accepted(small: RunningService) -> None:
    body = b'{"date": "2026-01-05"}'
    at_limit = body + b" " * (4096 - len(body))
    json_type = {"Content-Type": "application/json"}
    res = await small.client.post(DAILY, content=at_limit, headers=json_type)
    assert res.status_code == 202, res.text
    await small.client.post("/api/internal/stop/phase/RANKING_FETCH")
    res = await small.client.post(DAILY, content=at_limit + b" ", headers=json_type)
    assert res.status_code == 413
    assert res.json() == {
        "error": "PAYLOAD_TOO_LARGE",
        "message": "the request body is larger than 4096 bytes (MAPLECOLLECT_MAX_BODY_BYTES)",
        "limitBytes": 4096,
    }


async def _assert_short(res: httpx.Response, code: str) -> dict[str, Any]:
    assert res.status_code == 400, res.text
    assert len(res.content) < 2000, len(res.content)  # whatever the size of the input
    body: dict[str, Any] = res.json()
    assert body["error"] == code
    return body


async def test_errors_quote_at_most_100_characters_of_input(small: RunningService) -> None:
    client = small.client
    long = "9" * 3000
    body = await _assert_short(await client.post(DAILY, json={"date": long}), "INVALID_DATE")
    assert body["date"].startswith("9" * 100) and "3000 characters" in body["date"]
    body = await _assert_short(await client.post(DAILY, json={"x" * 3000: 1}), "INVALID_REQUEST")
    assert "3000 characters" in body["details"][0]["field"]
    many = {f"k{i}": 1 for i in range(300)}
    body = await _assert_short(await client.post(DAILY, json=many), "INVALID_REQUEST")
    assert len(body["details"]) == 10 and body["message"].endswith("and 290 more")
    res = await client.post(f"/api/internal/trigger/phase/{'P' * 3000}")
    assert "3000 characters" in (await _assert_short(res, "INVALID_PHASE"))["phase"]
    res = await client.get("/api/internal/runs", params={"status": "S" * 3000})
    assert "3000 characters" in (await _assert_short(res, "INVALID_STATUS"))["message"]
    res = await client.get(f"/api/internal/runs/{'r' * 3000}")
    assert "3000 characters" in (await _assert_short(res, "INVALID_RUN_ID"))["runId"]
    res = await client.post(
        "/api/internal/trigger/phase/OCID_LOOKUP", headers={"X-Upstream-Run-Id": "!" * 3000}
    )
    assert "3000 characters" in (await _assert_short(res, "INVALID_RUN_ID"))["upstreamRunId"]
