"""What only the ConfigMap backend does: resourceVersion on every write, 409 retries,
the size limit, its Leases, what ``check`` reports, and how it finds its cluster."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import anyio
import certifi
import pytest
from lightkube import AsyncClient

from inventory_sync.errors import LockHeldError, LockLostError, StateError
from inventory_sync.state import configmap as configmap_module
from inventory_sync.state.configmap import (
    DEFAULT_SIZE_LIMIT,
    ConfigMapStateStore,
    from_kubeconfig_or_incluster,
    lease_labels,
    lease_name,
)
from inventory_sync.state.record import parse_record
from tests.emulators.kube import KubeEmulator, KubeRequest
from tests.state.conftest import (
    CONFIGMAP,
    KUBE_TOKEN,
    LEASE_PREFIX,
    NAMESPACE,
    SEED,
    TTL,
    ConfigMapBackend,
    ago,
    kube_client,
    make_record,
)

pytestmark = pytest.mark.anyio

MANAGED = {
    "app.kubernetes.io/managed-by": "inventory-sync",
    "app.kubernetes.io/name": "inventory-sync",
}


def store_with(client: AsyncClient, **options: Any) -> ConfigMapStateStore:
    settings: dict[str, Any] = {"holder": "run-a", "lease_seconds": TTL, **options}
    return ConfigMapStateStore(
        client, namespace=NAMESPACE, name=CONFIGMAP, lease_prefix=LEASE_PREFIX, **settings
    )


# -- writes ---------------------------------------------------------------------------------


async def test_a_record_is_one_key_of_the_configmap(configmap_backend: ConfigMapBackend) -> None:
    store = configmap_backend.store()
    await store.save("eu", make_record(channel="eu"))

    data = configmap_backend.configmap()["data"]
    assert list(data) == ["eu.json"]
    assert json.loads(data["eu.json"]) == make_record(channel="eu").to_json()


async def test_every_write_carries_the_version_it_read_and_only_its_key(
    configmap_backend: ConfigMapBackend,
) -> None:
    kube = configmap_backend.kube
    configmap_backend.write_raw("us", json.dumps(SEED))
    version = configmap_backend.configmap()["metadata"]["resourceVersion"]

    await configmap_backend.store().save("eu", make_record(channel="eu"))

    (patch,) = kube.answered("patch", "configmaps")
    assert patch.status == 200
    assert patch.content_type == "application/merge-patch+json"
    assert patch.body == {
        "metadata": {"resourceVersion": version},
        "data": {"eu.json": json.dumps(make_record(channel="eu").to_json())},
    }
    assert kube.answered("update", "configmaps") == []  # never a whole-object replace


async def test_a_conflict_is_retried_and_keeps_the_other_profile(
    configmap_backend: ConfigMapBackend,
) -> None:
    """Another run saves profile ``us`` between this run's read and its write: the write
    gets 409, reads again, and patches only ``eu``; both records survive."""
    kube = configmap_backend.kube

    def other_run_saves_us(_: KubeRequest) -> None:
        configmap_backend.write_raw("us", json.dumps(SEED))

    kube.before("patch", "configmaps", other_run_saves_us, times=1)

    await configmap_backend.store().save("eu", make_record(channel="eu"))

    assert [r.status for r in kube.answered("patch", "configmaps")] == [409, 200]
    first, second = kube.answered("patch", "configmaps")
    assert first.body["metadata"]["resourceVersion"] != second.body["metadata"]["resourceVersion"]
    data = configmap_backend.configmap()["data"]
    assert json.loads(data["us.json"]) == SEED
    assert json.loads(data["eu.json"]) == make_record(channel="eu").to_json()


async def test_endless_conflicts_give_up_with_a_state_error(
    configmap_backend: ConfigMapBackend, kube_url: str
) -> None:
    kube = configmap_backend.kube
    rounds = iter(range(1000))

    def someone_always_writes_first(_: KubeRequest) -> None:
        configmap_backend.write_raw("us", json.dumps({"round": next(rounds)}))

    kube.before("patch", "configmaps", someone_always_writes_first, times=None)
    client = kube_client(kube_url)
    try:
        store = store_with(client, conflict_retries=2)
        with pytest.raises(StateError, match=r"kept changing \(3 attempts ended in 409"):
            await store.save("eu", make_record())
    finally:
        await client.close()

    assert len(kube.answered("patch", "configmaps", 409)) == 3
    assert "eu.json" not in configmap_backend.configmap()["data"]


async def test_a_record_that_would_pass_the_size_limit_is_refused_before_writing(
    configmap_backend: ConfigMapBackend,
) -> None:
    kube = configmap_backend.kube
    record = parse_record("eu", SEED)
    size = len("eu.json") + len(json.dumps(record.to_json()))
    store = configmap_backend.store()
    current = configmap_backend.configmap()  # another key already fills the ConfigMap:
    current["data"] = {"notes.txt": "x" * (DEFAULT_SIZE_LIMIT - len("notes.txt") - size)}
    kube.put("configmaps", NAMESPACE, current)
    await store.save("eu", record)  # exactly at the limit: accepted
    await store.delete("eu")
    kube.requests.clear()
    current = configmap_backend.configmap()
    current["data"]["notes.txt"] += "x"  # one byte more: refused
    kube.put("configmaps", NAMESPACE, current)
    version = configmap_backend.configmap()["metadata"]["resourceVersion"]

    with pytest.raises(StateError, match="limit") as caught:
        await store.save("eu", record)

    assert "'eu'" in str(caught.value)
    assert "1 MiB" in str(caught.value)
    assert kube.answered("patch", "configmaps") == []  # nothing was sent
    assert configmap_backend.configmap()["metadata"]["resourceVersion"] == version


async def test_save_creates_a_missing_configmap(configmap_backend: ConfigMapBackend) -> None:
    kube = configmap_backend.kube
    kube.delete("configmaps", NAMESPACE, CONFIGMAP)
    store = configmap_backend.store()

    assert await store.load("eu") is None
    await store.delete("eu")  # nothing to delete, nothing created
    assert kube.get("configmaps", NAMESPACE, CONFIGMAP) is None

    await store.save("eu", make_record(channel="eu"))

    created = configmap_backend.configmap()
    assert created["metadata"]["labels"] == {"app.kubernetes.io/managed-by": "inventory-sync"}
    assert list(created["data"]) == ["eu.json"]
    assert [r.status for r in kube.answered("create", "configmaps")] == [201]


async def test_load_all_ignores_keys_that_are_not_records(
    configmap_backend: ConfigMapBackend,
) -> None:
    kube = configmap_backend.kube
    current = configmap_backend.configmap()
    current["data"] = {"README": "state of inventory-sync", ".json": "{}"}
    kube.put("configmaps", NAMESPACE, current)
    store = configmap_backend.store()
    await store.save("eu", make_record())

    assert sorted(await store.load_all()) == ["eu"]


# -- leases ---------------------------------------------------------------------------------


async def test_the_lock_is_a_lease_with_holder_duration_and_times(
    configmap_backend: ConfigMapBackend,
) -> None:
    store = configmap_backend.store("pod-1:7", ttl=5)
    before = datetime.now(UTC)
    async with store.lock("eu"):
        lease = configmap_backend.lease("eu")
        assert lease is not None
        assert lease["metadata"]["name"] == "inventory-sync-eu"
        assert lease["metadata"]["annotations"] == {"inventory-sync/profile": "eu"}
        assert lease["metadata"]["labels"] == {**MANAGED, "inventory-sync/profile": "eu"}
        spec = lease["spec"]
        assert spec["holderIdentity"] == "pod-1:7"
        assert spec["leaseDurationSeconds"] == 5
        assert spec["leaseTransitions"] == 0
        acquired = datetime.fromisoformat(spec["acquireTime"])
        assert before <= acquired <= datetime.now(UTC)
        assert spec["renewTime"] == spec["acquireTime"]
        assert spec["acquireTime"].endswith("Z")

    released = configmap_backend.lease("eu")
    assert released is not None
    assert "holderIdentity" not in released["spec"]
    assert released["spec"]["leaseDurationSeconds"] == 5

    async with configmap_backend.store("pod-2:9").lock("eu"):  # a released lease is free
        lease = configmap_backend.lease("eu")
        assert lease is not None
        assert lease["spec"]["holderIdentity"] == "pod-2:9"
        assert lease["spec"]["leaseTransitions"] == 1


async def test_renewal_moves_renew_time_and_keeps_acquire_time(
    configmap_backend: ConfigMapBackend,
) -> None:
    async with configmap_backend.store("run-a").lock("eu"):
        first = configmap_backend.lease("eu")
        await anyio.sleep(TTL * 0.8)
        later = configmap_backend.lease("eu")
    assert first is not None
    assert later is not None
    assert later["spec"]["acquireTime"] == first["spec"]["acquireTime"]
    assert later["spec"]["renewTime"] > first["spec"]["renewTime"]
    updates = configmap_backend.kube.answered("update", "leases", 200)
    assert len(updates) >= 3  # two renewals or more, and the release


async def test_lock_held_error_says_until_when(configmap_backend: ConfigMapBackend) -> None:
    configmap_backend.put_lease("eu", "other-pod", datetime.now(UTC), duration=30)
    with pytest.raises(LockHeldError) as caught:
        async with configmap_backend.store().lock("eu"):
            pytest.fail("taken from a live holder")
    assert caught.value.holder == "other-pod"
    assert "until 20" in str(caught.value)


@pytest.mark.parametrize("holder", [None, "dead-pod"])
async def test_a_lease_without_holder_or_expired_is_taken(
    configmap_backend: ConfigMapBackend, holder: str | None
) -> None:
    configmap_backend.put_lease("eu", holder, ago(120), duration=30)
    async with configmap_backend.store("run-a").lock("eu") as held:
        await held.ensure_held()
        assert configmap_backend.lock_holder("eu") == "run-a"


async def test_of_runs_taking_an_expired_lease_at_once_exactly_one_wins(
    configmap_backend: ConfigMapBackend,
) -> None:
    configmap_backend.put_lease("eu", "dead-pod", ago(120), duration=30)
    stores = [configmap_backend.store(f"run-{i}", ttl=30) for i in range(6)]
    winners: list[str] = []
    losers: list[str] = []
    everyone_tried = anyio.Event()
    tried = 0

    async def contend(store: ConfigMapStateStore) -> None:
        nonlocal tried
        try:
            async with store.lock("eu") as held:
                winners.append(held.holder)
                tried += 1
                if tried == len(stores):
                    everyone_tried.set()
                await everyone_tried.wait()
        except LockHeldError as e:
            losers.append(e.holder)
            tried += 1
            if tried == len(stores):
                everyone_tried.set()

    async with anyio.create_task_group() as group:
        for store in stores:
            group.start_soon(contend, store)

    assert len(winners) == 1
    assert losers == winners * (len(stores) - 1)
    lease = configmap_backend.lease("eu")
    assert lease is not None
    assert lease["spec"]["leaseTransitions"] == 1  # one take-over: dead-pod → the winner


def test_lease_names_are_valid_and_distinct() -> None:
    assert lease_name("inventory-sync", "eu") == "inventory-sync-eu"
    assert lease_name("inventory-sync", "eu.west-1") == "inventory-sync-eu.west-1"
    odd = [lease_name("inventory-sync", p) for p in ("eu_west", "eu-west", "eu__west", "_x", "x.")]
    assert len(set(odd)) == len(odd)
    for name in odd:
        assert len(name) <= 253
        assert configmap_module._DNS_SUBDOMAIN.fullmatch(name), name
    assert lease_name("p", "a" * 300).startswith("p-aaaa")
    assert len(lease_name("p", "a" * 300)) <= 253


async def test_a_profile_with_underscore_gets_a_valid_lease(
    configmap_backend: ConfigMapBackend,
) -> None:
    async with configmap_backend.store().lock("eu_west") as held:
        await held.ensure_held()
    leases = configmap_backend.kube.list("leases", NAMESPACE)
    assert [lease["metadata"]["name"] for lease in leases] == [lease_name(LEASE_PREFIX, "eu_west")]
    assert leases[0]["metadata"]["annotations"] == {"inventory-sync/profile": "eu_west"}
    # `_` is fine in a label value, though not in an object name
    assert leases[0]["metadata"]["labels"] == {**MANAGED, "inventory-sync/profile": "eu_west"}


def _selected(leases: list[dict[str, Any]], selector: dict[str, str]) -> list[str]:
    """The names a ``kubectl get lease -l k=v,...`` would list."""
    return sorted(
        lease["metadata"]["name"]
        for lease in leases
        if selector.items() <= (lease["metadata"].get("labels") or {}).items()
    )


async def test_every_lease_carries_the_labels_readme_deletes_them_by(
    configmap_backend: ConfigMapBackend,
) -> None:
    """README: `kubectl delete lease -l app.kubernetes.io/managed-by=inventory-sync`."""
    store = configmap_backend.store()
    long_name = "p" * 64  # a valid object name part, but too long for a label value
    profiles = ["eu", "eu_west", "x.", long_name]
    for profile in profiles:
        async with store.lock(profile) as held:
            await held.ensure_held()
    configmap_backend.kube.put(  # somebody else's Lease in the namespace
        "leases", NAMESPACE, {"metadata": {"name": "other-lock"}, "spec": {}}
    )
    leases = configmap_backend.kube.list("leases", NAMESPACE)
    ours = sorted(lease_name(LEASE_PREFIX, p) for p in profiles)
    assert _selected(leases, {"app.kubernetes.io/managed-by": "inventory-sync"}) == ours
    assert _selected(leases, MANAGED) == ours
    by_name = {lease["metadata"]["name"]: lease["metadata"] for lease in leases}
    for profile in ("x.", long_name):  # not a valid label value: only the annotation names it
        meta = by_name[lease_name(LEASE_PREFIX, profile)]
        assert meta["labels"] == MANAGED
        assert meta["annotations"] == {"inventory-sync/profile": profile}
    assert _selected(leases, {"inventory-sync/profile": "eu"}) == [lease_name(LEASE_PREFIX, "eu")]


def test_lease_labels_name_the_profile_only_when_it_is_a_valid_label_value() -> None:
    assert lease_labels("eu") == {**MANAGED, "inventory-sync/profile": "eu"}
    assert lease_labels("EU_west.1") == {**MANAGED, "inventory-sync/profile": "EU_west.1"}
    assert lease_labels("a" * 63)["inventory-sync/profile"] == "a" * 63
    for invalid in ("a" * 64, "_x", "x.", "-x", "eu west", "eu/west", ""):
        assert lease_labels(invalid) == MANAGED, invalid


async def test_a_lease_made_without_labels_gets_them_when_taken(
    configmap_backend: ConfigMapBackend,
) -> None:
    """Leases of an older version (annotation only) become selectable on their next run."""
    configmap_backend.put_lease("eu", None, ago(120), duration=30)
    lease = configmap_backend.lease("eu")
    assert lease is not None
    assert "labels" not in lease["metadata"]
    async with configmap_backend.store("run-a").lock("eu") as held:
        await held.ensure_held()
    lease = configmap_backend.lease("eu")
    assert lease is not None
    assert lease["metadata"]["labels"] == {**MANAGED, "inventory-sync/profile": "eu"}


async def test_a_deleted_lease_is_a_lost_lock(configmap_backend: ConfigMapBackend) -> None:
    store = configmap_backend.store("run-a")
    async with store.lock("eu") as held:
        configmap_backend.kube.delete("leases", NAMESPACE, lease_name(LEASE_PREFIX, "eu"))
        with pytest.raises(LockLostError, match="deleted"):
            await held.ensure_held()


# -- check -----------------------------------------------------------------------------------


async def test_check_reads_the_configmap_and_probes_leases_writing_nothing(
    configmap_backend: ConfigMapBackend,
) -> None:
    kube = configmap_backend.kube
    revision = kube.revision
    await configmap_backend.store().check()

    assert [r.verb for r in kube.requests] == ["get", "get", "create"]
    assert kube.requests[0].plural == "configmaps"
    assert kube.requests[2].plural == "leases"
    assert kube.requests[2].dry_run
    assert kube.revision == revision
    assert kube.list("leases", NAMESPACE) == []


@pytest.mark.parametrize(
    ("verb", "plural", "says"),
    [
        ("get", "configmaps", f"cannot read ConfigMap {NAMESPACE}/{CONFIGMAP}: forbidden by RBAC"),
        ("get", "leases", "cannot read leases"),
        ("create", "leases", "cannot create leases"),
    ],
)
async def test_check_reports_what_rbac_forbids(
    configmap_backend: ConfigMapBackend, verb: str, plural: str, says: str
) -> None:
    configmap_backend.kube.forbid(verb, plural)
    with pytest.raises(StateError, match=says) as caught:
        await configmap_backend.store().check()
    message = str(caught.value)
    assert "403" in message
    assert f'cannot {verb} resource "{plural}"' in message
    assert KUBE_TOKEN not in message


async def test_check_accepts_a_missing_configmap_it_may_create(
    configmap_backend: ConfigMapBackend,
) -> None:
    kube = configmap_backend.kube
    kube.delete("configmaps", NAMESPACE, CONFIGMAP)
    await configmap_backend.store().check()
    assert kube.get("configmaps", NAMESPACE, CONFIGMAP) is None  # a dry run only


async def test_check_refuses_a_missing_configmap_it_may_not_create(
    configmap_backend: ConfigMapBackend,
) -> None:
    kube = configmap_backend.kube
    kube.delete("configmaps", NAMESPACE, CONFIGMAP)
    kube.forbid("create", "configmaps")
    with pytest.raises(StateError, match="does not exist, and creating it is not allowed"):
        await configmap_backend.store().check()


async def test_check_reports_rejected_credentials_without_the_token(
    kube: KubeEmulator, kube_url: str
) -> None:
    client = kube_client(kube_url, token="wrong-token-5d1e")
    try:
        with pytest.raises(StateError, match="rejected the credentials") as caught:
            await store_with(client).check()
    finally:
        await client.close()
    assert "wrong-token-5d1e" not in str(caught.value)
    assert KUBE_TOKEN not in str(caught.value)


async def test_check_reports_an_unreachable_api(free_port: int) -> None:
    client = kube_client(f"http://127.0.0.1:{free_port}")
    try:
        with pytest.raises(StateError, match="unreachable"):
            await store_with(client).check()
    finally:
        await client.close()


async def test_load_reports_an_unreachable_api_as_state_error(free_port: int) -> None:
    client = kube_client(f"http://127.0.0.1:{free_port}")
    try:
        store = store_with(client)
        with pytest.raises(StateError, match="unreachable"):
            await store.load("eu")
        with pytest.raises(StateError, match="unreachable"):
            async with store.lock("eu"):
                pytest.fail("locked without an API")
    finally:
        await client.close()


# -- finding the cluster -----------------------------------------------------------------------


def write_kubeconfig(path: Path, url: str, namespace: str = NAMESPACE) -> Path:
    path.write_text(
        json.dumps(  # JSON is YAML
            {
                "apiVersion": "v1",
                "kind": "Config",
                "current-context": "test",
                "clusters": [{"name": "emulator", "cluster": {"server": url}}],
                "users": [{"name": "job", "user": {"token": KUBE_TOKEN}}],
                "contexts": [
                    {
                        "name": "test",
                        "context": {"cluster": "emulator", "user": "job", "namespace": namespace},
                    }
                ],
            }
        )
    )
    return path


async def test_factory_uses_kubeconfig_outside_a_cluster(
    configmap_backend: ConfigMapBackend,
    kube_url: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(configmap_module, "SERVICE_ACCOUNT_DIR", tmp_path / "no-sa")
    monkeypatch.setenv("KUBECONFIG", str(write_kubeconfig(tmp_path / "config", kube_url)))
    store = from_kubeconfig_or_incluster(
        name=CONFIGMAP, lease_prefix=LEASE_PREFIX, holder="cli", lease_seconds=TTL
    )
    try:
        assert store.namespace == NAMESPACE  # from the context
        await store.check()
        await store.save("eu", make_record())
        assert "eu.json" in configmap_backend.configmap()["data"]
    finally:
        await store.aclose()


async def test_factory_uses_the_service_account_in_a_cluster(
    configmap_backend: ConfigMapBackend,
    kube_url: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    account = tmp_path / "serviceaccount"
    account.mkdir()
    (account / "token").write_text(KUBE_TOKEN)
    (account / "namespace").write_text(NAMESPACE)
    (account / "ca.crt").write_text(Path(certifi.where()).read_text())  # any valid CA bundle
    monkeypatch.setattr(configmap_module, "SERVICE_ACCOUNT_DIR", account)
    host, port = kube_url.removeprefix("http://").split(":")
    monkeypatch.setenv("KUBERNETES_SERVICE_HOST", host)
    monkeypatch.setenv("KUBERNETES_SERVICE_PORT", port)
    monkeypatch.setenv("KUBECONFIG", str(tmp_path / "ignored"))

    store = from_kubeconfig_or_incluster(name=CONFIGMAP, lease_prefix=LEASE_PREFIX, holder="pod")
    try:
        assert store.namespace == NAMESPACE
        config = store._client.config
        assert config.cluster.server == f"https://{host}:{port}"  # the in-cluster API
        assert config.user is not None
        assert config.user.token == KUBE_TOKEN
    finally:
        await store.aclose()


def test_factory_without_any_configuration_is_a_state_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(configmap_module, "SERVICE_ACCOUNT_DIR", tmp_path / "no-sa")
    monkeypatch.setenv("KUBECONFIG", str(tmp_path / "missing"))
    monkeypatch.setenv("HOME", str(tmp_path))
    with pytest.raises(StateError, match="no Kubernetes configuration"):
        from_kubeconfig_or_incluster(name=CONFIGMAP, lease_prefix=LEASE_PREFIX, holder="x")


async def test_constructor_refuses_bad_lock_settings(kube_url: str) -> None:
    client = kube_client(kube_url)
    try:
        with pytest.raises(ValueError, match="lease_seconds"):
            store_with(client, lease_seconds=0)
        with pytest.raises(ValueError, match="renewal interval"):
            store_with(client, renew_every=0)
        with pytest.raises(ValueError, match="holder"):
            ConfigMapStateStore(
                client, namespace=NAMESPACE, name=CONFIGMAP, lease_prefix=LEASE_PREFIX, holder=""
            )
    finally:
        await client.close()
