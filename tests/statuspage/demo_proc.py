"""Run `maplecollect demo --keep` as a subprocess and find the status page URL it prints."""

from __future__ import annotations

import contextlib
import queue
import re
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from support.procs import _clean_env

SERVING = re.compile(r"status page: (http://127\.0\.0\.1:\d+)/ — serving until")
# Printed as the service starts, before the tour: to watch it live.
STARTED = re.compile(r"status page: (http://127\.0\.0\.1:\d+)/ \(open it")


@dataclass
class KeptDemo:
    proc: subprocess.Popen[str]
    url: str
    lines: list[str] = field(default_factory=list)


@contextlib.contextmanager
def kept_demo(
    data_dir: Path, *args: str, within: float = 280, ready: re.Pattern[str] = SERVING
) -> Iterator[KeptDemo]:
    """Yields once `ready` matched a printed line (default: the tour ended, --keep serves)."""
    exe = shutil.which("maplecollect", path=str(Path(sys.executable).parent))
    assert exe, "the maplecollect console script is not installed in this venv"
    proc = subprocess.Popen(
        [exe, "demo", "--keep", "--data-dir", str(data_dir), *args],
        env=_clean_env(COLUMNS="200", NO_COLOR="1"),
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    lines: queue.Queue[str] = queue.Queue()
    seen: list[str] = []

    def pump() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.put(line)

    reader = threading.Thread(target=pump, daemon=True)
    reader.start()
    deadline = time.monotonic() + within
    url = None
    try:
        while url is None:  # waits for the tour to end and the page to be served
            if time.monotonic() > deadline:
                raise AssertionError(f"demo --keep did not start serving within {within:g} s")
            try:
                line = lines.get(timeout=1)
            except queue.Empty:
                assert proc.poll() is None, "demo exited early:\n" + "".join(seen[-40:])
                continue
            seen.append(line)
            match = ready.search(line)
            url = match.group(1) if match else None
        kept = KeptDemo(proc, url, seen)
        yield kept
    finally:
        if proc.poll() is None and proc.stdin is not None:
            with contextlib.suppress(BrokenPipeError):
                proc.stdin.write("\n")  # Enter ends --keep
                proc.stdin.flush()
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
            raise
        finally:
            reader.join(10)
            for pipe in (proc.stdin, proc.stdout):
                if pipe is not None:
                    with contextlib.suppress(BrokenPipeError):
                        pipe.close()
        while not lines.empty():
            seen.append(lines.get())
