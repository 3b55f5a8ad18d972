"""`make bench`: the real job against both emulators on loopback, with a latency model.

Starts ``python -m tests.emulators`` as a separate process (real uvicorn servers on
127.0.0.1) with a latency model — every request takes ``L`` ms of round trip
(``--fluent-latency-ms``, ``--ct-latency-ms``, default 20) and every mutation inside
a commercetools request ``m`` ms more, applied serially (``--ct-mutation-cost-ms``,
default 1) — seeds one Fluent catalogue of N positions (``--n`` or ``BENCH_N``,
default 100,000) and an empty commercetools channel, and runs the real CLI
(``python -m inventory_sync run``) as a subprocess for three scenarios:

``full_empty``  ``run --full`` into the empty channel: N creates
``full_same``   ``run --full`` again: nothing changed, so no mutation at all
``delta_1pct``  1 % of the positions change in Fluent, then ``run`` (the delta window)

For each it reports wall seconds (process start to exit), job CPU seconds (user+sys
of the job process only, from ``os.wait4``), the job's peak RSS, positions/s, the
HTTP requests each API saw (the emulators' ``GET /_emulator/stats``), the emulator
process's CPU seconds, the lower bound below and the ratio wall / bound, and the
per-position sequential baseline with the speed-up against it. Everything also goes
to ``bench/results.json`` (``--out``).

The lower bound (what this strategy cannot beat at the configured concurrency)
------------------------------------------------------------------------------

Symbols: ``Lf``, ``Lc`` the round trips of Fluent and commercetools, ``m`` the cost
of one mutation; ``Cf``, ``Cc`` the requests in flight allowed per API; from the
run: ``chain`` the most pages any one Fluent time slice needed (pages of one slice
follow each other: each needs the previous page's last cursor), ``Rf`` the Fluent
page requests, ``Q`` the commercetools queries (channel lookup and entry lookups),
``Mr`` the mutation requests, ``Mf`` the mutations in them.

* Fluent path: token, then the longest slice's pages one after another, and no
  faster than ``Cf`` pages at a time::

      fluent = Lf * (1 + max(chain, ceil(Rf / Cf)))

  after the last page, its positions still need one lookup and — if anything is
  written — one write: ``tail = Lc + (Lc + m if writes else 0)``.

* commercetools capacity: no lookup before the channel id (token + channel lookup)
  and the first page (token + page); after that every request occupies one of
  ``Cc`` slots for its round trip plus its mutations::

      ct = max(2 Lc, 2 Lf) + ((Q - 1 + Mr) * Lc + Mf * m) / Cc

* ``bound = max(fluent + tail, ct)``.

Both terms are met only if no request ever waits for CPU (the job's or the
emulators') and the limiter is never idle; ``wall / bound`` is how close the run
came. The sequential baseline is one lookup and one write round trip per position,
as a per-message upsert handler does it: ``N * (2 Lc + m)``.

Usage::

    python -m tests.bench.run [--n 100000] [--out bench/results.json]
        [--fluent-latency-ms 20] [--ct-latency-ms 20] [--ct-mutation-cost-ms 1]

The seeded ``updatedOn`` values are spread over the year before the bench day, and the
job gets ``INVENTORY_SYNC_FULL_SYNC_FROM`` = the start of that year, as an operator
would set it to when their Fluent data begins (so full syncs are cut into time slices).
``INVENTORY_SYNC_*`` variables in the environment reach the job and win (to try other
settings: ``INVENTORY_SYNC_BATCH_SIZE=50 make bench``; ``INVENTORY_SYNC_FULL_SYNC_FROM=``
turns slicing of full syncs off).
"""

from __future__ import annotations

import argparse
import compileall
import json
import math
import os
import platform
import random
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

import inventory_sync
from inventory_sync.model import format_timestamp
from inventory_sync.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
DEFAULT_OUT = ROOT / "bench" / "results.json"
PROFILE, CATALOGUE, CHANNEL = "bench", "AGG_VC_BENCH", "bench-warehouse"
SEED_DAYS = 365
"""Seeded ``updatedOn`` values are spread evenly over the year before the bench day."""
SCENARIOS = ("full_empty", "full_same", "delta_1pct")
TUNING = (
    "page_size",
    "fluent_slices",
    "fluent_concurrency",
    "ct_concurrency",
    "batch_size",
    "lookup_chunk_size",
    "full_sync_from",
)
CLK_TCK = os.sysconf("SC_CLK_TCK")


@dataclass(frozen=True)
class Model:
    fluent_latency_ms: float
    ct_latency_ms: float
    ct_mutation_cost_ms: float


# -- seed --------------------------------------------------------------------------------


def seed_window(today: datetime) -> tuple[datetime, datetime]:
    end = today.replace(hour=0, minute=0, second=0, microsecond=0) - timedelta(days=1)
    return end - timedelta(days=SEED_DAYS), end


def make_seed(n: int, path: Path, start: datetime, end: datetime) -> dict[str, int]:
    """Write a seed file: ``n`` ACTIVE positions, one empty channel; returns sku → qty."""
    rng = random.Random(7)
    start_ms = int(start.timestamp() * 1000)
    span_ms = int((end - start).total_seconds() * 1000)
    quantities: dict[str, int] = {}
    with path.open("w", encoding="utf-8") as out:
        out.write('{"fluent": {"positions": [')
        for i in range(n):
            sku = f"SKU-{i:07d}"
            quantity = rng.randrange(0, 500)
            quantities[sku] = quantity
            ms = start_ms + rng.randrange(span_ms)
            stamp = datetime.fromtimestamp(ms / 1000, UTC)
            updated = f"{stamp:%Y-%m-%dT%H:%M:%S}.{ms % 1000:03d}Z"
            out.write(
                f'{"," if i else ""}{{"catalogue": "{CATALOGUE}", "productRef": "{sku}", '
                f'"quantity": {quantity}, "updatedOn": "{updated}"}}'
            )
        out.write(']}, "commercetools": {"channels": [{"key": "' + CHANNEL + '"}], "entries": []}}')
    return quantities


# -- processes ---------------------------------------------------------------------------


@dataclass
class Emulators:
    process: subprocess.Popen[str]
    fluent: str
    ct: str

    def cpu_seconds(self) -> float:
        return proc_cpu_seconds(self.process.pid)

    def stats(self) -> dict[str, Any]:
        fluent = httpx.get(f"{self.fluent}/_emulator/stats", timeout=30).json()["requests"]
        ct = httpx.get(f"{self.ct}/_emulator/stats", timeout=30).json()
        return {
            "fluent": {
                "graphql": fluent.get("/graphql", 0),
                "token": fluent.get("/oauth/token", 0),
            },
            "commercetools": {
                key: ct.get(key, 0) for key in ("token", "query", "mutation", "mutation_fields")
            },
        }


def proc_cpu_seconds(pid: int) -> float:
    """user+sys CPU seconds of a running process (Linux ``/proc``)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


@contextmanager
def emulators(model: Model, seed: Path) -> Iterator[Emulators]:
    command = [
        *shlex.split(os.environ.get("BENCH_EMULATOR_WRAPPER", "")),  # profiling only
        sys.executable,
        "-m",
        "tests.emulators",
        "--fluent-port=0",
        "--ct-port=0",
        f"--seed={seed}",
        f"--fluent-latency-ms={model.fluent_latency_ms}",
        f"--ct-latency-ms={model.ct_latency_ms}",
        f"--ct-mutation-cost-ms={model.ct_mutation_cost_ms}",
    ]
    process = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, text=True)
    try:
        urls: dict[str, str] = {}
        assert process.stdout is not None
        for line in process.stdout:
            name, _, url = line.strip().partition(" ")
            if name in ("fluent", "commercetools"):
                urls[name] = url
            if len(urls) == 2:
                break
        if len(urls) != 2:
            raise SystemExit(f"emulators exited ({process.wait()}) before listening")
        yield Emulators(process, urls["fluent"], urls["commercetools"])
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        if process.stdout is not None:
            process.stdout.close()


@dataclass
class JobRun:
    exit_code: int
    wall_s: float
    cpu_s: float
    peak_rss_mb: float
    events: list[dict[str, Any]]


def run_job(
    args: Sequence[str],
    env: dict[str, str],
    workdir: Path,
    name: str,
    wrapper: Sequence[str],
    python: str,
) -> JobRun:
    """The CLI as a child process of ``python``; its own rusage comes from ``os.wait4``."""
    log_path = workdir / f"{name}.log"
    with log_path.open("wb") as out, (workdir / f"{name}.err").open("wb") as err:
        started = time.perf_counter()
        command = [python, "-m", "inventory_sync", "run", *args]
        process = subprocess.Popen(
            [*(w.format(name=name) for w in wrapper), *command],
            env=env,
            cwd=workdir,
            stdout=out,
            stderr=err,
        )
        try:
            _, status, usage = os.wait4(process.pid, 0)
        except BaseException:  # interrupted: take the job down with us
            process.kill()
            process.wait()
            raise
        wall = time.perf_counter() - started
    process.returncode = os.waitstatus_to_exitcode(status)
    events = []
    for line in log_path.read_text(encoding="utf-8").splitlines():
        if line.startswith("{"):
            events.append(json.loads(line))
    return JobRun(
        exit_code=process.returncode,
        wall_s=wall,
        cpu_s=usage.ru_utime + usage.ru_stime,
        peak_rss_mb=usage.ru_maxrss / 1024,
        events=events,
    )


def job_env(em: Emulators, workdir: Path, data_from: datetime) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("INVENTORY_SYNC_")}
    env.update(
        {
            "INVENTORY_SYNC_FLUENT_URL": em.fluent,
            "INVENTORY_SYNC_FLUENT_USERNAME": "demo-user",
            "INVENTORY_SYNC_FLUENT_PASSWORD": "demo-pass",
            "INVENTORY_SYNC_FLUENT_CLIENT_ID": "demo-client",
            "INVENTORY_SYNC_FLUENT_CLIENT_SECRET": "demo-secret",
            "INVENTORY_SYNC_CT_AUTH_URL": em.ct,
            "INVENTORY_SYNC_CT_API_URL": em.ct,
            "INVENTORY_SYNC_CT_PROJECT_KEY": "demo-project",
            "INVENTORY_SYNC_CT_CLIENT_ID": "ct-client",
            "INVENTORY_SYNC_CT_CLIENT_SECRET": "ct-secret",
            "INVENTORY_SYNC_PROFILES_FILE": str(workdir / "profiles.yaml"),
            "INVENTORY_SYNC_STATE_BACKEND": "file",
            "INVENTORY_SYNC_STATE_DIR": str(workdir / "state"),
            "INVENTORY_SYNC_SETTLE_LAG_SECONDS": "0",
            "INVENTORY_SYNC_RUN_DEADLINE_SECONDS": "0",  # a 1,000,000 run may take minutes
            "INVENTORY_SYNC_LOG_FORMAT": "json",
            # as an operator sets it: where the data begins, so that full syncs are sliced
            "INVENTORY_SYNC_FULL_SYNC_FROM": format_timestamp(data_from),
        }
    )
    # the caller's own INVENTORY_SYNC_* tuning wins (e.g. INVENTORY_SYNC_BATCH_SIZE=50)
    env.update({k: v for k, v in os.environ.items() if k.startswith("INVENTORY_SYNC_")})
    return env


def effective_settings(env: dict[str, str]) -> dict[str, Any]:
    """The job's tuning as it will see it: the environment, else the defaults."""
    out: dict[str, Any] = {}
    for name in TUNING:
        field = Settings.model_fields.get(name)
        if field is None:
            continue
        raw = env.get(f"INVENTORY_SYNC_{name.upper()}")
        if raw is None:
            default = field.default
            out[name] = default if isinstance(default, int | float | None) else str(default)
        else:
            out[name] = int(raw) if raw.isdigit() else raw
    return out


# -- the lower bound ---------------------------------------------------------------------


def pages_per_slice(events: list[dict[str, Any]]) -> Counter[int]:
    pages: Counter[int] = Counter()
    for event in events:
        if event.get("event") == "inventory_sync.page_fetched":
            pages[int(event.get("slice", 0))] += 1
    return pages


def lower_bound(
    model: Model, tuning: dict[str, Any], requests: dict[str, Any], chain: int, writes: int
) -> dict[str, float]:
    """Seconds this strategy needs at least (see the module docstring)."""
    lf, lc = model.fluent_latency_ms / 1000, model.ct_latency_ms / 1000
    m = model.ct_mutation_cost_ms / 1000
    cf, cc = int(tuning["fluent_concurrency"]), int(tuning["ct_concurrency"])
    rf = requests["fluent"]["graphql"]
    ct = requests["commercetools"]
    q, mr, mf = ct["query"], ct["mutation"], ct["mutation_fields"]
    fluent = lf * (1 + max(chain, math.ceil(rf / cf)))
    tail = lc + (lc + m if writes else 0.0)
    ct_path = max(2 * lc, 2 * lf) + (max(q - 1, 0) * lc + mr * lc + mf * m) / cc
    return {
        "fluent_path_s": fluent,
        "tail_s": tail,
        "ct_path_s": ct_path,
        "bound_s": max(fluent + tail, ct_path),
    }


# -- scenarios ---------------------------------------------------------------------------


def scenario(
    name: str,
    args: Sequence[str],
    em: Emulators,
    env: dict[str, str],
    workdir: Path,
    model: Model,
    tuning: dict[str, Any],
    wrapper: Sequence[str],
    python: str,
) -> dict[str, Any]:
    before, emulator_cpu = em.stats(), em.cpu_seconds()
    job = run_job(args, env, workdir, name, wrapper, python)
    emulator_cpu = em.cpu_seconds() - emulator_cpu
    after = em.stats()
    requests = {
        api: {key: after[api][key] - before[api][key] for key in after[api]} for api in after
    }
    finished = [e for e in job.events if e.get("event") == "inventory_sync.profile_finished"]
    if job.exit_code != 0 or len(finished) != 1:
        tail = (workdir / f"{name}.err").read_text(errors="replace")[-2000:]
        raise SystemExit(f"{name}: the job exited with {job.exit_code}\n{tail}")
    summary = finished[0]
    counts = {
        k: summary[k]
        for k in ("fetched", "created", "updated", "unchanged", "invalid", "clamped", "failed")
    }
    positions = counts["fetched"]
    writes = counts["created"] + counts["updated"]
    pages = pages_per_slice(job.events)
    chain = max(pages.values(), default=0)
    bound = lower_bound(model, tuning, requests, chain, writes)
    lc, m = model.ct_latency_ms / 1000, model.ct_mutation_cost_ms / 1000
    sequential = positions * (2 * lc + m)
    return {
        "args": list(args),
        "positions": positions,
        "counts": counts,
        "wall_s": round(job.wall_s, 3),
        "sync_s": summary.get("duration_s"),
        "cpu_s": round(job.cpu_s, 3),
        "cpu_us_per_position": round(job.cpu_s / max(positions, 1) * 1e6, 2),
        "peak_rss_mb": round(job.peak_rss_mb, 1),
        "positions_per_s": round(positions / job.wall_s, 1),
        "requests": requests,
        "fluent_slices_used": len(pages),
        "fluent_chain_pages": chain,
        "emulator_cpu_s": round(emulator_cpu, 3),
        **{k: round(v, 3) for k, v in bound.items()},
        "wall_over_bound": round(job.wall_s / bound["bound_s"], 3) if bound["bound_s"] else None,
        "sequential_s": round(sequential, 1),
        "speedup_vs_sequential": round(sequential / job.wall_s, 1),
        "exit_code": job.exit_code,
    }


def change_positions(em: Emulators, quantities: dict[str, int], share: float) -> dict[str, int]:
    """Change ``share`` of the positions in Fluent (updatedOn = now); returns the changes."""
    rng = random.Random(11)
    skus = rng.sample(sorted(quantities), max(1, round(len(quantities) * share)))
    changes = {sku: quantities[sku] + 1 + rng.randrange(50) for sku in skus}
    body = {
        "catalogue": CATALOGUE,
        "positions": [{"productRef": sku, "quantity": q} for sku, q in changes.items()],
    }
    httpx.post(f"{em.fluent}/_emulator/positions", json=body, timeout=120).raise_for_status()
    return changes


def verify(em: Emulators, expected: dict[str, int]) -> None:
    entries = httpx.get(
        f"{em.ct}/_emulator/entries", params={"channel": CHANNEL}, timeout=300
    ).json()
    if entries != expected:
        missing = len(expected.keys() - entries.keys())
        wrong = sum(1 for k, v in expected.items() if entries.get(k, v) != v)
        raise SystemExit(f"commercetools differs from Fluent: {missing} missing, {wrong} wrong")


def bench(
    n: int,
    model: Model,
    out: Path,
    *,
    change_share: float = 0.01,
    wrapper: Sequence[str] = (),
    python: str = sys.executable,
    keep: bool = False,
) -> dict[str, Any]:
    """``python`` runs the job: ``make bench`` gives it a venv installed as the image is
    (the runtime lock and the package's wheel), so the job's CPU is the shipped job's,
    not the dev venv's (which also loads rich, pygments and click at start)."""
    # pip compiles a wheel's modules at install; an editable checkout (under
    # PYTHONDONTWRITEBYTECODE) would compile them again at every start of the job
    compileall.compile_dir(Path(inventory_sync.__file__).parent, quiet=1)
    workdir = Path(tempfile.mkdtemp(prefix="inventory-sync-bench-"))
    try:
        (workdir / "profiles.yaml").write_text(
            f"profiles:\n  - name: {PROFILE}\n    ctChannelKey: {CHANNEL}\n"
            f"    fluentAggregateVirtualCatalogueRef: {CATALOGUE}\n"
        )
        started = time.perf_counter()
        seed_start, seed_end = seed_window(datetime.now(UTC))
        quantities = make_seed(n, workdir / "seed.json", seed_start, seed_end)
        with emulators(model, workdir / "seed.json") as em:
            seed_s = time.perf_counter() - started
            env = job_env(em, workdir, seed_start)
            tuning = effective_settings(env)
            print(f"seeded {n:,} positions in {seed_s:.1f} s; settings {tuning}", flush=True)
            results: dict[str, Any] = {}
            for name, args in (("full_empty", ["--full"]), ("full_same", ["--full"])):
                results[name] = scenario(
                    name, args, em, env, workdir, model, tuning, wrapper, python
                )
                print(line(name, results[name]), flush=True)
            changes = change_positions(em, quantities, change_share)
            results["delta_1pct"] = scenario(
                "delta_1pct", [], em, env, workdir, model, tuning, wrapper, python
            )
            print(line("delta_1pct", results["delta_1pct"]), flush=True)
            verify(em, {**quantities, **changes})
        document = {
            "when": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "machine": {
                "cpus": os.cpu_count(),
                "python": platform.python_version(),
                "platform": platform.platform(),
            },
            "job_python": python,
            "n": n,
            "model": vars(model),
            "settings": tuning,
            "seed_s": round(seed_s, 1),
            "scenarios": results,
        }
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")
        print(table(document), flush=True)
        print(f"wrote {out}", flush=True)
        return document
    finally:
        if keep:
            print(f"kept {workdir} (the job's logs: <scenario>.log, <scenario>.err)", flush=True)
        else:
            shutil.rmtree(workdir, ignore_errors=True)


# -- output ------------------------------------------------------------------------------


def line(name: str, r: dict[str, Any]) -> str:
    return (
        f"{name}: {r['positions']:,} positions, wall {r['wall_s']:.2f} s "
        f"(bound {r['bound_s']:.2f} s, x{r['wall_over_bound']}), cpu {r['cpu_s']:.2f} s, "
        f"rss {r['peak_rss_mb']:.0f} MB, requests {r['requests']}"
    )


def table(document: dict[str, Any]) -> str:
    rows = [
        ("positions", "{positions:,}"),
        ("created / updated / unchanged", "{c[created]:,} / {c[updated]:,} / {c[unchanged]:,}"),
        ("wall s", "{wall_s:.2f}"),
        ("lower bound s", "{bound_s:.2f}"),
        ("wall / bound", "{wall_over_bound:.2f}"),
        ("sequential baseline s", "{sequential_s:,.0f}"),
        ("speed-up vs sequential", "{speedup_vs_sequential:,.0f}x"),
        ("positions/s", "{positions_per_s:,.0f}"),
        ("job CPU s", "{cpu_s:.2f}"),
        ("job CPU us/position", "{cpu_us_per_position:.1f}"),
        ("job peak RSS MB", "{peak_rss_mb:.0f}"),
        ("emulators' CPU s", "{emulator_cpu_s:.2f}"),
        ("Fluent requests (slices, chain)", "{r[fluent][graphql]} ({fluent_slices_used}, {fluent_chain_pages})"),
        ("commercetools queries", "{r[commercetools][query]}"),
        ("commercetools mutation requests", "{r[commercetools][mutation]}"),
        ("mutations", "{r[commercetools][mutation_fields]:,}"),
    ]  # fmt: skip
    scenarios = document["scenarios"]
    head = ["| N = {:,} |".format(document["n"]) + "".join(f" {s} |" for s in scenarios)]
    head.append("| --- |" + " ---: |" * len(scenarios))
    for label, fmt in rows:
        cells = [fmt.format(**r, c=r["counts"], r=r["requests"]) for r in scenarios.values()]
        head.append(f"| {label} |" + "".join(f" {c} |" for c in cells))
    return "\n".join(head)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m tests.bench.run", description=__doc__)
    parser.add_argument("--n", type=int, default=int(os.environ.get("BENCH_N", "100000")))
    parser.add_argument("--fluent-latency-ms", type=float, default=20.0)
    parser.add_argument("--ct-latency-ms", type=float, default=20.0)
    parser.add_argument("--ct-mutation-cost-ms", type=float, default=1.0)
    parser.add_argument("--change-share", type=float, default=0.01)
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument(
        "--job-wrapper",
        default=os.environ.get("BENCH_JOB_WRAPPER", ""),
        help="command prefix for the job, e.g. 'py-spy record -f raw -o {name}.txt --' "
        "({name}: the scenario; profiling only, the CPU and RSS figures are then the wrapper's)",
    )
    parser.add_argument(
        "--job-python",
        default=sys.executable,
        help="the Python that runs the job (make bench: a venv installed as the image is)",
    )
    parser.add_argument("--keep", action="store_true", help="keep the work directory")
    args = parser.parse_args(argv)
    # SIGTERM unwinds like Ctrl-C, so the emulators and a running job are stopped too
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    model = Model(args.fluent_latency_ms, args.ct_latency_ms, args.ct_mutation_cost_ms)
    bench(
        args.n,
        model,
        args.out,
        change_share=args.change_share,
        wrapper=shlex.split(args.job_wrapper),
        # the job runs in a work directory: a relative path (not a command) made absolute,
        # without resolving the venv's symlink to the Python it was made from
        python=os.path.abspath(args.job_python) if os.sep in args.job_python else args.job_python,
        keep=args.keep,
    )


if __name__ == "__main__":
    main()
