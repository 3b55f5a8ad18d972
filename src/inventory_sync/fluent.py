"""The source: aggregate virtual positions of a Fluent catalogue, page by page."""

from __future__ import annotations

from collections.abc import AsyncGenerator, Mapping, Sequence
from datetime import datetime
from typing import Any

from inventory_sync.documents import Documents
from inventory_sync.errors import BadResponseError, GraphQLError, PagingError, TemporaryApiError
from inventory_sync.graphql import GraphQLClient, error_code
from inventory_sync.model import Position, Window, format_timestamp, split_window


class FluentSource:
    """Pages ``virtualPositions`` for one catalogue and window (or one slice of it).

    The next page is ``after`` the last edge's cursor (Fluent has no ``endCursor``);
    paging stops on ``hasNextPage`` false or an empty page; a cursor seen before is a
    ``PagingError`` rather than an endless loop.
    """

    def __init__(
        self,
        client: GraphQLClient,
        *,
        page_size: int,
        documents: Documents | None = None,
        slices: int = 1,
        full_sync_from: datetime | None = None,
    ) -> None:
        self._client = client
        self._page_size = page_size
        self._document = (documents or Documents())["GetAggregateVirtualPositions"]
        self._slices = slices
        self._full_sync_from = full_sync_from

    def slices(self, window: Window) -> list[Window]:
        """The time slices of ``window`` to page concurrently (see ``split_window``);
        a full sync is cut from ``full_sync_from`` on, or not at all without it."""
        return split_window(window, self._slices, floor=self._full_sync_from)

    async def pages(
        self, catalogue_ref: str, statuses: Sequence[str], window: Window
    ) -> AsyncGenerator[list[Position], None]:
        variables: dict[str, Any] = {
            "catalogueRef": catalogue_ref,
            "statuses": list(statuses),
            "updatedOnFrom": None if window.start is None else format_timestamp(window.start),
            "updatedOnTo": format_timestamp(window.end),
            "first": self._page_size,
            "after": None,
        }
        seen: set[str] = set()
        while True:
            body = await self._client.post(self._document, variables, check=_check_errors)
            edges, has_next = _edges(body)
            if not edges:
                return
            yield _positions(edges)
            if not has_next:
                return
            last = edges[-1]
            cursor = last.get("cursor") if isinstance(last, dict) else None
            if not isinstance(cursor, str) or not cursor:
                raise BadResponseError("fluent", "the last edge of a page has no cursor")
            if cursor in seen:
                raise PagingError(
                    "fluent",
                    f"loop detected: cursor {cursor!r} came back for catalogue {catalogue_ref!r}",
                )
            seen.add(cursor)
            variables["after"] = cursor


def _check_errors(body: Mapping[str, Any]) -> None:
    """Errors in a page's answer fail the page; server-side codes (``S…``/``T…``) are
    temporary and retried, client-side ones (``C…``) are not."""
    errors = body.get("errors")
    if not errors:
        return
    first = errors[0] if isinstance(errors, list) and errors else {}
    first = first if isinstance(first, Mapping) else {}
    code = error_code(first)
    message = f"virtualPositions: {first.get('message')} ({code})"
    if code[:1] in ("S", "T"):
        raise TemporaryApiError("fluent", message, code=code)
    raise GraphQLError("fluent", message, code=code)


def _edges(body: Mapping[str, Any]) -> tuple[list[object], bool]:
    try:
        connection = body["data"]["virtualPositions"]
        if connection is None:
            # not "no positions" (that is an empty edges list): ending here would let
            # the window advance past positions never read
            raise BadResponseError("fluent", "virtualPositions is null, with no errors")
        edges = connection.get("edges") or []
        page_info = connection.get("pageInfo") or {}
    except (KeyError, TypeError, AttributeError) as e:
        raise BadResponseError("fluent", "answer has no data.virtualPositions") from e
    if not isinstance(edges, list):
        raise BadResponseError("fluent", "virtualPositions.edges is not a list")
    return edges, bool(page_info.get("hasNextPage"))


def _positions(edges: list[object]) -> list[Position]:
    """A page's positions; an edge without a node is a position without a ref or quantity
    (reported as invalid). One pass, no call per position: ``dict`` (what JSON gives) is
    checked much faster than ``Mapping``."""
    return [
        Position(node.get("productRef"), node.get("quantity"))
        if isinstance(edge, dict) and isinstance(node := edge.get("node"), dict)
        else Position(None, None)
        for edge in edges
    ]
