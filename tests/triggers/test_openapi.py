"""The OpenAPI document against the code: every route the app registers is documented (and
nothing else), request bodies match the checks of ``diskdr.api``, and the document is a
valid OpenAPI 3.1 document whose schemas are valid JSON Schema."""

from __future__ import annotations

import functools
import json

import jsonschema_rs
import pytest

from diskdr.api import ApiError, parse_backup_request
from diskdr.openapi import OPERATIONS, ROUTE_PREFIX, SCHEMAS, openapi_document

SUB = "00000000-0000-0000-0000-000000000001"
VM = f"/subscriptions/{SUB}/resourceGroups/rg-app/providers/Microsoft.Compute/virtualMachines/vm-1"
DISK = f"/subscriptions/{SUB}/resourceGroups/rg-app/providers/Microsoft.Compute/disks/d-1"


@functools.cache
def registered_http_routes() -> frozenset[tuple[str, str]]:
    """(METHOD, /api/route) of every HTTP function of function_app.py, as the worker indexes
    them (``get_functions()`` may be called once per app: cached)."""
    import function_app

    routes = set()
    for function in function_app.app.get_functions():
        for binding in function.get_bindings():
            if binding.type == "httpTrigger":
                for method in binding.methods:
                    name = getattr(method, "value", method)
                    routes.add((str(name).upper(), f"/{ROUTE_PREFIX}/{binding.route}"))
    return frozenset(routes)


def test_every_registered_route_is_documented_and_nothing_else():
    documented = {
        (method.upper(), path)
        for path, item in openapi_document()["paths"].items()
        for method in item
    }
    assert documented == registered_http_routes()


def test_every_route_answers_401_and_its_errors_with_the_error_shape():
    for path, item in openapi_document()["paths"].items():
        for method, operation in item.items():
            responses = operation["responses"]
            assert "401" in responses, (method, path)
            for status, answer in responses.items():
                if int(status) >= 400 and status != "401":
                    ref = answer["content"]["application/json"]["schema"]["$ref"]
                    assert ref == "#/components/schemas/Error", (method, path, status)
            if method == "post":
                assert set(responses) & {"200", "202"}, (method, path)


def test_202_answers_document_location():
    for operation in OPERATIONS:
        if 202 in operation.responses:
            assert "Location" in operation.headers.get(202, {}), operation.operation_id
            assert operation.responses[202][1] == "Accepted", operation.operation_id


def test_the_document_is_valid_openapi_with_valid_schemas():
    document = json.loads(json.dumps(openapi_document("https://app.example")))
    assert document["openapi"].startswith("3.1")
    assert document["servers"] == [{"url": "https://app.example"}]
    operation_ids = [o.operation_id for o in OPERATIONS]
    assert len(operation_ids) == len(set(operation_ids))
    for name, schema in SCHEMAS.items():
        jsonschema_rs.meta.validate(schema)  # raises on an invalid JSON Schema
        assert name
    for item in document["paths"].values():
        for operation in item.values():
            for answer in operation["responses"].values():
                for media in answer.get("content", {}).values():
                    target = media["schema"]["$ref"].rsplit("/", 1)[1]
                    assert target in SCHEMAS


# --- the request body of POST /api/backups against the parser ---------------------------------
def validator():
    return jsonschema_rs.validator_for(SCHEMAS["BackupRequest"])


@pytest.mark.parametrize(
    "body",
    [{"vmIds": [VM]}, {"diskIds": [DISK]}, {"vmIds": [VM], "policy": "gold"}],
)
def test_bodies_the_schema_accepts_the_parser_accepts(body):
    assert validator().is_valid(body)
    parsed = parse_backup_request(json.dumps(body).encode(), [SUB], ["gold"])
    assert parsed.kind in body


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"vmIds": [VM], "diskIds": [DISK]},
        {"vmIds": [VM], "force": True},
        {"vmIds": []},
        {"vmIds": ["vm-1"]},
        {"vmIds": [DISK]},
        {"diskIds": [VM]},
        {"vmIds": [VM] * 101},
        {"vmIds": [VM], "policy": 7},
    ],
)
def test_bodies_the_schema_refuses_the_parser_refuses_with_400(body):
    assert not validator().is_valid(body)
    with pytest.raises(ApiError) as refused:
        parse_backup_request(json.dumps(body).encode(), [SUB], ["gold"])
    assert refused.value.status == 400
