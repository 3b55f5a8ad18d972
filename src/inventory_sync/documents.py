"""The GraphQL documents the job sends: the bundled ones, or an operator's own.

A replacement document (setting ``INVENTORY_SYNC_GRAPHQL_DOCUMENTS``, a JSON object
``{"GetAggregateVirtualPositions": "/path/file.graphql", ...}``) is checked at start
against the bundled one it replaces (see ``replacements``); anything wrong is a
``ConfigError`` naming the file.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from importlib import resources
from pathlib import Path

BUNDLED: dict[str, str] = {
    "GetAggregateVirtualPositions": "fluent",
    "GetChannelByKey": "commercetools",
    "GetInventoryEntries": "commercetools",
    "GetChannelEntries": "commercetools",
    "CreateInventoryEntry": "commercetools",
    "UpdateInventoryEntry": "commercetools",
    "CreateChannel": "commercetools",
}
BATCHED = frozenset({"CreateInventoryEntry", "UpdateInventoryEntry"})


@functools.cache
def bundled(name: str) -> str:
    """The text of ``graphql/<api>/<name>.graphql`` shipped inside the package."""
    path = resources.files("inventory_sync") / "graphql" / BUNDLED[name] / f"{name}.graphql"
    return path.read_text(encoding="utf-8")


class Documents:
    """Document texts by operation name; replacements are checked when given."""

    def __init__(self, replacements: Mapping[str, Path] | None = None) -> None:
        self._texts = {name: bundled(name) for name in BUNDLED}
        if replacements:
            # only a replacement needs graphql-core, whose import costs about 0.12 s of CPU
            from inventory_sync.replacements import checked

            for name, path in replacements.items():
                self._texts[name] = checked(name, Path(path))

    def __getitem__(self, name: str) -> str:
        return self._texts[name]

    def is_bundled(self, name: str) -> bool:
        """Whether ``name`` is the bundled document (not an operator's replacement)."""
        return self._texts[name] == bundled(name)
