"""Settings: the one place that reads the environment and mounted secret files.

Every setting is an environment variable ``INVENTORY_SYNC_<NAME>``; any of them may
also be a file named ``INVENTORY_SYNC_<NAME>`` (any case) in the directory ``INVENTORY_SYNC_SECRETS_DIR`` — how a mounted Kubernetes Secret arrives.
An environment variable wins over a file.
"""

from __future__ import annotations

import os
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from pydantic import (
    AliasChoices,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, SettingsConfigDict, SettingsError

from inventory_sync.errors import ConfigError
from inventory_sync.model import parse_timestamp

ENV_PREFIX = "INVENTORY_SYNC_"


def _url(value: str) -> str:
    value = value.strip().rstrip("/")
    if not value.startswith(("http://", "https://")):
        raise ValueError(f"must start with http:// or https://, got {value!r}")
    return value


class Settings(BaseSettings):
    """Every knob of the job. Tests build ``Settings(...)`` directly."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX,
        case_sensitive=False,
        extra="ignore",
        frozen=True,
    )

    # Fluent Order Management (the master)
    fluent_url: str = Field(description="Fluent account base URL; token at /oauth/token")
    fluent_username: str
    fluent_password: SecretStr
    fluent_client_id: str
    fluent_client_secret: SecretStr

    # commercetools (the storefront's inventory)
    ct_auth_url: str
    ct_api_url: str
    ct_project_key: str
    ct_client_id: str
    ct_client_secret: SecretStr
    ct_scopes: str = ""

    # what to sync and where the state lives
    profiles_file: Path = Path("profiles.yaml")
    state_backend: Literal["file", "configmap", "redis"] = "file"
    state_dir: Path = Path("state")
    state_configmap: str = "inventory-sync-state"
    state_namespace: str | None = None
    lease_prefix: str = "inventory-sync"
    lock_seconds: int = Field(default=60, ge=5, le=3600)
    kubeconfig: Path | None = None
    redis_url: str | None = None
    redis_password: SecretStr | None = None
    redis_key_prefix: str = "inventory-sync"
    secrets_dir: Path | None = None
    pushgateway_url: str | None = None
    pushgateway_timeout_seconds: float = Field(default=5.0, gt=0)
    metrics_job: str = "inventory-sync"
    shards: int = Field(default=1, ge=1, le=1000)
    shard_index: int | None = Field(
        default=None,
        ge=0,
        validation_alias=AliasChoices("INVENTORY_SYNC_SHARD_INDEX", "JOB_COMPLETION_INDEX"),
    )

    # how (defaults measured with `make bench`, see the README's "Performance")
    page_size: int = Field(default=2000, ge=1, le=5000)
    fluent_concurrency: int = Field(default=4, ge=1, le=64)
    ct_concurrency: int = Field(default=16, ge=1, le=256)
    batch_size: int = Field(default=100, ge=1, le=100)
    lookup_chunk_size: int = Field(default=500, ge=1, le=500)
    fluent_slices: int = Field(default=4, ge=1, le=64)
    full_sync_from: datetime | None = None  # where a full sync's slices start; none: no slices
    overlap_seconds: float = Field(default=120.0, ge=0)
    settle_lag_seconds: float = Field(default=30.0, ge=0)
    http_timeout_seconds: float = Field(default=30.0, gt=0)
    connect_timeout_seconds: float = Field(default=10.0, gt=0)
    negative_quantity: Literal["clamp", "keep"] = "clamp"
    conflict_retries: int = Field(default=3, ge=0, le=20)
    max_failures: int = Field(default=1000, ge=0)
    progress_seconds: float = Field(default=10.0, gt=0)
    run_deadline_seconds: float = Field(
        default=210.0, ge=0
    )  # < the chart's 240 s activeDeadlineSeconds
    stop_grace_seconds: float = Field(default=20.0, ge=0)
    retry_attempts: int = Field(default=5, ge=1, le=50)
    retry_timeout_seconds: float = Field(default=120.0, gt=0)
    retry_wait_initial_seconds: float = Field(default=0.5, ge=0)
    retry_wait_max_seconds: float = Field(default=20.0, ge=0)
    graphql_documents: dict[str, Path] = Field(default_factory=dict)
    mapper: str | None = None
    log_level: Literal["debug", "info", "warning", "error"] = "info"
    log_format: Literal["auto", "json", "console"] = "auto"

    @field_validator("full_sync_from", mode="before")
    @classmethod
    def _timestamp(cls, value: object) -> object:
        if isinstance(value, str):
            return parse_timestamp(value) if value.strip() else None
        if isinstance(value, datetime) and value.tzinfo is None:
            return value.replace(tzinfo=UTC)  # no zone = UTC, as everywhere
        return value

    @field_validator("fluent_url", "ct_auth_url", "ct_api_url")
    @classmethod
    def _check_url(cls, value: str) -> str:
        return _url(value)

    @field_validator("pushgateway_url")
    @classmethod
    def _check_optional_url(cls, value: str | None) -> str | None:
        return _url(value) if value else None

    @field_validator("ct_project_key", "fluent_username", "fluent_client_id", "ct_client_id")
    @classmethod
    def _not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("must not be empty")
        return value.strip()

    @field_validator("fluent_password", "fluent_client_secret", "ct_client_secret")
    @classmethod
    def _secret_not_blank(cls, value: SecretStr) -> SecretStr:
        if not value.get_secret_value().strip():
            raise ValueError("must not be empty")
        return value

    @model_validator(mode="after")
    def _default_scopes(self) -> Settings:
        if not self.ct_scopes.strip():
            key = self.ct_project_key
            object.__setattr__(self, "ct_scopes", f"manage_products:{key} view_channels:{key}")
        return self

    @field_validator("redis_url")
    @classmethod
    def _redis_url(cls, value: str | None) -> str | None:
        if value and not value.startswith(("redis://", "rediss://", "unix://")):
            raise ValueError("must start with redis://, rediss:// or unix://")
        return value or None

    @model_validator(mode="after")
    def _backend(self) -> Settings:
        if self.state_backend == "redis" and self.redis_url is None:
            raise ValueError("INVENTORY_SYNC_STATE_BACKEND=redis needs INVENTORY_SYNC_REDIS_URL")
        return self

    @model_validator(mode="after")
    def _shard(self) -> Settings:
        if self.shard_index is not None and self.shard_index >= self.shards:
            raise ValueError(
                f"shard index {self.shard_index} (JOB_COMPLETION_INDEX) is not below "
                f"INVENTORY_SYNC_SHARDS={self.shards}"
            )
        return self

    @property
    def fluent_graphql_url(self) -> str:
        return f"{self.fluent_url}/graphql"

    @property
    def fluent_token_url(self) -> str:
        return f"{self.fluent_url}/oauth/token"

    @property
    def ct_graphql_url(self) -> str:
        return f"{self.ct_api_url}/{self.ct_project_key}/graphql"

    @property
    def ct_token_url(self) -> str:
        return f"{self.ct_auth_url}/oauth/token"


def load_settings(**overrides: Any) -> Settings:
    """Build ``Settings`` from the environment and the secrets dir it names.

    Raises ``ConfigError`` naming every bad or missing setting by its variable name;
    values of secret settings are never echoed.
    """
    secrets_dir = os.environ.get(f"{ENV_PREFIX}SECRETS_DIR") or None
    if secrets_dir is not None and not Path(secrets_dir).is_dir():
        raise ConfigError(f"{ENV_PREFIX}SECRETS_DIR={secrets_dir!r} is not a directory")
    try:
        return Settings(_secrets_dir=secrets_dir, **overrides)
    except ValidationError as e:
        raise ConfigError(describe_validation_error(e, prefix=ENV_PREFIX)) from None
    except SettingsError as e:  # a value that should be JSON is not
        field = re.search(r'field "(\w+)"', str(e))
        name = f"{ENV_PREFIX}{field.group(1).upper()}" if field else "a setting"
        raise ConfigError(f"invalid settings: {name} must be JSON (an object)") from None


def unknown_variables() -> list[str]:
    """``INVENTORY_SYNC_*`` variables that name no setting (a typo is otherwise silent)."""
    known = {f"{ENV_PREFIX}{name.upper()}" for name in Settings.model_fields}
    known |= {f"{ENV_PREFIX}SECRETS_DIR", f"{ENV_PREFIX}SHARD_INDEX"}
    return sorted(
        k for k in os.environ if k.upper().startswith(ENV_PREFIX) and k.upper() not in known
    )


def _is_secret(annotation: object) -> bool:
    return annotation is SecretStr or "SecretStr" in str(annotation)


def describe_validation_error(error: ValidationError, *, prefix: str = "") -> str:
    """One line per problem, naming the setting and (for non-secrets) the value.

    A problem that concerns several settings at once names them in its message and
    shows no value: its input would be every setting, secrets included.
    """
    secret_fields = {name for name, f in Settings.model_fields.items() if _is_secret(f.annotation)}
    problems = []
    for item in error.errors():
        loc = ".".join(str(p) for p in item["loc"])
        message = item["msg"].removeprefix("Value error, ")
        if not loc:
            problems.append(message)
            continue
        name = f"{prefix}{loc.upper()}" if prefix else loc
        if item["type"] == "missing":
            problems.append(f"{name} is required but not set")
        elif loc in secret_fields or " got " in message:
            problems.append(f"{name}: {message}")
        else:
            problems.append(f"{name}: {message} (got {item.get('input')!r})")
    return "invalid settings: " + "; ".join(problems)
