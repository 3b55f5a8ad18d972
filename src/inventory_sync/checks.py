"""``inventory-sync check``: can this configuration work? Reads only, writes nothing.

Gets both tokens, looks up each profile's channel, asks Fluent for one position of each
catalogue, reaches the state backend and the Pushgateway, and reports each check with
its reason in one line. The chart runs it as its ``helm test`` pod.
"""

from __future__ import annotations

import contextlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from inventory_sync.documents import Documents
from inventory_sync.errors import ChannelNotFoundError, InventorySyncError
from inventory_sync.fluent import FluentSource
from inventory_sync.mapping import load_mapper
from inventory_sync.metrics import check_pushgateway
from inventory_sync.model import Position, Window, truncate_to_millis
from inventory_sync.profiles import Profile, load_profiles
from inventory_sync.runner import connect, open_store
from inventory_sync.settings import Settings


@dataclass(frozen=True, slots=True)
class Check:
    name: str
    ok: bool | None  # None: not run (nothing to check, or an earlier check failed)
    detail: str


async def run_checks(settings: Settings) -> list[Check]:
    results: list[Check] = []

    async def check(name: str, probe: Callable[[], Awaitable[str]]) -> bool:
        try:
            detail = await probe()
        except (InventorySyncError, OSError) as e:
            results.append(Check(name, False, str(e)))
            return False
        results.append(Check(name, True, detail))
        return True

    profiles: list[Profile] = []

    async def read_profiles() -> str:
        profiles.extend(load_profiles(settings.profiles_file))
        enabled = sum(p.enabled for p in profiles)
        return f"{len(profiles)} profiles ({enabled} enabled) in {settings.profiles_file}"

    await check("profiles file", read_profiles)

    async def state_backend() -> str:
        store = open_store(settings)
        try:
            await store.check()
        finally:
            await store.aclose()
        return f"{settings.state_backend} is reachable"

    await check(f"state backend ({settings.state_backend})", state_backend)

    documents = Documents()

    async def graphql_documents() -> str:
        nonlocal documents
        documents = Documents(settings.graphql_documents)
        own = ", ".join(sorted(settings.graphql_documents)) or "none"
        return f"bundled, replaced: {own}"

    await check("graphql documents", graphql_documents)

    if settings.mapper is not None:
        spec = settings.mapper

        async def mapper() -> str:
            load_mapper(spec)
            return f"{spec} loads and takes a position"

        await check("mapper", mapper)

    # answer quickly: a check is run by a person (or helm test) waiting for it
    quick = settings.model_copy(update={"retry_attempts": 2, "retry_timeout_seconds": 10.0})
    async with connect(quick, documents) as apis:
        fluent_tokens, ct_tokens = apis.tokens

        async def token_of(provider: Callable[[], Awaitable[str]], who: str) -> str:
            await provider()
            return f"token for {who}"

        fluent_ok = await check(
            "fluent token", lambda: token_of(fluent_tokens.token, fluent_tokens.who)
        )
        ct_ok = await check("commercetools token", lambda: token_of(ct_tokens.token, ct_tokens.who))
        sample = FluentSource(apis.fluent, page_size=1)
        window = Window(start=None, end=truncate_to_millis(datetime.now(UTC)))
        for profile in profiles:

            async def channel(p: Profile = profile) -> str:
                try:
                    return f"id {await apis.sink.channel_id(p.ct_channel_key)}"
                except ChannelNotFoundError as e:
                    if p.ensure_channel and e.code == "ChannelNotFound":
                        return "missing; the first run creates it (ensureChannel)"
                    raise

            async def catalogue(p: Profile = profile) -> str:
                pages = sample.pages(p.fluent_catalogue_ref, p.statuses, window)
                async with contextlib.aclosing(pages):
                    first: list[Position] = await anext(pages, [])
                return "answers" + ("" if first else " (no positions with these statuses yet)")

            label = f"[{profile.name}]"
            if ct_ok:
                await check(f"{label} channel {profile.ct_channel_key!r}", channel)
            else:
                results.append(Check(f"{label} channel", None, "no commercetools token"))
            if fluent_ok:
                await check(f"{label} catalogue {profile.fluent_catalogue_ref!r}", catalogue)
            else:
                results.append(Check(f"{label} catalogue", None, "no Fluent token"))

    if settings.pushgateway_url is None:
        results.append(
            Check("pushgateway", None, "not configured (INVENTORY_SYNC_PUSHGATEWAY_URL)")
        )
    else:
        url = settings.pushgateway_url
        timeout = settings.pushgateway_timeout_seconds

        async def gateway() -> str:
            await check_pushgateway(url, timeout_seconds=timeout)
            return f"{url} is ready"

        await check("pushgateway", gateway)
    return results


def table(results: list[Check]) -> str:
    width = max(len(r.name) for r in results)
    marks = {True: "ok", False: "FAIL", None: "skip"}
    return "\n".join(f"{r.name.ljust(width)}  {marks[r.ok]:<4}  {r.detail}" for r in results)
