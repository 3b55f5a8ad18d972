"""Fluent virtual positions: storage, filtering, cursor paging and DateTime handling.

Timestamps are kept as integer epoch milliseconds (Fluent's precision) and rendered
as UTC ISO-8601 with milliseconds and ``Z``. Filter bounds are parsed to
nanoseconds and rounded inwards, so both bounds stay exactly inclusive.
"""

from __future__ import annotations

import base64
import binascii
import re
from bisect import bisect_right
from collections.abc import Collection
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from operator import attrgetter
from typing import Any

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_NS_PER_MS = 1_000_000
_ISO_8601 = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})"
    r"(?:[Tt](\d{2}):(\d{2})(?::(\d{2})(?:[.,](\d{1,9}))?)?"
    r"([Zz]|[+-]\d{2}(?::?\d{2})?)?)?"
)
_CURSOR_PREFIX = "VirtualPosition:"


def parse_datetime_ns(text: str) -> int:
    """Epoch nanoseconds of an ISO-8601 date-time; no zone means UTC. Raises ValueError."""
    match = _ISO_8601.fullmatch(text)
    if match is None:
        raise ValueError(f"not an ISO-8601 date-time: {text!r}")
    year, month, day, hour, minute, second, fraction, zone = match.groups()
    moment = datetime(
        int(year), int(month), int(day), int(hour or 0), int(minute or 0), int(second or 0),
        tzinfo=UTC,
    )  # fmt: skip
    offset_s = 0
    if zone and zone.upper() != "Z":
        digits = zone[1:].replace(":", "")
        hours, minutes = int(digits[:2]), int(digits[2:] or 0)
        if hours > 23 or minutes > 59:
            raise ValueError(f"bad zone offset: {zone!r}")
        offset_s = (hours * 3600 + minutes * 60) * (-1 if zone[0] == "-" else 1)
    seconds = (moment - _EPOCH) // timedelta(seconds=1) - offset_s
    return seconds * 1_000_000_000 + int((fraction or "0").ljust(9, "0"))


def to_epoch_ms(value: datetime | str) -> int:
    """Epoch milliseconds (floored) of a datetime (naive = UTC) or ISO-8601 string."""
    if isinstance(value, str):
        return parse_datetime_ns(value) // _NS_PER_MS
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return (value - _EPOCH) // timedelta(milliseconds=1)


def render_ms(ms: int) -> str:
    moment = _EPOCH + timedelta(milliseconds=ms)
    return f"{moment:%Y-%m-%dT%H:%M:%S}.{ms % 1000:03d}Z"


def lower_bound_ms(ns: int) -> int:
    """Smallest millisecond at or after `ns`."""
    return -(-ns // _NS_PER_MS)


def upper_bound_ms(ns: int) -> int:
    """Largest millisecond at or before `ns`."""
    return ns // _NS_PER_MS


def encode_cursor(position_id: int) -> str:
    return base64.b64encode(f"{_CURSOR_PREFIX}{position_id}".encode()).decode()


def decode_cursor(cursor: str) -> int:
    """The position id of a cursor. Raises ValueError for a malformed cursor."""
    try:
        text = base64.b64decode(cursor, validate=True).decode()
    except (binascii.Error, UnicodeDecodeError) as error:
        raise ValueError(f"malformed cursor: {cursor!r}") from error
    if not text.startswith(_CURSOR_PREFIX) or not text[len(_CURSOR_PREFIX) :].isdigit():
        raise ValueError(f"malformed cursor: {cursor!r}")
    return int(text[len(_CURSOR_PREFIX) :])


@dataclass(slots=True)
class Position:
    id: int
    catalogue: dict[str, str]
    ref: str
    product_ref: str | None
    quantity: int | None
    status: str | None
    created_ms: int
    updated_ms: int
    edge: dict[str, Any]

    def refresh_edge(self) -> None:
        """Rebuild the JSON-ready edge served by GraphQL after a change."""
        self.edge = {
            "cursor": encode_cursor(self.id),
            "node": {
                "id": str(self.id),
                "ref": self.ref,
                "productRef": self.product_ref,
                "quantity": self.quantity,
                "status": self.status,
                "createdOn": render_ms(self.created_ms),
                "updatedOn": render_ms(self.updated_ms),
                "catalogue": self.catalogue,
            },
        }


@dataclass(frozen=True, slots=True)
class Page:
    edges: list[dict[str, Any]]
    has_next_page: bool


_BY_ID = attrgetter("id")


class PositionStore:
    """Positions keyed by (catalogue ref, position ref), listed in id order."""

    def __init__(self) -> None:
        self._catalogues: dict[str, dict[str, str]] = {}
        self._by_key: dict[tuple[str, str], Position] = {}
        self._all: list[Position] = []
        self._by_catalogue: dict[str, list[Position]] = {}

    def upsert(
        self,
        catalogue: str,
        ref: str,
        product_ref: str | None,
        quantity: int | None,
        status: str | None,
        updated_ms: int,
        created_ms: int | None = None,
    ) -> Position:
        position = self._by_key.get((catalogue, ref))
        if position is None:
            catalogue_view = self._catalogues.setdefault(
                catalogue, {"id": str(len(self._catalogues) + 1), "ref": catalogue}
            )
            position = Position(
                id=len(self._all) + 1,
                catalogue=catalogue_view,
                ref=ref,
                product_ref=product_ref,
                quantity=quantity,
                status=status,
                created_ms=updated_ms if created_ms is None else created_ms,
                updated_ms=updated_ms,
                edge={},
            )
            self._by_key[(catalogue, ref)] = position
            self._all.append(position)
            self._by_catalogue.setdefault(catalogue, []).append(position)
        else:
            position.product_ref = product_ref
            position.quantity = quantity
            position.status = status
            position.updated_ms = updated_ms
        position.refresh_edge()
        return position

    def positions(self, catalogue: str | None = None) -> list[Position]:
        return list(self._all if catalogue is None else self._by_catalogue.get(catalogue, ()))

    def page(
        self,
        *,
        catalogue: str | None,
        statuses: Collection[str | None] | None,
        updated_from_ms: int | None,
        updated_to_ms: int | None,
        first: int,
        after_id: int | None,
    ) -> Page:
        """Up to `first` matching positions with an id greater than `after_id`."""
        listed = self._all if catalogue is None else self._by_catalogue.get(catalogue, [])
        start = 0 if after_id is None else bisect_right(listed, after_id, key=_BY_ID)
        low = float("-inf") if updated_from_ms is None else updated_from_ms
        high = float("inf") if updated_to_ms is None else updated_to_ms
        edges: list[dict[str, Any]] = []
        for index in range(start, len(listed)):
            position = listed[index]
            if statuses is not None and position.status not in statuses:
                continue
            if not low <= position.updated_ms <= high:
                continue
            if len(edges) == first:
                return Page(edges, has_next_page=True)
            edges.append(position.edge)
        return Page(edges, has_next_page=False)
