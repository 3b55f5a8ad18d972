"""HTTP/1.1 keep-alive against HTTP/2: the client's CPU per request, the job's way.

``python -m tests.bench.http2 [--requests 3000]`` starts a server on loopback (another
process: h11 for HTTP/1.1, h2 for HTTP/2 with prior knowledge, as ``http://`` allows)
that answers every POST after ``--latency-ms`` (default 20) with a body the size of a
mutation batch's answer, and sends it ``--requests`` POSTs the size of a batch of 100
creates, ``--concurrency`` (default 16, ``CT_CONCURRENCY``) at a time:

``http1``  the job's client: ``make_client`` (one HTTP/1.1 connection per request in
           flight, kept alive) and its ``poster``
``http2``  the same ``poster`` over one httpx HTTP/2 connection carrying every request
           as a stream (httpx's ``http2=True``, h2 and hpack)

It prints the client process's CPU per request for each (``time.process_time``). The
job spends most of its CPU per request (``make profile``), so HTTP/2 would pay only if
it cost less per request: it does not (the README's Performance section has a run).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence

import anyio
import h2.config
import h2.connection
import h2.events
import h2.settings
import h11
import httpx
import orjson

from inventory_sync.http import ApiClient, make_client, poster

PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
ANSWER = orjson.dumps(
    {
        "data": {
            f"i{n}": {"id": f"{n:08d}-0000-4000-8000-000000000000", "version": 1}
            for n in range(100)
        }
    }
)


def request_body() -> bytes:
    """A batch of 100 creates, as the job sends it."""
    channel = {"typeId": "channel", "id": "0f8fad5b-d9cb-469f-a165-70867728950e"}
    variables = {
        f"draft_{n}": {"sku": f"SKU-{n:07d}", "quantityOnStock": n, "supplyChannel": channel}
        for n in range(100)
    }
    fields = "\n".join(
        f"i{n}: createInventoryEntry(draft: $draft_{n}) {{ id version }}" for n in range(100)
    )
    defs = ", ".join(f"$draft_{n}: InventoryEntryDraft!" for n in range(100))
    return orjson.dumps({"query": f"mutation B({defs}) {{\n{fields}\n}}", "variables": variables})


# -- the server (its own process) ---------------------------------------------------------


async def serve_http1(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, first: bytes, delay: float
) -> None:
    conn = h11.Connection(h11.SERVER)
    conn.receive_data(first)
    while True:
        event = conn.next_event()
        if event is h11.NEED_DATA:
            data = await reader.read(65536)
            if not data:
                return
            conn.receive_data(data)
        elif isinstance(event, h11.EndOfMessage):
            await asyncio.sleep(delay)
            headers = [("content-type", "application/json"), ("content-length", str(len(ANSWER)))]
            writer.write(conn.send(h11.Response(status_code=200, headers=headers)))
            writer.write(conn.send(h11.Data(data=ANSWER)) + conn.send(h11.EndOfMessage()))
            await writer.drain()
            conn.start_next_cycle()
        elif isinstance(event, h11.ConnectionClosed):
            return


async def serve_http2(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, first: bytes, delay: float
) -> None:
    conn = h2.connection.H2Connection(h2.config.H2Configuration(client_side=False))
    conn.initiate_connection()
    conn.update_settings({h2.settings.SettingCodes.MAX_CONCURRENT_STREAMS: 1000})

    async def answer(stream_id: int) -> None:
        await asyncio.sleep(delay)
        headers = [(":status", "200"), ("content-type", "application/json")]
        conn.send_headers(stream_id, [*headers, ("content-length", str(len(ANSWER)))])
        sent = 0
        while sent < len(ANSWER):  # within the flow-control window and the frame size
            size = min(conn.local_flow_control_window(stream_id), conn.max_outbound_frame_size)
            if size <= 0:
                writer.write(conn.data_to_send())
                await asyncio.sleep(0.001)
                continue
            chunk = ANSWER[sent : sent + size]
            sent += len(chunk)
            conn.send_data(stream_id, chunk, end_stream=sent >= len(ANSWER))
        writer.write(conn.data_to_send())

    tasks: set[asyncio.Task[None]] = set()
    data = first
    while data:
        for event in conn.receive_data(data):
            if isinstance(event, h2.events.DataReceived):
                conn.acknowledge_received_data(event.flow_controlled_length, event.stream_id)
            if isinstance(event, h2.events.StreamEnded):
                task = asyncio.ensure_future(answer(event.stream_id))
                tasks.add(task)
                task.add_done_callback(tasks.discard)
        writer.write(conn.data_to_send())
        data = await reader.read(65536)


def server(port: int, delay: float) -> None:
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(ConnectionError):
            first = await reader.read(len(PREFACE))
            if first == PREFACE:
                await serve_http2(reader, writer, first, delay)
            else:
                await serve_http1(reader, writer, first, delay)
        writer.close()

    async def main() -> None:
        listening = await asyncio.start_server(handle, "127.0.0.1", port)
        async with listening:
            await listening.serve_forever()

    asyncio.run(main())


@contextlib.contextmanager
def server_process(delay: float) -> Iterator[str]:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    code = f"from tests.bench.http2 import server; server({port}, {delay})"
    process = subprocess.Popen([sys.executable, "-c", code])
    try:
        for _ in range(200):
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port)):
                break
            time.sleep(0.05)
        yield f"http://127.0.0.1:{port}/graphql"
    finally:
        process.terminate()
        process.wait()


# -- the client (this process) -------------------------------------------------------------


def http2_client(timeout: float) -> ApiClient:
    transport = httpx.AsyncHTTPTransport(http1=False, http2=True)
    return ApiClient(transport=transport, routes={}, timeout=timeout)


async def cpu_per_request(
    client: httpx.AsyncClient, url: str, requests: int, concurrency: int
) -> float:
    post = poster(client, url)
    body = request_body()
    headers = {"Authorization": "Bearer t", "Content-Type": "application/json"}
    limiter = anyio.CapacityLimiter(concurrency)

    async def one() -> None:
        async with limiter:
            response = await post(body, headers)
            assert response.status_code == 200, response.status_code
            orjson.loads(response.content)

    async with client:
        async with anyio.create_task_group() as tg:  # connect and warm up
            for _ in range(concurrency):
                tg.start_soon(one)
        started = time.process_time()
        async with anyio.create_task_group() as tg:
            for _ in range(requests):
                tg.start_soon(one)
        return (time.process_time() - started) / requests


def measure(requests: int, concurrency: int, latency_ms: float) -> dict[str, float]:
    with server_process(latency_ms / 1000) as url:
        clients = {
            "http1": lambda: make_client(
                timeout=30, connect_timeout=5, max_connections=concurrency
            ),
            "http2": lambda: http2_client(30),
        }
        return {
            name: anyio.run(cpu_per_request, make(), url, requests, concurrency)
            for name, make in clients.items()
        }


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m tests.bench.http2", description=__doc__)
    parser.add_argument("--requests", type=int, default=3000)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--latency-ms", type=float, default=20.0)
    args = parser.parse_args(argv)
    result = measure(args.requests, args.concurrency, args.latency_ms)
    for name, seconds in result.items():
        print(f"{name}: {seconds * 1e6:,.0f} us of client CPU per request")
    print(f"http2 / http1: {result['http2'] / result['http1']:.2f}")


if __name__ == "__main__":
    main()
