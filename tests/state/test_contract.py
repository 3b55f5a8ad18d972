"""The state store contract, run against every backend (file, ConfigMap, Redis).

Tests taking ``backend`` run for all three; tests taking ``expiring`` only for the
backends whose lock has a time to live (a flock lives exactly as long as its process,
so it cannot be "not renewed" or taken away).
"""

from __future__ import annotations

import anyio
import pytest

from inventory_sync.errors import (
    ConfigError,
    LockHeldError,
    LockLostError,
    StateError,
    StateFormatError,
)
from inventory_sync.state.record import parse_record
from tests.state.conftest import (
    SEED,
    TTL,
    Backend,
    killable_holder,
    make_record,
    take_eventually,
)

pytestmark = pytest.mark.anyio


# -- records --------------------------------------------------------------------------------


async def test_check_passes_on_a_healthy_backend(backend: Backend) -> None:
    await backend.store().check()


async def test_load_of_a_missing_profile_is_none(backend: Backend) -> None:
    store = backend.store()
    assert await store.load("eu") is None
    assert await store.load_all() == {}


async def test_round_trip_keeps_the_seed_shape(backend: Backend) -> None:
    await backend.store().save("eu", parse_record("eu", SEED))

    loaded = await backend.store("another-run").load("eu")  # a later run, its own client
    assert loaded is not None
    assert loaded.to_json() == SEED


async def test_round_trip_of_a_first_record_without_window_or_last_run(backend: Backend) -> None:
    store = backend.store()
    first = make_record(previous_end=None)
    await store.save("eu", first)
    loaded = await store.load("eu")
    assert loaded is not None
    assert loaded.to_json() == {
        "previousEndDate": None,
        "props": {"ctChannelKey": "eu", "fluentAggregateVirtualCatalogueRef": "AGG_eu"},
        "lastRun": None,
    }


async def test_save_replaces_the_profile_record(backend: Backend) -> None:
    store = backend.store()
    await store.save("eu", make_record("2026-12-03T18:00:00.000Z"))
    await store.save("eu", make_record("2026-12-04T06:30:00.000Z"))
    loaded = await store.load("eu")
    assert loaded is not None
    assert loaded.previousEndDate == "2026-12-04T06:30:00.000Z"


async def test_load_all_returns_every_profile(backend: Backend) -> None:
    store = backend.store()
    await store.save("eu", make_record("2026-12-03T18:00:00.000Z", channel="eu"))
    await store.save("us", make_record("2026-12-03T19:00:00.000Z", channel="us"))
    await store.save("apac_2", make_record(None, channel="apac"))

    every = await store.load_all()

    assert {name: record.to_json() for name, record in every.items()} == {
        "eu": make_record("2026-12-03T18:00:00.000Z", channel="eu").to_json(),
        "us": make_record("2026-12-03T19:00:00.000Z", channel="us").to_json(),
        "apac_2": make_record(None, channel="apac").to_json(),
    }


async def test_delete_removes_only_that_profile(backend: Backend) -> None:
    store = backend.store()
    await store.save("eu", make_record(channel="eu"))
    await store.save("us", make_record(channel="us"))

    await store.delete("eu")
    await store.delete("eu")  # deleting what is not there is no error
    await store.delete("never-saved")

    assert await store.load("eu") is None
    us = await store.load("us")
    assert us is not None
    assert us.props.ctChannelKey == "us"
    assert sorted(await store.load_all()) == ["us"]


async def test_two_profiles_written_concurrently_both_survive(backend: Backend) -> None:
    """Two runs (each with its own store, as two pods) write their profiles at once, many
    times: neither write may lose the other profile's record."""
    rounds = 25
    stores = {"eu": backend.store("pod-eu"), "us": backend.store("pod-us")}

    async def write(profile: str) -> None:
        for i in range(rounds):
            end = f"2026-12-03T18:{i:02d}:00.000Z"
            await stores[profile].save(profile, make_record(end, channel=profile))

    async with anyio.create_task_group() as group:
        group.start_soon(write, "eu")
        group.start_soon(write, "us")

    reader = backend.store("reader")
    every = await reader.load_all()
    assert sorted(every) == ["eu", "us"]
    last = f"2026-12-03T18:{rounds - 1:02d}:00.000Z"
    assert every["eu"].to_json() == make_record(last, channel="eu").to_json()
    assert every["us"].to_json() == make_record(last, channel="us").to_json()


async def test_not_json_is_a_format_error_naming_the_profile(backend: Backend) -> None:
    backend.write_raw("eu", "{not json")
    store = backend.store()

    with pytest.raises(StateFormatError, match="'eu'") as caught:
        await store.load("eu")
    assert isinstance(caught.value, ConfigError)  # exit code 2
    with pytest.raises(StateFormatError, match="'eu'"):
        await store.load_all()


async def test_wrong_shape_is_a_format_error_naming_the_profile(backend: Backend) -> None:
    backend.write_raw("eu", '{"previousEndDate": "yesterday", "props": {"ctChannelKey": "x"}}')
    store = backend.store()

    with pytest.raises(StateFormatError) as caught:
        await store.load("eu")
    message = str(caught.value)
    assert "'eu'" in message
    assert "props.fluentAggregateVirtualCatalogueRef" in message


# -- locks ----------------------------------------------------------------------------------


async def test_lock_is_exclusive_per_profile(backend: Backend) -> None:
    first, second = backend.store("run-a"), backend.store("run-b")

    async with first.lock("eu") as held:
        assert held.holder == "run-a"
        with pytest.raises(LockHeldError) as caught:
            async with second.lock("eu"):
                pytest.fail("two runs hold the same profile's lock")
        assert caught.value.profile == "eu"
        assert caught.value.holder == "run-a"
        assert isinstance(caught.value, StateError)

        async with second.lock("us") as other:  # another profile is not blocked
            await other.ensure_held()
            assert other.holder == "run-b"
        await held.ensure_held()

    async with second.lock("eu") as taken:  # released on exit: free at once
        await taken.ensure_held()
        assert taken.holder == "run-b"


async def test_lock_is_exclusive_within_one_store(backend: Backend) -> None:
    store = backend.store("run-a")
    async with store.lock("eu"):
        with pytest.raises(LockHeldError):
            async with store.lock("eu"):
                pytest.fail("the same profile locked twice")


async def test_an_error_in_the_locked_block_passes_through_and_releases(backend: Backend) -> None:
    store = backend.store("run-a")

    class Boom(Exception):
        pass

    with pytest.raises(Boom):  # the very exception, not an exception group
        async with store.lock("eu"):
            raise Boom

    async with backend.store("run-b").lock("eu") as held:
        await held.ensure_held()


async def test_a_cancelled_run_releases_its_lock(backend: Backend) -> None:
    store = backend.store("run-a")
    with anyio.move_on_after(0.2) as scope:
        async with store.lock("eu"):
            await anyio.sleep(10)
    assert scope.cancelled_caught

    async with backend.store("run-b").lock("eu") as held:
        await held.ensure_held()


async def test_lock_of_a_killed_holder_is_freed(backend: Backend) -> None:
    """A run killed with SIGKILL (no clean-up at all) leaves a lock that frees itself:
    at once for the file lock (the kernel drops the flock), after its time to live for
    the Lease and the Redis key."""
    ttl = 2
    store = backend.store("next-run")
    async with killable_holder(backend.holder_spec("eu", "killed-pod", ttl)) as proc:
        with pytest.raises(LockHeldError) as caught:
            async with store.lock("eu"):
                pytest.fail("taken while its holder is alive")
        assert caught.value.holder == "killed-pod"

        proc.kill()
        proc.wait(10)

        if backend.expires:  # a little while yet: until the last renewal + ttl
            with pytest.raises(LockHeldError):
                async with store.lock("eu"):
                    pytest.fail("taken before it expired")

        waited = await take_eventually(store, "eu", within=ttl + 1.5)
    assert waited <= ttl + 1.5


async def test_ensure_held_passes_while_held(backend: Backend) -> None:
    async with backend.store().lock("eu") as held:
        await held.ensure_held()
        await held.ensure_held()


async def test_renewal_keeps_the_lock_past_its_ttl(expiring: Backend) -> None:
    holder = expiring.store("long-run")
    async with holder.lock("eu") as held:
        await anyio.sleep(TTL * 2.5)  # renewed every TTL/3 meanwhile
        await held.ensure_held()
        with pytest.raises(LockHeldError) as caught:
            async with expiring.store("other-run").lock("eu"):
                pytest.fail("taken while renewed")
        assert caught.value.holder == "long-run"
    assert expiring.lock_holder("eu") is None


async def test_unrenewed_lock_expires_is_taken_over_and_is_lost(expiring: Backend) -> None:
    """A holder that stopped renewing (hung, or its renewals never arrived): after the
    ttl someone else takes the lock, the first run learns it lost it, and leaving does
    not release the new holder's lock."""
    stalled = expiring.store("stalled-run", renew_every=60)
    async with stalled.lock("eu") as held:
        await anyio.sleep(TTL + 0.3)

        async with expiring.store("next-run").lock("eu") as taken:
            with pytest.raises(LockLostError, match="next-run"):
                await held.ensure_held()
            with pytest.raises(LockLostError):  # stays lost
                await held.ensure_held()
            await taken.ensure_held()
        assert expiring.lock_holder("eu") is None
        expiring.steal("eu", "third-run")
    assert expiring.lock_holder("eu") == "third-run"  # the stalled run did not release it


async def test_a_lock_taken_away_is_noticed_by_renewal(expiring: Backend) -> None:
    store = expiring.store("run-a")
    async with store.lock("eu") as held:
        expiring.steal("eu", "intruder")
        await anyio.sleep(TTL / 3 * 2)  # at least one renewal tick
        with pytest.raises(LockLostError, match="intruder"):
            await held.ensure_held()
    assert expiring.lock_holder("eu") == "intruder"  # not released by the loser


async def test_ensure_held_notices_a_lost_lock_before_the_next_renewal(expiring: Backend) -> None:
    store = expiring.store("run-a", renew_every=60)
    async with store.lock("eu") as held:
        expiring.steal("eu", "intruder")
        with pytest.raises(LockLostError, match="intruder"):
            await held.ensure_held()


async def test_a_lock_not_renewed_for_its_ttl_counts_as_lost(expiring: Backend) -> None:
    """Even when nobody took it yet: the run cannot know it still holds it."""
    store = expiring.store("run-a", renew_every=60)
    async with store.lock("eu") as held:
        await anyio.sleep(TTL + 0.1)
        with pytest.raises(LockLostError, match=r"not renewed|expired"):
            await held.ensure_held()
