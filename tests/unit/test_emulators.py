"""The Fluent and commercetools emulators behave like the real APIs the job uses."""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from graphql import build_schema, parse, validate

from tests.emulators.commercetools import CommercetoolsEmulator
from tests.emulators.fluent import FluentEmulator
from tests.emulators.predicate import PredicateError, parse_predicate
from tests.emulators.seed import SPECIAL_REFS, make_catalogue
from tests.emulators.seed import main as seed_main
from tests.emulators.server import serve

ROOT = Path(__file__).resolve().parents[2]
GRAPHQL = ROOT / "graphql"
SCHEMAS = ROOT / "tests" / "emulators" / "schema"


def _more_fields(mutation: str) -> str:
    """The job's mutation, selecting also the fields the emulator answers with."""
    more = mutation.replace("    version\n  }", "    version\n    sku\n    quantityOnStock\n  }")
    assert more != mutation
    return more


# the job's query, with every node field the emulator serves (the job selects fewer)
FLUENT_QUERY = (
    (GRAPHQL / "fluent" / "GetAggregateVirtualPositions.graphql")
    .read_text()
    .replace("        productRef\n", "        ref\n        productRef\n")
    .replace("        quantity\n", "        quantity\n        status\n        updatedOn\n")
)
assert "updatedOn\n" in FLUENT_QUERY
assert "        ref\n" in FLUENT_QUERY
CT_CHANNEL = (GRAPHQL / "commercetools" / "GetChannelByKey.graphql").read_text()
CT_ENTRIES = (GRAPHQL / "commercetools" / "GetInventoryEntries.graphql").read_text()
CT_CREATE = _more_fields((GRAPHQL / "commercetools" / "CreateInventoryEntry.graphql").read_text())
CT_UPDATE = _more_fields((GRAPHQL / "commercetools" / "UpdateInventoryEntry.graphql").read_text())
FLUENT_LOGIN = {
    "username": "demo-user",
    "password": "demo-pass",
    "client_id": "demo-client",
    "client_secret": "demo-secret",
    "grant_type": "password",
    "scope": "api",
}
FIELDS = "{ id version sku quantityOnStock }"


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@asynccontextmanager
async def client(app: Any) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://emulator") as http:
        yield http


async def fluent_token(http: httpx.AsyncClient) -> str:
    response = await http.post("/oauth/token", params=FLUENT_LOGIN)
    assert response.status_code == 200
    token: str = response.json()["access_token"]
    return token


async def positions(http: httpx.AsyncClient, token: str, **variables: Any) -> httpx.Response:
    body = {"query": FLUENT_QUERY, "variables": {"catalogueRef": "CAT", **variables}}
    return await http.post("/graphql", json=body, headers={"Authorization": f"Bearer {token}"})


async def ct_token(http: httpx.AsyncClient) -> str:
    response = await http.post(
        "/oauth/token",
        auth=("ct-client", "ct-secret"),
        data={"grant_type": "client_credentials", "scope": "manage_project:demo-project"},
    )
    assert response.status_code == 200
    token: str = response.json()["access_token"]
    return token


async def ct_graphql(
    http: httpx.AsyncClient, token: str, query: str, variables: dict[str, Any] | None = None
) -> httpx.Response:
    return await http.post(
        "/demo-project/graphql",
        json={"query": query, "variables": variables or {}},
        headers={"Authorization": f"Bearer {token}"},
    )


def literal(value: str) -> str:
    """A commercetools predicate string literal."""
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def edges(response: httpx.Response) -> list[dict[str, Any]]:
    assert response.status_code == 200
    body = response.json()
    assert "errors" not in body, body
    found: list[dict[str, Any]] = body["data"]["virtualPositions"]["edges"]
    return found


# -- Fluent ------------------------------------------------------------------------------


@pytest.mark.anyio
async def test_fluent_token_from_query_string_or_form_body() -> None:
    fluent = FluentEmulator(token_ttl_s=120)
    async with client(fluent.app) as http:
        by_query = await http.post("/oauth/token", params=FLUENT_LOGIN)
        by_form = await http.post("/oauth/token", data=FLUENT_LOGIN)

    for response in (by_query, by_form):
        assert response.status_code == 200
        body = response.json()
        assert {k: body[k] for k in ("token_type", "expires_in", "scope")} == {
            "token_type": "bearer",
            "expires_in": 120,
            "scope": "api",
        }
    assert by_query.json()["access_token"] != by_form.json()["access_token"]
    assert fluent.requests["/oauth/token"] == 2


@pytest.mark.anyio
async def test_fluent_token_rejects_bad_credentials() -> None:
    async with client(FluentEmulator().app) as http:
        bad_user = await http.post("/oauth/token", params={**FLUENT_LOGIN, "password": "nope"})
        bad_client = await http.post("/oauth/token", params={**FLUENT_LOGIN, "client_secret": "x"})

    assert bad_user.status_code == 400
    assert bad_user.json() == {"error": "invalid_grant", "error_description": "Bad credentials"}
    assert bad_client.status_code == 401
    assert bad_client.json()["error"] == "invalid_client"


@pytest.mark.anyio
async def test_fluent_tokens_expire_on_the_server() -> None:
    clock = FakeClock()
    fluent = FluentEmulator(token_ttl_s=60, clock=clock)
    fluent.upsert_position("CAT", "A", "A", 1)
    async with client(fluent.app) as http:
        token = await fluent_token(http)
        clock.now += 59
        fresh = await positions(http, token, updatedOnTo="2999-01-01T00:00:00Z")
        clock.now += 1
        expired = await positions(http, token, updatedOnTo="2999-01-01T00:00:00Z")
        missing = await http.post("/graphql", json={"query": FLUENT_QUERY})

    assert [edge["node"]["ref"] for edge in edges(fresh)] == ["A"]
    assert expired.status_code == 401
    assert expired.json()["error"] == "invalid_token"
    assert missing.status_code == 401


@pytest.mark.anyio
async def test_fluent_pages_follow_the_last_cursor() -> None:
    fluent = FluentEmulator()
    for n in range(25):
        fluent.upsert_position("CAT", f"P{n:02d}", f"SKU-{n:02d}", n)
    fluent.upsert_position("OTHER", "P00", "SKU-00", 7)
    seen: list[str] = []
    has_next: list[bool] = []
    async with client(fluent.app) as http:
        token = await fluent_token(http)
        after = None
        while True:
            response = await positions(
                http, token, updatedOnTo="2999-01-01T00:00:00Z", first=10, after=after
            )
            page = edges(response)
            seen += [edge["node"]["productRef"] for edge in page]
            has_next.append(response.json()["data"]["virtualPositions"]["pageInfo"]["hasNextPage"])
            if not has_next[-1]:
                break
            after = page[-1]["cursor"]
        default_size = edges(await positions(http, token, updatedOnTo="2999-01-01T00:00:00Z"))

    assert seen == [f"SKU-{n:02d}" for n in range(25)]
    assert has_next == [True, True, False]
    assert len(default_size) == 10


@pytest.mark.anyio
async def test_fluent_updated_on_bounds_are_inclusive_and_zones_are_honoured() -> None:
    fluent = FluentEmulator()
    fluent.upsert_position("CAT", "early", "early", 1, updated_on="2024-05-01T10:00:00.100Z")
    fluent.upsert_position("CAT", "middle", "middle", 2, updated_on="2024-05-01T10:00:00.200Z")
    fluent.upsert_position("CAT", "late", "late", 3, updated_on="2024-05-01T10:00:00.300Z")

    async def refs(start: str | None, end: str | None) -> list[str]:
        response = await positions(http, token, updatedOnFrom=start, updatedOnTo=end)
        return [edge["node"]["ref"] for edge in edges(response)]

    async with client(fluent.app) as http:
        token = await fluent_token(http)
        inclusive = await refs("2024-05-01T10:00:00.100Z", "2024-05-01T10:00:00.200Z")
        zoned = await refs("2024-05-01T12:00:00.2+02:00", None)
        zoneless_nanos = await refs(None, "2024-05-01T10:00:00.200999999")
        nanos_after = await refs("2024-05-01T10:00:00.100000001", "2024-05-01T10:00:00.3")
        rendered = edges(await positions(http, token, updatedOnTo="2024-05-01T10:00:00.1"))

    assert inclusive == ["early", "middle"]
    assert zoned == ["middle", "late"]
    assert zoneless_nanos == ["early", "middle"]
    assert nanos_after == ["middle", "late"]
    assert rendered[0]["node"]["updatedOn"] == "2024-05-01T10:00:00.100Z"


@pytest.mark.anyio
async def test_fluent_status_filter_and_node_fields() -> None:
    fluent = FluentEmulator()
    fluent.upsert_position("CAT", "a", "A", 1)
    fluent.upsert_position("CAT", "b", "B", None, status="INACTIVE")
    fluent.upsert_position("CAT", "c", "", 3, status="CREATED")
    window = {"updatedOnTo": "2999-01-01T00:00:00Z"}
    async with client(fluent.app) as http:
        token = await fluent_token(http)
        active = edges(await positions(http, token, statuses=["ACTIVE"], **window))
        two = edges(await positions(http, token, statuses=["INACTIVE", "CREATED"], **window))
        every = edges(await positions(http, token, **window))

    assert [edge["node"] for edge in active] == [
        {
            "ref": "a",
            "productRef": "A",
            "quantity": 1,
            "status": "ACTIVE",
            "updatedOn": active[0]["node"]["updatedOn"],
        }
    ]
    assert [(e["node"]["ref"], e["node"]["quantity"]) for e in two] == [("b", None), ("c", 3)]
    assert len(every) == 3


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("variables", "code"),
    [
        ({}, "C0101E"),
        ({"updatedOnFrom": None, "updatedOnTo": None}, "C0101E"),
        ({"updatedOnTo": "yesterday"}, "C0100E"),
        ({"updatedOnFrom": "2024-13-01T00:00:00Z"}, "C0100E"),
        ({"updatedOnTo": "2999-01-01T00:00:00Z", "first": 5001}, "C0102E"),
        ({"updatedOnTo": "2999-01-01T00:00:00Z", "after": "not-a-cursor"}, "C0102E"),
    ],
)
async def test_fluent_argument_errors(variables: dict[str, Any], code: str) -> None:
    async with client(FluentEmulator().app) as http:
        response = await positions(http, await fluent_token(http), **variables)

    assert response.status_code == 200
    body = response.json()
    assert body["data"] == {"virtualPositions": None}
    assert [(error["code"], error["path"]) for error in body["errors"]] == [
        (code, ["virtualPositions"])
    ]


@pytest.mark.anyio
async def test_fluent_rejects_a_document_outside_the_schema() -> None:
    async with client(FluentEmulator().app) as http:
        token = await fluent_token(http)
        response = await http.post(
            "/graphql",
            json={"query": "{ virtualPositions { edges { node { sku } } } }"},
            headers={"Authorization": f"Bearer {token}"},
        )

    assert response.status_code == 200
    body = response.json()
    assert "data" not in body
    assert body["errors"][0]["code"] == "C0003E"
    assert "Cannot query field 'sku'" in body["errors"][0]["message"]


@pytest.mark.anyio
async def test_fluent_admin_endpoints_upsert_and_list() -> None:
    fluent = FluentEmulator()
    async with client(fluent.app) as http:
        await http.post(
            "/_emulator/positions",
            json=[
                {"catalogue": "CAT", "productRef": "A", "quantity": 1, "updatedOn": "2024-01-01"}
            ],
        )
        listed = (await http.get("/_emulator/positions", params={"catalogue": "CAT"})).json()
        changed = [{**listed[0], "quantity": 9, "updatedOn": None}]
        answer = await http.post(
            "/_emulator/positions", json={"catalogue": "CAT", "positions": changed}
        )
        stats = (await http.get("/_emulator/stats")).json()

    assert answer.json() == {"upserted": 1}
    assert listed[0]["ref"] == "A"
    assert listed[0]["updatedOn"] == "2024-01-01T00:00:00.000Z"
    (after,) = fluent.positions("CAT")
    assert after["quantity"] == 9
    assert after["updatedOn"] > "2024-01-01T00:00:00.000Z"
    assert after["createdOn"] == "2024-01-01T00:00:00.000Z"
    assert after["catalogue"] == {"id": "1", "ref": "CAT"}
    assert stats["requests"]["/_emulator/positions"] == 3


# -- commercetools -----------------------------------------------------------------------


@pytest.mark.anyio
async def test_ct_token_success_failure_and_expiry() -> None:
    clock = FakeClock()
    ct = CommercetoolsEmulator(token_ttl_s=100, clock=clock)
    ct.add_channel("eu")
    async with client(ct.app) as http:
        granted = await http.post(
            "/oauth/token",
            auth=("ct-client", "ct-secret"),
            data={"grant_type": "client_credentials"},
        )
        bad = await http.post(
            "/oauth/token", auth=("ct-client", "wrong"), data={"grant_type": "client_credentials"}
        )
        token = granted.json()["access_token"]
        clock.now += 99
        fresh = await ct_graphql(http, token, CT_CHANNEL, {"key": "eu"})
        clock.now += 1
        expired = await ct_graphql(http, token, CT_CHANNEL, {"key": "eu"})

    assert granted.json()["token_type"] == "Bearer"
    assert granted.json()["expires_in"] == 100
    assert granted.json()["scope"] == "manage_project:demo-project"
    assert bad.status_code == 401
    assert bad.json()["error"] == "invalid_client"
    assert bad.json()["errors"][0]["code"] == "invalid_client"
    assert fresh.json()["data"]["channel"]["key"] == "eu"
    assert expired.status_code == 401
    assert expired.json() == {
        "statusCode": 401,
        "message": "invalid_token",
        "errors": [{"code": "invalid_token", "message": "invalid_token"}],
        "error": "invalid_token",
    }
    assert ct.stats()["token"] == 2
    assert ct.stats()["unauthorized"] == 1


@pytest.mark.anyio
async def test_ct_unknown_project_is_404() -> None:
    ct = CommercetoolsEmulator()
    async with client(ct.app) as http:
        token = await ct_token(http)
        response = await http.post(
            "/other-project/graphql",
            json={"query": CT_CHANNEL, "variables": {"key": "x"}},
            headers={"Authorization": f"Bearer {token}"},
        )

    assert response.status_code == 404
    assert response.json()["statusCode"] == 404


@pytest.mark.anyio
async def test_ct_channel_by_key() -> None:
    ct = CommercetoolsEmulator()
    channel = ct.add_channel("eu-warehouse", id="c-1")
    async with client(ct.app) as http:
        token = await ct_token(http)
        found = await ct_graphql(http, token, CT_CHANNEL, {"key": "eu-warehouse"})
        missing = await ct_graphql(http, token, CT_CHANNEL, {"key": "nope"})

    assert channel["id"] == "c-1"
    assert found.json() == {
        "data": {"channel": {"id": "c-1", "key": "eu-warehouse", "roles": ["InventorySupply"]}}
    }
    assert missing.json() == {"data": {"channel": None}}


@pytest.mark.anyio
async def test_ct_inventory_entries_match_escaped_skus_in_one_channel() -> None:
    ct = CommercetoolsEmulator()
    eu = ct.add_channel("eu")["id"]
    ct.add_channel("us")
    for n, sku in enumerate(['27"-TV', "C:\\BIN", "Bücher-Ø-12", "plain", "not-asked"]):
        ct.add_entry(sku, "eu", n)
    ct.add_entry("plain", "us", 99)
    asked = ['27"-TV', "C:\\BIN", "Bücher-Ø-12", "plain", "absent"]
    where = f"sku in ({', '.join(map(literal, asked))}) and supplyChannel(id={literal(eu)})"
    async with client(ct.app) as http:
        token = await ct_token(http)
        first = await ct_graphql(http, token, CT_ENTRIES, {"where": where, "limit": 3, "offset": 0})
        second = await ct_graphql(
            http, token, CT_ENTRIES, {"where": where, "limit": 3, "offset": 3}
        )

    page = first.json()["data"]["inventoryEntries"]
    rest = second.json()["data"]["inventoryEntries"]
    assert (page["total"], page["count"], page["offset"]) == (4, 3, 0)
    assert (rest["total"], rest["count"], rest["offset"]) == (4, 1, 3)
    found = {entry["sku"]: entry["quantityOnStock"] for entry in page["results"] + rest["results"]}
    assert found == {'27"-TV': 0, "C:\\BIN": 1, "Bücher-Ø-12": 2, "plain": 3}
    assert [entry["sku"] for entry in page["results"] + rest["results"]] == sorted(found)
    assert all(entry["version"] == 1 for entry in page["results"])


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("variables", "message"),
    [
        ({"where": 'sku = "a"', "limit": 501, "offset": 0}, "limit"),
        ({"where": 'sku = "a"', "limit": 10, "offset": 10_001}, "offset"),
        ({"where": 'sku = "a" or sku = "b"', "limit": 10, "offset": 0}, "where"),
        ({"where": "quantityOnStock > 3", "limit": 10, "offset": 0}, "where"),
        ({"where": 'sku in ("a", "b"', "limit": 10, "offset": 0}, "where"),
    ],
)
async def test_ct_invalid_query_input_is_a_400_invalid_input(
    variables: dict[str, Any], message: str
) -> None:
    async with client(CommercetoolsEmulator().app) as http:
        response = await ct_graphql(http, await ct_token(http), CT_ENTRIES, variables)

    assert response.status_code == 400
    body = response.json()
    assert body["data"] is None
    (error,) = body["errors"]
    assert error["extensions"] == {"code": "InvalidInput"}
    assert error["path"] == ["inventoryEntries"]
    assert error["message"].startswith(f"Malformed parameter: {message}")


@pytest.mark.anyio
async def test_ct_second_create_for_a_sku_and_channel_is_a_duplicate() -> None:
    ct = CommercetoolsEmulator()
    ct.add_channel("eu")
    existing = ct.add_entry("SKU-1", "eu", 5)
    draft = {
        "sku": "SKU-1",
        "quantityOnStock": 7,
        "supplyChannel": {"typeId": "channel", "key": "eu"},
    }
    async with client(ct.app) as http:
        response = await ct_graphql(http, await ct_token(http), CT_CREATE, {"draft": draft})

    assert response.status_code == 200
    body = response.json()
    assert body["data"] == {"createInventoryEntry": None}
    (error,) = body["errors"]
    assert error["path"] == ["createInventoryEntry"]
    assert error["extensions"] == {
        "code": "DuplicateField",
        "field": "sku",
        "duplicateValue": "SKU-1",
        "conflictingResource": {"typeId": "inventory-entry", "id": existing["id"]},
    }
    assert ct.entries("eu") == {"SKU-1": 5}


@pytest.mark.anyio
async def test_ct_stale_version_is_a_concurrent_modification() -> None:
    ct = CommercetoolsEmulator()
    ct.add_channel("eu")
    entry = ct.add_entry("SKU-1", "eu", 5)
    actions = [{"changeQuantity": {"quantity": 8}}]
    async with client(ct.app) as http:
        token = await ct_token(http)
        ok = await ct_graphql(
            http, token, CT_UPDATE, {"id": entry["id"], "version": 1, "actions": actions}
        )
        stale = await ct_graphql(
            http, token, CT_UPDATE, {"id": entry["id"], "version": 1, "actions": actions}
        )

    assert ok.json()["data"]["updateInventoryEntry"] == {
        "id": entry["id"],
        "version": 2,
        "sku": "SKU-1",
        "quantityOnStock": 8,
    }
    assert stale.status_code == 200
    (error,) = stale.json()["errors"]
    assert error["extensions"] == {"code": "ConcurrentModification", "currentVersion": 2}
    (record,) = ct.entry_records("eu")
    assert (record["quantityOnStock"], record["availableQuantity"], record["version"]) == (8, 8, 2)


@pytest.mark.anyio
async def test_ct_batch_applies_every_alias_but_the_failing_one() -> None:
    ct = CommercetoolsEmulator(mutation_cost_ms=1)
    ct.add_channel("eu")
    kept = ct.add_entry("KEEP", "eu", 1)
    moved = ct.add_entry("MOVE", "eu", 2)
    document = f"""
    mutation Batch($draft_0: InventoryEntryDraft!, $draft_1: InventoryEntryDraft!,
                   $id_2: String!, $version_2: Long!, $actions_2: [InventoryEntryUpdateAction!]!,
                   $id_3: String!, $version_3: Long!, $actions_3: [InventoryEntryUpdateAction!]!) {{
      i0: createInventoryEntry(draft: $draft_0) {FIELDS}
      i1: createInventoryEntry(draft: $draft_1) {FIELDS}
      i2: updateInventoryEntry(id: $id_2, version: $version_2, actions: $actions_2) {FIELDS}
      i3: updateInventoryEntry(id: $id_3, version: $version_3, actions: $actions_3) {FIELDS}
    }}"""
    channel = {"typeId": "channel", "key": "eu"}
    variables = {
        "draft_0": {"sku": "NEW", "quantityOnStock": 3, "supplyChannel": channel},
        "draft_1": {"sku": "KEEP", "quantityOnStock": 4, "supplyChannel": channel},
        "id_2": moved["id"],
        "version_2": 1,
        "actions_2": [{"changeQuantity": {"quantity": 20}}],
        "id_3": "00000000-0000-0000-0000-000000000000",
        "version_3": 1,
        "actions_3": [{"changeQuantity": {"quantity": 1}}],
    }
    async with client(ct.app) as http:
        response = await ct_graphql(http, await ct_token(http), document, variables)

    assert response.status_code == 200
    body = response.json()
    assert list(body["data"]) == ["i0", "i1", "i2", "i3"]
    assert body["data"]["i0"]["sku"] == "NEW"
    assert body["data"]["i0"]["version"] == 1
    assert body["data"]["i1"] is None
    assert body["data"]["i2"] == {
        "id": moved["id"],
        "version": 2,
        "sku": "MOVE",
        "quantityOnStock": 20,
    }
    assert body["data"]["i3"] is None
    assert [(e["path"], e["extensions"]["code"]) for e in body["errors"]] == [
        (["i1"], "DuplicateField"),
        (["i3"], "ResourceNotFound"),
    ]
    assert body["errors"][0]["extensions"]["conflictingResource"]["id"] == kept["id"]
    assert body["errors"][0]["locations"] == [{"line": 6, "column": 7}]
    assert ct.entries("eu") == {"KEEP": 1, "MOVE": 20, "NEW": 3}
    assert ct.stats()["mutation"] == 1
    assert ct.stats()["mutation_fields"] == 4


@pytest.mark.anyio
async def test_ct_add_and_remove_quantity_move_available_quantity_too() -> None:
    ct = CommercetoolsEmulator()
    ct.add_channel("eu")
    entry = ct.add_entry("SKU-1", "eu", 10)
    actions = [{"addQuantity": {"quantity": 5}}, {"removeQuantity": {"quantity": 2}}]
    async with client(ct.app) as http:
        response = await ct_graphql(
            http,
            await ct_token(http),
            CT_UPDATE,
            {"id": entry["id"], "version": 1, "actions": actions},
        )

    assert response.json()["data"]["updateInventoryEntry"]["quantityOnStock"] == 13
    (record,) = ct.entry_records("eu")
    assert (record["availableQuantity"], record["version"]) == (13, 2)


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("query", "variables", "fragment"),
    [
        ("{ inventoryEntries { results { nope } } }", {}, "Cannot query field 'nope'"),
        ("query { channel(key: ", {}, "Syntax Error"),
        (CT_UPDATE, {"id": "x", "version": "1", "actions": []}, "$version"),
        (CT_UPDATE, {"id": "x", "version": 1.5, "actions": []}, "$version"),
    ],
)
async def test_ct_request_errors_are_400(
    query: str, variables: dict[str, Any], fragment: str
) -> None:
    ct = CommercetoolsEmulator()
    async with client(ct.app) as http:
        response = await ct_graphql(http, await ct_token(http), query, variables)

    assert response.status_code == 400
    (error,) = response.json()["errors"]
    assert fragment in error["message"]
    assert error["extensions"] == {"code": "GraphQLError"}
    assert ct.entries(None) == {}


@pytest.mark.anyio
async def test_ct_latency_and_mutation_cost_are_slept() -> None:
    ct = CommercetoolsEmulator(latency_ms=20, mutation_cost_ms=15)
    ct.add_channel("eu")
    channel = {"typeId": "channel", "key": "eu"}
    document = f"""mutation($a: InventoryEntryDraft!, $b: InventoryEntryDraft!) {{
      a: createInventoryEntry(draft: $a) {FIELDS} b: createInventoryEntry(draft: $b) {FIELDS} }}"""
    variables = {
        "a": {"sku": "A", "quantityOnStock": 1, "supplyChannel": channel},
        "b": {"sku": "B", "quantityOnStock": 2, "supplyChannel": channel},
    }
    async with client(ct.app) as http:
        token = await ct_token(http)
        started = time.monotonic()
        await ct_graphql(http, token, document, variables)
        elapsed = time.monotonic() - started

    assert elapsed >= 0.020 + 2 * 0.015
    assert ct.entries("eu") == {"A": 1, "B": 2}


@pytest.mark.anyio
async def test_ct_admin_endpoints() -> None:
    ct = CommercetoolsEmulator()
    ct.add_channel("eu")
    ct.add_entry("A", "eu", 3)
    async with client(ct.app) as http:
        entries = await http.get("/_emulator/entries", params={"channel": "eu"})
        unknown = await http.get("/_emulator/entries", params={"channel": "nope"})
        stats = await http.get("/_emulator/stats")

    assert entries.json() == {"A": 3}
    assert unknown.status_code == 404
    assert stats.json() == {"token": 0, "query": 0, "mutation": 0, "mutation_fields": 0}


@pytest.mark.parametrize(
    ("predicate", "skus", "channels", "id_after"),
    [
        ('sku = "a"', {"a"}, None, None),
        (
            'sku IN ("a", "b\\"c", "d\\\\e")  AND supplyChannel(id = "ch")',
            {"a", 'b"c', "d\\e"},
            {"ch"},
            None,
        ),
        ('id > "x" and sku in ("a","b") and sku = "b"', {"b"}, None, "x"),
    ],
)
def test_predicate_parser_accepts_the_subset(
    predicate: str, skus: set[str], channels: set[str] | None, id_after: str | None
) -> None:
    parsed = parse_predicate(predicate)

    assert parsed.skus == frozenset(skus)
    assert parsed.channel_ids == (None if channels is None else frozenset(channels))
    assert parsed.id_after == id_after


@pytest.mark.parametrize(
    "predicate",
    ["", 'sku = "a" or sku = "b"', 'sku = "a\\n"', "sku in ()", 'not (sku = "a")', 'sku = "a'],
)
def test_predicate_parser_rejects_the_rest(predicate: str) -> None:
    with pytest.raises(PredicateError):
        parse_predicate(predicate)


# -- documents, seed, server -------------------------------------------------------------


@pytest.mark.parametrize(
    "document",
    sorted(GRAPHQL.glob("*/*.graphql")),
    ids=lambda path: f"{path.parent.name}/{path.name}",
)
def test_job_documents_validate_against_the_emulator_schemas(document: Path) -> None:
    schema = build_schema((SCHEMAS / f"{document.parent.name}.graphql").read_text())

    errors = validate(schema, parse(document.read_text()))

    assert errors == []


def test_seed_catalogue_shape() -> None:
    seed = make_catalogue(n_per_profile=300, seed=7)

    assert seed == make_catalogue(n_per_profile=300, seed=7)
    assert seed["profiles"] == [
        {"catalogue": "AGG_VC_EU", "channel": "eu-warehouse"},
        {"catalogue": "AGG_VC_US", "channel": "us-warehouse"},
    ]
    for profile in seed["profiles"]:
        rows = [p for p in seed["fluent"]["positions"] if p["catalogue"] == profile["catalogue"]]
        refs = [p["productRef"] for p in rows]
        quantities = [p["quantity"] for p in rows]
        assert len(rows) == 300
        assert len({p["ref"] for p in rows}) == 300
        assert set(SPECIAL_REFS) <= set(refs)
        assert any('"' in ref for ref in refs)
        assert any("\\" in ref for ref in refs)
        assert refs.count("") == 2
        assert quantities.count(None) == 3
        assert quantities.count(0) > 60
        assert any(q is not None and q < 0 for q in quantities)
        statuses = [p["status"] for p in rows]
        assert 0 < statuses.count("INACTIVE") < statuses.count("ACTIVE")
        entries = [
            e for e in seed["commercetools"]["entries"] if e["channel"] == profile["channel"]
        ]
        assert len(entries) == round(298 * 0.3)
        fluent_quantity = {p["productRef"]: p["quantity"] or 0 for p in rows}
        same = sum(fluent_quantity[e["sku"]] == e["quantityOnStock"] for e in entries)
        assert same == (len(entries) + 1) // 2
    assert [c["key"] for c in seed["commercetools"]["channels"]] == ["eu-warehouse", "us-warehouse"]


def test_seed_file_loads_into_both_emulators(tmp_path: Path) -> None:
    out = tmp_path / "seed.json"
    seed_main(["--out", str(out), "--n", "40"])
    seed = json.loads(out.read_text(encoding="utf-8"))
    fluent, ct = FluentEmulator(), CommercetoolsEmulator()

    fluent.load(seed)
    ct.load(seed)

    assert len(fluent.positions("AGG_VC_EU")) == len(fluent.positions("AGG_VC_US")) == 40
    expected = {
        e["sku"]: e["quantityOnStock"]
        for e in seed["commercetools"]["entries"]
        if e["channel"] == "us-warehouse"
    }
    assert ct.entries("us-warehouse") == expected


def test_serve_runs_both_emulators_on_real_sockets() -> None:
    fluent, ct = FluentEmulator(), CommercetoolsEmulator()
    fluent.upsert_position("CAT", "A", "A", 4)
    ct.add_channel("eu")
    with serve(fluent.app) as fluent_url, serve(ct.app) as ct_url, httpx.Client() as http:
        token = http.post(f"{fluent_url}/oauth/token", params=FLUENT_LOGIN).json()["access_token"]
        answer = http.post(
            f"{fluent_url}/graphql",
            json={
                "query": FLUENT_QUERY,
                "variables": {"catalogueRef": "CAT", "updatedOnTo": "2999-01-01"},
            },
            headers={"Authorization": f"Bearer {token}"},
        )
        ct_answer = http.get(f"{ct_url}/_emulator/entries", params={"channel": "eu"})

    assert fluent_url.startswith("http://127.0.0.1:")
    assert answer.json()["data"]["virtualPositions"]["edges"][0]["node"]["quantity"] == 4
    assert ct_answer.json() == {}
