"""One run: every selected profile concurrently, each locked to its own window and state.

The wiring place: builds the HTTP clients, token providers, source, sink and state
store from ``Settings``; reads every profile's state before anything is written (a
bad record stops the run with exit code 2); runs the profiles; saves each state
only after its sync, advancing ``previousEndDate`` only on success.
"""

from __future__ import annotations

import contextlib
import functools
import os
import signal
import socket
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import anyio
from prometheus_client import CollectorRegistry

from inventory_sync.auth import TokenProvider, ct_client_credentials, fluent_password_grant
from inventory_sync.commercetools import CommercetoolsSink
from inventory_sync.documents import Documents
from inventory_sync.errors import (
    ConfigError,
    InventorySyncError,
    LockHeldError,
    StateError,
    StateFormatError,
)
from inventory_sync.fluent import FluentSource
from inventory_sync.graphql import GraphQLClient
from inventory_sync.http import RetryPolicy, install_retry_hooks, make_client
from inventory_sync.logging import get_logger
from inventory_sync.mapping import load_mapper
from inventory_sync.metrics import MetricsPushError, RunMetrics, collecting, push
from inventory_sync.model import (
    Counts,
    RunStatus,
    RunSummary,
    Window,
    delta_window,
    format_timestamp,
    truncate_to_millis,
)
from inventory_sync.pipeline import ChangeHook, PipelineOptions, Stop, sync_profile
from inventory_sync.profiles import Profile, load_profiles, select_profiles, shard_profiles
from inventory_sync.settings import Settings
from inventory_sync.state.base import ProfileLock, StateStore
from inventory_sync.state.file import FileStateStore
from inventory_sync.state.record import Props, StateRecord, next_record

log = get_logger()

Clock = Callable[[], datetime]


def utc_now() -> datetime:
    return datetime.now(UTC)


def holder_identity() -> str:
    """Who holds a lock: the pod (host) name and process id."""
    return f"{socket.gethostname()}:{os.getpid()}"


@dataclass(frozen=True, slots=True)
class RunOptions:
    profiles: tuple[str, ...] = ()
    full: bool = False
    window_from: datetime | None = None
    window_to: datetime | None = None
    dry_run: bool = False
    zero_missing: bool = False
    fail_if_locked: bool = False
    shard: tuple[int, int] | None = None  # (index, count); None: from the settings

    def __post_init__(self) -> None:
        if self.full and self.window_from is not None:
            raise ConfigError("--full and --from exclude each other")
        if self.zero_missing and not self.full:
            raise ConfigError(
                "--zero-missing needs --full: only a full sync knows every SKU the master has"
            )
        if (
            self.window_from is not None
            and self.window_to is not None
            and self.window_from > self.window_to
        ):
            raise ConfigError(
                f"--from {format_timestamp(self.window_from)} is after "
                f"--to {format_timestamp(self.window_to)}"
            )
        if self.shard is not None and not 0 <= self.shard[0] < self.shard[1]:
            raise ConfigError(f"--shard {self.shard[0]}/{self.shard[1]}: index must be below count")


@dataclass(slots=True)
class Apis:
    source: FluentSource
    sink: CommercetoolsSink
    fluent: GraphQLClient
    ct: GraphQLClient
    tokens: list[TokenProvider] = field(default_factory=list)


def open_store(settings: Settings) -> StateStore:
    """The configured backend; ``ConfigError`` when it cannot even be set up."""
    holder = holder_identity()
    # imported here, not at the top: each backend's client library costs tens of
    # milliseconds of start-up, and a run uses one backend (measured with make bench)
    try:
        if settings.state_backend == "configmap":
            from inventory_sync.state.configmap import from_kubeconfig_or_incluster

            return from_kubeconfig_or_incluster(
                name=settings.state_configmap,
                namespace=settings.state_namespace,
                lease_prefix=settings.lease_prefix,
                holder=holder,
                lease_seconds=settings.lock_seconds,
                kubeconfig=settings.kubeconfig,
            )
        if settings.state_backend == "redis":
            from inventory_sync.state.redis import RedisStateStore

            assert settings.redis_url is not None  # checked by Settings
            password = settings.redis_password
            return RedisStateStore(
                settings.redis_url,
                holder=holder,
                key_prefix=settings.redis_key_prefix,
                password=None if password is None else password.get_secret_value(),
                lock_seconds=settings.lock_seconds,
            )
    except StateError as e:
        raise ConfigError(f"state backend {settings.state_backend!r}: {e}") from e
    return FileStateStore(settings.state_dir, holder=holder)


@contextlib.asynccontextmanager
async def connect(settings: Settings, documents: Documents | None = None) -> AsyncIterator[Apis]:
    """HTTP clients, tokens, source and sink for one run; closed on exit."""
    documents = documents or Documents(settings.graphql_documents)
    install_retry_hooks()
    retry = RetryPolicy(
        attempts=settings.retry_attempts,
        timeout=settings.retry_timeout_seconds,
        wait_initial=settings.retry_wait_initial_seconds,
        wait_max=settings.retry_wait_max_seconds,
        wait_jitter=settings.retry_wait_initial_seconds,
    )
    timeouts = {
        "timeout": settings.http_timeout_seconds,
        "connect_timeout": settings.connect_timeout_seconds,
    }
    fluent_limit = settings.fluent_concurrency
    async with (
        make_client(
            max_connections=fluent_limit + 2,
            urls=(settings.fluent_token_url, settings.fluent_graphql_url),
            **timeouts,
        ) as fluent_http,
        make_client(
            max_connections=settings.ct_concurrency + 2,
            urls=(settings.ct_token_url, settings.ct_graphql_url),
            **timeouts,
        ) as ct_http,
    ):
        fluent_tokens = TokenProvider(
            fluent_http,
            fluent_password_grant(
                settings.fluent_token_url,
                settings.fluent_username,
                settings.fluent_password,
                settings.fluent_client_id,
                settings.fluent_client_secret,
            ),
            retry,
        )
        ct_tokens = TokenProvider(
            ct_http,
            ct_client_credentials(
                settings.ct_token_url,
                settings.ct_client_id,
                settings.ct_client_secret,
                settings.ct_scopes,
            ),
            retry,
        )
        fluent = GraphQLClient(
            fluent_http,
            settings.fluent_graphql_url,
            fluent_tokens,
            retry,
            api="fluent",
            limiter=anyio.CapacityLimiter(fluent_limit),
        )
        ct = GraphQLClient(
            ct_http,
            settings.ct_graphql_url,
            ct_tokens,
            retry,
            api="commercetools",
            limiter=anyio.CapacityLimiter(settings.ct_concurrency),
        )
        yield Apis(
            source=FluentSource(
                fluent,
                page_size=settings.page_size,
                documents=documents,
                slices=settings.fluent_slices,
                full_sync_from=settings.full_sync_from,
            ),
            sink=CommercetoolsSink(
                ct,
                batch_size=settings.batch_size,
                conflict_retries=settings.conflict_retries,
                documents=documents,
            ),
            fluent=fluent,
            ct=ct,
            tokens=[fluent_tokens, ct_tokens],
        )


def choose_window(
    options: RunOptions,
    previous: StateRecord | None,
    profile: Profile,
    run_start: datetime,
    settings: Settings,
    *,
    quiet: bool = False,
) -> Window:
    """The window to sync; unless ``quiet``, a changed profile (a full sync) is logged."""
    lag = timedelta(seconds=settings.settle_lag_seconds)
    if options.window_from is not None or options.window_to is not None:
        latest = run_start - lag
        if options.window_to is not None and options.window_to > latest:
            # saving an end in the future would make every later run read nothing
            raise ConfigError(
                f"--to {format_timestamp(options.window_to)} is later than now minus the "
                f"settle lag ({format_timestamp(latest)})"
            )
        end = options.window_to or latest
        return Window(start=options.window_from, end=truncate_to_millis(end))
    previous_end = None if previous is None or options.full else previous.previous_end
    if previous is not None and previous.props.model_dump() != profile.props():
        if not quiet:
            log.warning(
                "inventory_sync.profile_changed",
                profile=profile.name,
                stored=previous.props.model_dump(),
                now=profile.props(),
                action="full sync",
            )
        previous_end = None
    return delta_window(
        previous_end, run_start, overlap=timedelta(seconds=settings.overlap_seconds), settle_lag=lag
    )


async def stop_on_signals(stop: Stop) -> None:
    """SIGTERM (pod eviction, deadline) or SIGINT: stop fetching, let writes finish."""
    with anyio.open_signal_receiver(signal.SIGTERM, signal.SIGINT) as signals:
        async for signum in signals:
            log.warning("inventory_sync.signal_received", signal=signal.Signals(signum).name)
            stop.request(f"{signal.Signals(signum).name} received")


async def stop_at_deadline(stop: Stop, seconds: float) -> None:
    if seconds > 0:
        await anyio.sleep(seconds)
        stop.request(f"run deadline of {seconds:g} s reached")


@contextlib.asynccontextmanager
async def _lock_unless(
    dry_run: bool, store: StateStore, profile: str
) -> AsyncIterator[ProfileLock | None]:
    """The profile's lock; a dry run writes nothing, so it needs none (None)."""
    if dry_run:
        yield None
        return
    async with store.lock(profile) as lock:
        yield lock


async def _load_early(store: StateStore, profile: str) -> StateRecord | None:
    """The record as it is before the run; a store that cannot be read now is left to
    the profile's own read (under its lock, or in a dry run), which fails that profile."""
    try:
        return await store.load(profile)
    except StateFormatError:
        raise
    except StateError as e:
        log.warning("inventory_sync.state_unreadable", profile=profile, error=str(e))
        return None


def joins_previous(window: Window, previous: StateRecord | None) -> bool:
    """True when the window starts at or before the saved end: advancing loses nothing."""
    previous_end = None if previous is None else previous.previous_end
    if window.start is None:
        return previous_end is None or window.end >= previous_end
    return previous_end is not None and window.start <= previous_end <= window.end


async def run(
    settings: Settings,
    options: RunOptions,
    *,
    clock: Clock = utc_now,
    on_change: ChangeHook | None = None,
    reporting: Reporting | None = None,
) -> list[RunSummary]:
    """Run the selected profiles; ``ConfigError`` before anything is written.

    SIGTERM/SIGINT and the run deadline stop every profile early (see ``Stop``).
    """
    run_start = clock()
    reporting = reporting or Reporting()
    documents = Documents(settings.graphql_documents)
    mapper = None if settings.mapper is None else load_mapper(settings.mapper)
    index, count = options.shard or (settings.shard_index or 0, settings.shards)
    every = load_profiles(settings.profiles_file)
    profiles = shard_profiles(select_profiles(every, list(options.profiles)), every, index, count)
    if count > 1:
        log.info(
            "inventory_sync.shard", index=index, count=count, profiles=[p.name for p in profiles]
        )
    store = open_store(settings)
    try:
        await _check(store, settings)
        # read once before anything is written, so a record in the wrong shape is a
        # configuration error (exit 2); each profile reads its record again under its lock
        previous = {p.name: await _load_early(store, p.name) for p in profiles}
        pipeline = PipelineOptions(
            workers=settings.ct_concurrency,
            chunk_size=settings.lookup_chunk_size,
            negative=settings.negative_quantity,
            dry_run=options.dry_run,
            max_failures=settings.max_failures,
            grace_seconds=settings.stop_grace_seconds,
            progress_seconds=settings.progress_seconds,
            mapper=mapper,
            zero_missing=options.zero_missing,
        )
        for p in profiles:  # flags that cannot work fail here, before anything is written
            choose_window(options, previous[p.name], p, run_start, settings, quiet=True)
        summaries: dict[str, RunSummary] = {}
        stop = Stop()
        async with anyio.create_task_group() as guards:
            guards.start_soon(stop_on_signals, stop)
            guards.start_soon(stop_at_deadline, stop, settings.run_deadline_seconds)
            async with connect(settings, documents) as apis, anyio.create_task_group() as tg:

                async def one(profile: Profile) -> None:
                    summaries[profile.name] = await run_profile(
                        profile,
                        functools.partial(
                            choose_window,
                            options,
                            profile=profile,
                            run_start=run_start,
                            settings=settings,
                        ),
                        previous[profile.name],
                        apis,
                        store,
                        pipeline,
                        clock=clock,
                        on_change=on_change,
                        stop=stop,
                        reporting=reporting,
                        fail_if_locked=options.fail_if_locked,
                    )

                for profile in profiles:
                    tg.start_soon(one, profile)
            guards.cancel_scope.cancel()
    finally:
        await store.aclose()
    return [summaries[p.name] for p in profiles]


@dataclass(frozen=True, slots=True)
class Reporting:
    """Where a profile's run reports to besides the log."""

    pushgateway_url: str | None = None
    job: str = "inventory-sync"
    grouping: tuple[tuple[str, str], ...] = ()
    timeout_seconds: float = 5.0
    registries: dict[str, CollectorRegistry] = field(default_factory=dict)


async def run_profile(
    profile: Profile,
    window_for: Callable[..., Window],
    previous: StateRecord | None,
    apis: Apis,
    store: StateStore,
    options: PipelineOptions,
    *,
    clock: Clock,
    on_change: ChangeHook | None,
    stop: Stop | None = None,
    reporting: Reporting | None = None,
    fail_if_locked: bool = False,
) -> RunSummary:
    """Lock, read the state, sync its window, save the state, log the summary, push the
    metrics — the last two also when the run fails or is cancelled.

    ``previous`` is the record as read before the run started; the record is read again
    once the lock is held (a run or ``state reset`` may have changed it meanwhile), and
    ``window_for`` turns it into the window to sync.
    """
    started = clock()
    window = window_for(previous, quiet=True)  # the summary's, until the record is read again
    summary = RunSummary(
        profile=profile.name,
        status=RunStatus.FAILED,
        window=window,
        started=started,
        finished=started,
        dry_run=options.dry_run,
    )
    metrics = RunMetrics()
    saved: StateRecord | None = previous
    try:
        with collecting(metrics):
            async with _lock_unless(options.dry_run, store, profile.name) as lock:
                previous = saved = await store.load(profile.name)
                window = summary.window = window_for(previous)
                await _sync(profile, window, apis, options, summary, on_change, stop)
                if lock is not None:
                    saved = await _save(profile, window, previous, store, lock, summary, clock)
    except LockHeldError as e:
        summary.status = RunStatus.FAILED if fail_if_locked else RunStatus.SKIPPED
        summary.error = str(e)
        log.warning("inventory_sync.profile_locked", profile=profile.name, holder=e.holder)
    except (StateError, StateFormatError) as e:
        summary.status = RunStatus.FAILED
        summary.error = f"state store: {e}"
        log.error("inventory_sync.state_error", profile=profile.name, error=str(e))
    finally:
        with anyio.CancelScope(shield=True):
            summary.finished = clock()
            log_summary(summary)
            await _report(metrics, summary, saved, reporting or Reporting(), clock)
    return summary


async def _sync(
    profile: Profile,
    window: Window,
    apis: Apis,
    options: PipelineOptions,
    summary: RunSummary,
    on_change: ChangeHook | None,
    stop: Stop | None,
) -> None:
    log.info(
        "inventory_sync.profile_started",
        profile=profile.name,
        window_start=None if window.start is None else format_timestamp(window.start),
        window_end=format_timestamp(window.end),
        dry_run=options.dry_run,
    )
    try:
        result = await sync_profile(
            profile, window, apis.source, apis.sink, options, on_change, stop
        )
        summary.counts, summary.failures = result.counts, result.failures
        problems = []
        if result.stopped:
            problems.append(f"stopped early: {result.stopped}")
        if result.counts.failed:
            problems.append(f"{result.counts.failed} position(s) could not be written")
        summary.status = RunStatus.FAILED if problems else RunStatus.SUCCESSFUL
        summary.error = "; ".join(problems) or None
    except InventorySyncError as e:
        summary.error = str(e)
        log.error("inventory_sync.profile_error", profile=profile.name, error=str(e))
    except Exception as e:  # a bug must not take the other profiles down
        summary.error = f"unexpected {type(e).__name__}: {e}"
        log.exception("inventory_sync.profile_crashed", profile=profile.name)


async def _save(
    profile: Profile,
    window: Window,
    previous: StateRecord | None,
    store: StateStore,
    lock: ProfileLock,
    summary: RunSummary,
    clock: Clock,
) -> StateRecord | None:
    """Save the record if the lock is still ours; the saved record, or ``previous``."""
    summary.finished = clock()
    record = next_record(
        previous, profile.props(), summary, advance=joins_previous(window, previous)
    )
    try:
        await lock.ensure_held()
        await store.save(profile.name, record)
    except StateError as e:
        summary.status = RunStatus.FAILED
        summary.error = f"state not saved: {e}"
        log.error("inventory_sync.state_save_failed", profile=profile.name, error=str(e))
        return previous
    return record


async def _report(
    metrics: RunMetrics,
    summary: RunSummary,
    saved: StateRecord | None,
    reporting: Reporting,
    clock: Clock,
) -> None:
    now = clock()
    metrics.set_counts(summary.counts.as_dict())
    metrics.duration.set(summary.duration_seconds)
    if summary.window is not None:
        start = summary.window.start
        metrics.window_start.set(0 if start is None else start.timestamp())
        metrics.window_end.set(summary.window.end.timestamp())
    previous_end = None if saved is None else saved.previous_end
    metrics.set_lag(None if previous_end is None else (now - previous_end).total_seconds())
    status = {"SUCCESSFUL": "success", "FAILED": "failed", "SKIPPED": "skipped"}
    metrics.set_status(status[summary.status.value], at=now.timestamp())  # type: ignore[arg-type]
    reporting.registries[summary.profile] = metrics.registry
    if reporting.pushgateway_url is None or summary.dry_run:
        return
    try:
        await push(
            reporting.pushgateway_url,
            job=reporting.job,
            grouping_key={"profile": summary.profile, **dict(reporting.grouping)},
            registry=metrics.to_push(),
            timeout_seconds=reporting.timeout_seconds,
        )
    except MetricsPushError as e:
        log.warning("inventory_sync.metrics_push_failed", profile=summary.profile, error=str(e))


def log_summary(summary: RunSummary) -> None:
    window = summary.window
    log.info(
        "inventory_sync.profile_finished",
        profile=summary.profile,
        status=summary.status.value,
        **summary.counts.as_dict(),
        window_start=None
        if window is None or window.start is None
        else format_timestamp(window.start),
        window_end=None if window is None else format_timestamp(window.end),
        duration_s=round(summary.duration_seconds, 3),
        dry_run=summary.dry_run,
        error=summary.error,
        failures=[f"{f.sku}: {f.code}" for f in summary.failures] or None,
    )


def totals(summaries: list[RunSummary]) -> Counts:
    total = Counts()
    for s in summaries:
        total.add(s.counts)
    return total


async def show_state(settings: Settings, profiles: tuple[str, ...]) -> dict[str, dict[str, object]]:
    """The stored records (all, or the named profiles'), as they are stored."""
    store = open_store(settings)
    try:
        await _check(store, settings)
        if not profiles:
            records = await store.load_all()
        else:
            loaded = {name: await store.load(name) for name in profiles}
            records = {name: r for name, r in loaded.items() if r is not None}
        return {name: record.to_json() for name, record in sorted(records.items())}
    finally:
        await store.aclose()


async def reset_state(
    settings: Settings, profile_name: str, to: datetime | None, *, clock: Clock = utc_now
) -> tuple[str | None, str | None]:
    """Clear (``to`` None: the next run is a full sync) or set ``previousEndDate`` of one
    profile, under its lock; returns the old and the new value."""
    (profile,) = select_profiles(load_profiles(settings.profiles_file), [profile_name])
    if to is not None and to > clock():
        raise ConfigError(f"--to {format_timestamp(to)} is in the future")
    store = open_store(settings)
    try:
        await _check(store, settings)
        async with store.lock(profile.name) as lock:
            try:
                record = await store.load(profile.name)
            except StateFormatError as e:  # resetting is how a broken record is repaired
                log.warning("inventory_sync.state_broken_record_replaced", error=str(e))
                record = None
            old = None if record is None else record.previousEndDate
            new = None if to is None else format_timestamp(to)
            base = record or StateRecord(props=Props(**profile.props()))
            await lock.ensure_held()
            await store.save(profile.name, base.model_copy(update={"previousEndDate": new}))
        log.info(
            "inventory_sync.state_reset",
            profile=profile.name,
            previous_end_date_was=old,
            previous_end_date=new,
        )
        return old, new
    finally:
        await store.aclose()


async def _check(store: StateStore, settings: Settings) -> None:
    try:
        await store.check()
    except StateError as e:
        raise ConfigError(f"state backend {settings.state_backend!r} is not usable: {e}") from e
