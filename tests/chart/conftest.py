"""The Helm chart in chart/, rendered by the pinned helm in .tools/ (``make .tools/helm``).

Every test here needs that binary; without it they fail (never skip) and say how to get it.
"""

from __future__ import annotations

import copy
import os
import re
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
CHART = ROOT / "chart"
HELM = ROOT / ".tools" / "helm"
CI_VALUES = {p.name.removesuffix("-values.yaml"): p for p in sorted(CHART.glob("ci/*-values.yaml"))}
CASES = ["default", *CI_VALUES]
RELEASE = "inv"
NAMESPACE = "sync"
# The Kubernetes version rendered for and validated against (kubernetes-validate ships its
# schemas offline); also the version this helm's client speaks.
KUBE_VERSION = "1.35.0"


def oldest_kube_version(chart: Path = CHART) -> str:
    """The lowest version Chart.yaml's kubeVersion admits (">=1.29.0-0" → "1.29.0")."""
    constraint = yaml.safe_load((chart / "Chart.yaml").read_text(encoding="utf-8"))["kubeVersion"]
    found = re.fullmatch(r">=\s*v?(\d+)\.(\d+)\.(\d+)(-0)?", str(constraint).strip())
    assert found, f"Chart.yaml kubeVersion {constraint!r} is not a plain lower bound"
    return ".".join(found.groups()[:3])


# The oldest version the chart claims (Chart.yaml kubeVersion): also rendered and validated.
OLDEST_KUBE_VERSION = oldest_kube_version()
KUBE_VERSIONS = sorted({KUBE_VERSION, OLDEST_KUBE_VERSION})

CREDENTIAL_FILES = {
    "fluentUsername": "INVENTORY_SYNC_FLUENT_USERNAME",
    "fluentPassword": "INVENTORY_SYNC_FLUENT_PASSWORD",
    "fluentClientId": "INVENTORY_SYNC_FLUENT_CLIENT_ID",
    "fluentClientSecret": "INVENTORY_SYNC_FLUENT_CLIENT_SECRET",
    "ctClientId": "INVENTORY_SYNC_CT_CLIENT_ID",
    "ctClientSecret": "INVENTORY_SYNC_CT_CLIENT_SECRET",
}
SECRETS_DIR = "/var/run/secrets/inventory-sync"
WRITABLE = "/tmp"  # noqa: S108 - the emptyDir of the pod (and WORKDIR of the image)


def find_helm(path: Path = HELM) -> Path:
    if not os.access(path, os.X_OK):
        pytest.fail(
            f"helm is missing at {path}: run `make .tools/helm` (make test fetches it; "
            "the chart tests never skip)",
            pytrace=False,
        )
    return path


@dataclass(frozen=True)
class Helm:
    binary: Path
    env: Mapping[str, str]

    def run(self, *args: str | Path) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(self.binary), *map(str, args)],
            capture_output=True,
            text=True,
            env=dict(self.env),
            timeout=60,
            check=False,
        )

    def template(
        self, *args: str | Path, kube_version: str = KUBE_VERSION
    ) -> subprocess.CompletedProcess[str]:
        return self.run(
            "template",
            RELEASE,
            CHART,
            "--namespace",
            NAMESPACE,
            "--kube-version",
            kube_version,
            *args,
        )


@pytest.fixture(scope="session")
def helm(tmp_path_factory: pytest.TempPathFactory) -> Helm:
    binary = find_helm()
    home = tmp_path_factory.mktemp("helm-home")
    env = {k: v for k, v in os.environ.items() if not k.startswith("HELM_")}
    env.update(
        HELM_CACHE_HOME=str(home / "cache"),
        HELM_CONFIG_HOME=str(home / "config"),
        HELM_DATA_HOME=str(home / "data"),
        KUBECONFIG=str(home / "no-kubeconfig"),
    )
    return Helm(binary, env)


def merge(base: Any, override: Any) -> Any:
    """Helm's coalescing of values files: maps merge key by key, anything else replaces."""
    if isinstance(base, dict) and isinstance(override, dict):
        merged = dict(base)
        for key, value in override.items():
            merged[key] = merge(base.get(key), value) if key in base else copy.deepcopy(value)
        return merged
    return copy.deepcopy(override)


def load_yaml(path: Path) -> Any:
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def values_of(case: str, extra: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The values a case renders with: values.yaml, the case's ci file, then ``extra``."""
    values = load_yaml(CHART / "values.yaml")
    if case != "default":
        values = merge(values, load_yaml(CI_VALUES[case]))
    if extra:
        values = merge(values, dict(extra))
    result: dict[str, Any] = values
    return result


@dataclass(frozen=True)
class Rendered:
    """The objects ``helm template`` printed for one set of values."""

    values: dict[str, Any]
    docs: list[dict[str, Any]]
    text: str

    def all(self, kind: str) -> list[dict[str, Any]]:
        return [d for d in self.docs if d["kind"] == kind]

    def one(self, kind: str) -> dict[str, Any]:
        found = self.all(kind)
        assert len(found) == 1, f"expected one {kind}, got {len(found)}"
        return found[0]

    @property
    def cronjob(self) -> dict[str, Any]:
        return self.one("CronJob")

    @property
    def job_spec(self) -> dict[str, Any]:
        spec: dict[str, Any] = self.cronjob["spec"]["jobTemplate"]["spec"]
        return spec

    @property
    def pod(self) -> dict[str, Any]:
        pod: dict[str, Any] = self.job_spec["template"]
        return pod

    @property
    def pod_spec(self) -> dict[str, Any]:
        spec: dict[str, Any] = self.pod["spec"]
        return spec

    @property
    def container(self) -> dict[str, Any]:
        (container,) = self.pod_spec["containers"]
        result: dict[str, Any] = container
        return result

    @property
    def env(self) -> dict[str, dict[str, Any]]:
        """The container's env entries by name (names are unique: checked)."""
        entries = self.container.get("env", [])
        names = [e["name"] for e in entries]
        assert len(names) == len(set(names)), f"duplicate env names: {names}"
        return {e["name"]: e for e in entries}

    def volume(self, name: str) -> dict[str, Any]:
        (volume,) = [v for v in self.pod_spec["volumes"] if v["name"] == name]
        result: dict[str, Any] = volume
        return result

    def mount(self, name: str) -> dict[str, Any]:
        (mount,) = [m for m in self.container["volumeMounts"] if m["name"] == name]
        result: dict[str, Any] = mount
        return result


def render(
    helm: Helm,
    case: str,
    extra: Mapping[str, Any] | None = None,
    tmp: Path | None = None,
    *,
    kube_version: str = KUBE_VERSION,
) -> Rendered:
    args: list[str | Path] = []
    if case != "default":
        args += ["--values", CI_VALUES[case]]
    if extra:
        assert tmp is not None, "extra values need a directory to write them to"
        extra_file = tmp / "extra-values.yaml"
        extra_file.write_text(yaml.safe_dump(dict(extra)), encoding="utf-8")
        args += ["--values", extra_file]
    done = helm.template(*args, kube_version=kube_version)
    assert done.returncode == 0, done.stderr
    docs = [d for d in yaml.safe_load_all(done.stdout) if d]
    return Rendered(values_of(case, extra), docs, done.stdout)


@pytest.fixture(scope="session")
def rendered(helm: Helm) -> dict[str, Rendered]:
    """Every case (defaults and each chart/ci/*-values.yaml), rendered once per session."""
    return {case: render(helm, case) for case in CASES}


@pytest.fixture(scope="session")
def rendered_oldest(helm: Helm) -> dict[str, Rendered]:
    """Every case rendered for the oldest Kubernetes the chart claims (Chart.yaml)."""
    return {case: render(helm, case, kube_version=OLDEST_KUBE_VERSION) for case in CASES}
