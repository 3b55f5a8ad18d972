"""The state store protocol every backend implements."""

from __future__ import annotations

from typing import Protocol

from inventory_sync.state.record import StateRecord


class StateStore(Protocol):
    """Load and save one record per profile. ``load`` raises ``StateFormatError`` on a bad record,
    ``StateError`` when the store cannot be reached."""

    async def load(self, profile: str) -> StateRecord | None: ...

    async def save(self, profile: str, record: StateRecord) -> None: ...

    async def aclose(self) -> None: ...
