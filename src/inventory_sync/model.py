"""Plain data of a sync run and UTC timestamp handling. Pure: no I/O."""

from __future__ import annotations

import re
from dataclasses import dataclass, field, fields
from datetime import UTC, datetime, timedelta
from enum import StrEnum

_TIMESTAMP = re.compile(
    r"^(?P<date>\d{4}-\d{2}-\d{2})[T ](?P<time>\d{2}:\d{2}(?::\d{2})?)"
    r"(?:[.,](?P<frac>\d{1,9}))?"
    r"(?P<zone>Z|z|[+-]\d{2}:?\d{2})?$"
)


def parse_timestamp(text: str) -> datetime:
    """Parse ISO-8601 with 0-9 fractional digits, with or without a zone (none = UTC).

    Digits past microseconds are truncated (Python keeps microseconds).
    Raises ``ValueError`` naming the text when it does not parse.
    """
    match = _TIMESTAMP.match(text.strip()) if isinstance(text, str) else None
    if match is None:
        raise ValueError(f"not an ISO-8601 timestamp: {text!r}")
    frac = (match["frac"] or "").ljust(6, "0")[:6]
    zone = match["zone"] or "Z"
    if zone in ("Z", "z"):
        zone = "+00:00"
    elif ":" not in zone:
        zone = f"{zone[:3]}:{zone[3:]}"
    time_part = match["time"] if match["time"].count(":") == 2 else f"{match['time']}:00"
    try:
        value = datetime.fromisoformat(f"{match['date']}T{time_part}.{frac}{zone}")
    except ValueError as e:
        raise ValueError(f"not a valid timestamp: {text!r} ({e})") from e
    return value.astimezone(UTC)


def format_timestamp(value: datetime) -> str:
    """UTC ISO-8601 with milliseconds and ``Z`` (the precision Fluent stores)."""
    if value.tzinfo is None:
        raise ValueError("naive datetime: timestamps must carry a zone")
    utc = value.astimezone(UTC)
    return utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc.microsecond // 1000:03d}Z"


def truncate_to_millis(value: datetime) -> datetime:
    """Drop sub-millisecond digits, so the value survives format/parse unchanged."""
    return value.replace(microsecond=value.microsecond - value.microsecond % 1000)


@dataclass(slots=True)  # not frozen: one per position, and frozen ones cost 3x to build
class Position:
    """One aggregate virtual position as Fluent sent it (not yet checked)."""

    product_ref: object
    quantity: object


@dataclass(frozen=True, slots=True)
class Window:
    """The ``updatedOn`` range to read; both ends inclusive. ``start`` None = from the beginning."""

    start: datetime | None
    end: datetime

    def __post_init__(self) -> None:
        if self.start is not None and self.start > self.end:
            raise ValueError(
                f"window start {format_timestamp(self.start)} is after its end "
                f"{format_timestamp(self.end)}"
            )


def delta_window(
    previous_end: datetime | None,
    run_start: datetime,
    *,
    overlap: timedelta,
    settle_lag: timedelta,
) -> Window:
    """``from = previousEndDate - overlap``, ``to = run start - settle lag``.

    No previous end means a full sync (no lower bound). The end is truncated to
    milliseconds so that the value saved is exactly the value queried.
    """
    end = truncate_to_millis(run_start - settle_lag)
    start = None if previous_end is None else min(previous_end - overlap, end)
    return Window(start=start, end=end)


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MS = timedelta(milliseconds=1)


def split_window(window: Window, slices: int, *, floor: datetime | None = None) -> list[Window]:
    """Cut ``window`` into at most ``slices`` adjacent windows, to be read concurrently.

    Fluent stores milliseconds and both bounds are inclusive, so the cuts are made on
    whole milliseconds as they are sent (``format_timestamp`` truncates): each slice
    ends one millisecond before the next one starts, and together they cover exactly
    the milliseconds of ``window`` — none read twice, none skipped.

    A window without a start (a full sync) is cut from ``floor`` on and its first slice
    keeps no lower bound, so positions older than ``floor`` are still read. Without a
    ``floor``, or with fewer milliseconds than slices, fewer (or one) slices come back.
    """
    start = window.start if window.start is not None else floor
    if slices <= 1 or start is None:
        return [window]
    low, high = (start - _EPOCH) // _MS, (window.end - _EPOCH) // _MS
    span = high - low + 1
    count = min(slices, span)
    if count <= 1:
        return [window]
    cuts = [low + span * i // count for i in range(1, count)]
    starts = [window.start, *(_EPOCH + c * _MS for c in cuts)]
    ends = [*(_EPOCH + (c - 1) * _MS for c in cuts), window.end]
    return [Window(start=s, end=e) for s, e in zip(starts, ends, strict=True)]


class RunStatus(StrEnum):
    SUCCESSFUL = "SUCCESSFUL"
    FAILED = "FAILED"
    SKIPPED = "SKIPPED"


@dataclass(slots=True)
class Counts:
    """Positions per outcome in one run of one profile."""

    fetched: int = 0
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    invalid: int = 0
    clamped: int = 0
    failed: int = 0
    skipped: int = 0  # the mapper returned None
    zeroed: int = 0  # --zero-missing: set to 0, the master no longer has them

    def add(self, other: Counts) -> None:
        for f in fields(self):
            setattr(self, f.name, getattr(self, f.name) + getattr(other, f.name))

    def as_dict(self) -> dict[str, int]:
        return {f.name: getattr(self, f.name) for f in fields(self)}


@dataclass(frozen=True, slots=True)
class Change:
    """One planned or performed change of a commercetools entry (``--report``).

    ``action``: create, update or zero; ``result``: planned (dry run), created,
    updated, unchanged (settled by a conflict: already equal) or failed:<code>.
    """

    profile: str
    sku: str
    action: str
    old_quantity: int | None
    quantity: int
    result: str


@dataclass(frozen=True, slots=True)
class ItemFailure:
    """A position that could not be written, with the API's error code."""

    sku: str
    code: str
    message: str


@dataclass(slots=True)
class RunSummary:
    """What one run of one profile did; the source of the summary line and the state record."""

    profile: str
    status: RunStatus
    window: Window | None
    started: datetime
    finished: datetime
    counts: Counts = field(default_factory=Counts)
    failures: list[ItemFailure] = field(default_factory=list)
    error: str | None = None
    dry_run: bool = False

    @property
    def duration_seconds(self) -> float:
        return (self.finished - self.started).total_seconds()
