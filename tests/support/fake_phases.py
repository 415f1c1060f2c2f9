"""A test double for phases: walks a list of keys, scriptable per phase.

Modes: "ok" walks `keys` keys and completes; "fail" raises RunFatalError after
a few keys; "block" walks until stopped (or `release` is set). It honours the
supervisor contract: progress per key, stop checked between keys, resume
continues after the recorded progress.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass, field

from maplecollect.control.context import PhaseRunner, RunContext
from maplecollect.errors import RunFatalError
from maplecollect.phases import ORDER, Phase


@dataclass
class WalkerRunner:
    keys: int = 20
    delay: float = 0.005
    mode: str = "ok"
    release: asyncio.Event | None = None
    started: list[str] = field(default_factory=list)
    seen_upstreams: list[str | None] = field(default_factory=list)

    async def run(self, ctx: RunContext) -> None:
        self.started.append(ctx.run_id)
        self.seen_upstreams.append(ctx.run.upstream_run_id)
        ctx.progress.set_total(self.keys)
        start = ctx.progress.done
        index = start
        while True:
            if ctx.stop.is_set():
                return
            if self.mode == "block":
                if self.release is not None and self.release.is_set():
                    return
            elif index >= self.keys:
                return
            if self.mode == "fail" and index - start >= 2:
                raise RunFatalError("OPENAPI00005 invalid API key (test)", code="OPENAPI00005")
            await asyncio.sleep(self.delay)
            ctx.progress.add(records=1)
            index += 1


def walkers(**overrides: WalkerRunner) -> dict[Phase, WalkerRunner]:
    runners = {phase: WalkerRunner() for phase in ORDER}
    for name, runner in overrides.items():
        runners[Phase(name)] = runner
    return runners


def as_runners(walkers: Mapping[Phase, WalkerRunner]) -> Mapping[Phase, PhaseRunner]:
    return dict(walkers)
