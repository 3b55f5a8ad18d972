"""Extension points and operator tools (ensureChannel, ...)."""

from __future__ import annotations

from tests.emulators.commercetools import CommercetoolsEmulator
from tests.emulators.fluent import FluentEmulator

from .conftest import Job

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
    import json

    from inventory_sync.documents import bundled

    ct.add_channel("eu-warehouse")
    fluent.upsert_position("AGG_EU", "A", "A", 4, updated_on=OLD)
    job.profiles(("eu", "eu-warehouse", "AGG_EU"))
    custom = job.workdir / "positions.graphql"
    custom.write_text(
        bundled("GetAggregateVirtualPositions").replace(
            "        status\n", "        status\n        id\n        createdOn\n"
        )
    )
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
