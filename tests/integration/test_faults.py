"""Resilience: under each fault, the run either succeeds with commercetools equal to the
master, or fails without moving the saved window; one clean run later, all is equal."""

from __future__ import annotations

import json
import signal
import time
from typing import Any

import pytest

from tests.emulators.commercetools import CommercetoolsEmulator
from tests.emulators.faults import Fault
from tests.emulators.fluent import FluentEmulator

from .conftest import Job

OLD = "2026-01-01T00:00:00.000Z"
EU = ("eu", "eu-warehouse", "AGG_EU")
SMALL = {
    "INVENTORY_SYNC_PAGE_SIZE": "10",
    "INVENTORY_SYNC_LOOKUP_CHUNK_SIZE": "10",
    "INVENTORY_SYNC_BATCH_SIZE": "5",
    "INVENTORY_SYNC_CT_CONCURRENCY": "4",
    "INVENTORY_SYNC_HTTP_TIMEOUT_SECONDS": "0.5",
    "INVENTORY_SYNC_RETRY_ATTEMPTS": "4",
    "INVENTORY_SYNC_RETRY_TIMEOUT_SECONDS": "10",
    "INVENTORY_SYNC_RETRY_WAIT_INITIAL_SECONDS": "0.01",
    "INVENTORY_SYNC_RETRY_WAIT_MAX_SECONDS": "0.05",
}


def seed(fluent: FluentEmulator, ct: CommercetoolsEmulator, n: int = 60) -> dict[str, int]:
    ct.add_channel("eu-warehouse")
    expected: dict[str, int] = {}
    for i in range(n):
        sku = f"SKU-{i:03d}"
        fluent.upsert_position("AGG_EU", sku, sku, i, updated_on=OLD)
        expected[sku] = i
        if i % 3 == 0:
            ct.add_entry(sku, "eu-warehouse", i + 100)  # differs: an update
        elif i % 5 == 0:
            ct.add_entry(sku, "eu-warehouse", i)  # equal: unchanged
    return expected


def assert_no_secrets(output: str, fluent: FluentEmulator, ct: CommercetoolsEmulator) -> None:
    """No password, client secret or issued token in anything the job printed."""
    tokens = [*fluent.tokens._expiry, *ct.tokens._expiry]
    for secret in ["demo-pass", "demo-secret", "ct-secret", *tokens]:
        assert secret not in output


F, C = "fluent", "ct"
MATRIX: list[tuple[str, str, Fault, int]] = [
    ("fluent-latency", F, Fault("latency", rate=0.5, delay_ms=100), 0),
    (
        "fluent-429-retry-after",
        F,
        Fault("status", status=429, retry_after=0.2, nth=frozenset({2})),
        0,
    ),
    ("fluent-503", F, Fault("status", status=503, nth=frozenset({1, 3})), 0),
    ("fluent-502-always", F, Fault("status", status=502, nth=frozenset(range(2, 99))), 1),
    ("fluent-reset", F, Fault("reset", nth=frozenset({2})), 0),
    ("fluent-timeout", F, Fault("timeout", delay_ms=1500, nth=frozenset({3})), 0),
    ("fluent-401", F, Fault("unauthorized", nth=frozenset({2, 4})), 0),
    ("fluent-token-503", F, Fault("status", on="token", status=503, nth=frozenset({1})), 0),
    ("fluent-server-error-code", F, Fault("graphql_error", code="S0001E", nth=frozenset({2})), 0),
    ("fluent-client-error-code", F, Fault("graphql_error", code="C0100E", nth=frozenset({3})), 1),
    ("fluent-html", F, Fault("html", status=200, nth=frozenset({2})), 0),
    ("fluent-truncated", F, Fault("truncated", nth=frozenset({3})), 0),
    ("ct-token-503", C, Fault("status", on="token", status=503, nth=frozenset({1})), 0),
    ("ct-query-429", C, Fault("status", on="query", status=429, retry_after=0.1, rate=0.3), 0),
    ("ct-mutation-500", C, Fault("status", on="mutation", status=500, rate=0.3), 0),
    ("ct-mutation-503-always", C, Fault("status", on="mutation", status=503, rate=1.0), 1),
    ("ct-mutation-reset", C, Fault("reset", on="mutation", nth=frozenset({1, 2})), 0),
    (
        "ct-mutation-timeout-applied-late",
        C,
        Fault("timeout", on="mutation", delay_ms=1500, nth=frozenset({1})),
        0,
    ),
    ("ct-401", C, Fault("unauthorized", nth=frozenset({2, 5})), 0),
    (
        "ct-concurrent-modification",
        C,
        Fault("conflict", on="update", nth=frozenset({1, 2, 3, 5})),
        0,
    ),
    ("ct-concurrent-modification-endless", C, Fault("conflict", on="update", rate=1.0), 1),
    ("ct-duplicate-field", C, Fault("duplicate", on="create", nth=frozenset({1, 2, 4, 8})), 0),
    ("ct-html-502", C, Fault("html", on="mutation", status=502, nth=frozenset({1})), 0),
    ("ct-truncated", C, Fault("truncated", on="mutation", nth=frozenset({2})), 0),
    ("ct-latency", C, Fault("latency", on="any", rate=1.0, delay_ms=30), 0),
]


@pytest.mark.parametrize(
    ("target", "fault", "faulty_exit"),
    [pytest.param(t, f, e, id=name) for name, t, f, e in MATRIX],
)
def test_fault_matrix(
    job: Job,
    fluent: FluentEmulator,
    ct: CommercetoolsEmulator,
    target: str,
    fault: Fault,
    faulty_exit: int,
) -> None:
    expected = seed(fluent, ct)
    job.profiles(EU)
    emulator = fluent if target == F else ct
    emulator.faults.add(fault)

    faulty = job.run("run", env=SMALL)

    assert fault.fired >= 1, "the fault never fired"
    assert faulty.returncode == faulty_exit, faulty.stdout[-3000:] + faulty.stderr
    assert_no_secrets(faulty.stdout + faulty.stderr, fluent, ct)
    state = job.state("eu")
    assert state is not None
    if faulty.returncode == 1:
        error = faulty.summary("eu")["error"]
        assert "ExceptionGroup" not in error
        assert error
    if faulty.returncode == 0:
        # the window advanced: everything in it must have been written
        assert state["lastRun"]["status"] == "SUCCESSFUL"
        assert ct.entries("eu-warehouse") == expected
    else:
        assert state["previousEndDate"] is None
        assert state["lastRun"]["status"] == "FAILED"
        assert state["lastRun"]["error"]

    emulator.faults.clear()
    clean = job.run("run", env=SMALL)

    assert clean.returncode == 0, clean.stdout[-3000:]
    assert ct.entries("eu-warehouse") == expected
    state = job.state("eu")
    assert state is not None
    assert state["lastRun"]["status"] == "SUCCESSFUL"
    assert state["previousEndDate"] == state["lastRun"]["param"]["end"]


def test_failed_items_are_recorded_in_last_run(
    job: Job, fluent: FluentEmulator, ct: CommercetoolsEmulator
) -> None:
    seed(fluent, ct, n=12)
    job.profiles(EU)
    ct.faults.add(Fault("status", on="mutation", status=503, rate=1.0))

    result = job.run("run", env=SMALL)

    assert result.returncode == 1
    state = job.state("eu")
    assert state is not None
    last = state["lastRun"]
    summary = result.summary("eu")
    assert last["failed"] == summary["failed"] == 12 - 2  # two entries were already equal
    assert {f["code"] for f in last["failures"]} == {"503"}
    assert {f["sku"] for f in last["failures"]} <= {f"SKU-{i:03d}" for i in range(12)}
    assert "could not be written" in last["error"]
    failed_logs = result.named("inventory_sync.write_failed")
    assert len(failed_logs) == 10


def test_too_many_failures_stop_the_profile_early(
    job: Job, fluent: FluentEmulator, ct: CommercetoolsEmulator
) -> None:
    seed(fluent, ct, n=200)
    job.profiles(EU)
    ct.faults.add(Fault("status", on="mutation", status=503, rate=1.0))

    result = job.run(
        "run",
        env={**SMALL, "INVENTORY_SYNC_MAX_FAILURES": "5", "INVENTORY_SYNC_RETRY_ATTEMPTS": "1"},
    )

    assert result.returncode == 1
    summary = result.summary("eu")
    assert "stopped early: more than 5 positions failed" in summary["error"]
    assert summary["failed"] < 100


def test_run_deadline_stops_and_keeps_the_window(
    job: Job, fluent: FluentEmulator, ct: CommercetoolsEmulator
) -> None:
    expected = seed(fluent, ct)
    job.profiles(EU)
    fluent.latency_ms = 300

    result = job.run(
        "run",
        env={
            **SMALL,
            "INVENTORY_SYNC_RUN_DEADLINE_SECONDS": "1",
            "INVENTORY_SYNC_HTTP_TIMEOUT_SECONDS": "5",
        },
    )

    assert result.returncode == 1
    assert "run deadline of 1 s reached" in result.summary("eu")["error"]
    job.failed_state("eu")

    fluent.latency_ms = 0
    assert job.run("run", env=SMALL).returncode == 0
    assert ct.entries("eu-warehouse") == expected


def test_sigterm_mid_run_stops_fetching_saves_failed_state_and_exits_non_zero(
    job: Job, fluent: FluentEmulator, ct: CommercetoolsEmulator
) -> None:
    expected = seed(fluent, ct, n=100)
    before = ct.entries("eu-warehouse")
    job.profiles(EU)
    fluent.latency_ms = 150
    process = job.start(
        {
            **SMALL,
            "INVENTORY_SYNC_HTTP_TIMEOUT_SECONDS": "5",
            "INVENTORY_SYNC_STOP_GRACE_SECONDS": "5",
        }
    )
    assert process.stdout is not None
    events: list[dict[str, Any]] = []
    for line in process.stdout:
        events.append(json.loads(line))
        if events[-1]["event"] == "inventory_sync.page_fetched":
            break
    sent_at = time.monotonic()
    process.send_signal(signal.SIGTERM)
    out, _ = process.communicate(timeout=30)
    events += [json.loads(line) for line in out.splitlines()]

    assert process.returncode == 1
    assert time.monotonic() - sent_at < 10
    names = [e["event"] for e in events]
    assert "inventory_sync.signal_received" in names
    (summary,) = [e for e in events if e["event"] == "inventory_sync.profile_finished"]
    assert summary["status"] == "FAILED"
    assert "SIGTERM received" in summary["error"]
    assert summary["fetched"] < 100
    job.failed_state("eu")
    for sku, quantity in ct.entries("eu-warehouse").items():
        assert quantity in (expected[sku], before.get(sku)), sku

    fluent.latency_ms = 0
    assert job.run("run", env=SMALL).returncode == 0
    assert ct.entries("eu-warehouse") == expected


def test_sigterm_while_the_channel_lookup_keeps_failing_ends_the_run_within_the_grace(
    job: Job, fluent: FluentEmulator, ct: CommercetoolsEmulator
) -> None:
    """A stop also ends the lookups before the first page: a failing commercetools must
    not keep the pod past its termination grace (SIGKILL: no state, no metrics)."""
    seed(fluent, ct, n=5)
    job.profiles(EU)
    ct.faults.add(Fault("status", on="query", status=503, rate=1.0))
    process = job.start(
        {
            **SMALL,
            "INVENTORY_SYNC_RETRY_ATTEMPTS": "50",
            "INVENTORY_SYNC_RETRY_TIMEOUT_SECONDS": "120",
            "INVENTORY_SYNC_RETRY_WAIT_INITIAL_SECONDS": "0.2",
            "INVENTORY_SYNC_RETRY_WAIT_MAX_SECONDS": "0.5",
        }
    )
    assert process.stdout is not None
    for line in process.stdout:
        if json.loads(line)["event"] == "inventory_sync.retry_scheduled":
            break
    sent_at = time.monotonic()
    process.send_signal(signal.SIGTERM)
    out, _ = process.communicate(timeout=30)

    assert process.returncode == 1
    assert time.monotonic() - sent_at < 5
    (summary,) = [
        e
        for e in map(json.loads, out.splitlines())
        if e["event"] == "inventory_sync.profile_finished"
    ]
    assert "SIGTERM received" in summary["error"]
    job.failed_state("eu")


@pytest.mark.parametrize(
    ("target", "fault"),
    [
        pytest.param(F, Fault("status", status=502, nth=frozenset(range(2, 99))), id="fluent-502"),
        pytest.param(C, Fault("status", on="mutation", status=503, rate=1.0), id="ct-503"),
        pytest.param(C, Fault("conflict", on="update", rate=1.0), id="ct-conflict-endless"),
    ],
)
def test_a_failed_delta_keeps_the_saved_window_and_the_next_run_recovers_it(
    job: Job, fluent: FluentEmulator, ct: CommercetoolsEmulator, target: str, fault: Fault
) -> None:
    """With a window already saved, a failed run leaves ``previousEndDate`` exactly as it
    was; the next clean run re-reads from there and writes what the failed one missed."""
    expected = seed(fluent, ct, n=30)
    job.profiles(EU)
    assert job.run("run", env=SMALL).returncode == 0
    saved = job.state("eu")
    assert saved is not None
    assert saved["previousEndDate"] is not None
    for i in range(0, 30, 2):  # changed in the master after the saved window's end
        sku = f"SKU-{i:03d}"
        fluent.upsert_position("AGG_EU", sku, sku, 1000 + i)
        expected[sku] = 1000 + i
    (fluent if target == F else ct).faults.add(fault)

    faulty = job.run("run", env=SMALL)

    assert faulty.returncode == 1, faulty.stdout[-2000:]
    state = job.state("eu")
    assert state is not None
    assert state["previousEndDate"] == saved["previousEndDate"]
    assert state["lastRun"]["status"] == "FAILED"
    assert ct.entries("eu-warehouse") != expected

    (fluent if target == F else ct).faults.clear()
    clean = job.run("run", env=SMALL)

    assert clean.returncode == 0, clean.stdout[-2000:]
    assert ct.entries("eu-warehouse") == expected
    assert clean.summary("eu")["window_start"] is not None  # a delta, not a full sync
    after = job.state("eu")
    assert after is not None
    assert after["previousEndDate"] > saved["previousEndDate"]
