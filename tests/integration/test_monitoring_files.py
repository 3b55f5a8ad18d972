"""The example alert rules and dashboard only name metrics the job really pushes, and
the README's metrics table lists exactly those metrics."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import yaml

from inventory_sync.metrics import SKIPPED_SENDS, RunMetrics, exposition

ROOT = Path(__file__).resolve().parents[2]
FILES = ROOT / "chart" / "files"
NAME = re.compile(r"\binventory_sync_[a-z_]+\b")


def pushed_names() -> set[str]:
    metrics = RunMetrics()
    metrics.set_status("success", at=1)
    metrics.set_status("failed", at=1)
    text = exposition({"p": metrics.registry}).decode()
    return {
        line.split("{")[0].split(" ")[0] for line in text.splitlines() if not line.startswith("#")
    }


def rules() -> dict[str, dict[str, Any]]:
    document = yaml.safe_load((FILES / "alerts.yaml").read_text())
    (group,) = document["groups"]
    return {r["alert"]: r for r in group["rules"]}


def squeezed(expr: str) -> str:
    return " ".join(expr.split())


def test_alert_rules_are_well_formed_and_use_real_metrics() -> None:
    found = rules()
    names = pushed_names()
    assert set(found) >= {
        "InventorySyncStale",
        "InventorySyncNeverSucceeded",
        "InventorySyncFailedPositions",
        "InventorySyncLagHigh",
        "InventorySyncLastRunFailed",
    }
    for name, rule in found.items():
        assert set(rule) == {"alert", "expr", "for", "labels", "annotations"}, name
        assert rule["expr"].count("(") == rule["expr"].count(")"), name
        used = set(NAME.findall(rule["expr"]))
        assert used, name
        assert used <= names, name


def test_a_profile_that_never_succeeded_has_its_own_alert() -> None:
    """InventorySyncStale compares with a last success, which such a profile has not
    pushed (test_metrics shows the Pushgateway then holds run_status and no success)."""
    rule = rules()["InventorySyncNeverSucceeded"]
    assert squeezed(rule["expr"]) == (
        "max by (job, profile) (inventory_sync_run_status)"
        " unless on (job, profile) inventory_sync_last_success_timestamp_seconds"
    )
    assert rule["for"] == "2h"  # the same 2 hours as InventorySyncStale


def test_no_alert_is_cleared_by_what_a_skipped_run_sends() -> None:
    """A skipped run sends only SKIPPED_SENDS: the lag, measured again (it only grows),
    and run_status with skipped = 1, failed = success = 0. So no rule may look at one
    status of run_status (its presence is fine); the last run's failure is told by the
    timestamps, which a skip does not send."""
    assert set(SKIPPED_SENDS) == {"inventory_sync_run_status", "inventory_sync_lag_seconds"}
    for name, rule in rules().items():
        assert "inventory_sync_run_status{" not in rule["expr"], name
    failed = squeezed(rules()["InventorySyncLastRunFailed"]["expr"])
    assert (
        "max by (job, profile) (inventory_sync_last_failure_timestamp_seconds)"
        " > max by (job, profile) (inventory_sync_last_success_timestamp_seconds)"
    ) in failed
    assert failed.endswith(
        " unless on (job, profile) inventory_sync_last_success_timestamp_seconds"
    )


def test_lag_high_fires_on_an_unknown_lag() -> None:
    """Without a previousEndDate the lag is pushed as +Inf, which ``> 1800`` keeps."""
    metrics = RunMetrics()
    metrics.set_lag(None)
    text = exposition({"p": metrics.registry}).decode()
    assert 'inventory_sync_lag_seconds{profile="p"} +Inf' in text
    assert squeezed(rules()["InventorySyncLagHigh"]["expr"]).endswith("> 1800")


def test_a_skipped_run_pushes_only_its_status_and_the_lag() -> None:
    metrics = RunMetrics()
    metrics.set_status("skipped", at=1)
    sent = {family.name for family in metrics.to_push().collect()}
    assert sent == set(SKIPPED_SENDS)
    metrics.set_status("failed", at=1)
    assert {family.name for family in metrics.to_push().collect()} > sent


def test_dashboard_is_json_and_uses_real_metrics() -> None:
    dashboard = json.loads((FILES / "dashboard.json").read_text())
    names = pushed_names()
    exprs = [t["expr"] for panel in dashboard["panels"] for t in panel["targets"]]
    assert len(exprs) >= 6
    for expr in exprs:
        assert set(NAME.findall(expr)) <= names, expr


def test_the_readme_lists_every_pushed_metric() -> None:
    readme = (ROOT / "README.md").read_text()
    section = readme.split("\n## Metrics\n", 1)[1].split("\n## ", 1)[0]
    documented = set(re.findall(r"^\| `(inventory_sync_[a-z_]+)` \|", section, re.MULTILINE))
    assert documented == pushed_names()
