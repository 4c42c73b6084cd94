"""VM restore points as recovery points: identity from the collection and the name, state,
Azure's limits, copy order, disk outcomes, and pruning a restore point as a unit."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from diskdr.backup import Failure, NewestCopy, PolicyRef, copy_action
from diskdr.errors import PointTagsError
from diskdr.inventory import DiskInfo, VmInfo
from diskdr.naming import collection_name, group_id, id_tag_value, restore_point_name
from diskdr.prune import plan, restore_point_leftovers
from diskdr.restore_points import (
    FILE_SYSTEM_CONSISTENT_NOTE,
    LIMIT_MARGIN,
    CollectionView,
    DiskRestorePointView,
    RestorePointView,
    VmRestorePoint,
    admission,
    collection_of,
    collection_tags,
    copy_of,
    copy_window,
    deletion_unit,
    disk_outcomes,
    link_copies,
    newer_copy,
    newest_listed_copy,
    restore_point_copy_job,
    restore_point_job,
    restore_point_of,
    slot_of_name,
    to_vm_restore_point,
    with_copy,
)
from diskdr.retention import RetentionRules

SUB = "00000000-0000-0000-0000-000000000001"
RG = f"/subscriptions/{SUB}/resourceGroups/rg-app/providers/Microsoft.Compute"
DR = f"/subscriptions/{SUB}/resourceGroups/rg-dr/providers/Microsoft.Compute"
VM = f"{RG}/virtualMachines/vm-web-1"
INSTALL = "install-a"
SLOT = datetime(2026, 11, 25, 4, 0, tzinfo=UTC)
CRASH = PolicyRef("gold", "vm-crash", replica_region="westus2", replica_resource_group="rg-dr")
DISKS = (
    DiskInfo(f"{RG}/disks/vm-web-1-osdisk", "vm-web-1-osdisk", "eastus", "Premium_LRS", 32, "U0"),
    DiskInfo(
        f"{RG}/disks/vm-web-1-data-0", "vm-web-1-data-0", "eastus", "Premium_LRS", 64, "U1", 0
    ),
)
MACHINE = VmInfo(VM, "vm-web-1", "eastus", {}, DISKS)


def collection(role: str = "primary", install: str = INSTALL, **tags: str) -> CollectionView:
    if role == "primary":
        cid = f"{RG}/restorePointCollections/{collection_name(VM, install)}"
        source, base = VM, collection_tags(install, "gold", VM, "primary")
    else:
        cid = f"{DR}/restorePointCollections/{collection_name(VM, install, 'replica')}"
        source = f"{RG}/restorePointCollections/{collection_name(VM, install)}"
        base = collection_tags(install, "gold", VM, "replica", source=source)
    region = "eastus" if role == "primary" else "westus2"
    return CollectionView(cid, cid.rsplit("/", 1)[1], region, source, {**base, **tags})


def view(
    slot: datetime = SLOT,
    role: str = "primary",
    provisioning: str = "Succeeded",
    mode: str = "CrashConsistent",
    disks: tuple[DiskRestorePointView, ...] | None = None,
    name: str | None = None,
    disk_count: int = len(DISKS),
    created: datetime | None = None,
) -> RestorePointView:
    owner = collection(role)
    name = name or restore_point_name(INSTALL, VM, slot, role)  # type: ignore[arg-type]
    rp_id = f"{owner.id}/restorePoints/{name}"
    if disks is None:
        disks = tuple(
            DiskRestorePointView(f"{rp_id}/diskRestorePoints/{d.name}_x", d.id, d.unique_id)
            for d in DISKS[:disk_count]
        )
    return RestorePointView(
        rp_id,
        name,
        provisioning,
        mode,
        created or slot + timedelta(seconds=40),
        source_point(slot) if role == "replica" else None,
        disks,
    )


def source_point(slot: datetime = SLOT) -> str:
    """The primary restore point of ``slot``: the source a replica's view names."""
    return f"{collection('primary').id}/restorePoints/{restore_point_name(INSTALL, VM, slot)}"


def record(**kwargs) -> VmRestorePoint:
    role = kwargs.get("role", "primary")
    result = to_vm_restore_point(collection(role), view(**kwargs), INSTALL)
    assert result is not None
    return result


# --- identity --------------------------------------------------------------------------------
def test_slot_and_group_come_from_the_deterministic_name():
    point = record()
    assert point.slot == SLOT and point.group == group_id(INSTALL, VM, SLOT)
    assert point.vm_id == id_tag_value(VM) and point.consistency == "crash-multi"
    assert [p.disk_id for p in point.points] == [id_tag_value(d.id) for d in DISKS]
    assert [p.disk_uid for p in point.points] == ["u0", "u1"]
    for disk_point in point.points:
        assert (disk_point.group, disk_point.slot, disk_point.role) == (
            point.group,
            SLOT,
            "primary",
        )
        assert disk_point.consistency == "crash-multi" and disk_point.policy == "gold"
        assert restore_point_of(disk_point.id) == point.id
        assert deletion_unit(disk_point.id) == point.id
    assert collection_of(point.id) == collection().id
    assert slot_of_name(point.name, INSTALL, VM, "primary") == SLOT
    assert slot_of_name(point.name, "install-b", VM, "primary") is None
    assert slot_of_name(point.name, INSTALL, VM, "replica") is None


def test_application_consistency_and_replicas():
    assert record(mode="ApplicationConsistent").consistency == "app"
    # Azure's label for Linux points without scripts: no more than crash-consistent claimed.
    assert record(mode="FileSystemConsistent").consistency == "crash-multi"
    replica = record(role="replica")
    assert replica.role == "replica" and replica.region == "westus2"
    assert replica.source_id == id_tag_value(source_point()) and replica.slot == SLOT
    # Azure may answer the id without its leading slash: the same source.
    bare = replace(view(role="replica"), source_restore_point_id=source_point().lstrip("/"))
    assert to_vm_restore_point(collection("replica"), bare, INSTALL) == replica


def test_not_ours_is_none_and_ours_but_unreadable_raises():
    assert to_vm_restore_point(collection(install="install-b"), view(), INSTALL) is None
    with pytest.raises(PointTagsError, match="not the one diskdr gives"):
        to_vm_restore_point(collection(), view(name="hand-made"), INSTALL)
    other_slot_name = restore_point_name("install-b", VM, SLOT)
    with pytest.raises(PointTagsError):
        to_vm_restore_point(collection(), view(name=other_slot_name), INSTALL)
    broken = replace(collection(), tags={"diskdr-owner": INSTALL, "diskdr-role": "primary"})
    with pytest.raises(PointTagsError, match="diskdr-policy: missing"):
        to_vm_restore_point(broken, view(), INSTALL)


def test_a_hold_on_the_collection_holds_every_point():
    held = to_vm_restore_point(collection(**{"DiskDR-Hold": "legal"}), view(), INSTALL)
    assert held is not None and held.hold and all(p.hold for p in held.points)


# --- state -----------------------------------------------------------------------------------
def disk(state: dict) -> DiskRestorePointView:
    return DiskRestorePointView(f"{RG}/x/diskRestorePoints/d", DISKS[0].id, "u0", **state)


@pytest.mark.parametrize(
    ("provisioning", "fields", "expected"),
    [
        ("Creating", {}, "creating"),
        ("Failed", {}, "failed"),
        ("Succeeded", {}, "usable"),
        ("Succeeded", {"replication": "inprogress", "completion_percent": 40.0}, "pending"),
        ("Succeeded", {"replication": "failed"}, "failed"),
        ("Succeeded", {"replication": "succeeded", "completion_percent": 100.0}, "usable"),
        ("Succeeded", {"access_state": "Pending"}, "pending"),
        ("Succeeded", {"access_state": "InstantAccess"}, "usable"),
    ],
)
def test_disk_restore_point_states(provisioning, fields, expected):
    point = record(provisioning=provisioning, disks=(disk(fields),))
    assert point.points[0].state == expected
    assert point.state == expected


def test_a_restore_point_is_usable_only_when_every_disk_is():
    point = record(disks=(disk({}), disk({"access_state": "Pending"})))
    assert point.state == "pending"
    assert record(disks=()).state == "failed"


# --- limits ------------------------------------------------------------------------------------
def existing(minutes_ago: float, mode="CrashConsistent", provisioning="Succeeded", copy=False):
    now = SLOT
    return RestorePointView(
        f"rp-{minutes_ago}",
        f"rp-{minutes_ago}",
        provisioning,
        mode,
        now - timedelta(minutes=minutes_ago),
        "src" if copy else None,
    )


def test_admission_one_at_a_time_spacing_and_hourly_creates():
    assert admission([], "CrashConsistent", SLOT) is None
    busy = admission([existing(1, provisioning="Creating")], "CrashConsistent", SLOT)
    assert busy.code == "RestorePointInProgress" and busy.not_before > SLOT
    soon = admission([existing(50)], "CrashConsistent", SLOT)
    assert soon.code == "RestorePointTooSoon"
    assert soon.not_before == SLOT + timedelta(minutes=10) + LIMIT_MARGIN
    assert admission([existing(61)], "CrashConsistent", SLOT) is None
    # Per mode: an app-consistent point 50 minutes ago does not hold a crash one back,
    # but app-consistent points need three hours.
    assert admission([existing(50, "ApplicationConsistent")], "CrashConsistent", SLOT) is None
    assert admission([existing(170, "ApplicationConsistent")], "ApplicationConsistent", SLOT)
    # Copies are not creations; failed creates count towards the hourly three.
    assert admission([existing(5, copy=True)], "CrashConsistent", SLOT) is None
    failed = [existing(m, provisioning="Failed") for m in (10, 20, 30)]
    limited = admission(failed, "CrashConsistent", SLOT)
    assert limited.code == "RestorePointRateLimited"
    assert limited.not_before == SLOT + timedelta(minutes=30) + LIMIT_MARGIN
    assert admission(failed[:2], "CrashConsistent", SLOT) is None


def test_admission_counts_file_system_consistent_points_as_application_consistent():
    # A Linux VM without pre/post scripts: Azure answers FileSystemConsistent to an
    # ApplicationConsistent request, and its 3-hour spacing still applies.
    relabelled = existing(170, "FileSystemConsistent")
    soon = admission([relabelled], "ApplicationConsistent", SLOT)
    assert soon is not None and soon.code == "RestorePointTooSoon"
    assert admission([relabelled], "CrashConsistent", SLOT) is None
    assert admission([existing(181, "FileSystemConsistent")], "ApplicationConsistent", SLOT) is None


def test_copy_window_three_per_hour():
    starts = [SLOT - timedelta(minutes=m) for m in (50, 20, 5)]
    assert copy_window(starts[1:], SLOT) is None
    assert copy_window(starts, SLOT) == SLOT + timedelta(minutes=10) + LIMIT_MARGIN
    assert copy_window([SLOT - timedelta(minutes=61), *starts[1:]], SLOT) is None


# --- jobs, copy order ----------------------------------------------------------------------------
def test_jobs_are_deterministic():
    job = restore_point_job(MACHINE, SLOT, CRASH, INSTALL)
    assert job.mode == "CrashConsistent" and job.consistency == "crash-multi"
    assert job.name == restore_point_name(INSTALL, VM, SLOT) and job.resource_group == "rg-app"
    assert job.collection_name == collection_name(VM, INSTALL) and job.region == "eastus"
    assert job.collection_tags["diskdr-owner"] == INSTALL
    assert restore_point_job(MACHINE, SLOT, PolicyRef("p", "vm-app"), INSTALL).mode == (
        "ApplicationConsistent"
    )
    source = record()
    copy = restore_point_copy_job(VM, source.points, CRASH, INSTALL)
    assert copy.source_id == source.id and copy.source_collection_id == collection().id
    assert copy.name == restore_point_name(INSTALL, VM, SLOT, "replica")
    assert copy.collection_tags["diskdr-source"] == id_tag_value(collection().id)
    assert (copy.region, copy.resource_group) == ("westus2", "rg-dr")


def test_copy_action_follows_creation_order():
    source = record()
    job = restore_point_copy_job(VM, source.points, CRASH, INSTALL)
    assert copy_action(job, None, None, None) == "start"
    own = record(role="replica")
    assert copy_action(job, own, None, None) == "adopt"
    assert copy_action(job, replace(own, state="failed"), None, None) == "start"
    later = record(role="replica", slot=SLOT + timedelta(hours=1))
    newer = NewestCopy(later.id, later.slot, later.created_at)
    assert copy_action(job, None, newer, later) == "superseded"
    older = record(role="replica", slot=SLOT - timedelta(hours=1))
    older_copy = NewestCopy(older.id, older.slot, older.created_at)
    in_flight = replace(older, state="pending")
    assert copy_action(job, None, older_copy, in_flight) == "busy"
    assert copy_action(job, None, older_copy, older) == "start"
    assert copy_action(job, None, older_copy, None) == "start"


def test_disk_outcomes_of_a_restore_point():
    point = record()
    outcomes = disk_outcomes(MACHINE, point)
    assert [o.usable for o in outcomes] == [True, True] and all(o.error is None for o in outcomes)
    # A protected disk missing from the point, a failed point, an error before any point.
    only_os = record(disk_count=1)
    missing = disk_outcomes(MACHINE, only_os)[1]
    assert missing.point is None and missing.error.code == "DiskNotInRestorePoint"
    failed = record(provisioning="Failed", disks=())
    assert {o.error.code for o in disk_outcomes(MACHINE, failed)} == {"RestorePointFailed"}
    refused = Failure("too soon", code="RestorePointTooSoon")
    assert {o.error.code for o in disk_outcomes(MACHINE, None, refused)} == {"RestorePointTooSoon"}
    assert {o.error.code for o in disk_outcomes(MACHINE, None)} == {"NotFound"}
    # Still pending: fine while waiting, a missed deadline once the waiting is over.
    pending = record(disks=(disk({"access_state": "Pending"}),))
    assert disk_outcomes(MACHINE, pending)[0].error is None
    assert disk_outcomes(MACHINE, pending, final=True)[0].error.code == "DeadlineExceeded"
    creating = record(provisioning="Creating", disks=())
    assert [o.error for o in disk_outcomes(MACHINE, creating)] == [None, None]
    assert {o.error.code for o in disk_outcomes(MACHINE, creating, final=True)} == {
        "DeadlineExceeded"
    }


def test_a_file_system_consistent_point_is_noted_on_each_disk_and_kept_through_the_copy():
    relabelled = record(mode="FileSystemConsistent")
    assert relabelled.consistency_mode == "FileSystemConsistent"
    outcomes = disk_outcomes(MACHINE, relabelled)
    assert [o.usable for o in outcomes] == [True, True]
    assert {o.note for o in outcomes} == {FILE_SYSTEM_CONSISTENT_NOTE}
    assert {o.note for o in disk_outcomes(MACHINE, record(mode="ApplicationConsistent"))} == {None}
    copied = with_copy(outcomes, {"replica": record(role="replica").to_dict()})
    assert {o.note for o in copied} == {FILE_SYSTEM_CONSISTENT_NOTE}
    assert VmRestorePoint.from_dict(relabelled.to_dict()) == relabelled


def test_with_copy_gives_each_disk_its_replica():
    outcomes = disk_outcomes(MACHINE, record())
    replica = record(role="replica")
    copied = with_copy(outcomes, {"replica": replica.to_dict(), "error": None, "note": None})
    assert [o.replica.id for o in copied] == [p.id for p in replica.points]
    assert all(o.replicated for o in copied)
    skipped = with_copy(outcomes, {"replica": None, "note": "superseded"})
    assert [o.replica_note for o in skipped] == ["superseded", "superseded"]
    failure = Failure("refused", code="OperationNotAllowed").to_dict()
    failed = with_copy(outcomes, {"replica": None, "error": failure})
    assert {o.replica_error.code for o in failed} == {"OperationNotAllowed"}


# --- copies and their sources -----------------------------------------------------------------
def test_a_copys_disk_points_are_linked_to_their_sources_through_source_restore_point():
    primaries = [record(slot=SLOT + timedelta(hours=h)) for h in range(2)]
    # Azure names no source disk point (or one of another restore point: not believed).
    stray = f"{primaries[0].id}/diskRestorePoints/elsewhere"
    replica_view = replace(
        view(slot=SLOT + timedelta(hours=1), role="replica"),
        disks=tuple(replace(d, source_id=stray) for d in view().disks),
    )
    replica = to_vm_restore_point(collection("replica"), replica_view, INSTALL)
    assert replica is not None and {p.source_id for p in replica.points} == {None}
    linked = {rp.id: rp for rp in link_copies([*primaries, replica])}
    assert linked[primaries[0].id] == primaries[0]
    sources = {p.disk_id: p.source_id for p in linked[replica.id].points}
    assert sources == {p.disk_id: id_tag_value(p.id) for p in primaries[1].points}
    # Without its source in the listing, a copy keeps what Azure said.
    assert link_copies([replica]) == [replica]


def test_copies_are_found_by_source_and_the_newest_by_creation():
    first, second = source_point(SLOT), source_point(SLOT + timedelta(hours=1))
    copies = [
        view(slot=SLOT, role="replica"),
        replace(view(slot=SLOT + timedelta(hours=1), role="replica"), name="other-name"),
        replace(view(slot=SLOT, role="replica"), name="failed-copy", provisioning_state="Failed"),
    ]
    assert copy_of(copies, first.lower()) == copies[0]  # not the failed one
    assert copy_of(copies, second.lstrip("/")).name == "other-name"
    assert copy_of(copies[2:], first) == copies[2]
    assert copy_of(copies, source_point(SLOT + timedelta(hours=5))) is None
    newest = newest_listed_copy(copies, INSTALL, VM)
    assert newest is not None and newest.replica_id == copies[1].id
    assert newest.created_at == copies[1].created_at
    named = newest_listed_copy(copies[:1], INSTALL, VM)
    assert named is not None and named.slot == SLOT  # read from diskdr's name when it is one
    assert newest_listed_copy(copies[2:], INSTALL, VM) is None
    assert newer_copy(named, newest) == newest == newer_copy(newest, named)
    assert newer_copy(None, named) == named and newer_copy(None, None) is None


# --- pruning -------------------------------------------------------------------------------------
def test_pruning_removes_restore_points_whole():
    now = SLOT + timedelta(hours=10)
    points = []
    for hours in range(4):
        restore_point = record(slot=SLOT + timedelta(hours=hours))
        points.extend(restore_point.points)
    # The data disk left the VM (or the policy): the two newest points hold the OS disk only.
    newest_os_only = []
    for hours in (4, 5):
        newest_os_only.extend(record(slot=SLOT + timedelta(hours=hours), disk_count=1).points)
    decided = plan("gold", points + newest_os_only, RetentionRules(last=2), None, now, INSTALL)
    kept_units = {item.unit for item in decided.keep}
    removed_units = {item.unit for item in decided.remove}
    assert not kept_units & removed_units, "a restore point is never split"
    assert all(item.unit for item in (*decided.keep, *decided.remove))
    # The newest point holding the data disk stays whole, for the data disk's sake.
    newest_with_data = restore_point_of(points[-1].id)
    kept = [item for item in decided.keep if item.unit == newest_with_data]
    assert len(kept) == 2 and {item.reasons for item in kept} == {("newest-usable",)}
    assert len(removed_units) == 3


def test_failed_leftovers_are_removed():
    failed = record(provisioning="Failed", disks=())
    held, items = restore_point_leftovers("gold", [failed, record()], INSTALL)
    assert held == ()
    assert [(i.id, i.unit, i.state) for i in items] == [(failed.id, failed.id, "failed")]
    assert restore_point_leftovers("silver", [failed], INSTALL) == ((), ())


def test_copy_bases_keep_the_newest_replicated_and_the_one_being_copied():
    now = SLOT + timedelta(hours=10)
    primaries = [record(slot=SLOT + timedelta(hours=h)) for h in range(4)]
    replicated = to_vm_restore_point(
        collection("replica"),
        replace(
            view(slot=SLOT + timedelta(hours=1), role="replica"),
            disks=tuple(
                replace(d, source_id=p.id)
                for d, p in zip(view().disks, primaries[1].points, strict=True)
            ),
        ),
        INSTALL,
    )
    in_flight = to_vm_restore_point(
        collection("replica"),
        replace(
            view(slot=SLOT + timedelta(hours=2), role="replica"),
            disks=tuple(
                replace(d, source_id=p.id, replication="inprogress", completion_percent=10.0)
                for d, p in zip(view().disks, primaries[2].points, strict=True)
            ),
        ),
        INSTALL,
    )
    points = [p for rp in (*primaries, replicated, in_flight) for p in rp.points]
    decided = plan("gold", points, RetentionRules(last=1), RetentionRules(last=5), now, INSTALL)
    kept = {item.unit: item.reasons for item in decided.keep if item.role == "primary"}
    assert set(kept) == {primaries[1].id, primaries[2].id, primaries[3].id}
    assert "last" in kept[primaries[3].id]
    assert kept[primaries[2].id] == ("copy-reading",)  # a copy is reading it
    assert kept[primaries[1].id] == ("copy-base",)  # the newest point already copied
    assert {item.unit for item in decided.remove} == {primaries[0].id}


def test_a_held_failed_restore_point_is_kept_not_planned_for_removal():
    # Hole 7: it used to be planned for removal on every run, refused, reported as failed.
    held = to_vm_restore_point(
        collection("primary", **{"diskdr-hold": "audit"}),
        view(provisioning="Failed", disks=()),
        INSTALL,
    )
    assert held is not None and held.hold
    keep, remove = restore_point_leftovers("gold", [held], INSTALL)
    assert remove == () and [(i.id, i.reasons) for i in keep] == [(held.id, ("hold",))]
