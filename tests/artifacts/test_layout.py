from __future__ import annotations

import pytest

from maplecollect.artifacts import layout
from maplecollect.errors import ConfigError


def test_paths() -> None:
    assert (
        layout.chunk_path("r1", "item-equipment", 1, ".jsonl.zst")
        == "runs/r1/item-equipment/chunks/part-000001.jsonl.zst"
    )
    assert layout.failed_path("r1", "e", 12, ".jsonl.gz") == "runs/r1/e/failed/part-000012.jsonl.gz"
    assert layout.manifest_path("r1", "e") == "runs/r1/e/manifest.json"
    assert layout.success_path("r1", "e") == "runs/r1/e/_SUCCESS"


def test_part_names() -> None:
    assert layout.part_name(1234567, ".jsonl.zst") == "part-1234567.jsonl.zst"
    assert layout.parse_part("part-000042.jsonl.gz") == 42
    assert layout.parse_part(".part-000042.jsonl.gz.x1y2.tmp") is None
    assert layout.is_temp_name(".part-000042.jsonl.gz.x1y2.tmp")
    assert not layout.is_temp_name("part-000042.jsonl.gz")
    with pytest.raises(ValueError):
        layout.part_name(0, ".jsonl.zst")


@pytest.mark.parametrize("bad", ["", "..", "../x", "a/b", "a..b", ".hidden", "x" * 200, "a b"])
def test_ids_cannot_escape_the_run_folder(bad: str) -> None:
    with pytest.raises(ConfigError):
        layout.run_dir(bad)
