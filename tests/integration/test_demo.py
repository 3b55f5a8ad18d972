"""`make demo` as a test: two profiles, 20,000 positions, full then delta, checked."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.timeout(180)
def test_make_demo_ends_with_commercetools_equal_to_the_master() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "tests.demo"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=170,
        check=False,
    )
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
    assert "✗" not in done.stdout
    assert done.stdout.count("✓") == 8
    assert "demo: OK" in done.stdout
