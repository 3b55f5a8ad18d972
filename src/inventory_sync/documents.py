"""The GraphQL documents the job sends: the bundled ones, or an operator's own.

A replacement document (setting ``INVENTORY_SYNC_GRAPHQL_DOCUMENTS``, a JSON object
``{"GetAggregateVirtualPositions": "/path/file.graphql", ...}``) is checked at start
against the bundled one it replaces: one operation of the same type and name, the same
variables with the same types (the job sends exactly those), one top-level field where
the job batches it, and every field the job reads still selected (more may be added,
e.g. to feed a custom mapper). Anything else is a ``ConfigError`` naming the file.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from importlib import resources
from pathlib import Path

import graphql as gql

from inventory_sync.errors import ConfigError

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
        for name, path in (replacements or {}).items():
            self._texts[name] = _replacement(name, Path(path))

    def __getitem__(self, name: str) -> str:
        return self._texts[name]


def _replacement(name: str, path: Path) -> str:
    where = f"INVENTORY_SYNC_GRAPHQL_DOCUMENTS[{name!r}]={str(path)!r}"
    if name not in BUNDLED:
        raise ConfigError(
            f"{where}: no bundled document is called {name!r} (known: {', '.join(BUNDLED)})"
        )
    try:
        text = path.read_text(encoding="utf-8")
        custom = _operation(gql.parse(text))
    except OSError as e:
        raise ConfigError(f"{where}: cannot be read: {e.strerror}") from e
    except (gql.GraphQLSyntaxError, ValueError) as e:
        raise ConfigError(f"{where}: {e}") from e
    original = _operation(gql.parse(bundled(name)))
    problems: list[str] = []
    if (custom.operation, _name(custom)) != (original.operation, _name(original)):
        problems.append(
            f"must be the {original.operation.value} {_name(original)!r}, "
            f"not the {custom.operation.value} {_name(custom)!r}"
        )
    if _variables(custom) != _variables(original):
        problems.append(
            f"must declare exactly the variables {_signature(original)}, not {_signature(custom)}"
        )
    if name in BATCHED and len(custom.selection_set.selections) != 1:
        problems.append("must have exactly one top-level field (it is sent in aliased batches)")
    missing = _paths(original.selection_set) - _paths(custom.selection_set)
    if missing:
        problems.append(f"must still select {', '.join(sorted('.'.join(p) for p in missing))}")
    if problems:
        raise ConfigError(f"{where}: " + "; ".join(problems))
    return text


def _operation(document: gql.DocumentNode) -> gql.OperationDefinitionNode:
    ops = [d for d in document.definitions if isinstance(d, gql.OperationDefinitionNode)]
    if len(ops) != 1 or len(ops) != len(document.definitions):
        raise ValueError("must hold exactly one operation (and no fragments)")
    return ops[0]


def _name(op: gql.OperationDefinitionNode) -> str:
    return op.name.value if op.name else ""


def _variables(op: gql.OperationDefinitionNode) -> dict[str, str]:
    return {v.variable.name.value: gql.print_ast(v.type) for v in op.variable_definitions or ()}


def _signature(op: gql.OperationDefinitionNode) -> str:
    return "(" + ", ".join(f"${k}: {v}" for k, v in sorted(_variables(op).items())) + ")"


def _paths(
    selections: gql.SelectionSetNode | None, prefix: tuple[str, ...] = ()
) -> set[tuple[str, ...]]:
    """The response keys the document asks for, as paths."""
    out: set[tuple[str, ...]] = set()
    for selection in selections.selections if selections else ():
        if isinstance(selection, gql.FieldNode):
            key = (selection.alias or selection.name).value
            path = (*prefix, key)
            out.add(path)
            out |= _paths(selection.selection_set, path)
    return out
