"""Kubernetes backend: one ConfigMap holds every profile's record; a Lease per profile locks it.

Layout (namespace ``ns``, ConfigMap ``name``, lease prefix ``prefix``)::

    ConfigMap ns/name                       (the Helm chart creates it)
      data:
        eu.json: '{"previousEndDate": "...", "props": {...}, "lastRun": {...}}'
        us.json: '...'                      (one key per profile: ``<profile>.json``)
    Lease ns/prefix-eu                      (coordination.k8s.io/v1, one per profile)
      labels: app.kubernetes.io/managed-by=inventory-sync, app.kubernetes.io/name=inventory-sync,
              inventory-sync/profile=eu     (when the profile name is a valid label value)
      annotations: inventory-sync/profile=eu
      spec: holderIdentity, leaseDurationSeconds, acquireTime, renewTime, leaseTransitions

The labels select every Lease of the job (``kubectl delete lease -l
app.kubernetes.io/managed-by=inventory-sync``); a Lease made without them (an older
version) gets them the next time it is taken.

Mounted as a volume, the ConfigMap shows the file backend's layout (``<profile>.json``).

**Writes** read the ConfigMap, then send a JSON merge patch that names only this
profile's key and carries the ``metadata.resourceVersion`` just read, so the API server
answers 409 Conflict if anything changed in between; then the store reads again and
retries (``conflict_retries`` times, after a short random pause). Other profiles' keys
are never sent, so never overwritten. A write that would bring the ConfigMap's data
over ``size_limit`` bytes (default 1,000,000; Kubernetes refuses more than 1 MiB) is
refused with ``StateError`` before anything is sent.

**A missing ConfigMap** is created by ``save`` (so a cluster without the chart works),
which needs ``configmaps: create``; RBAC cannot restrict ``create`` by name, so the
chart creates the ConfigMap and grants no ``create``. ``check`` tells the two apart: a
missing ConfigMap passes only if a server-side dry-run create (writes nothing) is allowed.

**The lock** of a profile is the Lease ``<prefix>-<profile>`` (a profile name that is
not a valid object name, e.g. with ``_``, is cleaned and gets a short hash suffix).
It may be taken when it does not exist (create), has no holder, or has expired
(``renewTime + leaseDurationSeconds`` in the past); taking an existing Lease is a PUT
with the ``resourceVersion`` read, so of two runs taking it at once exactly one wins.
While held, the lease is renewed every ``renew_every`` seconds (default a third of
``lease_seconds``); on leaving, its holder is cleared, only if it is still ours (same
``holderIdentity`` and ``acquireTime``).

**RBAC** (a namespaced Role)::

    configmaps  get, patch          resourceNames: [<name>]   (+ create, unrestricted, only
                                                                if the job creates the ConfigMap)
    leases      get, update         resourceNames: [<prefix>-<profile>..., <prefix>-check]
    leases      create                                         (create cannot be name-restricted)
"""

from __future__ import annotations

import contextlib
import copy
import hashlib
import json
import os
import random
import re
import time
from collections.abc import AsyncIterator, Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import anyio
import httpx2
from lightkube import ApiError, AsyncClient, KubeConfig
from lightkube import ConfigError as KubeConfigError
from lightkube.models.coordination_v1 import LeaseSpec
from lightkube.models.meta_v1 import ObjectMeta
from lightkube.resources.coordination_v1 import Lease
from lightkube.resources.core_v1 import ConfigMap
from lightkube.types import PatchType

from inventory_sync.errors import LockHeldError, LockLostError, StateError, StateFormatError
from inventory_sync.state.record import StateRecord, parse_record
from inventory_sync.state.renewal import RenewedLock, renew_interval

CONFIGMAP_MAX_BYTES = 1_048_576
"""What the API server accepts in one ConfigMap's ``data`` + ``binaryData``."""
DEFAULT_SIZE_LIMIT = 1_000_000
"""Refuse writes above this: below the API's limit, with room for keys added by hand."""
SERVICE_ACCOUNT_DIR = Path("/var/run/secrets/kubernetes.io/serviceaccount")
KEY_SUFFIX = ".json"
CHECK_PROBE = "check"
"""`check()` reads the Lease `<prefix>-check` (the chart's Role names it with the profiles')."""
PROFILE_ANNOTATION = "inventory-sync/profile"
PROFILE_LABEL = "inventory-sync/profile"
LEASE_LABELS = {
    "app.kubernetes.io/managed-by": "inventory-sync",
    "app.kubernetes.io/name": "inventory-sync",
}
"""On every Lease the job creates or takes (not Helm's: the chart does not make them)."""

_TAKE_ATTEMPTS = 3
_CONFLICT_PAUSE_S = 0.05
_TRANSPORT_ERRORS = (httpx2.HTTPError, KubeConfigError, OSError)
_DNS_SUBDOMAIN = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*")
_LABEL_VALUE = re.compile(r"[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?")


def _now() -> datetime:
    return datetime.now(UTC)


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


def _code(error: ApiError) -> int | None:
    return error.status.code if error.status is not None else None


def _describe(error: Exception) -> str:
    if isinstance(error, ApiError):
        status = error.status
        return f"{status.code} {status.reason or ''}: {status.message or ''}".replace(" :", ":")
    if isinstance(error, httpx2.HTTPStatusError):
        return f"HTTP {error.response.status_code} (not a Kubernetes Status answer)"
    return f"{type(error).__name__}: {error}" if str(error) else type(error).__name__


def _expiry(spec: LeaseSpec) -> datetime | None:
    """When a lease runs out: last renewal (or acquisition) + its duration."""
    base = spec.renewTime or spec.acquireTime
    if base is None or spec.leaseDurationSeconds is None:
        return None
    if base.tzinfo is None:
        base = base.replace(tzinfo=UTC)
    return base + timedelta(seconds=spec.leaseDurationSeconds)


def _same_instant(a: datetime | None, b: datetime | None) -> bool:
    if a is None or b is None:
        return False
    a = a if a.tzinfo is not None else a.replace(tzinfo=UTC)
    b = b if b.tzinfo is not None else b.replace(tzinfo=UTC)
    return a == b


def _data_bytes(data: Mapping[str, str], binary: Mapping[str, str]) -> int:
    """Bytes the API server counts against the 1 MiB limit (keys and values)."""
    text = sum(len(k.encode()) + len(v.encode()) for k, v in data.items())
    raw = sum(len(k.encode()) + len(v) * 3 // 4 for k, v in binary.items())  # base64
    return text + raw


def lease_name(prefix: str, profile: str) -> str:
    """``<prefix>-<profile>``, or a cleaned name with a hash suffix when that is not a valid
    object name (DNS subdomain: lower-case letters, digits, ``-`` and ``.``, at most 253)."""
    name = f"{prefix}-{profile}"
    if len(name) <= 253 and _DNS_SUBDOMAIN.fullmatch(name):
        return name
    digest = hashlib.sha256(profile.encode()).hexdigest()[:10]
    cleaned = re.sub(r"[^a-z0-9.-]+", "-", name.lower())
    cleaned = re.sub(r"\.{2,}", ".", cleaned)
    cleaned = re.sub(r"-?\.-?", ".", cleaned).strip(".-")[: 253 - len(digest) - 1].strip(".-")
    return f"{cleaned}-{digest}"


def lease_labels(profile: str) -> dict[str, str]:
    """The labels of a profile's Lease: ``LEASE_LABELS``, plus the profile when its name is a
    valid label value (at most 63 letters, digits, ``-``, ``_``, ``.``; alphanumeric ends)."""
    labels = dict(LEASE_LABELS)
    if _LABEL_VALUE.fullmatch(profile):
        labels[PROFILE_LABEL] = profile
    return labels


def _labelled(meta: ObjectMeta | None, profile: str) -> ObjectMeta | None:
    """``meta`` with the Lease labels added (kept as it is when they are all there)."""
    if meta is None:
        return None
    wanted = lease_labels(profile)
    current = dict(meta.labels or {})
    if all(current.get(k) == v for k, v in wanted.items()):
        return meta
    labelled = copy.copy(meta)
    labelled.labels = {**current, **wanted}
    return labelled


class _HeldLease:
    """One lease this run holds: the `renewal.LockBackend` of the ConfigMap store."""

    def __init__(self, store: ConfigMapStateStore, profile: str, lease: Lease) -> None:
        self._store = store
        self._profile = profile
        self._lease = lease
        spec = lease.spec if lease.spec is not None else LeaseSpec()
        self._acquired = spec.acquireTime
        self._transitions = spec.leaseTransitions or 0
        self._name = lease.metadata.name if lease.metadata and lease.metadata.name else ""

    def _ours(self, lease: Lease | None) -> LeaseSpec | None:
        """The lease's spec when it is ours (our holder and our acquireTime), else None."""
        spec = lease.spec if lease is not None else None
        if (
            spec is not None
            and spec.holderIdentity == self._store.holder
            and _same_instant(spec.acquireTime, self._acquired)
        ):
            return spec
        return None

    def _lost(self, lease: Lease | None) -> LockLostError:
        where = f"{self._store.namespace}/{self._name}"
        if lease is None:
            return LockLostError(f"lease {where} of profile {self._profile!r} was deleted")
        holder = lease.spec.holderIdentity if lease.spec is not None else None
        by = f"is held by {holder!r}" if holder else "was released by someone else"
        return LockLostError(f"lease {where} of profile {self._profile!r} {by} now")

    def _with_spec(self, base: Lease, spec: LeaseSpec) -> Lease:
        return Lease(metadata=base.metadata, spec=spec)

    async def renew(self) -> None:
        for _ in range(_TAKE_ATTEMPTS):
            spec = LeaseSpec(
                holderIdentity=self._store.holder,
                leaseDurationSeconds=self._store.lease_seconds,
                acquireTime=self._acquired,
                renewTime=_now(),
                leaseTransitions=self._transitions,
            )
            try:
                self._lease = await self._store.put_lease(self._with_spec(self._lease, spec))
                return
            except ApiError as e:
                if _code(e) == 404:
                    raise self._lost(None) from None
                if _code(e) != 409:
                    raise self._store.error(f"cannot renew lease {self._name!r}", e) from e
            current = await self._store.get_lease(self._name)
            if current is None or self._ours(current) is None:
                raise self._lost(current)
            self._lease = current
        raise StateError(f"lease {self._name!r} kept changing while it was being renewed")

    async def verify(self) -> None:
        current = await self._store.get_lease(self._name)
        spec = self._ours(current)
        if spec is None:
            raise self._lost(current)
        expires = _expiry(spec)
        if expires is None or expires <= _now():
            shown = _iso(expires) if expires else "an unknown time"
            raise LockLostError(
                f"lease {self._store.namespace}/{self._name} of profile {self._profile!r} "
                f"expired at {shown}"
            )

    async def release(self) -> None:
        lease = self._lease
        for _ in range(_TAKE_ATTEMPTS):
            spec = LeaseSpec(
                leaseDurationSeconds=self._store.lease_seconds,
                leaseTransitions=self._transitions,
            )
            try:
                await self._store.put_lease(self._with_spec(lease, spec))
                return
            except ApiError as e:
                if _code(e) == 404:
                    return
                if _code(e) != 409:
                    raise self._store.error(f"cannot release lease {self._name!r}", e) from e
            current = await self._store.get_lease(self._name)
            if current is None or self._ours(current) is None:
                return
            lease = current


class ConfigMapStateStore:
    """State in one ConfigMap, locks in Leases, through a lightkube ``AsyncClient``.

    ``client`` is not closed by ``aclose`` unless the store built it
    (`from_kubeconfig_or_incluster`).
    """

    def __init__(
        self,
        client: AsyncClient,
        *,
        namespace: str,
        name: str,
        lease_prefix: str,
        holder: str,
        lease_seconds: int = 60,
        renew_every: float | None = None,
        conflict_retries: int = 5,
        size_limit: int = DEFAULT_SIZE_LIMIT,
    ) -> None:
        if lease_seconds < 1 or int(lease_seconds) != lease_seconds:
            raise ValueError(f"lease_seconds must be a whole number >= 1, not {lease_seconds!r}")
        if conflict_retries < 0:
            raise ValueError("conflict_retries must not be negative")
        if not holder:
            raise ValueError("a lock holder identity is required")
        self._client = client
        self._ns = namespace
        self._name = name
        self._prefix = lease_prefix
        self._holder = holder
        self._lease_seconds = int(lease_seconds)
        self._every = renew_interval(self._lease_seconds, renew_every)
        self._retries = conflict_retries
        self._size_limit = min(size_limit, CONFIGMAP_MAX_BYTES)
        self._owns_client = False

    # -- what other parts (and the tests) may read ------------------------------------

    @property
    def holder(self) -> str:
        return self._holder

    @property
    def namespace(self) -> str:
        return self._ns

    @property
    def lease_seconds(self) -> int:
        return self._lease_seconds

    @property
    def where(self) -> str:
        return f"ConfigMap {self._ns}/{self._name}"

    def key(self, profile: str) -> str:
        return f"{profile}{KEY_SUFFIX}"

    def lease_name(self, profile: str) -> str:
        return lease_name(self._prefix, profile)

    # -- StateStore ---------------------------------------------------------------------

    async def check(self) -> None:
        try:
            await self._client.get(ConfigMap, self._name, namespace=self._ns)
        except ApiError as e:
            if _code(e) != 404:
                raise self.error(f"cannot read {self.where}", e) from e
            await self._check_can_create()
        except _TRANSPORT_ERRORS as e:
            raise self.error(f"cannot read {self.where}", e) from e
        await self._check_leases()

    async def load(self, profile: str) -> StateRecord | None:
        configmap = await self._get_configmap()
        data = (configmap.data if configmap is not None else None) or {}
        raw = data.get(self.key(profile))
        return None if raw is None else self._parse(profile, raw)

    async def load_all(self) -> dict[str, StateRecord]:
        configmap = await self._get_configmap()
        data: dict[str, str] = (configmap.data if configmap is not None else None) or {}
        out: dict[str, StateRecord] = {}
        for key in sorted(data):
            if key.endswith(KEY_SUFFIX) and len(key) > len(KEY_SUFFIX):
                profile = key[: -len(KEY_SUFFIX)]
                out[profile] = self._parse(profile, data[key])
        return out

    async def save(self, profile: str, record: StateRecord) -> None:
        await self._write(profile, json.dumps(record.to_json()))

    async def delete(self, profile: str) -> None:
        await self._write(profile, None)

    @contextlib.asynccontextmanager
    async def lock(self, profile: str) -> AsyncIterator[RenewedLock]:
        sent = time.monotonic()
        lease = await self._take(profile)
        held = RenewedLock(
            profile,
            self._holder,
            ttl=self._lease_seconds,
            every=self._every,
            backend=_HeldLease(self, profile, lease),
            acquired_at=sent,
        )
        async with held:
            yield held

    async def aclose(self) -> None:
        if self._owns_client:
            await self._client.close()

    # -- the ConfigMap ------------------------------------------------------------------

    def _parse(self, profile: str, raw: str) -> StateRecord:
        try:
            data = json.loads(raw)
        except json.JSONDecodeError as e:
            raise StateFormatError(
                f"state of profile {profile!r} in {self.where} (key {self.key(profile)!r}) "
                f"is not JSON ({e.msg}); it was not changed"
            ) from e
        return parse_record(profile, data)

    async def _get_configmap(self) -> ConfigMap | None:
        try:
            return await self._client.get(ConfigMap, self._name, namespace=self._ns)
        except ApiError as e:
            if _code(e) == 404:
                return None
            raise self.error(f"cannot read {self.where}", e) from e
        except _TRANSPORT_ERRORS as e:
            raise self.error(f"cannot read {self.where}", e) from e

    def _new_configmap(self, data: dict[str, str]) -> ConfigMap:
        return ConfigMap(
            metadata=ObjectMeta(
                name=self._name,
                namespace=self._ns,
                labels={"app.kubernetes.io/managed-by": "inventory-sync"},
            ),
            data=data,
        )

    async def _write(self, profile: str, value: str | None) -> None:
        """Set (or with None remove) one profile's key, retrying on 409 Conflict."""
        key = self.key(profile)
        action = "save" if value is not None else "delete"
        for attempt in range(self._retries + 1):
            if attempt:
                await anyio.sleep(random.uniform(0, _CONFLICT_PAUSE_S * attempt))
            configmap = await self._get_configmap()
            if configmap is None:
                if value is None:
                    return
                if await self._create({key: value}, profile):
                    return
                continue
            data: dict[str, str] = dict(configmap.data or {})
            if value is None and key not in data:
                return
            if value is not None:
                data[key] = value
                self._refuse_if_too_big(profile, data, dict(configmap.binaryData or {}))
            version = configmap.metadata.resourceVersion if configmap.metadata else None
            patch: dict[str, Any] = {"data": {key: value}}
            if version:
                patch["metadata"] = {"resourceVersion": version}
            try:
                await self._client.patch(
                    ConfigMap,
                    self._name,
                    patch,
                    namespace=self._ns,
                    patch_type=PatchType.MERGE,
                )
                return
            except ApiError as e:
                if _code(e) == 409:
                    continue  # changed since we read it: read again, change only our key
                if _code(e) == 404:
                    continue  # deleted since we read it: read again (and create)
                raise self.error(f"cannot {action} profile {profile!r} in {self.where}", e) from e
            except _TRANSPORT_ERRORS as e:
                raise self.error(f"cannot {action} profile {profile!r} in {self.where}", e) from e
        raise StateError(
            f"cannot {action} profile {profile!r}: {self.where} kept changing "
            f"({self._retries + 1} attempts ended in 409 Conflict)"
        )

    def _refuse_if_too_big(
        self, profile: str, data: Mapping[str, str], binary: Mapping[str, str]
    ) -> None:
        size = _data_bytes(data, binary)
        if size > self._size_limit:
            raise StateError(
                f"state of profile {profile!r} not saved: {self.where} would hold {size:,} bytes "
                f"of data, over the {self._size_limit:,}-byte limit (Kubernetes refuses more "
                "than 1 MiB per ConfigMap); remove unused profiles' keys or use another backend"
            )

    async def _create(self, data: dict[str, str], profile: str) -> bool:
        """Create the ConfigMap with ``data``; False when it appeared meanwhile."""
        self._refuse_if_too_big(profile, data, {})
        try:
            await self._client.create(self._new_configmap(data))
            return True
        except ApiError as e:
            if _code(e) == 409:
                return False
            raise self.error(
                f"{self.where} does not exist and cannot be created for profile {profile!r}", e
            ) from e
        except _TRANSPORT_ERRORS as e:
            raise self.error(f"cannot create {self.where}", e) from e

    async def _check_can_create(self) -> None:
        try:
            await self._client.create(self._new_configmap({}), dry_run=True)
        except ApiError as e:
            if _code(e) == 409:
                return
            raise self.error(
                f"{self.where} does not exist, and creating it is not allowed "
                "(install the chart's ConfigMap or grant configmaps: create)",
                e,
            ) from e
        except _TRANSPORT_ERRORS as e:
            raise self.error(f"cannot reach the Kubernetes API for {self.where}", e) from e

    async def _check_leases(self) -> None:
        """Leases may be read and created (a server-side dry run, nothing is written).

        The probe has a fixed name, ``<prefix>-check``, so a Role that limits ``get`` to
        named Leases (the chart's: each profile's, and this one) allows it."""
        probe = lease_name(self._prefix, CHECK_PROBE)
        try:
            await self._client.get(Lease, probe, namespace=self._ns)
        except ApiError as e:
            if _code(e) != 404:
                raise self.error(f"cannot read leases in namespace {self._ns!r}", e) from e
        except _TRANSPORT_ERRORS as e:
            raise self.error(f"cannot read leases in namespace {self._ns!r}", e) from e
        try:
            await self._client.create(
                Lease(metadata=ObjectMeta(name=probe, namespace=self._ns), spec=LeaseSpec()),
                dry_run=True,
            )
        except ApiError as e:
            if _code(e) != 409:
                raise self.error(f"cannot create leases in namespace {self._ns!r}", e) from e
        except _TRANSPORT_ERRORS as e:
            raise self.error(f"cannot create leases in namespace {self._ns!r}", e) from e

    # -- leases ---------------------------------------------------------------------------

    def error(self, what: str, error: Exception) -> StateError:
        """A ``StateError`` for a failed API call (never carries credentials)."""
        server = self._client.config.cluster.server if self._client.config else "?"
        if isinstance(error, ApiError):
            code = _code(error)
            if code == 401:
                return StateError(
                    f"{what}: the Kubernetes API at {server} rejected the credentials "
                    "(401 Unauthorized)"
                )
            if code == 403:
                return StateError(f"{what}: forbidden by RBAC ({_describe(error)})")
            return StateError(f"{what}: {_describe(error)}")
        if isinstance(error, httpx2.HTTPStatusError):
            return StateError(f"{what}: {_describe(error)}")
        return StateError(f"{what}: Kubernetes API at {server} unreachable ({_describe(error)})")

    async def get_lease(self, name: str) -> Lease | None:
        try:
            return await self._client.get(Lease, name, namespace=self._ns)
        except ApiError as e:
            if _code(e) == 404:
                return None
            raise self.error(f"cannot read lease {self._ns}/{name}", e) from e
        except _TRANSPORT_ERRORS as e:
            raise self.error(f"cannot read lease {self._ns}/{name}", e) from e

    async def put_lease(self, lease: Lease) -> Lease:
        """PUT with the resourceVersion in ``lease.metadata``; ``ApiError`` 404/409 are left to
        the caller, every other failure is a ``StateError``."""
        name = lease.metadata.name if lease.metadata else None
        try:
            return await self._client.replace(lease)
        except ApiError as e:
            if _code(e) in (404, 409):
                raise
            raise self.error(f"cannot update lease {self._ns}/{name}", e) from e
        except _TRANSPORT_ERRORS as e:
            raise self.error(f"cannot update lease {self._ns}/{name}", e) from e

    async def _take(self, profile: str) -> Lease:
        name = self.lease_name(profile)
        for _ in range(_TAKE_ATTEMPTS):
            current = await self.get_lease(name)
            now = _now()
            if current is None:
                fresh = Lease(
                    metadata=ObjectMeta(
                        name=name,
                        namespace=self._ns,
                        labels=lease_labels(profile),
                        annotations={PROFILE_ANNOTATION: profile},
                    ),
                    spec=LeaseSpec(
                        holderIdentity=self._holder,
                        leaseDurationSeconds=self._lease_seconds,
                        acquireTime=now,
                        renewTime=now,
                        leaseTransitions=0,
                    ),
                )
                try:
                    return await self._client.create(fresh)
                except ApiError as e:
                    if _code(e) == 409:
                        continue  # someone created it first: look again
                    raise self.error(f"cannot create lease {self._ns}/{name}", e) from e
                except _TRANSPORT_ERRORS as e:
                    raise self.error(f"cannot create lease {self._ns}/{name}", e) from e
            spec = current.spec if current.spec is not None else LeaseSpec()
            expires = _expiry(spec)
            if spec.holderIdentity and expires is not None and expires > now:
                raise LockHeldError(profile, spec.holderIdentity, expires=_iso(expires))
            changed = spec.holderIdentity != self._holder
            taken = Lease(
                metadata=_labelled(current.metadata, profile),
                spec=LeaseSpec(
                    holderIdentity=self._holder,
                    leaseDurationSeconds=self._lease_seconds,
                    acquireTime=now,
                    renewTime=now,
                    leaseTransitions=(spec.leaseTransitions or 0) + (1 if changed else 0),
                ),
            )
            try:
                return await self.put_lease(taken)
            except ApiError:
                continue  # 409: another run took it first (or 404: deleted); look again
        raise StateError(
            f"lease {self._ns}/{name} of profile {profile!r} kept changing while taking it"
        )


def _kube_config(kubeconfig: str | Path | None) -> KubeConfig:
    """In-cluster service account, else ``kubeconfig``/``$KUBECONFIG``/``~/.kube/config``."""
    try:
        if kubeconfig is not None:
            return KubeConfig.from_file(kubeconfig)
        token = SERVICE_ACCOUNT_DIR / "token"
        if token.is_file() and os.environ.get("KUBERNETES_SERVICE_HOST"):
            return KubeConfig.from_service_account(SERVICE_ACCOUNT_DIR)
        candidates = [p for p in os.environ.get("KUBECONFIG", "").split(os.pathsep) if p]
        candidates.append("~/.kube/config")
        for candidate in candidates:
            if Path(candidate).expanduser().is_file():
                return KubeConfig.from_file(candidate)
    except (KubeConfigError, OSError, KeyError, ValueError, TypeError) as e:
        raise StateError(f"cannot load the Kubernetes configuration: {e}") from e
    raise StateError(
        "no Kubernetes configuration: not running in a cluster (no service account token "
        f"in {SERVICE_ACCOUNT_DIR}), and neither $KUBECONFIG nor ~/.kube/config is a file"
    )


def from_kubeconfig_or_incluster(
    *,
    name: str,
    lease_prefix: str,
    holder: str,
    namespace: str | None = None,
    lease_seconds: int = 60,
    renew_every: float | None = None,
    conflict_retries: int = 5,
    size_limit: int = DEFAULT_SIZE_LIMIT,
    kubeconfig: str | Path | None = None,
    context: str | None = None,
    timeout_s: float = 10.0,
) -> ConfigMapStateStore:
    """A store with its own client: the pod's service account when running in a cluster,
    else ``kubeconfig`` / ``$KUBECONFIG`` / ``~/.kube/config`` (``context`` or the current
    one). ``namespace`` defaults to the pod's (or the context's) namespace. Reads files
    only; ``check()`` is the first call to the API. ``aclose`` closes the client."""
    config = _kube_config(kubeconfig)
    try:
        single = config.get(context)
        if single is None:  # pragma: no cover - get() without default never returns None
            raise StateError("the Kubernetes configuration has no context")
        client = AsyncClient(
            single,
            namespace=namespace,
            timeout=httpx2.Timeout(timeout_s),
            field_manager="inventory-sync",
        )
    except (KubeConfigError, OSError, ValueError, TypeError) as e:
        raise StateError(f"cannot load the Kubernetes configuration: {e}") from e
    store = ConfigMapStateStore(
        client,
        namespace=namespace or client.namespace,
        name=name,
        lease_prefix=lease_prefix,
        holder=holder,
        lease_seconds=lease_seconds,
        renew_every=renew_every,
        conflict_retries=conflict_retries,
        size_limit=size_limit,
    )
    store._owns_client = True
    return store
