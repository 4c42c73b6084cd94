"""diskdr's application service: each method is one step a trigger or activity performs.

Activities are thin: they turn their JSON input into records, call one method here, and
return its JSON result. Everything Azure-facing goes through :class:`ComputePort`; every
decision goes through the pure modules (``backup``, ``prune``, ``compliance``). Expected
Azure failures are returned as :class:`Failure` records (so one failed disk never hides
the others' results); bugs raise.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable
from dataclasses import replace
from datetime import datetime
from pathlib import Path
from typing import Any

from azure.mgmt.compute.models import CreationData

from diskdr.azure.clients import Clients
from diskdr.azure.compute import ComputePort, snapshot_resource_id
from diskdr.azure.restore_points import RestorePointPort
from diskdr.backup import (
    CopyJob,
    DiskOutcome,
    Failure,
    PointJob,
    copy_action,
)
from diskdr.errors import AzureError, ConfigError, ResourceNotFoundError, is_transient
from diskdr.inventory import VmInfo, protected_disks, vm_in_target
from diskdr.model import RecoveryPoint
from diskdr.naming import id_tag_value, parse_resource_id
from diskdr.policy import Policy, PolicySet, load_policy_file, parse_policy_text
from diskdr.prune import PrunePlan, copy_bases, plan, restore_point_leftovers
from diskdr.restore_point_steps import RestorePointSteps
from diskdr.restore_points import VmRestorePoint, deletion_unit, is_restore_point_id
from diskdr.settings import POLICY_TEXT, Settings

log = logging.getLogger(__name__)


class PolicyFile:
    """The policy file, re-read when it changes on disk (a deploy swaps it)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._stamp: tuple[float, int] | None = None
        self._policies: PolicySet | None = None

    def get(self) -> PolicySet:
        try:
            stat = self.path.stat()
        except OSError as error:
            raise ConfigError(f"DISKDR_POLICY_FILE: cannot read {self.path}: {error}") from None
        stamp = (stat.st_mtime, stat.st_size)
        with self._lock:
            if self._policies is None or stamp != self._stamp:
                self._policies = load_policy_file(self.path)
                self._stamp = stamp
            return self._policies


class PolicyText:
    """The policy deployed as an app setting (``DISKDR_POLICY_TEXT``): parsed on first use.

    Changing an app setting restarts the app, so the text never changes under a running
    process; a broken text raises the same :class:`PolicyError` (line and field) as a
    broken file, naming the setting instead of a file.
    """

    def __init__(self, text: str) -> None:
        self.text = text
        self.path = Path(POLICY_TEXT)
        self._lock = threading.Lock()
        self._policies: PolicySet | None = None

    def get(self) -> PolicySet:
        with self._lock:
            if self._policies is None:
                self._policies = parse_policy_text(self.text, POLICY_TEXT)
            return self._policies


class Service:
    """The steps of diskdr's flows, bound to one set of settings and clients."""

    def __init__(self, settings: Settings, port: ComputePort | None = None) -> None:
        self.settings = settings
        clients = Clients(settings)
        self.port = port or ComputePort(clients)
        # VM restore points (consistency vm-crash / vm-app): take, read, copy.
        self.restore_points = RestorePointSteps(RestorePointPort(clients), settings.install_id)
        self.policy_file: PolicyFile | PolicyText = (
            PolicyText(settings.policy_text)
            if settings.policy_text
            else PolicyFile(settings.policy_file)
        )

    @property
    def install_id(self) -> str:
        return self.settings.install_id

    def policies(self) -> PolicySet:
        return self.policy_file.get()

    # --- inventory ---------------------------------------------------------------------
    def vms_for_policy(
        self, policy: Policy, listed: Iterable[VmInfo] | None = None
    ) -> list[VmInfo]:
        """The VMs a policy's target selects, in every subscription in scope, with the
        disks it protects (VMs left with no disk are dropped). ``listed``: VMs already
        listed (by :meth:`all_vms`), to select from instead of listing again."""
        target = policy.target
        if listed is None:
            listed = [
                vm
                for subscription in self.settings.subscription_ids
                for vm in self.port.list_vms(subscription, target.resource_groups)
            ]
        selected = []
        for vm in listed:
            if vm_in_target(vm.id, vm.tags, target.tags, target.resource_groups):
                protected = self.protected_vm(vm, policy)
                if protected.disks:
                    selected.append(protected)
        return sorted(selected, key=lambda vm: vm.id.lower())

    def all_vms(self) -> list[VmInfo]:
        """Every VM of every subscription in scope (one listing per subscription)."""
        return [
            vm for subscription in self.settings.subscription_ids
            for vm in self.port.list_vms(subscription)
        ]  # fmt: skip

    def policy_for_vm(self, vm: VmInfo) -> Policy | None:
        """The first policy whose target selects ``vm`` (policies in file order)."""
        for policy in self.policies().policies:
            target = policy.target
            if vm_in_target(vm.id, vm.tags, target.tags, target.resource_groups):
                return policy
        return None

    def protected_vm(self, vm: VmInfo, policy: Policy) -> VmInfo:
        exclude = policy.target.exclude_disks
        disks = protected_disks(vm.disks, exclude.tags, exclude.luns)
        return VmInfo(vm.id, vm.name, vm.location, vm.tags, disks)

    # --- points ------------------------------------------------------------------------
    def take_point(self, job: PointJob) -> DiskOutcome:
        """Create (or adopt) the incremental snapshot of one disk for its slot."""
        outcome = DiskOutcome(job.disk.id, job.disk.name, job.disk.lun)
        try:
            point = self.port.create_point(
                subscription_id=job.disk.subscription_id,
                resource_group=job.resource_group,
                name=job.name,
                region=job.disk.location,
                creation=CreationData(create_option="Copy", source_resource_id=job.disk.id),
                tags=job.tags,
            )
        except AzureError as error:
            log.warning("point of %s at %s failed: %s", job.disk.id, job.slot, error)
            return replace(outcome, error=Failure.from_error(error))
        return replace(outcome, point=point)

    def point_states(self, point_ids: Iterable[str]) -> dict[str, RecoveryPoint | None]:
        """The current state of each point (None: it no longer exists), read with one
        listing per resource group shared by all its points (``ComputePort.read_points``)
        rather than a GET per point.

        The points of a group whose read failed transiently (throttled, server error) are
        left out: the caller keeps waiting for them and asks again later.
        """
        groups: dict[tuple[str, str], list[str]] = {}
        for point_id in point_ids:
            parts = parse_resource_id(point_id)
            key = (parts.subscription_id.lower(), parts.resource_group.lower())
            groups.setdefault(key, []).append(point_id)
        states: dict[str, RecoveryPoint | None] = {}
        for (subscription, group), ids in groups.items():
            try:
                states.update(self.port.read_points(subscription, group, ids))
            except AzureError as error:
                if not is_transient(error):
                    raise
                log.warning("state of %d points in %s unknown for now: %s", len(ids), group, error)
        return states

    def start_copy(self, job: CopyJob) -> dict[str, Any]:
        """Start (or adopt) the cross-region copy of one point, in Azure's order rules.

        Returns ``{"action": adopt|start|busy|superseded, "replica", "error", "note"}``.
        The caller holds the copy gate's lease for the point's disk, and passes the newest
        copy of the disk it knows of (``job.newest_copy``): at most two GETs, no listing
        (one when the disk has no copy in the region yet).
        """
        source = job.point
        newest = job.newest_copy
        try:
            if newest is None:  # the disk's first copy here: adopt or start, one GET
                return self._copy_or_adopt(job)
            existing = self.port.get_point(
                snapshot_resource_id(source.subscription_id, job.resource_group, job.name)
            )
            newest_replica = None
            if existing is None or existing.id != newest.replica_id:
                newest_replica = self.port.get_point(newest.replica_id)
            action = copy_action(source, existing, newest, newest_replica)
            if action == "adopt" and existing is not None:
                return {"action": action, "replica": existing.to_dict()}
            if action == "busy":
                return {
                    "action": action,
                    "note": f"a copy of this disk is in flight: {newest.replica_id}",
                }
            if action == "superseded":
                return {
                    "action": action,
                    "note": f"a newer point of this disk is already copied ({newest.replica_id}); "
                    "Azure copies a disk's points in creation order only",
                }
            return self._copy_or_adopt(job)
        except AzureError as error:
            log.warning("copy of %s to %s failed: %s", source.id, job.region, error)
            # diskdr.errors.is_transient decides: a copy limit (Azure's cap shared with
            # other tools, one copy per disk) waits; NameOwnedByOther, copy order and other
            # refusals that never pass are reported at once and free the copy slot.
            failure = Failure.from_error(error)
            return {"action": "start", "error": failure.to_dict()}

    def _copy_or_adopt(self, job: CopyJob) -> dict[str, Any]:
        """Send the CopyStart of ``job``, or adopt the replica of its name if it exists
        (``create_or_adopt_point``: the one GET of the name, with its ownership checks)."""
        replica, adopted = self.port.create_or_adopt_point(
            subscription_id=job.point.subscription_id,
            resource_group=job.resource_group,
            name=job.name,
            region=job.region,
            creation=CreationData(create_option="CopyStart", source_resource_id=job.point.id),
            tags=job.tags,
        )
        return {"action": "adopt" if adopted else "start", "replica": replica.to_dict()}

    # --- pruning -------------------------------------------------------------------------
    def all_points(self) -> list[RecoveryPoint]:
        return self._listing()[0]

    def _listing(self) -> tuple[list[RecoveryPoint], list[str], list[VmRestorePoint]]:
        """Our points in every subscription in scope (see :meth:`_points_in`)."""
        points: list[RecoveryPoint] = []
        broken: list[str] = []
        failed: list[VmRestorePoint] = []
        for subscription in self.settings.subscription_ids:
            found = self._points_in(subscription)
            points.extend(found[0])
            broken.extend(found[1])
            failed.extend(found[2])
        return points, broken, failed

    def _points_in(
        self, subscription: str
    ) -> tuple[list[RecoveryPoint], list[str], list[VmRestorePoint]]:
        """Our points in one subscription (snapshots and disk restore points), why
        resources with broken tags were left, and our failed restore points (they hold no
        disk restore point, so no recovery point stands for them)."""
        listing = self.port.list_points(subscription)
        restore_points = self.restore_points.listing(subscription)
        broken = [*listing.broken, *restore_points.broken]
        for message in broken:
            log.error("left alone, tags broken: %s", message)
        points = list(listing.points)
        failed = []
        for restore_point in restore_points.restore_points:
            points.extend(restore_point.points)
            if restore_point.state == "failed" and not restore_point.points:
                failed.append(restore_point)
        return points, broken, failed

    def prune_plan(self, policy_name: str, now: datetime) -> PrunePlan:
        """The prune decision; resources with our owner tag but broken tags are left alone
        and named in the plan's notes."""
        policy = self.policies().get(policy_name)
        points, broken, failed = self._listing()
        decided = plan(
            policy.name,
            points,
            policy.retention_rules(),
            policy.replica_rules(),
            now,
            self.install_id,
        )
        notes = tuple(f"left alone, tags broken: {message}" for message in broken)
        held, leftovers = restore_point_leftovers(policy.name, failed, self.install_id)
        return replace(
            decided,
            keep=decided.keep + held,
            remove=decided.remove + leftovers,
            notes=decided.notes + notes,
            copy_regions=(policy.replicate.region,) if policy.replicate else (),
        )

    def prune_recheck(self, point_ids: Iterable[str]) -> dict[str, str]:
        """Which of these primary points a copy reads now, or is the base of the next
        incremental copy, listed afresh right before they are deleted: ``{id: reason}``.

        The plan was made earlier; a copy started since (an on-demand or VM-change run, a
        catch-up cycle) may be reading one of them. Those are skipped this time, and the
        next run decides again.
        """
        wanted = set(point_ids)
        bases = copy_bases(self._listing()[0])
        return {point_id: reason for point_id, reason in bases.items() if point_id in wanted}

    def delete_point(self, point_id: str) -> dict[str, Any]:
        """Delete one of our points; ``{"id", "deleted": bool, "error"}``. A VM restore
        point (or any of its disk restore points) is deleted whole."""
        try:
            if is_restore_point_id(deletion_unit(point_id)):
                deleted = self.restore_points.port.delete(deletion_unit(point_id))
            else:
                deleted = self.port.delete_point(point_id)
        except AzureError as error:
            log.warning("delete of %s failed: %s", point_id, error)
            return {"id": point_id, "deleted": False, "error": Failure.from_error(error).to_dict()}
        return {"id": point_id, "deleted": deleted}

    # --- queries -------------------------------------------------------------------------
    def points_of_vm(self, vm_id: str) -> list[RecoveryPoint]:
        """This install's points of one VM, in every region."""
        points, _, _ = self._points_in(parse_resource_id(vm_id).subscription_id)
        wanted = id_tag_value(vm_id)
        return sorted(
            (p for p in points if p.vm_id == wanted),
            key=lambda p: (p.slot, p.role, p.region, p.disk_id),
        )

    def get_vm(self, vm_id: str) -> VmInfo | None:
        try:
            return self.port.get_vm(vm_id)
        except ResourceNotFoundError:
            return None


_service: Service | None = None
_service_lock = threading.Lock()


def get_service() -> Service:
    """The process-wide service for the current environment (created on first use)."""
    global _service
    with _service_lock:
        if _service is None:
            _service = Service(Settings.from_env())
        return _service
