"""OAuth access tokens: Fluent's password grant and commercetools' client credentials.

A token is cached and fetched again shortly before ``expires_in`` runs out, or when
the API answered 401 with it. Many tasks may ask at once; only one fetch is in
flight (single-flight under a lock), the others wait for its result.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import anyio
import httpx
from pydantic import SecretStr

from inventory_sync.errors import AuthError, BadResponseError, PermanentApiError
from inventory_sync.http import RetryPolicy, post, raise_for_temporary_status

Clock = Callable[[], float]


@dataclass(frozen=True, slots=True)
class TokenRequest:
    """How to ask one OAuth server for a token (built from settings)."""

    api: str  # "fluent-auth" | "commercetools-auth"
    url: str
    form: dict[str, str]
    client_id: str
    who: str  # what to name in an error: "client 'x'" or "user 'u' with client 'x'"
    basic_secret: SecretStr | None = None  # HTTP Basic (client_id, secret) when set
    secret_form: tuple[tuple[str, SecretStr], ...] = ()


def fluent_password_grant(
    url: str, username: str, password: SecretStr, client_id: str, client_secret: SecretStr
) -> TokenRequest:
    return TokenRequest(
        api="fluent-auth",
        url=url,
        form={
            "username": username,
            "client_id": client_id,
            "grant_type": "password",
            "scope": "api",
        },
        secret_form=(("password", password), ("client_secret", client_secret)),
        client_id=client_id,
        who=f"user {username!r} with client {client_id!r}",
    )


def ct_client_credentials(
    url: str, client_id: str, client_secret: SecretStr, scopes: str
) -> TokenRequest:
    return TokenRequest(
        api="commercetools-auth",
        url=url,
        form={"grant_type": "client_credentials", "scope": scopes},
        basic_secret=client_secret,
        client_id=client_id,
        who=f"client {client_id!r}",
    )


class TokenProvider:
    """Caches one bearer token; ``token()`` is safe to call from many tasks at once."""

    def __init__(
        self,
        http: httpx.AsyncClient,
        request: TokenRequest,
        retry: RetryPolicy,
        *,
        refresh_margin: float = 60.0,
        clock: Clock = time.monotonic,
    ) -> None:
        self._http = http
        self._request = request
        self._retry = retry
        self._margin = refresh_margin
        self._clock = clock
        self._lock = anyio.Lock()
        self._token: str | None = None
        self._expires_at = 0.0
        self.fetches = 0

    @property
    def api(self) -> str:
        return self._request.api

    @property
    def who(self) -> str:
        """Whose credentials these are (no secret)."""
        return self._request.who

    async def token(self) -> str:
        cached = self._token  # the common case, without the lock (no await in between)
        if cached is not None and self._clock() < self._expires_at:
            return cached
        async with self._lock:  # one refresh in flight; the others wait for its token
            if self._token is not None and self._clock() < self._expires_at:
                return self._token
            token, lifetime = await self._retry.call(self._fetch)
            self._token = token
            self.fetches += 1
            margin = min(self._margin, lifetime / 10)
            self._expires_at = self._clock() + lifetime - margin
            return token

    async def invalidate(self, token: str) -> None:
        """Drop ``token`` if it is still the cached one (the API said 401 to it)."""
        async with self._lock:
            if self._token == token:
                self._token = None

    async def _fetch(self) -> tuple[str, float]:
        req = self._request
        form = dict(req.form)
        form.update({k: v.get_secret_value() for k, v in req.secret_form})
        if req.basic_secret is None:
            response = await post(self._http, req.api, req.url, data=form)
        else:
            basic = httpx.BasicAuth(req.client_id, req.basic_secret.get_secret_value())
            response = await post(self._http, req.api, req.url, data=form, auth=basic)
        raise_for_temporary_status(req.api, response)
        if response.status_code in (400, 401, 403):
            raise AuthError(
                req.api,
                f"{req.url} rejected the credentials of {req.who} "
                f"(HTTP {response.status_code} {_oauth_error(response)})",
                code=str(response.status_code),
            )
        if response.status_code != 200:
            raise PermanentApiError(
                req.api,
                f"HTTP {response.status_code} from {req.url}",
                code=str(response.status_code),
            )
        try:
            body = response.json()
            token = body["access_token"]
            lifetime = float(body.get("expires_in", 300))
        except (ValueError, KeyError, TypeError) as e:
            raise BadResponseError(req.api, f"no access_token in the answer from {req.url}") from e
        if not isinstance(token, str) or not token:
            raise BadResponseError(req.api, f"empty access_token from {req.url}")
        return token, lifetime


def _oauth_error(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return ""
    if isinstance(body, dict):
        return str(body.get("error") or body.get("message") or "")
    return ""
