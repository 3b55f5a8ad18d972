from pathlib import Path

import pytest

from inventory_sync.errors import ConfigError
from inventory_sync.profiles import Profile, load_profiles, parse_profiles, select_profiles

GOOD = """
profiles:
  - name: eu
    ctChannelKey: eu-warehouse
    fluentAggregateVirtualCatalogueRef: AGG_VC_EU
  - name: us
    ctChannelKey: us-warehouse
    fluentAggregateVirtualCatalogueRef: AGG_VC_US
    statuses: [ACTIVE, INACTIVE]
    enabled: false
"""


def test_yaml_profiles_with_defaults() -> None:
    eu, us = parse_profiles(GOOD)
    assert eu == Profile(
        name="eu", ctChannelKey="eu-warehouse", fluentAggregateVirtualCatalogueRef="AGG_VC_EU"
    )
    assert eu.statuses == ("ACTIVE",)
    assert eu.enabled
    assert us.statuses == ("ACTIVE", "INACTIVE")
    assert not us.enabled
    assert eu.props() == {
        "ctChannelKey": "eu-warehouse",
        "fluentAggregateVirtualCatalogueRef": "AGG_VC_EU",
    }


def test_json_file_is_read_too(tmp_path: Path) -> None:
    path = tmp_path / "profiles.json"
    path.write_text(
        '{"profiles": [{"name": "a", "ctChannelKey": "c", "fluentAggregateVirtualCatalogueRef": "r"}]}'
    )
    assert [p.name for p in load_profiles(path)] == ["a"]


def test_every_problem_is_named_at_once() -> None:
    text = """
profiles:
  - name: eu
    ctChannelKey: eu
    fluentAggregateVirtualCatalogueRef: ""
    colour: blue
  - name: eu
    ctChannelKey: x
    fluentAggregateVirtualCatalogueRef: y
  - name: Bad Name
    fluentAggregateVirtualCatalogueRef: y
"""
    with pytest.raises(ConfigError) as info:
        parse_profiles(text, source="p.yaml")
    message = str(info.value)
    assert "profiles[0] (eu).colour: unknown key" in message
    assert (
        "profiles[0] (eu).fluentAggregateVirtualCatalogueRef: Value error, must not be empty"
        in message
    )
    assert "duplicate profile name 'eu'" in message
    assert "profiles[2] (Bad Name).name" in message
    assert "profiles[2] (Bad Name).ctChannelKey: required" in message


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("", "exactly one key 'profiles'"),
        ("profiles: []", "non-empty list"),
        ("profiles: [\n  - {", "not valid YAML/JSON"),
        ("other: 1", "exactly one key 'profiles'"),
    ],
)
def test_malformed_files(text: str, needle: str) -> None:
    with pytest.raises(ConfigError, match=needle):
        parse_profiles(text)


def test_unreadable_file_names_the_path(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"missing\.yaml"):
        load_profiles(tmp_path / "missing.yaml")


def test_selection() -> None:
    profiles = parse_profiles(GOOD)
    assert [p.name for p in select_profiles(profiles, [])] == ["eu"]
    assert [p.name for p in select_profiles(profiles, ["us"])] == ["us"]
    with pytest.raises(ConfigError, match="--profile nope: no such profile"):
        select_profiles(profiles, ["nope"])


def test_shards_split_by_position_in_the_file_whatever_is_enabled() -> None:
    from inventory_sync.profiles import shard_profiles

    text = "profiles:\n" + "".join(
        f"  - {{name: p{n}, ctChannelKey: c{n}, fluentAggregateVirtualCatalogueRef: r{n}"
        + (", enabled: false" if n == 1 else "")
        + "}\n"
        for n in range(7)
    )
    every = parse_profiles(text)
    selected = select_profiles(every, [])
    parts = [[p.name for p in shard_profiles(selected, every, i, 3)] for i in range(3)]
    assert parts == [["p0", "p3", "p6"], ["p4"], ["p2", "p5"]]
