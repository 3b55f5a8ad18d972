"""The emulators' compiled variable and argument coercion gives what graphql-core gives."""

from __future__ import annotations

from typing import Any

import pytest
from graphql import FieldNode, OperationDefinitionNode, build_schema, coerce_input_value, parse
from graphql.execution import get_argument_values, get_variable_values
from graphql.pyutils import Undefined

from tests.emulators.gql import _DECLINED, _argument_plan, _coercer, _fast_arguments

SCHEMA = build_schema(
    """
    enum Color { RED GREEN }
    input Ref { typeId: String, id: String, key: String }
    input Draft { sku: String!, key: String, quantityOnStock: Int!, supplyChannel: Ref }
    input WithDefault { a: Int = 3 }
    input Action { change: Draft, colors: [Color!] }
    type Query { x(d: Draft, w: WithDefault, a: [Action!]!): Int }
    """
)
DRAFT = SCHEMA.type_map["Draft"]
ACTIONS = SCHEMA.query_type.fields["x"].args["a"].type  # type: ignore[union-attr]
GOOD_DRAFT = {"sku": "A", "quantityOnStock": 1, "supplyChannel": {"typeId": "channel", "id": "c"}}


@pytest.mark.parametrize(
    ("type_", "value"),
    [
        (DRAFT, GOOD_DRAFT),
        (DRAFT, {"sku": "A", "quantityOnStock": 1}),
        (DRAFT, {"sku": "A", "quantityOnStock": 1, "supplyChannel": None, "key": None}),
        (DRAFT, None),
        (DRAFT, {"sku": "A"}),  # required field missing
        (DRAFT, {"sku": "A", "quantityOnStock": 1, "nope": 1}),  # unknown field
        (DRAFT, {"sku": 1, "quantityOnStock": 1}),
        (DRAFT, {"sku": "A", "quantityOnStock": True}),
        (DRAFT, {"sku": "A", "quantityOnStock": 2**40}),
        (DRAFT, {"sku": "A", "quantityOnStock": 1.0}),
        (DRAFT, ["not", "an", "object"]),
        (ACTIONS, [{"change": GOOD_DRAFT, "colors": ["RED"]}]),
        (ACTIONS, {"change": GOOD_DRAFT}),  # one value for a list: a list of one
        (ACTIONS, [{"colors": "GREEN"}]),
        (ACTIONS, [{"colors": ["BLUE"]}]),
        (ACTIONS, [None]),
        (ACTIONS, None),
    ],
)
def test_compiled_coercion_matches_graphql_core(type_: Any, value: Any) -> None:
    coerce = _coercer(type_)
    assert coerce is not None
    expected = coerce_input_value(value, type_)
    got = coerce(value)
    if got is _DECLINED:  # left to graphql-core, which then decides
        return
    assert expected is not Undefined
    assert got == expected


def test_types_with_defaults_are_left_to_graphql_core() -> None:
    assert _coercer(SCHEMA.type_map["WithDefault"]) is None  # type: ignore[arg-type]


def test_plain_valid_values_take_the_compiled_path() -> None:
    coerce = _coercer(DRAFT)  # type: ignore[arg-type]
    assert coerce is not None
    assert coerce(GOOD_DRAFT) == GOOD_DRAFT
    assert coerce({"sku": "A", "quantityOnStock": 1, "x": 1}) is _DECLINED


ARGS_SCHEMA = build_schema(
    """
    type Query {
      f(id: String, key: String, version: Int!, actions: [String!]!): Int
      g(limit: Int = 20): Int
    }
    """
)
ARGS_DOCUMENT = parse(
    "query ($id: String, $version: Int!, $actions: [String!]!, $l: Int) {"
    " f(id: $id, version: $version, actions: $actions) g(limit: $l) h: f(version: 1, actions: []) }"
)


@pytest.mark.parametrize(
    "variables",
    [
        {"id": "x", "version": 2, "actions": ["a"]},
        {"version": 2, "actions": []},
        {"id": None, "version": 2, "actions": ["a"]},
        {"id": "x", "actions": ["a"]},
        {"id": "x", "version": None, "actions": ["a"]},
    ],
)
def test_compiled_arguments_match_graphql_core(variables: dict[str, Any]) -> None:
    operation = ARGS_DOCUMENT.definitions[0]
    assert isinstance(operation, OperationDefinitionNode)
    f, g, h = operation.selection_set.selections
    assert isinstance(f, FieldNode)
    assert isinstance(g, FieldNode)
    assert isinstance(h, FieldNode)
    fields = ARGS_SCHEMA.query_type.fields  # type: ignore[union-attr]
    values = get_variable_values(ARGS_SCHEMA, operation.variable_definitions, variables)
    if isinstance(values, list):  # invalid variables never reach the arguments
        return
    assert _argument_plan(fields["g"], g) is None  # an argument default
    assert _argument_plan(fields["f"], h) is None  # literal arguments
    fast = _fast_arguments(_argument_plan(fields["f"], f), values.coerced)
    if fast is not None:
        assert fast == get_argument_values(fields["f"], f, values)
