"""Take the README's screenshots of the status page from the demo world.

    .venv/bin/python tests/statuspage/readme_screenshot.py [docs/img]

Runs `maplecollect demo --keep` (the default 1,000-character world, as
`make demo`), photographs the index page while the daily chain runs and the
CHARACTER_BASIC run page after the tour, with the browser tests' Chromium setup.
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

sys.path[:0] = [str(Path(__file__).resolve().parents[1])]  # tests/, as under pytest

from statuspage.browser import browser_page  # noqa: E402
from statuspage.demo_proc import STARTED, kept_demo  # noqa: E402


def main(out_dir: Path) -> None:
    out_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        tmp_path = Path(tmp)
        with (
            kept_demo(tmp_path / "demo", within=600, ready=STARTED) as demo,
            browser_page(tmp_path, width=1280, height=860) as (page, traffic),
        ):
            page.goto(demo.url + "/")
            deadline = time.monotonic() + 300
            while time.monotonic() < deadline:  # waits for the fan-out to be half done
                value = page.evaluate(
                    "() => { const p = document.querySelector("
                    "'[data-phase=\"ITEM_EQUIPMENT\"] progress'); return p ? p.value : 0; }"
                )
                if (
                    page.locator('[data-phase="ITEM_EQUIPMENT"] [data-f="status"]').inner_text()
                    == ("RUNNING")
                    and 0.35 < value < 0.8
                ):
                    break
                time.sleep(0.2)
            page.screenshot(path=str(out_dir / "status-page.png"))
            while time.monotonic() < deadline:  # waits for the tour to end (loop stopped)
                if (
                    "STOPPED"
                    in page.locator('[data-phase="ITEM_EQUIPMENT"] [data-f="loop"]').inner_text()
                ):
                    break
                time.sleep(0.5)
            page.click('#days tbody tr:first-child [data-cell="2"]')
            page.wait_for_selector("#chart polyline, #chart text", state="attached")
            page.screenshot(path=str(out_dir / "run-page.png"), full_page=True)
            assert traffic.foreign == [], traffic.foreign
    print(f"wrote {out_dir / 'status-page.png'} and {out_dir / 'run-page.png'}")


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else Path("docs/img"))
