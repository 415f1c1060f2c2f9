"""`maplecollect demo --keep` (what `make demo` runs) prints the page URL and serves it until Enter."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from statuspage.demo_proc import kept_demo


@pytest.mark.slow
def test_demo_keep_serves_the_status_page_until_enter(tmp_path: Path) -> None:
    with kept_demo(
        tmp_path / "demo", "--characters", "30", "--rate", "400", "--latency-ms", "1"
    ) as demo:
        assert any(f"status page: {demo.url}/ (open it" in line for line in demo.lines)
        page = httpx.get(demo.url + "/", timeout=30)
        assert page.status_code == 200 and 'data-phase="ITEM_EQUIPMENT"' in page.text
        overview = httpx.get(demo.url + "/api/internal/overview", timeout=30).json()
        assert overview["days"][0]["chainStatus"] == "COMPLETED"
        assert [c["colour"] for c in overview["days"][0]["cells"]] == ["green"] * 4
        loop = next(p for p in overview["phases"] if p["phase"] == "ITEM_EQUIPMENT")["loop"]
        assert loop["status"] == "STOPPED"
        assert demo.proc.poll() is None  # still serving
    assert demo.proc.returncode == 0, "".join(demo.lines[-30:])
    assert any("stopping the service" in line for line in demo.lines)
