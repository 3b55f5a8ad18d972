"""The state store protocol every backend implements.

A backend keeps one record per profile (``state.record.StateRecord``) and a lock per
profile, so two runs of the same profile never overlap:

- ``lock(profile)`` is an async context manager. Entering takes the lock or raises
  ``LockHeldError`` naming the live holder; while inside, the backend renews the lock
  in the background; leaving releases it (only if this run still owns it). A lock
  left by a killed process expires by itself after ``ttl`` seconds.
- ``ProfileLock.ensure_held()`` raises ``LockLostError`` when the lock expired or was
  taken by someone else; the runner calls it right before ``save``.
"""

from __future__ import annotations

from contextlib import AbstractAsyncContextManager
from typing import Protocol

from inventory_sync.state.record import StateRecord


class ProfileLock(Protocol):
    @property
    def holder(self) -> str: ...

    async def ensure_held(self) -> None: ...


class StateStore(Protocol):
    """Load and save one record per profile. ``load`` raises ``StateFormatError`` on a bad
    record, ``StateError`` when the store cannot be reached."""

    async def check(self) -> None:
        """Reach the backend (and its permissions) or raise ``StateError``; writes nothing."""
        ...

    async def load(self, profile: str) -> StateRecord | None: ...

    async def load_all(self) -> dict[str, StateRecord]:
        """Every stored record, by profile (for ``state show``)."""
        ...

    async def save(self, profile: str, record: StateRecord) -> None: ...

    async def delete(self, profile: str) -> None: ...

    def lock(self, profile: str) -> AbstractAsyncContextManager[ProfileLock]: ...

    async def aclose(self) -> None: ...
