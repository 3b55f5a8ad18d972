"""The example alert rules and dashboard only name metrics the job really pushes."""

from __future__ import annotations

import json
import re
from pathlib import Path

import yaml

from inventory_sync.metrics import RunMetrics, exposition

FILES = Path(__file__).resolve().parents[2] / "chart" / "files"
NAME = re.compile(r"\binventory_sync_[a-z_]+\b")


def pushed_names() -> set[str]:
    metrics = RunMetrics()
    metrics.set_status("success", at=1)
    metrics.set_status("failed", at=1)
    metrics.http_requests.labels("fluent", "2xx").inc()
    metrics.retries.labels("fluent").inc()
    text = exposition({"p": metrics.registry}).decode()
    return {
        line.split("{")[0].split(" ")[0] for line in text.splitlines() if not line.startswith("#")
    }


def test_alert_rules_are_well_formed_and_use_real_metrics() -> None:
    rules = yaml.safe_load((FILES / "alerts.yaml").read_text())["groups"][0]["rules"]
    names = pushed_names()
    assert {r["alert"] for r in rules} >= {
        "InventorySyncStale",
        "InventorySyncFailedPositions",
        "InventorySyncLagHigh",
    }
    for rule in rules:
        assert set(rule) == {"alert", "expr", "for", "labels", "annotations"}
        used = set(NAME.findall(rule["expr"]))
        assert used
        assert used <= names, rule["alert"]


def test_dashboard_is_json_and_uses_real_metrics() -> None:
    dashboard = json.loads((FILES / "dashboard.json").read_text())
    names = pushed_names()
    exprs = [t["expr"] for panel in dashboard["panels"] for t in panel["targets"]]
    assert len(exprs) >= 6
    for expr in exprs:
        assert set(NAME.findall(expr)) <= names, expr
