"""Outbound HTTP: the client, the one retry policy, and mapping transport failures.

Retried (exponential backoff with jitter, bounded attempts and total time):
connection errors, read/write/pool timeouts, HTTP 429 (``Retry-After`` honoured),
500, 502, 503 and 504, and answers that are not JSON — all raised as
``TemporaryApiError``. Never retried: other 4xx, GraphQL validation errors, bad
credentials. Retrying a write is safe: quantities are set absolutely and every
update carries the entry's version.
"""

from __future__ import annotations

import contextlib
import functools
import ssl
import urllib.parse
import urllib.request
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any, Protocol, TypeVar

import anyio
import httpx
import stamina
import stamina.instrumentation

from inventory_sync.errors import TemporaryApiError
from inventory_sync.logging import get_logger
from inventory_sync.metrics import observe_request, observe_retry

T = TypeVar("T")

RETRYABLE_STATUS = frozenset({429, 500, 502, 503, 504})


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    attempts: int = 5
    timeout: float = 60.0
    wait_initial: float = 0.2
    wait_max: float = 10.0
    wait_jitter: float = 0.5
    retry_after_max: float = 60.0

    def _hook(self, exc: Exception) -> bool | float:
        if not isinstance(exc, TemporaryApiError):
            return False
        if exc.retry_after is not None:
            return min(max(exc.retry_after, 0.0), self.retry_after_max)
        return True

    async def call(self, fn: Callable[[], Awaitable[T]]) -> T:
        """Run ``fn`` until it succeeds, raises a non-temporary error, or the policy gives up.

        The first attempt runs before stamina is set up (most requests succeed at once,
        and a retry context costs about as much CPU as a request); when it fails, it is
        handed to stamina as its first attempt, so attempts, waits and hooks are as if
        stamina had run it; only the total time (``timeout``) starts counting after that
        first attempt, so it may be exceeded by one request's own timeout.
        """
        try:
            return await fn()
        except TemporaryApiError as e:
            failed: list[TemporaryApiError] = [e]

        async def again() -> T:
            if failed:
                raise failed.pop()
            return await fn()

        async for attempt in stamina.retry_context(
            on=self._hook,
            attempts=self.attempts,
            timeout=self.timeout,
            wait_initial=self.wait_initial,
            wait_max=self.wait_max,
            wait_jitter=self.wait_jitter,
        ):
            with attempt:
                return await again()
        raise AssertionError("unreachable: stamina re-raises the last error")  # pragma: no cover


def make_client(
    *,
    timeout: float,
    connect_timeout: float,
    max_connections: int,
    urls: Sequence[str] = (),
) -> httpx.AsyncClient:
    """One client per API; it never has fewer connections than the requests in flight.
    Connections are kept alive (HTTP/1.1) and reused by every request of the run, each
    in a pool of its own (see ``PerConnectionTransport``).

    ``urls`` are the ones the client will call: each goes through the proxy the
    environment names for it (``HTTPS_PROXY``/``HTTP_PROXY``/``ALL_PROXY``, unless
    ``NO_PROXY`` exempts its host), as a plain httpx client would do.
    """

    def transport(proxy: str | None) -> PerConnectionTransport:
        return PerConnectionTransport(max_connections, keepalive_expiry=30.0, proxy=proxy)

    proxied = {_origin(url): proxy for url in urls if (proxy := proxy_for(url))}
    return ApiClient(
        transport=transport(None),
        routes={origin: transport(proxy) for origin, proxy in proxied.items()},
        timeout=httpx.Timeout(timeout, connect=connect_timeout, pool=timeout),
        headers={"User-Agent": "inventory-sync"},
        follow_redirects=False,
    )


def proxy_for(url: str) -> str | None:
    """The proxy the environment names for ``url``, or None (none set, or ``NO_PROXY``)."""
    parts = urllib.parse.urlsplit(url)
    proxies = urllib.request.getproxies()
    proxy = proxies.get(parts.scheme) or proxies.get("all")
    if not proxy or urllib.request.proxy_bypass(parts.netloc or ""):
        return None
    return proxy if "://" in proxy else f"http://{proxy}"


def _origin(url: str) -> str:
    parts = urllib.parse.urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


class _NoCookies(httpx.Cookies):
    """A cookie jar that keeps nothing: both APIs authenticate with bearer tokens, and
    reading ``Set-Cookie`` into a jar costs a URL parse per response."""

    def extract_cookies(self, response: httpx.Response) -> None:
        pass


class ApiClient(httpx.AsyncClient):
    """The client of one API: ``routes`` are the transports of the origins that go
    through a proxy (httpx mounts), and ``poster`` is a short way to POST to one URL."""

    def __init__(
        self,
        *,
        transport: httpx.AsyncBaseTransport,
        routes: Mapping[str, httpx.AsyncBaseTransport],
        **kwargs: Any,
    ) -> None:
        super().__init__(transport=transport, mounts=dict(routes) or None, **kwargs)
        self._cookies = _NoCookies()
        self._default = transport
        self._routes = dict(routes)

    def poster(self, url: str) -> Poster:
        return _TransportPoster(
            self._routes.get(_origin(url), self._default), url, self.headers, self.timeout
        )


class Poster(Protocol):
    """POSTs a body to one URL and returns the whole response (read and closed)."""

    async def __call__(self, content: bytes, headers: Mapping[str, str]) -> httpx.Response: ...


def poster(http: httpx.AsyncClient, url: str) -> Poster:
    """How to POST to ``url`` with ``http``: a client from ``make_client`` takes the short
    way (``_TransportPoster``), any other (tests) its own ``post``."""
    if isinstance(http, ApiClient):
        return http.poster(url)
    target = httpx.URL(url)

    async def post(content: bytes, headers: Mapping[str, str]) -> httpx.Response:
        return await http.post(target, content=content, headers=headers)

    return post


class _TransportPoster:
    """A POST handed straight to the client's transport for the URL, with the client's
    headers and timeouts: what ``AsyncClient.post`` does for a request without auth,
    cookies, redirects or event hooks (none of which the APIs' calls use), without the
    quarter of a request's CPU its layers cost (measured: 0.88 → 0.65 ms per request)."""

    def __init__(
        self,
        transport: httpx.AsyncBaseTransport,
        url: str,
        headers: httpx.Headers,
        timeout: httpx.Timeout,
    ) -> None:
        self._transport = transport
        self._url = httpx.URL(url)
        # the names as the client spells them (``dict(headers)`` would lower-case them)
        self._defaults = {k.decode("latin-1"): v.decode("latin-1") for k, v in headers.raw}
        self._extensions = {"timeout": timeout.as_dict()}

    async def __call__(self, content: bytes, headers: Mapping[str, str]) -> httpx.Response:
        given = {name.lower() for name in headers}  # a given header replaces a default one
        merged = {k: v for k, v in self._defaults.items() if k.lower() not in given}
        merged.update(headers)
        request = httpx.Request(
            "POST", self._url, content=content, headers=merged, extensions=self._extensions
        )
        response = await self._transport.handle_async_request(request)
        response.request = request
        try:
            await response.aread()
        finally:
            await response.aclose()
        return response


class PerConnectionTransport(httpx.AsyncBaseTransport):
    """``connections`` single-connection transports; each request takes an idle one
    and gives it back when its response is closed.

    httpcore's pool walks all its connections twice per request (and, for each idle
    one, counts the idle ones again, and asks the socket whether it is readable). At
    16 connections that costs more CPU than the rest of the request: measured with
    ``make bench`` and a bare client, 3.3 ms per request in one pool of 16 against
    1.7 ms in 16 pools of one. Keep-alive, reuse and timeouts are httpx's own.
    """

    def __init__(
        self, connections: int, *, keepalive_expiry: float, proxy: str | None = None
    ) -> None:
        limits = httpx.Limits(
            max_connections=1, max_keepalive_connections=1, keepalive_expiry=keepalive_expiry
        )
        self._all = tuple(
            httpx.AsyncHTTPTransport(verify=_tls_context(), limits=limits, proxy=proxy)
            for _ in range(max(connections, 1))
        )
        self._idle = list(self._all)
        self._free = anyio.Semaphore(len(self._all))

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        try:
            self._free.acquire_nowait()  # the usual case: no timer, no trip through the loop
        except anyio.WouldBlock:
            wait = request.extensions.get("timeout", {}).get("pool")
            try:
                with anyio.fail_after(wait):
                    await self._free.acquire()
            except TimeoutError as e:
                raise httpx.PoolTimeout("no connection became free", request=request) from e
        transport = self._idle.pop()
        released = False

        def release() -> None:
            nonlocal released
            if not released:
                released = True
                self._idle.append(transport)
                self._free.release()

        try:
            response = await transport.handle_async_request(request)
        except BaseException:
            release()
            raise
        assert isinstance(response.stream, httpx.AsyncByteStream)
        response.stream = _Releasing(response.stream, release)
        return response

    async def aclose(self) -> None:
        for transport in self._all:
            await transport.aclose()


class _Releasing(httpx.AsyncByteStream):
    """A response body that gives its connection back when it is closed."""

    def __init__(self, stream: httpx.AsyncByteStream, release: Callable[[], None]) -> None:
        self._stream = stream
        self._release = release

    async def __aiter__(self) -> AsyncIterator[bytes]:
        async for chunk in self._stream:
            yield chunk

    async def aclose(self) -> None:
        try:
            await self._stream.aclose()
        finally:
            self._release()


@functools.cache
def _tls_context() -> ssl.SSLContext:
    """httpx's default verification (certifi, or ``SSL_CERT_FILE``/``SSL_CERT_DIR``),
    built once: loading the CA bundle costs tens of milliseconds per client."""
    return httpx.create_ssl_context()


@contextlib.contextmanager
def transport_errors(api: str) -> Iterator[None]:
    """Map httpx transport failures to ``TemporaryApiError`` (the URL, never a secret)."""
    try:
        yield
    except httpx.TimeoutException as e:
        raise TemporaryApiError(api, f"timed out ({type(e).__name__})", code="timeout") from e
    except httpx.TransportError as e:
        raise TemporaryApiError(
            api, f"connection failed ({type(e).__name__}: {e})", code="connection"
        ) from e


async def post(
    http: httpx.AsyncClient, api: str, url: str | httpx.URL, **kwargs: Any
) -> httpx.Response:
    """POST with transport failures mapped to ``TemporaryApiError``; counted in metrics."""
    return await observed(api, http.post(url, **kwargs))


async def observed(api: str, sending: Awaitable[httpx.Response]) -> httpx.Response:
    """Await a request, its transport failures mapped to ``TemporaryApiError``; counted
    in metrics."""
    try:
        with transport_errors(api):
            response = await sending
    except TemporaryApiError:
        observe_request(api, None)
        raise
    observe_request(api, response.status_code)
    return response


def install_retry_hooks() -> None:
    """Report each retry to the log and to the current profile's metrics (instead of
    stamina's default hooks, which would write to the global Prometheus registry)."""
    log = get_logger()

    def on_retry(details: stamina.instrumentation.RetryDetails) -> None:
        error = details.caused_by
        api = getattr(error, "api", "unknown")
        observe_retry(api)
        log.warning(
            "inventory_sync.retry_scheduled",
            api=api,
            attempt=details.retry_num,
            wait_s=round(details.wait_for, 3),
            error=str(error),
        )

    stamina.instrumentation.set_on_retry_hooks([on_retry])


def raise_for_temporary_status(api: str, response: httpx.Response) -> None:
    """429/502/503/504 → ``TemporaryApiError`` (with the server's ``Retry-After``)."""
    if response.status_code in RETRYABLE_STATUS:
        raise TemporaryApiError(
            api,
            f"HTTP {response.status_code} from {response.request.url}",
            code=str(response.status_code),
            retry_after=parse_retry_after(response.headers.get("Retry-After")),
        )


def parse_retry_after(value: str | None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (delta-seconds or HTTP date)."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(float(value), 0.0)
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max((when - datetime.now(UTC)).total_seconds(), 0.0)
