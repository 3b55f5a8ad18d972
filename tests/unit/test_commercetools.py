import subprocess
import sys
from pathlib import Path
from typing import Any

import graphql as gql
import httpx
import pytest
import respx

from inventory_sync.commercetools import (
    BUNDLED_TEMPLATES,
    CommercetoolsSink,
    WriteFailure,
    Written,
    quote,
    sku_predicates,
)
from inventory_sync.documents import Documents, bundled
from inventory_sync.errors import ChannelNotFoundError
from inventory_sync.graphql import FieldTemplate, batch_document
from inventory_sync.plan import Create, ExistingEntry, Update

from .helpers import CT_API, CT_AUTH, body_of, ct_client, token_answer

pytestmark = pytest.mark.anyio
GRAPHQL = f"{CT_API}/proj/graphql"


def test_quote_escapes_backslash_and_double_quote() -> None:
    assert quote('a"b\\c') == '"a\\"b\\\\c"'


def test_predicates_stay_under_the_size_cap_and_cover_every_sku() -> None:
    skus = [f"SKU-{n:06d}-" + "x" * 40 for n in range(1000)]
    predicates = list(sku_predicates(skus, "chan-1"))
    assert len(predicates) > 1
    assert all(len(p) < 10_000 for p in predicates)
    assert all(p.endswith(') and supplyChannel(id="chan-1")') for p in predicates)
    assert sum(p.count('"SKU-') for p in predicates) == 1000


def test_batch_document_aliases_each_item_with_its_own_variables() -> None:
    create = FieldTemplate.of(bundled("CreateInventoryEntry"))
    update = FieldTemplate.of(bundled("UpdateInventoryEntry"))
    document = batch_document("B", (create, update, update))
    ast = gql.parse(document)
    op = ast.definitions[0]
    assert isinstance(op, gql.OperationDefinitionNode)
    assert [s.alias.value for s in op.selection_set.selections] == ["i0", "i1", "i2"]  # type: ignore[union-attr]
    names = sorted(v.variable.name.value for v in op.variable_definitions)
    assert names == sorted(
        ["draft_0", "id_1", "version_1", "actions_1", "id_2", "version_2", "actions_2"]
    )


@respx.mock
async def test_channel_lookup_and_missing_channel_names_the_key() -> None:
    respx.post(f"{CT_AUTH}/oauth/token").mock(return_value=token_answer())
    respx.post(GRAPHQL).mock(
        side_effect=[
            httpx.Response(
                200,
                json={
                    "data": {"channel": {"id": "c-1", "key": "eu", "roles": ["InventorySupply"]}}
                },
            ),
            httpx.Response(200, json={"data": {"channel": None}}),
            httpx.Response(
                200,
                json={
                    "data": {
                        "channel": {"id": "c-2", "key": "web", "roles": ["ProductDistribution"]}
                    }
                },
            ),
        ]
    )
    async with httpx.AsyncClient() as http:
        sink = CommercetoolsSink(ct_client(http), batch_size=10, conflict_retries=2)
        assert await sink.channel_id("eu") == "c-1"
        with pytest.raises(ChannelNotFoundError, match="'nowhere'"):
            await sink.channel_id("nowhere")
        with pytest.raises(ChannelNotFoundError, match="'web' lacks the role InventorySupply"):
            await sink.channel_id("web")


@respx.mock
async def test_client_credentials_use_basic_auth_and_scopes() -> None:
    token = respx.post(f"{CT_AUTH}/oauth/token").mock(return_value=token_answer())
    respx.post(GRAPHQL).mock(
        return_value=httpx.Response(
            200, json={"data": {"channel": {"id": "c", "roles": ["InventorySupply"]}}}
        )
    )
    async with httpx.AsyncClient() as http:
        await CommercetoolsSink(ct_client(http), batch_size=1, conflict_retries=0).channel_id("k")
    request = token.calls[0].request
    assert request.headers["Authorization"] == httpx.BasicAuth("ct-id", "ct-secret")._auth_header
    assert dict(httpx.QueryParams(request.content.decode())) == {
        "grant_type": "client_credentials",
        "scope": "scope",
    }


@respx.mock
async def test_existing_entries_escape_skus_and_page_until_complete() -> None:
    respx.post(f"{CT_AUTH}/oauth/token").mock(return_value=token_answer())

    def answer(offset: int, results: list[dict[str, Any]], total: int) -> httpx.Response:
        return httpx.Response(
            200,
            json={
                "data": {
                    "inventoryEntries": {
                        "offset": offset,
                        "count": len(results),
                        "total": total,
                        "results": results,
                    }
                }
            },
        )

    def row(sku: str, qty: int) -> dict[str, Any]:
        return {"id": f"id-{sku}", "version": 2, "sku": sku, "quantityOnStock": qty}

    route = respx.post(GRAPHQL).mock(
        side_effect=[answer(0, [row('a"b', 1)], 2), answer(1, [row("c\\d", 2)], 2)]
    )
    async with httpx.AsyncClient() as http:
        sink = CommercetoolsSink(ct_client(http), batch_size=10, conflict_retries=2)
        found = await sink.existing("chan", ['a"b', "c\\d"])
    assert found == {
        'a"b': ExistingEntry('id-a"b', 2, 'a"b', 1),
        "c\\d": ExistingEntry("id-c\\d", 2, "c\\d", 2),
    }
    sent = [body_of(c.request)["variables"] for c in route.calls]
    assert sent[0]["where"] == 'sku in ("a\\"b", "c\\\\d") and supplyChannel(id="chan")'
    assert [v["offset"] for v in sent] == [0, 1]


class FakeMutations:
    """Answers batches: items whose SKU is in ``fail`` get that error."""

    def __init__(self, fail: dict[str, dict[str, Any]]) -> None:
        self.fail = fail
        self.batches: list[dict[str, Any]] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        body = body_of(request)
        variables = body["variables"]
        if "where" in variables:
            return httpx.Response(
                200,
                json={
                    "data": {
                        "inventoryEntries": {
                            "offset": 0,
                            "count": 1,
                            "total": 1,
                            "results": [
                                {"id": "id-dup", "version": 7, "sku": "dup", "quantityOnStock": 1}
                            ],
                        }
                    }
                },
            )
        self.batches.append(variables)
        data: dict[str, Any] = {}
        errors = []
        n = 0
        while any(k.endswith(f"_{n}") for k in variables):
            draft = variables.get(f"draft_{n}")
            sku = draft["sku"] if draft else variables[f"id_{n}"].removeprefix("id-")
            error = self.fail.pop(sku, None)
            if error is None:
                data[f"i{n}"] = {"sku": sku}
            else:
                data[f"i{n}"] = None
                errors.append({"message": error["code"], "path": [f"i{n}"], "extensions": error})
            n += 1
        return httpx.Response(
            200, json={"data": data, "errors": errors} if errors else {"data": data}
        )


@respx.mock
async def test_writes_settle_duplicate_field_and_concurrent_modification() -> None:
    respx.post(f"{CT_AUTH}/oauth/token").mock(return_value=token_answer())
    fake = FakeMutations(
        {
            "dup": {"code": "DuplicateField", "field": "sku"},
            "stale": {"code": "ConcurrentModification", "currentVersion": 9},
            "broken": {"code": "InvalidOperation"},
        }
    )
    respx.post(GRAPHQL).mock(side_effect=fake)
    writes = [
        Create("new", 1),
        Create("dup", 5),
        Update("stale", "id-stale", 3, 1, 4),
        Update("broken", "id-broken", 1, 1, 2),
    ]
    async with httpx.AsyncClient() as http:
        sink = CommercetoolsSink(ct_client(http), batch_size=10, conflict_retries=2)
        written = await sink.write("chan", writes)
    assert written == Written(
        created=[Create("new", 1)],
        # sent again as updates: of the entry the create met, at the version it has now
        updated=[Update("dup", "id-dup", 7, 1, 5), Update("stale", "id-stale", 9, 1, 4)],
        failed=[WriteFailure("broken", "InvalidOperation", "InvalidOperation")],
    )
    retry = fake.batches[1]
    by_id = {retry[f"id_{n}"]: (retry[f"version_{n}"], retry[f"actions_{n}"]) for n in (0, 1)}
    assert by_id == {
        "id-stale": (9, [{"changeQuantity": {"quantity": 4}}]),
        "id-dup": (7, [{"changeQuantity": {"quantity": 5}}]),
    }


@respx.mock
async def test_a_batch_that_fails_as_a_whole_fails_only_its_items() -> None:
    respx.post(f"{CT_AUTH}/oauth/token").mock(return_value=token_answer())
    calls = {"n": 0}

    def answer(request: httpx.Request) -> httpx.Response:
        calls["n"] += 1
        if (
            "draft_0" in body_of(request)["variables"]
            and body_of(request)["variables"]["draft_0"]["sku"] == "a"
        ):
            return httpx.Response(500, text="<html>oops</html>")
        return httpx.Response(200, json={"data": {"i0": {"sku": "b"}}})

    respx.post(GRAPHQL).mock(side_effect=answer)
    async with httpx.AsyncClient() as http:
        sink = CommercetoolsSink(ct_client(http), batch_size=1, conflict_retries=1)
        written = await sink.write("chan", [Create("a", 1), Create("b", 2)])
    assert written.created == [Create("b", 2)]
    assert [(f.sku, f.code) for f in written.failed] == [("a", "500")]
    assert written.updated == written.unchanged == []


@pytest.mark.parametrize("name", sorted(BUNDLED_TEMPLATES))
def test_the_bundled_templates_are_what_graphql_core_makes_of_the_bundled_documents(
    name: str,
) -> None:
    # a bundled mutation changed: copy FieldTemplate.of(bundled(name)) into BUNDLED_TEMPLATES
    assert FieldTemplate.of(bundled(name)) == BUNDLED_TEMPLATES[name]


async def test_a_replaced_mutation_is_batched_from_its_own_text(tmp_path: Path) -> None:
    custom = tmp_path / "create.graphql"
    custom.write_text(
        bundled("CreateInventoryEntry").replace("    version\n", "    version\n    sku\n")
    )
    docs = Documents({"CreateInventoryEntry": custom})
    sent: list[str] = []

    class Client:
        async def post(self, document: str, variables: dict[str, Any]) -> dict[str, Any]:
            sent.append(document)
            return {"data": {"i0": {"id": "x", "version": 1}}}

    sink = CommercetoolsSink(Client(), batch_size=1, conflict_retries=0, documents=docs)  # type: ignore[arg-type]
    written = await sink.write("chan", [Create("a", 1), Update("b", "id-b", 1, 1, 2)])

    assert (len(written.created), len(written.updated)) == (1, 1)
    create, update = sorted(sent)
    assert "createInventoryEntry(draft: $draft_0) {\n  id\n  version\n  sku\n}" in create
    assert update == batch_document("InventoryBatch", (BUNDLED_TEMPLATES["UpdateInventoryEntry"],))
    assert not docs.is_bundled("CreateInventoryEntry")
    assert docs.is_bundled("UpdateInventoryEntry")


def test_the_job_starts_without_importing_graphql_core() -> None:
    """graphql-core is imported only to check or batch a replaced document."""
    code = (
        "import sys, inventory_sync.cli, inventory_sync.runner;"
        "from inventory_sync.commercetools import CommercetoolsSink;"
        "CommercetoolsSink(None, batch_size=1, conflict_retries=0);"
        "print('graphql' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
