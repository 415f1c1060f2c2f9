"""GET /api/internal/chains/{chainId}: what the FULL_DAILY sensor waits on."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from maplecollect.api.deps import RepoDep, RunIdDep
from maplecollect.api.errors import ApiError, error_body
from maplecollect.contract.models import ChainPublic

router = APIRouter(tags=["chains"])


@router.get("/chains/{run_id}", response_model=ChainPublic)
async def get_chain(run_id: RunIdDep, repo: RepoDep) -> JSONResponse:
    chain = await repo.get_chain(run_id)
    if chain is None:
        raise ApiError(
            404, error_body("CHAIN_NOT_FOUND", f"chain {run_id} not found", chainId=run_id)
        )
    runs = await repo.list_runs(chain_id=run_id, limit=100)
    return JSONResponse(ChainPublic.of(chain, runs).wire())
