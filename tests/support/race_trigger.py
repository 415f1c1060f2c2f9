"""One supervisor process racing for a phase slot: python race_trigger.py DB_URL N.

Prints `ready` once its supervisor is up, waits for `go` on stdin, fires N
concurrent triggers of RANKING_FETCH, prints one JSON line
{"won": [...], "conflicts": [...]}, then holds its runs until `done` arrives on
stdin. The parent drives both processes through these lines (a barrier), so no
wall-clock start time or sleep decides who races whom on a busy machine.
"""

from __future__ import annotations

import asyncio
import json
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from maplecollect.control.supervisor import Supervisor
from maplecollect.errors import SlotConflict
from maplecollect.phases import Phase
from maplecollect.state.database import create_async_db_engine
from maplecollect.state.repository import Repository
from support.fake_phases import walkers
from support.service import fast_settings


async def main(url: str, n: int) -> None:
    runners = walkers()
    runners[Phase.RANKING_FETCH].mode = "block"
    settings = fast_settings(Path(tempfile.mkdtemp()), database_url=url)
    repo = Repository(create_async_db_engine(url))
    sup = Supervisor(settings, repo, runners)
    await sup.start()

    async def one() -> tuple[str, str | None]:
        try:
            run = await sup.trigger_phase(Phase.RANKING_FETCH)
            return "won", run.run_id
        except SlotConflict as exc:
            return "conflict", exc.run_id

    print("ready", flush=True)
    await asyncio.to_thread(sys.stdin.readline)  # "go"
    results = await asyncio.gather(*(one() for _ in range(n)))
    print(
        json.dumps(
            {
                "won": [r for kind, r in results if kind == "won"],
                "conflicts": [r for kind, r in results if kind == "conflict"],
            }
        ),
        flush=True,
    )
    await asyncio.to_thread(sys.stdin.readline)  # "done": the other process has raced too
    await sup.close()
    await repo.dispose()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], int(sys.argv[2])))
