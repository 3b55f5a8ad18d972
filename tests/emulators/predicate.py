"""Parser of the subset of commercetools query predicates the emulator supports.

Grammar (keywords ``and``/``in`` case-insensitive)::

    predicate := condition ("and" condition)*
    condition := "sku" "=" STRING
               | "sku" "in" "(" STRING ("," STRING)* ")"
               | "id" ("=" | ">") STRING
               | "supplyChannel" "(" "id" "=" STRING ")"

String literals are double-quoted; inside them ``\\"`` is a quote and ``\\\\`` a
backslash (no other escapes). Anything else raises `PredicateError`. The scanner
matches whole string lists with one regular expression, so a predicate listing
500 SKUs parses in well under a millisecond.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

_STRING_BODY = r'"[^"\\]*(?:\\.[^"\\]*)*"'
_STRING = re.compile(_STRING_BODY, re.DOTALL)
_STRING_LIST = re.compile(rf"\(\s*{_STRING_BODY}(?:\s*,\s*{_STRING_BODY})*\s*\)", re.DOTALL)
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_OPERATOR = re.compile(r">=|<=|!=|<>|[=<>]")
_ESCAPE = re.compile(r"\\(.)", re.DOTALL)
_SPACE = re.compile(r"\s*")
_SYMBOLS = {symbol: re.compile(re.escape(symbol)) for symbol in "()="}


class PredicateError(ValueError):
    """The predicate is malformed or outside the supported subset."""


@dataclass(frozen=True, slots=True)
class Predicate:
    """A conjunction: every set condition must hold (None means unconstrained)."""

    skus: frozenset[str] | None = None
    channel_ids: frozenset[str] | None = None
    ids: frozenset[str] | None = None
    id_after: str | None = None

    def matches(self, entry: Mapping[str, Any]) -> bool:
        if self.skus is not None and entry["sku"] not in self.skus:
            return False
        if self.ids is not None and entry["id"] not in self.ids:
            return False
        if self.id_after is not None and entry["id"] <= self.id_after:
            return False
        if self.channel_ids is not None:
            channel = entry["supplyChannel"]
            return channel is not None and channel["id"] in self.channel_ids
        return True


def parse_predicate(text: str) -> Predicate:
    """Parse a ``where`` string; raises `PredicateError`."""
    scanner = _Scanner(text)
    conditions: dict[str, Any] = {}
    _condition(scanner, conditions)
    while not scanner.at_end():
        scanner.keyword("and")
        _condition(scanner, conditions)
    return Predicate(**conditions)


def _condition(scanner: _Scanner, into: dict[str, Any]) -> None:
    column = scanner.column
    field = scanner.take(_NAME, "a field name")
    if field == "sku":
        if scanner.accept_keyword("in"):
            listed = scanner.take(_STRING_LIST, "a parenthesised list of strings")
            values = frozenset(_unquote(literal) for literal in _STRING.findall(listed))
        else:
            scanner.symbol("=")
            values = frozenset([scanner.string()])
        _narrow(into, "skus", values)
    elif field == "id":
        operator_column = scanner.column
        operator = scanner.take(_OPERATOR, "an operator")
        if operator == "=":
            _narrow(into, "ids", frozenset([scanner.string()]))
        elif operator == ">":
            value = scanner.string()
            into["id_after"] = max(value, into.get("id_after", value))
        else:
            raise _unsupported(f"id {operator}", operator_column)
    elif field == "supplyChannel":
        scanner.symbol("(")
        if scanner.take(_NAME, "'id'") != "id":
            raise _unsupported("supplyChannel fields other than id", column)
        scanner.symbol("=")
        _narrow(into, "channel_ids", frozenset([scanner.string()]))
        scanner.symbol(")")
    else:
        raise _unsupported(f"field {field!r}", column)


class _Scanner:
    def __init__(self, text: str) -> None:
        self._text = text
        self._position = _SPACE.match(text).end()  # type: ignore[union-attr]

    @property
    def column(self) -> int:
        return self._position + 1

    def at_end(self) -> bool:
        return self._position == len(self._text)

    def take(self, pattern: re.Pattern[str], expected: str) -> str:
        match = pattern.match(self._text, self._position)
        if match is None:
            found = self._text[self._position : self._position + 20] or "end of input"
            raise PredicateError(f"expected {expected} at column {self.column}, found {found!r}")
        self._position = _SPACE.match(self._text, match.end()).end()  # type: ignore[union-attr]
        return match.group()

    def string(self) -> str:
        return _unquote(self.take(_STRING, "a string literal"))

    def symbol(self, symbol: str) -> None:
        self.take(_SYMBOLS[symbol], f"'{symbol}'")

    def keyword(self, keyword: str) -> None:
        column = self.column
        found = self.take(_NAME, f"'{keyword}'")
        if found.lower() != keyword:
            raise _unsupported(f"{found!r} where '{keyword}' is expected", column)

    def accept_keyword(self, keyword: str) -> bool:
        match = _NAME.match(self._text, self._position)
        if match is None or match.group().lower() != keyword:
            return False
        self.take(_NAME, keyword)
        return True


def _unquote(literal: str) -> str:
    if "\\" not in literal:
        return literal[1:-1]

    def replace(match: re.Match[str]) -> str:
        if match.group(1) not in ('"', "\\"):
            raise PredicateError(f"unsupported escape \\{match.group(1)} in {literal}")
        return match.group(1)

    return _ESCAPE.sub(replace, literal[1:-1])


def _narrow(into: dict[str, Any], name: str, values: frozenset[str]) -> None:
    into[name] = values if name not in into else into[name] & values


def _unsupported(what: str, column: int) -> PredicateError:
    return PredicateError(f"the emulator does not support {what} (column {column})")
