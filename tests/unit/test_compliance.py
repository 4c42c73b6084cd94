"""Compliance: newest complete group per region, its age against the RPO, VM status."""

from dataclasses import replace
from datetime import timedelta

from diskdr.compliance import (
    effective_rpo,
    evaluate_vm,
    failed_drills,
    find_unprotected,
    last_drills,
    region_status,
)
from diskdr.inventory import DiskInfo, VmInfo
from diskdr.policy import parse_policy_text
from tests.unit.points import T0, disk_id, point, vm_id

POLICIES = parse_policy_text(
    """\
version: 1
policies:
  - name: gold
    target: {tags: {backup: gold}}
    schedules: [{cron: "0 0 */4 * * *"}]
    retention: {last: 6}
    replicate: {region: westus2, resourceGroup: rg-dr, retention: {last: 6}}
    rpo: PT4H
  - name: silver
    target: {tags: {backup: silver}}
    schedules: [{cron: "0 0 */6 * * *"}]
    retention: {daily: 7}
""",
    "policies.yaml",
)
GOLD, SILVER = POLICIES.policies
VM = VmInfo(
    vm_id("vm1"),
    "vm1",
    "eastus",
    {"backup": "gold"},
    tuple(
        DiskInfo(disk_id(d), d, "eastus", "Premium_LRS", 64, f"uid-{d}", lun)
        for d, lun in (("d0", None), ("d1", 0))
    ),
)


def group(hours, role="primary", states=("usable", "usable")):
    points = [
        point(disk=d, hours=hours, state=s) for d, s in zip(("d0", "d1"), states, strict=True)
    ]
    if role == "replica":
        points = [
            point(disk=p.disk_id.rsplit("/", 1)[1], hours=hours, role="replica", source=p)
            for p in points
        ]
    return points


def regions(result):
    return {(r.region, r.role): r for r in result.regions}


def test_ok_when_both_regions_are_fresh():
    points = group(0) + group(0, "replica")
    result = evaluate_vm(VM, GOLD, points, T0 + timedelta(hours=3))
    assert result.status == "OK" and result.rpo_minutes == 240
    primary = regions(result)[("eastus", "primary")]
    # Age counts from when the data was captured (creation time), for the replica too.
    assert primary.age_minutes == regions(result)[("westus2", "replica")].age_minutes == 179.5


def test_unprotected_without_a_complete_group():
    points = group(0, states=("usable", "failed"))
    result = evaluate_vm(VM, GOLD, points, T0 + timedelta(hours=1))
    assert result.status == "UNPROTECTED"
    assert regions(result)[("eastus", "primary")].status == "MISSING"


def test_missing_replica_puts_the_vm_at_risk():
    result = evaluate_vm(VM, GOLD, group(0), T0 + timedelta(hours=1))
    assert result.status == "AT_RISK"
    assert regions(result)[("westus2", "replica")].status == "MISSING"


def test_an_incomplete_newer_group_does_not_count():
    points = group(0) + group(4, states=("usable", "pending")) + group(0, "replica")
    result = evaluate_vm(VM, GOLD, points, T0 + timedelta(hours=9))
    assert regions(result)[("eastus", "primary")].slot == T0
    assert result.status == "BREACHED"


def test_region_status_thresholds():
    rpo = timedelta(hours=4)
    assert region_status(timedelta(hours=4), rpo) == "OK"
    assert region_status(timedelta(hours=5), rpo) == "AT_RISK"
    assert region_status(timedelta(hours=8, seconds=1), rpo) == "BREACHED"


def test_without_rpo_the_longest_gap_between_slots_is_used():
    assert effective_rpo(SILVER, T0 + timedelta(days=10)) == timedelta(hours=6)
    assert effective_rpo(GOLD, T0) == timedelta(hours=4)


def test_other_policies_points_do_not_count():
    points = [p for p in group(0)]
    result = evaluate_vm(VM, SILVER, points, T0 + timedelta(hours=1))
    assert result.status == "UNPROTECTED"


# --- find_unprotected ----------------------------------------------------------------------
def unprotected(vms, points, failed_drills=None):
    def policy_for(vm):
        return {"gold": GOLD, "silver": SILVER}.get(vm.tags.get("backup"))

    def protected(vm, policy):  # the policies exclude the disks tagged backup: skip
        disks = tuple(d for d in vm.disks if d.tags.get("backup") != "skip")
        return VmInfo(vm.id, vm.name, vm.location, vm.tags, disks)

    found = find_unprotected(vms, policy_for, protected, points, failed_drills)
    return [(gap.vm_name, gap.reason, gap.disk_id and gap.disk_id.rsplit("/", 1)[1], gap.detail)
            for gap in found]  # fmt: skip


def test_a_protected_vm_with_usable_points_has_no_gap():
    assert unprotected([VM], group(0)) == []


def test_gaps_name_the_vm_the_disk_and_why():
    skipped = VmInfo(
        vm_id("vm2"),
        "vm2",
        "eastus",
        {"backup": "gold"},
        (
            DiskInfo(
                disk_id("s0"), "s0", "eastus", "Premium_LRS", 8, "u0", None, {"backup": "skip"}
            ),
        ),
    )
    untagged = VmInfo(vm_id("vm3"), "vm3", "eastus", {}, ())
    refused = replace(point(disk="d1", hours=4, state="failed"), error_code="QuotaExceeded")
    failing = [*group(0), refused]
    assert unprotected([VM, skipped, untagged], failing) == [
        ("vm1", "DiskFailing", "d1", "QuotaExceeded"),
        ("vm2", "AllDisksExcluded", None, None),
        ("vm3", "NoPolicy", None, None),
    ]
    assert unprotected([VM], group(0, states=("usable", "pending"))) == [
        ("vm1", "NoUsablePoint", "d1", None)
    ]


def test_a_failed_drill_makes_the_vm_a_gap():
    assert unprotected([VM], group(0), {VM.id.lower(): "contentCheck failed"}) == [
        ("vm1", "DrillFailed", None, "contentCheck failed")
    ]


def test_a_failed_drill_says_what_failed():
    at = "2026-03-02T00:00:00+00:00"
    entries = {
        "a": {"error": {"code": "OperationNotAllowed", "message": "no"}, "cleanedUp": True},
        "b": {"contentCheck": "failed", "cleanedUp": True},
        "c": {"contentCheck": "failed", "verifyScript": {"exitCode": 1}, "cleanedUp": True},
        "d": {"contentCheck": "passed", "cleanedUp": False, "leftBehind": ["disk-1"]},
        "e": {"contentCheck": "passed", "cleanedUp": True},
    }
    report = {"vms": [{"vmId": vm, "drilledAt": at, **entry} for vm, entry in entries.items()]}
    assert failed_drills(last_drills([("drill-1", report)])) == {
        "a": "drill drill-1: restore failed: OperationNotAllowed: no",
        "b": "drill drill-1: content check failed",
        "c": "drill drill-1: content check failed (verify script exit code 1)",
        "d": "drill drill-1: cleanup left resources behind: disk-1",
    }
