"""JSON routes of the status page under /api/internal (same auth as the control API)."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

from fastapi import APIRouter, Request
from fastapi.responses import Response, StreamingResponse

from maplecollect.api.deps import RepoDep, RunIdDep, SettingsDep
from maplecollect.api.errors import ApiError
from maplecollect.api.responses import Models, answers
from maplecollect.artifacts import layout
from maplecollect.contract.models import (
    FailuresPublic,
    FileNotFoundBody,
    InvalidRunIdError,
    OverviewPublic,
    RunNotFoundError,
    SamplesPublic,
)
from maplecollect.contract.statuses import ErrorCode
from maplecollect.errors import RunNotFound, StoreError
from maplecollect.phases import Phase
from maplecollect.statuspage import files
from maplecollect.statuspage.overview import overview
from maplecollect.statuspage.samples import ThroughputSampler

if TYPE_CHECKING:
    # fsspec loads with the store, at the first page that reads a file (docs/performance.md).
    from maplecollect.artifacts.store import Store
    from maplecollect.state.repository import Repository

router = APIRouter(tags=["status page"])
COLUMNS = ["t", "records", "failed", "requestsPerSecond", "rateLimited", "limit", "paused"]


def page_store(request: Request) -> Store:
    """One store handle per app for the page's reads (opened on first use)."""
    store: Store | None = getattr(request.app.state, "page_store", None)
    if store is None:
        from maplecollect.artifacts.store import open_store

        store = request.app.state.page_store = open_store(
            request.app.state.settings.resolved_store_url
        )
    return store


@router.get("/overview", response_model=OverviewPublic, responses=answers())
async def get_overview(repo: RepoDep, settings: SettingsDep) -> OverviewPublic:
    return OverviewPublic.model_validate(await overview(repo, settings))


@router.get(
    "/runs/{run_id}/samples",
    response_model=SamplesPublic,
    responses=answers({400: InvalidRunIdError}),
)
async def get_samples(run_id: RunIdDep, request: Request, settings: SettingsDep) -> SamplesPublic:
    sampler: ThroughputSampler | None = getattr(request.app.state, "sampler", None)
    series = sampler.series(run_id) if sampler is not None else None
    return SamplesPublic.model_validate(
        {
            "run_id": run_id,
            "rate_limit": settings.rate_limit,
            "columns": COLUMNS,
            "interval_seconds": (sampler.interval * series.stride) if sampler and series else None,
            "samples": series.samples if series else [],
            "events": series.events if series else [],
        }
    )


@router.get(
    "/runs/{run_id}/failures",
    response_model=FailuresPublic,
    responses=answers({400: InvalidRunIdError, 404: RunNotFoundError}),
)
async def get_failures(run_id: RunIdDep, repo: RepoDep, request: Request) -> FailuresPublic:
    row = await repo.get_run(run_id)
    if row is None:
        raise RunNotFound(run_id)
    chunks = await repo.list_chunks(run_id)
    found = await asyncio.to_thread(files.failure_samples, page_store(request), chunks)
    return FailuresPublic.model_validate({"runId": run_id, **found})


async def _check_endpoint(repo: Repository, run_id: str, endpoint: str, name: str) -> None:
    """404 unless the run exists and `endpoint` is its phase's."""
    row = await repo.get_run(run_id)
    if row is None:
        raise RunNotFound(run_id)
    if endpoint != Phase(row.phase).endpoint:
        raise _file_not_found(run_id, name)


def _file_not_found(run_id: str, name: str) -> ApiError:
    return ApiError(
        404,
        FileNotFoundBody(
            error=ErrorCode.FILE_NOT_FOUND,
            message="no such file in this run",
            run_id=run_id,
            file=name[:100],
        ),
    )


_FILE_ERRORS: dict[int, Models] = {
    400: InvalidRunIdError,
    404: (RunNotFoundError, FileNotFoundBody),
}


@router.get(
    "/runs/{run_id}/files/{endpoint}/manifest.json",
    response_class=Response,
    responses={
        200: {
            "content": {"application/json": {"schema": {"type": "object"}}},
            "description": "The run's manifest (docs/artifacts.md)",
        },
        **answers(_FILE_ERRORS),
    },
)
async def get_manifest(
    run_id: RunIdDep, endpoint: str, repo: RepoDep, request: Request
) -> Response:
    await _check_endpoint(repo, run_id, endpoint, endpoint)
    try:
        data = await page_store(request).read_bytes(layout.manifest_path(run_id, endpoint))
    except StoreError:
        raise _file_not_found(run_id, layout.MANIFEST) from None
    return Response(data, media_type="application/json")


@router.get(
    "/runs/{run_id}/files/{endpoint}/{folder}/{name}",
    response_class=StreamingResponse,
    responses={
        200: {
            "content": {
                "application/octet-stream": {"schema": {"type": "string", "format": "binary"}}
            },
            "description": "A chunk or failed-records file, as stored (X-Sha256: its sha256)",
        },
        **answers(_FILE_ERRORS),
    },
)
async def get_file(
    run_id: RunIdDep,
    endpoint: str,
    folder: str,
    name: str,
    *,
    repo: RepoDep,
    request: Request,
) -> StreamingResponse:
    await _check_endpoint(repo, run_id, endpoint, name)
    found = files.find_file(run_id, endpoint, folder, name, await repo.list_chunks(run_id))
    if found is None:
        raise _file_not_found(run_id, name)
    store = page_store(request)
    if not await store.exists(found.rel):
        raise _file_not_found(run_id, name)
    headers = {"Content-Disposition": f'attachment; filename="{found.name}"'}
    if found.sha256:
        headers["X-Sha256"] = found.sha256
    return StreamingResponse(
        files.stream(store, found.rel), media_type="application/octet-stream", headers=headers
    )
