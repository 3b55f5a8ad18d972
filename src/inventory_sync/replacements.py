"""Checking an operator's replacement of a bundled GraphQL document.

A replacement must be one operation of the same type and name as the bundled one, with
the same variables of the same types (the job sends exactly those), one top-level field
where the job batches it, and every field the job reads still selected (more may be
added). Anything else is a ``ConfigError`` naming the file. Imported only when there
are replacements: graphql-core's import costs about 0.12 s of CPU.
"""

from __future__ import annotations

from pathlib import Path

import graphql as gql

from inventory_sync.documents import BATCHED, BUNDLED, bundled
from inventory_sync.errors import ConfigError


def checked(name: str, path: Path) -> str:
    """The text of the replacement of ``name`` at ``path``, once it passed the checks."""
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
