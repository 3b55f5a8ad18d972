"""What the chart hands the pod is what the job reads: every INVENTORY_SYNC_* variable
and every secret file the chart renders is a real setting, and the settings load."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from inventory_sync.settings import ENV_PREFIX, Settings

from .conftest import CASES, Rendered


def setting_names() -> set[str]:
    names = {f"{ENV_PREFIX}{name.upper()}" for name in Settings.model_fields}
    return names | {"JOB_COMPLETION_INDEX"}


def secret_files(rendered: Rendered) -> list[str]:
    paths = []
    for volume in rendered.pod_spec["volumes"]:
        for source in volume.get("projected", {}).get("sources", []):
            paths += [item["path"] for item in source.get("secret", {}).get("items", [])]
        paths += [item["path"] for item in volume.get("secret", {}).get("items", [])]
    return paths


@pytest.mark.parametrize("case", CASES)
def test_every_variable_and_secret_file_is_a_setting(
    rendered: dict[str, Rendered], case: str
) -> None:
    r = rendered[case]
    names = setting_names()
    ours = [n for n in r.env if n.startswith(ENV_PREFIX)]
    assert ours
    assert set(ours) <= names, set(ours) - names
    files = secret_files(r)
    assert files
    assert set(files) <= names, set(files) - names


@pytest.mark.parametrize("case", CASES)
def test_the_rendered_settings_load(
    rendered: dict[str, Rendered], case: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Plain values as the pod would see them, secret files as the volume would hold them."""
    r = rendered[case]
    env: dict[str, Any] = {}
    for name, entry in r.env.items():
        if "value" in entry:
            env[name] = entry["value"]
        elif name == "INVENTORY_SYNC_STATE_NAMESPACE":
            env[name] = "inventory"  # from the downward API
    secrets = tmp_path / "secrets"
    secrets.mkdir()
    for path in secret_files(r):
        (secrets / path).write_text("redacted")
    for key in list(__import__("os").environ):
        if key.startswith(ENV_PREFIX):
            monkeypatch.delenv(key)
    for name, value in env.items():
        monkeypatch.setenv(name, str(value))
    monkeypatch.setenv("JOB_COMPLETION_INDEX", "0")
    # the chart's defaults leave the API coordinates for the operator to fill in
    for name in ("FLUENT_URL", "CT_AUTH_URL", "CT_API_URL"):
        if not env.get(f"{ENV_PREFIX}{name}"):
            monkeypatch.setenv(f"{ENV_PREFIX}{name}", "https://example.test")
    if not env.get(f"{ENV_PREFIX}CT_PROJECT_KEY"):
        monkeypatch.setenv(f"{ENV_PREFIX}CT_PROJECT_KEY", "shop")

    settings = Settings(_secrets_dir=str(secrets))  # type: ignore[call-arg]

    assert settings.state_backend == r.values["state"]["backend"]
    assert settings.fluent_password.get_secret_value() == "redacted"
    assert settings.shards == r.values["shards"]


@pytest.mark.parametrize("case", CASES)
def test_the_rendered_profiles_file_loads(rendered: dict[str, Rendered], case: str) -> None:
    from inventory_sync.profiles import parse_profiles

    r = rendered[case]
    (configmap,) = [c for c in r.all("ConfigMap") if "profiles.yaml" in c.get("data", {})]
    profiles = parse_profiles(configmap["data"]["profiles.yaml"])
    assert [p.name for p in profiles] == [p["name"] for p in r.values["profiles"]]


def test_every_profile_key_the_schema_allows_is_one_the_job_reads() -> None:
    import json

    from inventory_sync.profiles import Profile

    schema = json.loads(
        (Path(__file__).resolve().parents[2] / "chart" / "values.schema.json").read_text()
    )
    allowed = set(schema["properties"]["profiles"]["items"]["properties"])
    read = {f.alias or name for name, f in Profile.model_fields.items()}
    assert allowed == read
