"""Extension points and operator tools (ensureChannel, ...)."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from tests.emulators.commercetools import CommercetoolsEmulator
from tests.emulators.faults import Fault
from tests.emulators.fluent import FluentEmulator

from .conftest import Job, Result

OLD = "2026-01-01T00:00:00.000Z"


def ensure_profile(job: Job, ensure: bool) -> None:
    (job.workdir / "profiles.yaml").write_text(
        "profiles:\n"
        "  - name: eu\n"
        "    ctChannelKey: new-warehouse\n"
        "    fluentAggregateVirtualCatalogueRef: AGG_EU\n"
        f"    ensureChannel: {str(ensure).lower()}\n"
    )


def test_ensure_channel_creates_a_missing_supply_channel(
    job: Job, fluent: FluentEmulator, ct: CommercetoolsEmulator
) -> None:
    fluent.upsert_position("AGG_EU", "A", "A", 4, updated_on=OLD)
    ensure_profile(job, True)

    result = job.run("run")

    assert result.returncode == 0, result.stdout
    channel = ct.store.channel(key="new-warehouse")
    assert channel is not None
    assert channel["roles"] == ["InventorySupply"]
    (created,) = result.named("inventory_sync.channel_created")
    assert created["id"] == channel["id"]
    assert ct.entries("new-warehouse") == {"A": 4}
    again = job.run("run", "--full")
    assert again.named("inventory_sync.channel_created") == []


def test_without_ensure_channel_a_missing_channel_fails_the_profile(
    job: Job, fluent: FluentEmulator, ct: CommercetoolsEmulator
) -> None:
    fluent.upsert_position("AGG_EU", "A", "A", 4, updated_on=OLD)
    ensure_profile(job, False)

    result = job.run("run")

    assert result.returncode == 1
    assert "no channel with key 'new-warehouse'" in result.summary("eu")["error"]
    assert ct.store.channel(key="new-warehouse") is None


def test_ensure_channel_in_a_dry_run_only_plans(
    job: Job, fluent: FluentEmulator, ct: CommercetoolsEmulator
) -> None:
    fluent.upsert_position("AGG_EU", "A", "A", 4, updated_on=OLD)
    ensure_profile(job, True)

    result = job.run("run", "--dry-run")

    assert result.returncode == 0, result.stdout
    assert ct.store.channel(key="new-warehouse") is None
    assert len(result.named("inventory_sync.planned_channel")) == 1
    (planned,) = result.named("inventory_sync.planned")
    assert (planned["action"], planned["sku"], planned["quantity"]) == ("create", "A", 4)


def test_a_custom_document_is_sent_and_a_bad_one_stops_the_run(
    job: Job, fluent: FluentEmulator, ct: CommercetoolsEmulator
) -> None:
    from inventory_sync.documents import bundled

    ct.add_channel("eu-warehouse")
    fluent.upsert_position("AGG_EU", "A", "A", 4, updated_on=OLD)
    job.profiles(("eu", "eu-warehouse", "AGG_EU"))
    custom = job.workdir / "positions.graphql"
    more = bundled("GetAggregateVirtualPositions").replace(
        "        quantity\n", "        quantity\n        status\n        id\n        createdOn\n"
    )
    assert "createdOn" in more
    custom.write_text(more)
    env = {
        "INVENTORY_SYNC_GRAPHQL_DOCUMENTS": json.dumps(
            {"GetAggregateVirtualPositions": str(custom)}
        )
    }

    result = job.run("run", env=env)

    assert result.returncode == 0, result.stdout
    assert ct.entries("eu-warehouse") == {"A": 4}

    custom.write_text(bundled("GetAggregateVirtualPositions").replace("        quantity\n", ""))
    broken = job.run("run", "--full", env=env)

    assert broken.returncode == 2
    assert "must still select virtualPositions.edges.node.quantity" in broken.stderr
    assert str(custom) in broken.stderr


PLUGINS = str(Path(__file__).parent / "plugins")


def mapper_env(job: Job, mapper: str) -> dict[str, str]:
    return {"INVENTORY_SYNC_MAPPER": mapper, "PYTHONPATH": f"{job.env['PYTHONPATH']}:{PLUGINS}"}


def seed_abc(fluent: FluentEmulator, ct: CommercetoolsEmulator, job: Job) -> None:
    ct.add_channel("eu-warehouse")
    for ref, qty in (("A", 5), ("B", 1), ("C", 9)):
        fluent.upsert_position("AGG_EU", ref, ref, qty, updated_on=OLD)
    job.profiles(("eu", "eu-warehouse", "AGG_EU"))


def test_a_mapper_renames_skus(job: Job, fluent: FluentEmulator, ct: CommercetoolsEmulator) -> None:
    seed_abc(fluent, ct, job)
    result = job.run("run", env=mapper_env(job, "sample_mappers:prefixed"))
    assert result.returncode == 0, result.stdout
    assert ct.entries("eu-warehouse") == {"CT-A": 5, "CT-B": 1, "CT-C": 9}


def test_a_safety_stock_mapper_and_clamping(
    job: Job, fluent: FluentEmulator, ct: CommercetoolsEmulator
) -> None:
    seed_abc(fluent, ct, job)
    result = job.run("run", env=mapper_env(job, "sample_mappers:safety_stock"))
    assert result.returncode == 0
    assert ct.entries("eu-warehouse") == {"A": 3, "B": 0, "C": 7}
    assert result.summary("eu")["clamped"] == 1


def test_an_allow_list_mapper_skips(
    job: Job, fluent: FluentEmulator, ct: CommercetoolsEmulator
) -> None:
    seed_abc(fluent, ct, job)
    result = job.run("run", env=mapper_env(job, "sample_mappers:allow_list"))
    assert result.returncode == 0
    assert ct.entries("eu-warehouse") == {"A": 5, "B": 1}
    assert result.summary("eu")["skipped"] == 1


def test_a_mapper_that_raises_fails_that_position_only(
    job: Job, fluent: FluentEmulator, ct: CommercetoolsEmulator
) -> None:
    seed_abc(fluent, ct, job)
    result = job.run("run", env=mapper_env(job, "sample_mappers:fragile"))
    assert result.returncode == 1
    assert ct.entries("eu-warehouse") == {"A": 5, "C": 9}
    summary = result.summary("eu")
    assert summary["failed"] == 1
    assert summary["failures"] == ["B: MapperError"]
    state = job.state("eu")
    assert state is not None
    assert state["lastRun"]["failures"] == [{"sku": "B", "code": "MapperError"}]
    assert state["previousEndDate"] is None


def test_a_mapper_from_an_entry_point(
    job: Job, fluent: FluentEmulator, ct: CommercetoolsEmulator, tmp_path: Path
) -> None:
    dist = tmp_path / "site" / "acme_mappers-1.0.dist-info"
    dist.mkdir(parents=True)
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: acme-mappers\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text(
        "[inventory_sync.mappers]\nacme = sample_mappers:prefixed\n"
    )
    seed_abc(fluent, ct, job)
    env = mapper_env(job, "acme")
    env["PYTHONPATH"] += f":{tmp_path / 'site'}"
    result = job.run("run", env=env)
    assert result.returncode == 0, result.stdout
    assert ct.entries("eu-warehouse") == {"CT-A": 5, "CT-B": 1, "CT-C": 9}


@pytest.mark.parametrize(
    ("mapper", "needle"),
    [
        ("sample_mappers:missing", "cannot be imported"),
        ("no_such_module:f", "cannot be imported"),
        ("sample_mappers:NOT_CALLABLE", "is not callable"),
        ("sample_mappers:two_arguments", "must take one argument"),
        ("nobody", "no entry point 'nobody'"),
    ],
)
def test_a_mapper_that_cannot_be_used_is_a_config_error(
    job: Job, fluent: FluentEmulator, ct: CommercetoolsEmulator, mapper: str, needle: str
) -> None:
    seed_abc(fluent, ct, job)
    result = job.run("run", env=mapper_env(job, mapper))
    assert result.returncode == 2
    assert f"INVENTORY_SYNC_MAPPER={mapper!r}" in result.stderr
    assert needle in result.stderr
    assert ct.stats()["token"] == 0


def seed_reconcile(fluent: FluentEmulator, ct: CommercetoolsEmulator, job: Job) -> None:
    ct.add_channel("eu-warehouse")
    ct.add_channel("other")
    fluent.upsert_position("AGG_EU", "A", "A", 5, updated_on=OLD)
    fluent.upsert_position("AGG_EU", "bad", "bad", None, updated_on=OLD)
    ct.add_entry("A", "eu-warehouse", 1)
    ct.add_entry("bad", "eu-warehouse", 3)  # the master has it, with no usable quantity
    for n in range(7):
        ct.add_entry(f"gone-{n}", "eu-warehouse", n + 1)  # the master no longer has these
    ct.add_entry("zero-already", "eu-warehouse", 0)
    ct.add_entry("gone-0", "other", 4)  # another channel: never touched
    job.profiles(("eu", "eu-warehouse", "AGG_EU"))


def test_zero_missing_sets_entries_the_master_does_not_have_to_zero(
    job: Job, fluent: FluentEmulator, ct: CommercetoolsEmulator
) -> None:
    seed_reconcile(fluent, ct, job)

    result = job.run("run", "--full", "--zero-missing", env={"INVENTORY_SYNC_BATCH_SIZE": "3"})

    assert result.returncode == 0, result.stdout
    expected = {"A": 5, "bad": 3, "zero-already": 0, **{f"gone-{n}": 0 for n in range(7)}}
    assert ct.entries("eu-warehouse") == expected
    assert ct.entries("other") == {"gone-0": 4}
    summary = result.summary("eu")
    assert (summary["zeroed"], summary["updated"]) == (7, 1)


def test_zero_missing_in_a_dry_run_only_reports(
    job: Job, fluent: FluentEmulator, ct: CommercetoolsEmulator
) -> None:
    seed_reconcile(fluent, ct, job)
    before = ct.entries("eu-warehouse")
    report = job.workdir / "changes.csv"

    result = job.run("run", "--full", "--zero-missing", "--dry-run", "--report", str(report))

    assert result.returncode == 0
    assert ct.entries("eu-warehouse") == before
    assert result.summary("eu")["zeroed"] == 7
    rows = list(csv.DictReader(report.read_text().splitlines()))
    assert {
        (r["sku"], r["action"], r["old_quantity"], r["new_quantity"], r["result"]) for r in rows
    } == {
        ("A", "update", "1", "5", "planned"),
        *{(f"gone-{n}", "zero", str(n + 1), "0", "planned") for n in range(7)},
    }


def test_zero_missing_needs_full(
    job: Job, fluent: FluentEmulator, ct: CommercetoolsEmulator
) -> None:
    seed_reconcile(fluent, ct, job)
    result = job.run("run", "--zero-missing")
    assert result.returncode == 2
    assert "--zero-missing needs --full" in result.stderr


def test_the_report_equals_what_was_written(
    job: Job, fluent: FluentEmulator, ct: CommercetoolsEmulator
) -> None:
    seed_abc(fluent, ct, job)
    ct.add_entry("A", "eu-warehouse", 2)
    ct.add_entry("C", "eu-warehouse", 9)
    ct.faults.add(Fault("status", on="mutation", status=400, nth=frozenset({2})))
    report = job.workdir / "changes.jsonl"

    result = job.run(
        "run",
        "--report",
        str(report),
        env={"INVENTORY_SYNC_BATCH_SIZE": "1", "INVENTORY_SYNC_CT_CONCURRENCY": "1"},
    )

    lines = [json.loads(line) for line in report.read_text().splitlines()]
    assert all(
        set(line) == {"profile", "sku", "action", "old_quantity", "new_quantity", "result"}
        for line in lines
    )
    by_sku = {line["sku"]: line for line in lines}
    assert set(by_sku) == {"A", "B"}  # C was already equal: no change, no line
    written = ct.entries("eu-warehouse")
    for sku, line in by_sku.items():
        if line["result"] in ("created", "updated"):
            assert written[sku] == line["new_quantity"]
        else:
            assert line["result"] == "failed:400"
            assert written.get(sku) != line["new_quantity"]
    # creates go first: B's create is mutation 1, A's update mutation 2 (refused)
    assert (by_sku["B"]["result"], by_sku["A"]["result"]) == ("created", "failed:400")
    assert by_sku["A"]["old_quantity"] == 2
    assert result.returncode == 1


def test_zero_missing_keeps_skus_the_master_changed_within_the_settle_lag(
    job: Job, fluent: FluentEmulator, ct: CommercetoolsEmulator
) -> None:
    seed_reconcile(fluent, ct, job)
    fluent.upsert_position("AGG_EU", "fresh", "fresh", 8)  # updated now: after the window's end
    ct.add_entry("fresh", "eu-warehouse", 6)

    result = job.run(
        "run", "--full", "--zero-missing", env={"INVENTORY_SYNC_SETTLE_LAG_SECONDS": "60"}
    )

    assert result.returncode == 0, result.stdout
    assert ct.entries("eu-warehouse")["fresh"] == 6  # not zeroed; the next run writes 8
    assert result.summary("eu")["zeroed"] == 7


def reconcile_with_mapper(
    job: Job,
    fluent: FluentEmulator,
    ct: CommercetoolsEmulator,
    mapper: str,
    master: dict[str, int | None],
    entries: dict[str, int],
) -> Result:
    """``run --full --zero-missing`` with ``mapper``, the master's positions (ref →
    quantity) and the channel's entries (sku → quantity) seeded first."""
    ct.add_channel("eu-warehouse")
    for ref, quantity in master.items():
        fluent.upsert_position("AGG_EU", ref, ref, quantity, updated_on=OLD)
    for sku, quantity in entries.items():
        ct.add_entry(sku, "eu-warehouse", quantity)
    job.profiles(("eu", "eu-warehouse", "AGG_EU"))
    return job.run("run", "--full", "--zero-missing", env=mapper_env(job, mapper))


def test_zero_missing_with_a_renaming_mapper_spares_what_the_master_has(
    job: Job, fluent: FluentEmulator, ct: CommercetoolsEmulator
) -> None:
    """Invalid positions are spared under their mapped SKU, not only their ref."""
    result = reconcile_with_mapper(
        job,
        fluent,
        ct,
        "sample_mappers:prefixed",
        {"A": 5, "bad": None},  # the master has "bad", with an unusable quantity
        {"CT-A": 1, "CT-bad": 3, "CT-gone": 4},
    )

    assert result.returncode == 0, result.stdout
    assert ct.entries("eu-warehouse") == {"CT-A": 5, "CT-bad": 3, "CT-gone": 0}
    assert result.summary("eu")["zeroed"] == 1


def test_zero_missing_with_an_allow_list_spares_skipped_refs(
    job: Job, fluent: FluentEmulator, ct: CommercetoolsEmulator
) -> None:
    result = reconcile_with_mapper(
        job,
        fluent,
        ct,
        "sample_mappers:allow_list",
        {"A": 5, "C": 6},
        {"C": 2, "gone": 4},  # C is not on the allow list: not this job's to touch
    )

    assert result.returncode == 0, result.stdout
    assert ct.entries("eu-warehouse") == {"A": 5, "C": 2, "gone": 0}


def test_zero_missing_zeroes_nothing_when_a_position_failed(
    job: Job, fluent: FluentEmulator, ct: CommercetoolsEmulator
) -> None:
    """A mapper error hides which SKU the position stands for: zeroing could take stock
    the master has (here B) off sale, so a run with failures zeroes nothing."""
    result = reconcile_with_mapper(
        job, fluent, ct, "sample_mappers:fragile", {"A": 5, "B": 7}, {"B": 7, "gone": 4}
    )

    assert result.returncode == 1
    assert ct.entries("eu-warehouse") == {"A": 5, "B": 7, "gone": 4}
    assert result.summary("eu")["zeroed"] == 0
    (skipped,) = result.named("inventory_sync.zero_missing_skipped")
    assert "1 position(s) failed" in skipped["reason"]


def test_zero_missing_zeroes_nothing_when_a_renaming_mapper_skips_by_quantity(
    job: Job, fluent: FluentEmulator, ct: CommercetoolsEmulator
) -> None:
    """X is skipped (quantity 2) by a mapper that renames: its entry CT-X cannot be told
    from one the master lacks, so nothing is zeroed."""
    result = reconcile_with_mapper(
        job,
        fluent,
        ct,
        "sample_mappers:prefixed_above_threshold",
        {"A": 5, "X": 2},
        {"CT-X": 5, "CT-gone": 4},
    )

    assert result.returncode == 0, result.stdout
    assert ct.entries("eu-warehouse") == {"CT-A": 5, "CT-X": 5, "CT-gone": 4}
    (skipped,) = result.named("inventory_sync.zero_missing_skipped")
    assert "named none for 1 position(s)" in skipped["reason"]
