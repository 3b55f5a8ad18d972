"""Metrics pushed to a real Pushgateway, and the --metrics-file."""

from __future__ import annotations

import fcntl
import math
import os
from collections.abc import Iterator

import pytest
from prometheus_client.parser import text_string_to_metric_families

from inventory_sync.metrics import APIS, OUTCOMES, STATUS_CLASSES
from inventory_sync.model import parse_timestamp
from tests.emulators.commercetools import CommercetoolsEmulator
from tests.emulators.faults import Fault
from tests.emulators.fluent import FluentEmulator

from .conftest import Job, Result
from .pushgateway import free_port, pushed, pushgateway

OLD = "2026-01-01T00:00:00.000Z"
EU = ("eu", "eu-warehouse", "AGG_EU")
US = ("us", "us-warehouse", "AGG_US")
FAST = {"INVENTORY_SYNC_RETRY_ATTEMPTS": "2", "INVENTORY_SYNC_RETRY_WAIT_INITIAL_SECONDS": "0"}


@pytest.fixture
def gateway() -> Iterator[str]:
    with pushgateway() as url:
        yield url


def seed(fluent: FluentEmulator, ct: CommercetoolsEmulator, catalogue: str, channel: str) -> None:
    ct.add_channel(channel)
    for i in range(7):
        fluent.upsert_position(catalogue, f"S{i}", f"S{i}", i - 1, updated_on=OLD)
    fluent.upsert_position(catalogue, "bad", "bad", None, updated_on=OLD)
    ct.add_entry("S1", channel, 0)  # equal → unchanged
    ct.add_entry("S2", channel, 9)  # differs → updated


def eu_pushing_to(
    gateway: str, job: Job, fluent: FluentEmulator, ct: CommercetoolsEmulator
) -> dict[str, str]:
    """Seed the eu profile; the environment of a run that pushes to ``gateway``."""
    seed(fluent, ct, "AGG_EU", "eu-warehouse")
    job.profiles(EU)
    return {"INVENTORY_SYNC_PUSHGATEWAY_URL": gateway, **FAST}


def fail_writes(ct: CommercetoolsEmulator) -> None:
    """Every mutation answers 503 (retried, then failed): the run fails."""
    ct.faults.add(Fault("status", on="mutation", status=503, rate=1.0))


def value(
    samples: dict[tuple[str, tuple[tuple[str, str], ...]], float], name: str, **labels: str
) -> float:
    return samples[(name, tuple(sorted(labels.items())))]


def test_a_successful_run_pushes_its_counts(
    job: Job, fluent: FluentEmulator, ct: CommercetoolsEmulator, gateway: str
) -> None:
    seed(fluent, ct, "AGG_EU", "eu-warehouse")
    job.profiles(EU)

    result = job.run("run", env={"INVENTORY_SYNC_PUSHGATEWAY_URL": gateway})

    assert result.returncode == 0
    summary = result.summary("eu")
    got = pushed(gateway, job="inventory-sync", profile="eu")
    for outcome in ("fetched", "created", "updated", "unchanged", "invalid", "clamped", "failed"):
        assert value(got, "inventory_sync_positions", outcome=outcome) == summary[outcome], outcome
    assert (summary["created"], summary["updated"], summary["unchanged"]) == (5, 1, 1)
    assert value(got, "inventory_sync_run_status", status="success") == 1
    assert value(got, "inventory_sync_run_status", status="failed") == 0
    state = job.state("eu")
    assert state is not None
    end = parse_timestamp(state["previousEndDate"]).timestamp()
    assert value(got, "inventory_sync_window_end_timestamp_seconds") == pytest.approx(
        end, abs=0.001
    )
    assert value(got, "inventory_sync_window_start_timestamp_seconds") == 0
    assert 0 < value(got, "inventory_sync_lag_seconds") < 60
    assert value(got, "inventory_sync_last_success_timestamp_seconds") > end
    assert value(got, "inventory_sync_run_duration_seconds") == pytest.approx(
        summary["duration_s"], abs=0.05
    )
    assert value(got, "inventory_sync_http_requests_total", api="fluent", status_class="2xx") == 1
    assert (
        value(got, "inventory_sync_http_requests_total", api="fluent-auth", status_class="2xx") == 1
    )
    assert (
        value(got, "inventory_sync_http_requests_total", api="commercetools", status_class="2xx")
        == ct.stats()["query"] + ct.stats()["mutation"]
    )
    assert ("inventory_sync_last_failure_timestamp_seconds", ()) not in got


def test_a_failed_run_keeps_the_last_success_and_records_the_failure(
    job: Job, fluent: FluentEmulator, ct: CommercetoolsEmulator, gateway: str
) -> None:
    env = eu_pushing_to(gateway, job, fluent, ct)
    assert job.run("run", env=env).returncode == 0
    success = value(
        pushed(gateway, job="inventory-sync", profile="eu"),
        "inventory_sync_last_success_timestamp_seconds",
    )
    fluent.upsert_position("AGG_EU", "S3", "S3", 40)
    fail_writes(ct)

    failed = job.run("run", env=env)

    assert failed.returncode == 1
    got = pushed(gateway, job="inventory-sync", profile="eu")
    assert value(got, "inventory_sync_last_success_timestamp_seconds") == success
    assert value(got, "inventory_sync_last_failure_timestamp_seconds") > success
    assert value(got, "inventory_sync_run_status", status="failed") == 1
    assert value(got, "inventory_sync_run_status", status="success") == 0
    assert value(got, "inventory_sync_positions", outcome="failed") == 1
    assert (
        value(got, "inventory_sync_http_requests_total", api="commercetools", status_class="5xx")
        == 2
    )
    assert value(got, "inventory_sync_http_retries_total", api="commercetools") == 1
    retries = failed.named("inventory_sync.retry_scheduled")
    assert [r["api"] for r in retries] == ["commercetools"]


def test_a_clean_run_sends_every_series_and_overwrites_the_last_runs_counts(
    job: Job, fluent: FluentEmulator, ct: CommercetoolsEmulator, gateway: str
) -> None:
    env = eu_pushing_to(gateway, job, fluent, ct)
    fail_writes(ct)
    assert job.run("run", env=env).returncode == 1
    got = pushed(gateway, job="inventory-sync", profile="eu")
    assert value(got, "inventory_sync_http_retries_total", api="commercetools") == 1
    assert (
        value(got, "inventory_sync_http_requests_total", api="commercetools", status_class="5xx")
        == 2
    )
    ct.faults.clear()

    assert job.run("run", env=env).returncode == 0

    got = pushed(gateway, job="inventory-sync", profile="eu")
    assert value(got, "inventory_sync_http_retries_total", api="commercetools") == 0
    assert (
        value(got, "inventory_sync_http_requests_total", api="commercetools", status_class="5xx")
        == 0
    )
    for api in APIS:  # every series of "the last run", sent even when it stayed at 0
        assert value(got, "inventory_sync_http_retries_total", api=api) == 0, api
        for status_class in STATUS_CLASSES:
            requests = value(
                got, "inventory_sync_http_requests_total", api=api, status_class=status_class
            )
            assert requests == 0 or status_class == "2xx", (api, status_class)
    for outcome in OUTCOMES:
        assert ("inventory_sync_positions", (("outcome", outcome),)) in got
    assert value(got, "inventory_sync_positions", outcome="failed") == 0
    assert value(got, "inventory_sync_http_requests_total", api="commercetools", status_class="2xx")
    assert value(got, "inventory_sync_run_status", status="success") == 1


def test_lag_is_infinite_while_there_is_no_previous_end_date(
    job: Job, fluent: FluentEmulator, ct: CommercetoolsEmulator, gateway: str
) -> None:
    env = eu_pushing_to(gateway, job, fluent, ct)
    fail_writes(ct)

    assert job.run("run", env=env).returncode == 1  # never succeeded

    got = pushed(gateway, job="inventory-sync", profile="eu")
    assert value(got, "inventory_sync_lag_seconds") == math.inf
    # what InventorySyncNeverSucceeded keys on: a status, and no last success
    assert value(got, "inventory_sync_run_status", status="failed") == 1
    assert ("inventory_sync_last_success_timestamp_seconds", ()) not in got

    ct.faults.clear()
    assert job.run("run", env=env).returncode == 0
    assert (
        0
        <= value(pushed(gateway, job="inventory-sync", profile="eu"), "inventory_sync_lag_seconds")
        < 60
    )
    assert job.run("state", "reset", "--profile", "eu").returncode == 0
    ct.faults.add(Fault("status", on="any", status=503, rate=1.0))

    assert job.run("run", env=env).returncode == 1  # after a reset without --to

    assert (
        value(pushed(gateway, job="inventory-sync", profile="eu"), "inventory_sync_lag_seconds")
        == math.inf
    )


def run_while_locked(job: Job, profile: str, env: dict[str, str]) -> Result:
    """A run of ``profile`` while another process holds its (file) lock."""
    (job.workdir / "state").mkdir(exist_ok=True)
    fd = os.open(job.workdir / "state" / f"{profile}.lock", os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        os.pwrite(fd, b"another-pod:1", 0)
        return job.run("run", env=env)
    finally:
        os.close(fd)


def test_a_skipped_run_keeps_the_last_runs_failure(
    job: Job, fluent: FluentEmulator, ct: CommercetoolsEmulator, gateway: str
) -> None:
    env = eu_pushing_to(gateway, job, fluent, ct)
    assert job.run("run", env=env).returncode == 0
    fluent.upsert_position("AGG_EU", "S3", "S3", 40)
    fail_writes(ct)
    assert job.run("run", env=env).returncode == 1
    failed = pushed(gateway, job="inventory-sync", profile="eu")

    skipped = run_while_locked(job, "eu", env)

    assert skipped.returncode == 0
    assert skipped.summary("eu")["status"] == "SKIPPED"
    got = pushed(gateway, job="inventory-sync", profile="eu")
    assert value(got, "inventory_sync_run_status", status="skipped") == 1
    assert value(got, "inventory_sync_run_status", status="failed") == 0
    assert value(got, "inventory_sync_run_status", status="success") == 0
    assert value(got, "inventory_sync_lag_seconds") > value(failed, "inventory_sync_lag_seconds")
    # everything else is still the failed run's: it synced, the skipped run did not
    unchanged = {
        k: v
        for k, v in failed.items()
        if k[0] not in ("inventory_sync_run_status", "inventory_sync_lag_seconds")
        and not k[0].startswith("push_")
    }
    assert unchanged
    assert {k: got[k] for k in unchanged} == unchanged
    assert value(got, "inventory_sync_positions", outcome="failed") == 1
    # what InventorySyncLastRunFailed keys on, so the skip does not clear it
    assert value(got, "inventory_sync_last_failure_timestamp_seconds") > value(
        got, "inventory_sync_last_success_timestamp_seconds"
    )


def test_two_profiles_push_two_groups(
    job: Job, fluent: FluentEmulator, ct: CommercetoolsEmulator, gateway: str
) -> None:
    seed(fluent, ct, "AGG_EU", "eu-warehouse")
    seed(fluent, ct, "AGG_US", "us-warehouse")
    fluent.upsert_position("AGG_US", "only-us", "only-us", 3, updated_on=OLD)
    job.profiles(EU, US)

    assert job.run("run", env={"INVENTORY_SYNC_PUSHGATEWAY_URL": gateway}).returncode == 0

    eu, us = (
        pushed(gateway, job="inventory-sync", profile="eu"),
        pushed(gateway, job="inventory-sync", profile="us"),
    )
    assert value(eu, "inventory_sync_positions", outcome="fetched") == 8
    assert value(us, "inventory_sync_positions", outcome="fetched") == 9


def test_a_pushgateway_that_is_down_does_not_change_the_exit_code(
    job: Job, fluent: FluentEmulator, ct: CommercetoolsEmulator
) -> None:
    seed(fluent, ct, "AGG_EU", "eu-warehouse")
    job.profiles(EU)
    down = f"http://127.0.0.1:{free_port()}"

    result = job.run("run", env={"INVENTORY_SYNC_PUSHGATEWAY_URL": down})

    assert result.returncode == 0
    (warning,) = result.named("inventory_sync.metrics_push_failed")
    assert warning["profile"] == "eu"
    assert ct.entries("eu-warehouse")["S3"] == 2


def test_a_pushgateway_that_is_down_keeps_a_failed_syncs_exit_code(
    job: Job, fluent: FluentEmulator, ct: CommercetoolsEmulator
) -> None:
    seed(fluent, ct, "AGG_EU", "eu-warehouse")
    job.profiles(EU)
    fail_writes(ct)
    down = f"http://127.0.0.1:{free_port()}"

    result = job.run("run", env={"INVENTORY_SYNC_PUSHGATEWAY_URL": down, **FAST})

    assert result.returncode == 1
    assert result.summary("eu")["status"] == "FAILED"
    (warning,) = result.named("inventory_sync.metrics_push_failed")
    assert warning["profile"] == "eu"
    (finished,) = result.named("inventory_sync.run_finished")
    assert finished["exit_code"] == 1


def test_no_pushgateway_is_said_once_and_the_metrics_file_has_every_profile(
    job: Job, fluent: FluentEmulator, ct: CommercetoolsEmulator
) -> None:
    seed(fluent, ct, "AGG_EU", "eu-warehouse")
    seed(fluent, ct, "AGG_US", "us-warehouse")
    job.profiles(EU, US)
    path = job.workdir / "metrics.prom"

    result = job.run("run", "--metrics-file", str(path))

    assert result.returncode == 0
    assert len(result.named("inventory_sync.metrics_push_disabled")) == 1
    samples = {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(path.read_text())
        for s in family.samples
    }
    for profile in ("eu", "us"):
        key = ("inventory_sync_positions", (("outcome", "created"), ("profile", profile)))
        assert samples[key] == result.summary(profile)["created"]
        assert (
            samples[("inventory_sync_run_status", (("profile", profile), ("status", "success")))]
            == 1
        )


def test_progress_lines_come_at_least_every_interval(
    job: Job, fluent: FluentEmulator, ct: CommercetoolsEmulator
) -> None:
    seed(fluent, ct, "AGG_EU", "eu-warehouse")
    job.profiles(EU)
    ct.latency_ms = 300  # a lookup and a write: at least 0.6 s

    result = job.run("run", env={"INVENTORY_SYNC_PROGRESS_SECONDS": "0.1"})

    assert result.returncode == 0
    ticks = result.named("inventory_sync.progress")
    assert len(ticks) >= 2
    assert all({"received", "done", "written", "rate_per_s", "elapsed_s"} <= set(t) for t in ticks)
    assert ticks[-1]["received"] == 8
    summary = result.summary("eu")
    assert summary["fetched"] >= ticks[-1]["done"]
