"""``run --report PATH``: one line per planned or performed change.

CSV when PATH ends in ``.csv``, JSON lines otherwise (``.jsonl``, ``.ndjson``, ``.json``).
Columns: profile, sku, action, old_quantity, new_quantity, result.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path
from types import TracebackType
from typing import IO

from inventory_sync.errors import ConfigError
from inventory_sync.model import Change

COLUMNS = ("profile", "sku", "action", "old_quantity", "new_quantity", "result")


class Report:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.lines = 0
        try:
            self._file: IO[str] = path.open("w", encoding="utf-8", newline="")
        except OSError as e:
            raise ConfigError(f"--report {str(path)!r} cannot be written: {e.strerror}") from e
        self._csv = csv.writer(self._file) if path.suffix.lower() == ".csv" else None
        if self._csv is not None:
            self._csv.writerow(COLUMNS)

    def __call__(self, change: Change) -> None:
        row = (
            change.profile,
            change.sku,
            change.action,
            change.old_quantity,
            change.quantity,
            change.result,
        )
        if self._csv is not None:
            self._csv.writerow(["" if v is None else v for v in row])
        else:
            self._file.write(
                json.dumps(dict(zip(COLUMNS, row, strict=True)), ensure_ascii=False) + "\n"
            )
        self.lines += 1

    def __enter__(self) -> Report:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._file.close()
