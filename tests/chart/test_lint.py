"""helm lint, the chart's metadata, and the schema and README covering every value."""

from __future__ import annotations

import json
import re
import tomllib
from pathlib import Path
from typing import Any

import pytest

from .conftest import CASES, CHART, CI_VALUES, NAMESPACE, RELEASE, ROOT, Helm, find_helm, load_yaml


def test_each_ci_values_file_is_there() -> None:
    assert set(CI_VALUES) == {"configmap", "redis", "existing-secret", "sharded"}


@pytest.mark.parametrize("case", CASES)
def test_helm_lint_strict(helm: Helm, case: str) -> None:
    args: list[str | Path] = ["lint", "--strict", CHART]
    if case != "default":
        args += ["--values", CI_VALUES[case]]
    done = helm.run(*args)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "0 chart(s) failed" in done.stdout
    assert "[WARNING]" not in done.stdout
    assert "[ERROR]" not in done.stdout


def test_missing_helm_fails_and_says_how_to_get_it(tmp_path: Path) -> None:
    with pytest.raises(pytest.fail.Exception, match=r"make \.tools/helm"):
        find_helm(tmp_path / "helm")


def test_chart_metadata_and_app_version_is_the_package_version() -> None:
    chart = load_yaml(CHART / "Chart.yaml")
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    assert chart["apiVersion"] == "v2"
    assert chart["name"] == "inventory-sync"
    assert chart["type"] == "application"
    assert chart["appVersion"] == project["version"]


def _schema_paths(
    schema: dict[str, Any], prefix: str = "", *, leaves_only: bool = False
) -> set[str]:
    """Dotted paths of every property the schema names, nested ones included."""
    paths = set()
    for name, sub in schema.get("properties", {}).items():
        path = f"{prefix}{name}"
        if not (leaves_only and "properties" in sub):
            paths.add(path)
        paths |= _schema_paths(sub, f"{path}.", leaves_only=leaves_only)
    return paths


def _value_paths(values: dict[str, Any], schema: dict[str, Any], prefix: str = "") -> set[str]:
    """Dotted paths in values.yaml, down to where the schema stops naming properties."""
    paths = set()
    for name, value in values.items():
        path = f"{prefix}{name}"
        paths.add(path)
        sub = schema.get("properties", {}).get(name, {})
        if isinstance(value, dict) and "properties" in sub:
            paths |= _value_paths(value, sub, f"{path}.")
    return paths


@pytest.fixture(scope="module")
def schema() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((CHART / "values.schema.json").read_text("utf-8"))
    return loaded


def test_schema_closes_the_top_level_and_covers_every_value(schema: dict[str, Any]) -> None:
    assert schema["additionalProperties"] is False
    values = load_yaml(CHART / "values.yaml")
    missing = _value_paths(values, schema) - _schema_paths(schema)
    assert not missing, f"values.yaml keys the schema does not describe: {sorted(missing)}"
    unused = set(schema["properties"]) - set(values) - {"global"}
    assert not unused, f"schema properties with no default in values.yaml: {sorted(unused)}"


def test_schema_fixed_shape_objects_refuse_unknown_keys(schema: dict[str, Any]) -> None:
    def walk(node: dict[str, Any], path: str) -> list[str]:
        open_ = []
        if "properties" in node and node.get("additionalProperties") is not False:
            open_.append(path or "<top>")
        for name, sub in node.get("properties", {}).items():
            open_ += walk(sub, f"{path}.{name}".lstrip("."))
        if isinstance(node.get("items"), dict):
            open_ += walk(node["items"], f"{path}[]")
        return open_

    # extraEnv items are Kubernetes EnvVar objects: only their name is checked here.
    assert walk(schema, "") == ["extraEnv[]"]


def test_chart_readme_documents_every_value(schema: dict[str, Any]) -> None:
    readme = (CHART / "README.md").read_text(encoding="utf-8")
    documented = set(re.findall(r"^\| `([^`]+)` \|", readme, flags=re.MULTILINE))
    # every leaf value has a row (a group such as `image` may have one too)
    leaves = _schema_paths(schema, leaves_only=True) - {"global"}
    # profiles' item fields are described in their own table
    items = {f"profiles[].{p}" for p in schema["properties"]["profiles"]["items"]["properties"]}
    missing = (leaves | items) - documented
    assert not missing, f"chart/README.md has no table row for: {sorted(missing)}"
    stale = documented - _schema_paths(schema) - items
    assert not stale, f"chart/README.md documents values that do not exist: {sorted(stale)}"


def test_notes_say_how_to_run_now_follow_logs_and_read_state(helm: Helm) -> None:
    done = helm.run("install", RELEASE, CHART, "--dry-run=client", "--namespace", NAMESPACE)
    assert done.returncode == 0, done.stderr
    notes = done.stdout.split("NOTES:", 1)[1]
    name = "inv-inventory-sync"
    assert (
        f"kubectl -n {NAMESPACE} create job --from=cronjob/{name} {name}-manual-$(date +%s)"
        in notes
    )
    assert f"kubectl -n {NAMESPACE} logs -f job/" in notes
    assert f"kubectl -n {NAMESPACE} get configmap {name}-state -o yaml" in notes
    # the defaults have no API URL, project key or credentials: say so
    assert "WARNING: not set: fluent.url, commercetools.projectKey, credentials." in notes


def test_notes_of_a_complete_install_warn_of_nothing(helm: Helm) -> None:
    done = helm.run(
        "install",
        RELEASE,
        CHART,
        "--dry-run=client",
        "--namespace",
        NAMESPACE,
        "--values",
        CI_VALUES["existing-secret"],
    )
    assert done.returncode == 0, done.stderr
    notes = done.stdout.split("NOTES:", 1)[1]
    assert "WARNING" not in notes
    assert "existingSecret" not in notes
