"""GET /api/internal/chains/{chainId}: what the FULL_DAILY sensor waits on."""

from __future__ import annotations

from fastapi import APIRouter

from maplecollect.api.deps import RepoDep, RunIdDep
from maplecollect.api.errors import ApiError
from maplecollect.api.responses import answers
from maplecollect.contract.models import ChainNotFoundError, ChainPublic, InvalidRunIdError
from maplecollect.contract.statuses import ErrorCode

router = APIRouter(tags=["chains"])


@router.get(
    "/chains/{run_id}",
    response_model=ChainPublic,
    responses=answers({400: InvalidRunIdError, 404: ChainNotFoundError}),
)
async def get_chain(run_id: RunIdDep, repo: RepoDep) -> ChainPublic:
    """A daily chain and the newest run of each of its phases."""
    chain = await repo.get_chain(run_id)
    if chain is None:
        raise ApiError(
            404,
            ChainNotFoundError(
                error=ErrorCode.CHAIN_NOT_FOUND,
                message=f"chain {run_id} not found",
                chain_id=run_id,
            ),
        )
    return ChainPublic.of(chain, await repo.list_runs(chain_id=run_id, limit=100))
