"""One profile's sync: Fluent pages → chunks → plan → commercetools, as anyio tasks.

::

    pages() per time slice ─┐
    pages() per time slice ─┼─[pages stream, 2]──▶ chunker ──[chunks stream, workers]──▶ N chunk workers
    ...  (concurrently)    ─┘                      (dedupe,                              (lookup existing,
                                                    order same SKU)                       plan, write batches)

Streams are bounded, so the positions in memory are at most about
``(slices + 3) * page_size + 2 * workers * chunk_size`` whatever the catalogue size
(a page per slice waiting to be sent, two in the stream, one being chunked; a chunk
per worker and as many in the chunk stream) — only ``--zero-missing`` keeps every SKU.
A SKU that shows up again while an earlier chunk holding it is still in flight waits
for that chunk, so the one seen last is also written last, and is counted once.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import timedelta

import anyio
from anyio.abc import ObjectReceiveStream, ObjectSendStream
from anyio.streams.memory import MemoryObjectSendStream

from inventory_sync import mapping
from inventory_sync.commercetools import CommercetoolsSink
from inventory_sync.errors import ChannelNotFoundError, InventorySyncError
from inventory_sync.fluent import FluentSource
from inventory_sync.logging import get_logger
from inventory_sync.mapping import Mapper
from inventory_sync.model import Change, Counts, ItemFailure, Position, Window
from inventory_sync.plan import Create, NegativePolicy, Update, Write, check_positions, diff
from inventory_sync.profiles import Profile

log = get_logger()

ChangeHook = Callable[[Change], None]
LATE = timedelta(milliseconds=1)  # Fluent keeps milliseconds; both window ends are inclusive


class Stop:
    """A request to stop early (signal, run deadline, too many failures), with its reason.

    Requests propagate to children: the run's stop reaches every profile's stop, while
    a profile's own stop (its failure threshold) stays with that profile.
    """

    def __init__(self, parent: Stop | None = None) -> None:
        self.event = anyio.Event()
        self.reason: str | None = None
        self._children: list[Stop] = []
        if parent is not None:
            parent._children.append(self)
            if parent.reason is not None:
                self.request(parent.reason)

    @property
    def requested(self) -> bool:
        return self.reason is not None

    def request(self, reason: str) -> None:
        if self.reason is None:
            self.reason = reason
            self.event.set()
            for child in self._children:
                child.request(reason)


@dataclass(frozen=True, slots=True)
class PipelineOptions:
    workers: int
    chunk_size: int
    negative: NegativePolicy
    dry_run: bool = False
    max_failures_kept: int = 20
    max_failures: int = 1000
    grace_seconds: float = 20.0
    progress_seconds: float = 10.0
    mapper: Mapper | None = None
    zero_missing: bool = False


@dataclass(slots=True)
class PipelineResult:
    counts: Counts = field(default_factory=Counts)
    failures: list[ItemFailure] = field(default_factory=list)
    stopped: str | None = None  # why the sync stopped early, if it did


@dataclass(slots=True)
class _Chunk:
    positions: list[Position]
    refs: list[str] = field(default_factory=list)  # the product refs that are strings
    done: anyio.Event = field(default_factory=anyio.Event)
    wait_for: list[anyio.Event] = field(default_factory=list)
    repeats: int = 0  # refs an earlier chunk still in flight holds: counted there

    def add(self, positions: list[Position], in_flight: dict[str, anyio.Event]) -> None:
        """Take ``positions``; a ref that an earlier chunk in flight holds makes this
        chunk wait for that one. ``in_flight`` maps each ref to its latest chunk's event
        (kept with set and dict operations: this runs for every position)."""
        refs = [ref for p in positions if isinstance(ref := p.product_ref, str)]
        for ref in in_flight.keys() & set(refs):
            earlier = in_flight[ref]
            if earlier is not self.done:
                self.wait_for.append(earlier)
                self.repeats += 1
        in_flight.update(dict.fromkeys(refs, self.done))
        self.positions.extend(positions)
        self.refs.extend(refs)

    def finish(self, in_flight: dict[str, anyio.Event]) -> None:
        """Drop this chunk's refs from ``in_flight`` (unless a later chunk holds them)
        and wake the chunks waiting for it."""
        for ref in self.refs:
            if in_flight.get(ref) is self.done:
                del in_flight[ref]
        self.done.set()


async def sync_profile(
    profile: Profile,
    window: Window,
    source: FluentSource,
    sink: CommercetoolsSink,
    options: PipelineOptions,
    on_change: ChangeHook | None = None,
    stop: Stop | None = None,
) -> PipelineResult:
    """Sync one profile's window. On ``stop`` it fetches no more pages, starts no new
    chunk, gives the writes in flight ``grace_seconds`` and then cancels them."""
    result = PipelineResult()
    stop = Stop(parent=stop)
    looked_up: list[str | None] = []
    with _unwrap_errors():  # a stop also ends a lookup still retrying a failing API
        async with anyio.create_task_group() as lookup:

            async def cancel_on_stop() -> None:
                await stop.event.wait()
                lookup.cancel_scope.cancel()

            lookup.start_soon(cancel_on_stop)
            looked_up.append(await _channel(profile, sink, dry_run=options.dry_run))
            lookup.cancel_scope.cancel()
    if not looked_up:
        result.stopped = stop.reason
        return result
    channel_id = looked_up[0]
    in_flight: dict[str, anyio.Event] = {}
    started = time.monotonic()
    fetching = anyio.CancelScope()
    working = anyio.CancelScope()
    received = page_no = 0
    seen: set[str] | None = set() if options.zero_missing else None
    # --zero-missing with a mapper: whether it renames, and how many unwritten positions
    # it named no SKU for (then their entries cannot be told from ones to zero)
    renamed, unknown_skus = False, 0

    def changed(change: Change) -> None:
        if on_change is not None:
            on_change(change)

    def fail(counts: Counts, sku: str, code: str, message: str) -> None:
        counts.failed += 1
        log.error(
            "inventory_sync.write_failed", profile=profile.name, sku=sku, code=code, error=message
        )
        if len(result.failures) < options.max_failures_kept:
            result.failures.append(ItemFailure(sku, code, message))

    def progress(event: str, **fields: object) -> None:
        c = result.counts
        elapsed = max(time.monotonic() - started, 1e-3)
        log.info(
            event,
            profile=profile.name,
            received=received,
            done=c.fetched,
            written=c.created + c.updated,
            unchanged=c.unchanged,
            failed=c.failed,
            rate_per_s=round(c.fetched / elapsed, 1),
            elapsed_s=round(elapsed, 1),
            **fields,
        )

    async def tick() -> None:
        while True:
            await anyio.sleep(options.progress_seconds)
            progress("inventory_sync.progress")

    async def watch() -> None:
        await stop.event.wait()
        log.warning(
            "inventory_sync.stopping",
            profile=profile.name,
            reason=stop.reason,
            grace_s=options.grace_seconds,
        )
        fetching.cancel()
        await anyio.sleep(options.grace_seconds)
        working.cancel()

    async def produce(send: MemoryObjectSendStream[list[Position]]) -> None:
        """Page every time slice of the window concurrently into the one stream."""
        async with send:
            with fetching:
                async with anyio.create_task_group() as slices:
                    for number, part in enumerate(source.slices(window), 1):
                        slices.start_soon(fetch, send.clone(), number, part)

    async def fetch(send: ObjectSendStream[list[Position]], number: int, part: Window) -> None:
        nonlocal received, page_no
        pages = source.pages(profile.fluent_catalogue_ref, profile.statuses, part)
        async with send, contextlib.aclosing(pages):
            with contextlib.suppress(anyio.BrokenResourceError):
                async for page in pages:
                    page_no += 1
                    received += len(page)
                    progress(
                        "inventory_sync.page_fetched",
                        page=page_no,
                        slice=number,
                        positions=len(page),
                    )
                    await send.send(page)

    async def chunker(
        recv: ObjectReceiveStream[list[Position]], send: ObjectSendStream[_Chunk]
    ) -> None:
        async with recv, send:
            with contextlib.suppress(anyio.BrokenResourceError):
                await split(recv, send)

    async def split(
        recv: ObjectReceiveStream[list[Position]], send: ObjectSendStream[_Chunk]
    ) -> None:
        size = options.chunk_size
        chunk = _Chunk(positions=[])
        async for page in recv:
            start = 0
            while start < len(page):
                part = page[start : start + size - len(chunk.positions)]
                start += len(part)
                chunk.add(part, in_flight)
                if len(chunk.positions) >= size:
                    if stop.requested:
                        return
                    await send.send(chunk)
                    chunk = _Chunk(positions=[])
        if chunk.positions and not stop.requested:
            await send.send(chunk)

    async def worker(recv: ObjectReceiveStream[_Chunk]) -> None:
        async with recv:
            async for chunk in recv:
                if stop.requested:
                    return
                try:
                    for event in chunk.wait_for:
                        await event.wait()
                    await process(chunk.positions, chunk.repeats)
                finally:
                    chunk.finish(in_flight)

    async def process(positions: list[Position], repeats: int = 0) -> None:
        nonlocal renamed, unknown_skus
        negative = "keep" if options.mapper is not None else options.negative
        checked = check_positions(positions, negative)
        counts = Counts(
            fetched=len(positions) - checked.duplicates - repeats,
            invalid=len(checked.invalid),
            clamped=checked.clamped,
        )
        for bad in checked.invalid:
            log.warning(
                "inventory_sync.position_invalid",
                profile=profile.name,
                product_ref=bad.ref,
                reason=bad.reason,
            )
        wanted = checked.wanted
        unwritten = [bad.ref for bad in checked.invalid]  # in the master all the same
        if options.mapper is not None:
            mapped = mapping.apply(options.mapper, wanted, profile.name, options.negative)
            wanted, counts.skipped, counts.clamped = mapped.wanted, mapped.skipped, mapped.clamped
            unwritten.extend(mapped.skipped_refs)
            for failure in mapped.failures:
                fail(counts, failure.sku, failure.code, failure.message)
        if seen is not None:
            spared, unknown = mapping.protected_skus(options.mapper, unwritten, profile.name)
            seen.update(wanted, spared)
            renamed = renamed or (options.mapper is not None and mapped.renamed)
            unknown_skus += unknown
        if wanted:
            existing = {} if channel_id is None else await sink.existing(channel_id, list(wanted))
            plan = diff(wanted, existing)
            counts.unchanged = plan.unchanged
            await write(plan.writes, counts, action=None)
        result.counts.add(counts)
        if result.counts.failed > options.max_failures:
            stop.request(f"more than {options.max_failures} positions failed")

    async def write(writes: list[Write], counts: Counts, *, action: str | None) -> None:
        """Send (or, in a dry run, plan) the writes; count and report each outcome.
        ``action`` "zero" counts successful updates as zeroed."""

        def report(w: Write, outcome: str) -> None:
            kind = action or ("create" if isinstance(w, Create) else "update")
            old = w.old_quantity if isinstance(w, Update) else None
            changed(Change(profile.name, w.sku, kind, old, w.quantity, outcome))

        if options.dry_run or channel_id is None:
            for w in writes:
                if action == "zero":
                    counts.zeroed += 1
                elif isinstance(w, Create):
                    counts.created += 1
                else:
                    counts.updated += 1
                if on_change is not None:
                    report(w, "planned")
            return
        if not writes:
            return
        written = await sink.write(channel_id, writes)
        by_sku = {w.sku: w for w in writes} if on_change is not None else {}
        for failure in written.failed:
            fail(counts, failure.sku, failure.code, failure.message)
            if on_change is not None:
                report(by_sku[failure.sku], f"failed:{failure.code}")
        counts.unchanged += len(written.unchanged)
        if action == "zero":
            counts.zeroed += len(written.created) + len(written.updated)
        else:
            counts.created += len(written.created)
            counts.updated += len(written.updated)
        if on_change is None:  # once per position: build nothing nobody reads
            return
        for sku in written.unchanged:
            report(by_sku[sku], "unchanged")
        for outcome, applied in (("created", written.created), ("updated", written.updated)):
            for w in applied:
                report(w, outcome)

    async def see_late_positions(into: set[str]) -> None:
        """Positions updated after the window's end (within the settle lag, or during the
        run) exist in the master too: never zero them."""
        late = Window(start=window.end + LATE, end=window.end + timedelta(days=1))
        pages = source.pages(profile.fluent_catalogue_ref, profile.statuses, late)
        async with contextlib.aclosing(pages):
            async for page in pages:
                checked = check_positions(page, "keep")
                wanted, unwritten = checked.wanted, [bad.ref for bad in checked.invalid]
                if options.mapper is not None:
                    mapped = mapping.apply(options.mapper, wanted, profile.name, "keep")
                    wanted = mapped.wanted
                    unwritten += mapped.skipped_refs + [f.sku for f in mapped.failures]
                spared, _ = mapping.protected_skus(options.mapper, unwritten, profile.name)
                into.update(wanted, spared)

    async def zero_missing() -> None:
        """Set to 0 every entry of the channel whose SKU the master did not return."""
        if seen is None or channel_id is None:
            return
        reason = None
        if result.counts.failed:
            # a failed position (a write, or a mapper error) may stand for a SKU the
            # master has: zero nothing this time; the next clean full run does it
            reason = f"{result.counts.failed} position(s) failed"
        elif renamed and unknown_skus:
            reason = (
                f"the mapper renames SKUs and named none for {unknown_skus} position(s) "
                "it skipped: their entries cannot be told from ones the master lacks"
            )
        if reason is not None:
            log.warning("inventory_sync.zero_missing_skipped", profile=profile.name, reason=reason)
            return
        await see_late_positions(seen)
        counts = Counts()
        async for page in sink.channel_entries(channel_id):
            if stop.requested:
                break
            missing = [
                Update(e.sku, e.id, e.version, e.quantity, 0)
                for e in page
                if e.sku not in seen and e.quantity != 0
            ]
            await write(list(missing), counts, action="zero")
        result.counts.add(counts)

    pages_send, pages_recv = anyio.create_memory_object_stream[list[Position]](2)
    chunks_send, chunks_recv = anyio.create_memory_object_stream[_Chunk](options.workers)
    with _unwrap_errors():
        async with anyio.create_task_group() as supervisor:
            supervisor.start_soon(watch)
            supervisor.start_soon(tick)
            with working:
                async with anyio.create_task_group() as tg:
                    tg.start_soon(produce, pages_send)
                    tg.start_soon(chunker, pages_recv, chunks_send)
                    async with chunks_recv:
                        for _ in range(options.workers):
                            tg.start_soon(worker, chunks_recv.clone())
                if options.zero_missing and not stop.requested:
                    await zero_missing()
            supervisor.cancel_scope.cancel()
    result.stopped = stop.reason
    return result


@contextlib.contextmanager
def _unwrap_errors() -> Iterator[None]:
    """anyio task groups raise an ``ExceptionGroup``; when every error in it is one of
    ours, raise the first, so the caller sees the API error and not the task plumbing."""
    try:
        yield
    except BaseExceptionGroup as group:
        leaves = list(_leaves(group))
        if leaves and all(isinstance(e, InventorySyncError) for e in leaves):
            raise leaves[0] from group
        raise


def _leaves(error: BaseException) -> Iterator[BaseException]:
    if isinstance(error, BaseExceptionGroup):
        for inner in error.exceptions:
            yield from _leaves(inner)
    else:
        yield error


async def _channel(profile: Profile, sink: CommercetoolsSink, *, dry_run: bool) -> str | None:
    """The channel's id; with ``ensureChannel`` a missing channel is created (a dry run
    only says it would be, and plans against an empty channel: None)."""
    try:
        return await sink.channel_id(profile.ct_channel_key)
    except ChannelNotFoundError as e:
        if not profile.ensure_channel or e.code != "ChannelNotFound":
            raise
    if dry_run:
        log.info("inventory_sync.planned_channel", profile=profile.name, key=profile.ct_channel_key)
        return None
    channel_id = await sink.create_channel(profile.ct_channel_key)
    log.info(
        "inventory_sync.channel_created",
        profile=profile.name,
        key=profile.ct_channel_key,
        id=channel_id,
    )
    return channel_id
