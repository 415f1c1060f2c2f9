"""The README's configuration table lists every setting with its exact default."""

from __future__ import annotations

import re
from pathlib import Path

from maplecollect.config import Settings
from maplecollect.console.settings import env_name

README = Path(__file__).resolve().parents[2] / "README.md"
ROW = re.compile(r"^\| `(?P<env>[A-Z_]+)`(?: \(or `[A-Z_]+`\))? \| (?P<default>[^|]+) \|")


def _table() -> dict[str, str]:
    rows = {}
    for line in README.read_text(encoding="utf-8").splitlines():
        match = ROW.match(line)
        if match and (match["env"].startswith("MAPLECOLLECT_") or match["env"] == "NEXON_API_KEY"):
            rows[match["env"]] = match["default"].strip()
    return rows


def test_readme_lists_every_setting_with_its_default() -> None:
    table = _table()
    fields = Settings.model_fields
    assert set(table) == {env_name(name) for name in fields}
    for name, field in fields.items():
        shown = table[env_name(name)]
        if field.default is None:
            assert "`" not in shown or "<data_dir>" in shown, (name, shown)
        else:
            assert shown == f"`{field.default}`", (name, shown)


def test_make_demo_and_make_test_stay_at_the_top() -> None:
    head = README.read_text(encoding="utf-8")[:600]
    assert "make demo" in head and "make test" in head
