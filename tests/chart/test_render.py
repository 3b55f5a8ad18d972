"""``helm template`` output: valid Kubernetes objects, and the properties the chart promises."""

from __future__ import annotations

import base64
import hashlib
import re
from pathlib import Path

import kubernetes_validate
import pytest
import yaml

from inventory_sync.profiles import parse_profiles
from inventory_sync.state.configmap import CHECK_PROBE, lease_name

from .conftest import (
    CASES,
    CREDENTIAL_FILES,
    KUBE_VERSION,
    NAMESPACE,
    OLDEST_KUBE_VERSION,
    SECRETS_DIR,
    WRITABLE,
    Helm,
    Rendered,
    render,
)

CONFIGMAP_CASES = ["default", "configmap", "existing-secret", "sharded"]
CREDENTIAL_ENV = re.compile(r"^INVENTORY_SYNC_\w*(PASSWORD|SECRET|CLIENT_ID|USERNAME)$")


def fullname(r: Rendered) -> str:
    return str(r.values["fullnameOverride"] or "inv-inventory-sync")


def _validate(r: Rendered, case: str, version: str) -> None:
    assert r.docs
    for doc in r.docs:
        name = f"{doc['kind']}/{doc['metadata']['name']}"
        try:
            kubernetes_validate.validate(doc, version, strict=True)
        except kubernetes_validate.ValidationError as e:
            where = "/".join(str(p) for p in e.path)
            pytest.fail(
                f"{case} (Kubernetes {version}): {name} at {where}: {e.message}", pytrace=False
            )


@pytest.mark.parametrize("case", CASES)
def test_every_object_is_valid_for_kubernetes(rendered: dict[str, Rendered], case: str) -> None:
    _validate(rendered[case], case, KUBE_VERSION)


def test_the_oldest_kubernetes_the_chart_claims_has_schemas() -> None:
    """kubernetes-validate ships Chart.yaml's lower bound, so the next test really checks it."""
    shipped = kubernetes_validate.utils.all_versions()
    assert kubernetes_validate.utils.major_minor(OLDEST_KUBE_VERSION) in {
        kubernetes_validate.utils.major_minor(v) for v in shipped
    }, f"kubernetes-validate has no schemas for {OLDEST_KUBE_VERSION} (it has {shipped})"
    assert OLDEST_KUBE_VERSION != KUBE_VERSION


@pytest.mark.parametrize("case", CASES)
def test_every_object_is_valid_for_the_oldest_kubernetes_the_chart_claims(
    rendered_oldest: dict[str, Rendered], case: str
) -> None:
    _validate(rendered_oldest[case], case, OLDEST_KUBE_VERSION)


def test_helm_refuses_a_kubernetes_older_than_the_chart_claims(helm: Helm) -> None:
    major, minor, _ = OLDEST_KUBE_VERSION.split(".")
    older = f"{major}.{int(minor) - 1}.0"
    done = helm.template(kube_version=older)
    assert done.returncode != 0
    assert "kubeVersion" in done.stderr or "incompatible" in done.stderr, done.stderr


def _pod_conditions(r: Rendered) -> list[dict[str, object]]:
    policy = r.job_spec.get("podFailurePolicy") or {"rules": []}
    return [c for rule in policy["rules"] for c in rule.get("onPodConditions", [])]


@pytest.mark.parametrize("case", CASES)
def test_every_pod_condition_of_the_failure_policy_has_a_status(
    rendered: dict[str, Rendered], case: str
) -> None:
    """A CronJob's jobTemplate gets no defaulted `status` (kubernetes/kubernetes#131512):
    without one the API server refuses the CronJob ("onPodConditions[0].status: Required")."""
    conditions = _pod_conditions(rendered[case])
    assert conditions, "the default policy ignores disruptions"
    for condition in conditions:
        assert condition.get("status") in {"True", "False", "Unknown"}, condition
    assert {"type": "DisruptionTarget", "status": "True"} in conditions


@pytest.mark.parametrize("case", CASES)
def test_every_object_has_the_standard_labels(rendered: dict[str, Rendered], case: str) -> None:
    r = rendered[case]
    for doc in r.docs:
        labels = doc["metadata"]["labels"]
        assert labels["app.kubernetes.io/name"] == "inventory-sync"
        assert labels["app.kubernetes.io/instance"] == "inv"
        assert labels["app.kubernetes.io/managed-by"] == "Helm"
        assert labels["helm.sh/chart"] == "inventory-sync-0.1.0"
        assert labels["app.kubernetes.io/version"] == (r.values["image"]["tag"] or "0.1.0")
    assert r.pod["metadata"]["labels"]["app.kubernetes.io/instance"] == "inv"


@pytest.mark.parametrize("case", CASES)
def test_cronjob_fields_come_from_values(rendered: dict[str, Rendered], case: str) -> None:
    r = rendered[case]
    v = r.values
    spec = r.cronjob["spec"]
    assert spec["schedule"] == v["schedule"]
    assert spec.get("timeZone") == (v["timeZone"] or None)
    assert spec["suspend"] is v["suspend"]
    assert spec["concurrencyPolicy"] == v["concurrencyPolicy"]
    assert spec["startingDeadlineSeconds"] == v["startingDeadlineSeconds"]
    assert spec["successfulJobsHistoryLimit"] == v["successfulJobsHistoryLimit"]
    assert spec["failedJobsHistoryLimit"] == v["failedJobsHistoryLimit"]
    job = r.job_spec
    if v["shards"] > 1:  # per shard: see test_a_failing_shard_does_not_end_the_others
        assert job["backoffLimitPerIndex"] == v["backoffLimit"]
    else:
        assert job["backoffLimit"] == v["backoffLimit"]
    assert job["activeDeadlineSeconds"] == v["activeDeadlineSeconds"]
    assert job["ttlSecondsAfterFinished"] == v["ttlSecondsAfterFinished"]
    if v["shards"] == 1:
        assert job["podFailurePolicy"] == v["podFailurePolicy"]
    else:  # FailJob fails just that shard (see test_a_failing_shard_does_not_end_the_others)
        as_index = [
            {**rule, "action": "FailIndex"} if rule["action"] == "FailJob" else rule
            for rule in v["podFailurePolicy"]["rules"]
        ]
        assert job["podFailurePolicy"] == {"rules": as_index}
    assert r.pod_spec["restartPolicy"] == "Never"
    # a run ends (Kubernetes kills it) before the next one is due ...
    every = re.fullmatch(r"\*/(\d+) \* \* \* \*", v["schedule"])
    assert every is not None, "the ci files use */N minute schedules"
    assert job["activeDeadlineSeconds"] < int(every.group(1)) * 60
    # ... and the job stops itself before that, work in flight included
    deadline = int(r.env["INVENTORY_SYNC_RUN_DEADLINE_SECONDS"]["value"])
    grace = float(v["config"].get("INVENTORY_SYNC_STOP_GRACE_SECONDS", 20))
    assert deadline == v["runDeadlineSeconds"]
    assert deadline + grace < job["activeDeadlineSeconds"]


def test_cronjob_defaults(rendered: dict[str, Rendered]) -> None:
    r = rendered["default"]
    spec = r.cronjob["spec"]
    assert spec["schedule"] == "*/5 * * * *"
    assert spec["concurrencyPolicy"] == "Forbid"
    assert spec["suspend"] is False
    assert "timeZone" not in spec
    assert spec["startingDeadlineSeconds"] > 0
    assert r.job_spec["activeDeadlineSeconds"] < 300
    assert r.job_spec["podFailurePolicy"]["rules"][0] == {
        "action": "FailJob",
        "onExitCodes": {"containerName": "inventory-sync", "operator": "In", "values": [2]},
    }
    assert r.job_spec["podFailurePolicy"]["rules"][1] == {
        "action": "Ignore",
        "onPodConditions": [{"type": "DisruptionTarget", "status": "True"}],
    }
    assert r.container["image"] == "inventory-sync:0.1.0"
    assert r.container["args"] == ["run"]
    assert "command" not in r.container  # the image's ENTRYPOINT runs


def test_every_cronjob_field_is_a_value(helm: Helm, tmp_path: Path) -> None:
    r = render(
        helm,
        "default",
        {
            "schedule": "7 * * * *",
            "timeZone": "Europe/Berlin",
            "suspend": True,
            "concurrencyPolicy": "Replace",
            "startingDeadlineSeconds": None,
            "successfulJobsHistoryLimit": 1,
            "failedJobsHistoryLimit": 7,
            "backoffLimit": 2,
            "activeDeadlineSeconds": 1_000_000,
            "runDeadlineSeconds": 999_000,
            "ttlSecondsAfterFinished": None,
            "podFailurePolicy": None,
            "args": ["run", "--dry-run"],
            "image": {"repository": "example.com/sync", "tag": "abc", "pullPolicy": "Always"},
        },
        tmp_path,
    )
    spec = r.cronjob["spec"]
    assert (spec["schedule"], spec["timeZone"], spec["suspend"]) == (
        "7 * * * *",
        "Europe/Berlin",
        True,
    )
    assert spec["concurrencyPolicy"] == "Replace"
    assert "startingDeadlineSeconds" not in spec
    assert (spec["successfulJobsHistoryLimit"], spec["failedJobsHistoryLimit"]) == (1, 7)
    job = r.job_spec
    assert (job["backoffLimit"], job["activeDeadlineSeconds"]) == (2, 1_000_000)
    assert r.env["INVENTORY_SYNC_RUN_DEADLINE_SECONDS"]["value"] == "999000"
    assert "ttlSecondsAfterFinished" not in job
    assert "podFailurePolicy" not in job
    assert r.container["args"] == ["run", "--dry-run"]
    assert r.container["image"] == "example.com/sync:abc"
    assert r.container["imagePullPolicy"] == "Always"


@pytest.mark.parametrize("case", CASES)
def test_indexed_job_with_one_pod_per_shard(rendered: dict[str, Rendered], case: str) -> None:
    r = rendered[case]
    shards = r.values["shards"]
    job = r.job_spec
    assert job["completionMode"] == "Indexed"
    assert job["completions"] == job["parallelism"] == shards
    assert r.env["INVENTORY_SYNC_SHARDS"]["value"] == str(shards)
    # Kubernetes sets it for each pod of an Indexed Job; the chart must not
    assert "JOB_COMPLETION_INDEX" not in r.env


def test_sharded_case_is_sharded(rendered: dict[str, Rendered]) -> None:
    assert rendered["sharded"].job_spec["completions"] == 3
    assert rendered["default"].job_spec["completions"] == 1


@pytest.mark.parametrize("case", CASES)
def test_a_failing_shard_does_not_end_the_others(rendered: dict[str, Rendered], case: str) -> None:
    """Sharded, retries are counted per index and a failed index stops no other: a global
    backoffLimit would fail the Job at the first failing shard and kill the rest mid-run."""
    r = rendered[case]
    job = r.job_spec
    shards = r.values["shards"]
    if shards == 1:
        assert job["backoffLimit"] == r.values["backoffLimit"]
        assert "backoffLimitPerIndex" not in job
        assert "maxFailedIndexes" not in job
        return
    assert job["backoffLimitPerIndex"] == r.values["backoffLimit"]
    assert job["maxFailedIndexes"] == shards  # the default: never stop the other shards
    # left to its default (unlimited with backoffLimitPerIndex); 0 would end every shard
    assert "backoffLimit" not in job
    # a shard's configuration error (exit 2: e.g. a bad state record of one of its
    # profiles) fails that shard only: FailJob is rendered as FailIndex
    rules = job["podFailurePolicy"]["rules"]
    assert all(rule["action"] != "FailJob" for rule in rules)
    (config_error,) = [rule for rule in rules if "onExitCodes" in rule]
    assert (config_error["action"], config_error["onExitCodes"]["values"]) == ("FailIndex", [2])


def test_sharded_retries_and_failed_shards_are_values(helm: Helm, tmp_path: Path) -> None:
    extra = {
        "backoffLimit": 2,
        "maxFailedIndexes": 1,
        "podFailurePolicy": {
            "rules": [
                {
                    "action": "FailIndex",
                    "onExitCodes": {
                        "containerName": "inventory-sync",
                        "operator": "In",
                        "values": [2],
                    },
                }
            ]
        },
    }
    r = render(helm, "sharded", extra, tmp_path)
    job = r.job_spec
    assert (job["backoffLimitPerIndex"], job["maxFailedIndexes"]) == (2, 1)
    assert "backoffLimit" not in job
    assert job["podFailurePolicy"] == extra["podFailurePolicy"]
    _validate(r, "sharded with FailIndex", KUBE_VERSION)
    _validate(
        render(helm, "sharded", extra, tmp_path, kube_version=OLDEST_KUBE_VERSION),
        "sharded with FailIndex",
        OLDEST_KUBE_VERSION,
    )


@pytest.mark.parametrize("case", CASES)
def test_profiles_configmap_is_the_file_the_job_reads(
    rendered: dict[str, Rendered], case: str
) -> None:
    r = rendered[case]
    (cm,) = [c for c in r.all("ConfigMap") if c["metadata"]["name"].endswith("-profiles")]
    text = cm["data"]["profiles.yaml"]
    assert yaml.safe_load(text) == {"profiles": r.values["profiles"]}
    profiles = parse_profiles(text)  # the job's own loader accepts it
    assert [p.name for p in profiles] == [p["name"] for p in r.values["profiles"]]
    volume = r.volume("profiles")["configMap"]
    assert volume["name"] == cm["metadata"]["name"]
    mount = r.mount("profiles")
    path = f"{mount['mountPath']}/{volume['items'][0]['path']}"
    assert r.env["INVENTORY_SYNC_PROFILES_FILE"]["value"] == path
    assert mount["readOnly"] is True
    # the checksum is of exactly the mounted file, so a change shows in the pod template
    checksum = r.pod["metadata"]["annotations"]["checksum/profiles"]
    assert checksum == hashlib.sha256(text.rstrip("\n").encode()).hexdigest()


def test_a_profile_change_changes_the_pod_template(helm: Helm, tmp_path: Path) -> None:
    before = render(helm, "default").pod["metadata"]["annotations"]["checksum/profiles"]
    changed = {
        "profiles": [
            {
                "name": "default",
                "ctChannelKey": "another-channel",
                "fluentAggregateVirtualCatalogueRef": "AGG_VC_DEFAULT",
            }
        ]
    }
    after = render(helm, "default", changed, tmp_path).pod["metadata"]["annotations"]
    assert after["checksum/profiles"] != before


def _credential_values(r: Rendered) -> list[str]:
    return [v for v in r.values["credentials"].values() if v]


@pytest.mark.parametrize("case", CASES)
def test_credentials_appear_only_in_the_secret(rendered: dict[str, Rendered], case: str) -> None:
    r = rendered[case]
    for doc in r.docs:
        if doc["kind"] == "Secret":
            continue
        dumped = yaml.safe_dump(doc)
        for value in _credential_values(r):
            for form in (value, base64.b64encode(value.encode()).decode()):
                assert form not in dumped, f"a credential is in {doc['kind']}"
    for cm in r.all("ConfigMap"):
        for key in cm.get("data", {}):
            assert key not in CREDENTIAL_FILES
            assert not CREDENTIAL_ENV.match(key)


@pytest.mark.parametrize("case", CASES)
def test_credentials_reach_the_pod_only_as_files(rendered: dict[str, Rendered], case: str) -> None:
    r = rendered[case]
    container = r.container
    assert "envFrom" not in container
    for name, entry in r.env.items():
        assert not CREDENTIAL_ENV.match(name), f"{name} is a credential in env"
        assert "secretKeyRef" not in entry.get("valueFrom", {})
    assert r.env["INVENTORY_SYNC_SECRETS_DIR"]["value"] == SECRETS_DIR
    mount = r.mount("credentials")
    assert mount == {"name": "credentials", "mountPath": SECRETS_DIR, "readOnly": True}

    secret_name = r.values["existingSecret"] or fullname(r)
    sources = r.volume("credentials")["projected"]["sources"]
    assert all(set(s) == {"secret"} for s in sources), "only Secret sources"
    required = sources[0]["secret"]
    assert required["name"] == secret_name
    assert not required.get("optional", False)
    assert {i["key"]: i["path"] for i in required["items"]} == CREDENTIAL_FILES
    if r.values["state"]["backend"] == "redis":
        assert sources[1]["secret"] == {
            "name": secret_name,
            "optional": True,
            "items": [{"key": "redisPassword", "path": "INVENTORY_SYNC_REDIS_PASSWORD"}],
        }
    else:
        assert len(sources) == 1

    secrets = r.all("Secret")
    if r.values["existingSecret"]:
        assert secrets == []
        return
    (secret,) = secrets
    assert secret["metadata"]["name"] == secret_name
    data = {k: base64.b64decode(v).decode() for k, v in secret["data"].items()}
    wanted = {k: r.values["credentials"][k] for k in CREDENTIAL_FILES}
    if r.values["credentials"]["redisPassword"]:
        wanted["redisPassword"] = r.values["credentials"]["redisPassword"]
    assert data == wanted


def test_existing_secret_renders_no_secret(rendered: dict[str, Rendered]) -> None:
    r = rendered["existing-secret"]
    assert r.all("Secret") == []
    sources = r.volume("credentials")["projected"]["sources"]
    assert sources[0]["secret"]["name"] == "inventory-sync-credentials"


@pytest.mark.parametrize("case", CONFIGMAP_CASES)
def test_configmap_backend_state_and_least_privilege_rbac(
    rendered: dict[str, Rendered], case: str
) -> None:
    r = rendered[case]
    name = fullname(r)
    state_name = f"{name}-state"
    (state,) = [c for c in r.all("ConfigMap") if c["metadata"]["name"] == state_name]
    assert state["metadata"]["annotations"]["helm.sh/resource-policy"] == "keep"
    assert "data" not in state  # the job owns the data; an upgrade must not reset it

    env = r.env
    assert env["INVENTORY_SYNC_STATE_BACKEND"]["value"] == "configmap"
    assert env["INVENTORY_SYNC_STATE_CONFIGMAP"]["value"] == state_name
    assert env["INVENTORY_SYNC_STATE_NAMESPACE"]["valueFrom"] == {
        "fieldRef": {"fieldPath": "metadata.namespace"}
    }
    assert env["INVENTORY_SYNC_LEASE_PREFIX"]["value"] == name
    assert "INVENTORY_SYNC_REDIS_URL" not in env

    role = r.one("Role")
    assert role["rules"] == [
        {
            "apiGroups": [""],
            "resources": ["configmaps"],
            "resourceNames": [state_name],
            "verbs": ["get", "update", "patch"],
        },
        {
            "apiGroups": ["coordination.k8s.io"],
            "resources": ["leases"],
            # exactly the Leases the job takes: one per profile, named as the job names them
            "resourceNames": [
                lease_name(name, CHECK_PROBE),  # what `check` reads
                *(lease_name(name, p["name"]) for p in r.values["profiles"]),
            ],
            "verbs": ["get", "update"],
        },
        {
            # RBAC cannot restrict create by name; the job creates a profile's Lease once
            "apiGroups": ["coordination.k8s.io"],
            "resources": ["leases"],
            "verbs": ["create"],
        },
    ]
    binding = r.one("RoleBinding")
    account = r.one("ServiceAccount")
    assert binding["roleRef"] == {
        "apiGroup": "rbac.authorization.k8s.io",
        "kind": "Role",
        "name": role["metadata"]["name"],
    }
    assert binding["subjects"] == [
        {"kind": "ServiceAccount", "name": account["metadata"]["name"], "namespace": NAMESPACE}
    ]
    assert r.pod_spec["serviceAccountName"] == account["metadata"]["name"]
    assert account["automountServiceAccountToken"] is False
    assert r.pod_spec["automountServiceAccountToken"] is True  # the backend needs the API


def test_the_role_names_the_leases_exactly_as_the_job_does(helm: Helm, tmp_path: Path) -> None:
    """Profile names that are no valid part of an object name get the job's cleaned,
    hashed Lease name; the Role must list that one, not `<fullname>-<profile>`."""
    names = ["eu", "eu_west", "a..b", "a.-b", "x_y.z", "b-.c", "a._b", "n0.9-x__y", "z" * 63]
    profiles = [
        {"name": n, "ctChannelKey": f"ch-{i}", "fluentAggregateVirtualCatalogueRef": f"R{i}"}
        for i, n in enumerate(names)
    ]
    for fullname_override in ("", "stock-sync"):
        r = render(
            helm,
            "default",
            {"profiles": profiles, "fullnameOverride": fullname_override},
            tmp_path,
        )
        (rule,) = [
            rule
            for rule in r.one("Role")["rules"]
            if rule["resources"] == ["leases"] and "resourceNames" in rule
        ]
        prefix = r.env["INVENTORY_SYNC_LEASE_PREFIX"]["value"]
        assert prefix == fullname(r)
        assert rule["resourceNames"] == [lease_name(prefix, n) for n in (CHECK_PROBE, *names)]
        assert len(set(rule["resourceNames"])) == len(names) + 1
        assert rule["resourceNames"][1:3] == [f"{prefix}-eu", lease_name(prefix, "eu_west")]
        assert rule["resourceNames"][2] != f"{prefix}-eu_west"  # hashed: `_` is not allowed


def test_redis_backend_has_no_rbac_and_no_api_token(rendered: dict[str, Rendered]) -> None:
    r = rendered["redis"]
    kinds = {d["kind"] for d in r.docs}
    assert kinds.isdisjoint({"ServiceAccount", "Role", "RoleBinding", "ClusterRole"})
    assert [c["metadata"]["name"] for c in r.all("ConfigMap")] == ["inv-inventory-sync-profiles"]
    assert r.pod_spec["automountServiceAccountToken"] is False
    assert r.pod_spec["serviceAccountName"] == "default"
    env = r.env
    assert env["INVENTORY_SYNC_STATE_BACKEND"]["value"] == "redis"
    assert env["INVENTORY_SYNC_REDIS_URL"]["value"] == "rediss://redis.data.svc:6379/0"
    assert env["INVENTORY_SYNC_REDIS_KEY_PREFIX"]["value"] == "acme-inventory"
    for name in ("STATE_CONFIGMAP", "STATE_NAMESPACE", "LEASE_PREFIX"):
        assert f"INVENTORY_SYNC_{name}" not in env


@pytest.mark.parametrize("case", CASES)
def test_pod_security(rendered: dict[str, Rendered], case: str) -> None:
    r = rendered[case]
    pod = r.pod_spec["securityContext"]
    assert pod["runAsNonRoot"] is True
    assert pod["runAsUser"] == 10001
    assert pod["seccompProfile"] == {"type": "RuntimeDefault"}
    sc = r.container["securityContext"]
    assert sc["runAsNonRoot"] is True
    assert sc["readOnlyRootFilesystem"] is True
    assert sc["allowPrivilegeEscalation"] is False
    assert sc["capabilities"] == {"drop": ["ALL"]}
    assert sc["seccompProfile"] == {"type": "RuntimeDefault"}
    # /tmp (an emptyDir) is the only writable path
    assert r.mount("tmp")["mountPath"] == WRITABLE
    assert "emptyDir" in r.volume("tmp")
    writable = [m["mountPath"] for m in r.container["volumeMounts"] if not m.get("readOnly")]
    assert writable == [WRITABLE]


@pytest.mark.parametrize("case", CASES)
def test_plain_settings_in_env(rendered: dict[str, Rendered], case: str) -> None:
    r = rendered[case]
    v = r.values
    env = {name: e.get("value") for name, e in r.env.items()}
    assert env.get("INVENTORY_SYNC_FLUENT_URL") == (v["fluent"]["url"] or None)
    assert env["INVENTORY_SYNC_CT_AUTH_URL"] == v["commercetools"]["authUrl"]
    assert env["INVENTORY_SYNC_CT_API_URL"] == v["commercetools"]["apiUrl"]
    assert env.get("INVENTORY_SYNC_CT_PROJECT_KEY") == (v["commercetools"]["projectKey"] or None)
    assert env.get("INVENTORY_SYNC_CT_SCOPES") == (v["commercetools"]["scopes"] or None)
    assert env.get("INVENTORY_SYNC_PUSHGATEWAY_URL") == (v["metrics"]["pushgatewayUrl"] or None)
    assert env["INVENTORY_SYNC_LOG_FORMAT"] == "json"
    assert env["INVENTORY_SYNC_LOG_LEVEL"] == v["logLevel"]
    for name, value in v["config"].items():
        assert env[name] == str(value)
    for extra in v["extraEnv"]:
        assert r.env[extra["name"]] == extra
    for name, entry in r.env.items():
        assert name.startswith("INVENTORY_SYNC_") or name in {e["name"] for e in v["extraEnv"]}
        assert "value" in entry or "valueFrom" in entry


def test_tuning_knobs_render_as_plain_strings(rendered: dict[str, Rendered]) -> None:
    env = rendered["configmap"].env
    assert env["INVENTORY_SYNC_PAGE_SIZE"]["value"] == "2000"
    assert env["INVENTORY_SYNC_RETRY_WAIT_INITIAL_SECONDS"]["value"] == "0.25"


@pytest.mark.parametrize("case", CASES)
def test_pod_scheduling_and_metadata_values(rendered: dict[str, Rendered], case: str) -> None:
    r = rendered[case]
    v = r.values
    spec = r.pod_spec
    assert spec.get("nodeSelector", {}) == v["nodeSelector"]
    assert spec.get("tolerations", []) == v["tolerations"]
    assert spec.get("affinity", {}) == v["affinity"]
    assert spec.get("imagePullSecrets", []) == v["imagePullSecrets"]
    assert spec.get("priorityClassName", "") == v["priorityClassName"]
    assert r.container["resources"] == v["resources"]
    annotations = r.pod["metadata"]["annotations"]
    assert {k: annotations[k] for k in v["podAnnotations"]} == v["podAnnotations"]
    labels = r.pod["metadata"]["labels"]
    assert {k: labels[k] for k in v["podLabels"]} == v["podLabels"]


def test_names_stay_within_kubernetes_limits(helm: Helm, tmp_path: Path) -> None:
    long = "a-very-long-release-name-that-keeps-going-and-going-past-sixty-three-chars"
    r = render(helm, "default", {"fullnameOverride": long}, tmp_path)
    for doc in r.docs:
        name = doc["metadata"]["name"]
        assert not name.endswith("-")
        base = name.removesuffix("-state").removesuffix("-profiles")
        assert len(base) <= 63, name
    assert len(r.cronjob["metadata"]["name"]) <= 52  # Kubernetes appends 11 for each Job
    for doc in r.docs:
        kubernetes_validate.validate(doc, KUBE_VERSION, strict=True)


def _egress(r: Rendered) -> list[tuple[list[str], list[tuple[str, int]]]]:
    policy = r.one("NetworkPolicy")
    assert policy["spec"]["policyTypes"] == ["Ingress", "Egress"]
    assert "ingress" not in policy["spec"]  # nothing may connect to the job
    assert policy["spec"]["podSelector"]["matchLabels"] == {
        "app.kubernetes.io/name": "inventory-sync",
        "app.kubernetes.io/instance": "inv",
    }
    rules = []
    for rule in policy["spec"]["egress"]:
        assert rule["to"], "an egress rule without `to` would allow every destination"
        cidrs = [peer["ipBlock"]["cidr"] for peer in rule["to"]]
        ports = [(p["protocol"], p["port"]) for p in rule["ports"]]
        rules.append((cidrs, ports))
    return rules


def test_network_policy_configmap_backend(rendered: dict[str, Rendered]) -> None:
    assert _egress(rendered["configmap"]) == [
        (["10.96.0.10/32"], [("UDP", 53), ("TCP", 53)]),
        (["0.0.0.0/0"], [("TCP", 443)]),  # fluent
        (["0.0.0.0/0"], [("TCP", 443)]),  # commercetools
        (["172.20.0.0/24"], [("TCP", 443), ("TCP", 6443)]),  # the Kubernetes API
        (["10.100.0.0/16"], [("TCP", 9091)]),  # the Pushgateway
    ]


def test_network_policy_redis_backend(rendered: dict[str, Rendered]) -> None:
    assert _egress(rendered["redis"]) == [
        (["0.0.0.0/0"], [("UDP", 53), ("TCP", 53)]),
        (["0.0.0.0/0"], [("TCP", 443)]),
        (["0.0.0.0/0"], [("TCP", 443)]),
        (["10.100.20.0/24"], [("TCP", 6379)]),
    ]


def test_no_network_policy_by_default(rendered: dict[str, Rendered]) -> None:
    assert rendered["default"].all("NetworkPolicy") == []


def test_objects_per_case(rendered: dict[str, Rendered]) -> None:
    def kinds(case: str) -> list[str]:
        return sorted(f"{d['kind']}" for d in rendered[case].docs)

    assert kinds("default") == sorted(
        [
            "ServiceAccount",
            "Secret",
            "ConfigMap",
            "ConfigMap",
            "Role",
            "RoleBinding",
            "CronJob",
            "Pod",
        ]
    )
    assert kinds("redis") == sorted(["Secret", "ConfigMap", "CronJob", "NetworkPolicy", "Pod"])
    assert kinds("existing-secret") == sorted(
        ["ServiceAccount", "ConfigMap", "ConfigMap", "Role", "RoleBinding", "CronJob", "Pod"]
    )


@pytest.mark.parametrize("case", CASES)
def test_sigterm_leaves_the_job_time_to_save_its_state(
    rendered: dict[str, Rendered], case: str
) -> None:
    r = rendered[case]
    grace = float(r.values["config"].get("INVENTORY_SYNC_STOP_GRACE_SECONDS", 20))
    assert r.pod_spec["terminationGracePeriodSeconds"] == r.values["terminationGracePeriodSeconds"]
    assert r.pod_spec["terminationGracePeriodSeconds"] > grace
