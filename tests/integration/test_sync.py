"""End to end: the CLI against the emulators; assertions on the data both sides hold."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from inventory_sync.model import parse_timestamp
from tests.emulators.commercetools import CommercetoolsEmulator
from tests.emulators.fluent import FluentEmulator

from .conftest import Job

OLD = "2026-01-01T00:00:00.000Z"
EU = ("eu", "eu-warehouse", "AGG_EU")
US = ("us", "us-warehouse", "AGG_US")


def seed_eu(fluent: FluentEmulator, ct: CommercetoolsEmulator) -> dict[str, int]:
    """A small catalogue with every kind of position; returns what commercetools must hold."""
    positions = {
        "SKU-1": 5,
        "SKU-2": 0,
        'quote"sku': 7,
        "back\\slash": 8,
        "Bücher-Ø-12": 3,
        "same": 4,
        "differs": 9,
        "oversold": -3,
    }
    for ref, qty in positions.items():
        fluent.upsert_position("AGG_EU", ref, ref, qty, updated_on=OLD)
    fluent.upsert_position("AGG_EU", "null-qty", "null-qty", None, updated_on=OLD)
    fluent.upsert_position("AGG_EU", "empty-ref", "", 4, updated_on=OLD)
    fluent.upsert_position("AGG_EU", "inactive", "inactive", 6, status="INACTIVE", updated_on=OLD)
    fluent.upsert_position("AGG_OTHER", "SKU-1", "SKU-1", 99, updated_on=OLD)
    ct.add_channel("eu-warehouse")
    ct.add_entry("same", "eu-warehouse", 4)
    ct.add_entry("differs", "eu-warehouse", 1)
    ct.add_entry("oversold", "eu-warehouse", 12)
    ct.add_entry("null-qty", "eu-warehouse", 2)
    ct.add_entry("inactive", "eu-warehouse", 1)
    return {**positions, "oversold": 0, "null-qty": 2, "inactive": 1}


def test_full_then_delta_sync(job: Job, fluent: FluentEmulator, ct: CommercetoolsEmulator) -> None:
    expected = seed_eu(fluent, ct)
    job.profiles(EU)

    first = job.run("run")

    assert first.returncode == 0, first.stdout + first.stderr
    assert ct.entries("eu-warehouse") == expected
    summary = first.summary("eu")
    assert {
        k: summary[k]
        for k in ("fetched", "created", "updated", "unchanged", "invalid", "clamped", "failed")
    } == {
        "fetched": 10,
        "created": 5,
        "updated": 2,
        "unchanged": 1,
        "invalid": 2,
        "clamped": 1,
        "failed": 0,
    }
    assert summary["status"] == "SUCCESSFUL"
    assert summary["window_start"] is None
    invalid = {e["product_ref"] for e in first.named("inventory_sync.position_invalid")}
    assert invalid == {"null-qty", "''"}
    state = job.state("eu")
    assert state is not None
    assert list(state) == ["previousEndDate", "props", "lastRun"]
    assert state["props"] == {
        "ctChannelKey": "eu-warehouse",
        "fluentAggregateVirtualCatalogueRef": "AGG_EU",
    }
    assert state["lastRun"]["status"] == "SUCCESSFUL"
    assert state["lastRun"]["param"] == {
        "start": None,
        "end": state["previousEndDate"],
        "props": state["props"],
    }
    assert state["previousEndDate"].endswith("Z")
    assert state["previousEndDate"] == summary["window_end"]

    fluent.upsert_position("AGG_EU", "SKU-1", "SKU-1", 50)
    fluent.upsert_position("AGG_EU", "brand-new", "brand-new", 2)
    mutations_before = ct.stats()["mutation_fields"]

    second = job.run("run")

    assert second.returncode == 0, second.stdout + second.stderr
    delta = second.summary("eu")
    assert delta["fetched"] == 2
    assert (delta["created"], delta["updated"]) == (1, 1)
    assert ct.stats()["mutation_fields"] - mutations_before == 2
    assert ct.entries("eu-warehouse") == {**expected, "SKU-1": 50, "brand-new": 2}
    new_state = job.state("eu")
    assert new_state is not None
    overlap = timedelta(minutes=2)
    assert (
        parse_timestamp(delta["window_start"])
        == parse_timestamp(state["previousEndDate"]) - overlap
    )
    assert new_state["previousEndDate"] == delta["window_end"]
    assert new_state["lastRun"]["param"]["start"] == delta["window_start"]


def test_nothing_changed_sends_no_mutation(
    job: Job, fluent: FluentEmulator, ct: CommercetoolsEmulator
) -> None:
    seed_eu(fluent, ct)
    job.profiles(EU)
    assert job.run("run").returncode == 0
    before = ct.stats()["mutation_fields"]

    again = job.run("run", "--full")

    assert again.returncode == 0
    summary = again.summary("eu")
    assert (summary["created"], summary["updated"], summary["unchanged"]) == (0, 0, 8)
    assert ct.stats()["mutation_fields"] == before


def test_dry_run_reads_both_sides_and_writes_nothing(
    job: Job, fluent: FluentEmulator, ct: CommercetoolsEmulator
) -> None:
    seed_eu(fluent, ct)
    job.profiles(EU)
    before = ct.entries("eu-warehouse")

    result = job.run("run", "--dry-run")

    assert result.returncode == 0
    assert ct.entries("eu-warehouse") == before
    assert ct.stats()["mutation_fields"] == 0
    assert job.state("eu") is None
    planned = {
        (e["action"], e["sku"], e["old_quantity"], e["quantity"])
        for e in result.named("inventory_sync.planned")
    }
    assert ("update", "differs", 1, 9) in planned
    assert ("update", "oversold", 12, 0) in planned
    assert ("create", 'quote"sku', None, 7) in planned
    assert len(planned) == 7


def test_profiles_run_concurrently_and_one_failure_does_not_stop_the_other(
    job: Job, fluent: FluentEmulator, ct: CommercetoolsEmulator
) -> None:
    expected = seed_eu(fluent, ct)
    fluent.upsert_position("AGG_US", "US-1", "US-1", 1, updated_on=OLD)
    job.profiles(EU, US)  # no channel us-warehouse in commercetools

    result = job.run("run")

    assert result.returncode == 1
    assert ct.entries("eu-warehouse") == expected
    assert result.summary("eu")["status"] == "SUCCESSFUL"
    us = result.summary("us")
    assert us["status"] == "FAILED"
    assert "us-warehouse" in us["error"]
    job.failed_state("us")


def test_failed_run_keeps_the_window_and_never_logs_secrets(
    job: Job, fluent: FluentEmulator, ct: CommercetoolsEmulator
) -> None:
    seed_eu(fluent, ct)
    job.profiles(EU)
    assert job.run("run").returncode == 0
    saved = job.state("eu")
    assert saved is not None
    fluent.upsert_position("AGG_EU", "SKU-1", "SKU-1", 77)

    failed = job.run("run", env={"INVENTORY_SYNC_CT_CLIENT_SECRET": "wrong-secret-value"})

    assert failed.returncode == 1
    assert "wrong-secret-value" not in failed.stdout + failed.stderr
    assert "client 'ct-client'" in failed.summary("eu")["error"]
    state = job.state("eu")
    assert state is not None
    assert state["previousEndDate"] == saved["previousEndDate"]
    assert state["lastRun"]["status"] == "FAILED"
    assert ct.entries("eu-warehouse")["SKU-1"] == 5

    recovered = job.run("run")

    assert recovered.returncode == 0
    assert ct.entries("eu-warehouse")["SKU-1"] == 77


def test_a_token_that_expires_mid_run_is_refreshed(
    job: Job, fluent: FluentEmulator, ct: CommercetoolsEmulator
) -> None:
    fluent.tokens.ttl_s = 1
    fluent.latency_ms = 100  # 15 pages: longer than the token lives
    ct.add_channel("eu-warehouse")
    for n in range(30):
        fluent.upsert_position("AGG_EU", f"S{n}", f"S{n}", n, updated_on=OLD)
    job.profiles(EU)

    result = job.run("run", env={"INVENTORY_SYNC_PAGE_SIZE": "2"})

    assert result.returncode == 0, result.stdout
    assert fluent.requests["/oauth/token"] >= 2
    assert ct.entries("eu-warehouse") == {f"S{n}": n for n in range(30)}


def test_nine_digit_zoneless_previous_end_date_is_read(
    job: Job, fluent: FluentEmulator, ct: CommercetoolsEmulator
) -> None:
    ct.add_channel("eu-warehouse")
    fluent.upsert_position("AGG_EU", "old", "old", 1, updated_on="2022-10-20T04:00:00Z")
    fluent.upsert_position("AGG_EU", "recent", "recent", 2, updated_on="2022-10-20T04:11:00Z")
    job.profiles(EU)
    (job.workdir / "state").mkdir()
    (job.workdir / "state" / "eu.json").write_text(
        json.dumps(
            {
                "previousEndDate": "2022-10-20T04:12:08.812570167",
                "props": {
                    "ctChannelKey": "eu-warehouse",
                    "fluentAggregateVirtualCatalogueRef": "AGG_EU",
                },
                "lastRun": {
                    "param": {
                        "start": None,
                        "end": "2022-10-20T04:12:08.812570167",
                        "props": {
                            "ctChannelKey": "eu-warehouse",
                            "fluentAggregateVirtualCatalogueRef": "AGG_EU",
                        },
                    },
                    "jobStart": "2022-10-20T04:12:38.1",
                    "jobEnd": "2022-10-20T04:13:01",
                    "status": "SUCCESSFUL",
                },
            }
        )
    )

    result = job.run("run")

    assert result.returncode == 0, result.stdout
    summary = result.summary("eu")
    assert summary["window_start"] == "2022-10-20T04:10:08.812Z"
    assert summary["fetched"] == 1
    assert ct.entries("eu-warehouse") == {"recent": 2}
    state = job.state("eu")
    assert state is not None
    end = parse_timestamp(state["previousEndDate"])
    assert abs(end - datetime.now(UTC)) < timedelta(minutes=1)


def test_with_several_profiles_each_delta_reads_its_own_window(
    job: Job, fluent: FluentEmulator, ct: CommercetoolsEmulator
) -> None:
    """Each profile's window comes from its own record and its own props (a window
    built with another profile's props would see a changed profile: a full sync)."""
    for catalogue, channel in (("AGG_EU", "eu-warehouse"), ("AGG_US", "us-warehouse")):
        ct.add_channel(channel)
        for n in range(3):
            fluent.upsert_position(catalogue, f"{catalogue}-{n}", f"S-{n}", n, updated_on=OLD)
    job.profiles(EU, US)
    assert job.run("run").returncode == 0
    fluent.upsert_position("AGG_EU", "AGG_EU-0", "S-0", 10)
    fluent.upsert_position("AGG_US", "AGG_US-1", "S-1", 11)

    second = job.run("run")

    assert second.returncode == 0, second.stdout
    for name in ("eu", "us"):
        summary = second.summary(name)
        assert summary["window_start"] is not None, name
        assert summary["fetched"] == 1, name
    assert second.named("inventory_sync.profile_changed") == []
    assert ct.entries("eu-warehouse") == {"S-0": 10, "S-1": 1, "S-2": 2}
    assert ct.entries("us-warehouse") == {"S-0": 0, "S-1": 11, "S-2": 2}


def test_a_changed_profile_is_logged_once_and_synced_in_full(
    job: Job, fluent: FluentEmulator, ct: CommercetoolsEmulator
) -> None:
    seed_eu(fluent, ct)
    job.profiles(EU)
    assert job.run("run").returncode == 0
    ct.add_channel("eu-new")
    job.profiles(("eu", "eu-new", "AGG_EU"))

    result = job.run("run")

    assert result.returncode == 0, result.stdout
    (changed,) = result.named("inventory_sync.profile_changed")
    assert changed["now"]["ctChannelKey"] == "eu-new"
    assert result.summary("eu")["window_start"] is None


def test_a_dry_run_against_an_unreadable_state_fails_instead_of_planning_a_full_sync(
    job: Job, fluent: FluentEmulator, ct: CommercetoolsEmulator
) -> None:
    seed_eu(fluent, ct)
    job.profiles(EU)
    (job.workdir / "state").mkdir()
    (job.workdir / "state" / "eu.json").mkdir()  # a directory where the record should be

    result = job.run("run", "--dry-run")

    assert result.returncode == 1
    assert "state store" in result.summary("eu")["error"]
    assert result.named("inventory_sync.planned") == []
