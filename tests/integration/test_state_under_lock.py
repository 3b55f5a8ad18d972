"""The state record is read again once the profile's lock is held: whatever changed it
between the run's start and the lock (another run's save, an operator's ``state
reset``) is what the run syncs from — never an older copy it read before."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from pathlib import Path

import anyio
import pytest

from inventory_sync import runner
from inventory_sync.errors import StateError
from inventory_sync.settings import Settings
from inventory_sync.state.base import ProfileLock, StateStore
from inventory_sync.state.file import FileStateStore
from inventory_sync.state.record import StateRecord
from tests.emulators.commercetools import CommercetoolsEmulator
from tests.emulators.fluent import FluentEmulator

from .conftest import Job

OLD = "2026-01-01T00:00:00.000Z"


class ResetWhileLocking(FileStateStore):
    """A file store where an operator's ``state reset`` lands just before the lock."""

    @contextlib.asynccontextmanager
    async def lock(self, profile: str) -> AsyncIterator[ProfileLock]:
        await self.delete(profile)
        async with super().lock(profile) as held:
            yield held


class UnreadableUnderLock(FileStateStore):
    async def load(self, profile: str) -> StateRecord | None:
        raise StateError(f"permission denied reading {profile!r}")


def run_in_process(
    job: Job, monkeypatch: pytest.MonkeyPatch, store_type: type[FileStateStore]
) -> list[runner.RunSummary]:
    for key, value in job.env.items():
        if key.startswith("INVENTORY_SYNC_"):
            monkeypatch.setenv(key, value)
    settings = Settings()

    def open_store(_: Settings) -> StateStore:
        return store_type(Path(job.env["INVENTORY_SYNC_STATE_DIR"]), holder="test")

    monkeypatch.setattr(runner, "open_store", open_store)
    return anyio.run(runner.run, settings, runner.RunOptions())


def seed_one(job: Job, fluent: FluentEmulator, ct: CommercetoolsEmulator, ref: str) -> None:
    ct.add_channel("eu-warehouse")
    fluent.upsert_position("AGG_EU", ref, ref, 3, updated_on=OLD)
    job.profiles(("eu", "eu-warehouse", "AGG_EU"))


def test_a_reset_just_before_the_lock_is_honoured(
    job: Job, fluent: FluentEmulator, ct: CommercetoolsEmulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    seed_one(job, fluent, ct, "OLD-1")
    assert job.run("run").returncode == 0
    fluent.upsert_position("AGG_EU", "OLD-2", "OLD-2", 4, updated_on=OLD)  # before the window

    (summary,) = run_in_process(job, monkeypatch, ResetWhileLocking)

    assert summary.window.start is None  # the reset asked for a full sync, and got it
    assert ct.entries("eu-warehouse") == {"OLD-1": 3, "OLD-2": 4}
    assert summary.counts.fetched == 2


def test_a_store_unreadable_under_the_lock_fails_the_profile_visibly(
    job: Job, fluent: FluentEmulator, ct: CommercetoolsEmulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    seed_one(job, fluent, ct, "A")

    (summary,) = run_in_process(job, monkeypatch, UnreadableUnderLock)

    assert summary.status.value == "FAILED"
    assert "permission denied reading 'eu'" in (summary.error or "")
    assert ct.entries("eu-warehouse") == {}  # nothing synced without knowing the window
