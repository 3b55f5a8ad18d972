"""Emulator of the Fluent Order Management API, as far as the inventory sync uses it.

HTTP endpoints of `FluentEmulator.app`:

- ``POST /oauth/token``: password grant; parameters in the query string (as the real
  API takes them) or an urlencoded body. Bad client: 401 ``invalid_client``; bad
  user credentials: 400 ``invalid_grant``.
- ``POST /graphql``: needs ``Authorization: Bearer <unexpired token>`` (else 401
  ``invalid_token``); bodies over 2 MB get 413. Documents are validated against
  ``schema/fluent.graphql``; the only root field is ``virtualPositions``.
- ``POST /_emulator/positions``: upsert position records (see below), sent either as
  a JSON list or as ``{"catalogue": REF, "positions": [...]}`` (REF then applies to
  every record).
- ``GET /_emulator/positions?catalogue=REF``: positions in GraphQL node shape.
- ``GET /_emulator/stats``: ``{"requests": {path: count}}``.

GraphQL errors come with HTTP 200 as ``{"errors": [{"message", "code", ...}]}``
using the ``CODE_*`` constants below.

A position record (seed file and admin endpoint) is
``{"catalogue", "ref"?, "productRef", "quantity", "status"?, "createdOn"?, "updatedOn"?}``;
``catalogue`` is a ref or ``{"ref": ...}`` (so nodes read from the admin endpoint can
be posted back), ``ref`` defaults to ``productRef``, ``status`` to ``ACTIVE``,
``updatedOn`` to now; other keys are ignored.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Mapping
from datetime import datetime
from pathlib import Path
from typing import Any

import anyio
from graphql import GraphQLError
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from tests.emulators.auth import Clock, TokenStore, bearer_token, form_params
from tests.emulators.faults import FaultMiddleware, Faults
from tests.emulators.fluent_data import (
    Position,
    PositionStore,
    decode_cursor,
    lower_bound_ms,
    parse_datetime_ns,
    to_epoch_ms,
    upper_bound_ms,
)
from tests.emulators.gql import GraphQLRuntime, RequestError, parse_request_body

CODE_INVALID_REQUEST = "C0003E"
"""Malformed body, syntax, validation or variable error."""
CODE_INVALID_DATE = "C0100E"
"""A ``DateRange`` bound is not an ISO-8601 date-time."""
CODE_EMPTY_DATE_RANGE = "C0101E"
"""A ``DateRange`` has neither ``from`` nor ``to``."""
CODE_INVALID_ARGUMENT = "C0102E"
"""``first`` outside 0..5000 or a malformed ``after`` cursor."""

DEFAULT_PAGE_SIZE = 10
MAX_PAGE_SIZE = 5000
MAX_BODY_BYTES = 2 * 1024 * 1024

_SDL = (Path(__file__).with_name("schema") / "fluent.graphql").read_text(encoding="utf-8")


def _error(code: str, message: str) -> GraphQLError:
    return GraphQLError(message, extensions={"code": code})


def _fluent_error(error: GraphQLError, default_code: str) -> dict[str, Any]:
    """Fluent puts the error code next to the message, not in ``extensions``."""
    formatted = {key: value for key, value in error.formatted.items() if key != "extensions"}
    return {**formatted, "code": (error.extensions or {}).get("code", default_code)}


class FluentEmulator:
    """Aggregate virtual positions behind Fluent's OAuth and GraphQL endpoints."""

    def __init__(
        self,
        *,
        username: str = "demo-user",
        password: str = "demo-pass",
        client_id: str = "demo-client",
        client_secret: str = "demo-secret",
        token_ttl_s: float = 3600,
        latency_ms: float = 0,
        clock: Clock = time.monotonic,
    ) -> None:
        self._user = (username, password)
        self._client = (client_id, client_secret)
        self.tokens = TokenStore(token_ttl_s, clock)
        self.latency_ms = latency_ms
        self.store = PositionStore()
        self.requests: Counter[str] = Counter()
        self._graphql = GraphQLRuntime(_SDL, {"virtualPositions": self._virtual_positions})
        self.faults = Faults()
        self._router = Starlette(
            routes=[
                Route("/oauth/token", self._token, methods=["POST"]),
                Route("/graphql", self._graphql_endpoint, methods=["POST"]),
                Route("/_emulator/positions", self._admin_upsert, methods=["POST"]),
                Route("/_emulator/positions", self._admin_positions, methods=["GET"]),
                Route("/_emulator/stats", self._admin_stats, methods=["GET"]),
            ],
            middleware=[Middleware(_CountRequests, counter=self.requests)],
        )
        self.app = FaultMiddleware(self._router, self.faults)
        """The ASGI application (faults first, then the routes)."""

    # -- data ---------------------------------------------------------------------------

    def load(self, seed: Mapping[str, Any]) -> None:
        """Upsert the positions of a seed document (``seed["fluent"]["positions"]``)."""
        for record in seed["fluent"]["positions"]:
            self.upsert_record(record)

    def upsert_record(self, record: Mapping[str, Any]) -> dict[str, Any]:
        """Upsert one position record (module docstring format)."""
        catalogue = record["catalogue"]
        return self.upsert_position(
            catalogue["ref"] if isinstance(catalogue, Mapping) else catalogue,
            record.get("ref") or record["productRef"],
            record["productRef"],
            record["quantity"],
            status=record.get("status", "ACTIVE"),
            updated_on=record.get("updatedOn"),
            created_on=record.get("createdOn"),
        )

    def upsert_position(
        self,
        catalogue: str,
        ref: str,
        product_ref: str | None,
        quantity: int | None,
        status: str | None = "ACTIVE",
        updated_on: datetime | str | None = None,
        created_on: datetime | str | None = None,
    ) -> dict[str, Any]:
        """Create or update a position; `updated_on` defaults to now. Returns its node."""
        updated_ms = time.time_ns() // 1_000_000 if updated_on is None else to_epoch_ms(updated_on)
        created_ms = None if created_on is None else to_epoch_ms(created_on)
        position = self.store.upsert(
            catalogue, ref, product_ref, quantity, status, updated_ms, created_ms
        )
        return _node(position)

    def positions(self, catalogue: str | None = None) -> list[dict[str, Any]]:
        """Nodes of the positions of `catalogue` (all when None), in id order."""
        return [_node(position) for position in self.store.positions(catalogue)]

    # -- GraphQL --------------------------------------------------------------------------

    def _virtual_positions(self, args: dict[str, Any]) -> dict[str, Any]:
        first = args.get("first")
        first = DEFAULT_PAGE_SIZE if first is None else first
        if not 0 <= first <= MAX_PAGE_SIZE:
            raise _error(
                CODE_INVALID_ARGUMENT, f"'first' must be between 0 and {MAX_PAGE_SIZE}: {first}"
            )
        after = args.get("after")
        try:
            after_id = None if after is None else decode_cursor(after)
        except ValueError as error:
            raise _error(CODE_INVALID_ARGUMENT, str(error)) from None
        low, high = _date_range(args.get("updatedOn"), "updatedOn")
        catalogue = args.get("catalogue")
        statuses = args.get("status")
        page = self.store.page(
            catalogue=None if catalogue is None else catalogue["ref"],
            statuses=frozenset(statuses) if statuses else None,
            updated_from_ms=low,
            updated_to_ms=high,
            first=first,
            after_id=after_id,
        )
        return {
            "edges": page.edges,
            "pageInfo": {"hasNextPage": page.has_next_page, "hasPreviousPage": after is not None},
        }

    # -- HTTP -----------------------------------------------------------------------------

    async def _delay(self) -> None:
        if self.latency_ms:
            await anyio.sleep(self.latency_ms / 1000)

    async def _token(self, request: Request) -> JSONResponse:
        await self._delay()
        params = await form_params(request)
        if (params.get("client_id"), params.get("client_secret")) != self._client:
            return _oauth_error(401, "invalid_client", "Bad client credentials")
        grant_type = params.get("grant_type")
        if grant_type != "password":
            return _oauth_error(
                400, "unsupported_grant_type", f"Unsupported grant type: {grant_type}"
            )
        scope = params.get("scope", "api")
        if scope != "api":
            return _oauth_error(400, "invalid_scope", f"Invalid scope: {scope}")
        if (params.get("username"), params.get("password")) != self._user:
            return _oauth_error(400, "invalid_grant", "Bad credentials")
        return JSONResponse(
            {
                "access_token": self.tokens.issue(),
                "token_type": "bearer",
                "expires_in": int(self.tokens.ttl_s),
                "scope": "api",
            }
        )

    async def _graphql_endpoint(self, request: Request) -> JSONResponse:
        await self._delay()
        problem = self.tokens.check(bearer_token(request))
        if problem is not None:
            return _oauth_error(401, "invalid_token", problem)
        body = await request.body()
        if len(body) > MAX_BODY_BYTES:
            message = f"Request body exceeds {MAX_BODY_BYTES} bytes"
            return JSONResponse(
                {"errors": [{"message": message, "code": CODE_INVALID_REQUEST}]}, 413
            )
        try:
            query, operation_name, variables = parse_request_body(body)
        except ValueError as error:
            return JSONResponse(
                {"errors": [{"message": str(error), "code": CODE_INVALID_REQUEST}]}, 400
            )
        try:
            operation = self._graphql.prepare(query, operation_name)
            result = await self._graphql.execute(operation, variables)
        except RequestError as error:
            errors = [_fluent_error(each, CODE_INVALID_REQUEST) for each in error.errors]
            return JSONResponse({"errors": errors})
        response: dict[str, Any] = {"data": result.data}
        if result.errors:
            response["errors"] = [
                _fluent_error(each, CODE_INVALID_REQUEST) for each in result.errors
            ]
        return JSONResponse(response)

    async def _admin_upsert(self, request: Request) -> JSONResponse:
        body = await request.json()
        if isinstance(body, dict) and isinstance(body.get("positions"), list):
            records = body["positions"]
            if "catalogue" in body:
                records = [{**record, "catalogue": body["catalogue"]} for record in records]
        elif isinstance(body, list):
            records = body
        else:
            message = 'expected a list of positions or {"catalogue": ..., "positions": [...]}'
            return JSONResponse({"message": message}, 400)
        for record in records:
            self.upsert_record(record)
        return JSONResponse({"upserted": len(records)})

    async def _admin_positions(self, request: Request) -> JSONResponse:
        return JSONResponse(self.positions(request.query_params.get("catalogue")))

    async def _admin_stats(self, _request: Request) -> JSONResponse:
        return JSONResponse({"requests": dict(self.requests)})


class _CountRequests:
    """ASGI middleware counting HTTP requests per path."""

    def __init__(self, app: ASGIApp, counter: Counter[str]) -> None:
        self._app = app
        self._counter = counter

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            self._counter[scope["path"]] += 1
        await self._app(scope, receive, send)


def _node(position: Position) -> dict[str, Any]:
    node: dict[str, Any] = position.edge["node"]
    return {**node, "catalogue": dict(node["catalogue"])}


def _date_range(value: Mapping[str, Any] | None, argument: str) -> tuple[int | None, int | None]:
    """Inclusive epoch-millisecond bounds of a ``DateRange`` argument."""
    if value is None:
        return None, None
    start, end = value.get("from"), value.get("to")
    if start is None and end is None:
        raise _error(CODE_EMPTY_DATE_RANGE, f"'{argument}' needs at least one of 'from' or 'to'")
    return (
        None if start is None else lower_bound_ms(_parse_bound(start, f"{argument}.from")),
        None if end is None else upper_bound_ms(_parse_bound(end, f"{argument}.to")),
    )


def _parse_bound(value: Any, where: str) -> int:
    if isinstance(value, str):
        try:
            return parse_datetime_ns(value)
        except ValueError:
            pass
    raise _error(CODE_INVALID_DATE, f"Invalid DateTime for '{where}': {value!r}")


def _oauth_error(status: int, error: str, description: str) -> JSONResponse:
    return JSONResponse({"error": error, "error_description": description}, status)
