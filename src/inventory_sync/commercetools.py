"""The sink: a commercetools supply channel's inventory entries, read and written in batches."""

from __future__ import annotations

import functools
from collections.abc import AsyncGenerator, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import anyio

from inventory_sync.documents import Documents
from inventory_sync.errors import (
    ApiError,
    AuthError,
    BadResponseError,
    ChannelNotFoundError,
    GraphQLError,
)
from inventory_sync.graphql import (
    FieldTemplate,
    GraphQLClient,
    alias_index,
    batch_document,
    error_code,
)
from inventory_sync.plan import Create, ExistingEntry, Update, Write

API = "commercetools"
MAX_PREDICATE_CHARS = 9_500  # commercetools caps query predicates near 10,000 characters
MAX_LIMIT = 500


@dataclass(slots=True)
class WriteFailure:
    sku: str
    code: str
    message: str


@dataclass(slots=True)
class Written:
    """What ``CommercetoolsSink.write`` did, by outcome. ``created`` and ``updated`` hold
    the writes as finally sent (a create that met an entry made meanwhile is sent again
    as an update of it); ``unchanged`` the SKUs a conflict's re-read found already equal.
    Lists of the writes themselves: nothing is built per position that succeeded."""

    created: list[Write] = field(default_factory=list)
    updated: list[Write] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    failed: list[WriteFailure] = field(default_factory=list)


def quote(value: str) -> str:
    """A commercetools predicate string literal: ``\\`` and ``"`` escaped."""
    if "\\" in value or '"' in value:
        value = value.replace("\\", "\\\\").replace('"', '\\"')
    return f'"{value}"'


def sku_predicates(skus: Sequence[str], channel_id: str) -> Iterator[str]:
    """``sku in (...) and supplyChannel(id="...")`` predicates, each under the size cap."""
    tail = f") and supplyChannel(id={quote(channel_id)})"
    head = "sku in ("
    budget = MAX_PREDICATE_CHARS - len(head) - len(tail)
    part: list[str] = []
    used = 0
    for sku in skus:
        literal = quote(sku)
        cost = len(literal) + 2
        if len(literal) > budget:
            raise ValueError(f"SKU too long for a query predicate: {sku[:50]!r}...")
        if part and (used + cost > budget or len(part) >= MAX_LIMIT):
            yield head + ", ".join(part) + tail
            part, used = [], 0
        part.append(literal)
        used += cost
    if part:
        yield head + ", ".join(part) + tail


class CommercetoolsSink:
    """Channel lookup, existing entries by SKU, and batched creates/updates."""

    def __init__(
        self,
        client: GraphQLClient,
        *,
        batch_size: int,
        conflict_retries: int,
        documents: Documents | None = None,
    ) -> None:
        docs = documents or Documents()
        self._client = client
        self._batch_size = batch_size
        self._conflict_retries = conflict_retries
        self._channel_doc = docs["GetChannelByKey"]
        self._entries_doc = docs["GetInventoryEntries"]
        self._channel_entries_doc = docs["GetChannelEntries"]
        self._create_channel_doc = docs["CreateChannel"]
        self._create = _template(docs, "CreateInventoryEntry")
        self._update = _template(docs, "UpdateInventoryEntry")
        # the names `_batch_variables` fills (`Documents` holds custom documents to them)
        assert set(self._create.variables) == {"draft"}, self._create.variables
        assert set(self._update.variables) == {"id", "version", "actions"}, self._update.variables

    async def channel_id(self, key: str) -> str:
        body = await self._client.post(self._channel_doc, {"key": key})
        _raise_errors(body, "channel")
        channel = (body.get("data") or {}).get("channel")
        if channel is None:
            raise ChannelNotFoundError(API, f"no channel with key {key!r}", code="ChannelNotFound")
        return _supply_channel_id(channel, key)

    async def create_channel(self, key: str) -> str:
        """Create the supply channel ``key`` (role ``InventorySupply``); its id."""
        draft = {"key": key, "roles": ["InventorySupply"], "name": [{"locale": "en", "value": key}]}
        body = await self._client.post(self._create_channel_doc, {"draft": draft})
        _raise_errors(body, "createChannel")
        return _supply_channel_id((body.get("data") or {}).get("createChannel"), key)

    async def existing(self, channel_id: str, skus: Sequence[str]) -> dict[str, ExistingEntry]:
        """The channel's entries for ``skus`` (all pages of every predicate chunk)."""
        found: dict[str, ExistingEntry] = {}
        for predicate in sku_predicates(skus, channel_id):
            offset = 0
            while True:
                body = await self._client.post(
                    self._entries_doc, {"where": predicate, "limit": MAX_LIMIT, "offset": offset}
                )
                _raise_errors(body, "inventoryEntries")
                try:
                    page = body["data"]["inventoryEntries"]
                    results = page["results"]
                    total = int(page["total"])
                    for r in results:
                        entry = _entry(r)
                        found[entry.sku] = entry
                except (KeyError, TypeError, ValueError) as e:
                    raise BadResponseError(
                        API, "inventoryEntries answer has an unexpected shape"
                    ) from e
                offset += len(results)
                if not results or offset >= total:
                    break
        return found

    async def channel_entries(self, channel_id: str) -> AsyncGenerator[list[ExistingEntry], None]:
        """Every entry of the channel, a page at a time, paged by id (no offset limit)."""
        channel = f"supplyChannel(id={quote(channel_id)})"
        after: str | None = None
        while True:
            where = channel if after is None else f"{channel} and id > {quote(after)}"
            body = await self._client.post(
                self._channel_entries_doc, {"where": where, "limit": MAX_LIMIT}
            )
            _raise_errors(body, "inventoryEntries")
            try:
                page = [_entry(r) for r in body["data"]["inventoryEntries"]["results"]]
            except (KeyError, TypeError, ValueError) as e:
                raise BadResponseError(
                    API, "inventoryEntries answer has an unexpected shape"
                ) from e
            if not page:
                return
            yield page
            if after is not None and page[-1].id <= after:
                raise BadResponseError(API, f"inventoryEntries did not move past id {after!r}")
            after = page[-1].id

    async def write(self, channel_id: str, writes: Sequence[Write]) -> Written:
        """Apply ``writes`` in concurrent batches, settling conflicts; every write ends in
        exactly one of ``Written``'s lists."""
        written = Written()
        pending = list(writes)
        for attempt in range(self._conflict_retries + 1):
            if not pending:
                break
            last_round = attempt == self._conflict_retries
            retry: list[Write] = []
            async with anyio.create_task_group() as tg:
                for start in range(0, len(pending), self._batch_size):
                    batch = pending[start : start + self._batch_size]
                    tg.start_soon(self._write_batch, channel_id, batch, written, retry, last_round)
            pending = await self._refresh(channel_id, retry, written) if retry else []
        return written

    async def _write_batch(
        self,
        channel_id: str,
        batch: list[Write],
        written: Written,
        retry: list[Write],
        last_round: bool,
    ) -> None:
        kinds = _kinds(batch)
        document = _batch_document(self._create, self._update, kinds)
        try:
            body = await self._client.post(document, _batch_variables(channel_id, batch))
        except AuthError:
            raise
        except ApiError as e:
            written.failed.extend(WriteFailure(w.sku, e.code or "error", str(e)) for w in batch)
            return
        data = body.get("data")
        if not isinstance(data, dict):  # JSON objects are dicts: no ABC check per item
            data = {}
        errors: dict[int, Mapping[str, Any]] = {}
        for error in body.get("errors") or []:
            index = alias_index(error) if isinstance(error, Mapping) else None
            if index is not None and index < len(batch):
                errors.setdefault(index, error)
        aliases = _aliases(len(batch))
        if not errors and None not in map(data.get, aliases):  # the usual case, in bulk
            if all(kinds):
                written.created.extend(batch)
            elif not any(kinds):
                written.updated.extend(batch)
            else:
                for write, create in zip(batch, kinds, strict=True):
                    (written.created if create else written.updated).append(write)
            return
        for n, write in enumerate(batch):
            error = errors.get(n)
            if error is None and data.get(aliases[n]) is not None:
                (written.created if kinds[n] else written.updated).append(write)
            elif error is None:
                written.failed.append(WriteFailure(write.sku, "NoResult", "no result for item"))
            else:
                code = error_code(error)
                conflict = _conflict_retry(write, error, code)
                if conflict is not None and not last_round:
                    retry.append(conflict)
                else:
                    message = str(error.get("message", ""))
                    written.failed.append(WriteFailure(write.sku, code, message))

    async def _refresh(self, channel_id: str, retry: list[Write], written: Written) -> list[Write]:
        """Turn conflicted writes into updates against the entries' current versions."""
        unknown = [w.sku for w in retry if isinstance(w, Create) or w.version < 0]
        current = await self.existing(channel_id, unknown) if unknown else {}
        out: list[Write] = []
        for w in retry:
            if isinstance(w, Update) and w.version >= 0:
                out.append(w)
                continue
            entry = current.get(w.sku)
            if entry is None:
                out.append(Create(w.sku, w.quantity))
            elif entry.quantity == w.quantity:
                written.unchanged.append(w.sku)
            else:
                out.append(Update(w.sku, entry.id, entry.version, entry.quantity, w.quantity))
        return out


# The batch templates of the bundled create and update, as ``FieldTemplate.of`` makes
# them (tests/unit/test_commercetools.py checks that it still does): ``of`` parses with
# graphql-core, whose import costs about 0.12 s of CPU, a fifth of a small run.
BUNDLED_TEMPLATES = {
    "CreateInventoryEntry": FieldTemplate(
        operation="mutation",
        variable_definitions=("$draft__item__: InventoryEntryDraft!",),
        field="createInventoryEntry(draft: $draft__item__) {\n  id\n  version\n}",
        variables=("draft",),
    ),
    "UpdateInventoryEntry": FieldTemplate(
        operation="mutation",
        variable_definitions=(
            "$id__item__: String!",
            "$version__item__: Long!",
            "$actions__item__: [InventoryEntryUpdateAction!]!",
        ),
        field="updateInventoryEntry(\n  id: $id__item__\n  version: $version__item__\n"
        "  actions: $actions__item__\n) {\n  id\n  version\n}",
        variables=("id", "version", "actions"),
    ),
}


def _template(docs: Documents, name: str) -> FieldTemplate:
    if docs.is_bundled(name):
        return BUNDLED_TEMPLATES[name]
    return FieldTemplate.of(docs[name])


def _kinds(batch: Sequence[Write]) -> tuple[bool, ...]:
    return tuple([isinstance(w, Create) for w in batch])


@functools.cache
def _aliases(size: int) -> tuple[str, ...]:
    """The aliases of a batch of ``size`` items: ``i0``, ``i1``, …"""
    return tuple(f"i{n}" for n in range(size))


@functools.cache
def _variable_names(size: int) -> tuple[tuple[str, str, str, str], ...]:
    """Item n's variable names (draft, id, version, actions), for n below ``size``."""
    return tuple((f"draft_{n}", f"id_{n}", f"version_{n}", f"actions_{n}") for n in range(size))


@functools.lru_cache(maxsize=256)
def _batch_document(create: FieldTemplate, update: FieldTemplate, kinds: tuple[bool, ...]) -> str:
    """The document of a batch whose item n is a create when ``kinds[n]``, else an update
    (a plan's batches are all creates, then all updates: few shapes)."""
    return batch_document("InventoryBatch", tuple(create if k else update for k in kinds))


def _batch_variables(channel_id: str, batch: Sequence[Write]) -> dict[str, Any]:
    """The variables of ``_batch_document``: item n's named ``<variable>_n``, with the
    names of the bundled documents (a custom document must keep them: ``Documents``)."""
    supply = {"typeId": "channel", "id": channel_id}  # one object, serialised per item
    out: dict[str, Any] = {}
    for (draft, entry_id, version, actions), w in zip(
        _variable_names(len(batch)), batch, strict=True
    ):
        if isinstance(w, Create):
            out[draft] = {"sku": w.sku, "quantityOnStock": w.quantity, "supplyChannel": supply}
        else:
            out[entry_id] = w.entry_id
            out[version] = w.version
            out[actions] = [{"changeQuantity": {"quantity": w.quantity}}]
    return out


def _conflict_retry(write: Write, error: Mapping[str, Any], code: str) -> Write | None:
    """The write to try again after a conflict, or None when the error is final.

    ``DuplicateField`` on create: the entry appeared meanwhile → re-read and update it.
    ``ConcurrentModification``: retry with ``currentVersion`` when given, else re-read
    (a negative version marks "re-read").
    """
    ext = error.get("extensions") if isinstance(error.get("extensions"), Mapping) else {}
    if code == "DuplicateField" and isinstance(write, Create):
        return write
    if code == "ConcurrentModification" and isinstance(write, Update):
        current = ext.get("currentVersion") if isinstance(ext, Mapping) else None
        version = int(current) if isinstance(current, int) else -1
        return Update(write.sku, write.entry_id, version, write.old_quantity, write.quantity)
    return None


def _entry(r: Mapping[str, Any]) -> ExistingEntry:
    return ExistingEntry(
        id=r["id"], version=int(r["version"]), sku=r["sku"], quantity=int(r["quantityOnStock"])
    )


def _supply_channel_id(channel: object, key: str) -> str:
    if not isinstance(channel, Mapping) or not isinstance(channel.get("id"), str):
        raise BadResponseError(API, f"channel {key!r}: answer has no id")
    if "InventorySupply" not in (channel.get("roles") or []):
        raise ChannelNotFoundError(
            API,
            f"channel {key!r} lacks the role InventorySupply, so it cannot hold inventory",
            code="ChannelRole",
        )
    return str(channel["id"])


def _raise_errors(body: Mapping[str, Any], what: str) -> None:
    errors = body.get("errors")
    if errors:
        first = errors[0] if isinstance(errors, list) and isinstance(errors[0], Mapping) else {}
        raise GraphQLError(API, f"{what}: {first.get('message')}", code=error_code(first))
