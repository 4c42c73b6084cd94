"""Checks of HTTP request bodies: every refusal names the field and says what was expected."""

import json

import pytest

from diskdr.api import ApiError, parse_backup_request

SUB = "00000000-0000-0000-0000-000000000001"
OTHER = "00000000-0000-0000-0000-000000000009"
VM = f"/subscriptions/{SUB}/resourceGroups/rg-app/providers/Microsoft.Compute/virtualMachines/vm1"
DISK = f"/subscriptions/{SUB}/resourceGroups/rg-app/providers/Microsoft.Compute/disks/d1"


def parse(body):
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    return parse_backup_request(raw, [SUB], ["gold", "silver"])


def refusal(body) -> tuple[int, dict]:
    with pytest.raises(ApiError) as caught:
        parse(body)
    return caught.value.status, caught.value.body()["error"]


def test_accepts_vm_ids_and_disk_ids_and_drops_duplicates():
    request = parse({"vmIds": [VM, VM.upper().replace("SUBSCRIPTIONS", "subscriptions")]})
    assert (request.kind, request.ids, request.policy) == ("vmIds", (VM,), None)
    request = parse({"diskIds": [DISK], "policy": "silver"})
    assert (request.kind, request.ids, request.policy) == ("diskIds", (DISK,), "silver")


@pytest.mark.parametrize(
    ("body", "status", "code", "message"),
    [
        (b"", 400, "InvalidRequest", "the request body is empty; expected a JSON object"),
        ([VM], 400, "InvalidRequest", "expected a JSON object with vmIds or diskIds"),
        ({}, 400, "InvalidRequest", "expected exactly one of vmIds or diskIds (a list of ids)"),
        (
            {"vmIds": [VM], "diskIds": [DISK]},
            400,
            "InvalidRequest",
            "expected exactly one of vmIds or diskIds (a list of ids)",
        ),
        (
            {"vmIds": [VM], "vm": 1},
            400,
            "InvalidRequest",
            "unknown field 'vm'; expected vmIds or diskIds, and optionally policy",
        ),
        ({"vmIds": []}, 400, "InvalidRequest", "vmIds: expected a non-empty list of ids"),
        ({"vmIds": VM}, 400, "InvalidRequest", "vmIds: expected a non-empty list of ids"),
        ({"vmIds": [VM], "policy": 3}, 400, "InvalidRequest", "policy: expected a policy name"),
        (
            {"vmIds": [VM], "policy": "platinum"},
            422,
            "UnknownPolicy",
            "policy: no policy named 'platinum' (policies: gold, silver)",
        ),
    ],
)
def test_refusals_word_for_word(body, status, code, message):
    assert refusal(body) == (status, {"code": code, "message": message, **_target(message)})


def _target(message: str) -> dict:
    field = message.split(":", 1)[0]
    if field in ("vmIds", "policy"):
        return {"target": field}
    if field.startswith("unknown field"):
        return {"target": "vm"}
    return {}


def test_invalid_json_says_where():
    status, error = refusal(b'{"vmIds": [')
    assert status == 400 and error["code"] == "InvalidJson"
    assert error["message"].startswith("the request body is not valid JSON: Expecting value")


def test_malformed_ids_are_400_with_their_position():
    status, error = refusal({"vmIds": [VM, DISK]})
    assert status == 400
    assert error["code"] == "InvalidResourceId" and error["target"] == "vmIds[1]"
    assert error["message"].startswith("vmIds[1]: expected a virtual machine resource id like ")
    status, error = refusal({"diskIds": ["not-an-id"]})
    assert (status, error["target"]) == (400, "diskIds[0]")


def test_other_subscriptions_are_422():
    status, error = refusal({"vmIds": [VM.replace(SUB, OTHER)]})
    assert status == 422 and error["code"] == "SubscriptionNotInScope"
    assert error["message"].startswith(f"vmIds[0]: subscription {OTHER} is not in ")


def test_at_most_100_ids():
    ids = [VM.replace("vm1", f"vm{n}") for n in range(101)]
    assert refusal({"vmIds": ids}) == (
        400,
        {
            "code": "InvalidRequest",
            "message": "vmIds: at most 100 ids per request, got 101",
            "target": "vmIds",
        },
    )
