"""Keep the cyclic GC off the service's long-lived heap while a phase collects.

A `serve` process holds a large heap of long-lived objects (FastAPI, SQLAlchemy, the
ORM, pydantic settings) that every full (generation 2) collection walks again, and
the fetch loop allocates fast enough to trigger such collections every few seconds:
profiled at ~7 % of the collector's CPU in ITEM_EQUIPMENT (docs/performance.md,
"CPU per record as a ratio to the floor"). `gc.freeze()` moves what is alive at the
phase start into the permanent generation, which no collection walks; `gc.unfreeze()`
at the end hands it back, so a cycle among those objects that dies later is still
collected (nothing leaks across runs).
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager

_depth = 0  # phases collecting at once in this process (a loop phase beside a daily one)


@contextmanager
def frozen_heap() -> Iterator[None]:
    """Freeze the live heap for the duration of the block; re-entrant across tasks."""
    global _depth  # noqa: PLW0603 - one process-wide counter, like the GC itself
    if _depth == 0:
        gc.freeze()
    _depth += 1
    try:
        yield
    finally:
        _depth -= 1
        if _depth == 0:
            gc.unfreeze()
