"""The per-connection transport: at most one request per connection, each given back
when its response is closed, and httpx's pool timeout when none is free."""

from __future__ import annotations

import socket

import anyio
import anyio.abc
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


@pytest.mark.parametrize("no_proxy", ["", "127.0.0.1"])
async def test_the_environments_proxy_is_used_unless_no_proxy_exempts_the_host(
    monkeypatch: pytest.MonkeyPatch, no_proxy: str
) -> None:
    seen: list[str] = []

    async def serve(stream: anyio.abc.SocketStream) -> None:
        async with stream:
            head = b""
            while b"\r\n\r\n" not in head:
                head += await stream.receive()
            seen.append(head.split(b"\r\n", 1)[0].decode())
            await stream.send(
                b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok"
            )

    closed = socket.create_server(("127.0.0.1", 0))  # a port nothing listens on
    url = f"http://127.0.0.1:{closed.getsockname()[1]}/graphql"
    closed.close()
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY"):
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.lower(), raising=False)
    async with await anyio.create_tcp_listener(local_host="127.0.0.1") as listener:
        port = listener.extra(anyio.abc.SocketAttribute.local_port)  # noqa: S610
        monkeypatch.setenv("HTTP_PROXY", f"http://127.0.0.1:{port}")
        monkeypatch.setenv("NO_PROXY", no_proxy)
        async with anyio.create_task_group() as tg:
            tg.start_soon(listener.serve, serve)
            client = make_client(timeout=3, connect_timeout=3, max_connections=2, urls=[url])
            async with client as http:
                if no_proxy:
                    with pytest.raises(httpx.ConnectError):  # straight to the closed port
                        await http.post(url, json={})
                else:
                    assert (await http.post(url, json={})).text == "ok"
            tg.cancel_scope.cancel()

    assert seen == ([] if no_proxy else [f"POST {url} HTTP/1.1"])
