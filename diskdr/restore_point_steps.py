"""The restore point steps of the backup flow: take, read, copy (one activity each).

Like :class:`diskdr.service.Service` for snapshots: each method is one idempotent step,
calling the restore point port and deciding with :mod:`diskdr.restore_points`. Expected
Azure failures come back as :class:`~diskdr.backup.Failure` records; a refusal for one of
Azure's limits also says from when the step may be tried again (``not_before``), so the
orchestrator can wait on a durable timer instead of sending a request Azure will refuse.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any

from diskdr.azure.restore_points import RestorePointListing, RestorePointPort
from diskdr.backup import Failure, copy_action
from diskdr.clock import utc_now
from diskdr.errors import AzureError, PointTagsError, ThrottledError, is_transient
from diskdr.naming import parse_resource_id
from diskdr.restore_points import (
    IN_PROGRESS_RECHECK,
    CollectionView,
    RestorePointCopyJob,
    RestorePointJob,
    RestorePointTake,
    RestorePointView,
    VmRestorePoint,
    admission,
    collection_of,
    copy_of,
    newer_copy,
    newest_listed_copy,
    to_vm_restore_point,
)

log = logging.getLogger(__name__)


class RestorePointSteps:
    """Taking, reading and copying VM restore points for one install."""

    def __init__(self, port: RestorePointPort, install_id: str) -> None:
        self.port = port
        self.install_id = install_id

    # --- take ------------------------------------------------------------------------------
    def take(self, job: RestorePointJob) -> RestorePointTake:
        """Create (or adopt) the restore point of one VM for its slot.

        The VM's collection is made if absent. A restore point of the slot's name is
        adopted unless it failed (then it is deleted and made again). Before creating,
        the VM's points in the collection are checked against Azure's limits (one create
        at a time, spacing, creates per hour): a refusal says from when a create will be
        allowed, and nothing is sent to Azure. Disks of the VM the job does not protect
        are excluded (``excludeDisks``).
        """
        vm = job.vm
        try:
            collection, points = self.port.ensure_collection(
                subscription_id=vm.subscription_id,
                resource_group=job.resource_group,
                name=job.collection_name,
                region=job.region,
                source_id=vm.id,
                tags=job.collection_tags,
            )
            mine = next((p for p in points if p.name.lower() == job.name.lower()), None)
            if mine is not None and mine.provisioning not in ("failed", "deleting"):
                log.info("adopting existing restore point %s (%s)", job.name, mine.provisioning)
                return self._taken(collection, mine.id)
            if mine is not None:
                # Deleting is only started (no activity waits on Azure): the name is free
                # once the delete's operation ends, so this take asks to be run again.
                if mine.provisioning == "failed":
                    log.warning("deleting failed restore point %s to make it again", job.name)
                    self.port.delete(mine.id)
                message = f"a failed restore point {job.name} is being deleted; made again next"
                return RestorePointTake(
                    error=Failure(message, code="FailedPointBeingDeleted", transient=True)
                )
            refusal = admission(points, job.mode, utc_now(), vm.name)
            if refusal is not None:
                log.info("restore point of %s not requested: %s", vm.id, refusal.message)
                return RestorePointTake(
                    error=Failure(refusal.message, code=refusal.code),
                    not_before=refusal.not_before,
                )
            protected = {disk.id.lower() for disk in vm.disks}
            exclude = [d for d in self.port.vm_disk_ids(vm.id) if d.lower() not in protected]
            self.port.create(collection, job.name, mode=job.mode, exclude_disk_ids=exclude)
        except ThrottledError as error:
            log.warning("restore point of %s at %s refused: %s", vm.id, job.slot, error)
            return RestorePointTake(error=Failure.from_error(error), not_before=_after(error))
        except AzureError as error:
            log.warning("restore point of %s at %s failed: %s", vm.id, job.slot, error)
            return RestorePointTake(error=Failure.from_error(error))
        return self._taken(collection, f"{collection.id}/restorePoints/{job.name}")

    def _taken(self, collection: CollectionView, restore_point_id: str) -> RestorePointTake:
        try:
            restore_point = self._record(collection, restore_point_id)
        except AzureError as error:
            return RestorePointTake(error=Failure.from_error(error))
        if restore_point is None:
            failure = Failure(f"{restore_point_id} vanished right after it was made", "NotFound")
            return RestorePointTake(error=failure)
        return RestorePointTake(restore_point=restore_point)

    def _record(self, collection: CollectionView, restore_point_id: str) -> VmRestorePoint | None:
        view = self.port.read(restore_point_id)
        if view is None:
            return None
        try:
            return to_vm_restore_point(collection, view, self.install_id)
        except PointTagsError as error:
            raise AzureError(str(error)) from error

    # --- read ------------------------------------------------------------------------------
    def state(self, restore_point_id: str) -> tuple[bool, VmRestorePoint | None]:
        """(known, restore point): its current state (None: it no longer exists), or
        ``known`` False when the read failed transiently (ask again later)."""
        try:
            found = self.port.get_collection(collection_of(restore_point_id), with_points=False)
            if found is None:
                return True, None
            return True, self._record(found[0], restore_point_id)
        except AzureError as error:
            if not is_transient(error):
                raise
            log.warning("state of %s unknown for now: %s", restore_point_id, error)
            return False, None

    # --- copy ------------------------------------------------------------------------------
    def start_copy(self, job: RestorePointCopyJob) -> dict[str, Any]:
        """Start (or adopt) the cross-region copy of one restore point, in Azure's rules.

        Returns ``{"action": adopt|start|busy|superseded, "replica", "error", "note",
        "notBefore"}``. The caller holds the copy gate's lease for the VM and passes the
        newest copy of the VM's points it knows of (``job.newest_copy``).

        What a copy came from is its ``sourceRestorePoint.id``: the source's replica is the
        target collection's point that names it (whatever its name), and the newest copy
        is the newer of the caller's and the newest copy the collection holds.
        """
        subscription = parse_resource_id(job.source_collection_id).subscription_id
        try:
            target, points = self.port.ensure_collection(
                subscription_id=subscription,
                resource_group=job.resource_group,
                name=job.collection_name,
                region=job.region,
                source_id=job.source_collection_id,
                tags=job.collection_tags,
                source_vm_id=job.vm_id,
            )
            listed = copy_of(points, job.source_id)
            named = next((p for p in points if p.name.lower() == job.name.lower()), None)
            if named is not None and listed is None:
                return {"action": "start", "error": _name_taken(job, named).to_dict()}
            existing = self._record(target, listed.id) if listed is not None else None
            newest = newer_copy(
                job.newest_copy, newest_listed_copy(points, self.install_id, job.vm_id)
            )
            newest_replica = None
            if newest is not None and (
                existing is None or existing.id.lower() != newest.replica_id.lower()
            ):
                newest_replica = self.state(newest.replica_id)[1]
            action = copy_action(job, existing, newest, newest_replica)
            if action == "adopt" and existing is not None:
                return {"action": action, "replica": existing.to_dict()}
            if action == "busy":
                return {"action": action, "note": f"a copy of this VM is in flight: {newest}"}
            if action == "superseded":
                assert newest is not None
                return {
                    "action": action,
                    "note": f"a newer restore point of this VM is already copied "
                    f"({newest.replica_id}); Azure copies a VM's restore points in creation "
                    "order only",
                }
            if existing is not None:  # a failed copy of ours: make it again
                self.port.delete(existing.id)
            self.port.copy(target, job.name, job.source_id)
            replica = self._record(target, f"{target.id}/restorePoints/{job.name}")
        except ThrottledError as error:
            log.warning("copy of %s to %s refused: %s", job.source_id, job.region, error)
            return {
                "action": "start",
                "error": Failure.from_error(error).to_dict(),
                "notBefore": _after(error).isoformat(),
            }
        except AzureError as error:
            log.warning("copy of %s to %s failed: %s", job.source_id, job.region, error)
            return {"action": "start", "error": Failure.from_error(error).to_dict()}
        if replica is None:
            failure = Failure(f"the copy of {job.source_id} vanished right away", "NotFound")
            return {"action": "start", "error": failure.to_dict()}
        return {"action": "start", "replica": replica.to_dict()}

    # --- listing ---------------------------------------------------------------------------
    def listing(self, subscription_id: str) -> RestorePointListing:
        return self.port.list_restore_points(subscription_id)


def _name_taken(job: RestorePointCopyJob, named: RestorePointView) -> Failure:
    """The copy's name is held by a copy of another restore point: left alone."""
    return Failure(
        f"{named.id} is a copy of {named.source_restore_point_id}, not of {job.source_id}; "
        "left alone",
        code="CopyNameTaken",
    )


def _after(error: ThrottledError) -> datetime:
    """When Azure said the refused request may be sent again (a minute if it did not)."""
    wait = error.retry_after
    seconds = wait if wait is not None else IN_PROGRESS_RECHECK.total_seconds()
    return utc_now() + timedelta(seconds=seconds)
