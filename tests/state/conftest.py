"""Fixtures of the state store tests: the three backends behind one test interface.

- ``file``: a temporary directory.
- ``configmap``: the Kubernetes API emulator (`tests.emulators.kube`) on a loopback
  socket, one lightkube client per store (as two pods would have); the ConfigMap exists
  up front, as the Helm chart creates it.
- ``redis``: a real ``redis-server`` on a free loopback port (with a password), started
  once per session; every test uses its own key prefix.

Locks use short lives (1 s, renewed every third of it) so expiry tests stay quick.
"""

from __future__ import annotations

import contextlib
import json
import shutil
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import anyio
import pytest
import redis
from lightkube import AsyncClient, KubeConfig
from lightkube.config.models import Cluster, User

from inventory_sync.errors import LockHeldError
from inventory_sync.state.base import StateStore
from inventory_sync.state.configmap import ConfigMapStateStore, lease_name
from inventory_sync.state.file import FileStateStore
from inventory_sync.state.record import StateRecord, parse_record
from inventory_sync.state.redis import RedisStateStore
from tests.emulators.kube import KubeEmulator
from tests.emulators.server import serve

ROOT = Path(__file__).resolve().parents[2]
NAMESPACE = "inventory"
CONFIGMAP = "inventory-sync-state"
LEASE_PREFIX = "inventory-sync"
KUBE_TOKEN = "kube-emulator-token-7f3a"
REDIS_PASSWORD = "redis-test-password-91c2"
TTL = 1
"""Seconds a lock lives without renewal in these tests."""

SEED: dict[str, Any] = {
    "previousEndDate": "2026-12-03T18:00:00.000Z",
    "props": {"ctChannelKey": "eu-warehouse", "fluentAggregateVirtualCatalogueRef": "AGG_VC_EU"},
    "lastRun": {
        "param": {
            "start": "2026-12-03T17:53:00.000Z",
            "end": "2026-12-03T18:00:00.000Z",
            "props": {
                "ctChannelKey": "eu-warehouse",
                "fluentAggregateVirtualCatalogueRef": "AGG_VC_EU",
            },
        },
        "jobStart": "2026-12-03T18:00:30.012Z",
        "jobEnd": "2026-12-03T18:00:41.377Z",
        "status": "SUCCESSFUL",
    },
}
"""The record of the README, in the seed's shape."""


def make_record(
    previous_end: str | None = "2026-12-03T18:00:00.000Z", channel: str = "eu"
) -> StateRecord:
    return parse_record(
        "test",
        {
            "previousEndDate": previous_end,
            "props": {
                "ctChannelKey": channel,
                "fluentAggregateVirtualCatalogueRef": f"AGG_{channel}",
            },
            "lastRun": None,
        },
    )


def micro(moment: datetime) -> str:
    """A Kubernetes MicroTime."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


# -- servers --------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def kube_server() -> Iterator[tuple[KubeEmulator, str]]:
    emulator = KubeEmulator(token=KUBE_TOKEN)
    with serve(emulator.app) as url:
        yield emulator, url


@pytest.fixture
def kube(kube_server: tuple[KubeEmulator, str]) -> KubeEmulator:
    """The emulator, emptied."""
    emulator, _ = kube_server
    emulator.reset()
    return emulator


@pytest.fixture
def kube_url(kube_server: tuple[KubeEmulator, str]) -> str:
    return kube_server[1]


def kube_client(url: str, *, token: str = KUBE_TOKEN) -> AsyncClient:
    config = KubeConfig.from_one(
        cluster=Cluster(server=url), user=User(token=token), namespace=NAMESPACE
    )
    return AsyncClient(config, trust_env=False)


@dataclass(frozen=True)
class RedisServer:
    host: str
    port: int
    password: str

    @property
    def url(self) -> str:
        return f"redis://{self.host}:{self.port}/0"

    def client(self) -> redis.Redis:
        return redis.Redis(
            host=self.host, port=self.port, password=self.password, decode_responses=True
        )


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@pytest.fixture
def free_port() -> int:
    """A loopback port nothing listens on (right now)."""
    return _free_port()


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    executable = shutil.which("redis-server")
    if executable is None:
        pytest.fail(
            "redis-server is not installed, and the Redis state tests need a real one: "
            "run `make system-deps` (or `apt-get install -y redis-server`)",
            pytrace=False,
        )
    workdir = tmp_path_factory.mktemp("redis")
    log_path = workdir / "redis.log"
    for _ in range(5):
        port = _free_port()
        with log_path.open("w") as log:
            proc = subprocess.Popen(
                [
                    executable,
                    "--port", str(port),
                    "--bind", "127.0.0.1",
                    "--save", "",
                    "--appendonly", "no",
                    "--requirepass", REDIS_PASSWORD,
                    "--dir", str(workdir),
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
            )  # fmt: skip
        server = RedisServer("127.0.0.1", port, REDIS_PASSWORD)
        if _wait_for_redis(proc, server):
            break
        proc.wait(5)
    else:
        pytest.fail(f"redis-server did not start:\n{log_path.read_text()}", pytrace=False)
    try:
        yield server
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


def _wait_for_redis(proc: subprocess.Popen[bytes], server: RedisServer) -> bool:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            return False  # e.g. the port was taken meanwhile
        client = server.client()
        try:
            if client.ping():
                return True
        except redis.exceptions.ConnectionError:
            time.sleep(0.02)
        finally:
            client.close()
    proc.kill()
    return False


# -- the backends behind one interface ----------------------------------------------------


class Backend:
    """Builds stores of one backend and reaches behind them (raw writes, forced locks)."""

    name: str
    expires: bool
    """True: the lock has a time to live (Lease, Redis key); False: the OS holds it (flock)."""

    def __init__(self) -> None:
        self._stores: list[StateStore] = []

    def store(
        self, holder: str = "run-a", *, ttl: int = TTL, renew_every: float | None = None
    ) -> StateStore:
        made = self._make(holder, ttl, renew_every)
        self._stores.append(made)
        return made

    def _make(self, holder: str, ttl: int, renew_every: float | None) -> StateStore:
        raise NotImplementedError

    def write_raw(self, profile: str, text: str) -> None:
        """Store ``text`` as the profile's record, bypassing the store."""
        raise NotImplementedError

    def holder_spec(self, profile: str, holder: str, ttl: int) -> dict[str, Any]:
        raise NotImplementedError

    def lock_holder(self, profile: str) -> str | None:
        """Who holds the profile's lock according to the backend itself (expiring locks)."""
        raise NotImplementedError

    def steal(self, profile: str, holder: str) -> None:
        """Someone else takes the profile's lock by force (expiring locks)."""
        raise NotImplementedError

    async def aclose(self) -> None:
        for made in self._stores:
            await made.aclose()


class FileBackend(Backend):
    name = "file"
    expires = False

    def __init__(self, directory: Path) -> None:
        super().__init__()
        self.directory = directory

    def _make(self, holder: str, ttl: int, renew_every: float | None) -> StateStore:
        return FileStateStore(self.directory, holder=holder)

    def write_raw(self, profile: str, text: str) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        (self.directory / f"{profile}.json").write_text(text)

    def holder_spec(self, profile: str, holder: str, ttl: int) -> dict[str, Any]:
        return {"backend": "file", "dir": str(self.directory), "holder": holder, "profile": profile}


class ConfigMapBackend(Backend):
    name = "configmap"
    expires = True

    def __init__(self, kube: KubeEmulator, url: str) -> None:
        super().__init__()
        self.kube = kube
        self.url = url
        self._clients: list[AsyncClient] = []
        kube.put("configmaps", NAMESPACE, {"metadata": {"name": CONFIGMAP}, "data": {}})

    def _make(self, holder: str, ttl: int, renew_every: float | None) -> StateStore:
        client = kube_client(self.url)
        self._clients.append(client)
        return ConfigMapStateStore(
            client,
            namespace=NAMESPACE,
            name=CONFIGMAP,
            lease_prefix=LEASE_PREFIX,
            holder=holder,
            lease_seconds=ttl,
            renew_every=renew_every,
        )

    def configmap(self) -> dict[str, Any]:
        found = self.kube.get("configmaps", NAMESPACE, CONFIGMAP)
        assert found is not None
        return found

    def write_raw(self, profile: str, text: str) -> None:
        current = self.configmap()
        current.setdefault("data", {})[f"{profile}.json"] = text
        self.kube.put("configmaps", NAMESPACE, current)

    def holder_spec(self, profile: str, holder: str, ttl: int) -> dict[str, Any]:
        return {
            "backend": "configmap",
            "url": self.url,
            "token": KUBE_TOKEN,
            "namespace": NAMESPACE,
            "name": CONFIGMAP,
            "lease_prefix": LEASE_PREFIX,
            "holder": holder,
            "ttl": ttl,
            "profile": profile,
        }

    def lease(self, profile: str) -> dict[str, Any] | None:
        return self.kube.get("leases", NAMESPACE, lease_name(LEASE_PREFIX, profile))

    def lock_holder(self, profile: str) -> str | None:
        found = self.lease(profile)
        return None if found is None else found.get("spec", {}).get("holderIdentity")

    def steal(self, profile: str, holder: str) -> None:
        now = datetime.now(UTC)
        current = self.lease(profile) or {"metadata": {"name": lease_name(LEASE_PREFIX, profile)}}
        current["spec"] = {
            "holderIdentity": holder,
            "leaseDurationSeconds": 30,
            "acquireTime": micro(now),
            "renewTime": micro(now),
        }
        self.kube.put("leases", NAMESPACE, current)

    def put_lease(
        self, profile: str, holder: str | None, renewed: datetime, duration: int = TTL
    ) -> None:
        spec: dict[str, Any] = {
            "leaseDurationSeconds": duration,
            "acquireTime": micro(renewed),
            "renewTime": micro(renewed),
        }
        if holder is not None:
            spec["holderIdentity"] = holder
        self.kube.put(
            "leases",
            NAMESPACE,
            {"metadata": {"name": lease_name(LEASE_PREFIX, profile)}, "spec": spec},
        )

    async def aclose(self) -> None:
        await super().aclose()
        for client in self._clients:
            await client.close()


class RedisBackend(Backend):
    name = "redis"
    expires = True

    def __init__(self, server: RedisServer) -> None:
        super().__init__()
        self.server = server
        self.prefix = f"test-{uuid.uuid4().hex[:12]}"
        self.raw = server.client()

    def _make(self, holder: str, ttl: int, renew_every: float | None) -> StateStore:
        return RedisStateStore(
            self.server.url,
            password=self.server.password,
            key_prefix=self.prefix,
            holder=holder,
            lock_seconds=ttl,
            renew_every=renew_every,
        )

    def write_raw(self, profile: str, text: str) -> None:
        self.raw.set(f"{self.prefix}:state:{profile}", text)

    def holder_spec(self, profile: str, holder: str, ttl: int) -> dict[str, Any]:
        return {
            "backend": "redis",
            "url": self.server.url,
            "password": self.server.password,
            "prefix": self.prefix,
            "holder": holder,
            "ttl": ttl,
            "profile": profile,
        }

    def lock_holder(self, profile: str) -> str | None:
        value = self.raw.get(f"{self.prefix}:lock:{profile}")
        return None if value is None else str(value).rpartition("|")[0]

    def steal(self, profile: str, holder: str) -> None:
        self.raw.set(f"{self.prefix}:lock:{profile}", f"{holder}|stolen", px=30_000)

    async def aclose(self) -> None:
        await super().aclose()
        self.raw.close()


BACKENDS = ["file", "configmap", "redis"]
EXPIRING = ["configmap", "redis"]


def _make_backend(name: str, request: pytest.FixtureRequest, tmp_path: Path) -> Backend:
    if name == "file":
        return FileBackend(tmp_path / "state")
    if name == "configmap":
        return ConfigMapBackend(
            request.getfixturevalue("kube"), request.getfixturevalue("kube_url")
        )
    return RedisBackend(request.getfixturevalue("redis_server"))


@pytest.fixture(params=BACKENDS)
async def backend(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Backend]:
    made = _make_backend(request.param, request, tmp_path)
    try:
        yield made
    finally:
        await made.aclose()


@pytest.fixture(params=EXPIRING)
async def expiring(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Backend]:
    """The backends whose locks expire unless renewed."""
    made = _make_backend(request.param, request, tmp_path)
    try:
        yield made
    finally:
        await made.aclose()


@pytest.fixture
async def configmap_backend(kube: KubeEmulator, kube_url: str) -> AsyncIterator[ConfigMapBackend]:
    made = ConfigMapBackend(kube, kube_url)
    try:
        yield made
    finally:
        await made.aclose()


@pytest.fixture
async def redis_backend(redis_server: RedisServer) -> AsyncIterator[RedisBackend]:
    made = RedisBackend(redis_server)
    try:
        yield made
    finally:
        await made.aclose()


# -- a holder that gets killed --------------------------------------------------------------


@contextlib.asynccontextmanager
async def killable_holder(spec: dict[str, Any]) -> AsyncIterator[subprocess.Popen[str]]:
    """A separate process holding the lock of ``spec`` (renewing it) until it is killed."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "tests.state.holder", json.dumps(spec)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        with anyio.fail_after(30):
            line = await anyio.to_thread.run_sync(proc.stdout.readline)
        if line.strip() != "held":
            proc.kill()
            _, err = proc.communicate(timeout=10)
            pytest.fail(f"the lock holder process did not take the lock:\n{err}")
        yield proc
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.communicate(timeout=10)


async def take_eventually(store: StateStore, profile: str, within: float) -> float:
    """Seconds until ``store`` could take the profile's lock (fails after ``within``)."""
    started = time.monotonic()
    while True:
        try:
            async with store.lock(profile) as held:
                await held.ensure_held()
                return time.monotonic() - started
        except LockHeldError:
            if time.monotonic() - started > within:
                raise
            await anyio.sleep(0.05)


def ago(seconds: float) -> datetime:
    return datetime.now(UTC) - timedelta(seconds=seconds)
