"""File backend (local development): ``<state_dir>/<profile>.json``, written atomically.

The lock is an OS file lock (``flock``) on ``<profile>.lock``: the kernel releases it
when the process ends, however it ends, so a killed run never leaves it behind.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import tempfile
from collections.abc import AsyncIterator
from pathlib import Path

import anyio

from inventory_sync.errors import LockHeldError, StateError, StateFormatError
from inventory_sync.state.record import StateRecord, parse_record


class FileLock:
    def __init__(self, holder: str) -> None:
        self._holder = holder

    @property
    def holder(self) -> str:
        return self._holder

    async def ensure_held(self) -> None:
        return None  # an flock lives exactly as long as this process holds the descriptor


class FileStateStore:
    def __init__(self, directory: Path, *, holder: str) -> None:
        self._dir = directory
        self._holder = holder

    def path(self, profile: str) -> Path:
        return self._dir / f"{profile}.json"

    async def check(self) -> None:
        await anyio.to_thread.run_sync(self._check)

    async def load(self, profile: str) -> StateRecord | None:
        return await anyio.to_thread.run_sync(self._load, profile)

    async def load_all(self) -> dict[str, StateRecord]:
        names = await anyio.to_thread.run_sync(self._names)
        out: dict[str, StateRecord] = {}
        for name in names:
            record = await self.load(name)
            if record is not None:
                out[name] = record
        return out

    async def save(self, profile: str, record: StateRecord) -> None:
        await anyio.to_thread.run_sync(self._save, profile, record)

    async def delete(self, profile: str) -> None:
        await anyio.to_thread.run_sync(lambda: self.path(profile).unlink(missing_ok=True))

    @contextlib.asynccontextmanager
    async def lock(self, profile: str) -> AsyncIterator[FileLock]:
        fd = await anyio.to_thread.run_sync(self._acquire, profile)
        try:
            yield FileLock(self._holder)
        finally:
            os.close(fd)  # closing the descriptor releases the flock

    async def aclose(self) -> None:
        return None

    def _check(self) -> None:
        """The directory is (or could be created) writable; creates nothing."""
        existing = self._dir
        while not existing.exists() and existing != existing.parent:
            existing = existing.parent
        if not existing.is_dir() or not os.access(existing, os.W_OK):
            raise StateError(f"state directory {str(self._dir)!r} is not writable")

    def _ensure_dir(self) -> None:
        try:
            self._dir.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise StateError(f"state directory {str(self._dir)!r}: {e.strerror}") from e

    def _names(self) -> list[str]:
        if not self._dir.is_dir():
            return []
        return sorted(p.stem for p in self._dir.glob("*.json") if not p.name.startswith("."))

    def _acquire(self, profile: str) -> int:
        self._ensure_dir()
        path = self._dir / f"{profile}.lock"
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 256, 0).decode(errors="replace").strip() or "another process"
            os.close(fd)
            raise LockHeldError(profile, holder) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, self._holder.encode(), 0)
        return fd

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
