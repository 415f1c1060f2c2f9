"""Start-up stays light: what each entry point imports (docs/performance.md, "Start-up").

Each check runs in a fresh interpreter and reads `sys.modules`; no timing is asserted.
"""

from __future__ import annotations

import contextlib
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


def help_of(*command: str) -> str:
    """Code that prints `maplecollect [command] --help` and checks it exits 0."""
    return (
        "from maplecollect.cli import app\n"
        "try:\n"
        f"    app({[*command, '--help']!r}, prog_name='maplecollect')\n"
        "except SystemExit as exc:\n"
        "    assert exc.code == 0, exc.code\n"
    )


def test_importing_the_cli_loads_no_server_side_library() -> None:
    assert loaded_after("import maplecollect.cli", SERVER_SIDE + HEAVY_CLIENT) == []


def test_help_loads_no_server_side_library() -> None:
    assert loaded_after(help_of(), SERVER_SIDE + HEAVY_CLIENT) == []


def test_help_loads_neither_asyncio_nor_rich_help_nor_live_displays() -> None:
    # The rest of `--help`'s budget: plain click help, progress bars and asyncio on use.
    names = ("asyncio", "typer.rich_utils", "rich.markdown", "rich.progress", "rich.live")
    assert loaded_after(help_of(), names) == []


def test_sim_help_does_not_build_or_load_the_server() -> None:
    assert loaded_after(help_of("sim"), ("maplecollect.sim.server", "aiohttp")) == []


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


def test_building_the_app_loads_neither_the_phases_nor_the_store_nor_jinja(tmp_path: Path) -> None:
    # `serve` answers /health before a run needs aiohttp (the phases), fsspec (the store)
    # or Jinja2 (the status page): each loads at its first use (docs/performance.md).
    code = (
        "from maplecollect.api.app import create_app\n"
        "from maplecollect.config import Settings\n"
        f"create_app(Settings(data_dir={str(tmp_path)!r}))\n"
    )
    names = ("aiohttp", "fsspec", "jinja2", "maplecollect.collect.registry", "websockets")
    assert loaded_after(code, names) == []


def test_artifacts_layout_alone_does_not_load_the_store() -> None:
    code = "from maplecollect.artifacts import layout\nassert layout.MANIFEST"
    assert loaded_after(code, ("fsspec", "maplecollect.artifacts.writer")) == []


def test_artifacts_package_names_still_resolve() -> None:
    import maplecollect.artifacts as artifacts
    from maplecollect.artifacts.store import open_store

    assert artifacts.open_store is open_store
    for name in artifacts.__all__:
        assert getattr(artifacts, name) is not None
    assert set(artifacts.__all__) <= set(dir(artifacts))


class _Spy:
    def __init__(self) -> None:
        self.calls: list[object] = []

    async def run(self, ctx: object) -> None:
        self.calls.append(ctx)


class _Boom(Exception):
    pass


class _ExplodingCtx:
    def __getattr__(self, name: str) -> object:
        raise _Boom(name)


async def test_default_runners_load_the_real_phase_at_first_use() -> None:
    from maplecollect.api.app import default_runners
    from maplecollect.collect.registry import phase_runners
    from maplecollect.phases import ORDER

    runners, finalizer = default_runners()
    assert set(runners) == set(ORDER)
    real = phase_runners()
    for phase, runner in runners.items():
        # The first run resolves the registry's runner of that phase (this one fails at
        # once on a context it cannot read) ...
        with contextlib.suppress(_Boom):
            await runner.run(_ExplodingCtx())  # type: ignore[arg-type]
        assert type(runner._runner) is type(real[phase])  # type: ignore[attr-defined]
        # ... and every run is handed to it.
        spy = _Spy()
        runner._runner = spy  # type: ignore[attr-defined]
        await runner.run("ctx")  # type: ignore[arg-type]
        assert spy.calls == ["ctx"]
    assert hasattr(finalizer, "finalize")
