from pathlib import Path

import pytest

from inventory_sync.errors import ConfigError
from inventory_sync.settings import load_settings

REQUIRED = {
    "INVENTORY_SYNC_FLUENT_URL": "https://acme.sandbox.api.fluentretail.com/",
    "INVENTORY_SYNC_FLUENT_USERNAME": "user",
    "INVENTORY_SYNC_FLUENT_PASSWORD": "pw",
    "INVENTORY_SYNC_FLUENT_CLIENT_ID": "client",
    "INVENTORY_SYNC_FLUENT_CLIENT_SECRET": "cs",
    "INVENTORY_SYNC_CT_AUTH_URL": "https://auth.europe-west1.gcp.commercetools.com",
    "INVENTORY_SYNC_CT_API_URL": "https://api.europe-west1.gcp.commercetools.com",
    "INVENTORY_SYNC_CT_PROJECT_KEY": "shop",
    "INVENTORY_SYNC_CT_CLIENT_ID": "ct-id",
    "INVENTORY_SYNC_CT_CLIENT_SECRET": "ct-secret",
}


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    for key in list(__import__("os").environ):
        if key.startswith("INVENTORY_SYNC_"):
            monkeypatch.delenv(key)
    for key, value in REQUIRED.items():
        monkeypatch.setenv(key, value)
    return monkeypatch


def test_environment_names_and_derived_urls(env: pytest.MonkeyPatch) -> None:
    s = load_settings()
    assert s.fluent_graphql_url == "https://acme.sandbox.api.fluentretail.com/graphql"
    assert s.fluent_token_url == "https://acme.sandbox.api.fluentretail.com/oauth/token"
    assert s.ct_graphql_url == "https://api.europe-west1.gcp.commercetools.com/shop/graphql"
    assert s.ct_token_url == "https://auth.europe-west1.gcp.commercetools.com/oauth/token"
    assert s.ct_scopes == "manage_products:shop view_channels:shop"
    assert s.fluent_password.get_secret_value() == "pw"
    assert "pw" not in repr(s)


def test_secrets_come_from_a_mounted_directory(env: pytest.MonkeyPatch, tmp_path: Path) -> None:
    env.delenv("INVENTORY_SYNC_FLUENT_PASSWORD")
    env.delenv("INVENTORY_SYNC_CT_CLIENT_SECRET")
    (tmp_path / "INVENTORY_SYNC_FLUENT_PASSWORD").write_text("from-file\n")
    (tmp_path / "inventory_sync_ct_client_secret").write_text("ct-from-file")
    env.setenv("INVENTORY_SYNC_SECRETS_DIR", str(tmp_path))
    s = load_settings()
    assert s.fluent_password.get_secret_value() == "from-file"
    assert s.ct_client_secret.get_secret_value() == "ct-from-file"


def test_missing_and_bad_settings_are_named_and_secrets_not_echoed(
    env: pytest.MonkeyPatch,
) -> None:
    env.delenv("INVENTORY_SYNC_CT_PROJECT_KEY")
    env.setenv("INVENTORY_SYNC_FLUENT_URL", "ftp://nope")
    env.setenv("INVENTORY_SYNC_PAGE_SIZE", "0")
    env.setenv("INVENTORY_SYNC_STATE_BACKEND", "mongo")
    with pytest.raises(ConfigError) as info:
        load_settings()
    message = str(info.value)
    assert "INVENTORY_SYNC_CT_PROJECT_KEY is required but not set" in message
    assert "INVENTORY_SYNC_FLUENT_URL" in message
    assert "ftp://nope" in message
    assert "INVENTORY_SYNC_PAGE_SIZE" in message
    assert "INVENTORY_SYNC_STATE_BACKEND" in message
    assert "'mongo'" in message
    assert "ct-secret" not in message


def test_a_secrets_dir_that_does_not_exist_is_a_config_error(env: pytest.MonkeyPatch) -> None:
    env.setenv("INVENTORY_SYNC_SECRETS_DIR", "/nonexistent/secrets")
    with pytest.raises(ConfigError, match="SECRETS_DIR"):
        load_settings()


def test_errors_about_several_settings_show_no_values(env: pytest.MonkeyPatch) -> None:
    env.setenv("INVENTORY_SYNC_STATE_BACKEND", "redis")
    env.setenv("INVENTORY_SYNC_SHARDS", "2")
    env.setenv("JOB_COMPLETION_INDEX", "5")
    with pytest.raises(ConfigError) as info:
        load_settings()
    message = str(info.value)
    assert "INVENTORY_SYNC_STATE_BACKEND=redis needs INVENTORY_SYNC_REDIS_URL" in message
    for secret in ("pw", "cs", "ct-secret"):
        assert f"'{secret}'" not in message
    assert "INVENTORY_SYNC_SETTINGS" not in message


def test_a_secret_setting_never_shows_its_value(env: pytest.MonkeyPatch) -> None:
    env.setenv("INVENTORY_SYNC_REDIS_PASSWORD", "x" * 3)
    env.setenv("INVENTORY_SYNC_FLUENT_PASSWORD", "   ")
    with pytest.raises(ConfigError) as info:
        load_settings()
    assert "INVENTORY_SYNC_FLUENT_PASSWORD: must not be empty" in str(info.value)


def test_a_json_setting_that_is_not_json_is_a_config_error(env: pytest.MonkeyPatch) -> None:
    env.setenv("INVENTORY_SYNC_GRAPHQL_DOCUMENTS", "{not json")
    with pytest.raises(ConfigError, match="GRAPHQL_DOCUMENTS"):
        load_settings()


def test_unknown_variables_are_reported(env: pytest.MonkeyPatch) -> None:
    from inventory_sync.settings import unknown_variables

    env.setenv("INVENTORY_SYNC_PAGESIZE", "2000")
    env.setenv("INVENTORY_SYNC_SECRETS_DIR", "/nowhere")
    assert unknown_variables() == ["INVENTORY_SYNC_PAGESIZE"]


def test_a_bad_url_is_shown_once(env: pytest.MonkeyPatch) -> None:
    env.setenv("INVENTORY_SYNC_FLUENT_URL", "fluent.example.com")
    with pytest.raises(ConfigError) as info:
        load_settings()
    assert str(info.value).count("fluent.example.com") == 1
