"""Realistic demo data for both emulators, and the seed file format.

A seed document (JSON object) has three keys::

    {
      "profiles": [{"catalogue": "AGG_VC_EU", "channel": "eu-warehouse"}, ...],
      "fluent": {"positions": [
        {"catalogue": "AGG_VC_EU", "ref": "SKU-000123", "productRef": "SKU-000123",
         "quantity": 7, "status": "ACTIVE",
         "createdOn": "2024-10-02T08:15:00.123Z", "updatedOn": "2024-12-20T17:01:02.456Z"},
        ...]},
      "commercetools": {
        "channels": [{"key": "eu-warehouse", "id": "<uuid>", "roles": ["InventorySupply"]}, ...],
        "entries": [{"sku": "SKU-000123", "channel": "eu-warehouse", "quantityOnStock": 7}, ...]}
    }

`FluentEmulator.load` reads ``fluent``, `CommercetoolsEmulator.load` reads
``commercetools``; ``quantity`` may be null, ``createdOn``/``status`` may be left out.

`make_catalogue` gives each profile the same products (refs of several shapes:
``SKU-000123``, ``sku_lower-12``, ``ABC/123-XL``, unicode ones, one with ``"`` and one
with ``\\``), many zero and a few negative quantities, three positions with a null
quantity and two with an empty ``productRef``, mostly ``ACTIVE`` statuses, updates
in the 30 days before 2025-01-01, and commercetools entries for about 30 % of each
channel's products, half with Fluent's quantity and half with another one.

Usage: ``python -m tests.emulators.seed --out seed.json [--n 10000] [--seed 42]``
"""

from __future__ import annotations

import argparse
import json
import random
import uuid
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

PROFILES = (("AGG_VC_EU", "eu-warehouse"), ("AGG_VC_US", "us-warehouse"))
ANCHOR = datetime(2025, 1, 1, tzinfo=UTC)
"""Every generated updatedOn lies in the 30 days before this instant."""
SPECIAL_REFS = (
    '27"-MONITOR-4K',
    "C:\\BIN-7",
    "Bücher-Ø-12",
    "ТОВАР-7",  # noqa: RUF001 - Cyrillic on purpose
    "商品-88",
    "ABC/123-XL",
    "sku_lower-12",
)
NULL_QUANTITY_COUNT = 3
EMPTY_PRODUCT_REF_COUNT = 2
MIN_PER_PROFILE = 20
EXISTING_SHARE = 0.3
_SIZES = ("XS", "S", "M", "L", "XL", "XXL")


def make_catalogue(n_per_profile: int = 10_000, seed: int = 42) -> dict[str, Any]:
    """A seed document with `n_per_profile` positions in each profile's catalogue."""
    if n_per_profile < MIN_PER_PROFILE:
        raise ValueError(f"n_per_profile must be at least {MIN_PER_PROFILE}")
    rng = random.Random(seed)
    product_refs = _product_refs(rng, n_per_profile - EMPTY_PRODUCT_REF_COUNT)
    positions: list[dict[str, Any]] = []
    channels: list[dict[str, Any]] = []
    entries: list[dict[str, Any]] = []
    for catalogue, channel in PROFILES:
        profile_positions = _positions(rng, catalogue, product_refs)
        positions += profile_positions
        channels.append(
            {
                "key": channel,
                "id": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
                "roles": ["InventorySupply"],
            }
        )
        entries += _existing_entries(rng, channel, profile_positions)
    return {
        "profiles": [{"catalogue": c, "channel": ch} for c, ch in PROFILES],
        "fluent": {"positions": positions},
        "commercetools": {"channels": channels, "entries": entries},
    }


def _product_refs(rng: random.Random, count: int) -> list[str]:
    shapes: tuple[tuple[float, Callable[[int], str]], ...] = (
        (0.60, lambda i: f"SKU-{i:06d}"),
        (0.12, lambda i: f"sku_lower-{i}"),
        (0.12, lambda i: f"ABC/{i}-{rng.choice(_SIZES)}"),
        (0.05, lambda i: f"Bücher-Ø-{i}"),
        (0.05, lambda i: f"ТОВАР-{i}"),  # noqa: RUF001 - Cyrillic on purpose
        (0.06, lambda i: f"商品-{i}"),
    )
    weights = [weight for weight, _ in shapes]
    refs = dict.fromkeys(SPECIAL_REFS)
    index = 1
    while len(refs) < count:
        (make,) = rng.choices([shape for _, shape in shapes], weights)
        refs.setdefault(make(index))
        index += 1
    ordered = list(refs)
    rng.shuffle(ordered)
    return ordered


def _positions(
    rng: random.Random, catalogue: str, product_refs: Sequence[str]
) -> list[dict[str, Any]]:
    null_quantity = set(rng.sample(range(len(product_refs)), NULL_QUANTITY_COUNT))
    rows: list[tuple[str, str, int | None]] = [
        (ref, ref, None if index in null_quantity else _quantity(rng))
        for index, ref in enumerate(product_refs)
    ]
    rows += [(f"VP-NO-PRODUCT-{n}", "", _quantity(rng)) for n in range(EMPTY_PRODUCT_REF_COUNT)]
    positions = []
    for ref, product_ref, quantity in rows:
        updated = ANCHOR - timedelta(milliseconds=rng.randrange(1, 30 * 86_400_000))
        created = updated - timedelta(milliseconds=rng.randrange(0, 365 * 86_400_000))
        positions.append(
            {
                "catalogue": catalogue,
                "ref": ref,
                "productRef": product_ref,
                "quantity": quantity,
                "status": "INACTIVE" if rng.random() < 0.07 else "ACTIVE",
                "createdOn": _iso(created),
                "updatedOn": _iso(updated),
            }
        )
    return positions


def _quantity(rng: random.Random) -> int:
    roll = rng.random()
    if roll < 0.35:
        return 0
    if roll < 0.36:
        return -rng.randint(1, 5)
    if roll < 0.86:
        return rng.randint(1, 50)
    return rng.randint(51, 2000)


def _existing_entries(
    rng: random.Random, channel: str, positions: Sequence[dict[str, Any]]
) -> list[dict[str, Any]]:
    valid = [position for position in positions if position["productRef"]]
    chosen = rng.sample(valid, round(len(valid) * EXISTING_SHARE))
    entries = []
    for n, position in enumerate(chosen):
        fluent_quantity = position["quantity"] or 0
        quantity = fluent_quantity if n % 2 == 0 else max(0, fluent_quantity + rng.randint(-20, 20))
        if n % 2 and quantity == fluent_quantity:
            quantity += 1
        entries.append(
            {"sku": position["productRef"], "channel": channel, "quantityOnStock": quantity}
        )
    return entries


def _iso(moment: datetime) -> str:
    return f"{moment:%Y-%m-%dT%H:%M:%S}.{moment.microsecond // 1000:03d}Z"


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Write a demo seed file for the emulators.")
    parser.add_argument("--out", type=Path, required=True, help="seed file to write")
    parser.add_argument("--n", type=int, default=10_000, help="positions per profile")
    parser.add_argument("--seed", type=int, default=42, help="random seed")
    args = parser.parse_args(argv)
    document = make_catalogue(args.n, args.seed)
    args.out.write_text(json.dumps(document, ensure_ascii=False), encoding="utf-8")
    positions = len(document["fluent"]["positions"])
    entries = len(document["commercetools"]["entries"])
    print(f"wrote {args.out}: {positions} positions, {entries} commercetools entries")


if __name__ == "__main__":
    main()
