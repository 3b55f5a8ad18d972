"""Emulator of the commercetools HTTP API, as far as the inventory sync uses it.

One server plays both the auth host and the API host. HTTP endpoints of
`CommercetoolsEmulator.app`:

- ``POST /oauth/token``: client credentials grant, client in HTTP Basic auth, form
  ``grant_type=client_credentials&scope=...`` (scopes must name the project).
- ``POST /{projectKey}/graphql``: needs ``Authorization: Bearer <unexpired token>``
  (else 401 ``invalid_token``); an unknown project key gets 404. Documents are
  validated against ``schema/commercetools.graphql``.
- ``GET /_emulator/entries?channel=KEY``: ``{sku: quantityOnStock}``.
- ``GET /_emulator/stats``: see `CommercetoolsEmulator.stats`.

GraphQL status codes: a document failing parse/validation/variable coercion gets 400
with ``extensions.code`` ``GraphQLError``. Field errors come as
``{message, path, locations, extensions: {code, ...}}`` with ``data[alias]`` null,
HTTP 200, except that any ``InvalidInput`` error makes it 400 (the API's behaviour
since 2026-01-29). Codes: see the constants in `tests.emulators.commercetools_data`.
"""

from __future__ import annotations

import contextlib
import time
from collections import Counter
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import anyio
from graphql import GraphQLError, OperationType
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from tests.emulators.auth import Clock, TokenStore, basic_credentials, bearer_token, form_params
from tests.emulators.commercetools_data import INVALID_INPUT, InventoryStore, Record
from tests.emulators.faults import FaultMiddleware, Faults
from tests.emulators.gql import GraphQLRuntime, RequestError, parse_request_body

CODE_REQUEST_ERROR = "GraphQLError"
"""``extensions.code`` of syntax, validation and variable errors (HTTP 400)."""
CODE_INVALID_JSON = "InvalidJsonInput"
"""``extensions.code`` for a body that is not a GraphQL JSON request (HTTP 400)."""

_SDL = (Path(__file__).with_name("schema") / "commercetools.graphql").read_text(encoding="utf-8")
_BAD_CLIENT = "Please provide valid client credentials using HTTP Basic Authentication."


def _coerce_long(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not -(2**63) <= value < 2**63:
        raise TypeError(f"Long cannot represent {value!r}")
    return value


class CommercetoolsEmulator:
    """Channels and inventory entries behind commercetools' OAuth and GraphQL endpoints."""

    def __init__(
        self,
        *,
        project_key: str = "demo-project",
        client_id: str = "ct-client",
        client_secret: str = "ct-secret",
        token_ttl_s: float = 172_800,
        latency_ms: float = 0,
        mutation_cost_ms: float = 0,
        clock: Clock = time.monotonic,
    ) -> None:
        self.project_key = project_key
        self._client = (client_id, client_secret)
        self.tokens = TokenStore(token_ttl_s, clock)
        self.latency_ms = latency_ms
        self.mutation_cost_ms = mutation_cost_ms
        self.store = InventoryStore()
        self.requests: Counter[str] = Counter()
        """HTTP requests by kind: token, query, mutation, invalid, unauthorized, not_found."""
        self.mutation_fields = 0
        self._graphql = GraphQLRuntime(
            _SDL,
            {
                "channel": lambda args: self.store.channel(args.get("id"), args.get("key")),
                "inventoryEntries": lambda args: self.store.query(
                    args.get("where"), args.get("sort"), args.get("limit"), args.get("offset")
                ),
                "createChannel": self._create_channel,
                "createInventoryEntry": self._create,
                "updateInventoryEntry": self._update,
            },
            input_scalars={"Long": _coerce_long},
        )
        self.faults = Faults()
        self._router = Starlette(
            routes=[
                Route("/oauth/token", self._token, methods=["POST"]),
                Route("/_emulator/entries", self._admin_entries, methods=["GET"]),
                Route("/_emulator/stats", self._admin_stats, methods=["GET"]),
                Route("/{project_key}/graphql", self._graphql_endpoint, methods=["POST"]),
            ]
        )
        self.app = FaultMiddleware(self._router, self.faults)
        """The ASGI application (faults first, then the routes)."""

    # -- data ---------------------------------------------------------------------------

    def load(self, seed: Mapping[str, Any]) -> None:
        """Add the channels and entries of a seed document (``seed["commercetools"]``)."""
        part = seed["commercetools"]
        for channel in part["channels"]:
            self.add_channel(channel["key"], id=channel.get("id"), roles=channel.get("roles"))
        for entry in part["entries"]:
            self.add_entry(entry["sku"], entry["channel"], entry["quantityOnStock"])

    def add_channel(
        self,
        key: str,
        id: str | None = None,
        roles: Sequence[str] | None = None,
    ) -> Record:
        """Add a channel (roles default to ``["InventorySupply"]``); returns its record."""
        return dict(self.store.add_channel(key, id, roles or ["InventorySupply"]))

    def add_entry(self, sku: str, channel_key: str | None, quantity: int) -> Record:
        """Add an inventory entry (no channel when `channel_key` is None); returns it."""
        draft: dict[str, Any] = {"sku": sku, "quantityOnStock": quantity}
        if channel_key is not None:
            draft["supplyChannel"] = {"typeId": "channel", "key": channel_key}
        return _copy(self.store.create(draft))

    def entries(self, channel_key: str | None) -> dict[str, int]:
        """``{sku: quantityOnStock}`` of a channel's entries."""
        return {entry["sku"]: entry["quantityOnStock"] for entry in self._entries_of(channel_key)}

    def entry_records(self, channel_key: str | None) -> list[Record]:
        """Full records (GraphQL shape) of a channel's entries, sorted by sku."""
        records = [_copy(entry) for entry in self._entries_of(channel_key)]
        return sorted(records, key=lambda record: record["sku"])

    def stats(self) -> dict[str, int]:
        """Request counts by kind plus ``mutation_fields`` (root mutation fields executed)."""
        counts = {"token": 0, "query": 0, "mutation": 0, **self.requests}
        return {**counts, "mutation_fields": self.mutation_fields}

    def _entries_of(self, channel_key: str | None) -> list[Record]:
        if channel_key is None:
            return list(self.store.entries(None))
        channel = self.store.channel(key=channel_key)
        if channel is None:
            raise KeyError(f"unknown channel {channel_key!r}")
        return list(self.store.entries(channel["id"]))

    def _create_channel(self, args: dict[str, Any]) -> Record:
        draft = args["draft"]
        if self.store.channel(key=draft["key"]) is not None:
            existing = self.store.channel(key=draft["key"])
            raise _duplicate_channel(draft["key"], existing)
        return self.store.add_channel(draft["key"], None, draft["roles"])

    def _create(self, args: dict[str, Any]) -> Record:
        draft = args["draft"]
        if self.faults.pick({"create"}, http=False) is not None:
            with contextlib.suppress(GraphQLError):  # another writer got there first
                self.store.create({**draft, "quantityOnStock": draft["quantityOnStock"] + 1000})
        return self.store.create(draft)

    def _update(self, args: dict[str, Any]) -> Record:
        if self.faults.pick({"update"}, http=False) is not None and args.get("id"):
            entry = self.store.get(args["id"])
            if entry is not None:  # another writer changed it meanwhile
                self.store.update(
                    entry["id"], None, entry["version"], [{"addQuantity": {"quantity": 0}}]
                )
        return self.store.update(args.get("id"), args.get("key"), args["version"], args["actions"])

    # -- HTTP -----------------------------------------------------------------------------

    async def _delay(self) -> None:
        if self.latency_ms:
            await anyio.sleep(self.latency_ms / 1000)

    async def _token(self, request: Request) -> JSONResponse:
        await self._delay()
        self.requests["token"] += 1
        if basic_credentials(request) != self._client:
            return _auth_error(401, "invalid_client", _BAD_CLIENT)
        params = await form_params(request)
        grant_type = params.get("grant_type")
        if grant_type != "client_credentials":
            return _auth_error(400, "unsupported_grant_type", f"Invalid grant type: {grant_type}")
        scope = params.get("scope") or f"manage_project:{self.project_key}"
        if any(not item.endswith(f":{self.project_key}") for item in scope.split()):
            return _auth_error(400, "invalid_scope", f"Invalid scope: {scope}")
        return JSONResponse(
            {
                "access_token": self.tokens.issue(),
                "token_type": "Bearer",
                "expires_in": int(self.tokens.ttl_s),
                "scope": scope,
            }
        )

    async def _graphql_endpoint(self, request: Request) -> JSONResponse:
        await self._delay()
        if self.tokens.check(bearer_token(request)) is not None:
            self.requests["unauthorized"] += 1
            return _auth_error(401, "invalid_token", "invalid_token")
        project_key = request.path_params["project_key"]
        if project_key != self.project_key:
            self.requests["not_found"] += 1
            message = f"The Resource with key '{project_key}' was not found."
            body = {
                "statusCode": 404,
                "message": message,
                "errors": [{"code": "ResourceNotFound", "message": message}],
            }
            return JSONResponse(body, 404)
        try:
            query, operation_name, variables = parse_request_body(await request.body())
        except ValueError as problem:
            self.requests["invalid"] += 1
            error = {"message": str(problem), "extensions": {"code": CODE_INVALID_JSON}}
            return JSONResponse({"errors": [error]}, 400)
        try:
            operation = self._graphql.prepare(query, operation_name)
        except RequestError as problem:
            self.requests["invalid"] += 1
            return _request_errors(problem)
        is_mutation = operation.kind is OperationType.MUTATION
        self.requests["mutation" if is_mutation else "query"] += 1
        delay_s = self.mutation_cost_ms / 1000 if is_mutation else 0.0
        try:
            result = await self._graphql.execute(operation, variables, field_delay_s=delay_s)
        except RequestError as problem:
            return _request_errors(problem)
        if is_mutation:
            self.mutation_fields += len(operation.fields)
        response: dict[str, Any] = {"data": result.data}
        if not result.errors:
            return JSONResponse(response)
        response["errors"] = [error.formatted for error in result.errors]
        invalid = any(_code(error) == INVALID_INPUT for error in result.errors)
        return JSONResponse(response, 400 if invalid else 200)

    async def _admin_entries(self, request: Request) -> JSONResponse:
        channel_key = request.query_params.get("channel")
        if channel_key is None:
            return JSONResponse({"message": "query parameter 'channel' is required"}, 400)
        try:
            return JSONResponse(self.entries(channel_key))
        except KeyError as problem:
            return JSONResponse({"message": str(problem)}, 404)

    async def _admin_stats(self, _request: Request) -> JSONResponse:
        return JSONResponse(self.stats())


def _duplicate_channel(key: str, existing: Record | None) -> GraphQLError:
    conflicting = {"typeId": "channel", "id": None if existing is None else existing["id"]}
    return GraphQLError(
        f"A duplicate value '\"{key}\"' exists for field 'key'.",
        extensions={
            "code": "DuplicateField",
            "field": "key",
            "duplicateValue": key,
            "conflictingResource": conflicting,
        },
    )


def _copy(entry: Record) -> Record:
    channel = entry["supplyChannel"]
    return {**entry, "supplyChannel": None if channel is None else dict(channel)}


def _code(error: GraphQLError) -> Any:
    return (error.extensions or {}).get("code")


def _request_errors(problem: RequestError) -> JSONResponse:
    errors = [
        {**error.formatted, "extensions": {"code": CODE_REQUEST_ERROR}} for error in problem.errors
    ]
    return JSONResponse({"errors": errors}, 400)


def _auth_error(status: int, code: str, message: str) -> JSONResponse:
    body: dict[str, Any] = {
        "statusCode": status,
        "message": message,
        "errors": [{"code": code, "message": message}],
        "error": code,
    }
    if code != "invalid_token":
        body["error_description"] = message
    return JSONResponse(body, status)
