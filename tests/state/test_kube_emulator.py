"""The Kubernetes API emulator answers like the API server where the state store relies on it."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.emulators.kube import KubeEmulator, json_patch, merge_patch, strategic_merge_patch
from tests.state.conftest import KUBE_TOKEN

CM = "/api/v1/namespaces/ns/configmaps"
LEASES = "/apis/coordination.k8s.io/v1/namespaces/ns/leases"


@pytest.fixture
def http(kube: KubeEmulator, kube_url: str) -> Iterator[httpx.Client]:
    headers = {"Authorization": f"Bearer {KUBE_TOKEN}"}
    with httpx.Client(base_url=kube_url, headers=headers, trust_env=False) as client:
        yield client


def configmap(name: str = "state", **data: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name}, "data": data}


def assert_status(response: httpx.Response, code: int, reason: str, message: str) -> None:
    assert response.status_code == code
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    assert body["kind"] == "Status"
    assert body["apiVersion"] == "v1"
    assert body["status"] == "Failure"
    assert body["code"] == code
    assert body["reason"] == reason
    assert body["message"] == message


def test_create_get_and_list(http: httpx.Client) -> None:
    created = http.post(CM, json=configmap(a="1"))
    assert created.status_code == 201
    body = created.json()
    assert body["metadata"]["namespace"] == "ns"
    assert body["metadata"]["resourceVersion"].isdigit()
    assert body["metadata"]["uid"]
    assert body["data"] == {"a": "1"}

    assert http.get(f"{CM}/state").json() == body
    listed = http.get(CM).json()
    assert listed["kind"] == "ConfigMapList"
    assert [item["metadata"]["name"] for item in listed["items"]] == ["state"]
    assert listed["metadata"]["resourceVersion"] == body["metadata"]["resourceVersion"]


def test_missing_is_404_not_found(http: httpx.Client) -> None:
    assert_status(http.get(f"{CM}/nope"), 404, "NotFound", 'configmaps "nope" not found')
    assert_status(
        http.get(f"{LEASES}/nope"), 404, "NotFound", 'leases.coordination.k8s.io "nope" not found'
    )
    assert http.get(f"{CM}/nope").json()["details"] == {"name": "nope", "kind": "configmaps"}


def test_creating_an_existing_name_is_409_already_exists(http: httpx.Client) -> None:
    http.post(CM, json=configmap())
    assert_status(
        http.post(CM, json=configmap()), 409, "AlreadyExists", 'configmaps "state" already exists'
    )


def test_resource_version_grows_on_every_write(http: httpx.Client) -> None:
    versions = [int(http.post(CM, json=configmap(a="1")).json()["metadata"]["resourceVersion"])]
    for value in "234":
        current = http.get(f"{CM}/state").json()
        current["data"]["a"] = value
        versions.append(
            int(http.put(f"{CM}/state", json=current).json()["metadata"]["resourceVersion"])
        )
    assert versions == sorted(set(versions))


def test_put_with_a_stale_resource_version_is_409_conflict(http: httpx.Client) -> None:
    stale = http.post(CM, json=configmap(a="1")).json()
    fresh = dict(stale, data={"a": "2"})
    assert http.put(f"{CM}/state", json=fresh).status_code == 200

    stale["data"] = {"a": "3"}
    assert_status(
        http.put(f"{CM}/state", json=stale),
        409,
        "Conflict",
        'Operation cannot be fulfilled on configmaps "state": the object has been modified; '
        "please apply your changes to the latest version and try again",
    )
    assert http.get(f"{CM}/state").json()["data"] == {"a": "2"}


def test_put_without_resource_version_is_unconditional(http: httpx.Client) -> None:
    http.post(CM, json=configmap(a="1"))
    replaced = http.put(f"{CM}/state", json=configmap(b="2"))
    assert replaced.status_code == 200
    assert replaced.json()["data"] == {"b": "2"}


@pytest.mark.parametrize(
    "content_type",
    ["application/merge-patch+json", "application/strategic-merge-patch+json"],
)
def test_patch_merges_deletes_and_checks_resource_version(
    http: httpx.Client, content_type: str
) -> None:
    version = http.post(CM, json=configmap(a="1", b="2")).json()["metadata"]["resourceVersion"]
    headers = {"Content-Type": content_type}

    patched = http.patch(
        f"{CM}/state",
        json={"metadata": {"resourceVersion": version}, "data": {"b": None, "c": "3"}},
        headers=headers,
    )
    assert patched.status_code == 200
    assert patched.json()["data"] == {"a": "1", "c": "3"}

    stale = http.patch(
        f"{CM}/state",
        json={"metadata": {"resourceVersion": version}, "data": {"d": "4"}},
        headers=headers,
    )
    assert stale.status_code == 409
    assert stale.json()["reason"] == "Conflict"
    unconditional = http.patch(f"{CM}/state", json={"data": {"d": "4"}}, headers=headers)
    assert unconditional.json()["data"] == {"a": "1", "c": "3", "d": "4"}


def test_json_patch_and_unsupported_patch_types(http: httpx.Client) -> None:
    http.post(CM, json=configmap(a="1"))
    patched = http.patch(
        f"{CM}/state",
        json=[{"op": "add", "path": "/data/b", "value": "2"}, {"op": "remove", "path": "/data/a"}],
        headers={"Content-Type": "application/json-patch+json"},
    )
    assert patched.json()["data"] == {"b": "2"}
    applied = http.patch(
        f"{CM}/state", content=b"data: {}", headers={"Content-Type": "application/apply-patch+yaml"}
    )
    assert applied.status_code == 415


def test_configmap_over_one_mebibyte_is_422_invalid(http: httpx.Client) -> None:
    big = "x" * (1_048_576 - len("k") + 1)
    response = http.post(CM, json=configmap(k=big))
    assert response.status_code == 422
    assert response.json()["reason"] == "Invalid"
    assert "may not be more than 1048576 bytes" in response.json()["message"]
    assert http.post(CM, json=configmap(k=big[:-1])).status_code == 201


def test_lease_fields_are_validated_and_kept(http: httpx.Client) -> None:
    lease = {
        "metadata": {"name": "lock-eu"},
        "spec": {
            "holderIdentity": "pod",
            "leaseDurationSeconds": 5,
            "acquireTime": "2026-12-03T18:00:00.123456Z",
            "renewTime": "2026-12-03T18:00:01.123456Z",
        },
    }
    created = http.post(LEASES, json=lease).json()
    assert created["apiVersion"] == "coordination.k8s.io/v1"
    assert created["kind"] == "Lease"
    assert created["spec"] == lease["spec"]
    bad = dict(lease, metadata={"name": "lock-us"}, spec={"leaseDurationSeconds": 0})
    assert http.post(LEASES, json=bad).status_code == 422
    bad_name = dict(lease, metadata={"name": "Lock_EU"})
    assert http.post(LEASES, json=bad_name).status_code == 422


def test_dry_run_checks_but_persists_nothing(http: httpx.Client, kube: KubeEmulator) -> None:
    before = kube.revision
    response = http.post(CM, params={"dryRun": "All"}, json=configmap(a="1"))
    assert response.status_code == 201
    assert http.get(f"{CM}/state").status_code == 404
    assert kube.revision == before


def test_delete(http: httpx.Client) -> None:
    http.post(CM, json=configmap())
    deleted = http.delete(f"{CM}/state")
    assert deleted.status_code == 200
    assert deleted.json()["status"] == "Success"
    assert http.get(f"{CM}/state").status_code == 404
    assert http.delete(f"{CM}/state").status_code == 404


def test_token_and_forbidden(http: httpx.Client, kube: KubeEmulator, kube_url: str) -> None:
    with httpx.Client(base_url=kube_url, trust_env=False) as anonymous:
        assert_status(anonymous.get(CM), 401, "Unauthorized", "Unauthorized")
    kube.forbid("get", "configmaps")
    assert_status(
        http.get(f"{CM}/state"),
        403,
        "Forbidden",
        'configmaps "state" is forbidden: User "system:serviceaccount:x:y" cannot get '
        'resource "configmaps" in API group "" in the namespace "ns"',
    )
    assert http.get(CM).status_code == 200  # only what was forbidden


def test_hooks_run_before_the_request(http: httpx.Client, kube: KubeEmulator) -> None:
    http.post(CM, json=configmap(a="1"))
    stale = http.get(f"{CM}/state").json()

    def someone_else_writes(_: Any) -> None:
        current = kube.get("configmaps", "ns", "state")
        assert current is not None
        current["data"]["other"] = "x"
        kube.put("configmaps", "ns", current)

    kube.before("update", "configmaps", someone_else_writes)
    assert http.put(f"{CM}/state", json=stale).status_code == 409
    assert http.put(f"{CM}/state", json=http.get(f"{CM}/state").json()).status_code == 200
    assert [r.status for r in kube.answered("update", "configmaps")] == [409, 200]


def test_patch_helpers() -> None:
    assert merge_patch({"a": {"b": 1, "c": 2}}, {"a": {"b": None, "d": 3}}) == {
        "a": {"c": 2, "d": 3}
    }
    assert strategic_merge_patch({"a": {"b": 1}}, {"a": {"$patch": "replace", "c": 2}}) == {
        "a": {"c": 2}
    }
    assert strategic_merge_patch({"a": {"b": 1}, "x": 1}, {"a": {"$patch": "delete"}}) == {"x": 1}
    assert json_patch({"a": [1, 2]}, [{"op": "add", "path": "/a/-", "value": 3}]) == {
        "a": [1, 2, 3]
    }
    assert json_patch({"a": 1}, [{"op": "move", "from": "/a", "path": "/b"}]) == {"b": 1}
