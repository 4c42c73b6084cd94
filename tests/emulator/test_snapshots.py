"""Snapshots, cross-region copies and their platform limits, via the real SDK client."""

from __future__ import annotations

import pytest
from azure.core.exceptions import HttpResponseError, ResourceExistsError, ResourceNotFoundError

from tests.emulator.support import disk_body, wait_until


def snapshot_of(source_id: str, incremental: bool = True, location: str = "eastus", **extra):
    creation = {"createOption": "Copy", "sourceResourceId": source_id, **extra}
    return {
        "location": location,
        "properties": {"creationData": creation, "incremental": incremental},
    }


def copy_of(source_id: str, location: str = "westus2", **extra):
    return {
        "location": location,
        "properties": {
            "creationData": {"createOption": "CopyStart", "sourceResourceId": source_id, **extra},
            "incremental": True,
        },
    }


@pytest.fixture
def disk(compute, group):
    return compute.disks.begin_create_or_update(group, "d1", disk_body(64, "Premium_LRS")).result()


def test_incremental_snapshot_properties(compute, control, group, disk):
    control.write(disk.id, blocks=4)
    snap = compute.snapshots.begin_create_or_update(group, "s1", snapshot_of(disk.id)).result()
    p = snap.properties
    assert p.incremental is True
    assert snap.sku.name == "Standard_LRS"  # always Standard HDD, whatever the disk
    assert p.creation_data.source_resource_id == disk.id
    assert p.creation_data.source_unique_id == disk.properties.unique_id
    assert p.incremental_snapshot_family_id
    assert p.provisioning_state == "Succeeded"
    assert p.snapshot_access_state == "Available"
    assert p.completion_percent is None
    assert p.disk_size_gb == 64 and p.time_created is not None
    assert p.disk_state == "Unattached"
    second = compute.snapshots.begin_create_or_update(group, "s2", snapshot_of(disk.id)).result()
    assert second.properties.incremental_snapshot_family_id == p.incremental_snapshot_family_id
    assert second.properties.unique_id != p.unique_id


def test_full_snapshot_keeps_requested_sku(compute, group, disk):
    body = snapshot_of(disk.id, incremental=False)
    body["sku"] = {"name": "Premium_LRS"}
    snap = compute.snapshots.begin_create_or_update(group, "full", body).result()
    assert snap.properties.incremental is False
    assert snap.sku.name == "Premium_LRS"
    assert snap.properties.incremental_snapshot_family_id is None


def test_recreated_disk_is_a_new_family(compute, group, disk):
    first = compute.snapshots.begin_create_or_update(group, "s1", snapshot_of(disk.id)).result()
    compute.disks.begin_delete(group, "d1").result()
    compute.disks.begin_create_or_update(group, "d1", disk_body()).result()
    second = compute.snapshots.begin_create_or_update(group, "s2", snapshot_of(disk.id)).result()
    assert (
        second.properties.incremental_snapshot_family_id
        != first.properties.incremental_snapshot_family_id
    )
    assert second.properties.creation_data.source_unique_id != (
        first.properties.creation_data.source_unique_id
    )


def test_snapshot_captures_content_at_its_instant(compute, control, group, disk):
    control.write(disk.id, blocks=3)
    before = control.content(disk.id)["digest"]
    snap = compute.snapshots.begin_create_or_update(group, "s1", snapshot_of(disk.id)).result()
    control.write(disk.id, blocks=3)
    assert control.content(snap.id)["digest"] == before
    assert control.content(disk.id)["digest"] != before


def test_tags_patch_and_delete(compute, group, disk):
    compute.snapshots.begin_create_or_update(group, "s1", snapshot_of(disk.id)).result()
    snap = compute.snapshots.begin_update(group, "s1", {"tags": {"diskdr-owner": "x"}}).result()
    assert snap.tags == {"diskdr-owner": "x"}
    assert compute.snapshots.get(group, "s1").tags == {"diskdr-owner": "x"}
    compute.snapshots.begin_delete(group, "s1").result()
    with pytest.raises(ResourceNotFoundError):
        compute.snapshots.get(group, "s1")


def test_list_snapshots_pages(compute, group, disk, control):
    control.config(limits={"snapshotsPerDiskPerWindow": 100})
    for i in range(5):
        compute.snapshots.begin_create_or_update(group, f"s{i}", snapshot_of(disk.id)).result()
    assert [s.name for s in compute.snapshots.list_by_resource_group(group)] == [
        f"s{i}" for i in range(5)
    ]
    assert len(list(compute.snapshots.list())) == 5


def test_snapshot_export_access(compute, group, disk):
    compute.snapshots.begin_create_or_update(group, "s1", snapshot_of(disk.id)).result()
    access = compute.snapshots.begin_grant_access(
        group, "s1", {"access": "Read", "durationInSeconds": 600}
    ).result()
    assert access.access_sas
    assert compute.snapshots.get(group, "s1").properties.disk_state == "ActiveSAS"
    compute.snapshots.begin_revoke_access(group, "s1").result()
    assert compute.snapshots.get(group, "s1").properties.disk_state == "Unattached"


# --- Premium SSD v2 / Ultra background copy -----------------------------------------------


def test_premium_v2_snapshot_is_pending_until_background_copy_ends(compute, control, group):
    control.config(backgroundCopy={"baseSeconds": 300, "bytesPerSecond": 100 * 1024 * 1024})
    disk = compute.disks.begin_create_or_update(
        group, "pv2", disk_body(128, "PremiumV2_LRS")
    ).result()
    control.write(disk.id, blocks=10)
    snap = compute.snapshots.begin_create_or_update(group, "s", snapshot_of(disk.id)).result()
    assert snap.properties.snapshot_access_state == "Pending"
    assert 0 <= snap.properties.completion_percent < 100
    with pytest.raises(ResourceExistsError) as info:  # not usable until the copy ends
        compute.disks.begin_create_or_update(
            group,
            "restored",
            {
                "location": "eastus",
                "properties": {
                    "creationData": {"createOption": "Copy", "sourceResourceId": snap.id}
                },
            },
        ).result()
    assert info.value.error.code == "OperationNotAllowed"
    done = wait_until(
        lambda: (
            (s := compute.snapshots.get(group, "s")).properties.snapshot_access_state == "Available"
            and s
        )
    )
    assert done.properties.completion_percent == 100


def test_premium_v2_full_snapshot_is_refused(compute, group):
    disk = compute.disks.begin_create_or_update(
        group, "pv2", disk_body(64, "PremiumV2_LRS")
    ).result()
    with pytest.raises(HttpResponseError) as info:
        compute.snapshots.begin_create_or_update(
            group, "s", snapshot_of(disk.id, incremental=False)
        ).result()
    assert info.value.status_code == 400


def test_instant_access_snapshot(compute, control, group):
    """InstantAccess until the background copy ends, AvailableWithInstantAccess until instant
    access lapses, then Available. The copy ends about a real second after the create, and
    instant access lapses 120 world minutes (12 real seconds) after it: the test follows
    the states in order rather than expect one at a given instant (a loaded machine may
    answer the create after the copy ended)."""
    control.config(backgroundCopy={"baseSeconds": 60, "bytesPerSecond": 100 * 1024 * 1024})
    disk = compute.disks.begin_create_or_update(
        group, "ultra", disk_body(64, "UltraSSD_LRS")
    ).result()
    snap = compute.snapshots.begin_create_or_update(
        group, "s", snapshot_of(disk.id, instantAccessDurationMinutes=120)
    ).result()
    seen = [snap.properties.snapshot_access_state]

    def available() -> bool:
        state = compute.snapshots.get(group, "s").properties.snapshot_access_state
        if state != seen[-1]:
            seen.append(state)
        return state == "Available"

    wait_until(available, timeout=90)
    assert seen in (
        ["InstantAccess", "AvailableWithInstantAccess", "Available"],
        ["AvailableWithInstantAccess", "Available"],
    ), seen


# --- limits -----------------------------------------------------------------------------


def test_incremental_limit_leaves_a_failed_snapshot(compute, control, group, disk):
    control.config(limits={"incrementalSnapshotsPerDisk": 3, "snapshotsPerDiskPerWindow": 100})
    for i in range(3):
        compute.snapshots.begin_create_or_update(group, f"s{i}", snapshot_of(disk.id)).result()
    with pytest.raises(HttpResponseError) as info:
        compute.snapshots.begin_create_or_update(group, "s3", snapshot_of(disk.id)).result()
    assert info.value.error.code == "SnapshotsLimitReached"
    left = compute.snapshots.get(group, "s3")
    assert left.properties.provisioning_state == "Failed"
    violation = control.stats()["limitViolations"][-1]
    assert violation["limit"] == "incrementalSnapshotsPerDisk"
    assert violation["code"] == "SnapshotsLimitReached"
    assert violation["resource"] == disk.id and violation["time"]
    # Cleaning up the failed one and an old one makes room again.
    compute.snapshots.begin_delete(group, "s3").result()
    compute.snapshots.begin_delete(group, "s0").result()
    ok = compute.snapshots.begin_create_or_update(group, "s4", snapshot_of(disk.id)).result()
    assert ok.properties.provisioning_state == "Succeeded"


def test_incremental_limit_default_is_500(control):
    assert control.config()["limits"]["incrementalSnapshotsPerDisk"] == 500
    assert control.config()["limits"]["snapshotsPerDiskPerWindow"] == 7
    assert control.config()["limits"]["copiesInFlightPerRegion"] == 100


def test_seven_per_disk_per_five_minutes(compute, control, group, disk):
    # 7 incremental snapshots per disk per window. The window is first one world day (144 s
    # real at scale 600), so that eight creates surely fall in it however loaded the
    # machine: a window as short as Azure's 5 minutes (0.5 s real) would be a race.
    control.config(limits={"snapshotWindowSeconds": 86400})
    for i in range(7):
        compute.snapshots.begin_create_or_update(group, f"s{i}", snapshot_of(disk.id)).result()
    with pytest.raises(ResourceExistsError) as info:
        compute.snapshots.begin_create_or_update(group, "s7", snapshot_of(disk.id)).result()
    assert info.value.status_code == 409
    assert info.value.error.code == "OperationNotAllowed"
    with pytest.raises(ResourceNotFoundError):
        compute.snapshots.get(group, "s7")  # refused outright, nothing left behind
    assert control.stats()["limitViolations"][-1]["limit"] == "snapshotsPerDiskPerWindow"

    # The window slides: with Azure's 5 minutes, the first creates are soon older than it,
    # and a create is accepted again.
    control.config(limits={"snapshotWindowSeconds": 300})

    def accepted():
        try:
            compute.snapshots.begin_create_or_update(group, "s7", snapshot_of(disk.id)).result()
        except ResourceExistsError:
            return False
        return True

    wait_until(accepted, timeout=30, interval=0.05)
    # Full snapshots are not rate limited.
    compute.snapshots.begin_create_or_update(
        group, "full", snapshot_of(disk.id, incremental=False)
    ).result()


# --- cross-region copy ------------------------------------------------------------------


def test_copy_start_progress_and_completion(compute, control, group, disk):
    control.config(copy={"baseSeconds": 600, "bytesPerSecond": 4 * 1024 * 1024})
    control.write(disk.id, blocks=20)
    source = compute.snapshots.begin_create_or_update(group, "s1", snapshot_of(disk.id)).result()
    target = compute.snapshots.begin_create_or_update(group, "s1-copy", copy_of(source.id)).result()
    p = target.properties
    assert target.location == "westus2"
    assert p.provisioning_state == "Succeeded"  # the LRO ended; the copy has not
    assert p.incremental is True and target.sku.name == "Standard_LRS"
    assert p.creation_data.create_option == "CopyStart"
    assert p.creation_data.source_unique_id == source.properties.unique_id
    assert p.incremental_snapshot_family_id == source.properties.incremental_snapshot_family_id
    assert p.snapshot_access_state == "Pending"
    assert 0 <= p.completion_percent < 100
    assert control.stats()["copiesInFlight"] == {f"{target.id.split('/')[2]}/westus2": 1}
    seen = []

    def finished():
        current = compute.snapshots.get(group, "s1-copy").properties
        seen.append(current.completion_percent)
        return current.completion_percent == 100

    wait_until(finished)
    assert seen == sorted(seen) and len(set(seen)) > 1  # it grew
    assert compute.snapshots.get(group, "s1-copy").properties.snapshot_access_state == "Available"
    assert control.content(target.id)["digest"] == control.content(source.id)["digest"]
    stats = control.stats()
    assert stats["peakCopies"][f"{target.id.split('/')[2]}/westus2"] == 1
    assert stats["copiesInFlight"] == {}


def test_copy_duration_is_proportional_to_changed_data(compute, control, group, disk):
    control.config(
        copy={"baseSeconds": 0, "bytesPerSecond": 4 * 1024 * 1024},
        limits={"snapshotsPerDiskPerWindow": 100},
    )
    control.write(disk.id, blocks=50)
    s1 = compute.snapshots.begin_create_or_update(group, "s1", snapshot_of(disk.id)).result()
    c1 = compute.snapshots.begin_create_or_update(group, "c1", copy_of(s1.id)).result()
    wait_until(lambda: compute.snapshots.get(group, "c1").properties.completion_percent == 100)
    control.write(disk.id, blocks=2)
    s2 = compute.snapshots.begin_create_or_update(group, "s2", snapshot_of(disk.id)).result()
    c2 = compute.snapshots.begin_create_or_update(group, "c2", copy_of(s2.id)).result()
    # The first copy sends every written block; the second only what changed since s1,
    # which is already in the target region.
    assert control.content(c1.id)["changedBlocks"] == 50
    assert control.content(s2.id)["changedBlocks"] == 2
    assert control.content(c2.id)["changedBlocks"] == 2
    wait_until(lambda: compute.snapshots.get(group, "c2").properties.completion_percent == 100)
    assert control.content(c2.id)["digest"] == control.content(s2.id)["digest"]


def test_copy_of_full_snapshot_is_refused(compute, group, disk):
    full = compute.snapshots.begin_create_or_update(
        group, "full", snapshot_of(disk.id, incremental=False)
    ).result()
    with pytest.raises(HttpResponseError) as info:
        compute.snapshots.begin_create_or_update(group, "c", copy_of(full.id)).result()
    assert info.value.status_code == 400
    assert info.value.error.target == "properties.creationData.sourceResourceId"


def test_one_copy_per_disk_at_a_time(compute, control, group, disk):
    control.config(copy={"baseSeconds": 3000, "bytesPerSecond": 1024**3})
    s1 = compute.snapshots.begin_create_or_update(group, "s1", snapshot_of(disk.id)).result()
    s2 = compute.snapshots.begin_create_or_update(group, "s2", snapshot_of(disk.id)).result()
    compute.snapshots.begin_create_or_update(group, "c1", copy_of(s1.id)).result()
    with pytest.raises(ResourceExistsError) as info:
        compute.snapshots.begin_create_or_update(group, "c2", copy_of(s2.id)).result()
    assert info.value.error.code == "OperationNotAllowed"
    assert control.stats()["limitViolations"][-1]["limit"] == "oneCopyPerDisk"


def test_copies_go_in_creation_order(compute, control, group, disk):
    s1 = compute.snapshots.begin_create_or_update(group, "s1", snapshot_of(disk.id)).result()
    s2 = compute.snapshots.begin_create_or_update(group, "s2", snapshot_of(disk.id)).result()
    compute.snapshots.begin_create_or_update(group, "c2", copy_of(s2.id)).result()
    wait_until(lambda: compute.snapshots.get(group, "c2").properties.completion_percent == 100)
    with pytest.raises(ResourceExistsError) as info:
        compute.snapshots.begin_create_or_update(group, "c1", copy_of(s1.id)).result()
    assert info.value.error.code == "OperationNotAllowed"
    assert control.stats()["limitViolations"][-1]["limit"] == "copyInCreationOrder"


def test_copies_in_flight_per_region_limit(compute, control, group):
    control.config(
        limits={"copiesInFlightPerRegion": 2},
        copy={"baseSeconds": 3000, "bytesPerSecond": 1024**3},
    )
    sources = []
    for i in range(3):
        disk = compute.disks.begin_create_or_update(group, f"d{i}", disk_body()).result()
        sources.append(
            compute.snapshots.begin_create_or_update(group, f"s{i}", snapshot_of(disk.id)).result()
        )
    compute.snapshots.begin_create_or_update(group, "c0", copy_of(sources[0].id)).result()
    compute.snapshots.begin_create_or_update(group, "c1", copy_of(sources[1].id)).result()
    with pytest.raises(ResourceExistsError) as info:
        compute.snapshots.begin_create_or_update(group, "c2", copy_of(sources[2].id)).result()
    assert info.value.error.code == "OperationNotAllowed"
    # Another target region has its own allowance.
    compute.snapshots.begin_create_or_update(
        group, "c2-central", copy_of(sources[2].id, location="centralus")
    ).result()
    stats = control.stats()
    sub = sources[0].id.split("/")[2]
    assert stats["peakCopies"] == {f"{sub}/westus2": 2, f"{sub}/centralus": 1}
    assert stats["limitViolations"][-1]["limit"] == "copiesInFlightPerRegion"


def test_deleting_the_source_fails_the_copy(compute, control, group, disk):
    control.config(copy={"baseSeconds": 3000, "bytesPerSecond": 1024**3})
    source = compute.snapshots.begin_create_or_update(group, "s1", snapshot_of(disk.id)).result()
    compute.snapshots.begin_create_or_update(group, "c1", copy_of(source.id)).result()
    compute.snapshots.begin_delete(group, "s1").result()
    copy = compute.snapshots.get(group, "c1")
    assert copy.properties.copy_completion_error.error_code == "CopySourceNotFound"
    assert copy.properties.copy_completion_error.error_message
    assert copy.properties.completion_percent < 100
    assert control.stats()["limitViolations"][-1]["limit"] == "copySourceDeleted"
    with pytest.raises(ResourceExistsError):
        compute.disks.begin_create_or_update(
            group,
            "from-failed",
            {
                "location": "westus2",
                "properties": {
                    "creationData": {"createOption": "Copy", "sourceResourceId": copy.id}
                },
            },
        ).result()


def test_disk_from_cross_region_copy_has_the_digest_at_the_snapshot_instant(
    compute, control, group, disk
):
    control.write(disk.id, blocks=12)
    source = compute.snapshots.begin_create_or_update(group, "s1", snapshot_of(disk.id)).result()
    at_snapshot = control.content(disk.id)["digest"]
    control.write(disk.id, blocks=12)  # later guest writes must not leak into the copy
    compute.snapshots.begin_create_or_update(group, "c1", copy_of(source.id)).result()
    control.write(disk.id, blocks=12)
    wait_until(lambda: compute.snapshots.get(group, "c1").properties.completion_percent == 100)
    copy = compute.snapshots.get(group, "c1")
    restored = compute.disks.begin_create_or_update(
        group,
        "restored-west",
        {
            "location": "westus2",
            "properties": {"creationData": {"createOption": "Copy", "sourceResourceId": copy.id}},
        },
    ).result()
    assert control.content(restored.id)["digest"] == at_snapshot
    assert control.content(disk.id)["digest"] != at_snapshot


def test_points_per_disk_in_stats(compute, control, group, disk):
    compute.snapshots.begin_create_or_update(group, "s1", snapshot_of(disk.id)).result()
    compute.snapshots.begin_create_or_update(group, "s2", snapshot_of(disk.id)).result()
    points = control.stats()["pointsPerDisk"]
    assert points == {disk.id.lower(): 2}


def test_premium_v2_disks_have_at_most_three_snapshots_in_background_copy(compute, control, group):
    """Learn "Create an incremental snapshot for managed disks" (Premium SSD v2 and Ultra):
    at most three snapshots of a disk may be in their background copy; the fourth is
    refused at once (409), and allowed again once one completes."""
    control.config(backgroundCopy={"baseSeconds": 36000, "bytesPerSecond": 2**30})
    disk = compute.disks.begin_create_or_update(
        group, "v2", disk_body(sku="PremiumV2_LRS")
    ).result()
    body = {
        "location": "eastus",
        "properties": {
            "creationData": {"createOption": "Copy", "sourceResourceId": disk.id},
            "incremental": True,
        },
    }
    for n in range(3):
        compute.snapshots.begin_create_or_update(group, f"s{n}", body).result()
    with pytest.raises(HttpResponseError) as refused:
        compute.snapshots.begin_create_or_update(group, "s3", body).result()
    assert refused.value.status_code == 409
    assert refused.value.error.code == "OperationNotAllowed"
    assert [v["limit"] for v in control.stats()["limitViolations"]] == ["pendingSnapshotsPerDisk"]


def test_no_snapshot_of_a_premium_v2_disk_while_it_hydrates(compute, control, group):
    """A Premium SSD v2 disk made from a snapshot fills in the background (completionPercent
    below 100: Learn "Create an incremental snapshot for managed disks"); no snapshot of it
    until that ends (Learn "Instant access snapshots", limitations): 409 OperationNotAllowed,
    nothing created. A disk of another type, or an empty one, never hydrates."""
    control.config(backgroundCopy={"baseSeconds": 0, "bytesPerSecond": 2**40})
    source = compute.disks.begin_create_or_update(
        group, "v2", disk_body(sku="PremiumV2_LRS")
    ).result()
    assert source.properties.completion_percent is None  # empty: nothing to hydrate
    control.write(source.id, blocks=8)
    snap = compute.snapshots.begin_create_or_update(group, "s", snapshot_of(source.id)).result()
    wait_until(
        lambda: compute.snapshots.get(group, "s").properties.snapshot_access_state == "Available"
    )
    control.config(backgroundCopy={"baseSeconds": 1800, "bytesPerSecond": 2**30})
    restored_body = disk_body(sku="PremiumV2_LRS")
    restored_body["properties"]["creationData"] = {
        "createOption": "Copy",
        "sourceResourceId": snap.id,
    }
    restored = compute.disks.begin_create_or_update(group, "restored", restored_body).result()
    assert 0 <= restored.properties.completion_percent < 100
    assert control.content(restored.id)["digest"] == control.content(snap.id)["digest"]
    with pytest.raises(ResourceExistsError) as refused:
        compute.snapshots.begin_create_or_update(group, "r1", snapshot_of(restored.id)).result()
    assert refused.value.status_code == 409
    assert refused.value.error.code == "OperationNotAllowed"
    assert "hydrated" in refused.value.error.message and "Retry" in refused.value.error.message
    with pytest.raises(ResourceNotFoundError):
        compute.snapshots.get(group, "r1")
    assert [v["limit"] for v in control.stats()["limitViolations"]] == ["snapshotWhileHydrating"]
    # A Premium SSD disk from the same snapshot does not hydrate, and can be snapshotted.
    premium_body = disk_body(sku="Premium_LRS")
    premium_body["properties"]["creationData"] = restored_body["properties"]["creationData"]
    premium = compute.disks.begin_create_or_update(group, "premium", premium_body).result()
    assert premium.properties.completion_percent is None
    compute.snapshots.begin_create_or_update(group, "p1", snapshot_of(premium.id)).result()
    # Once the background copy ends (30 world minutes: 3 s at scale 600) the disk is 100%.
    done = wait_until(
        lambda: compute.disks.get(group, "restored").properties.completion_percent == 100,
        timeout=60,
    )
    assert done
    compute.snapshots.begin_create_or_update(group, "r1", snapshot_of(restored.id)).result()
