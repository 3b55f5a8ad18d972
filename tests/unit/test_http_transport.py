"""The per-connection transport: at most one request per connection, each given back
when its response is closed, and httpx's pool timeout when none is free; and the short
way to POST (``poster``), which must send what ``AsyncClient.post`` sends."""

from __future__ import annotations

import socket

import anyio
import anyio.abc
import httpx
import pytest
import respx

from inventory_sync.http import ApiClient, make_client, poster

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


WAYS = ["client", "poster"]


async def send(http: httpx.AsyncClient, way: str, url: str, body: bytes = b"{}") -> httpx.Response:
    """POST ``body`` as the job's API clients do (``poster``), or with ``AsyncClient.post``."""
    headers = {"Authorization": "Bearer t", "Content-Type": "application/json"}
    if way == "poster":
        return await poster(http, url)(body, headers)
    return await http.post(url, content=body, headers=headers)


@respx.mock
@pytest.mark.parametrize("way", WAYS)
async def test_a_failed_request_gives_its_connection_back(way: str) -> None:
    respx.post(URL).mock(side_effect=[httpx.ConnectError("refused"), httpx.Response(204)])
    async with make_client(timeout=0.2, connect_timeout=1, max_connections=1) as http:
        with pytest.raises(httpx.ConnectError):
            await send(http, way, URL)
        assert (await send(http, way, URL)).status_code == 204


@respx.mock
async def test_the_poster_sends_what_the_client_sends_and_reads_the_whole_answer() -> None:
    route = respx.post(URL).mock(
        return_value=httpx.Response(200, json={"data": {"x": 1}}, headers={"X-Id": "7"})
    )
    async with make_client(timeout=1, connect_timeout=1, max_connections=1) as http:
        assert isinstance(http, ApiClient)
        answers = [await send(http, way, URL, b'{"query": "{ x }"}') for way in WAYS]
        for answer in answers:
            assert answer.json() == {"data": {"x": 1}}
            assert answer.headers["X-Id"] == "7"
            assert answer.request.url == URL  # what error messages name
            assert answer.is_closed
        assert (await send(http, "poster", URL)).status_code == 200  # connection given back
    by_client, by_poster = (call.request for call in route.calls[:2])
    assert by_poster.content == by_client.content
    assert sorted(by_poster.headers.raw) == sorted(by_client.headers.raw)  # names as spelt
    assert by_poster.headers["User-Agent"] == "inventory-sync"
    assert by_poster.extensions["timeout"] == by_client.extensions["timeout"]


@respx.mock
async def test_a_header_given_to_the_poster_replaces_the_clients_whatever_its_case() -> None:
    route = respx.post(URL).mock(return_value=httpx.Response(200))
    async with make_client(timeout=1, connect_timeout=1, max_connections=1) as http:
        await poster(http, URL)(b"{}", {"user-agent": "other", "Accept": "application/json"})
    sent = route.calls[0].request.headers
    assert sent.get_list("User-Agent") == ["other"]
    assert sent.get_list("Accept") == ["application/json"]


@respx.mock
async def test_the_poster_waits_no_longer_than_the_pool_timeout_for_a_connection() -> None:
    respx.post(URL).mock(return_value=httpx.Response(200, content=b"x"))
    client = make_client(timeout=0.2, connect_timeout=1, max_connections=1)
    async with client as http, http.stream("POST", URL):
        with pytest.raises(httpx.PoolTimeout):
            await send(http, "poster", URL)


async def test_any_other_client_posts_with_its_own_post() -> None:
    seen: list[httpx.Request] = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={})

    async with httpx.AsyncClient(transport=httpx.MockTransport(answer)) as http:
        assert (await send(http, "poster", URL, b"{}")).json() == {}
    assert [(r.method, str(r.url), r.content) for r in seen] == [("POST", URL, b"{}")]


@pytest.mark.parametrize("way", WAYS)
@pytest.mark.parametrize("no_proxy", ["", "127.0.0.1"])
async def test_the_environments_proxy_is_used_unless_no_proxy_exempts_the_host(
    monkeypatch: pytest.MonkeyPatch, no_proxy: str, way: str
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
                        await send(http, way, url)
                else:
                    assert (await send(http, way, url)).text == "ok"
            tg.cancel_scope.cancel()

    assert seen == ([] if no_proxy else [f"POST {url} HTTP/1.1"])
