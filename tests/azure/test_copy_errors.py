"""Service.start_copy against the emulator: Azure's refusals classified by code (issue #8,
hole 5). A refusal that never passes is reported at once as permanent, with Azure's code,
so replicate_point gives its copy slot back instead of retrying for the copy deadline."""

import pytest

from diskdr.backup import PolicyRef, copy_job
from diskdr.errors import AzureError, is_transient
from diskdr.service import Service
from tests.azure.test_compute_port import INSTALL, SUB, create, settled
from tests.azure.test_compute_port import port as port
from tests.support import emulator_settings

GOLD = PolicyRef("gold", replica_region="westus2", replica_resource_group="rg-dr")


@pytest.fixture
def service(port, emulator):
    return Service(emulator_settings(emulator, INSTALL, SUB), port=port)


@pytest.mark.parametrize(
    ("code", "message", "transient"),
    [
        ("NameOwnedByOther", "snapshot exists and is owned by another install", False),
        (
            "OperationNotAllowed",
            "snapshots of a disk must be copied in the order they were created.",
            False,
        ),
        (
            "OperationNotAllowed",
            "Snapshot x of the same disk is still being copied; only one "
            "incremental snapshot of a disk can be copied at a time.",
            True,
        ),
    ],
)
def test_a_copy_refusal_is_transient_only_if_it_passes(
    service, port, emulator, code, message, transient
):
    source = settled(port, create(port).id)
    emulator.control.faults(
        [
            {
                "method": "PUT",
                "path": r"/resourceGroups/rg-dr/.*/snapshots/",
                "status": 409,
                "code": code,
                "message": message,
                "count": 1,
            }
        ]
    )
    try:
        step = service.start_copy(copy_job(source, GOLD, INSTALL))
    finally:
        emulator.control.clear_faults()
    assert step["error"]["code"] == code
    assert step["error"]["transient"] is transient


def test_errors_are_classified_in_one_place():
    def error(status, code, message="refused"):
        return AzureError(message, code=code, status=status)

    assert is_transient(error(None, None)) and is_transient(error(429, "TooManyRequests"))
    assert is_transient(error(503, "ServiceUnavailable"))
    assert not is_transient(error(409, "NameOwnedByOther"))
    assert not is_transient(error(409, "SnapshotsLimitReached", "Please retry the request"))
    assert is_transient(error(409, "OperationNotAllowed", "Too many snapshots. Retry later."))
    assert not is_transient(error(409, "OperationNotAllowed", "The sku cannot be changed"))
    assert not is_transient(error(409, "SomethingNew"))
