"""Sync profiles: which Fluent catalogue feeds which commercetools channel.

The file (YAML or JSON, mounted from a ConfigMap) looks like::

    profiles:
      - name: eu
        ctChannelKey: eu-warehouse
        fluentAggregateVirtualCatalogueRef: AGG_VC_EU
        statuses: [ACTIVE]      # optional, default [ACTIVE]
        enabled: true           # optional, default true
        ensureChannel: false    # optional: create the supply channel when it is missing
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from inventory_sync.errors import ConfigError

_NAME = re.compile(r"^[a-z0-9]([a-z0-9._-]{0,61}[a-z0-9])?$")


class Profile(BaseModel):
    """One pair of commercetools supply channel and Fluent aggregate catalogue."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    name: str
    ct_channel_key: str = Field(alias="ctChannelKey")
    fluent_catalogue_ref: str = Field(alias="fluentAggregateVirtualCatalogueRef")
    statuses: tuple[str, ...] = ("ACTIVE",)
    enabled: bool = True
    ensure_channel: bool = Field(default=False, alias="ensureChannel")

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        if not _NAME.match(value):
            raise ValueError(
                f"{value!r} is not a valid name (lower-case letters, digits, '.', '_', '-'; "
                "at most 63 characters; it becomes a state key)"
            )
        return value

    @field_validator("ct_channel_key", "fluent_catalogue_ref")
    @classmethod
    def _not_empty(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("must not be empty")
        return value

    @field_validator("statuses")
    @classmethod
    def _statuses(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        if not value or any(not s.strip() for s in value):
            raise ValueError("must be a non-empty list of non-empty statuses")
        return value

    def props(self) -> dict[str, str]:
        """The profile as the state record's ``props``."""
        return {
            "ctChannelKey": self.ct_channel_key,
            "fluentAggregateVirtualCatalogueRef": self.fluent_catalogue_ref,
        }


def load_profiles(path: Path) -> list[Profile]:
    """Read and check the profiles file; ``ConfigError`` lists every problem."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as e:
        raise ConfigError(f"profiles file {str(path)!r} cannot be read: {e.strerror}") from e
    return parse_profiles(text, source=str(path))


def parse_profiles(text: str, *, source: str = "profiles") -> list[Profile]:
    try:
        document: Any = json.loads(text) if text.lstrip().startswith("{") else yaml.safe_load(text)
    except (json.JSONDecodeError, yaml.YAMLError) as e:
        raise ConfigError(f"profiles file {source!r} is not valid YAML/JSON: {e}") from e
    if not isinstance(document, dict) or set(document) != {"profiles"}:
        raise ConfigError(
            f"profiles file {source!r} must be a mapping with exactly one key 'profiles'"
        )
    items = document["profiles"]
    if not isinstance(items, list) or not items:
        raise ConfigError(f"profiles file {source!r}: 'profiles' must be a non-empty list")

    problems: list[str] = []
    profiles: list[Profile] = []
    for index, item in enumerate(items):
        label = f"profiles[{index}]"
        if isinstance(item, dict) and isinstance(item.get("name"), str):
            label += f" ({item['name']})"
        try:
            profiles.append(Profile.model_validate(item))
        except ValidationError as e:
            for err in e.errors():
                where = ".".join(str(p) for p in err["loc"])
                field = f".{where}" if where else ""
                if err["type"] == "extra_forbidden":
                    problems.append(f"{label}{field}: unknown key")
                elif err["type"] == "missing":
                    problems.append(f"{label}{field}: required")
                else:
                    problems.append(f"{label}{field}: {err['msg']} (got {err['input']!r})")
    seen: dict[str, int] = {}
    for item in items:
        name = item.get("name") if isinstance(item, dict) else None
        if isinstance(name, str):
            seen[name] = seen.get(name, 0) + 1
    problems.extend(f"duplicate profile name {name!r}" for name, n in seen.items() if n > 1)
    if problems:
        raise ConfigError(f"profiles file {source!r}: " + "; ".join(problems))
    return profiles


def shard_profiles(
    selected: list[Profile], all_profiles: list[Profile], index: int, count: int
) -> list[Profile]:
    """This shard's part of ``selected``: the profiles whose position in the file modulo
    ``count`` is ``index`` (a Kubernetes Indexed Job runs one shard per pod, with
    ``JOB_COMPLETION_INDEX`` = index). Positions count every profile, enabled or not, so
    disabling one does not move the others to another pod."""
    position = {p.name: n for n, p in enumerate(all_profiles)}
    return [p for p in selected if position[p.name] % count == index]


def select_profiles(profiles: list[Profile], names: list[str]) -> list[Profile]:
    """The enabled profiles, or exactly the named ones (named disabled ones run too)."""
    if not names:
        return [p for p in profiles if p.enabled]
    by_name = {p.name: p for p in profiles}
    unknown = [n for n in names if n not in by_name]
    if unknown:
        raise ConfigError(
            f"--profile {', '.join(unknown)}: no such profile (known: {', '.join(by_name)})"
        )
    return [by_name[n] for n in dict.fromkeys(names)]
