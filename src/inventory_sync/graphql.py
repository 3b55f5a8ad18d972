"""GraphQL over HTTP: the bundled documents, one POST with auth and retries, and batches.

A batch is one request carrying several aliased copies (``i0``, ``i1``, …) of the
top-level field of single-field documents, each with its own suffixed variables;
the API answers each alias separately, so an error whose ``path`` starts with an
alias belongs to that item alone.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import anyio
import httpx
import orjson

from inventory_sync.auth import TokenProvider
from inventory_sync.errors import (
    AuthError,
    BadResponseError,
    GraphQLError,
    PermanentApiError,
    TemporaryApiError,
)
from inventory_sync.http import RetryPolicy, observed, poster, raise_for_temporary_status

_MARK = "__item__"


def error_code(error: Mapping[str, Any]) -> str:
    """The code of one GraphQL error: ``extensions.code`` (commercetools) or ``code`` (Fluent)."""
    ext = error.get("extensions")
    if isinstance(ext, Mapping) and ext.get("code"):
        return str(ext["code"])
    return str(error.get("code") or "GraphQLError")


class GraphQLClient:
    """POSTs documents to one GraphQL endpoint with a bearer token from ``tokens``.

    ``limiter`` bounds the requests in flight (shared by every task of the run);
    transport failures and 429/502/503/504 are retried by ``retry``; a 401 drops the
    token and tries once more with a fresh one.
    """

    def __init__(
        self,
        http: httpx.AsyncClient,
        url: str,
        tokens: TokenProvider,
        retry: RetryPolicy,
        *,
        api: str,
        limiter: anyio.CapacityLimiter,
    ) -> None:
        self._url = url
        self._post = poster(http, url)
        self._tokens = tokens
        self._retry = retry
        self._limiter = limiter
        self.api = api
        self.requests = 0

    async def post(
        self,
        document: str,
        variables: Mapping[str, Any],
        *,
        check: Callable[[dict[str, Any]], None] | None = None,
    ) -> dict[str, Any]:
        """The answer's JSON object (``data`` and maybe ``errors``); raises on HTTP failures.

        ``check`` inspects the answer inside the retry loop: raising ``TemporaryApiError``
        from it sends the request again.
        """
        payload = {"query": document, "variables": dict(variables)}

        async def attempt() -> dict[str, Any]:
            body = await self._post_once(payload)
            if check is not None:
                check(body)
            return body

        limiter = self._limiter
        try:
            limiter.acquire_nowait()  # a free slot: no trip through the event loop
        except anyio.WouldBlock:
            await limiter.acquire()
        try:
            return await self._retry.call(attempt)
        finally:
            limiter.release()

    async def _post_once(self, payload: dict[str, Any]) -> dict[str, Any]:
        token = await self._tokens.token()
        response = await self._send(token, payload)
        if response.status_code == 401:
            await self._tokens.invalidate(token)
            response = await self._send(await self._tokens.token(), payload)
            if response.status_code == 401:
                raise AuthError(
                    self.api,
                    f"{self._url} answered 401 to a fresh token from {self._tokens.api} "
                    f"for {self._tokens.who}",
                    code="401",
                )
        raise_for_temporary_status(self.api, response)
        try:
            body = orjson.loads(response.content)
        except ValueError as e:
            kind = response.headers.get("content-type", "no content type")
            what = (
                f"HTTP {response.status_code} from {self._url} is not JSON ({kind}, "
                f"{len(response.content)} bytes)"
            )
            if response.status_code >= 400:  # 429 and 5xx were raised above: a 4xx stays one
                raise PermanentApiError(self.api, what, code=str(response.status_code)) from e
            # a truncated body or a proxy's HTML page: worth another try; our writes are
            # absolute and version-checked, so sending a batch again cannot double-apply
            raise TemporaryApiError(self.api, what, code="invalid_json") from e
        if not isinstance(body, dict):
            raise BadResponseError(self.api, f"answer from {self._url} is not a JSON object")
        if response.status_code >= 400:
            errors = body.get("errors")
            if isinstance(errors, list) and errors and isinstance(errors[0], Mapping):
                raise GraphQLError(
                    self.api,
                    f"HTTP {response.status_code}: {errors[0].get('message')}",
                    code=error_code(errors[0]),
                )
            raise PermanentApiError(
                self.api,
                f"HTTP {response.status_code} from {self._url}",
                code=str(response.status_code),
            )
        return body

    async def _send(self, token: str, payload: dict[str, Any]) -> httpx.Response:
        self.requests += 1
        headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
        return await observed(self.api, self._post(orjson.dumps(payload), headers))


@dataclass(frozen=True, slots=True)
class FieldTemplate:
    """The one top-level field of a document, ready to be aliased into a batch."""

    operation: str
    variable_definitions: tuple[str, ...]
    field: str
    variables: tuple[str, ...]

    @classmethod
    @functools.cache
    def of(cls, document: str) -> FieldTemplate:
        # graphql-core is imported here, not at the top: the import costs about 0.12 s of
        # CPU, a fifth of a small run, and the bundled documents' templates are known
        # without it (``commercetools.BUNDLED_TEMPLATES``)
        import graphql as gql

        class MarkVariables(gql.Visitor):
            def enter_variable(self, node: gql.VariableNode, *_: Any) -> gql.VariableNode:
                return gql.VariableNode(name=gql.NameNode(value=f"{node.name.value}{_MARK}"))

        ast = gql.parse(document)
        ops = [d for d in ast.definitions if isinstance(d, gql.OperationDefinitionNode)]
        if len(ops) != 1 or len(ops[0].selection_set.selections) != 1:
            raise ValueError("a batch template must have one operation with one top-level field")
        op = ops[0]
        marked = gql.visit(op, MarkVariables())
        field = marked.selection_set.selections[0]
        return cls(
            operation=op.operation.value,
            variable_definitions=tuple(gql.print_ast(v) for v in marked.variable_definitions or ()),
            field=gql.print_ast(field),
            variables=tuple(v.variable.name.value for v in op.variable_definitions or ()),
        )


@functools.lru_cache(maxsize=256)
def batch_document(name: str, templates: tuple[FieldTemplate, ...]) -> str:
    """One document with ``templates[n]`` aliased as ``i<n>`` (cached per shape)."""
    operations = {t.operation for t in templates}
    if len(operations) != 1:
        raise ValueError("a batch mixes queries and mutations")
    defs: list[str] = []
    fields: list[str] = []
    for n, t in enumerate(templates):
        defs.extend(d.replace(_MARK, f"_{n}") for d in t.variable_definitions)
        fields.append(f"i{n}: " + t.field.replace(_MARK, f"_{n}"))
    body = "\n".join(fields)
    return f"{operations.pop()} {name}({', '.join(defs)}) {{\n{body}\n}}"


def alias_index(error: Mapping[str, Any]) -> int | None:
    """Which batch item (``i<n>``) an error's ``path`` points at, if any."""
    path = error.get("path")
    if isinstance(path, list) and path and isinstance(path[0], str) and path[0].startswith("i"):
        digits = path[0][1:]
        if digits.isdigit():
            return int(digits)
    return None
