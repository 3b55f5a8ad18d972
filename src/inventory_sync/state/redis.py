"""Redis backend (redis-py asyncio): one string key per profile, and a lock key beside it.

Layout (prefix ``p``, default ``inventory-sync``)::

    p:state:<profile>   the profile's JSON record (no expiry)
    p:lock:<profile>    "<holder>|<token>" with a time to live (PX), while a run holds it

``rediss://`` URLs use TLS (redis-py); the password comes from ``password`` (a setting or
mounted secret) and replaces any password in the URL. It never appears in an error.

**The lock**: ``SET p:lock:<profile> "<holder>|<random token>" NX PX <ttl ms>``. Taken
only when the key does not exist; otherwise ``LockHeldError`` names the holder and when
the key expires. While held, a Lua script extends the expiry only while the value is
still ours (compare-and-``PEXPIRE``), every ``renew_every`` seconds (default a third of
``lock_seconds``); leaving deletes the key with a compare-and-``DEL`` script, so only its
owner ever removes it. A killed run's key expires by itself after ``lock_seconds``.
"""

from __future__ import annotations

import contextlib
import json
import secrets
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import redis.asyncio as aioredis
from redis.exceptions import AuthenticationError, RedisError, ResponseError

from inventory_sync.errors import LockHeldError, LockLostError, StateError, StateFormatError
from inventory_sync.state.record import StateRecord, parse_record
from inventory_sync.state.renewal import RenewedLock, renew_interval

_RENEW = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 0
"""
_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
"""
_TAKE_ATTEMPTS = 3
_SCAN_COUNT = 500
_GLOB_SPECIAL = str.maketrans({c: f"\\{c}" for c in "*?[]\\"})


def _without_password(url: str) -> str:
    """The URL without its password (``password=`` replaces it)."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    netloc = f"{parts.username}@{host}" if parts.username else host
    if parts.port is not None:
        netloc += f":{parts.port}"
    return urlunsplit(parts._replace(netloc=netloc))


def _redacted(text: str, secret: str | None) -> str:
    return text.replace(secret, "***") if secret else text


class _HeldKey:
    """One lock key this run holds: the `renewal.LockBackend` of the Redis store."""

    def __init__(self, store: RedisStateStore, profile: str, value: str) -> None:
        self._store = store
        self._profile = profile
        self._value = value
        self._key = store.lock_key(profile)

    async def _lost(self) -> LockLostError:
        try:
            current = await self._store.client.get(self._key)
        except RedisError:
            current = None
        holder = str(current).rpartition("|")[0] if current else None
        by = f"is held by {holder!r}" if holder else "expired"
        return LockLostError(f"lock {self._key!r} of profile {self._profile!r} {by} now")

    async def renew(self) -> None:
        extended = await self._store.call(
            f"cannot renew lock {self._key!r}",
            self._store.client.eval(_RENEW, 1, self._key, self._value, self._store.lock_ms),
        )
        if not extended:
            raise await self._lost()

    async def verify(self) -> None:
        current = await self._store.call(
            f"cannot read lock {self._key!r}", self._store.client.get(self._key)
        )
        if current != self._value:
            raise await self._lost()

    async def release(self) -> None:
        await self._store.call(
            f"cannot release lock {self._key!r}",
            self._store.client.eval(_RELEASE, 1, self._key, self._value),
        )


class RedisStateStore:
    """State and locks in Redis. ``client_or_url`` is a ``redis.asyncio.Redis`` (left open by
    ``aclose``; it must decode responses) or a ``redis://`` / ``rediss://`` URL."""

    def __init__(
        self,
        client_or_url: aioredis.Redis | str,
        *,
        holder: str,
        key_prefix: str = "inventory-sync",
        password: str | None = None,
        lock_seconds: float = 60,
        renew_every: float | None = None,
        timeout_s: float = 10.0,
    ) -> None:
        if not holder:
            raise ValueError("a lock holder identity is required")
        if "|" in holder:
            raise ValueError(f"a lock holder identity may not contain '|': {holder!r}")
        self._password = password
        if isinstance(client_or_url, str):
            url = _without_password(client_or_url) if password else client_or_url
            options: dict[str, Any] = {
                "decode_responses": True,
                "socket_timeout": timeout_s,
                "socket_connect_timeout": timeout_s,
            }
            if password:
                options["password"] = password
            try:
                self._client: aioredis.Redis = aioredis.Redis.from_url(url, **options)
            except ValueError as e:  # scheme or port the URL parser refused
                raise StateError(f"bad Redis URL: {_redacted(str(e), password)}") from e
            self._owns_client = True
        else:
            if not client_or_url.connection_pool.connection_kwargs.get("decode_responses"):
                raise ValueError("the Redis client must be made with decode_responses=True")
            self._client = client_or_url
            self._owns_client = False
        self._prefix = key_prefix
        self._holder = holder
        self._lock_seconds = lock_seconds
        self._every = renew_interval(lock_seconds, renew_every)

    @property
    def client(self) -> aioredis.Redis:
        return self._client

    @property
    def holder(self) -> str:
        return self._holder

    @property
    def where(self) -> str:
        """``host:port`` (or the socket path) of the server, for messages."""
        kwargs = self._client.connection_pool.connection_kwargs
        if "path" in kwargs:
            return str(kwargs["path"])
        return f"{kwargs.get('host', '?')}:{kwargs.get('port', '?')}"

    @property
    def lock_ms(self) -> int:
        return max(1, round(self._lock_seconds * 1000))

    def state_key(self, profile: str) -> str:
        return f"{self._prefix}:state:{profile}"

    def lock_key(self, profile: str) -> str:
        return f"{self._prefix}:lock:{profile}"

    async def call(self, what: str, command: Any) -> Any:
        """Await a redis-py command; its errors become ``StateError`` (password redacted)."""
        try:
            return await command
        except AuthenticationError as e:
            raise StateError(
                f"{what}: Redis refused the credentials ({_redacted(str(e), self._password)})"
            ) from e
        except ResponseError as e:
            text = _redacted(str(e), self._password)
            if text.startswith(("NOAUTH", "WRONGPASS", "NOPERM")):
                raise StateError(f"{what}: Redis refused the credentials ({text})") from e
            raise StateError(f"{what}: Redis answered an error ({text})") from e
        except RedisError as e:
            text = _redacted(str(e), self._password) or type(e).__name__
            raise StateError(f"{what}: Redis at {self.where} unreachable ({text})") from e

    # -- StateStore ---------------------------------------------------------------------

    async def check(self) -> None:
        await self.call("state store check (PING)", self._client.ping())

    async def load(self, profile: str) -> StateRecord | None:
        key = self.state_key(profile)
        raw = await self.call(f"cannot read {key!r}", self._client.get(key))
        return None if raw is None else self._parse(profile, raw)

    async def load_all(self) -> dict[str, StateRecord]:
        head = self.state_key("")
        pattern = head.translate(_GLOB_SPECIAL) + "*"
        keys: set[str] = set()
        cursor: int = 0
        while True:
            cursor, found = await self.call(
                f"cannot list {pattern!r}",
                self._client.scan(cursor, match=pattern, count=_SCAN_COUNT),
            )
            keys.update(str(k) for k in found)
            if not cursor:
                break
        ordered = sorted(k for k in keys if len(k) > len(head))
        if not ordered:
            return {}
        values = await self.call(f"cannot read {pattern!r}", self._client.mget(ordered))
        out: dict[str, StateRecord] = {}
        for key, raw in zip(ordered, values, strict=True):
            if raw is not None:
                profile = key[len(head) :]
                out[profile] = self._parse(profile, raw)
        return out

    async def save(self, profile: str, record: StateRecord) -> None:
        key = self.state_key(profile)
        await self.call(
            f"cannot save profile {profile!r} ({key!r})",
            self._client.set(key, json.dumps(record.to_json())),
        )

    async def delete(self, profile: str) -> None:
        key = self.state_key(profile)
        await self.call(f"cannot delete {key!r}", self._client.delete(key))

    @contextlib.asynccontextmanager
    async def lock(self, profile: str) -> AsyncIterator[RenewedLock]:
        sent = time.monotonic()
        value = await self._take(profile)
        held = RenewedLock(
            profile,
            self._holder,
            ttl=self._lock_seconds,
            every=self._every,
            backend=_HeldKey(self, profile, value),
            acquired_at=sent,
        )
        async with held:
            yield held

    async def aclose(self) -> None:
        if self._owns_client:
            with contextlib.suppress(RedisError, OSError):
                await self._client.aclose()

    # -- helpers ------------------------------------------------------------------------

    def _parse(self, profile: str, raw: str) -> StateRecord:
        try:
            data = json.loads(raw)
        except json.JSONDecodeError as e:
            raise StateFormatError(
                f"state of profile {profile!r} in Redis ({self.state_key(profile)!r}) "
                f"is not JSON ({e.msg}); it was not changed"
            ) from e
        return parse_record(profile, data)

    async def _take(self, profile: str) -> str:
        key = self.lock_key(profile)
        value = f"{self._holder}|{secrets.token_hex(16)}"
        for _ in range(_TAKE_ATTEMPTS):
            taken = await self.call(
                f"cannot take lock {key!r}",
                self._client.set(key, value, nx=True, px=self.lock_ms),
            )
            if taken:
                return value
            pipe = self._client.pipeline(transaction=True)
            pipe.get(key)
            pipe.pttl(key)
            current, ttl_ms = await self.call(f"cannot read lock {key!r}", pipe.execute())
            if current is None:
                continue  # expired between SET and GET: try again
            holder = str(current).rpartition("|")[0] or str(current)
            expires = None
            if isinstance(ttl_ms, int) and ttl_ms >= 0:
                until = datetime.now(UTC) + timedelta(milliseconds=ttl_ms)
                expires = until.isoformat(timespec="milliseconds").replace("+00:00", "Z")
            raise LockHeldError(profile, holder, expires=expires)
        raise StateError(f"lock {key!r} of profile {profile!r} kept changing while taking it")
