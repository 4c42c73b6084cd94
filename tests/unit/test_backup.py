"""Backup records and decisions: point jobs, group state, copy order."""

from dataclasses import replace
from datetime import timedelta

import pytest

from diskdr.backup import (
    DiskOutcome,
    NewestCopy,
    PolicyRef,
    copy_action,
    copy_job,
    group_state,
    point_jobs,
)
from diskdr.inventory import DiskInfo, VmInfo
from diskdr.naming import TAG_GROUP, TAG_ROLE, TAG_SOURCE, is_valid_name
from tests.unit.points import OWNER, T0, disk_id, point, vm_id


def test_point_jobs_share_a_group_and_are_deterministic():
    disks = tuple(
        DiskInfo(disk_id(f"d{n}"), f"d{n}", "eastus", "Premium_LRS", 64, f"uid{n}", lun)
        for n, lun in ((0, None), (1, 0), (2, 1))
    )
    vm = VmInfo(vm_id("vm1"), "vm1", "eastus", {}, disks)
    group, jobs = point_jobs(vm, T0, "gold", OWNER)
    again_group, again = point_jobs(vm, T0, "gold", OWNER)
    assert (group, jobs) == (again_group, again)
    assert {job.tags[TAG_GROUP] for job in jobs} == {group}
    assert len({job.name for job in jobs}) == 3 and all(is_valid_name(j.name) for j in jobs)
    assert all(job.resource_group == "rg-app" for job in jobs)
    later_group, _ = point_jobs(vm, T0 + timedelta(hours=4), "gold", OWNER)
    assert later_group != group


def test_copy_job_tags_the_replica_with_its_source():
    primary = point()
    job = copy_job(primary, PolicyRef("gold", "disk", "westus2", "rg-dr"), OWNER)
    assert job.tags[TAG_ROLE] == "replica"
    assert job.tags[TAG_SOURCE] == primary.id.lower()
    assert job.name != primary.name
    with pytest.raises(ValueError, match="does not replicate"):
        copy_job(primary, PolicyRef("gold"), OWNER)


@pytest.mark.parametrize(
    ("states", "expected"),
    [
        (["usable", "usable"], "complete"),
        (["usable", "pending"], "in-progress"),
        (["usable", "failed"], "partial"),
        (["failed", None], "failed"),
        ([], "failed"),
    ],
)
def test_group_state(states, expected):
    outcomes = [
        DiskOutcome(f"d{n}", f"d{n}", n, point(disk=f"d{n}", state=s) if s else None)
        for n, s in enumerate(states)
    ]
    assert group_state(outcomes) == expected


def test_copy_action_adopts_waits_skips_or_starts():
    p0, p1 = point(hours=0), point(hours=4)
    r0 = point(hours=0, role="replica", source=p0)
    r1 = point(hours=4, role="replica", source=p1)
    assert copy_action(p1, None, None, None) == "start"
    assert copy_action(p0, r0, None, None) == "adopt"
    in_flight = replace(r0, state="pending")
    assert copy_action(p1, None, NewestCopy.of(in_flight, p0), in_flight) == "busy"
    assert copy_action(p0, None, NewestCopy.of(r1, p1), r1) == "superseded"
    assert copy_action(p1, None, NewestCopy.of(r0, p0), r0) == "start"


def test_copy_action_ignores_failed_or_vanished_newest_copies_and_failed_own_replicas():
    p0, p1 = point(hours=0), point(hours=4)
    r1 = point(hours=4, role="replica", source=p1)
    failed_newer = replace(r1, state="failed")
    assert copy_action(p0, None, NewestCopy.of(r1, p1), failed_newer) == "start"
    assert copy_action(p0, None, NewestCopy.of(r1, p1), None) == "start"
    own_failed = replace(point(hours=0, role="replica", source=p0), state="failed")
    assert copy_action(p0, own_failed, None, None) == "start"


def test_copy_order_follows_source_creation_time_when_known():
    late_old_slot = replace(point(hours=0), created_at=T0 + timedelta(hours=5))
    p1 = point(hours=4)
    r1 = point(hours=4, role="replica", source=p1)
    # The 0h point was created after the 4h one (a late catch-up): copying it is in order.
    assert copy_action(late_old_slot, None, NewestCopy.of(r1, p1), r1) == "start"
    assert NewestCopy.of(r1, p1).is_newer_than(point(hours=0))
    assert NewestCopy.from_dict(NewestCopy.of(r1, p1).to_dict()) == NewestCopy.of(r1, p1)


def test_every_consistency_of_the_policy_file_is_supported():
    for consistency in ("disk", "vm-crash", "vm-app"):
        assert PolicyRef("gold", consistency).unsupported is None
    # A policy written for a newer version of diskdr is refused, never given other points.
    assert PolicyRef("gold", "vm-future").unsupported == (
        "policy gold: consistency 'vm-future' is not supported by this version of diskdr; "
        "use disk, vm-crash, vm-app"
    )
