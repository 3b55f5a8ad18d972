"""Mappers used by the tests, as an operator would write them."""

from __future__ import annotations

from inventory_sync.mapping import SourcePosition

SAFETY_STOCK = 2


def prefixed(position: SourcePosition) -> tuple[str, int] | None:
    """SKU mapping: commercetools SKUs are the product refs with a prefix."""
    return f"CT-{position.product_ref}", position.quantity


def safety_stock(position: SourcePosition) -> tuple[str, int]:
    """Hold back a buffer: never promise the last units (negatives are clamped to 0)."""
    return position.product_ref, position.quantity - SAFETY_STOCK


ALLOWED = {"A", "B"}


def allow_list(position: SourcePosition) -> tuple[str, int] | None:
    """Only some SKUs are sold online."""
    return (position.product_ref, position.quantity) if position.product_ref in ALLOWED else None


def fragile(position: SourcePosition) -> tuple[str, int]:
    if position.product_ref == "B":
        raise ValueError("no mapping for B")
    return position.product_ref, position.quantity


NOT_CALLABLE = 42


def two_arguments(position: SourcePosition, extra: int) -> tuple[str, int]:
    return position.product_ref, extra


def prefixed_above_threshold(position: SourcePosition) -> tuple[str, int] | None:
    """Renames, and leaves low stock alone (skips it by its quantity)."""
    if position.quantity < 3:
        return None
    return f"CT-{position.product_ref}", position.quantity
