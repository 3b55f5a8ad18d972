"""The custom mapping hook: how a Fluent position becomes a commercetools entry.

``INVENTORY_SYNC_MAPPER`` names a function, either as an import path
``package.module:function`` or as the name of an entry point in the group
``inventory_sync.mappers``. It receives each valid position (``SourcePosition``: product
ref, quantity, profile name) and returns ``(sku, quantity)`` to write, or ``None`` to skip
the position. It is loaded and checked at start; an error raised by it fails that
position only (code ``MapperError``). Negative results are clamped like the master's.
"""

from __future__ import annotations

import importlib
import inspect
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from importlib.metadata import entry_points

from inventory_sync.errors import ConfigError
from inventory_sync.model import ItemFailure
from inventory_sync.plan import NegativePolicy, clamp

GROUP = "inventory_sync.mappers"


@dataclass(frozen=True, slots=True)
class SourcePosition:
    product_ref: str
    quantity: int
    profile: str


Mapper = Callable[[SourcePosition], "tuple[str, int] | None"]


@dataclass(slots=True)
class Mapped:
    wanted: dict[str, int] = field(default_factory=dict)
    skipped: int = 0
    skipped_refs: list[str] = field(default_factory=list)
    renamed: bool = False  # some SKU differs from its product ref
    clamped: int = 0
    failures: list[ItemFailure] = field(default_factory=list)


def load_mapper(spec: str) -> Mapper:
    """The function ``spec`` names; ``ConfigError`` when it cannot be used."""
    where = f"INVENTORY_SYNC_MAPPER={spec!r}"
    if ":" in spec:
        module_name, _, attribute = spec.partition(":")
        try:
            target: object = importlib.import_module(module_name)
            for part in attribute.split("."):
                target = getattr(target, part)
        except (ImportError, AttributeError, ValueError) as e:
            raise ConfigError(f"{where}: cannot be imported ({type(e).__name__}: {e})") from e
    else:
        found = [ep for ep in entry_points(group=GROUP) if ep.name == spec]
        if not found:
            known = sorted(ep.name for ep in entry_points(group=GROUP))
            raise ConfigError(
                f"{where}: no 'module:function' and no entry point {spec!r} in the group "
                f"{GROUP!r} (installed: {', '.join(known) or 'none'})"
            )
        try:
            target = found[0].load()
        except Exception as e:  # a plug-in's import may fail in any way
            raise ConfigError(f"{where}: cannot be loaded ({type(e).__name__}: {e})") from e
    if not callable(target):
        raise ConfigError(f"{where}: is not callable")
    try:
        inspect.signature(target).bind(SourcePosition("ref", 0, "profile"))
    except TypeError as e:
        raise ConfigError(f"{where}: must take one argument, the position ({e})") from e
    except ValueError:
        pass  # no signature to inspect (a builtin): trust it
    mapper: Mapper = target
    return mapper


def apply(
    mapper: Mapper, wanted: Mapping[str, int], profile: str, negative: NegativePolicy
) -> Mapped:
    """Map each (product ref, quantity); two refs mapped to one SKU: the later one wins."""
    out = Mapped()
    clamped: set[str] = set()
    for ref, quantity in wanted.items():
        try:
            mapped = mapper(SourcePosition(ref, quantity, profile))
            if mapped is None:
                out.skipped += 1
                out.skipped_refs.append(ref)
                continue
            sku, new_quantity = mapped
            if not isinstance(sku, str) or not sku.strip():
                raise TypeError(f"returned the SKU {sku!r}")
            if isinstance(new_quantity, bool) or not isinstance(new_quantity, int):
                raise TypeError(f"returned the quantity {new_quantity!r}")
        except Exception as e:  # the hook is the operator's code: any error fails one position
            out.failures.append(ItemFailure(ref, "MapperError", f"{type(e).__name__}: {e}"))
            continue
        out.renamed = out.renamed or sku != ref
        value, was_clamped = clamp(new_quantity, negative)
        if was_clamped:
            clamped.add(sku)
        else:
            clamped.discard(sku)
        out.wanted[sku] = value
    out.clamped = len(clamped)
    return out


def protected_skus(
    mapper: Mapper | None, refs: Iterable[str], profile: str
) -> tuple[set[str], int]:
    """SKUs that positions the job does not write may still stand for, for
    ``--zero-missing`` to spare: each ref itself, and the SKU the mapper (if any) gives
    it, asked with quantity 0. Also how many refs the mapper gave no SKU for (it skipped
    or raised): with a mapper that renames, their SKUs are unknown."""
    out: set[str] = set(refs)
    if mapper is None:
        return out, 0
    unknown = 0
    for ref in list(out):
        try:
            mapped = mapper(SourcePosition(ref, 0, profile))
        except Exception:  # the operator's code: the ref itself is kept, the SKU unknown
            mapped = None
        if mapped is not None and isinstance(mapped[0], str):
            out.add(mapped[0])
        else:
            unknown += 1
    return out, unknown
