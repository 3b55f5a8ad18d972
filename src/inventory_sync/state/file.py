"""File backend (local development): ``<state_dir>/<profile>.json``, written atomically."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

import anyio

from inventory_sync.errors import StateError, StateFormatError
from inventory_sync.state.record import StateRecord, parse_record


class FileStateStore:
    def __init__(self, directory: Path) -> None:
        self._dir = directory

    def path(self, profile: str) -> Path:
        return self._dir / f"{profile}.json"

    async def load(self, profile: str) -> StateRecord | None:
        return await anyio.to_thread.run_sync(self._load, profile)

    async def save(self, profile: str, record: StateRecord) -> None:
        await anyio.to_thread.run_sync(self._save, profile, record)

    async def aclose(self) -> None:
        return None

    def _load(self, profile: str) -> StateRecord | None:
        path = self.path(profile)
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return None
        except OSError as e:
            raise StateError(f"cannot read state file {str(path)!r}: {e.strerror}") from e
        try:
            data = json.loads(text)
        except json.JSONDecodeError as e:
            raise StateFormatError(
                f"state file {str(path)!r} of profile {profile!r} is not JSON ({e.msg}); "
                "it was not changed"
            ) from e
        return parse_record(profile, data)

    def _save(self, profile: str, record: StateRecord) -> None:
        path = self.path(profile)
        try:
            self._dir.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=self._dir, prefix=f".{profile}.", suffix=".tmp")
            try:
                with os.fdopen(fd, "w", encoding="utf-8") as f:
                    json.dump(record.to_json(), f, indent=2, ensure_ascii=False)
                    f.write("\n")
                    f.flush()
                    os.fsync(f.fileno())
                os.replace(tmp, path)
            except BaseException:
                Path(tmp).unlink(missing_ok=True)
                raise
        except OSError as e:
            raise StateError(f"cannot write state file {str(path)!r}: {e.strerror}") from e
