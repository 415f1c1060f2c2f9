"""Run the real control API with test-double phases in its own process.

Usage: python serve_fake.py DATA_DIR PORT [PHASE=mode ...]
Used by tests that kill the process (SIGKILL) and start another on the same DB.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import uvicorn

from maplecollect.api.app import create_app
from maplecollect.phases import Phase
from support.fake_phases import walkers
from support.service import fast_settings


def main() -> None:
    data_dir, port, *modes = sys.argv[1:]
    runners = walkers()
    for spec in modes:
        name, _, mode = spec.partition("=")
        runners[Phase(name)].mode = mode
        runners[Phase(name)].keys = 200
        runners[Phase(name)].delay = 0.01
    settings = fast_settings(Path(data_dir), database_url=None)
    uvicorn.run(
        create_app(settings, runners=runners), host="127.0.0.1", port=int(port), log_level="warning"
    )


if __name__ == "__main__":
    main()
