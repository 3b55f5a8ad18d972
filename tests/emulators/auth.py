"""OAuth helpers shared by the emulators: expiring bearer tokens and request parsing."""

from __future__ import annotations

import base64
import binascii
import secrets
import time
from collections.abc import Callable
from urllib.parse import parse_qsl

from starlette.requests import Request

Clock = Callable[[], float]


class TokenStore:
    """Issues opaque bearer tokens that expire `ttl_s` seconds later on `clock`."""

    def __init__(self, ttl_s: float, clock: Clock = time.monotonic) -> None:
        self.ttl_s = ttl_s
        self._clock = clock
        self._expiry: dict[str, float] = {}

    def issue(self) -> str:
        now = self._clock()
        self._expiry = {token: at for token, at in self._expiry.items() if at > now}
        token = secrets.token_urlsafe(32)
        self._expiry[token] = now + self.ttl_s
        return token

    def check(self, token: str | None) -> str | None:
        """Return why `token` is not accepted, or None when it is valid."""
        if token is None:
            return "Full authentication is required to access this resource"
        expiry = self._expiry.get(token)
        if expiry is None:
            return "Invalid access token"
        if expiry <= self._clock():
            return "Access token expired"
        return None


def bearer_token(request: Request) -> str | None:
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer":
        return None
    return token.strip() or None


def basic_credentials(request: Request) -> tuple[str, str] | None:
    scheme, _, encoded = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        decoded = base64.b64decode(encoded.strip(), validate=True).decode()
    except (binascii.Error, UnicodeDecodeError):
        return None
    user, sep, password = decoded.partition(":")
    return (user, password) if sep else None


async def form_params(request: Request) -> dict[str, str]:
    """Query-string parameters overlaid with an urlencoded body (python-multipart-free)."""
    params = dict(request.query_params)
    body = (await request.body()).decode(errors="replace")
    params.update(parse_qsl(body, keep_blank_values=True))
    return params
