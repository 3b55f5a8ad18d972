from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import anyio
import httpx
import pytest
import respx

from inventory_sync.errors import (
    AuthError,
    BadResponseError,
    GraphQLError,
    PagingError,
    PermanentApiError,
    TemporaryApiError,
)
from inventory_sync.fluent import FluentSource
from inventory_sync.model import Position, Window

from .helpers import FAST_RETRY, FLUENT, body_of, fluent_client, token_answer

pytestmark = pytest.mark.anyio

WINDOW = Window(
    start=datetime(2026, 1, 1, tzinfo=UTC), end=datetime(2026, 1, 2, 3, 4, 5, 678000, tzinfo=UTC)
)


def page(items: list[tuple[str, Any]], cursor_base: int, has_next: bool) -> httpx.Response:
    edges = [
        {"cursor": f"c{cursor_base + n}", "node": {"productRef": ref, "quantity": qty}}
        for n, (ref, qty) in enumerate(items)
    ]
    return httpx.Response(
        200,
        json={
            "data": {"virtualPositions": {"edges": edges, "pageInfo": {"hasNextPage": has_next}}}
        },
    )


async def collect(source: FluentSource, window: Window = WINDOW) -> list[list[Position]]:
    return [p async for p in source.pages("AGG", ["ACTIVE"], window)]


@respx.mock
async def test_pages_follow_the_last_cursor_and_stop_on_an_empty_page() -> None:
    respx.post(f"{FLUENT}/oauth/token").mock(return_value=token_answer())
    graphql = respx.post(f"{FLUENT}/graphql").mock(
        side_effect=[
            page([("a", 1), ("b", 2)], 0, True),
            page([("c", 3)], 2, True),
            page([], 3, True),
        ]
    )
    async with httpx.AsyncClient() as http:
        pages = await collect(FluentSource(fluent_client(http), page_size=2))
    assert pages == [[Position("a", 1), Position("b", 2)], [Position("c", 3)]]
    sent = [body_of(call.request)["variables"] for call in graphql.calls]
    assert [v["after"] for v in sent] == [None, "c1", "c2"]
    assert sent[0] == {
        "catalogueRef": "AGG",
        "statuses": ["ACTIVE"],
        "updatedOnFrom": "2026-01-01T00:00:00.000Z",
        "updatedOnTo": "2026-01-02T03:04:05.678Z",
        "first": 2,
        "after": None,
    }
    assert graphql.calls[0].request.headers["Authorization"] == "Bearer tok-1"


@respx.mock
async def test_has_next_page_false_ends_paging() -> None:
    respx.post(f"{FLUENT}/oauth/token").mock(return_value=token_answer())
    graphql = respx.post(f"{FLUENT}/graphql").mock(side_effect=[page([("a", 1)], 0, False)])
    async with httpx.AsyncClient() as http:
        pages = await collect(FluentSource(fluent_client(http), page_size=1))
    assert pages == [[Position("a", 1)]]
    assert graphql.call_count == 1


@respx.mock
async def test_full_window_sends_no_lower_bound_but_an_upper_one() -> None:
    respx.post(f"{FLUENT}/oauth/token").mock(return_value=token_answer())
    graphql = respx.post(f"{FLUENT}/graphql").mock(return_value=page([], 0, False))
    async with httpx.AsyncClient() as http:
        await collect(FluentSource(fluent_client(http), page_size=5), Window(None, WINDOW.end))
    variables = body_of(graphql.calls[0].request)["variables"]
    assert variables["updatedOnFrom"] is None
    assert variables["updatedOnTo"] == "2026-01-02T03:04:05.678Z"


@respx.mock
async def test_a_repeated_cursor_is_a_paging_error_not_a_loop() -> None:
    respx.post(f"{FLUENT}/oauth/token").mock(return_value=token_answer())
    respx.post(f"{FLUENT}/graphql").mock(
        side_effect=[
            page([("a", 1)], 0, True),
            page([("b", 1)], 5, True),
            page([("c", 1)], 0, True),
        ]
    )
    async with httpx.AsyncClient() as http:
        with pytest.raises(PagingError, match=r"loop detected.*'c0'"):
            await collect(FluentSource(fluent_client(http), page_size=1))


@respx.mock
async def test_graphql_errors_fail_the_page_with_the_code() -> None:
    respx.post(f"{FLUENT}/oauth/token").mock(return_value=token_answer())
    respx.post(f"{FLUENT}/graphql").mock(
        return_value=httpx.Response(
            200, json={"errors": [{"code": "C0101E", "message": "bad range"}]}
        )
    )
    async with httpx.AsyncClient() as http:
        with pytest.raises(GraphQLError, match="bad range") as info:
            await collect(FluentSource(fluent_client(http), page_size=1))
    assert info.value.code == "C0101E"


@respx.mock
async def test_password_grant_form_and_token_refresh_after_expiry() -> None:
    now = [0.0]
    token = respx.post(f"{FLUENT}/oauth/token").mock(
        side_effect=[token_answer("tok-1", 100), token_answer("tok-2", 100)]
    )
    graphql = respx.post(f"{FLUENT}/graphql").mock(
        side_effect=[page([("a", 1)], 0, True), page([("b", 1)], 1, False)]
    )
    async with httpx.AsyncClient() as http:
        source = FluentSource(fluent_client(http, clock=lambda: now[0]), page_size=1)
        pages = source.pages("AGG", ["ACTIVE"], WINDOW)
        assert await anext(pages) == [Position("a", 1)]
        now[0] = 95.0  # inside the refresh margin (10% of 100 s)
        assert await anext(pages) == [Position("b", 1)]
    form = dict(httpx.QueryParams(token.calls[0].request.content.decode()))
    assert form == {
        "username": "user",
        "password": "pw-secret",
        "client_id": "client",
        "client_secret": "cs-secret",
        "grant_type": "password",
        "scope": "api",
    }
    auth = [c.request.headers["Authorization"] for c in graphql.calls]
    assert auth == ["Bearer tok-1", "Bearer tok-2"]


@respx.mock
async def test_a_401_refreshes_the_token_once_and_retries() -> None:
    respx.post(f"{FLUENT}/oauth/token").mock(side_effect=[token_answer("old"), token_answer("new")])
    graphql = respx.post(f"{FLUENT}/graphql").mock(
        side_effect=[httpx.Response(401, json={"error": "invalid_token"}), page([], 0, False)]
    )
    async with httpx.AsyncClient() as http:
        await collect(FluentSource(fluent_client(http), page_size=1))
    assert [c.request.headers["Authorization"] for c in graphql.calls] == [
        "Bearer old",
        "Bearer new",
    ]


@respx.mock
async def test_rejected_credentials_name_the_user_but_never_the_secret() -> None:
    respx.post(f"{FLUENT}/oauth/token").mock(
        return_value=httpx.Response(400, json={"error": "invalid_grant"})
    )
    async with httpx.AsyncClient() as http:
        with pytest.raises(AuthError) as info:
            await collect(FluentSource(fluent_client(http), page_size=1))
    message = str(info.value)
    assert "user 'user' with client 'client'" in message
    assert "invalid_grant" in message
    assert "pw-secret" not in message
    assert "cs-secret" not in message


@respx.mock
async def test_server_side_error_codes_and_bad_bodies_are_retried() -> None:
    respx.post(f"{FLUENT}/oauth/token").mock(return_value=token_answer())
    graphql = respx.post(f"{FLUENT}/graphql").mock(
        side_effect=[
            httpx.Response(200, json={"errors": [{"code": "S0001E", "message": "busy"}]}),
            httpx.Response(200, text="<html>proxy</html>", headers={"content-type": "text/html"}),
            httpx.Response(503),
            httpx.Response(429, headers={"Retry-After": "0"}),
            page([("a", 1)], 0, False),
        ]
    )
    async with httpx.AsyncClient() as http:
        client = fluent_client(http, retry=replace(FAST_RETRY, attempts=5))
        pages = await collect(FluentSource(client, page_size=1))
    assert pages == [[Position("a", 1)]]
    assert graphql.call_count == 5


@respx.mock
async def test_retries_are_bounded() -> None:
    respx.post(f"{FLUENT}/oauth/token").mock(return_value=token_answer())
    graphql = respx.post(f"{FLUENT}/graphql").mock(return_value=httpx.Response(502))
    async with httpx.AsyncClient() as http:
        with pytest.raises(TemporaryApiError, match="HTTP 502") as info:
            await collect(FluentSource(fluent_client(http), page_size=1))
    assert info.value.code == "502"
    assert graphql.call_count == 3


@respx.mock
async def test_a_second_401_names_the_api_and_is_not_retried_forever() -> None:
    respx.post(f"{FLUENT}/oauth/token").mock(return_value=token_answer())
    graphql = respx.post(f"{FLUENT}/graphql").mock(return_value=httpx.Response(401))
    async with httpx.AsyncClient() as http:
        with pytest.raises(AuthError, match=r"fluent.*401 to a fresh token from fluent-auth") as e:
            await collect(FluentSource(fluent_client(http), page_size=1))
    assert graphql.call_count == 2
    assert "for user 'user' with client 'client'" in str(e.value)
    assert "secret" not in str(e.value)


@respx.mock
async def test_a_null_connection_without_errors_is_a_bad_answer_not_the_end() -> None:
    respx.post(f"{FLUENT}/oauth/token").mock(return_value=token_answer())
    respx.post(f"{FLUENT}/graphql").mock(
        return_value=httpx.Response(200, json={"data": {"virtualPositions": None}})
    )
    async with httpx.AsyncClient() as http:
        with pytest.raises(BadResponseError, match="virtualPositions is null"):
            await collect(FluentSource(fluent_client(http), page_size=2))


@respx.mock
async def test_retry_after_is_waited_for_before_the_next_attempt() -> None:
    respx.post(f"{FLUENT}/oauth/token").mock(return_value=token_answer())
    graphql = respx.post(f"{FLUENT}/graphql").mock(
        side_effect=[
            httpx.Response(429, headers={"Retry-After": "0.4"}),
            page([("a", 1)], 0, False),
        ]
    )
    async with httpx.AsyncClient() as http:
        started = anyio.current_time()
        pages = await collect(FluentSource(fluent_client(http), page_size=1))
        waited = anyio.current_time() - started
    assert pages == [[Position("a", 1)]]
    assert graphql.call_count == 2
    assert waited >= 0.4  # FAST_RETRY's own backoff is 0: this is the server's Retry-After


@pytest.mark.parametrize("status", [400, 403, 404])
@respx.mock
async def test_client_errors_are_not_retried(status: int) -> None:
    respx.post(f"{FLUENT}/oauth/token").mock(return_value=token_answer())
    graphql = respx.post(f"{FLUENT}/graphql").mock(return_value=httpx.Response(status))
    async with httpx.AsyncClient() as http:
        with pytest.raises(PermanentApiError, match=f"HTTP {status}"):
            await collect(FluentSource(fluent_client(http), page_size=1))
    assert graphql.call_count == 1
