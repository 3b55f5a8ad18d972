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


@dataclass(frozen=True, slots=True)
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

    def add(self, other: Counts) -> None:
        for f in fields(self):
            setattr(self, f.name, getattr(self, f.name) + getattr(other, f.name))

    def as_dict(self) -> dict[str, int]:
        return {f.name: getattr(self, f.name) for f in fields(self)}


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
