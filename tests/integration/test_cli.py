"""Usage and configuration errors: exit code 2, a message naming the problem, nothing written."""

from __future__ import annotations

import json

import pytest

from tests.emulators.commercetools import CommercetoolsEmulator
from tests.emulators.fluent import FluentEmulator

from .conftest import Job

EU = ("eu", "eu-warehouse", "AGG_EU")
US = ("us", "us-warehouse", "AGG_US")


@pytest.fixture
def seeded(job: Job, fluent: FluentEmulator, ct: CommercetoolsEmulator) -> Job:
    for catalogue, channel in (("AGG_EU", "eu-warehouse"), ("AGG_US", "us-warehouse")):
        ct.add_channel(channel)
        fluent.upsert_position(catalogue, "A", "A", 1, updated_on="2026-01-01T00:00:00Z")
    job.profiles(EU, US)
    return job


def assert_nothing_written(job: Job, ct: CommercetoolsEmulator) -> None:
    assert ct.stats()["mutation_fields"] == 0
    assert ct.stats()["token"] == 0
    assert not (job.workdir / "state").exists() or not any((job.workdir / "state").glob("*.json"))


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (
            ["run", "--from", "2026-02-01T00:00:00Z", "--to", "2026-01-01T00:00:00Z"],
            "is after --to",
        ),
        (["run", "--from", "last tuesday"], "not an ISO-8601 timestamp: 'last tuesday'"),
        (["run", "--full", "--from", "2026-01-01T00:00:00Z"], "--full and --from"),
        (["run", "--profile", "mars"], "--profile mars: no such profile"),
        (["launch"], "invalid choice: 'launch'"),
    ],
)
def test_usage_errors_exit_2(
    seeded: Job, ct: CommercetoolsEmulator, args: list[str], needle: str
) -> None:
    result = seeded.run(*args)
    assert result.returncode == 2
    assert needle in result.stderr
    assert_nothing_written(seeded, ct)


def test_missing_and_invalid_settings_exit_2(seeded: Job, ct: CommercetoolsEmulator) -> None:
    env = dict(seeded.env)
    del env["INVENTORY_SYNC_CT_PROJECT_KEY"]
    env["INVENTORY_SYNC_STATE_BACKEND"] = "floppy"
    seeded.env = env
    result = seeded.run("run")
    assert result.returncode == 2
    assert "INVENTORY_SYNC_CT_PROJECT_KEY is required but not set" in result.stderr
    assert "INVENTORY_SYNC_STATE_BACKEND" in result.stderr
    assert "'floppy'" in result.stderr
    assert "ct-secret" not in result.stderr + result.stdout
    assert_nothing_written(seeded, ct)


def test_invalid_profiles_file_exit_2(seeded: Job, ct: CommercetoolsEmulator) -> None:
    (seeded.workdir / "profiles.yaml").write_text(
        "profiles:\n  - name: eu\n    ctChannelKey: eu-warehouse\n    fluentAggregateVirtualCatalogueRef: ''\n"
        "    shard: 3\n"
    )
    result = seeded.run("run")
    assert result.returncode == 2
    assert "profiles[0] (eu).fluentAggregateVirtualCatalogueRef" in result.stderr
    assert "profiles[0] (eu).shard: unknown key" in result.stderr
    assert_nothing_written(seeded, ct)


def test_a_broken_state_record_stops_the_run_before_any_write(
    seeded: Job, ct: CommercetoolsEmulator
) -> None:
    state = seeded.workdir / "state"
    state.mkdir()
    broken = {"previousEndDate": "soon", "props": {"ctChannelKey": "us-warehouse"}}
    (state / "us.json").write_text(json.dumps(broken))

    result = seeded.run("run")

    assert result.returncode == 2
    assert "profile 'us'" in result.stderr
    assert "previousEndDate" in result.stderr
    assert json.loads((state / "us.json").read_text()) == broken
    assert not (state / "eu.json").exists()
    assert ct.stats()["mutation_fields"] == 0


def test_success_exit_0_and_one_json_line_per_event(seeded: Job, ct: CommercetoolsEmulator) -> None:
    result = seeded.run("run")
    assert result.returncode == 0
    assert all(line.startswith("{") for line in result.stdout.splitlines())
    (finished,) = result.named("inventory_sync.run_finished")
    assert finished["exit_code"] == 0
    assert finished["created"] == 2
    assert ct.entries("eu-warehouse") == {"A": 1}
    assert ct.entries("us-warehouse") == {"A": 1}


def test_shards_from_the_indexed_job_environment_and_from_the_flag(
    job: Job, fluent: FluentEmulator, ct: CommercetoolsEmulator
) -> None:
    profiles = [(f"p{n}", f"chan-{n}", f"CAT_{n}") for n in range(3)]
    for _, channel, catalogue in profiles:
        ct.add_channel(channel)
        fluent.upsert_position(catalogue, "A", "A", 1, updated_on="2026-01-01T00:00:00Z")
    job.profiles(*profiles)

    pod1 = job.run("run", env={"INVENTORY_SYNC_SHARDS": "2", "JOB_COMPLETION_INDEX": "1"})

    assert pod1.returncode == 0
    assert [e["profile"] for e in pod1.named("inventory_sync.profile_finished")] == ["p1"]
    assert ct.entries("chan-1") == {"A": 1}
    assert ct.entries("chan-0") == {}

    pod0 = job.run("run", "--shard", "0/2")

    assert pod0.returncode == 0
    assert sorted(e["profile"] for e in pod0.named("inventory_sync.profile_finished")) == [
        "p0",
        "p2",
    ]


def test_a_shard_index_beyond_the_shards_is_a_config_error(seeded: Job) -> None:
    result = seeded.run("run", env={"INVENTORY_SYNC_SHARDS": "2", "JOB_COMPLETION_INDEX": "2"})
    assert result.returncode == 2
    assert "not below INVENTORY_SYNC_SHARDS=2" in result.stderr


def test_a_window_ending_in_the_future_is_refused(seeded: Job, ct: CommercetoolsEmulator) -> None:
    result = seeded.run("run", "--to", "2999-01-01T00:00:00Z")
    assert result.returncode == 2
    assert "is later than now minus the settle lag" in result.stderr
    assert_nothing_written(seeded, ct)
