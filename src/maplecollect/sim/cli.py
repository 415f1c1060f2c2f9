"""`maplecollect sim` (or `python -m maplecollect.sim`): run the simulator until Ctrl-C.

The first line on stdout is the base URL (useful with `--port 0`).
"""

from __future__ import annotations

# asyncio is imported in the functions that use it: `maplecollect --help` imports this
# module, and asyncio is a tenth of its start-up (docs/performance.md, "Start-up").
import signal
import sys
from datetime import datetime
from typing import TYPE_CHECKING, Annotated

import typer

from maplecollect.errors import ConfigError

if TYPE_CHECKING:  # imported when the command runs: `maplecollect --help` stays light
    from maplecollect.sim.simulator import Simulator

# --fault-kinds names → the `Faults` rate each one sets.
FAULT_KINDS = {
    "5xx": "error_rate",
    "gateway": "gateway_rate",
    "reset": "reset_rate",
    "hang": "hang_rate",
    "200-error": "ok_error_rate",
}


def parse_api_keys(values: list[str], default_rate: float | None) -> dict[str, float | None]:
    """`KEY` (gets --rate-limit) or `KEY=RATE` (0 = unlimited)."""
    from maplecollect.sim.config import DEFAULT_API_KEY

    keys: dict[str, float | None] = {}
    for value in values or [DEFAULT_API_KEY]:
        key, sep, rate_text = value.partition("=")
        key = key.strip()
        if not key:
            raise typer.BadParameter(f"empty API key in {value!r}", param_hint="--api-key")
        if not sep:
            keys[key] = default_rate
            continue
        try:
            rate = float(rate_text)
        except ValueError:
            raise typer.BadParameter(
                f"rate in {value!r} is not a number", param_hint="--api-key"
            ) from None
        if rate < 0:
            raise typer.BadParameter(f"rate in {value!r} is negative", param_hint="--api-key")
        keys[key] = rate or None
    return keys


def parse_now(value: str | None) -> datetime | None:
    """ISO 8601 (`2026-11-27T12:00+09:00`); without an offset it is KST."""
    if value is None:
        return None
    try:
        return datetime.fromisoformat(value)
    except ValueError:
        raise typer.BadParameter(
            f"{value!r} is not an ISO 8601 date-time such as 2026-11-27T12:00+09:00",
            param_hint="--now",
        ) from None


def parse_fault_kinds(value: str) -> set[str]:
    kinds = {k.strip() for k in value.split(",") if k.strip()}
    if not kinds or not kinds <= FAULT_KINDS.keys():
        raise typer.BadParameter(
            f"choose from {', '.join(FAULT_KINDS)} (comma separated)", param_hint="--fault-kinds"
        )
    return kinds


async def _serve_until_stopped(simulator: Simulator, host: str, port: int) -> None:
    import asyncio

    from maplecollect.sim.server import serve_simulator

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    async with serve_simulator(simulator, host=host, port=port) as running:
        print(running.base_url, flush=True)
        summary = simulator.world_summary()
        keys = ", ".join(
            f"{k} ({'unlimited' if r is None else f'{r:g}/s'})"
            for k, r in simulator.controls.api_keys.items()
        )
        clock = simulator.controls.clock.pinned
        print(
            f"Nexon API simulator: {summary['characters']} characters "
            f"(ranking rows {summary['rankingRows']}), seed {summary['seed']}; "
            f"API keys: {keys}; clock: {clock.isoformat() if clock else 'real time'}. "
            "Ctrl-C stops.",
            file=sys.stderr,
            flush=True,
        )
        await stop.wait()


def sim_command(
    *,
    host: Annotated[str, typer.Option("--host", help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[
        int, typer.Option("--port", min=0, max=65535, help="Port (0 = any free port).")
    ] = 8090,
    characters: Annotated[
        int, typer.Option("--characters", min=1, max=5_000_000, help="Characters in the world.")
    ] = 2000,
    seed: Annotated[int, typer.Option("--seed", help="World seed: same seed, same bytes.")] = 42,
    api_key: Annotated[
        list[str] | None,
        typer.Option(
            "--api-key",
            help="Accepted API key, repeatable; KEY or KEY=RATE (0 = unlimited). "
            "Default: test-key.",  # sim.config's DEFAULT_API_KEY (a test asserts it)
        ),
    ] = None,
    rate_limit: Annotated[
        float,
        typer.Option("--rate-limit", min=0, help="Requests/s per key (0 = unlimited)."),
    ] = 500.0,
    latency_ms: Annotated[
        float, typer.Option("--latency-ms", min=0, help="Added latency, p50 in ms.")
    ] = 0.0,
    latency_p99_ms: Annotated[
        float | None,
        typer.Option("--latency-p99-ms", min=0, help="p99 in ms: makes latency lognormal."),
    ] = None,
    fault_rate: Annotated[
        float,
        typer.Option("--fault-rate", min=0, max=1, help="Share of requests given a fault."),
    ] = 0.0,
    fault_kinds: Annotated[
        str,
        typer.Option("--fault-kinds", help="Faults to inject: 5xx,gateway,reset,hang,200-error."),
    ] = "5xx,gateway,reset",
    hang_seconds: Annotated[
        float, typer.Option("--hang-seconds", min=0, help="How long a hang lasts.")
    ] = 300.0,
    now: Annotated[
        str | None,
        typer.Option("--now", help="Pin the clock (ISO 8601; KST if no offset)."),
    ] = None,
    renamed_fraction: Annotated[
        float, typer.Option("--renamed-fraction", min=0, max=1, help="Share renamed.")
    ] = 0.02,
    empty_fraction: Annotated[
        float, typer.Option("--empty-fraction", min=0, max=1, help="Share without data.")
    ] = 0.02,
    item_max_kb: Annotated[
        int, typer.Option("--item-max-kb", min=1, help="item-equipment size, top character.")
    ] = 200,
    item_min_kb: Annotated[
        int, typer.Option("--item-min-kb", min=1, help="item-equipment size, lowest level.")
    ] = 40,
) -> None:
    """Run a local Nexon Open API simulator until Ctrl-C; prints its base URL first."""
    from maplecollect.sim.config import Faults, Latency, SimConfig

    kinds = parse_fault_kinds(fault_kinds)
    if item_min_kb > item_max_kb:
        raise typer.BadParameter("--item-min-kb must not exceed --item-max-kb")
    share = fault_rate / len(kinds)  # the total fault rate, split evenly over the kinds
    try:
        config = SimConfig(
            seed=seed,
            characters=characters,
            renamed_fraction=renamed_fraction,
            empty_fraction=empty_fraction,
            item_max_bytes=item_max_kb * 1000,
            item_min_bytes=item_min_kb * 1000,
            api_keys=parse_api_keys(api_key or [], rate_limit or None),
            latency=Latency(latency_ms, latency_p99_ms),
            faults=Faults(hang_seconds=hang_seconds, **{FAULT_KINDS[k]: share for k in kinds}),
            now=parse_now(now),
        )
    except ConfigError as exc:
        raise typer.BadParameter(str(exc)) from None

    import uvloop

    from maplecollect.sim.simulator import Simulator

    simulator = Simulator(config)
    try:
        uvloop.run(_serve_until_stopped(simulator, host, port))
    except OSError as exc:
        typer.echo(f"Error: cannot listen on {host}:{port}: {exc.strerror or exc}", err=True)
        raise typer.Exit(1) from None
    except KeyboardInterrupt:
        pass
    typer.echo("simulator stopped", err=True)


def main() -> None:
    """Entry point of `python -m maplecollect.sim`."""
    app = typer.Typer(add_completion=False, pretty_exceptions_enable=False)
    app.command()(sim_command)
    app()
