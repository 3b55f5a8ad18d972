"""`make demo`: the real job against the bundled emulators, on a realistic catalogue.

1. seeds the emulators (two profiles, 10,000 positions each, unicode refs, a ``"``,
   zeros, oversold and invalid positions; ~30 % already in commercetools),
2. runs ``inventory-sync run`` (no state yet → full sync) and checks that every entry
   of both channels equals the master,
3. changes some positions in Fluent, runs again (delta) and checks that only those
   were fetched and that both channels still equal the master,
4. prints both summaries and the state files, and checks their shape.

Exits non-zero when any check fails.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx

from tests.emulators.seed import make_catalogue

ROOT = Path(__file__).resolve().parent.parent
WORK = ROOT / ".demo"
PROFILES = [
    ("eu", "eu-warehouse", "AGG_VC_EU"),
    ("us", "us-warehouse", "AGG_VC_US"),
]
SETTLE_LAG = 1.0
CHANGES_PER_PROFILE = 150


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def wait_until_up(url: str, process: subprocess.Popen[bytes], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"emulators exited with code {process.returncode}")
        try:
            httpx.get(url, timeout=1.0)
            return
        except httpx.TransportError:
            time.sleep(0.1)
    raise SystemExit(f"emulators did not answer at {url} within {timeout:.0f} s")


def expected_quantities(positions: list[dict[str, Any]]) -> dict[str, int]:
    """What commercetools must hold: valid ACTIVE positions, negatives as 0."""
    wanted: dict[str, int] = {}
    for p in positions:
        ref, quantity = p.get("productRef"), p.get("quantity")
        if p.get("status") != "ACTIVE" or not isinstance(ref, str) or not ref.strip():
            continue
        if isinstance(quantity, int) and not isinstance(quantity, bool):
            wanted[ref] = max(quantity, 0)
    return wanted


def compare(fluent: str, ct: str) -> bool:
    all_equal = True
    for name, channel, catalogue in PROFILES:
        positions = httpx.get(
            f"{fluent}/_emulator/positions", params={"catalogue": catalogue}
        ).json()
        entries = httpx.get(f"{ct}/_emulator/entries", params={"channel": channel}).json()
        wanted = expected_quantities(positions)
        wrong = {sku: (q, entries.get(sku)) for sku, q in wanted.items() if entries.get(sku) != q}
        # entries the job must not touch: the master has them, but not writable (no usable
        # quantity, or not ACTIVE); anything else in the channel the master does not know
        known = {p.get("productRef") for p in positions}
        unknown = sorted(sku for sku in entries if sku not in wanted and sku not in known)
        if wrong or unknown:
            all_equal = False
            sample = dict(list(wrong.items())[:5])
            print(f"  ✗ {name}: {len(wrong)} of {len(wanted)} SKUs differ, e.g. {sample}")
            if unknown:
                print(f"  ✗ {name}: entries the master does not have: {unknown[:5]}")
        else:
            kept = len(entries) - len(wanted)
            print(
                f"  ✓ {name}: all {len(entries)} entries of channel {channel!r} match the "
                f"master ({len(wanted)} equal to it, {kept} it holds unwritable, left as they were)"
            )
    return all_equal


def check_state(path: Path, run: dict[str, Any]) -> bool:
    """The record is in the seed's shape and holds the window the run read."""
    record = json.loads(path.read_text(encoding="utf-8"))
    last = record.get("lastRun") or {}
    problems = []
    if list(record) != ["previousEndDate", "props", "lastRun"]:
        problems.append(f"keys {list(record)}")
    if set(last) != {"param", "jobStart", "jobEnd", "status"}:
        problems.append(f"lastRun keys {sorted(last)}")
    if set(record.get("props") or {}) != {"ctChannelKey", "fluentAggregateVirtualCatalogueRef"}:
        problems.append(f"props {record.get('props')}")
    if record.get("previousEndDate") != run["window_end"] or not run["window_end"].endswith("Z"):
        problems.append(f"previousEndDate {record.get('previousEndDate')} != {run['window_end']}")
    if last.get("status") != "SUCCESSFUL":
        problems.append(f"status {last.get('status')}")
    name = path.stem
    if problems:
        print(f"  ✗ {name}: state record: {'; '.join(problems)}")
        return False
    print(f"  ✓ {name}: state record in the seed's shape, previousEndDate = the window's end")
    return True


def run_job(env: dict[str, str], label: str) -> dict[str, dict[str, Any]]:
    print(f"\n$ inventory-sync run   # {label}")
    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-m", "inventory_sync", "run"],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    seconds = time.monotonic() - started
    summaries: dict[str, dict[str, Any]] = {}
    for line in done.stdout.splitlines():
        event = json.loads(line)
        if event["event"] == "inventory_sync.profile_finished":
            summaries[event["profile"]] = event
            counts = " ".join(
                f"{k}={event[k]}"
                for k in (
                    "fetched",
                    "created",
                    "updated",
                    "unchanged",
                    "invalid",
                    "clamped",
                    "failed",
                )
            )
            print(
                f"  {event['profile']}: {event['status']} {counts} "
                f"window=[{event['window_start']} .. {event['window_end']}] {event['duration_s']}s"
            )
    print(f"  exit code {done.returncode} after {seconds:.1f} s")
    if done.returncode != 0:
        print(done.stdout[-4000:], done.stderr[-4000:], sep="\n")
        raise SystemExit(f"the job failed ({label})")
    return summaries


def change_positions(fluent: str) -> dict[str, int]:
    """Change some quantities (and add a few new SKUs) in each catalogue."""
    rng = random.Random(7)
    changed: dict[str, int] = {}
    for name, _, catalogue in PROFILES:
        positions = httpx.get(
            f"{fluent}/_emulator/positions", params={"catalogue": catalogue}
        ).json()
        active = [
            p
            for p in positions
            if p.get("status") == "ACTIVE" and isinstance(p.get("quantity"), int)
        ]
        picked = rng.sample(active, CHANGES_PER_PROFILE - 5)
        updates = [
            {**p, "quantity": (p["quantity"] + rng.randint(1, 40)) % 200} for p in picked
        ] + [
            {
                "ref": f"NEW-{name}-{n}",
                "productRef": f"NEW-{name}-{n}",
                "quantity": n * 3,
                "status": "ACTIVE",
            }
            for n in range(5)
        ]
        for u in updates:
            u.pop("updatedOn", None)
            u.pop("createdOn", None)
        httpx.post(
            f"{fluent}/_emulator/positions", json={"catalogue": catalogue, "positions": updates}
        ).raise_for_status()
        changed[name] = len(updates)
    return changed


def main() -> int:
    shutil.rmtree(WORK, ignore_errors=True)
    (WORK / "state").mkdir(parents=True)
    seed = WORK / "seed.json"
    seed.write_text(json.dumps(make_catalogue(n_per_profile=10_000)), encoding="utf-8")
    (WORK / "profiles.yaml").write_text(
        "profiles:\n"
        + "".join(
            f"  - name: {n}\n    ctChannelKey: {c}\n    fluentAggregateVirtualCatalogueRef: {r}\n"
            for n, c, r in PROFILES
        ),
        encoding="utf-8",
    )
    fluent_port, ct_port = free_port(), free_port()
    fluent, ct = f"http://127.0.0.1:{fluent_port}", f"http://127.0.0.1:{ct_port}"
    emulators = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "tests.emulators",
            "--fluent-port",
            str(fluent_port),
            "--ct-port",
            str(ct_port),
            "--seed",
            str(seed),
        ],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
    )
    try:
        wait_until_up(f"{fluent}/_emulator/positions?catalogue=x", emulators)
        wait_until_up(f"{ct}/_emulator/stats", emulators)
        print(f"emulators: fluent {fluent}, commercetools {ct}; seed {seed.relative_to(ROOT)}")
        env = {
            **os.environ,
            "INVENTORY_SYNC_FLUENT_URL": fluent,
            "INVENTORY_SYNC_FLUENT_USERNAME": "demo-user",
            "INVENTORY_SYNC_FLUENT_PASSWORD": "demo-pass",
            "INVENTORY_SYNC_FLUENT_CLIENT_ID": "demo-client",
            "INVENTORY_SYNC_FLUENT_CLIENT_SECRET": "demo-secret",
            "INVENTORY_SYNC_CT_AUTH_URL": ct,
            "INVENTORY_SYNC_CT_API_URL": ct,
            "INVENTORY_SYNC_CT_PROJECT_KEY": "demo-project",
            "INVENTORY_SYNC_CT_CLIENT_ID": "ct-client",
            "INVENTORY_SYNC_CT_CLIENT_SECRET": "ct-secret",
            "INVENTORY_SYNC_PROFILES_FILE": str(WORK / "profiles.yaml"),
            "INVENTORY_SYNC_STATE_DIR": str(WORK / "state"),
            "INVENTORY_SYNC_SETTLE_LAG_SECONDS": str(SETTLE_LAG),
            "INVENTORY_SYNC_LOG_FORMAT": "json",
        }
        ok = True
        first = run_job(env, "first run: no state yet, so a full sync")
        ok &= compare(fluent, ct)
        changed = change_positions(fluent)
        print(f"\nchanged in Fluent: {changed}")
        time.sleep(SETTLE_LAG + 0.5)  # let the changes fall inside the next window
        second = run_job(env, "second run: delta since the first")
        for name, count in changed.items():
            fetched = second[name]["fetched"]
            if fetched == count:
                print(f"  ✓ {name}: the delta fetched exactly the {count} changed positions")
            else:
                ok = False
                print(f"  ✗ {name}: the delta fetched {fetched}, expected {count}")
        ok &= compare(fluent, ct)
        print("\nstate files:")
        for name, *_ in PROFILES:
            path = WORK / "state" / f"{name}.json"
            print(f"--- {path.relative_to(ROOT)}\n{path.read_text(encoding='utf-8')}")
        for name, *_ in PROFILES:
            ok &= check_state(WORK / "state" / f"{name}.json", second[name])
        del first
    finally:
        emulators.terminate()
        emulators.wait(timeout=10)
    print("demo: OK — commercetools equals the Fluent master" if ok else "demo: FAILED")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
