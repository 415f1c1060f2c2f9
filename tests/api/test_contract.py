"""maplecollect.contract: importable alone, built from rows, parsed back from the wire."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import UTC, datetime

import pytest
from pydantic import TypeAdapter, ValidationError

from maplecollect.contract import (
    AlreadyRunning,
    ChainActiveReply,
    DailyAlreadyRunning,
    ErrorCode,
    LoopActive,
    RunNotFoundError,
    RunPublic,
    RunStatus,
    StopRequested,
    UpstreamEmptyError,
)
from maplecollect.state import models as state_models
from maplecollect.state.models import RunRow

T0 = datetime(2026, 11, 26, 18, 0, tzinfo=UTC)


def test_the_contract_imports_without_sqlalchemy_fastapi_or_an_http_client() -> None:
    probe = (
        "import json, sys\n"
        "import maplecollect.contract\n"
        "print(json.dumps([n for n in ('sqlalchemy', 'fastapi', 'starlette', 'httpx',"
        " 'uvicorn') if n in sys.modules]))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=120, check=True
    )
    assert json.loads(out.stdout.strip().splitlines()[-1]) == []


def test_the_state_models_re_export_the_contract_statuses() -> None:
    assert state_models.RunStatus is RunStatus
    assert RunStatus.INTERRUPTED.terminal is False
    assert RunStatus.ABANDONED.terminal is True


def _row(**values: object) -> RunRow:
    base: dict[str, object] = {
        "run_id": "20261126-180000-rank-0001",
        "phase": "RANKING_FETCH",
        "status": "RUNNING",
        "upstream_run_id": None,
        "chain_id": None,
        "loop_id": None,
        "airflow_run_id": None,
        "snapshot_date": "2026-11-25",
        "started_at": T0,
        "updated_at": T0,
        "completed_at": None,
        "heartbeat_at": T0,
        "owner": "host:1",
        "total_keys": 10,
        "records_processed": 3,
        "records_failed": 0,
        "chunks_processed": 1,
        "rate_per_second": 1.5,
        "eta_seconds": 4.0,
        "error_message": None,
        "manifest_path": None,
        "resume_count": 0,
        "failures_by_code": None,
        "pause_code": "OPENAPI00009",
        "pause_reason": "data not ready",
        "pause_since": T0,
        "pause_until": None,
    }
    base.update(values)
    return RunRow(**base)


def test_a_run_row_becomes_its_public_model_with_the_derived_fields() -> None:
    public = RunPublic.model_validate(_row())
    assert public.terminal is False
    assert public.failures_by_code == {}
    assert public.pause is not None
    assert public.pause.code == "OPENAPI00009"
    wire = public.wire()
    assert wire["runId"] == "20261126-180000-rank-0001"
    assert wire["pause"]["since"] == "2026-11-26T18:00:00Z"
    # A client parses the wire form back into the same model.
    assert RunPublic.model_validate(wire) == public


def test_a_terminal_run_shows_no_pause_whatever_its_row_says() -> None:
    public = RunPublic.model_validate(_row(status="FAILED", completed_at=T0))
    assert public.terminal is True
    assert public.pause is None


def test_a_client_tells_the_409_bodies_apart() -> None:
    conflicts = TypeAdapter(AlreadyRunning | LoopActive | ChainActiveReply | UpstreamEmptyError)
    loop = conflicts.validate_python(
        {"status": "LOOP_ACTIVE", "phase": "ITEM_EQUIPMENT", "loopId": "l1"}
    )
    assert isinstance(loop, LoopActive)
    empty = conflicts.validate_python(
        {
            "error": "UPSTREAM_EMPTY",
            "message": "no records",
            "upstreamRunId": "r1",
            "upstreamPhase": "OCID_LOOKUP",
        }
    )
    assert isinstance(empty, UpstreamEmptyError)
    # Between two phases of the running chain the daily 409 names only the chain.
    between = DailyAlreadyRunning.model_validate(
        {"status": "ALREADY_RUNNING", "phase": None, "runId": None, "chainId": "c1"}
    )
    assert between.chain_id == "c1"
    assert between.run_id is None


def test_error_bodies_keep_their_code_and_leave_unset_details_out() -> None:
    body = RunNotFoundError(error=ErrorCode.RUN_NOT_FOUND, message="run x not found", run_id="x")
    assert body.wire() == {"error": "RUN_NOT_FOUND", "message": "run x not found", "runId": "x"}
    with pytest.raises(ValidationError):
        RunNotFoundError.model_validate({"error": "CHAIN_NOT_FOUND", "message": "m", "runId": "x"})


def test_a_stop_without_a_loop_leaves_loop_id_out() -> None:
    assert "loopId" not in StopRequested(phase="RANKING_FETCH", run_id="r").wire()
    assert StopRequested(phase="ITEM_EQUIPMENT", run_id=None, loop_id="l").wire()["loopId"] == "l"
