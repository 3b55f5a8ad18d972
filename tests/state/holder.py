"""A run that takes one profile's lock and holds it (renewing) until it is killed.

``python -m tests.state.holder '<json spec>'`` prints ``held`` once the lock is taken,
then sleeps; the tests kill it with SIGKILL to leave the lock behind as a killed pod
would. The spec names the backend and how to reach it (see `tests.state.conftest`).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import anyio
from lightkube import AsyncClient, KubeConfig
from lightkube.config.models import Cluster, User

from inventory_sync.state.base import StateStore
from inventory_sync.state.configmap import ConfigMapStateStore
from inventory_sync.state.file import FileStateStore
from inventory_sync.state.redis import RedisStateStore


def build(spec: dict[str, Any]) -> StateStore:
    holder = spec["holder"]
    match spec["backend"]:
        case "file":
            return FileStateStore(Path(spec["dir"]), holder=holder)
        case "configmap":
            config = KubeConfig.from_one(
                cluster=Cluster(server=spec["url"]),
                user=User(token=spec["token"]),
                namespace=spec["namespace"],
            )
            return ConfigMapStateStore(
                AsyncClient(config),
                namespace=spec["namespace"],
                name=spec["name"],
                lease_prefix=spec["lease_prefix"],
                holder=holder,
                lease_seconds=spec["ttl"],
            )
        case "redis":
            return RedisStateStore(
                spec["url"],
                password=spec["password"],
                key_prefix=spec["prefix"],
                holder=holder,
                lock_seconds=spec["ttl"],
            )
    raise SystemExit(f"unknown backend {spec['backend']!r}")


async def hold(spec: dict[str, Any]) -> None:
    store = build(spec)
    async with store.lock(spec["profile"]):
        print("held", flush=True)
        await anyio.sleep_forever()


if __name__ == "__main__":
    anyio.run(hold, json.loads(sys.argv[1]))
