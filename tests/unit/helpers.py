"""Builders for unit tests that talk to respx-mocked endpoints."""

from __future__ import annotations

import json
from typing import Any

import anyio
import httpx
from pydantic import SecretStr

from inventory_sync.auth import TokenProvider, ct_client_credentials, fluent_password_grant
from inventory_sync.graphql import GraphQLClient
from inventory_sync.http import RetryPolicy

FLUENT = "https://acme.sandbox.api.fluentretail.com"
CT_AUTH = "https://auth.europe-west1.gcp.commercetools.com"
CT_API = "https://api.europe-west1.gcp.commercetools.com"
FAST_RETRY = RetryPolicy(attempts=3, timeout=5, wait_initial=0, wait_max=0, wait_jitter=0)


def token_answer(token: str = "tok-1", expires_in: int = 3600) -> httpx.Response:
    return httpx.Response(
        200, json={"access_token": token, "token_type": "bearer", "expires_in": expires_in}
    )


def fluent_client(
    http: httpx.AsyncClient, *, retry: RetryPolicy = FAST_RETRY, **kw: Any
) -> GraphQLClient:
    grant = fluent_password_grant(
        f"{FLUENT}/oauth/token", "user", SecretStr("pw-secret"), "client", SecretStr("cs-secret")
    )
    tokens = TokenProvider(http, grant, retry, **kw)
    limiter = anyio.CapacityLimiter(4)
    return GraphQLClient(http, f"{FLUENT}/graphql", tokens, retry, api="fluent", limiter=limiter)


def ct_client(http: httpx.AsyncClient) -> GraphQLClient:
    tokens = TokenProvider(
        http,
        ct_client_credentials(f"{CT_AUTH}/oauth/token", "ct-id", SecretStr("ct-secret"), "scope"),
        FAST_RETRY,
    )
    return GraphQLClient(
        http,
        f"{CT_API}/proj/graphql",
        tokens,
        FAST_RETRY,
        api="commercetools",
        limiter=anyio.CapacityLimiter(4),
    )


def body_of(request: httpx.Request) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(request.content)
    return data
