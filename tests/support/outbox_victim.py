"""Promote chunks and end a run through the real Repository, SIGKILLing itself at one point.

    python outbox_victim.py DATABASE_URL POINT PART

POINT is where the process dies while promoting part PART (or ending the run):
`chunk-commit` (inside the transaction, as COMMIT is sent), `chunk-after`
(right after the commit returned), `finish-commit`, `finish-after`.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from typing import Any

from sqlalchemy import event

from events.seed import NOW, chunk_row, run_row
from maplecollect.state import migrations
from maplecollect.state.database import create_async_db_engine
from maplecollect.state.models import RunStatus
from maplecollect.state.repository import Lease, Repository

PARTS = 5


def _die(*_args: Any) -> None:
    os.kill(os.getpid(), signal.SIGKILL)


async def main(url: str, point: str, kill_part: int) -> None:
    migrations.upgrade(url)
    engine = create_async_db_engine(url)
    repo = Repository(engine)
    run = await repo.create_run(run_row("ie-victim"))
    for part in range(1, PARTS + 1):
        if point == "chunk-commit" and part == kill_part:
            event.listen(engine.sync_engine, "commit", _die)
        await repo.add_chunk(chunk_row("ie-victim", "item-equipment", part))
        if point == "chunk-after" and part == kill_part:
            _die()
    if point == "finish-commit":
        event.listen(engine.sync_engine, "commit", _die)
    await repo.finish_run(Lease.of(run), RunStatus.COMPLETED, now=NOW, manifest_path="m")
    if point == "finish-after":
        _die()
    await repo.dispose()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2], int(sys.argv[3])))
