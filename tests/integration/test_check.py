"""`inventory-sync check`: each dependency broken in turn."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.emulators.commercetools import CommercetoolsEmulator
from tests.emulators.faults import Fault
from tests.emulators.fluent import FluentEmulator

from .conftest import Job, Result
from .pushgateway import free_port, pushgateway

EU = ("eu", "eu-warehouse", "AGG_EU")
US = ("us", "us-warehouse", "AGG_US")


def lines(result: Result) -> dict[str, tuple[str, str]]:
    """``{check name: (ok|FAIL|skip, detail)}`` from the printed table."""
    out = {}
    for line in result.stdout.splitlines():
        if line.startswith("{"):
            continue
        for mark in ("  ok    ", "  FAIL  ", "  skip  "):
            if mark in line:
                name, detail = line.split(mark, 1)
                out[name.strip()] = (mark.strip(), detail.strip())
    return out


@pytest.fixture
def ready(job: Job, fluent: FluentEmulator, ct: CommercetoolsEmulator) -> Job:
    ct.add_channel("eu-warehouse")
    ct.add_channel("us-warehouse")
    fluent.upsert_position("AGG_EU", "A", "A", 1)
    job.profiles(EU, US)
    return job


def test_all_good(ready: Job, ct: CommercetoolsEmulator) -> None:
    with pushgateway() as gateway:
        result = ready.run("check", env={"INVENTORY_SYNC_PUSHGATEWAY_URL": gateway})
    assert result.returncode == 0, result.stdout
    got = lines(result)
    assert got["profiles file"][0] == "ok"
    assert got["state backend (file)"][0] == "ok"
    assert got["fluent token"] == ("ok", "token for user 'demo-user' with client 'demo-client'")
    assert got["commercetools token"] == ("ok", "token for client 'ct-client'")
    assert got["[eu] channel 'eu-warehouse'"][0] == "ok"
    assert got["[eu] catalogue 'AGG_EU'"] == ("ok", "answers")
    assert got["[us] catalogue 'AGG_US'"] == (
        "ok",
        "answers (no positions with these statuses yet)",
    )
    assert got["pushgateway"][0] == "ok"
    assert ct.stats()["mutation_fields"] == 0
    assert not (ready.workdir / "state").exists()


@pytest.mark.parametrize(
    ("env", "failing", "reason"),
    [
        (
            {"INVENTORY_SYNC_FLUENT_PASSWORD": "nope"},
            "fluent token",
            "rejected the credentials of user 'demo-user'",
        ),
        ({"INVENTORY_SYNC_CT_CLIENT_SECRET": "nope"}, "commercetools token", "client 'ct-client'"),
        ({"INVENTORY_SYNC_PROFILES_FILE": "/nonexistent.yaml"}, "profiles file", "cannot be read"),
        (
            {
                "INVENTORY_SYNC_STATE_BACKEND": "redis",
                "INVENTORY_SYNC_REDIS_URL": "redis://127.0.0.1:1/0",
            },
            "state backend (redis)",
            "unreachable",
        ),
        (
            {"INVENTORY_SYNC_PUSHGATEWAY_URL": "http://127.0.0.1:{port}"},
            "pushgateway",
            "not reachable",
        ),
    ],
)
def test_each_broken_dependency_is_named(
    ready: Job, env: dict[str, str], failing: str, reason: str
) -> None:
    env = {k: v.format(port=free_port()) for k, v in env.items()}
    result = ready.run("check", env=env)
    assert result.returncode == 1
    got = lines(result)
    assert got[failing][0] == "FAIL", result.stdout
    assert reason in got[failing][1]
    assert "nope" not in result.stdout + result.stderr
    others = [name for name, (mark, _) in got.items() if mark == "FAIL" and name != failing]
    assert others == []


def test_a_missing_channel_fails_its_profile_only(ready: Job, ct: CommercetoolsEmulator) -> None:
    ready.profiles(EU, ("mars", "mars-warehouse", "AGG_MARS"))
    result = ready.run("check")
    assert result.returncode == 1
    got = lines(result)
    assert got["[eu] channel 'eu-warehouse'"][0] == "ok"
    assert got["[mars] channel 'mars-warehouse'"] == (
        "FAIL",
        "commercetools: no channel with key 'mars-warehouse'",
    )


def test_ensure_channel_makes_a_missing_channel_pass(ready: Job) -> None:
    (ready.workdir / "profiles.yaml").write_text(
        "profiles:\n"
        "  - name: eu\n"
        "    ctChannelKey: new-warehouse\n"
        "    fluentAggregateVirtualCatalogueRef: AGG_EU\n"
        "    ensureChannel: true\n"
    )
    result = ready.run("check")
    assert result.returncode == 0, result.stdout
    assert lines(result)["[eu] channel 'new-warehouse'"] == (
        "ok",
        "missing; the first run creates it (ensureChannel)",
    )


def test_a_mapper_that_cannot_be_imported_fails_the_check(ready: Job) -> None:
    result = ready.run("check", env={"INVENTORY_SYNC_MAPPER": "no_such_module:mapper"})
    assert result.returncode == 1
    mark, detail = lines(result)["mapper"]
    assert mark == "FAIL"
    assert "INVENTORY_SYNC_MAPPER='no_such_module:mapper': cannot be imported" in detail


def test_a_mapper_that_loads_passes(ready: Job) -> None:
    plugins = Path(__file__).parent / "plugins"
    env = {
        "INVENTORY_SYNC_MAPPER": "sample_mappers:prefixed",
        "PYTHONPATH": f"{ready.env['PYTHONPATH']}:{plugins}",
    }
    result = ready.run("check", env=env)
    assert result.returncode == 0, result.stdout
    assert lines(result)["mapper"][0] == "ok"


@pytest.mark.parametrize(
    ("api", "fault", "passed", "failed", "status"),
    [
        # Fluent answers its token but not the catalogue query
        ("fluent", Fault("status", on="graphql", status=403, rate=1.0),
         "fluent token", "[eu] catalogue 'AGG_EU'", "403"),
        # commercetools is down after the token
        ("commercetools", Fault("status", on="query", status=503, rate=1.0),
         "commercetools token", "[eu] channel 'eu-warehouse'", "503"),
    ],
)  # fmt: skip
def test_an_api_failing_after_its_token_is_named(
    ready: Job,
    fluent: FluentEmulator,
    ct: CommercetoolsEmulator,
    api: str,
    fault: Fault,
    passed: str,
    failed: str,
    status: str,
) -> None:
    (fluent if api == "fluent" else ct).faults.add(fault)
    result = ready.run("check")
    assert result.returncode == 1
    got = lines(result)
    assert got[passed][0] == "ok"
    assert got[failed][0] == "FAIL"
    assert status in got[failed][1]
