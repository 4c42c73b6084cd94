"""The history purge timer: a finished cycle (and its sub-orchestrations) is purged once older
than ``DISKDR_PURGE_AFTER``, and the scheduler tick does not start its slot again."""

from __future__ import annotations

import time

import pytest

from tests.e2e.conftest import estate, start_twin, vm

pytestmark = pytest.mark.slow

ESTATE = estate({"rg-app": [vm("vm-p1", "e2e")]})
SETTINGS = {
    # The slot is planned before devhost starts: the window leaves a loaded machine 18 real
    # seconds to start it. Purging waits longer than the window, so a purged slot is outside
    # it and the tick does not start it again.
    "DISKDR_CATCH_UP_WINDOW": "PT3H",  # 18 real seconds
    "DISKDR_PURGE_AFTER": "PT4H",  # 24 real seconds
    "DISKDR_PURGE_SCHEDULE": "0 * * * * *",  # every world minute (0.1 real second)
}


def test_finished_instances_older_than_purge_after_are_purged(tmp_path):
    with start_twin(tmp_path, ESTATE, 1, settings=SETTINGS) as run:
        report = run.wait_cycle(run.slots[0])
        assert report["phase"] == "Completed"
        host = run.twin.host
        cycle_id = run.cycle_id(run.slots[0])
        assert report["summary"]["vms"] == 1  # it had a lane and a protect_vm under it

        def leftovers() -> list[str]:
            listed = host.run(host.client().get_status_all())
            return [s.instance_id for s in listed if s.instance_id.startswith(cycle_id)]

        host.wait_until(lambda: not leftovers(), timeout=90, what="the cycle and children purged")
        # Many more ticks (a world minute each): the slot, now outside the catch-up window,
        # is not started again.
        deadline = time.monotonic() + 3.0
        while time.monotonic() < deadline:
            assert host.status(cycle_id) is None
            time.sleep(0.2)
        assert "purged" in host.log_path.read_text()
