"""The copy gate entity through the Durable SDK's own entity handle (batches as the host sends)."""

from __future__ import annotations

import json
from typing import Any

from diskdr.copy_slots import LeaseRequest
from orchestrations.copy_gate import ENTITY_NAME, copy_gate, gate_entity
from tests.orchestrations.estate import SUB


def lease(holder: str, disk: str, limit: int = 1) -> dict[str, Any]:
    return LeaseRequest(holder=holder, disk=disk, limit=limit, ttl_seconds=3600).to_dict()


class Gate:
    """One gate entity whose state is carried between batches as JSON text, like the host."""

    def __init__(self) -> None:
        self.state: str | None = None
        self.handle = copy_gate._function.get_user_function()

    def batch(self, *operations: tuple[str, Any]) -> list[tuple[bool, Any]]:
        """Run one batch of ``(operation, input)``; ``(is_error, result)`` per operation."""
        payload = {
            "self": {"name": ENTITY_NAME, "key": gate_entity(SUB, "westus2").key},
            "exists": self.state is not None,
            "state": self.state,
            # The host sends each input as JSON text inside a JSON string.
            "batch": [{"name": op, "input": json.dumps(json.dumps(arg))} for op, arg in operations],
        }
        answer = json.loads(self.handle(json.dumps(payload)))
        self.state = answer.get("entityState")
        return [(r["isError"], json.loads(r["result"])) for r in answer["results"]]


def test_the_gate_caps_copies_and_frees_a_slot_on_release():
    gate = Gate()
    assert gate.batch(
        ("acquire", lease("copy-a", "disk-1")),
        ("acquire", lease("copy-b", "disk-2")),  # the cap (1) is taken
        ("acquire", lease("copy-a", "disk-1")),  # a renewal by the holder is granted
    ) == [(False, True), (False, False), (False, True)]
    assert gate.batch(("release", "copy-a"), ("acquire", lease("copy-b", "disk-2"))) == [
        (False, True),
        (False, True),
    ]
    [(is_error, table)] = gate.batch(("get", None))
    assert not is_error and sorted(table["leases"]) == ["copy-b"] and table["peak"] == 1


def test_one_copy_per_disk_even_with_room_in_the_gate():
    gate = Gate()
    results = gate.batch(
        ("acquire", lease("copy-a", "disk-1", limit=10)),
        ("acquire", lease("copy-b", "DISK-1", limit=10)),  # same family, any case
        ("acquire", lease("copy-c", "disk-2", limit=10)),
    )
    assert [granted for _, granted in results] == [True, False, True]


def test_an_unknown_operation_fails_alone_and_keeps_the_state():
    gate = Gate()
    results = gate.batch(("acquire", lease("copy-a", "disk-1")), ("steal", None))
    assert results[0] == (False, True)
    assert results[1][0] is True and "unknown operation 'steal'" in results[1][1]
    assert gate.batch(("acquire", lease("copy-b", "disk-2"))) == [(False, False)]
