"""A real prometheus-pushgateway process on a free loopback port, for the tests."""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager

import httpx
from prometheus_client.parser import text_string_to_metric_families

BINARY = "prometheus-pushgateway"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@contextmanager
def pushgateway() -> Iterator[str]:
    binary = shutil.which(BINARY)
    if binary is None:
        raise RuntimeError(f"{BINARY} is not installed: run `make system-deps`")
    url = f"http://127.0.0.1:{free_port()}"
    process = subprocess.Popen(
        # Debian's build persists to /var/lib by default: keep each instance in memory
        [binary, f"--web.listen-address={url.removeprefix('http://')}", "--persistence.file="],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 15
        while True:
            try:
                if httpx.get(f"{url}/-/ready", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"{BINARY} did not start on {url}")
            time.sleep(0.05)
        yield url
    finally:
        process.terminate()
        process.wait(timeout=10)


def pushed(url: str, **labels: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """``{(sample name, other labels): value}`` of the samples carrying ``labels``."""
    text = httpx.get(f"{url}/metrics", timeout=5).text
    out: dict[tuple[str, tuple[tuple[str, str], ...]], float] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if all(sample.labels.get(k) == v for k, v in labels.items()):
                rest = tuple(
                    sorted(
                        (k, v)
                        for k, v in sample.labels.items()
                        if k not in labels and k != "instance"
                    )
                )
                out[(sample.name, rest)] = sample.value
    return out
