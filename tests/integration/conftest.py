"""The real CLI, as a subprocess, against both emulators on loopback sockets."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests.emulators.commercetools import CommercetoolsEmulator
from tests.emulators.fluent import FluentEmulator
from tests.emulators.server import serve

ROOT = Path(__file__).resolve().parents[2]


@dataclass
class Result:
    returncode: int
    stdout: str
    stderr: str
    events: list[dict[str, Any]] = field(default_factory=list)

    def named(self, event: str) -> list[dict[str, Any]]:
        return [e for e in self.events if e.get("event") == event]

    def summary(self, profile: str) -> dict[str, Any]:
        (found,) = [
            e for e in self.named("inventory_sync.profile_finished") if e["profile"] == profile
        ]
        return found


@dataclass
class Job:
    """Runs ``python -m inventory_sync`` with settings pointing at the emulators."""

    env: dict[str, str]
    workdir: Path

    def profiles(self, *profiles: tuple[str, str, str], extra: str = "") -> None:
        lines = ["profiles:"]
        for name, channel, catalogue in profiles:
            lines += [
                f"  - name: {name}",
                f"    ctChannelKey: {json.dumps(channel)}",
                f"    fluentAggregateVirtualCatalogueRef: {json.dumps(catalogue)}",
            ]
        (self.workdir / "profiles.yaml").write_text("\n".join(lines) + "\n" + extra)

    def state(self, profile: str) -> dict[str, Any] | None:
        path = self.workdir / "state" / f"{profile}.json"
        return json.loads(path.read_text()) if path.exists() else None

    def failed_state(self, profile: str) -> dict[str, Any]:
        """The profile's state record, which must say its last run failed and keep the
        window where it was before the first successful run (no ``previousEndDate``)."""
        state = self.state(profile)
        assert state is not None
        assert state["previousEndDate"] is None
        assert state["lastRun"]["status"] == "FAILED"
        return state

    def start(self, env: dict[str, str]) -> subprocess.Popen[str]:
        """``run`` as a process still going, its stdout (the JSON log) piped, to signal."""
        return subprocess.Popen(
            [sys.executable, "-m", "inventory_sync", "run"],
            env={**self.env, **env},
            cwd=self.workdir,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )

    def run(self, *args: str, env: dict[str, str] | None = None, timeout: float = 60) -> Result:
        done = subprocess.run(
            [sys.executable, "-m", "inventory_sync", *args],
            env={**self.env, **(env or {})},
            capture_output=True,
            text=True,
            timeout=timeout,
            cwd=self.workdir,
            check=False,
        )
        events = log_events(done.stdout) + log_events(done.stderr)
        return Result(done.returncode, done.stdout, done.stderr, events)


def log_events(stdout: str) -> list[dict[str, Any]]:
    """The JSON log lines of an output (``state show`` prints a JSON document too)."""
    events = []
    for line in stdout.splitlines():
        try:
            event = json.loads(line)
        except ValueError:
            continue
        if isinstance(event, dict) and "event" in event:
            events.append(event)
    return events


@pytest.fixture
def fluent() -> FluentEmulator:
    return FluentEmulator()


@pytest.fixture
def ct() -> CommercetoolsEmulator:
    return CommercetoolsEmulator()


@pytest.fixture
def job(fluent: FluentEmulator, ct: CommercetoolsEmulator, tmp_path: Path) -> Iterator[Job]:
    with serve(fluent.app) as fluent_url, serve(ct.app) as ct_url:
        env = {k: v for k, v in os.environ.items() if not k.startswith("INVENTORY_SYNC_")}
        env.update(
            {
                "INVENTORY_SYNC_FLUENT_URL": fluent_url,
                "INVENTORY_SYNC_FLUENT_USERNAME": "demo-user",
                "INVENTORY_SYNC_FLUENT_PASSWORD": "demo-pass",
                "INVENTORY_SYNC_FLUENT_CLIENT_ID": "demo-client",
                "INVENTORY_SYNC_FLUENT_CLIENT_SECRET": "demo-secret",
                "INVENTORY_SYNC_CT_AUTH_URL": ct_url,
                "INVENTORY_SYNC_CT_API_URL": ct_url,
                "INVENTORY_SYNC_CT_PROJECT_KEY": ct.project_key,
                "INVENTORY_SYNC_CT_CLIENT_ID": "ct-client",
                "INVENTORY_SYNC_CT_CLIENT_SECRET": "ct-secret",
                "INVENTORY_SYNC_PROFILES_FILE": str(tmp_path / "profiles.yaml"),
                "INVENTORY_SYNC_STATE_DIR": str(tmp_path / "state"),
                "INVENTORY_SYNC_SETTLE_LAG_SECONDS": "0",
                "INVENTORY_SYNC_RETRY_WAIT_INITIAL_SECONDS": "0",
                "INVENTORY_SYNC_RETRY_WAIT_MAX_SECONDS": "0",
                "INVENTORY_SYNC_LOG_FORMAT": "json",
                "PYTHONPATH": str(ROOT / "src"),
            }
        )
        yield Job(env=env, workdir=tmp_path)


# the real Redis server and the Kubernetes API emulator of the state tests
from tests.state.conftest import kube, kube_server, kube_url, redis_server  # noqa: E402, F401
