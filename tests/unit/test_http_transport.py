"""The per-connection transport: at most one request per connection, each given back
when its response is closed, and httpx's pool timeout when none is free."""

from __future__ import annotations

import anyio
import httpx
import pytest
import respx

from inventory_sync.http import make_client

pytestmark = pytest.mark.anyio
URL = "https://api.example.test/graphql"


@respx.mock
async def test_requests_in_flight_never_exceed_the_connections() -> None:
    in_flight, most = 0, 0

    async def answer(request: httpx.Request) -> httpx.Response:
        nonlocal in_flight, most
        in_flight += 1
        most = max(most, in_flight)
        await anyio.sleep(0.01)
        in_flight -= 1
        return httpx.Response(200, json={"ok": True})

    respx.post(URL).mock(side_effect=answer)
    async with make_client(timeout=5, connect_timeout=5, max_connections=3) as http:

        async def one() -> None:
            response = await http.post(URL, json={})
            assert response.json() == {"ok": True}

        async with anyio.create_task_group() as tg:
            for _ in range(12):
                tg.start_soon(one)

    assert most == 3
    assert respx.calls.call_count == 12


@respx.mock
async def test_a_connection_is_busy_until_its_response_is_closed() -> None:
    respx.post(URL).mock(return_value=httpx.Response(200, content=b"x" * 10))
    async with make_client(timeout=0.2, connect_timeout=1, max_connections=1) as http:
        async with http.stream("POST", URL) as streamed:
            with pytest.raises(httpx.PoolTimeout):
                await http.post(URL)
            assert await streamed.aread() == b"x" * 10
        assert (await http.post(URL)).content == b"x" * 10  # given back on close


@respx.mock
async def test_a_failed_request_gives_its_connection_back() -> None:
    respx.post(URL).mock(side_effect=[httpx.ConnectError("refused"), httpx.Response(204)])
    async with make_client(timeout=0.2, connect_timeout=1, max_connections=1) as http:
        with pytest.raises(httpx.ConnectError):
            await http.post(URL)
        assert (await http.post(URL)).status_code == 204
