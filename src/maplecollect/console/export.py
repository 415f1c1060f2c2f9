"""`maplecollect export <runId | daily DATE> --to <dir | s3://…>` (docs/downstream.md)."""

from __future__ import annotations

# asyncio is imported in the functions that use it: `maplecollect --help` imports this
# module, and asyncio is a tenth of its start-up (docs/performance.md, "Start-up").
from typing import TYPE_CHECKING, Annotated, Any

import typer

from maplecollect.console.errors import CliError, usage_error
from maplecollect.console.options import JsonOpt, parse_date, parse_run_id
from maplecollect.console.render import console, print_json

if TYPE_CHECKING:
    from maplecollect.state.models import RunRow
    from maplecollect.state.repository import Repository

DAILY = "daily"


async def _daily_runs(repo: Repository, date: str) -> list[RunRow]:
    """The newest COMPLETED run of each phase for `date`, in phase order."""
    from maplecollect.phases import ORDER
    from maplecollect.state.models import RunStatus

    picked = []
    for phase in ORDER:
        runs = await repo.list_runs(phase=phase, status=RunStatus.COMPLETED, limit=1000)
        dated = [r for r in runs if r.snapshot_date == date]
        if dated:
            picked.append(max(dated, key=lambda r: (r.completed_at or r.started_at, r.run_id)))
    if not picked:
        raise CliError(f"no COMPLETED run has snapshot date {date}")
    return picked


async def _runs(target: str, date: str | None) -> list[RunRow]:
    from maplecollect.console.settings import load_settings
    from maplecollect.state.database import create_async_db_engine
    from maplecollect.state.repository import Repository

    settings = load_settings()
    repo = Repository(create_async_db_engine(settings.resolved_database_url))
    try:
        if target == DAILY:
            assert date is not None
            return await _daily_runs(repo, date)
        run = await repo.get_run(target)
        if run is None:
            raise CliError(f"run {target} not found")
        return [run]
    finally:
        await repo.dispose()


def export(
    *,
    target: Annotated[str, typer.Argument(metavar="RUN_ID|daily", help="A run id, or daily.")],
    date: Annotated[
        str | None, typer.Argument(metavar="[DATE]", help="With daily: the snapshot date.")
    ] = None,
    to: Annotated[str, typer.Option("--to", help="Destination folder or fsspec URL (s3://…).")],
    as_json: JsonOpt = False,
) -> None:
    """Export a COMPLETED run, or a day's runs, as typed Parquet tables."""
    import asyncio

    from maplecollect.artifacts.store import open_store
    from maplecollect.console.settings import load_settings
    from maplecollect.export.run import export_run

    if target == DAILY:
        if date is None:
            raise usage_error("export daily needs a DATE (YYYY-MM-DD)")
        date = parse_date(date, "DATE")
    else:
        if date is not None:
            raise usage_error("DATE only goes with daily")
        parse_run_id(target)
    settings = load_settings()
    store = open_store(settings.resolved_store_url)
    dest = open_store(to)
    results: list[dict[str, Any]] = []
    for run in asyncio.run(_runs(target, date)):
        result = export_run(run, store=store, dest=dest)
        results.append(result)
        if not as_json:
            for name, table in result["tables"].items():
                console().print(
                    f"{name}: {table['rows']:,} rows, {table['characters']:,} characters "
                    f"→ {dest.url_for(table['path'])}",
                    markup=False,
                )
    if as_json:
        print_json(results)
