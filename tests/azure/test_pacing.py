"""Throttle-aware pacing (``diskdr.azure.clients.ArmPacing``) against the emulator's ARM
token buckets, through the real azure-mgmt-compute client: paced writes keep the bucket
above empty (no 429 at all), the same writes unpaced are throttled and only land through
the SDK's Retry-After retries; Compute's per-resource headers are read too."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace

import pytest
from azure.core.exceptions import HttpResponseError

from diskdr import clock
from diskdr.azure import clients as clients_module
from diskdr.azure.clients import ArmPacing, Clients, request_kind, resource_type_of
from tests.support import emulator_settings

SUB = "00000000-0000-0000-0000-000000000001"
WRITES = 24
# Writes: 4 in the bucket, one more every 30 world seconds (20 a real second at scale 600).
BUCKETS = (("writes", 4.0, 1 / 30), ("reads", 4.0, 1 / 30), ("deletes", 4.0, 1 / 30))


@pytest.fixture
def estate(emulator, monkeypatch):
    monkeypatch.setattr(clock, "_default", emulator.clock)
    monkeypatch.setattr(clients_module, "_pacings", {})
    emulator.control.reset()
    emulator.control.estate(
        {
            "subscriptions": [
                {
                    "id": SUB,
                    "resourceGroups": [
                        {
                            "name": "rg-app",
                            "location": "eastus",
                            "disks": [{"name": f"d{n}", "sizeGB": 8} for n in range(4)],
                        }
                    ],
                }
            ]
        }
    )
    spec = {kind: {"burst": burst, "rate": rate} for kind, burst, rate in BUCKETS}
    emulator.control.config(throttle=True, buckets=spec)
    return emulator


def tag_disks(emulator, *, paced: bool) -> int:
    """Send the writes from 8 threads; how many failed (throttled beyond the SDK's retries)."""
    settings = replace(
        emulator_settings(emulator, "pacing-test", SUB), arm_pacing=paced, arm_buckets=BUCKETS
    )
    compute = Clients(settings).compute(SUB)

    def tag(n: int) -> bool:
        # A write Azure accepts at once (202); nothing is polled.
        try:
            compute.disks.begin_update(
                "rg-app", f"d{n % 4}", {"tags": {"n": str(n)}}, polling=False
            )
        except HttpResponseError as error:
            assert error.status_code == 429
            return False
        return True

    with ThreadPoolExecutor(8) as pool:
        return sum(1 for ok in pool.map(tag, range(WRITES)) if not ok)


def test_paced_writes_never_empty_the_bucket(estate):
    assert tag_disks(estate, paced=True) == 0
    stats = estate.control.stats()
    assert stats["requests"]["Disks_Update"] == WRITES
    assert stats["throttled"] == 0


def test_unpaced_writes_are_throttled_in_a_herd(estate):
    """The comparison: the same writes without pacing hit 429s, retried by the SDK after
    Retry-After all at once (a herd), so some run out of retries."""
    failed = tag_disks(estate, paced=False)
    stats = estate.control.stats()
    assert stats["throttled"] > 0
    assert stats["requests"]["Disks_Update"] == WRITES - failed + stats["throttled"]


def test_budgets_follow_the_headers_of_every_answer():
    now = [1000.0]

    class FixedClock(clock.WorldClock):
        def time(self) -> float:
            return now[0]

    pacing = ArmPacing({"reads": (10, 1.0), "writes": (10, 1.0), "deletes": (10, 1.0)})
    pacing._clock = FixedClock()
    url = (
        f"https://arm/subscriptions/{SUB}/resourceGroups/rg/providers/Microsoft.Compute/snapshots/s"
    )
    key = pacing.before("PUT", url)
    assert key == (SUB, "", "writes")
    pacing.after(
        key,
        "PUT",
        url,
        {
            "x-ms-ratelimit-remaining-subscription-writes": "3",
            "x-ms-ratelimit-remaining-resource": (
                "Microsoft.Compute/HighCostSnapshotCreateHydrate3Min;1,"
                "Microsoft.Compute/HighCostSnapshotCreateHydrate30Min;100"
            ),
            "x-ms-routing-request-id": "EASTUS:20261204T000000Z:abc",
        },
    )
    # The answer named its ARM region: later budgets are that instance's.
    budget = pacing._budget(SUB, "eastus", "writes")
    assert budget.remaining == 3 and budget.wait(now[0]) == pytest.approx(0.0)
    # The 3-minute snapshot policy has 1 left (fewer than the reserve): a snapshot PUT
    # waits for the window to give some back; a read does not.
    assert pacing._policy_wait(SUB, "eastus", ("PUT", "microsoft.compute/snapshots"), now[0]) > 0
    assert pacing._policy_wait(SUB, "eastus", ("GET", "microsoft.compute/snapshots"), now[0]) == 0


def test_request_kinds_and_resource_types():
    assert [request_kind(m) for m in ("GET", "HEAD", "DELETE", "PUT", "PATCH", "POST")] == [
        "reads",
        "reads",
        "deletes",
        "writes",
        "writes",
        "writes",
    ]
    path = (
        f"/subscriptions/{SUB}/resourceGroups/rg/providers/Microsoft.Compute"
        "/restorePointCollections/c/restorePoints/r?api-version=1"
    )
    assert resource_type_of(path) == "microsoft.compute/restorepointcollections/restorepoints"
    assert resource_type_of(f"/subscriptions/{SUB}/resourcegroups/rg") == ""
