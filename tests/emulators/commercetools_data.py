"""commercetools channels and inventory entries: storage, queries and update rules.

Records are kept as JSON-ready dicts in the GraphQL shape, so queries hand them to
the executor without copying. Failures raise `GraphQLError` whose ``extensions``
carry the commercetools error ``code`` and that error's fields.
"""

from __future__ import annotations

import os
import random
import re
import time
import uuid
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from operator import itemgetter
from typing import Any

from graphql import GraphQLError

from tests.emulators.predicate import Predicate, PredicateError, parse_predicate

INVALID_INPUT = "InvalidInput"
DUPLICATE_FIELD = "DuplicateField"
RESOURCE_NOT_FOUND = "ResourceNotFound"
REFERENCED_RESOURCE_NOT_FOUND = "ReferencedResourceNotFound"
CONCURRENT_MODIFICATION = "ConcurrentModification"

DEFAULT_LIMIT = 20
MAX_LIMIT = 500
MAX_OFFSET = 10_000
_SORT = re.compile(r"\s*(sku|id)\s+(?i:(asc|desc))\s*")

Record = dict[str, Any]


def error(code: str, message: str, **fields: Any) -> GraphQLError:
    return GraphQLError(message, extensions={"code": code, **fields})


_now: tuple[int, str] = (-1, "")
_ids = random.Random(os.urandom(16))


def new_id() -> str:
    """A random (version 4) UUID string, as ``str(uuid.uuid4())`` but without a
    system call per id: entries are created by the hundred thousand in ``make bench``."""
    bits = _ids.getrandbits(128) & ~(0xF000 << 64 | 0xC000 << 48) | (0x4000 << 64 | 0x8000 << 48)
    h = f"{bits:032x}"
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def now_iso() -> str:
    """The current time, UTC with milliseconds (formatted once per millisecond)."""
    global _now
    ms = time.time_ns() // 1_000_000
    if ms != _now[0]:
        moment = datetime.fromtimestamp(ms // 1000, UTC)
        _now = (ms, f"{moment:%Y-%m-%dT%H:%M:%S}.{ms % 1000:03d}Z")
    return _now[1]


class InventoryStore:
    """Channels and inventory entries; one entry per (sku, supply channel)."""

    def __init__(self) -> None:
        self._channels_by_id: dict[str, Record] = {}
        self._channels_by_key: dict[str, Record] = {}
        self._entries: dict[str, Record] = {}
        self._entries_by_key: dict[str, Record] = {}
        self._by_channel: dict[str | None, dict[str, Record]] = {}

    # -- channels ---------------------------------------------------------------------

    def add_channel(self, key: str, id: str | None, roles: Sequence[str]) -> Record:
        if key in self._channels_by_key:
            raise ValueError(f"channel {key!r} exists")
        now = now_iso()
        channel: Record = {
            "id": id or str(uuid.uuid4()),
            "version": 1,
            "key": key,
            "roles": list(roles),
            "createdAt": now,
            "lastModifiedAt": now,
        }
        self._channels_by_id[channel["id"]] = channel
        self._channels_by_key[key] = channel
        return channel

    def channel(self, id: str | None = None, key: str | None = None) -> Record | None:
        if (id is None) == (key is None):
            raise error(INVALID_INPUT, "Exactly one of 'id' or 'key' must be provided.")
        return self._channels_by_id.get(id) if id is not None else self._channels_by_key.get(key)  # type: ignore[arg-type]

    # -- entries ----------------------------------------------------------------------

    def get(self, id: str) -> Record | None:
        return self._entries.get(id)

    def entries(self, channel_id: str | None) -> Iterable[Record]:
        return self._by_channel.get(channel_id, {}).values()

    def query(
        self, where: str | None, sort: Sequence[str] | None, limit: int | None, offset: int | None
    ) -> Record:
        """The ``InventoryEntryQueryResult`` of ``inventoryEntries``."""
        limit = DEFAULT_LIMIT if limit is None else limit
        offset = 0 if offset is None else offset
        if not 0 <= limit <= MAX_LIMIT:
            raise error(
                INVALID_INPUT,
                f"Malformed parameter: limit: The limit parameter must be in the range of "
                f"[0..{MAX_LIMIT}]",
            )
        if not 0 <= offset <= MAX_OFFSET:
            raise error(
                INVALID_INPUT,
                f"Malformed parameter: offset: The offset parameter must be in the range of "
                f"[0..{MAX_OFFSET}]",
            )
        try:
            predicate = Predicate() if where is None else parse_predicate(where)
        except PredicateError as problem:
            raise error(INVALID_INPUT, f"Malformed parameter: where: {problem}") from None
        matched = [entry for entry in self._candidates(predicate) if predicate.matches(entry)]
        for field, descending in reversed(_sort_keys(sort)):
            matched.sort(key=itemgetter(field), reverse=descending)
        page = matched[offset : offset + limit]
        return {
            "offset": offset,
            "count": len(page),
            "total": len(matched),
            "exists": bool(matched),
            "results": page,
        }

    def create(self, draft: Mapping[str, Any]) -> Record:
        """Create an entry from an ``InventoryEntryDraft``."""
        sku, quantity, key = draft["sku"], draft["quantityOnStock"], draft.get("key")
        if not sku.strip():
            raise error(INVALID_INPUT, "Malformed parameter: sku: must not be empty.")
        channel = self._resolve_channel(draft.get("supplyChannel"))
        pool = self._by_channel.setdefault(None if channel is None else channel["id"], {})
        existing = pool.get(sku)
        if existing is not None:
            raise _duplicate("sku", sku, existing)
        if key is not None and key in self._entries_by_key:
            raise _duplicate("key", key, self._entries_by_key[key])
        now = now_iso()
        entry = {
            "id": new_id(),
            "version": 1,
            "sku": sku,
            "quantityOnStock": quantity,
            "availableQuantity": quantity,
            "key": key,
            "supplyChannel": channel,
            "createdAt": now,
            "lastModifiedAt": now,
        }
        pool[sku] = entry
        self._entries[entry["id"]] = entry
        if key is not None:
            self._entries_by_key[key] = entry
        return entry

    def update(
        self,
        id: str | None,
        key: str | None,
        version: int,
        actions: Sequence[Mapping[str, Any]],
    ) -> Record:
        """Apply quantity update actions atomically; the version moves by one."""
        if (id is None) == (key is None):
            raise error(INVALID_INPUT, "Exactly one of 'id' or 'key' must be provided.")
        entry = self._entries.get(id) if id is not None else self._entries_by_key.get(key)  # type: ignore[arg-type]
        if entry is None:
            what = f"ID '{id}'" if id is not None else f"key '{key}'"
            raise error(RESOURCE_NOT_FOUND, f"The Resource with {what} was not found.")
        current = entry["version"]
        if version != current:
            raise error(
                CONCURRENT_MODIFICATION,
                f"Object {entry['id']} has a different version than expected. "
                f"Expected: {version} - Actual: {current}.",
                currentVersion=current,
            )
        quantity = entry["quantityOnStock"]
        for action in actions:
            chosen = [(name, value) for name, value in action.items() if value is not None]
            if len(chosen) != 1:
                raise error(INVALID_INPUT, "An update action must set exactly one action field.")
            name, value = chosen[0]
            if name == "changeQuantity":
                quantity = value["quantity"]
            elif name == "addQuantity":
                quantity += value["quantity"]
            else:  # removeQuantity, the only other action in the schema subset
                quantity -= value["quantity"]
        if actions:
            entry["availableQuantity"] += quantity - entry["quantityOnStock"]
            entry["quantityOnStock"] = quantity
            entry["version"] = current + 1
            entry["lastModifiedAt"] = now_iso()
        return entry

    def _resolve_channel(self, reference: Mapping[str, Any] | None) -> Record | None:
        if reference is None:
            return None
        type_id = reference.get("typeId")
        if type_id not in (None, "channel"):
            raise error(
                INVALID_INPUT, f"supplyChannel: expected typeId 'channel', got {type_id!r}."
            )
        channel_id, key = reference.get("id"), reference.get("key")
        if (channel_id is None) == (key is None):
            raise error(INVALID_INPUT, "supplyChannel: exactly one of 'id' or 'key' must be set.")
        if channel_id is not None:
            channel = self._channels_by_id.get(channel_id)
            identifier = {"id": channel_id}
        else:
            channel = self._channels_by_key.get(key)  # type: ignore[arg-type]
            identifier = {"key": key}
        if channel is None:
            field, value = next(iter(identifier.items()))
            raise error(
                REFERENCED_RESOURCE_NOT_FOUND,
                f"The referenced object of type 'channel' with {field} '{value}' was not found. "
                "It either doesn't exist, or it can't be accessed from this endpoint.",
                typeId="channel",
                **identifier,
            )
        return channel

    def _candidates(self, predicate: Predicate) -> list[Record]:
        """Entries that may match, narrowed by the (sku, channel) and id indexes."""
        if predicate.channel_ids is None:
            pools = list(self._by_channel.values())
        else:
            pools = [self._by_channel.get(channel_id, {}) for channel_id in predicate.channel_ids]
        if predicate.skus is not None:
            return [pool[sku] for pool in pools for sku in predicate.skus if sku in pool]
        if predicate.ids is not None:
            return [self._entries[id_] for id_ in predicate.ids if id_ in self._entries]
        return [entry for pool in pools for entry in pool.values()]


def _sort_keys(sort: Sequence[str] | None) -> list[tuple[str, bool]]:
    keys = []
    for spec in sort or ["id asc"]:
        match = _SORT.fullmatch(spec)
        if match is None:
            raise error(
                INVALID_INPUT,
                f"Malformed parameter: sort: the emulator supports 'sku|id asc|desc', got {spec!r}",
            )
        keys.append((match.group(1), match.group(2).lower() == "desc"))
    return keys


def _duplicate(field: str, value: str, existing: Record) -> GraphQLError:
    return error(
        DUPLICATE_FIELD,
        f"A duplicate value '\"{value}\"' exists for field '{field}'.",
        field=field,
        duplicateValue=value,
        conflictingResource={"typeId": "inventory-entry", "id": existing["id"]},
    )
