"""`maplecollect purge --older-than 30d`: retention of run artifacts and run rows.

The only way old runs go; what it deletes and what it always keeps is in
docs/operations.md.
"""

from __future__ import annotations

# asyncio is imported in the functions that use it: `maplecollect --help` imports this
# module, and asyncio is a tenth of its start-up (docs/performance.md, "Start-up").
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Annotated

import typer

from maplecollect.console.errors import usage_error
from maplecollect.console.render import console, print_json
from maplecollect.phases import ORDER

if TYPE_CHECKING:
    from maplecollect.config import Settings

_AGE = re.compile(r"^\s*(\d+)\s*([dhw])\s*$")
_UNITS = {"h": 3600, "d": 86400, "w": 7 * 86400}
_PAGE = 100_000


def parse_age(value: str) -> timedelta:
    """`30d`, `12h`, `2w` → a positive timedelta; anything else is bad usage."""
    match = _AGE.match(value)
    if not match or int(match.group(1)) == 0:
        raise usage_error(f"--older-than takes an age such as 30d, 12h or 2w, got {value!r}")
    return timedelta(seconds=int(match.group(1)) * _UNITS[match.group(2)])


@dataclass(frozen=True)
class PurgeResult:
    cutoff: datetime
    store_runs: list[str]
    db_runs: list[str]
    kept_latest: list[str]
    dry_run: bool


async def purge_older_than(
    settings: Settings, cutoff: datetime, *, dry_run: bool, keep_latest: bool = True
) -> PurgeResult:
    import asyncio

    from maplecollect.artifacts import open_store, purge_runs
    from maplecollect.state import migrations
    from maplecollect.state.database import create_async_db_engine
    from maplecollect.state.models import RunStatus
    from maplecollect.state.repository import Repository

    url = settings.resolved_database_url
    await asyncio.to_thread(migrations.upgrade, url)
    repo = Repository(create_async_db_engine(url, timeouts=settings.db_timeouts()))
    try:
        old = await repo.list_runs(older_than=cutoff, limit=_PAGE)
        latest: list[str] = []
        if keep_latest:
            for phase in ORDER:
                newest = await repo.newest_completed(phase)
                if newest is not None:
                    latest.append(newest.run_id)
        doomed = {
            r.run_id
            for r in old
            if RunStatus(r.status).terminal
            and (r.completed_at or r.started_at) < cutoff
            and r.run_id not in latest
        }
        # Everything the database still knows and is not doomed stays in the store too.
        keep = {r.run_id for r in old if r.run_id not in doomed} | set(latest)
        for phase in ORDER:
            active = await repo.active_run(phase)
            if active is not None:
                keep.add(active.run_id)
        store = open_store(settings.resolved_store_url)
        from_store = set(await purge_runs(store, cutoff, keep=keep, dry_run=dry_run))
        # Doomed runs without a manifest (ABANDONED ones): by id, as the database says.
        for run_id in sorted(doomed - from_store):
            if dry_run:
                if await asyncio.to_thread(store.exists_sync, f"runs/{run_id}"):
                    from_store.add(run_id)
            elif await store.delete_run(run_id):
                from_store.add(run_id)
        db_runs = sorted(doomed)
        if not dry_run:
            await repo.delete_runs(db_runs)
    finally:
        await repo.dispose()
    return PurgeResult(cutoff, sorted(from_store), db_runs, sorted(set(latest)), dry_run)


def purge(
    *,
    older_than: Annotated[
        str, typer.Option("--older-than", help="Age of runs to delete: 30d, 12h, 2w.")
    ],
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Only list what would be deleted.")
    ] = False,
    all_runs: Annotated[
        bool,
        typer.Option("--all", help="Also delete the newest COMPLETED run of each phase."),
    ] = False,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")] = False,
) -> None:
    """Delete runs (artifacts and database rows) that ended before now minus --older-than."""
    import asyncio

    from maplecollect.console.settings import load_settings

    cutoff = datetime.now(UTC) - parse_age(older_than)
    settings = load_settings()
    out = console(stderr=as_json)
    question = (
        f"delete runs that ended before {cutoff:%Y-%m-%d %H:%M} UTC "
        f"from {settings.resolved_store_url} and the database?"
    )
    if not dry_run and not yes and not typer.confirm(question, err=True):
        raise usage_error("not confirmed (pass --yes to skip the question)")
    result = asyncio.run(
        purge_older_than(settings, cutoff, dry_run=dry_run, keep_latest=not all_runs)
    )
    if as_json:
        print_json(
            {
                "cutoff": result.cutoff.isoformat(),
                "dryRun": result.dry_run,
                "storeRuns": result.store_runs,
                "databaseRuns": result.db_runs,
                "keptLatest": result.kept_latest,
            }
        )
        return
    verb = "would delete" if dry_run else "deleted"
    out.print(
        f"{verb} {len(result.store_runs)} run folder(s) from the store and "
        f"{len(result.db_runs)} run row(s) from the database "
        f"(ended before {result.cutoff:%Y-%m-%d %H:%M} UTC)"
    )
    for run_id in sorted(set(result.store_runs) | set(result.db_runs)):
        out.print(f"  {run_id}")
    if result.kept_latest:
        out.print(f"kept the newest COMPLETED run of each phase: {', '.join(result.kept_latest)}")
