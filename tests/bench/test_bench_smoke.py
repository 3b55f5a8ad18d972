"""A small run of `make bench` (real emulators and CLI processes): the script works and
its JSON has what runs are compared by."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.bench.http2 import measure
from tests.bench.run import SCENARIOS, Model, bench

N = 2000
FIELDS = {
    "positions",
    "counts",
    "wall_s",
    "cpu_s",
    "cpu_us_per_position",
    "peak_rss_mb",
    "positions_per_s",
    "requests",
    "emulator_cpu_s",
    "fluent_path_s",
    "ct_path_s",
    "bound_s",
    "wall_over_bound",
    "sequential_s",
    "speedup_vs_sequential",
}


@pytest.mark.timeout(60)
def test_bench_smoke_run(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "results.json"

    bench(N, Model(fluent_latency_ms=2, ct_latency_ms=2, ct_mutation_cost_ms=0.1), out)

    document = json.loads(out.read_text())
    assert document["n"] == N
    assert document["model"] == {
        "fluent_latency_ms": 2,
        "ct_latency_ms": 2,
        "ct_mutation_cost_ms": 0.1,
    }
    assert set(document["scenarios"]) == set(SCENARIOS)
    for name, scenario in document["scenarios"].items():
        assert set(scenario) >= FIELDS, name
        assert scenario["bound_s"] > 0, name
        assert scenario["cpu_s"] > 0, name
        assert scenario["peak_rss_mb"] > 0, name
        assert scenario["requests"]["fluent"]["graphql"] >= 1, name
    empty, same, delta = (document["scenarios"][s] for s in SCENARIOS)
    assert empty["counts"]["created"] == N
    assert empty["requests"]["commercetools"]["mutation_fields"] == N
    assert same["counts"]["unchanged"] == N
    assert same["requests"]["commercetools"]["mutation"] == 0
    assert same["requests"]["commercetools"]["mutation_fields"] == 0
    assert delta["counts"]["updated"] == N // 100
    assert delta["positions"] == N // 100
    assert "| wall / bound |" in capsys.readouterr().out


@pytest.mark.timeout(60)
def test_http2_comparison_smoke_run() -> None:
    """Both protocols carry every request to the loopback server and back (each answer is
    checked for status 200 and parsed), and the CPU per request is measured for each."""
    result = measure(requests=40, concurrency=4, latency_ms=1)

    assert set(result) == {"http1", "http2"}
    assert all(0 < seconds < 1 for seconds in result.values()), result
