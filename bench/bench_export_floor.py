"""What one core can parse of an item-equipment day: the floors under the export's rate.

    .venv/bin/python bench/bench_export_floor.py [--characters 500] [--reps 3]

Simulator bodies (seed 42, the world of `bench_export.py`), made before timing. Per record,
process CPU of parsing alone, nothing materialised or written: orjson.loads (full parse),
msgspec into a Struct that keeps only the fields the `items` table keeps (the cheapest typed
decode in Python), msgspec's syntax check alone, and pyarrow's C++ JSON reader. The export
must do at least the typed decode, so 1000 / that figure bounds its records per CPU-second
(docs/performance.md, "Parquet export").
"""

from __future__ import annotations

import argparse
import io
import statistics
import time

import msgspec
import orjson
import pyarrow.json as pa_json

from bench_record_parts import item_bodies, per_record_ms
from maplecollect.export.tables import _ITEM_INT, _ITEM_TEXT, ITEM_ARRAYS, OPTION_BLOCKS


def kept_fields_decoder() -> msgspec.json.Decoder[msgspec.Struct]:
    """A decoder for the fields the `items` table keeps; msgspec skips the others unbuilt."""
    scalar = str | int | None
    fields: list[tuple[str, object, None]] = [(n, scalar, None) for n in (*_ITEM_TEXT, *_ITEM_INT)]
    for block, (_prefix, keys) in OPTION_BLOCKS.items():
        option = msgspec.defstruct(block, [(k, scalar, None) for k in keys])
        fields.append((block, option | None, None))
    item = msgspec.defstruct("Item", fields)
    arrays = [(name, list[item] | None, None) for name, _preset in ITEM_ARRAYS]
    body = msgspec.defstruct("Body", [*arrays, ("preset_no", int | None, None)])
    return msgspec.json.Decoder(body)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--characters", type=int, default=500)
    parser.add_argument("--reps", type=int, default=3)
    args = parser.parse_args()
    # One body a line for pyarrow (simulator bodies are compact JSON already).
    bodies = [body.replace(b"\n", b"") for body in item_bodies(args.characters)]
    syntax = msgspec.json.Decoder(msgspec.defstruct("Nothing", []))
    rows = [
        ("orjson.loads (full parse)", per_record_ms(orjson.loads, bodies, args.reps)),
        (
            "msgspec, kept fields only",
            per_record_ms(kept_fields_decoder().decode, bodies, args.reps),
        ),
        ("msgspec, syntax check only", per_record_ms(syntax.decode, bodies, args.reps)),
    ]
    lines = b"\n".join(bodies) + b"\n"
    options = pa_json.ReadOptions(use_threads=False, block_size=1 << 26)
    started = time.process_time()
    pa_json.read_json(io.BytesIO(lines), read_options=options)
    rows.append(
        ("pyarrow.json (C++, 1 thread)", (time.process_time() - started) / len(bodies) * 1000)
    )
    mean_kb = statistics.mean(len(b) for b in bodies) / 1024
    print(f"{len(bodies)} item-equipment bodies, mean {mean_kb:.0f} KB; per record, one core:")
    for name, ms in rows:
        print(f"  {name:<30} {ms:6.3f} ms   ≤ {1000 / ms:7,.0f} records/CPU-s")


if __name__ == "__main__":
    main()
