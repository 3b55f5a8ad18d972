from pathlib import Path

import pytest

from inventory_sync.documents import BUNDLED, Documents, bundled
from inventory_sync.errors import ConfigError

POSITIONS = bundled("GetAggregateVirtualPositions")


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "custom.graphql"
    path.write_text(text)
    return path


def test_every_bundled_document_is_served_by_default() -> None:
    docs = Documents()
    for name in BUNDLED:
        assert f" {name}(" in docs[name]


@pytest.mark.parametrize(
    ("name", "text", "needle"),
    [
        (
            "GetAggregateVirtualPositions",
            POSITIONS.replace("query GetAggregateVirtualPositions", "query Positions"),
            "must be the query 'GetAggregateVirtualPositions', not the query 'Positions'",
        ),
        (
            "GetAggregateVirtualPositions",
            POSITIONS.replace("  $first: Int\n", "  $first: Int!\n"),
            "must declare exactly the variables",
        ),
        (
            "GetAggregateVirtualPositions",
            POSITIONS.replace("        productRef\n", ""),
            "must still select virtualPositions.edges.node.productRef",
        ),
        (
            "GetAggregateVirtualPositions",
            POSITIONS.replace("    pageInfo {\n      hasNextPage\n    }\n", ""),
            "virtualPositions.pageInfo, virtualPositions.pageInfo.hasNextPage",
        ),
        (
            "UpdateInventoryEntry",
            bundled("UpdateInventoryEntry").replace(
                "  updateInventoryEntry(", "  other: __typename\n  updateInventoryEntry("
            ),
            "exactly one top-level field",
        ),
        (
            "GetChannelByKey",
            "query GetChannelByKey($key: String!) { channel(key: $key) { id",
            "Syntax Error",
        ),
        ("GetChannelByKey", "fragment F on Channel { id }", "exactly one operation"),
        ("Mystery", "query Mystery { x }", "no bundled document is called 'Mystery'"),
    ],
)
def test_bad_replacements_name_the_setting_and_the_problem(
    tmp_path: Path, name: str, text: str, needle: str
) -> None:
    with pytest.raises(ConfigError) as info:
        Documents({name: write(tmp_path, text)})
    message = str(info.value)
    assert f"INVENTORY_SYNC_GRAPHQL_DOCUMENTS[{name!r}]" in message
    assert needle in message


def test_an_unreadable_replacement(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot be read"):
        Documents({"GetChannelByKey": tmp_path / "missing.graphql"})


def test_a_good_replacement_is_used(tmp_path: Path) -> None:
    text = POSITIONS.replace(
        "        quantity\n", "        quantity\n        status\n        ref\n"
    )
    assert text != POSITIONS
    docs = Documents({"GetAggregateVirtualPositions": write(tmp_path, text)})
    assert docs["GetAggregateVirtualPositions"] == text
    assert docs["GetChannelByKey"] == bundled("GetChannelByKey")
