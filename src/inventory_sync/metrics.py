"""Prometheus metrics of one profile's run, pushed to a Pushgateway.

A CronJob's pod lives seconds to minutes, so nothing scrapes it: each profile's run
fills a private ``CollectorRegistry`` and pushes it once, in a ``finally``, to the
group ``{job, profile[, shard]}`` with POST (``pushadd``) semantics — metrics not in
this push keep their old values, which is how ``last_success_timestamp_seconds``
survives a failed run (a failed run does not send it). The Pushgateway replaces a whole
metric family, but only the series that are sent, so every labelled series of "the
last run" (each outcome, each API and status class, retries per API) is sent by every
run that synced, zero when unused; a skipped run (the lock was held by another run)
sends only its status and the lag, so it clears neither the last run's positions nor
its failure.

HTTP requests and retries are attributed to the profile whose task made them via a
context variable, so the API clients need no reference to any registry.
"""

from __future__ import annotations

import contextvars
import math
import urllib.request
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Literal

import anyio
from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    disable_created_metrics,
    generate_latest,
    pushadd_to_gateway,
)
from prometheus_client.metrics_core import Metric
from prometheus_client.registry import Collector

from inventory_sync.errors import InventorySyncError

disable_created_metrics()  # type: ignore[no-untyped-call]  # per-run counters: their *_created series would only add noise

PREFIX = "inventory_sync"
OUTCOMES = (
    "fetched",
    "created",
    "updated",
    "unchanged",
    "invalid",
    "clamped",
    "failed",
    "skipped",
    "zeroed",
)
APIS = ("fluent", "fluent-auth", "commercetools", "commercetools-auth")
STATUS_CLASSES = ("2xx", "3xx", "4xx", "5xx", "error")
STATUSES = ("success", "failed", "skipped")
Status = Literal["success", "failed", "skipped"]
SKIPPED_SENDS = (f"{PREFIX}_run_status", f"{PREFIX}_lag_seconds")


class RunMetrics:
    """The metrics of one profile's run; see the README for their meaning."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.positions = Gauge(
            f"{PREFIX}_positions", "Positions per outcome in this run", ["outcome"], registry=r
        )
        self.http_requests = Counter(
            f"{PREFIX}_http_requests",
            "HTTP requests by API and status class (2xx, 4xx, 5xx, error)",
            ["api", "status_class"],
            registry=r,
        )
        self.retries = Counter(
            f"{PREFIX}_http_retries",
            "Requests sent again after a temporary failure",
            ["api"],
            registry=r,
        )
        self.duration = Gauge(f"{PREFIX}_run_duration_seconds", "Duration of this run", registry=r)
        self.window_start = Gauge(
            f"{PREFIX}_window_start_timestamp_seconds",
            "Start of the updatedOn window read (0 = full sync)",
            registry=r,
        )
        self.window_end = Gauge(
            f"{PREFIX}_window_end_timestamp_seconds", "End of the updatedOn window read", registry=r
        )
        self.lag = Gauge(
            f"{PREFIX}_lag_seconds",
            "Now minus the saved previousEndDate: how far behind the master commercetools may be"
            " (+Inf: no previousEndDate, the profile never synced)",
            registry=r,
        )
        self.lag.set(math.inf)
        self.status = Gauge(
            f"{PREFIX}_run_status",
            "1 for this run's status, 0 for the others",
            ["status"],
            registry=r,
        )
        for outcome in OUTCOMES:
            self.positions.labels(outcome).set(0)
        for api in APIS:
            self.retries.labels(api)
            for status_class in STATUS_CLASSES:
                self.http_requests.labels(api, status_class)
        self._status: Status | None = None

    def set_lag(self, seconds: float | None) -> None:
        """``None``: no previousEndDate to measure from (+Inf, so ``lag > x`` alerts fire)."""
        self.lag.set(math.inf if seconds is None else seconds)

    def set_status(self, status: Status, *, at: float) -> None:
        self._status = status
        for name in STATUSES:
            self.status.labels(name).set(1 if name == status else 0)
        if status == "success":
            Gauge(
                f"{PREFIX}_last_success_timestamp_seconds",
                "When a run of this profile last succeeded (only successful runs set it)",
                registry=self.registry,
            ).set(at)
        elif status == "failed":
            Gauge(
                f"{PREFIX}_last_failure_timestamp_seconds",
                "When a run of this profile last failed",
                registry=self.registry,
            ).set(at)

    def set_counts(self, counts: Mapping[str, int]) -> None:
        for outcome in OUTCOMES:
            self.positions.labels(outcome).set(counts.get(outcome, 0))

    def to_push(self) -> CollectorRegistry:
        """What this run pushes: all of it, or for a skipped run only ``SKIPPED_SENDS``
        (it synced nothing, so the last run's positions, requests and failure stay)."""
        if self._status != "skipped":
            return self.registry
        only = CollectorRegistry(auto_describe=False)
        only.register(_Only(self.registry, SKIPPED_SENDS))
        return only


_current: contextvars.ContextVar[RunMetrics | None] = contextvars.ContextVar(
    "inventory_sync_metrics", default=None
)


@contextmanager
def collecting(metrics: RunMetrics) -> Iterator[RunMetrics]:
    """Attribute the HTTP requests and retries of this task (and its children) to ``metrics``."""
    token = _current.set(metrics)
    try:
        yield metrics
    finally:
        _current.reset(token)


def status_class(status: int | None) -> str:
    """``2xx``..``5xx``; ``error`` for no answer (or one no HTTP server sends)."""
    name = "error" if status is None else f"{status // 100}xx"
    return name if name in STATUS_CLASSES else "error"


def observe_request(api: str, status: int | None) -> None:
    metrics = _current.get()
    if metrics is not None:
        metrics.http_requests.labels(api, status_class(status)).inc()


def observe_retry(api: str) -> None:
    metrics = _current.get()
    if metrics is not None:
        metrics.retries.labels(api).inc()


class MetricsPushError(InventorySyncError):
    """The Pushgateway could not be reached; logged, never fails the sync."""


async def push(
    url: str,
    *,
    job: str,
    grouping_key: Mapping[str, str],
    registry: CollectorRegistry,
    timeout_seconds: float,
) -> None:
    """POST (``pushadd``) the registry to the group ``job`` + ``grouping_key``."""

    def send() -> None:
        pushadd_to_gateway(
            url,
            job=job,
            grouping_key=dict(grouping_key),
            registry=registry,
            timeout=timeout_seconds,
        )

    try:
        with anyio.fail_after(timeout_seconds + 1):
            await anyio.to_thread.run_sync(send, abandon_on_cancel=True)
    except (OSError, TimeoutError) as e:
        raise MetricsPushError(f"push to {url} failed: {type(e).__name__}: {e}") from e


async def check_pushgateway(url: str, *, timeout_seconds: float) -> None:
    """GET ``/-/ready``; ``MetricsPushError`` when the Pushgateway is not ready."""

    def ready() -> int:
        with urllib.request.urlopen(f"{url}/-/ready", timeout=timeout_seconds) as answer:  # noqa: S310 - the configured URL
            status: int = answer.status
            return status

    try:
        status = await anyio.to_thread.run_sync(ready, abandon_on_cancel=True)
    except (OSError, ValueError) as e:
        raise MetricsPushError(f"{url} is not reachable: {e}") from e
    if status != 200:
        raise MetricsPushError(f"{url}/-/ready answered HTTP {status}")


def exposition(registries: Mapping[str, CollectorRegistry]) -> bytes:
    """The text format of several profiles' registries, each sample labelled ``profile``
    (for ``--metrics-file`` and node-exporter's textfile collector)."""
    merged = CollectorRegistry(auto_describe=False)
    merged.register(_Labelled(registries))
    return generate_latest(merged)


class _Only(Collector):
    def __init__(self, registry: CollectorRegistry, names: tuple[str, ...]) -> None:
        self._registry, self._names = registry, names

    def collect(self) -> Iterator[Metric]:
        return (family for family in self._registry.collect() if family.name in self._names)


class _Labelled(Collector):
    def __init__(self, registries: Mapping[str, CollectorRegistry]) -> None:
        self._registries = registries

    def collect(self) -> Iterator[Metric]:
        families: dict[str, Metric] = {}
        for profile, registry in self._registries.items():
            for family in registry.collect():
                into = families.setdefault(
                    family.name, Metric(family.name, family.documentation, family.type, family.unit)
                )
                for sample in family.samples:
                    labels = {"profile": profile, **sample.labels}
                    into.add_sample(sample.name, labels, sample.value, sample.timestamp)
        yield from families.values()
