"""Fault knobs for the emulators: what a bad network or a struggling API does.

A `Faults` object holds rules; each emulator consults it for every request (HTTP
faults, applied by `FaultMiddleware` before the emulator sees the request) and, in
commercetools, for every create/update (data faults that make the real error happen:
another writer creates the entry first, or bumps its version).

A rule fires on the requests it matches (``on``) either by number (``nth``, 1-based,
counted per rule over the requests it matches) or at random (``rate``, seeded), at
most ``times`` times. Kinds:

======================  ========================================================
``latency``             wait ``delay_ms``, then answer normally
``status``              answer HTTP ``status`` (JSON body; ``Retry-After`` if set)
``unauthorized``        answer 401 ``invalid_token`` (as after a token expired)
``timeout``             wait ``delay_ms`` (longer than the client's timeout), then
                        answer normally — the request may still take effect
``reset``               start a response and drop the connection mid-body
``html``                answer ``status`` with an HTML error page
``truncated``           answer 200 with a cut-off JSON body
``graphql_error``       answer 200 ``{"errors": [{"code": code, ...}]}`` (Fluent style)
``duplicate``           (on ``create``) another writer creates the entry first
``conflict``            (on ``update``) another writer bumps the entry's version
======================  ========================================================
"""

from __future__ import annotations

import json
import random
from collections import Counter
from dataclasses import dataclass, field
from typing import Literal

import anyio
from starlette.types import ASGIApp, Message, Receive, Scope, Send

Kind = Literal[
    "latency",
    "status",
    "unauthorized",
    "timeout",
    "reset",
    "html",
    "truncated",
    "graphql_error",
    "duplicate",
    "conflict",
]
On = Literal["any", "token", "graphql", "query", "mutation", "create", "update"]
HTTP_KINDS = frozenset(
    {"latency", "status", "unauthorized", "timeout", "reset", "html", "truncated", "graphql_error"}
)


@dataclass
class Fault:
    kind: Kind
    on: On = "graphql"
    nth: frozenset[int] = frozenset()
    rate: float = 0.0
    times: int | None = None
    status: int = 503
    retry_after: float | None = None
    delay_ms: float = 0.0
    code: str = "S0001E"
    seen: int = field(default=0, init=False)
    fired: int = field(default=0, init=False)


class Faults:
    def __init__(self, seed: int = 0) -> None:
        self.rules: list[Fault] = []
        self.fired: Counter[str] = Counter()
        self._rng = random.Random(seed)

    def add(self, fault: Fault) -> Fault:
        self.rules.append(fault)
        return fault

    def clear(self) -> None:
        self.rules.clear()

    def pick(self, classes: set[str], *, http: bool) -> Fault | None:
        """The first rule that fires for a request of these classes (counts every match)."""
        chosen = None
        for rule in self.rules:
            if (rule.kind in HTTP_KINDS) != http or rule.on not in classes:
                continue
            rule.seen += 1
            if chosen is not None or (rule.times is not None and rule.fired >= rule.times):
                continue
            if rule.seen in rule.nth or (rule.rate and self._rng.random() < rule.rate):
                rule.fired += 1
                self.fired[rule.kind] += 1
                chosen = rule
        return chosen


class FaultMiddleware:
    """ASGI middleware applying the HTTP faults of ``faults`` to ``app``."""

    def __init__(self, app: ASGIApp, faults: Faults) -> None:
        self.app = app
        self.faults = faults

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not self.faults.rules or scope["path"].startswith("/_"):
            await self.app(scope, receive, send)
            return
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        fault = self.faults.pick(_classes(scope["path"], body), http=True)

        async def replay() -> Message:
            return {"type": "http.request", "body": body, "more_body": False}

        if fault is None:
            await self.app(scope, replay, send)
        elif fault.kind in ("latency", "timeout"):
            await anyio.sleep(fault.delay_ms / 1000)
            await self.app(scope, replay, send)
        else:
            await _inject(fault, send)


def _classes(path: str, body: bytes) -> set[str]:
    classes = {"any"}
    if path.endswith("/oauth/token"):
        classes.add("token")
    elif path.endswith("/graphql"):
        classes.add("graphql")
        try:
            query = json.loads(body).get("query", "")
        except (ValueError, AttributeError):
            query = ""
        classes.add("mutation" if str(query).lstrip().startswith("mutation") else "query")
    return classes


async def _inject(fault: Fault, send: Send) -> None:
    headers: list[tuple[bytes, bytes]] = []
    if fault.kind == "status":
        status = fault.status
        body = json.dumps({"statusCode": status, "message": f"injected {status}"}).encode()
        headers.append((b"content-type", b"application/json"))
        if fault.retry_after is not None:
            headers.append((b"retry-after", f"{fault.retry_after:g}".encode()))
    elif fault.kind == "unauthorized":
        status = 401
        body = b'{"error":"invalid_token","error_description":"Access token expired"}'
        headers.append((b"content-type", b"application/json"))
    elif fault.kind == "html":
        status = fault.status
        body = b"<html><body><h1>502 Bad Gateway</h1></body></html>"
        headers.append((b"content-type", b"text/html"))
    elif fault.kind == "truncated":
        status = 200
        body = b'{"data": {"virtualPositions": {"edges": [{"cursor": "abc", "no'
        headers.append((b"content-type", b"application/json"))
    elif fault.kind == "graphql_error":
        status = 200
        error = {"message": "injected server error", "code": fault.code}
        body = json.dumps({"errors": [error]}).encode()
        headers.append((b"content-type", b"application/json"))
    else:  # reset: promise a body, send part of it, drop the connection
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [(b"content-type", b"application/json"), (b"content-length", b"4096")],
            }
        )
        await send({"type": "http.response.body", "body": b'{"data": {', "more_body": True})
        raise ConnectionResetError("injected connection reset")
    headers.append((b"content-length", str(len(body)).encode()))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
