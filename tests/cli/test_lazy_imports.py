"""Start-up stays light: what each entry point imports (docs/performance.md, "Start-up").

Each check runs in a fresh interpreter and reads `sys.modules`; no timing is asserted.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from maplecollect.state import migrations

SERVER_SIDE = ("fastapi", "sqlalchemy", "airflow", "duckdb", "alembic", "uvicorn")
HEAVY_CLIENT = ("maplecollect.sim.server", "aiohttp", "httpx")


def loaded_after(code: str, names: tuple[str, ...]) -> list[str]:
    probe = (
        "import json, sys\n"
        f"{code}\n"
        f"print(json.dumps([n for n in {list(names)!r} if n in sys.modules]))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=120, check=True
    )
    loaded: list[str] = json.loads(out.stdout.strip().splitlines()[-1])
    return loaded


def test_importing_the_cli_loads_no_server_side_library() -> None:
    assert loaded_after("import maplecollect.cli", SERVER_SIDE + HEAVY_CLIENT) == []


def test_help_loads_no_server_side_library() -> None:
    code = (
        "from maplecollect.cli import app\n"
        "try:\n"
        "    app(['--help'], prog_name='maplecollect')\n"
        "except SystemExit as exc:\n"
        "    assert exc.code == 0, exc.code\n"
    )
    assert loaded_after(code, SERVER_SIDE + HEAVY_CLIENT) == []


def test_sim_help_does_not_build_or_load_the_server() -> None:
    code = (
        "from maplecollect.cli import app\n"
        "try:\n"
        "    app(['sim', '--help'], prog_name='maplecollect')\n"
        "except SystemExit as exc:\n"
        "    assert exc.code == 0, exc.code\n"
    )
    assert loaded_after(code, ("maplecollect.sim.server", "aiohttp")) == []


def test_the_app_loads_neither_alembic_airflow_duckdb_nor_the_simulator() -> None:
    names = ("alembic", "airflow", "duckdb", "maplecollect.sim.server", "httpx")
    assert loaded_after("import maplecollect.api.app", names) == []


def test_sim_package_names_still_resolve() -> None:
    # The lazy package exports every name it lists, and each is the module's own object.
    import maplecollect.sim as sim
    from maplecollect.sim.server import serve_simulator

    assert sim.serve_simulator is serve_simulator
    for name in sim.__all__:
        assert getattr(sim, name) is not None
    assert set(sim.__all__) <= set(dir(sim))


def test_upgrade_at_head_does_not_import_alembic(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path}/state.db"
    code = f"from maplecollect.state import migrations\nmigrations.upgrade({url!r})"
    # The first upgrade creates the schema (Alembic runs), the second finds it at head.
    assert loaded_after(code, ("alembic",)) == ["alembic"]
    assert loaded_after(code, ("alembic",)) == []
    assert migrations.current_revision(url) in migrations.script_heads()


def test_script_heads_agree_with_alembic() -> None:
    from alembic.script import ScriptDirectory

    scripts = ScriptDirectory.from_config(migrations.alembic_config("sqlite:///unused.db"))
    assert migrations.script_heads() == frozenset(scripts.get_heads())


def test_local_run_path_loads_neither_fastapi_nor_redis() -> None:
    # What `maplecollect run` imports before its first request (console/run_local.py):
    # the phases, the supervisor and the state, not the control API; redis only when
    # MAPLECOLLECT_REDIS_URL asks for the shared limiter.
    code = (
        "from maplecollect.console import run_local\n"
        "import maplecollect.collect.registry, maplecollect.control.supervisor\n"
        "import maplecollect.state.repository, maplecollect.contract\n"
        "from maplecollect.collect.registry import default_finalizer, phase_runners\n"
        "phase_runners(), default_finalizer()\n"
    )
    assert loaded_after(code, ("fastapi", "uvicorn", "redis", "airflow", "duckdb")) == []
