"""Run both emulators until SIGINT/SIGTERM.

Usage::

    python -m tests.emulators [--fluent-port 8081] [--ct-port 8082] [--host 127.0.0.1]
        [--seed seed.json] [--fluent-latency-ms 0] [--ct-latency-ms 0]
        [--ct-mutation-cost-ms 0]

Prints ``fluent <base url>`` and ``commercetools <base url>`` (one line each) once
both listen. The seed file format is described in `tests.emulators.seed`.
"""

from __future__ import annotations

import argparse
import gc
import json
import signal
import threading
from collections.abc import Sequence
from pathlib import Path

from tests.emulators.commercetools import CommercetoolsEmulator
from tests.emulators.fluent import FluentEmulator
from tests.emulators.server import serve


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m tests.emulators", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--fluent-port", type=int, default=8081)
    parser.add_argument("--ct-port", type=int, default=8082)
    parser.add_argument("--seed", type=Path, help="seed file (see tests.emulators.seed)")
    parser.add_argument("--fluent-latency-ms", type=float, default=0.0)
    parser.add_argument("--ct-latency-ms", type=float, default=0.0)
    parser.add_argument("--ct-mutation-cost-ms", type=float, default=0.0)
    args = parser.parse_args(argv)

    fluent = FluentEmulator(latency_ms=args.fluent_latency_ms)
    commercetools = CommercetoolsEmulator(
        latency_ms=args.ct_latency_ms, mutation_cost_ms=args.ct_mutation_cost_ms
    )
    if args.seed is not None:
        seed = json.loads(args.seed.read_text(encoding="utf-8"))
        fluent.load(seed)
        commercetools.load(seed)
        del seed
    # A big seed is millions of objects that live as long as the process: keep the
    # garbage collector from walking them again and again (pauses of 100s of ms that
    # would show up as latency in `make bench`), and let it run less often.
    gc.collect()
    gc.freeze()
    gc.set_threshold(10_000, 10, 10)

    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda _signum, _frame: stop.set())
    with (
        serve(fluent.app, args.host, args.fluent_port) as fluent_url,
        serve(commercetools.app, args.host, args.ct_port) as commercetools_url,
    ):
        print(f"fluent {fluent_url}", flush=True)
        print(f"commercetools {commercetools_url}", flush=True)
        stop.wait()


if __name__ == "__main__":
    main()
