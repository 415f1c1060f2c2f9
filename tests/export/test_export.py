"""`maplecollect export`: a day of the simulator as Parquet, read back with DuckDB and pandas."""

from __future__ import annotations

import asyncio
import os
import shutil
import sys
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import orjson
import pytest

from maplecollect.artifacts import ChunkWriter, build_manifest, open_store, read_run, write_manifest
from maplecollect.artifacts.lines import record_line
from maplecollect.export.run import ExportError, export_run
from maplecollect.phases import Phase
from maplecollect.state.models import RunRow, RunStatus
from support.sim import SNAPSHOT, stack

ARRAYS = (
    "item_equipment",
    "item_equipment_preset_1",
    "item_equipment_preset_2",
    "item_equipment_preset_3",
    "dragon_equipment",
    "mechanic_equipment",
)


README = Path(__file__).resolve().parents[2] / "README.md"


def _readme_examples() -> tuple[list[str], str]:
    """The README's Parquet reading examples: the DuckDB statements and the pandas snippet."""
    text = README.read_text(encoding="utf-8").split("## Events and analyst tables", 1)[1]
    block = text.split("```sql\n", 1)[1].split("```", 1)[0]
    statements = [line.rstrip(";") for line in block.splitlines() if line.startswith("select")]
    python = text.split("```python\n", 1)[1].split("```", 1)[0]
    return statements, python


def _cli(*args: str, env: dict[str, str]) -> tuple[int, str]:
    exe = shutil.which("maplecollect", path=str(Path(sys.executable).parent))
    assert exe
    import subprocess

    proc = subprocess.run(
        [exe, *args], env=env, capture_output=True, text=True, timeout=300, check=False
    )
    return proc.returncode, proc.stdout + proc.stderr


@pytest.mark.slow
async def test_a_daily_export_matches_the_collected_records(
    tmp_path: Path, clean_env: None
) -> None:
    async with stack(tmp_path, characters=80, chunk_max_records=25) as st:
        res = await st.svc.client.post("/api/internal/trigger/daily", json={"date": SNAPSHOT})
        chain_id = res.json()["chainId"]
        async with asyncio.timeout(120):
            while True:
                chain = (await st.svc.client.get(f"/api/internal/chains/{chain_id}")).json()
                if chain["status"] != "RUNNING":
                    break
                await asyncio.sleep(0.1)
        assert chain["status"] == "COMPLETED", chain
    runs = {phase: run["runId"] for phase, run in chain["runs"].items()}
    out = tmp_path / "parquet"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MAPLECOLLECT_", "NEXON_"))}
    env["MAPLECOLLECT_DATA_DIR"] = str(tmp_path)
    env["MAPLECOLLECT_DATABASE_URL"] = f"sqlite:///{tmp_path / 'state.db'}"
    code, output = await asyncio.to_thread(
        _cli, "export", "daily", SNAPSHOT, "--to", str(out), "--json", env=env
    )
    assert code == 0, output
    manifests = {
        m["phase"]: m for m in (orjson.loads(p.read_bytes()) for p in (out / "_exports").iterdir())
    }
    assert set(manifests) == {p.value for p in Phase}

    con = duckdb.connect()

    def table(name: str) -> str:
        return f"read_parquet('{out}/{name}/*/*.parquet', hive_partitioning = true)"

    store = str(tmp_path / "store")
    for phase, name in (
        ("RANKING_FETCH", "ranking"),
        ("OCID_LOOKUP", "ocids"),
        ("CHARACTER_BASIC", "characters"),
        ("ITEM_EQUIPMENT", "items"),
    ):
        entry = manifests[phase]["tables"][name]
        assert entry["path"] == f"{name}/snapshot_date={SNAPSHOT}/{runs[phase]}.parquet"
        assert (out / entry["path"]).is_file()
        rows, dates = con.execute(
            f"SELECT count(*), list(DISTINCT snapshot_date::VARCHAR) FROM {table(name)}"
        ).fetchone()
        assert rows == entry["rows"]
        assert dates == [SNAPSHOT]

    # characters: one row per collected record, no character twice, typed columns.
    basic = list(read_run(runs["CHARACTER_BASIC"], "character-basic", store_url=store))
    n, distinct = con.execute(
        f"SELECT count(*), count(DISTINCT ocid) FROM {table('characters')}"
    ).fetchone()
    assert n == distinct == len(basic) == manifests["CHARACTER_BASIC"]["source"]["records"]
    sample = next(r for r in basic if not r["empty"])
    got = con.execute(
        f"SELECT character_level, character_exp, access_flag, character_class_level "
        f"FROM {table('characters')} WHERE ocid = ?",
        [sample["key"]],
    ).fetchone()
    body = sample["body"]
    assert got == (
        body["character_level"],
        body["character_exp"],
        body["access_flag"] == "true",
        int(body["character_class_level"]),
    )

    # items: one row per item per array, counted independently from the raw records.
    equipment = list(read_run(runs["ITEM_EQUIPMENT"], "item-equipment", store_url=store))
    expected = sum(len(r["body"][a] or []) for r in equipment if not r["empty"] for a in ARRAYS)
    entry = manifests["ITEM_EQUIPMENT"]["tables"]["items"]
    assert entry["rows"] == expected
    assert entry["characters"] == sum(not r["empty"] for r in equipment)
    assert con.execute(f"SELECT count(DISTINCT ocid) FROM {table('items')}").fetchone() == (
        entry["characters"],
    )
    dupes = con.execute(
        f"SELECT count(*) FROM (SELECT ocid, source, slot_index FROM {table('items')} "
        "GROUP BY ALL HAVING count(*) > 1)"
    ).fetchone()
    assert dupes == (0,)
    record = next(r for r in equipment if not r["empty"] and r["body"]["item_equipment"])
    item = record["body"]["item_equipment"][0]
    row = con.execute(
        f"SELECT item_name, starforce, scroll_upgrade, total_str, add_boss_damage, "
        f"potential_option_1, base_base_equipment_level, preset, active_preset "
        f"FROM {table('items')} WHERE ocid = ? AND source = 'item_equipment' AND slot_index = 1",
        [record["key"]],
    ).fetchone()
    assert row == (
        item["item_name"],
        int(item["starforce"]),
        int(item["scroll_upgrade"]),
        int(item["item_total_option"]["str"]),
        int(item["item_add_option"]["boss_damage"]),
        item["potential_option_1"],
        item["item_base_option"]["base_equipment_level"],
        0,
        record["body"]["preset_no"],
    )
    types = dict(
        con.execute(f"DESCRIBE SELECT * FROM {table('items')}").fetchall()[i][:2] for i in range(5)
    )
    assert types  # columns are typed (checked below with pyarrow)

    # The README's examples run on this day.
    statements, python = _readme_examples()
    assert len(statements) == 2
    by_slot = con.execute(statements[0].replace("'parquet/", f"'{out}/")).fetchall()
    assert (
        sum(n for _slot, _stars, n in by_slot)
        == con.execute(
            f"SELECT count(*) FROM {table('items')} WHERE source = 'item_equipment'"
        ).fetchone()[0]
    )
    best = con.execute(statements[1].replace("'parquet/", f"'{out}/")).fetchall()
    assert best and all(isinstance(c, str) for c, _ in best)
    import contextlib
    import io

    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        exec(python.replace('"parquet/items"', repr(str(out / "items"))), {})
    assert "starforce" in printed.getvalue()

    # pandas / pyarrow read the same day.
    import pyarrow.dataset as ds

    dataset = ds.dataset(out / "items", format="parquet", partitioning="hive")
    frame = dataset.to_table().to_pandas()
    assert len(frame) == entry["rows"]
    assert str(frame["starforce"].dtype) == "int32"
    assert str(frame["total_str"].dtype) == "int32"


def _run(run_id: str) -> RunRow:
    now = datetime(2026, 11, 27, 3, tzinfo=UTC)
    return RunRow(
        run_id=run_id,
        phase="ITEM_EQUIPMENT",
        status="COMPLETED",
        snapshot_date=SNAPSHOT,
        started_at=now,
        completed_at=now,
        updated_at=now,
        heartbeat_at=now,
        owner="t",
        upstream_run_id=None,
    )


@pytest.mark.parametrize("where", ["local", "object-store"])
async def test_a_character_collected_twice_is_exported_once_with_its_newest_record(
    tmp_path: Path, where: str
) -> None:
    """Also from and to an fsspec object store (memory://): chunks fetched, the file uploaded."""
    import secrets

    root = f"memory://mc-{secrets.token_hex(4)}" if where == "object-store" else str(tmp_path)
    store = open_store(f"{root}/store")
    records = [
        ("a", "2026-11-27T03:00:00Z", ["old"]),
        ("b", "2026-11-27T03:00:01Z", ["b1"]),
        ("a", "2026-11-27T03:00:02Z", ["new1", "new2"]),
    ]
    async with ChunkWriter(store, "ie-dup", "item-equipment", max_records=2) as writer:
        for i, (key, at, names) in enumerate(records):
            items = [{"item_name": n, "starforce": "17"} for n in names]
            body = orjson.dumps({"preset_no": 1, "item_equipment": items})
            await writer.add(i, record_line(key, "item-equipment", at, body, False))
        chunks = await writer.close()
    run = _run("ie-dup")
    manifest = build_manifest(
        run_id="ie-dup",
        phase="ITEM_EQUIPMENT",
        endpoint="item-equipment",
        upstream_run_id=None,
        snapshot_date=SNAPSHOT,
        started_at=run.started_at,
        completed_at=run.started_at,
        status="COMPLETED",
        chunks=chunks,
    )
    await write_manifest(store, manifest, success=True)
    dest = open_store(f"{root}/out")
    result = await asyncio.to_thread(export_run, run, store=store, dest=dest)
    entry = result["tables"]["items"]
    assert (entry["rows"], entry["characters"], result["duplicateRowsDropped"]) == (3, 2, 1)
    local = tmp_path / "read.parquet"
    local.write_bytes(dest.cat(entry["path"]))
    assert orjson.loads(dest.cat("_exports/ie-dup.json")) == result
    rows = duckdb.sql(f"SELECT ocid, item_name, starforce FROM '{local}' ORDER BY 1, 2").fetchall()
    assert rows == [("a", "new1", 17), ("a", "new2", 17), ("b", "b1", 17)]

    run.status = RunStatus.FAILED.value
    with pytest.raises(ExportError, match="only COMPLETED"):
        export_run(run, store=store, dest=dest)
