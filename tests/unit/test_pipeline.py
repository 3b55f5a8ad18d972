"""The pipeline's own bookkeeping, with an in-memory source and sink."""

from __future__ import annotations

from collections.abc import AsyncGenerator, Sequence
from datetime import UTC, datetime
from typing import Any

import anyio
import pytest

from inventory_sync.commercetools import WriteFailure, Written
from inventory_sync.model import Change, Position, Window
from inventory_sync.pipeline import PipelineOptions, sync_profile
from inventory_sync.plan import Create, ExistingEntry, Update, Write
from inventory_sync.profiles import Profile

pytestmark = pytest.mark.anyio

WINDOW = Window(start=None, end=datetime(2026, 1, 1, tzinfo=UTC))


class Pages:
    def __init__(self, *pages: list[Position]) -> None:
        self._pages = pages

    def slices(self, window: Window) -> list[Window]:
        return [window]

    async def pages(self, *_: Any) -> AsyncGenerator[list[Position], None]:
        for page in self._pages:
            yield page


class Inventory:
    """Entries by SKU; the first lookup waits until ``release`` is set."""

    def __init__(self) -> None:
        self.entries: dict[str, int] = {}
        self.writes: list[tuple[str, int]] = []
        self.release = anyio.Event()
        self._lookups = 0

    async def channel_id(self, key: str) -> str:
        return "channel-1"

    async def existing(self, channel_id: str, skus: Sequence[str]) -> dict[str, ExistingEntry]:
        self._lookups += 1
        if self._lookups == 1:
            await self.release.wait()
        return {
            s: ExistingEntry(id=s, version=1, sku=s, quantity=self.entries[s])
            for s in skus
            if s in self.entries
        }

    async def write(self, channel_id: str, writes: Sequence[Write]) -> Written:
        out = Written()
        for w in writes:
            self.entries[w.sku] = w.quantity
            self.writes.append((w.sku, w.quantity))
            (out.created if isinstance(w, Create) else out.updated).append(w)
            assert isinstance(w, Create | Update)
        return out


async def test_a_ref_again_in_a_later_chunk_is_written_last_and_counted_once() -> None:
    profile = Profile(name="eu", ctChannelKey="eu", fluentAggregateVirtualCatalogueRef="AGG")
    source = Pages([Position("a", 1), Position("b", 2)], [Position("a", 7)])
    sink = Inventory()
    options = PipelineOptions(workers=2, chunk_size=2, negative="clamp")

    async def release_later() -> None:
        await anyio.sleep(0.05)  # the second chunk is split while the first is in flight
        sink.release.set()

    async with anyio.create_task_group() as tg:
        tg.start_soon(release_later)
        result = await sync_profile(profile, WINDOW, source, sink, options)  # type: ignore[arg-type]

    assert sink.entries == {"a": 7, "b": 2}
    assert sink.writes[-1] == ("a", 7)  # the later one is written after the earlier one
    assert result.counts.fetched == 2
    assert (result.counts.created, result.counts.updated) == (2, 1)


class Conflicted(Inventory):
    """Every create meets an entry made meanwhile (quantity 9): applied as its update;
    "same" was found already equal on the re-read; "bad" failed."""

    async def write(self, channel_id: str, writes: Sequence[Write]) -> Written:
        out = Written()
        for w in writes:
            if w.sku == "same":
                out.unchanged.append(w.sku)
            elif w.sku == "bad":
                out.failed.append(WriteFailure(w.sku, "InvalidOperation", "no"))
            else:
                out.updated.append(Update(w.sku, f"id-{w.sku}", 2, 9, w.quantity))
        return out


async def test_the_report_records_each_write_as_performed_and_the_counts_add_up() -> None:
    profile = Profile(name="eu", ctChannelKey="eu", fluentAggregateVirtualCatalogueRef="AGG")
    source = Pages([Position("a", 1), Position("same", 2), Position("bad", 3)])
    sink = Conflicted()
    sink.release.set()
    changes: list[Change] = []
    options = PipelineOptions(workers=1, chunk_size=10, negative="clamp")

    result = await sync_profile(profile, WINDOW, source, sink, options, changes.append)  # type: ignore[arg-type]

    assert sorted(changes, key=lambda c: c.sku) == [
        Change("eu", "a", "update", 9, 1, "updated"),  # planned as a create
        Change("eu", "bad", "create", None, 3, "failed:InvalidOperation"),
        Change("eu", "same", "create", None, 2, "unchanged"),
    ]
    counts = result.counts
    assert (counts.created, counts.updated, counts.unchanged, counts.failed) == (0, 1, 1, 1)
