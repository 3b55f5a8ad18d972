"""The README's configuration table lists every setting with the default the code has."""

from __future__ import annotations

import re
from pathlib import Path

from pydantic_core import PydanticUndefined

from inventory_sync.settings import Settings

README = Path(__file__).resolve().parents[2] / "README.md"
ROW = re.compile(r"^\| `INVENTORY_SYNC_([A-Z_]+)`[^|]*\| ([^|]*) \|", re.M)


def documented() -> dict[str, str]:
    return dict(ROW.findall(README.read_text(encoding="utf-8")))


def test_every_setting_is_in_the_readme() -> None:
    missing = {name.upper() for name in Settings.model_fields} - documented().keys()
    assert missing == set()


def test_plain_defaults_match_the_code() -> None:
    rows = documented()
    wrong = {}
    for name, field in Settings.model_fields.items():
        default = field.default
        if default is PydanticUndefined or default is None or default == "":
            continue  # required, unset, or derived: the README says it in words
        shown = rows[name.upper()].strip()
        value = str(default) if not isinstance(default, float) else f"{default:g}"
        if shown.strip("`") != value:
            wrong[name.upper()] = (shown, value)
    assert wrong == {}
