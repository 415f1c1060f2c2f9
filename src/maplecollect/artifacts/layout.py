"""Store-relative paths of a run's artifacts (docs/artifacts.md). Pure functions, no I/O.

runs/<runId>/<endpoint>/chunks/part-000001.jsonl.zst
runs/<runId>/<endpoint>/failed/part-000001.jsonl.zst
runs/<runId>/<endpoint>/manifest.json
runs/<runId>/<endpoint>/_SUCCESS
"""

from __future__ import annotations

import re

from maplecollect.errors import ConfigError

RUNS = "runs"
CHUNKS = "chunks"
FAILED = "failed"
MANIFEST = "manifest.json"
SUCCESS = "_SUCCESS"

# Ids become path segments: refuse anything that could escape the run folder.
_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")
_PART = re.compile(r"part-(\d{6,})\.jsonl\.[a-z0-9]+")


def check_id(value: str, what: str = "run id") -> str:
    """Return `value` if it is a safe path segment; raise ConfigError otherwise."""
    if not _ID.fullmatch(value) or ".." in value:
        raise ConfigError(f"invalid {what}: {value!r}")
    return value


def run_dir(run_id: str) -> str:
    return f"{RUNS}/{check_id(run_id)}"


def endpoint_dir(run_id: str, endpoint: str) -> str:
    return f"{run_dir(run_id)}/{check_id(endpoint, 'endpoint')}"


def part_name(part: int, extension: str) -> str:
    """`part-000001.jsonl.zst`; `extension` includes the leading dot."""
    if part < 1:
        raise ValueError(f"part numbers start at 1, got {part}")
    return f"part-{part:06d}{extension}"


def parse_part(name: str) -> int | None:
    """Part number of a published file name, None for anything else (temp files)."""
    m = _PART.fullmatch(name)
    return int(m.group(1)) if m else None


def is_temp_name(name: str) -> bool:
    """Staging files of the local store: `.part-000001.jsonl.zst.<random>.tmp`."""
    return name.startswith(".") and name.endswith(".tmp")


def chunk_path(run_id: str, endpoint: str, part: int, extension: str) -> str:
    return f"{endpoint_dir(run_id, endpoint)}/{CHUNKS}/{part_name(part, extension)}"


def failed_path(run_id: str, endpoint: str, part: int, extension: str) -> str:
    return f"{endpoint_dir(run_id, endpoint)}/{FAILED}/{part_name(part, extension)}"


def manifest_path(run_id: str, endpoint: str) -> str:
    return f"{endpoint_dir(run_id, endpoint)}/{MANIFEST}"


def success_path(run_id: str, endpoint: str) -> str:
    return f"{endpoint_dir(run_id, endpoint)}/{SUCCESS}"
