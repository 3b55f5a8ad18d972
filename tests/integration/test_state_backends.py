"""The CLI with each state backend: locking between runs, `state show/reset`, bad backends."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.emulators.commercetools import CommercetoolsEmulator
from tests.emulators.fluent import FluentEmulator
from tests.emulators.kube import KubeEmulator
from tests.state.conftest import KUBE_TOKEN, NAMESPACE, RedisServer

from .conftest import Job
from .pushgateway import free_port

OLD = "2026-01-01T00:00:00.000Z"
EU = ("eu", "eu-warehouse", "AGG_EU")


def kubeconfig(path: Path, url: str) -> Path:
    path.write_text(
        json.dumps(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "clusters": [{"name": "emu", "cluster": {"server": url}}],
                "users": [{"name": "job", "user": {"token": KUBE_TOKEN}}],
                "contexts": [
                    {
                        "name": "emu",
                        "context": {"cluster": "emu", "user": "job", "namespace": NAMESPACE},
                    }
                ],
                "current-context": "emu",
            }
        )
    )
    return path


@pytest.fixture(params=["file", "redis", "configmap"])
def backend(request: pytest.FixtureRequest, job: Job) -> dict[str, str]:
    """Settings for one backend (each test gets an empty store)."""
    if request.param == "file":
        return {"INVENTORY_SYNC_STATE_BACKEND": "file"}
    if request.param == "redis":
        server: RedisServer = request.getfixturevalue("redis_server")
        return {
            "INVENTORY_SYNC_STATE_BACKEND": "redis",
            "INVENTORY_SYNC_REDIS_URL": server.url,
            "INVENTORY_SYNC_REDIS_PASSWORD": server.password,
            "INVENTORY_SYNC_REDIS_KEY_PREFIX": f"test-{job.workdir.name}",
        }
    kube: KubeEmulator = request.getfixturevalue("kube")
    del kube  # emptied for this test
    url: str = request.getfixturevalue("kube_url")
    return {
        "INVENTORY_SYNC_STATE_BACKEND": "configmap",
        "INVENTORY_SYNC_KUBECONFIG": str(kubeconfig(job.workdir / "kubeconfig", url)),
        "INVENTORY_SYNC_STATE_CONFIGMAP": "inventory-sync-state",
    }


def seed(fluent: FluentEmulator, ct: CommercetoolsEmulator, n: int = 20) -> dict[str, int]:
    ct.add_channel("eu-warehouse")
    for i in range(n):
        fluent.upsert_position("AGG_EU", f"S{i}", f"S{i}", i, updated_on=OLD)
    return {f"S{i}": i for i in range(n)}


def shown(job: Job, env: dict[str, str]) -> dict[str, Any]:
    result = job.run("state", "show", env=env)
    assert result.returncode == 0, result.stderr
    records: dict[str, Any] = json.loads(result.stdout)  # only the document: logs go to stderr
    return records


def test_two_runs_started_together_one_syncs_one_skips(
    job: Job, fluent: FluentEmulator, ct: CommercetoolsEmulator, backend: dict[str, str]
) -> None:
    expected = seed(fluent, ct)
    job.profiles(EU)
    ct.latency_ms = 100
    env = {
        **job.env,
        **backend,
        "INVENTORY_SYNC_BATCH_SIZE": "2",
        "INVENTORY_SYNC_CT_CONCURRENCY": "2",
    }
    runs = [
        subprocess.Popen(
            [sys.executable, "-m", "inventory_sync", "run"],
            env=env,
            cwd=job.workdir,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    outputs = [run.communicate(timeout=60)[0] for run in runs]

    assert [run.returncode for run in runs] == [0, 0]
    summaries = [
        next(
            json.loads(line)
            for line in out.splitlines()
            if '"inventory_sync.profile_finished"' in line
        )
        for out in outputs
    ]
    assert sorted(s["status"] for s in summaries) == ["SKIPPED", "SUCCESSFUL"]
    synced = next(s for s in summaries if s["status"] == "SUCCESSFUL")
    skipped = next(s for s in summaries if s["status"] == "SKIPPED")
    assert "is locked by" in skipped["error"]
    assert skipped["fetched"] == 0
    assert ct.entries("eu-warehouse") == expected
    record = shown(job, backend)["eu"]
    assert record["previousEndDate"] == synced["window_end"]
    assert record["lastRun"]["status"] == "SUCCESSFUL"


def test_fail_if_locked_makes_the_skip_a_failure(
    job: Job, fluent: FluentEmulator, ct: CommercetoolsEmulator
) -> None:
    seed(fluent, ct)
    job.profiles(EU)
    ct.latency_ms = 150
    env = {**job.env, "INVENTORY_SYNC_BATCH_SIZE": "1", "INVENTORY_SYNC_CT_CONCURRENCY": "1"}
    first = subprocess.Popen(
        [sys.executable, "-m", "inventory_sync", "run"], env=env, cwd=job.workdir,
        stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    assert first.stdout is not None
    for line in first.stdout:
        if '"inventory_sync.page_fetched"' in line:
            break
    second = job.run("run", "--fail-if-locked")
    first.communicate(timeout=60)

    assert second.returncode == 1
    assert second.summary("eu")["status"] == "FAILED"
    assert first.returncode == 0


def test_state_show_and_reset(
    job: Job, fluent: FluentEmulator, ct: CommercetoolsEmulator, backend: dict[str, str]
) -> None:
    seed(fluent, ct, n=3)
    job.profiles(EU)
    assert shown(job, backend) == {}
    assert job.run("run", env=backend).returncode == 0
    record = shown(job, backend)["eu"]
    assert record["props"] == {
        "ctChannelKey": "eu-warehouse",
        "fluentAggregateVirtualCatalogueRef": "AGG_EU",
    }

    cleared = job.run("state", "reset", "--profile", "eu", env=backend)

    assert cleared.returncode == 0
    (event,) = cleared.named("inventory_sync.state_reset")
    assert event["previous_end_date_was"] == record["previousEndDate"]
    assert event["previous_end_date"] is None
    assert shown(job, backend)["eu"]["previousEndDate"] is None
    assert shown(job, backend)["eu"]["lastRun"] == record["lastRun"]
    full = job.run("run", env=backend)
    assert full.summary("eu")["window_start"] is None

    moved = job.run(
        "state", "reset", "--profile", "eu", "--to", "2025-06-01T12:00:00.123456789", env=backend
    )

    assert moved.returncode == 0
    assert shown(job, backend)["eu"]["previousEndDate"] == "2025-06-01T12:00:00.123Z"
    delta = job.run("run", env=backend)
    assert delta.summary("eu")["window_start"] == "2025-06-01T11:58:00.123Z"


def test_reset_of_an_unknown_profile_or_a_future_time_is_a_usage_error(
    job: Job, fluent: FluentEmulator, ct: CommercetoolsEmulator
) -> None:
    seed(fluent, ct, n=1)
    job.profiles(EU)
    unknown = job.run("state", "reset", "--profile", "mars")
    assert unknown.returncode == 2
    assert "--profile mars: no such profile" in unknown.stderr
    future = job.run("state", "reset", "--profile", "eu", "--to", "2999-01-01T00:00:00Z")
    assert future.returncode == 2
    assert "is in the future" in future.stderr


@pytest.mark.parametrize("kind", ["redis-down", "configmap-down", "redis-without-url"])
def test_an_unusable_backend_is_a_config_error_before_any_write(
    job: Job, fluent: FluentEmulator, ct: CommercetoolsEmulator, kind: str
) -> None:
    seed(fluent, ct, n=2)
    job.profiles(EU)
    dead = f"127.0.0.1:{free_port()}"
    env = {
        "redis-down": {
            "INVENTORY_SYNC_STATE_BACKEND": "redis",
            "INVENTORY_SYNC_REDIS_URL": f"redis://{dead}/0",
        },
        "configmap-down": {
            "INVENTORY_SYNC_STATE_BACKEND": "configmap",
            "INVENTORY_SYNC_KUBECONFIG": str(kubeconfig(job.workdir / "kc", f"http://{dead}")),
        },
        "redis-without-url": {"INVENTORY_SYNC_STATE_BACKEND": "redis"},
    }[kind]

    result = job.run("run", env=env)

    assert result.returncode == 2, result.stdout
    assert "state backend" in result.stderr or "INVENTORY_SYNC_REDIS_URL" in result.stderr
    assert ct.stats()["token"] == 0
    assert ct.stats()["mutation_fields"] == 0
