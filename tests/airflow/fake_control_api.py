"""A small stand-in for the control API (docs/control-api.md) on 127.0.0.1, for DAG-run tests.

Only what the DAG uses, with the same routes, statuses and bodies. Runs advance
when they are read: a run becomes COMPLETED (or FAILED, for phases in `fail`)
after `polls` reads of it; a stop makes it STOPPING, then STOPPED on the next
read. Every request is recorded (method, path, headers, JSON body).
The integration phase replaces this with the real service + simulator.
"""

from __future__ import annotations

import itertools
import json
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from maplecollect import API_VERSION
from maplecollect.phases import LOOPABLE, ORDER, Phase

SHORT = {p: p.short for p in ORDER}


@dataclass
class Recorded:
    method: str
    path: str
    headers: dict[str, str]
    body: Any


@dataclass
class FakeState:
    polls: int = 1
    fail: dict[str, str] = field(default_factory=dict)
    api_version: int = API_VERSION
    runs: dict[str, dict[str, Any]] = field(default_factory=dict)
    reads: dict[str, int] = field(default_factory=dict)
    loops: dict[str, dict[str, Any]] = field(default_factory=dict)
    chains: dict[str, list[str]] = field(default_factory=dict)
    requests: list[Recorded] = field(default_factory=list)
    ids: itertools.count = field(default_factory=lambda: itertools.count(1))

    # -- helpers ------------------------------------------------------------------

    def new_run(self, phase: Phase, *, status: str = "RUNNING", **extra: Any) -> dict[str, Any]:
        run_id = f"20260102-030000-{SHORT[phase]}-{next(self.ids):08x}"
        run = {
            "runId": run_id,
            "phase": phase.value,
            "status": status,
            "terminal": status not in ("RUNNING", "STOPPING"),
            "upstreamRunId": None,
            "chainId": None,
            "loopId": None,
            "airflowRunId": None,
            "snapshotDate": "2026-01-01",
            "errorMessage": None,
            **extra,
        }
        self.runs[run_id] = run
        return run

    def active(self, phase: Phase) -> dict[str, Any] | None:
        for run in self.runs.values():
            if run["phase"] == phase.value and run["status"] in ("RUNNING", "STOPPING"):
                return run
        return None

    def newest(self, phase: Phase, status: str | None = None) -> dict[str, Any] | None:
        found = [r for r in self.runs.values() if r["phase"] == phase.value]
        if status:
            found = [r for r in found if r["status"] == status]
        return found[-1] if found else None

    def advance(self, run: dict[str, Any]) -> None:
        run_id = run["runId"]
        self.reads[run_id] = self.reads.get(run_id, 0) + 1
        if run["status"] == "STOPPING":
            run.update(status="STOPPED", terminal=True)
        elif run["status"] == "RUNNING" and self.reads[run_id] >= self.polls:
            error = self.fail.get(run["phase"])
            status = "FAILED" if error else "COMPLETED"
            run.update(status=status, terminal=True, errorMessage=error)

    def loop_of(self, phase: Phase) -> dict[str, Any] | None:
        loop = self.loops.get(phase.value)
        return loop if loop and loop["status"] in ("RUNNING", "STOPPING") else None


class _Handler(BaseHTTPRequestHandler):
    state: FakeState
    lock: threading.Lock

    def log_message(self, format: str, *args: Any) -> None:  # quiet
        pass

    def _reply(self, status: int, body: Any) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _handle(self, method: str) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        body = json.loads(raw) if raw else None
        with self.lock:
            self.state.requests.append(Recorded(method, self.path, dict(self.headers), body))
            status, answer = route(self.state, method, self.path, self.headers, body)
        self._reply(status, answer)

    def do_GET(self) -> None:
        self._handle("GET")

    def do_POST(self) -> None:
        self._handle("POST")


def _phase(name: str) -> Phase | None:
    return Phase.parse(name)


def route(state: FakeState, method: str, path: str, headers: Any, body: Any) -> tuple[int, Any]:
    parts = path.strip("/").split("/")
    if path == "/health":
        return 200, {
            "status": "UP",
            "version": "fake",
            "apiVersion": state.api_version,
            "database": "UP",
        }
    if parts[:2] != ["api", "internal"]:
        return 404, {"error": "NOT_FOUND"}
    rest = parts[2:]
    if method == "GET" and rest[:1] == ["runs"] and len(rest) == 2:
        run = state.runs.get(rest[1])
        if run is None:
            return 404, {"error": "RUN_NOT_FOUND", "runId": rest[1]}
        state.advance(run)
        return 200, run
    if method == "GET" and rest[:1] == ["chains"]:
        run_ids = state.chains.get(rest[1])
        if run_ids is None:
            return 404, {"error": "CHAIN_NOT_FOUND"}
        runs = [state.runs[r] for r in run_ids]
        for run in runs:
            state.advance(run)
        statuses = {r["status"] for r in runs}
        status = (
            "RUNNING"
            if statuses & {"RUNNING", "STOPPING"}
            else "FAILED"
            if "FAILED" in statuses
            else "COMPLETED"
        )
        return 200, {"chainId": rest[1], "status": status, "runs": {r["phase"]: r for r in runs}}
    if method == "GET" and rest == ["run-status"]:
        for phase in ORDER:
            if (run := state.active(phase)) and run["status"] == "STOPPING":
                state.advance(run)
            if (loop := state.loops.get(phase.value)) and loop["status"] == "STOPPING":
                loop["status"] = "STOPPED"
        return 200, {
            "slots": {p.value: state.active(p) or state.newest(p) for p in ORDER},
            "loopSummaries": {p.value: state.loops.get(p.value) for p in ORDER},
        }
    if method != "POST":
        return 404, {"error": "NOT_FOUND"}
    phase = _phase(rest[-1]) if rest else None
    airflow_id = headers.get("X-Airflow-Run-Id")
    if rest[:2] == ["trigger", "daily"]:
        return _trigger_daily(state, airflow_id)
    if phase is None:
        return 400, {"error": "INVALID_PHASE", "allowed": [p.value for p in ORDER]}
    if rest[:2] == ["trigger", "phase"]:
        return _trigger_phase(state, phase, headers.get("X-Upstream-Run-Id"), airflow_id, body)
    if rest[:2] == ["loop", "phase"]:
        return _loop(state, phase, airflow_id)
    if rest[:3] == ["stop", "loop", "phase"]:
        loop = state.loop_of(phase)
        if loop is None:
            return 200, {"status": "NOT_LOOPING", "phase": phase.value}
        loop["status"] = "STOPPING"
        return 202, {
            "status": "STOP_REQUESTED",
            "phase": phase.value,
            "loopId": loop["loopId"],
            "runId": None,
        }
    if rest[:2] == ["stop", "phase"]:
        loop, run = state.loop_of(phase), state.active(phase)
        if loop:
            loop["status"] = "STOPPING"
        if run:
            run["status"] = "STOPPING"
        if not (loop or run):
            last = state.newest(phase)
            return 200, {
                "status": "NOT_RUNNING",
                "phase": phase.value,
                "lastRunId": last and last["runId"],
            }
        return 202, {
            "status": "STOP_REQUESTED",
            "phase": phase.value,
            "runId": run and run["runId"],
        }
    return 404, {"error": "NOT_FOUND"}


def _trigger_phase(
    state: FakeState, phase: Phase, upstream: str | None, airflow_id: str | None, body: Any
) -> tuple[int, Any]:
    if (loop := state.loop_of(phase)) is not None:
        return 409, {"status": "LOOP_ACTIVE", "phase": phase.value, "loopId": loop["loopId"]}
    if (run := state.active(phase)) is not None:
        return 409, {"status": "ALREADY_RUNNING", "phase": phase.value, "runId": run["runId"]}
    upstream_run = None
    if phase.upstream is not None:
        if not upstream:
            return 400, {
                "error": "MISSING_UPSTREAM",
                "phase": phase.value,
                "upstreamPhase": phase.upstream.value,
            }
        if upstream == "latest":
            upstream_run = state.newest(phase.upstream, "COMPLETED")
        else:
            upstream_run = state.runs.get(upstream)
        if upstream_run is None:
            return 404, {"error": "UPSTREAM_NOT_FOUND", "upstreamRunId": upstream}
        if upstream_run["status"] != "COMPLETED":
            return 409, {
                "error": "UPSTREAM_NOT_COMPLETED",
                "upstreamRunId": upstream,
                "upstreamStatus": upstream_run["status"],
            }
    date = (body or {}).get("date") or "2026-01-01"
    run = state.new_run(
        phase,
        upstreamRunId=upstream_run and upstream_run["runId"],
        airflowRunId=airflow_id,
        snapshotDate=date,
    )
    return 202, {
        "status": "STARTED",
        "phase": phase.value,
        "runId": run["runId"],
        "upstreamRunId": run["upstreamRunId"],
        "snapshotDate": date,
        "airflowRunId": airflow_id,
    }


def _trigger_daily(state: FakeState, airflow_id: str | None) -> tuple[int, Any]:
    for phase in ORDER:
        if (run := state.active(phase)) is not None:
            return 409, {"status": "ALREADY_RUNNING", "phase": phase.value, "runId": run["runId"]}
    chain_id = f"20260102-030000-chain-{next(state.ids):08x}"
    runs = [state.new_run(p, chainId=chain_id, airflowRunId=airflow_id) for p in ORDER]
    state.chains[chain_id] = [r["runId"] for r in runs]
    return 202, {
        "status": "STARTED",
        "chainId": chain_id,
        "phase": "RANKING_FETCH",
        "runId": runs[0]["runId"],
    }


def _loop(state: FakeState, phase: Phase, airflow_id: str | None) -> tuple[int, Any]:
    if phase not in LOOPABLE:
        return 400, {"error": "INVALID_PHASE", "allowed": [p.value for p in LOOPABLE]}
    if (loop := state.loop_of(phase)) is not None:
        return 409, {
            "status": "LOOP_ALREADY_ACTIVE",
            "phase": phase.value,
            "loopId": loop["loopId"],
        }
    if (run := state.active(phase)) is not None:
        return 409, {"status": "ALREADY_RUNNING", "phase": phase.value, "runId": run["runId"]}
    loop = {
        "loopId": f"20260102-loop-{SHORT[phase]}-{next(state.ids):04x}",
        "phase": phase.value,
        "status": "RUNNING",
        "iterationCount": 0,
        "airflowRunId": airflow_id,
    }
    state.loops[phase.value] = loop
    return 202, {
        "status": "LOOP_STARTED",
        "phase": phase.value,
        "loopId": loop["loopId"],
        "iterationCount": 0,
    }


class FakeControlApi:
    """`with FakeControlApi() as api:` serves on `api.url` until the block ends."""

    def __init__(self, **state: Any) -> None:
        self.state = FakeState(**state)
        handler = type("Handler", (_Handler,), {"state": self.state, "lock": threading.Lock()})
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def posts(self) -> list[Recorded]:
        return [r for r in self.state.requests if r.method == "POST"]

    def __enter__(self) -> FakeControlApi:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(5)
