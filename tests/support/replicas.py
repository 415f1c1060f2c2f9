"""Helpers for tests that run several `maplecollect serve` processes on one database.

They talk to the services over HTTP, read the shared database directly (read-only,
so sampling never takes SQLite's write lock) and poll with generous bounds.
"""

from __future__ import annotations

import hashlib
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from support.sim import SNAPSHOT

Row = tuple[Any, ...]


def trigger(url: str, phase: str, upstream: str | None = None) -> httpx.Response:
    headers = {"X-Upstream-Run-Id": upstream} if upstream else {}
    return httpx.post(
        f"{url}/api/internal/trigger/phase/{phase}",
        json={"date": SNAPSHOT},
        headers=headers,
        timeout=30,
    )


def started(url: str, phase: str, upstream: str | None = None) -> str:
    res = trigger(url, phase, upstream)
    assert res.status_code == 202, res.text
    return str(res.json()["runId"])


def wait_run(
    url: str, run_id: str, predicate: Callable[[dict[str, Any]], bool], within: float = 180
) -> dict[str, Any]:
    """Poll GET /runs/{id} on `url` until `predicate` holds (bounded)."""
    deadline = time.monotonic() + within
    last: dict[str, Any] = {}
    while time.monotonic() < deadline:
        try:
            res = httpx.get(f"{url}/api/internal/runs/{run_id}", timeout=10)
            if res.status_code == 200:
                last = dict(res.json())
                if predicate(last):
                    return last
        except httpx.HTTPError:
            pass  # restarting: keep polling within the bound
        time.sleep(0.05)
    raise AssertionError(f"run {run_id} did not reach the expected state; last seen {last}")


def wait_for(what: str, check: Callable[[], bool], within: float = 120) -> None:
    deadline = time.monotonic() + within
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {within:g} s waiting for {what}")
        time.sleep(0.05)


def wait_log(path: Path, text: str, within: float = 60) -> str:
    """Wait until a process's captured log contains `text`; returns the matching line."""
    found: list[str] = []

    def check() -> bool:
        for line in path.read_text(errors="replace").splitlines():
            if text in line:
                found.append(line)
                return True
        return False

    wait_for(f"{text!r} in {path.name}", check, within)
    return found[0]


class StateDb:
    """Read-only queries on the shared run-state database."""

    def __init__(self, url: str) -> None:
        self.url = url

    def query(self, sql: str, *params: Any) -> list[Row]:
        if self.url.startswith("sqlite:///"):
            path = self.url.removeprefix("sqlite:///")
            conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=5)
            try:
                return [tuple(r) for r in conn.execute(sql.replace("%s", "?"), params)]
            finally:
                conn.close()
        import psycopg

        with psycopg.connect(self.url.replace("postgresql+psycopg", "postgresql")) as conn:
            return [tuple(r) for r in conn.execute(sql, params).fetchall()]  # type: ignore[arg-type]

    def run(self, run_id: str) -> tuple[str, str, int]:
        """(status, owner, lease_epoch) of a run."""
        (row,) = self.query("select status, owner, lease_epoch from runs where run_id = %s", run_id)
        return str(row[0]), str(row[1]), int(row[2])


@dataclass
class Sampler:
    """Samples the database and the store in a thread until stopped.

    Records, at every sampled moment: the most active runs any phase had, the
    victim's (status, owner, epoch) transitions, and for every promoted part of
    the victim whether its row and its file still match the first sha256 seen
    (a promoted part must never be replaced by another writer).
    """

    db: StateDb
    store_root: Path
    victim: str | None = None
    samples: int = 0
    max_active_per_phase: int = 0
    victim_states: list[tuple[str, str, int]] = field(default_factory=list)
    part_hashes: dict[int, str] = field(default_factory=dict)
    violations: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)

    def _sample(self) -> None:
        active = self.db.query(
            "select phase, count(*) from runs where status in "
            "('RUNNING', 'STOPPING', 'INTERRUPTED') group by phase"
        )
        for _phase, count in active:
            self.max_active_per_phase = max(self.max_active_per_phase, int(count))
        if self.victim is not None:
            state = self.db.run(self.victim)
            if not self.victim_states or self.victim_states[-1] != state:
                self.victim_states.append(state)
            rows = self.db.query(
                "select part, sha256, path from chunks where run_id = %s", self.victim
            )
            for part, sha, rel in rows:
                first = self.part_hashes.setdefault(int(part), str(sha))
                if first != sha:
                    self.violations.append(f"part {part} row changed {first} -> {sha}")
                digest = hashlib.sha256((self.store_root / rel).read_bytes()).hexdigest()
                if digest != sha:
                    self.violations.append(f"part {part} file {digest} != promoted {sha}")
        self.samples += 1

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                self._sample()
            except Exception as exc:  # e.g. SQLite busy for a moment; keep sampling
                self.errors.append(repr(exc))
            self._stop.wait(0.05)

    @contextmanager
    def running(self) -> Iterator[Sampler]:
        thread = threading.Thread(target=self._loop, name="sampler", daemon=True)
        thread.start()
        try:
            yield self
        finally:
            self._stop.set()
            thread.join(30)
