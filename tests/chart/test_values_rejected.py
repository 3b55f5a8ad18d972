"""Values the chart refuses: by the schema or by a template check, naming the value to fix.

The schema is checked by `helm lint`, `helm template` and `helm install`. The template checks
(``fail`` in _helpers.tpl: relations between values that a JSON schema cannot express) stop
`helm template` and `helm install`; `helm lint` only logs them, by Helm's design.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from .conftest import CHART, Helm

PROFILE = {"name": "eu", "ctChannelKey": "eu-wh", "fluentAggregateVirtualCatalogueRef": "AGG_EU"}

# (id, values on top of the defaults, what the message must name)
SCHEMA_CASES: list[tuple[str, dict[str, Any], list[str]]] = [
    ("wrong-type-int", {"shards": "two"}, ["/shards", "integer"]),
    ("wrong-type-bool", {"suspend": "yes"}, ["/suspend", "boolean"]),
    ("wrong-type-string", {"schedule": 5}, ["/schedule", "string"]),
    ("wrong-type-nested", {"networkPolicy": {"enabled": "true"}}, ["/networkPolicy/enabled"]),
    ("unknown-top-level-key", {"replicaCount": 2}, ["replicaCount"]),
    ("unknown-nested-key", {"credentials": {"fluentPasword": "x"}}, ["fluentPasword"]),
    ("state-backend-file", {"state": {"backend": "file"}}, ["/state/backend", "configmap"]),
    ("empty-profiles", {"profiles": []}, ["/profiles"]),
    ("resources-typo", {"resources": {"limit": {"cpu": "1"}}}, ["/resources", "limit"]),
    (
        "resources-bad-quantity",
        {"resources": {"limits": {"cpu": "banana"}}},
        ["/resources/limits/cpu"],
    ),
    ("toleration-typo", {"tolerations": [{"key": "a", "effekt": "NoSchedule"}]}, ["effekt"]),
    (
        "profile-missing-field",
        {"profiles": [{"name": "eu", "ctChannelKey": "x"}]},
        ["/profiles/0", "fluentAggregateVirtualCatalogueRef"],
    ),
    (
        "profile-bad-name",
        {"profiles": [{**PROFILE, "name": "EU West"}]},
        ["/profiles/0/name"],
    ),
    ("profile-unknown-key", {"profiles": [{**PROFILE, "channel": "x"}]}, ["channel"]),
    ("concurrency-policy", {"concurrencyPolicy": "Never"}, ["/concurrencyPolicy"]),
    ("bad-schedule", {"schedule": "every five minutes"}, ["/schedule"]),
    ("negative-backoff", {"backoffLimit": -1}, ["/backoffLimit"]),
    ("zero-shards", {"shards": 0}, ["/shards"]),
    ("negative-max-failed-indexes", {"maxFailedIndexes": -1}, ["/maxFailedIndexes"]),
    ("redis-without-url", {"state": {"backend": "redis"}}, ["/state/redis/url"]),
    ("config-not-a-setting", {"config": {"page_size": 10}}, ["/config", "page_size"]),
    ("bad-fluent-url", {"fluent": {"url": "acme.fluentretail.com"}}, ["/fluent/url"]),
    ("pull-policy", {"image": {"pullPolicy": "Sometimes"}}, ["/image/pullPolicy"]),
    (
        "pod-condition-without-status",
        {
            "podFailurePolicy": {
                "rules": [{"action": "Ignore", "onPodConditions": [{"type": "DisruptionTarget"}]}]
            }
        },
        ["/podFailurePolicy/rules/0/onPodConditions/0", "status"],
    ),
    (
        "pod-failure-policy-unknown-action",
        {"podFailurePolicy": {"rules": [{"action": "Retry"}]}},
        ["/podFailurePolicy/rules/0/action"],
    ),
]

TEMPLATE_CASES: list[tuple[str, dict[str, Any], list[str]]] = [
    (
        "duplicate-profile-names",
        {"profiles": [PROFILE, {**PROFILE, "ctChannelKey": "other"}]},
        ["profiles[1].name", '"eu"'],
    ),
    ("more-shards-than-profiles", {"shards": 2}, ["shards: 2", "1 profile"]),
    (
        "more-failed-indexes-than-shards",
        {"shards": 2, "maxFailedIndexes": 3, "profiles": [PROFILE, {**PROFILE, "name": "us"}]},
        ["maxFailedIndexes: 3", "shards (2)"],
    ),
    (
        "fail-index-without-shards",
        {
            "podFailurePolicy": {
                "rules": [{"action": "FailIndex", "onExitCodes": {"operator": "In", "values": [2]}}]
            }
        },
        ["podFailurePolicy.rules[0].action", "FailIndex", "shards > 1"],
    ),
    (
        "run-deadline-not-below-active-deadline",
        {"runDeadlineSeconds": 225},
        ["runDeadlineSeconds: 225", "stop grace (20 s)", "activeDeadlineSeconds (240)"],
    ),
    (
        "termination-grace-not-above-stop-grace",
        {"terminationGracePeriodSeconds": 20},
        ["terminationGracePeriodSeconds: 20", "stop grace (20 s)"],
    ),
    (
        "run-deadline-plus-configured-grace",
        {"config": {"INVENTORY_SYNC_STOP_GRACE_SECONDS": 45}},
        ["runDeadlineSeconds: 210", "stop grace (45 s)"],
    ),
    (
        "credential-in-config",
        {"config": {"INVENTORY_SYNC_CT_CLIENT_SECRET": "x"}},
        ["config.INVENTORY_SYNC_CT_CLIENT_SECRET", "Secret"],
    ),
    (
        "credential-in-extra-env",
        {"extraEnv": [{"name": "INVENTORY_SYNC_FLUENT_PASSWORD", "value": "x"}]},
        ["extraEnv[0].name", "INVENTORY_SYNC_FLUENT_PASSWORD"],
    ),
    (
        "chart-managed-setting-in-config",
        {"config": {"INVENTORY_SYNC_STATE_BACKEND": "file"}},
        ["config.INVENTORY_SYNC_STATE_BACKEND"],
    ),
    (
        "password-in-redis-url",
        {"state": {"backend": "redis", "redis": {"url": "rediss://:hunter2@redis:6379/0"}}},
        ["state.redis.url", "redisPassword"],
    ),
    (
        "network-policy-without-api-server",
        {"networkPolicy": {"enabled": True}},
        ["networkPolicy.kubernetesApi.cidrs"],
    ),
]


def _refused(helm: Helm, tmp_path: Path, values: dict[str, Any], command: str) -> str:
    values_file = tmp_path / "values.yaml"
    values_file.write_text(yaml.safe_dump(values), encoding="utf-8")
    if command == "lint":
        done = helm.run("lint", "--strict", CHART, "--values", values_file)
    else:
        done = helm.template("--values", values_file)
    assert done.returncode != 0, f"helm {command} accepted {values}"
    return done.stdout + done.stderr


@pytest.mark.parametrize("command", ["template", "lint"])
@pytest.mark.parametrize(
    ("values", "named"),
    [pytest.param(v, n, id=i) for i, v, n in SCHEMA_CASES],
)
def test_schema_refuses(
    helm: Helm, tmp_path: Path, command: str, values: dict[str, Any], named: list[str]
) -> None:
    message = _refused(helm, tmp_path, values, command)
    assert "don't meet the specifications of the schema" in message
    for part in named:
        assert part in message, message


@pytest.mark.parametrize(
    ("values", "named"),
    [pytest.param(v, n, id=i) for i, v, n in TEMPLATE_CASES],
)
def test_template_checks_refuse(
    helm: Helm, tmp_path: Path, values: dict[str, Any], named: list[str]
) -> None:
    message = _refused(helm, tmp_path, values, "template")
    for part in named:
        assert part in message, message
