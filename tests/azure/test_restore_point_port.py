"""diskdr's restore point port and steps against the emulator, through the real
azure-mgmt-compute client: collections per VM and install, idempotent takes, one instant
for every disk, excluded disks, Azure's limits checked before asking, failed leftovers,
cross-region copies, listing by the collection's owner tag, deletes as a unit."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from diskdr import clock
from diskdr.azure.clients import Clients
from diskdr.azure.compute import ComputePort
from diskdr.azure.restore_points import RestorePointPort
from diskdr.backup import PolicyRef
from diskdr.errors import ConflictError
from diskdr.inventory import VmInfo
from diskdr.naming import TAG_OWNER, collection_name, group_id, id_tag_value, restore_point_name
from diskdr.prune import copy_bases
from diskdr.restore_point_steps import RestorePointSteps
from diskdr.restore_points import (
    FILE_SYSTEM_CONSISTENT_NOTE,
    LIMIT_MARGIN,
    RestorePointTake,
    disk_outcomes,
    restore_point_copy_job,
    restore_point_job,
)
from emulator import EmulatorServer
from tests.support import emulator_settings, poll

SUB = "00000000-0000-0000-0000-000000000001"
RG = f"/subscriptions/{SUB}/resourceGroups/rg-app"
VM = f"{RG}/providers/Microsoft.Compute/virtualMachines/vm1"
SLOT = datetime(2026, 11, 25, 4, 0, tzinfo=UTC)
INSTALL = "rp-port-test"
CRASH = PolicyRef("gold", "vm-crash", replica_region="westus2", replica_resource_group="rg-dr")
APP = PolicyRef("gold", "vm-app")


@pytest.fixture
def env(emulator, monkeypatch):
    """A fresh estate (vm1: OS disk and two data disks), the steps of this install, and the
    app's clock set to the emulator's world clock."""
    monkeypatch.setattr(clock, "_default", emulator.clock)
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
                            "vms": [
                                {
                                    "name": "vm1",
                                    "osDisk": {"sizeGB": 32, "sku": "Premium_LRS"},
                                    "dataDisks": [
                                        {"lun": 0, "sizeGB": 64, "sku": "Premium_LRS"},
                                        {"lun": 1, "sizeGB": 64, "sku": "StandardSSD_LRS"},
                                    ],
                                }
                            ],
                        },
                        {"name": "rg-dr", "location": "westus2"},
                    ],
                }
            ]
        }
    )
    return Env(emulator)


def usable(state):
    known, restore_point = state
    return restore_point if known and restore_point and restore_point.state == "usable" else None


def settled(env, restore_point_id):
    """The restore point once it is usable or failed, read as the orchestration does (the
    take only starts Azure's operation)."""

    def read():
        known, restore_point = env.steps.state(restore_point_id)
        return restore_point if known and restore_point and restore_point.settled else None

    return poll(read, what=f"{restore_point_id} settled")


class Env:
    def __init__(self, emulator: EmulatorServer, install: str = INSTALL) -> None:
        self.emulator = emulator
        clients = Clients(emulator_settings(emulator, install, SUB))
        self.install = install
        self.port = RestorePointPort(clients)
        self.steps = RestorePointSteps(self.port, install)
        self.compute = clients.compute(SUB)
        (self.vm,) = ComputePort(clients).list_vms(SUB)

    @property
    def control(self):
        return self.emulator.control

    def protected(self) -> VmInfo:
        """vm1 with its OS disk and lun 0 (lun 1 is excluded by the policy)."""
        disks = tuple(d for d in self.vm.disks if d.lun != 1)
        return VmInfo(self.vm.id, self.vm.name, self.vm.location, self.vm.tags, disks)

    def take(self, slot: datetime = SLOT, policy: PolicyRef = CRASH) -> RestorePointTake:
        return self.steps.take(restore_point_job(self.protected(), slot, policy, self.install))

    def creates(self) -> int:
        return self.control.stats()["requests"].get("RestorePoints_Create", 0)

    def violations(self) -> list[str]:
        return [v["limit"] for v in self.control.stats()["limitViolations"]]


def test_take_makes_the_collection_and_one_point_of_every_protected_disk(env):
    disks = {d.lun: d.id for d in env.vm.disks}
    before = {d: env.control.content(d)["digest"] for d in disks.values()}
    take = env.take()
    # The take only starts Azure's operation (it never polls it). The create lasts 20 world
    # seconds (33 ms at this time scale): under load it may end before the take reads it.
    assert take.error is None and take.restore_point.state in ("creating", "usable")
    assert env.control.stats()["requests"].get("Operations_GetStatus", 0) == 0
    point = settled(env, take.restore_point.id)
    assert point.state == "usable"
    assert point.slot == SLOT and point.group == group_id(INSTALL, VM, SLOT)
    assert point.consistency == "crash-multi" and point.role == "primary"
    assert point.owner == INSTALL and point.policy == "gold"
    # The policy's excluded disk (lun 1) is not in the restore point.
    captured = {p.disk_id: p for p in point.points}
    assert set(captured) == {id_tag_value(disks[None]), id_tag_value(disks[0])}
    uids = {id_tag_value(d.id): d.unique_id.lower() for d in env.vm.disks}
    instants = set()
    for disk_tag, disk_point in captured.items():
        assert disk_point.disk_uid == uids[disk_tag] and disk_point.state == "usable"
        assert disk_point.group == point.group and disk_point.created_at == point.created_at
        content = env.control.content(disk_point.id)
        assert content["consistencyMode"] == "CrashConsistent"
        assert content["digest"] == before[content["sourceDiskId"]]
        instants.add(content["capturedAt"])
    assert len(instants) == 1
    collection = env.compute.restore_point_collections.get("rg-app", collection_name(VM, INSTALL))
    assert collection.source.id.lower() == VM.lower()
    assert collection.tags == {
        TAG_OWNER: INSTALL,
        "diskdr-policy": "gold",
        "diskdr-vm": id_tag_value(VM),
        "diskdr-role": "primary",
    }


def test_take_is_idempotent_and_a_second_slot_waits_for_azures_spacing(env):
    first = settled(env, env.take().restore_point.id)
    again = env.take().restore_point
    assert again == first and env.creates() == 1
    later = env.take(SLOT + timedelta(hours=1))
    # Only minutes of world time passed: Azure would refuse a second crash-consistent
    # point within the hour, so nothing is asked and the take says from when it may be.
    assert later.restore_point is None and later.error.code == "RestorePointTooSoon"
    assert later.not_before == first.created_at + timedelta(hours=1) + LIMIT_MARGIN
    assert later.retry_later and env.creates() == 1
    # Application-consistent points have their own spacing.
    env.control.set_guest(VM, prePostScripts=True)  # else Linux points are file-system ones
    app = settled(env, env.take(SLOT + timedelta(hours=1), APP).restore_point.id)
    assert app.state == "usable" and app.consistency == "app"
    assert app.consistency_mode == "ApplicationConsistent"
    assert env.violations() == []


def test_a_file_system_consistent_point_is_the_policys_point_with_a_note(env):
    """vm1 runs Linux without application pre/post scripts: Azure answers an
    ApplicationConsistent request with a FileSystemConsistent point (Learn)."""
    taken = env.take(policy=APP)
    point = settled(env, taken.restore_point.id)
    assert point.state == "usable" and point.consistency_mode == "FileSystemConsistent"
    assert point.consistency == "crash-multi"  # all disks at one instant, apps not quiesced
    outcomes = disk_outcomes(env.protected(), point, final=True)
    assert all(o.usable and o.error is None for o in outcomes)
    assert {o.note for o in outcomes} == {FILE_SYSTEM_CONSISTENT_NOTE}
    assert "FileSystemConsistent" in outcomes[0].to_dict()["note"]
    # It is the slot's point: taking again adopts it, and the next application-consistent
    # point waits for Azure's 3-hour spacing (the relabelled point counts).
    assert env.steps.take(restore_point_job(env.protected(), SLOT, APP, INSTALL)).restore_point
    later = env.take(SLOT + timedelta(hours=1), APP)
    assert later.error.code == "RestorePointTooSoon"
    assert later.not_before == point.created_at + timedelta(hours=3) + LIMIT_MARGIN
    assert env.creates() == 1 and env.violations() == []
    # The listing (prune, compliance, reports) holds it as this install's usable group.
    (listed,) = env.steps.listing(SUB).restore_points
    assert listed.id == point.id and listed.state == "usable" and listed.slot == SLOT


def test_a_failed_point_is_deleted_and_made_again(env):
    job = restore_point_job(env.protected(), SLOT, APP, INSTALL)
    env.control.set_guest(VM, agentReady=False)
    taken = env.steps.take(job)
    # Azure accepts the create and fails its operation: the point reads failed.
    assert taken.error is None
    assert settled(env, taken.restore_point.id).state == "failed"
    env.control.set_guest(VM, agentReady=True)
    # The next take deletes the failed leftover and asks to be run again once it is gone.
    again = env.steps.take(job)
    assert again.error.code == "FailedPointBeingDeleted" and again.retry_later

    def remade():
        take = env.steps.take(job)
        return take.restore_point if take.error is None else None

    remade_point = settled(env, poll(remade, what="made again").id)
    assert remade_point.state == "usable" and remade_point.name == job.name


def test_a_collection_of_another_install_is_left_alone(env):
    job = restore_point_job(env.protected(), SLOT, CRASH, INSTALL)
    env.compute.restore_point_collections.create_or_update(
        "rg-app",
        job.collection_name,
        {
            "location": "eastus",
            "tags": {TAG_OWNER: "someone-else"},
            "properties": {"source": {"id": VM}},
        },
    )
    take = env.steps.take(job)
    assert take.error.code == "NameOwnedByOther" and take.restore_point is None
    assert env.creates() == 0


def test_a_429_from_azure_says_when_to_ask_again(env):
    # Another tool's points of the VM fill Azure's three creates per hour: diskdr cannot
    # see them in its own collection, Azure refuses, and the take says when to ask again.
    env.control.config(limits={"restorePointsPerVmPerHour": 1})
    env.compute.restore_point_collections.create_or_update(
        "rg-app", "other-tool", {"location": "eastus", "properties": {"source": {"id": VM}}}
    )
    env.compute.restore_points.begin_create(
        "rg-app", "other-tool", "theirs", {"properties": {"consistencyMode": "CrashConsistent"}}
    ).result()
    now = env.emulator.clock.now()
    take = env.take()
    assert take.error.status == 429 and take.retry_later
    assert now < take.not_before <= now + timedelta(hours=1, minutes=1)
    assert env.creates() == 2  # one refusal, not retried by the SDK


def test_copy_state_listing_and_delete(env):
    primary = settled(env, env.take().restore_point.id)
    job = restore_point_copy_job(VM, primary.points, CRASH, INSTALL)
    started = env.steps.start_copy(job)
    assert started["action"] == "start" and not started.get("error")
    replica_id = started["replica"]["id"]
    assert "/resourceGroups/rg-dr/" in replica_id
    # The copy's data crosses regions after the create (world time runs 600 times faster).
    replica = poll(lambda: usable(env.steps.state(replica_id)), what="the copy to complete")
    assert replica.role == "replica" and replica.region == "westus2"
    assert replica.slot == SLOT and replica.group == primary.group
    assert replica.source_id == id_tag_value(primary.id)
    # Azure's copied disk points name the source disk (sourceResourceId) and no source disk
    # point: read alone, the copy knows its source restore point, and each disk's.
    assert {p.disk_id for p in replica.points} == {p.disk_id for p in primary.points}
    assert {p.source_id for p in replica.points} == {None}
    # A re-run adopts the copy.
    assert env.steps.start_copy(job)["action"] == "adopt"

    # Listing: ours, by the collections' owner tag; a stranger's collection is not read and
    # a point of a name diskdr never gives, in our collection, is reported and left alone.
    env.control.config(limits={"appConsistentSpacingSeconds": 1})
    env.compute.restore_point_collections.create_or_update(
        "rg-app", "theirs", {"location": "eastus", "properties": {"source": {"id": VM}}}
    )
    env.compute.restore_points.begin_create(
        "rg-app", "theirs", "rp1", {"properties": {"consistencyMode": "ApplicationConsistent"}}
    ).result()
    env.compute.restore_points.begin_create(
        "rg-app", collection_name(VM, INSTALL), "hand-made", {"properties": {}}
    ).result()
    listing = env.steps.listing(SUB)
    assert sorted(p.id for p in listing.restore_points) == sorted([primary.id, replica.id])
    assert len(listing.broken) == 1 and "hand-made" in listing.broken[0]
    listed = {p.id: p for p in listing.restore_points}
    assert listed[primary.id].points == primary.points
    # Listed with its source, each copied disk point is linked (through sourceRestorePoint)
    # to its source disk point: the base of the next copy, which pruning keeps.
    linked = {p.disk_id: p.source_id for p in listed[replica.id].points}
    assert linked == {p.disk_id: id_tag_value(p.id) for p in primary.points}
    assert copy_bases([*primary.points, *listed[replica.id].points]) == {
        p.id: "copy-base" for p in primary.points
    }

    # Deletes: whole restore points, only in our collections, never while on hold.
    with pytest.raises(ConflictError) as refused:
        env.port.delete(
            f"{RG}/providers/Microsoft.Compute/restorePointCollections/theirs/restorePoints/rp1"
        )
    assert refused.value.code == "NotOwned"
    env.compute.restore_point_collections.update(
        "rg-dr", job.collection_name, {"tags": {**job.collection_tags, "diskdr-hold": "audit"}}
    )
    with pytest.raises(ConflictError) as held:
        env.port.delete(replica.id)
    assert held.value.code == "PointOnHold"
    assert env.port.delete(primary.id) is True  # accepted; Azure deletes it meanwhile
    poll(lambda: env.steps.state(primary.id) == (True, None), what="restore point gone")
    assert env.port.delete(primary.id) is False


def test_copies_are_known_by_their_source_restore_point_not_their_name(env):
    """The replica of a point is the replica collection's point whose sourceRestorePoint
    names it, and the newest copy is read from the collection's copies: a copy started
    under another name is not copied twice, and a lost record of the newest copy does not
    make diskdr ask Azure for an out-of-order copy."""
    env.control.config(limits={"crashConsistentSpacingSeconds": 1})
    first = settled(env, env.take().restore_point.id)
    collection = collection_name(VM, INSTALL)
    second_slot = SLOT + timedelta(hours=1)
    env.compute.restore_points.begin_create(
        "rg-app",
        collection,
        restore_point_name(INSTALL, VM, second_slot),
        {"properties": {"consistencyMode": "CrashConsistent"}},
    ).result()
    second = settled(
        env, f"{first.id.rsplit('/', 1)[0]}/{restore_point_name(INSTALL, VM, second_slot)}"
    )
    assert second.slot == second_slot and second.created_at > first.created_at
    later = restore_point_copy_job(VM, second.points, CRASH, INSTALL)
    assert env.steps.start_copy(later)["action"] == "start"
    copies = env.control.stats()["requests"]["RestorePoints_Create"]
    # The copy of the first point, with no record of the newest copy (newest_copy None):
    # the collection shows a copy of a newer point, so it is superseded, not requested.
    earlier = restore_point_copy_job(VM, first.points, CRASH, INSTALL)
    assert earlier.newest_copy is None
    skipped = env.steps.start_copy(earlier)
    assert skipped["action"] == "superseded" and "creation order" in skipped["note"]
    # The later point's copy is found by its source, whatever the job's name says.
    renamed = replace(later, name="copy-under-another-name")
    adopted = env.steps.start_copy(renamed)
    assert adopted["action"] == "adopt"
    assert adopted["replica"]["sourceId"] == id_tag_value(second.id)
    # A name held by a copy of another point is left alone.
    refused = env.steps.start_copy(replace(earlier, name=later.name))
    assert (
        refused["error"]["code"] == "CopyNameTaken" and "left alone" in refused["error"]["message"]
    )
    assert env.control.stats()["requests"]["RestorePoints_Create"] == copies
    assert "restorePointCopyOrder" not in env.violations()


def test_another_policys_run_never_rewrites_the_collections_policy(env):
    # Issue #8, hole 6: an on-demand run naming policy "silver" used to re-tag the
    # collection, so silver's pruning came to judge gold's whole restore-point history.
    first = settled(env, env.take().restore_point.id)
    silver = PolicyRef(
        "silver", "vm-crash", replica_region="westus2", replica_resource_group="rg-dr"
    )
    env.take(SLOT + timedelta(hours=2), policy=silver)
    collection = env.compute.restore_point_collections.get("rg-app", collection_name(VM, INSTALL))
    assert collection.tags["diskdr-policy"] == "gold"
    known, again = env.steps.state(first.id)
    assert known and again is not None and again.policy == "gold"
