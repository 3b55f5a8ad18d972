"""What only the Redis backend does: its keys, TLS URLs, the password, the lock value."""

from __future__ import annotations

import json
import re

import pytest
from redis.asyncio.connection import SSLConnection

from inventory_sync.errors import LockHeldError, StateError
from inventory_sync.state.record import parse_record
from inventory_sync.state.redis import RedisStateStore, _without_password
from tests.state.conftest import SEED, TTL, RedisBackend, RedisServer, make_record

pytestmark = pytest.mark.anyio


async def test_keys_are_state_and_lock_under_the_prefix(redis_backend: RedisBackend) -> None:
    raw, prefix = redis_backend.raw, redis_backend.prefix
    store = redis_backend.store("pod-1:7", ttl=5)
    await store.save("eu", parse_record("eu", SEED))

    assert json.loads(raw.get(f"{prefix}:state:eu")) == SEED
    assert raw.ttl(f"{prefix}:state:eu") == -1  # state never expires

    async with store.lock("eu"):
        value = raw.get(f"{prefix}:lock:eu")
        assert re.fullmatch(r"pod-1:7\|[0-9a-f]{32}", value)
        assert 0 < raw.pttl(f"{prefix}:lock:eu") <= 5000
    assert raw.exists(f"{prefix}:lock:eu") == 0  # released by its owner

    assert sorted(raw.scan_iter(f"{prefix}:*")) == [f"{prefix}:state:eu"]


async def test_each_lock_gets_a_new_random_token(redis_backend: RedisBackend) -> None:
    raw, prefix = redis_backend.raw, redis_backend.prefix
    store = redis_backend.store("same-holder")
    tokens = set()
    for _ in range(3):
        async with store.lock("eu"):
            tokens.add(raw.get(f"{prefix}:lock:eu"))
    assert len(tokens) == 3


async def test_lock_held_error_names_holder_and_expiry(redis_backend: RedisBackend) -> None:
    redis_backend.raw.set(f"{redis_backend.prefix}:lock:eu", "pod-9:1|abc", px=30_000)
    with pytest.raises(LockHeldError) as caught:
        async with redis_backend.store().lock("eu"):
            pytest.fail("taken from a live holder")
    assert caught.value.holder == "pod-9:1"
    assert re.search(r"until 20\d\d-\d\d-\d\dT[\d:.]+Z", str(caught.value))


async def test_release_never_deletes_someone_elses_lock(redis_backend: RedisBackend) -> None:
    raw, prefix = redis_backend.raw, redis_backend.prefix
    store = redis_backend.store("run-a", renew_every=60)
    async with store.lock("eu"):
        raw.set(f"{prefix}:lock:eu", "run-b|other-token", px=30_000)  # after our key expired
    assert raw.get(f"{prefix}:lock:eu") == "run-b|other-token"


async def test_load_all_reads_only_this_prefix_and_no_lock_keys(
    redis_backend: RedisBackend,
) -> None:
    raw, prefix = redis_backend.raw, redis_backend.prefix
    raw.set(f"{prefix}-other:state:xx", json.dumps(SEED))  # a neighbour's prefix
    raw.set(f"{prefix}:lock:us", "run|token")
    store = redis_backend.store()
    await store.save("eu", make_record(channel="eu"))

    assert sorted(await store.load_all()) == ["eu"]
    raw.delete(f"{prefix}-other:state:xx")


async def test_a_prefix_with_glob_characters_is_matched_literally(
    redis_server: RedisServer,
) -> None:
    raw = redis_server.client()
    store = RedisStateStore(
        redis_server.url, password=redis_server.password, key_prefix="we*rd[1]", holder="x"
    )
    try:
        raw.set("weXrd1:state:zz", json.dumps(SEED))  # would match the unescaped pattern
        await store.save("eu", make_record())
        assert sorted(await store.load_all()) == ["eu"]
    finally:
        raw.delete("weXrd1:state:zz", "we*rd[1]:state:eu")
        raw.close()
        await store.aclose()


def test_a_rediss_url_uses_tls() -> None:
    store = RedisStateStore(
        "rediss://cache.example.com:6380/2", password="from-secret", holder="pod"
    )
    pool = store.client.connection_pool
    assert pool.connection_class is SSLConnection
    assert pool.connection_kwargs["host"] == "cache.example.com"
    assert pool.connection_kwargs["port"] == 6380
    assert pool.connection_kwargs["db"] == 2
    assert pool.connection_kwargs["password"] == "from-secret"


def test_a_redis_url_does_not_use_tls() -> None:
    store = RedisStateStore("redis://localhost:6379/0", holder="pod")
    assert store.client.connection_pool.connection_class is not SSLConnection


def test_the_password_setting_replaces_one_in_the_url() -> None:
    store = RedisStateStore("rediss://user:in-url@cache:6380/0", password="setting", holder="p")
    kwargs = store.client.connection_pool.connection_kwargs
    assert kwargs["password"] == "setting"
    assert kwargs["username"] == "user"
    assert _without_password("redis://:pw@[::1]:6379/1") == "redis://[::1]:6379/1"
    assert _without_password("redis://h:1/0") == "redis://h:1/0"


def test_a_bad_url_is_a_state_error_without_the_password() -> None:
    with pytest.raises(StateError, match="bad Redis URL") as caught:
        RedisStateStore("http://:hunter2@cache:6379", password="hunter2", holder="p")
    assert "hunter2" not in str(caught.value)


async def test_a_wrong_password_is_a_state_error_without_the_password(
    redis_server: RedisServer,
) -> None:
    store = RedisStateStore(redis_server.url, password="wrong-pw-3b7d", holder="pod")
    try:
        with pytest.raises(StateError, match="refused the credentials") as caught:
            await store.check()
        with pytest.raises(StateError, match="refused the credentials"):
            await store.load("eu")
    finally:
        await store.aclose()
    assert "wrong-pw-3b7d" not in str(caught.value)
    assert redis_server.password not in str(caught.value)


async def test_no_password_is_a_state_error(redis_server: RedisServer) -> None:
    store = RedisStateStore(redis_server.url, holder="pod")
    try:
        with pytest.raises(StateError, match="refused the credentials"):
            await store.check()
    finally:
        await store.aclose()


async def test_an_unreachable_server_is_a_state_error(free_port: int) -> None:
    store = RedisStateStore(
        f"redis://127.0.0.1:{free_port}/0", password="pw-x", holder="pod", timeout_s=2
    )
    try:
        with pytest.raises(StateError, match="unreachable") as caught:
            await store.check()
        with pytest.raises(StateError, match="unreachable"):
            async with store.lock("eu"):
                pytest.fail("locked without Redis")
    finally:
        await store.aclose()
    assert "pw-x" not in str(caught.value)


async def test_a_given_client_is_used_and_left_open(redis_server: RedisServer) -> None:
    from redis.asyncio import Redis

    client = Redis(
        host=redis_server.host,
        port=redis_server.port,
        password=redis_server.password,
        decode_responses=True,
    )
    store = RedisStateStore(client, key_prefix="given-client", holder="pod", lock_seconds=TTL)
    try:
        await store.check()
        await store.save("eu", make_record())
        await store.aclose()
        assert await client.get("given-client:state:eu") is not None  # still usable
        await client.delete("given-client:state:eu")
    finally:
        await client.aclose()


def test_constructor_refuses_a_holder_with_the_separator() -> None:
    with pytest.raises(ValueError, match="'\\|'"):
        RedisStateStore("redis://localhost", holder="a|b")


def test_a_given_client_must_decode_responses() -> None:
    from redis.asyncio import Redis

    with pytest.raises(ValueError, match="decode_responses"):
        RedisStateStore(Redis(), holder="pod")
