"""Virtual machines as far as disks are concerned: which managed disks a VM has, attaching
and detaching them (PUT, PATCH, attachDetachDataDisks), creating a VM from existing disks
(``Attach``) or with new ones (``FromImage`` OS disk, ``Empty``/``Copy`` data disks), power
state, and deletion (disks detached, or deleted when their ``deleteOption`` is ``Delete``).

Network interfaces, images and extensions are opaque: ids are stored and echoed, never
resolved. Attachments change when the request is accepted; the VM's provisioningState
shows the operation running until it ends.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

from emulator.arm import check_name, normalize_id, normalize_location, parse_resource_id
from emulator.compute.exceptions import (
    BadRequest,
    InvalidParameter,
    OperationNotAllowed,
    ResourceNotFound,
    SourceNotFound,
)
from emulator.compute.models.common import ComputeResource, new_unique_id
from emulator.compute.models.disks import Disk, parse_tags

if TYPE_CHECKING:
    from emulator.compute.models import ComputeBackend
    from emulator.lro import Operation

# Profiles stored as given and echoed back (minus secrets): they do not affect disks.
ECHOED_PROFILES = (
    "osProfile",
    "networkProfile",
    "diagnosticsProfile",
    "securityProfile",
    "additionalCapabilities",
    "availabilitySet",
    "proximityPlacementGroup",
    "licenseType",
    "priority",
    "evictionPolicy",
    "billingProfile",
    "userData",
    "capacityReservation",
    "applicationProfile",
    "scheduledEventsProfile",
    "extensionsTimeBudget",
    "host",
    "hostGroup",
    "virtualMachineScaleSet",
    "platformFaultDomain",
)
SECRET_OS_PROFILE_KEYS = ("adminPassword", "customData")

POWER_TRANSITIONS = {
    # action: (state while running the operation, state at the end, operationId)
    "start": ("starting", "running", "VirtualMachines_Start"),
    "powerOff": ("stopping", "stopped", "VirtualMachines_PowerOff"),
    "deallocate": ("deallocating", "deallocated", "VirtualMachines_Deallocate"),
    "restart": ("restarting", "running", "VirtualMachines_Restart"),
}


@dataclass(eq=False)
class DiskAttachment:
    """One managed disk in a VM's storage profile."""

    disk_id: str
    name: str
    create_option: str
    lun: int | None = None  # None for the OS disk
    caching: str = "None"
    delete_option: str = "Detach"
    write_accelerator: bool = False
    managed_disk_extra: dict[str, Any] = field(default_factory=dict)  # e.g. diskEncryptionSet
    source_resource_id: str | None = None  # the snapshot, disk or disk restore point (Copy/Restore)


@dataclass(eq=False)
class VirtualMachine(ComputeResource):
    TYPE: ClassVar[str] = "virtualMachines"

    vm_id: str = field(default_factory=new_unique_id)
    size: str = "Standard_D2s_v5"
    zones: list[str] | None = None
    os_type: str = "Linux"
    image_reference: dict[str, Any] | None = None
    os_disk: DiskAttachment | None = None
    data_disks: list[DiskAttachment] = field(default_factory=list)
    profiles: dict[str, Any] = field(default_factory=dict)
    provisioning_state: str = "Succeeded"
    power_state: str = "running"
    time_created: float = 0.0
    # A guest agent that answers (run command and application-consistent points need it).
    agent_ready: bool = True
    # Application pre/post scripts configured in the guest (Linux: the VMSnapshot extension's
    # script plugin). Without them a Linux VM's application-consistent restore point is only
    # file-system consistent (Learn "Overview of VM restore points").
    pre_post_scripts: bool = False
    generation: int = 1  # bumped on every change; the etag

    def attachments(self) -> list[DiskAttachment]:
        return ([self.os_disk] if self.os_disk else []) + sorted(
            self.data_disks, key=lambda a: a.lun or 0
        )


@dataclass
class _Plan:
    """Validated data-disk changes, applied only once the whole request is known good."""

    attach: list[tuple[DiskAttachment, Disk | None, dict[str, Any] | None]] = field(
        default_factory=list
    )  # (attachment, existing disk, or body of a disk to create)
    detach: list[DiskAttachment] = field(default_factory=list)


class VirtualMachineBackendMixin:
    """VM operations of a subscription's ``ComputeBackend``."""

    vms: dict[tuple[str, str], VirtualMachine]

    def get_vm(self: ComputeBackend, resource_group: str, name: str) -> VirtualMachine:
        self.check_group(resource_group)
        vm = self.vms.get((resource_group.lower(), name.lower()))
        if vm is None:
            raise ResourceNotFound.for_resource(
                "Microsoft.Compute/virtualMachines", name, resource_group
            )
        return vm

    def list_vms(
        self: ComputeBackend, resource_group: str | None = None, location: str | None = None
    ) -> list[VirtualMachine]:
        vms = list(self.vms.values())
        if resource_group is not None:
            self.check_group(resource_group)
            vms = [vm for vm in vms if vm.resource_group.lower() == resource_group.lower()]
        if location is not None:
            vms = [vm for vm in vms if vm.location == normalize_location(location)]
        return vms

    # --- create / update ---------------------------------------------------------------

    def begin_create_or_update_vm(
        self: ComputeBackend, resource_group: str, name: str, body: dict[str, Any]
    ) -> tuple[VirtualMachine, Operation, bool]:
        self.check_group(resource_group)
        check_name(name, kind="vm")
        existing = self.vms.get((resource_group.lower(), name.lower()))
        if existing is not None:
            location = normalize_location(body.get("location", "")) or existing.location
            self.check_name_free(resource_group, name, location, "virtualMachines")
            op = self._begin_vm_update(existing, body, "VirtualMachines_CreateOrUpdate", full=True)
            return existing, op, False
        vm = self.create_vm(resource_group, name, body)
        vm.provisioning_state = "Creating"

        def finish(when: float) -> None:
            vm.provisioning_state = "Succeeded"
            self.announce_write(vm, when)

        op = self.begin("VirtualMachines_CreateOrUpdate", vm, finish=finish)
        return vm, op, True

    def create_vm(
        self: ComputeBackend,
        resource_group: str,
        name: str,
        body: dict[str, Any],
        power_state: str = "running",
    ) -> VirtualMachine:
        """Create a VM and attach (or create) its disks at once."""
        location = normalize_location(body.get("location", ""))
        if not location:
            raise InvalidParameter(
                "The location property is required.", target="location", code="LocationRequired"
            )
        self.check_name_free(resource_group, name, location, "virtualMachines")
        props = body.get("properties") or {}
        storage = props.get("storageProfile") or {}
        os_spec = storage.get("osDisk")
        if not isinstance(os_spec, dict):
            raise InvalidParameter(
                "Required parameter 'osDisk' is missing (null).",
                target="properties.storageProfile.osDisk",
            )
        vm = VirtualMachine(
            subscription=self.subscription,
            resource_group=self.group_name(resource_group),
            name=name,
            location=location,
            tags=parse_tags(body.get("tags")) or {},
            size=(props.get("hardwareProfile") or {}).get("vmSize") or "Standard_D2s_v5",
            zones=body.get("zones"),
            image_reference=storage.get("imageReference"),
            profiles=_profiles(props),
            power_state=power_state,
            time_created=self.world.now(),
        )
        os_attachment, os_disk, os_create = self._plan_os_disk(vm, os_spec)
        plan = self._plan_data_disks(vm, storage.get("dataDisks") or [])
        # Everything validated: create the disks that are new, then attach.
        if os_create is not None:
            os_disk = self.create_disk(vm.resource_group, os_attachment.name, os_create)
        assert os_disk is not None
        vm.os_type = os_spec.get("osType") or os_disk.properties.get("osType") or "Linux"
        os_disk.properties.setdefault("osType", vm.os_type)
        self.vms[vm.key] = vm
        vm.os_disk = os_attachment
        self._attach_disk(vm, os_disk)
        self._apply(vm, plan)
        return vm

    def _plan_os_disk(
        self: ComputeBackend, vm: VirtualMachine, spec: dict[str, Any]
    ) -> tuple[DiskAttachment, Disk | None, dict[str, Any] | None]:
        option = spec.get("createOption") or ""
        attachment, managed = _requested_attachment(spec, option, None, "ReadWrite")
        target = "properties.storageProfile.osDisk"
        if option.lower() == "attach":
            disk = self._attachable_disk(vm, managed.get("id"), f"{target}.managedDisk.id")
            attachment.disk_id, attachment.name = disk.id, disk.name
            return attachment, disk, None
        if option.lower() == "fromimage":
            name = attachment.name or f"{vm.name}_OsDisk_1_{uuid.uuid4().hex}"
            attachment.name = name
            attachment.disk_id = self._disk_id(vm, name)
            self._check_new_disk_name(vm, name, target)
            create = {
                "location": vm.location,
                "sku": {"name": managed.get("storageAccountType") or "Premium_LRS"},
                "properties": {
                    "creationData": {
                        "createOption": "FromImage",
                        "imageReference": {"id": _image_id(vm.image_reference)},
                    },
                    "diskSizeGB": spec.get("diskSizeGB") or 30,
                    "osType": spec.get("osType") or _image_os_type(vm.image_reference) or "Linux",
                },
                "zones": vm.zones,
            }
            return attachment, None, create
        raise InvalidParameter(
            f"createOption '{option}' is not supported for an OS disk (use Attach or FromImage).",
            target=f"{target}.createOption",
        )

    def _plan_data_disks(
        self: ComputeBackend,
        vm: VirtualMachine,
        specs: list[dict[str, Any]],
        current: list[DiskAttachment] | None = None,
    ) -> _Plan:
        """Work out which data disks to attach and detach so the VM has ``specs``."""
        plan = _Plan()
        current = list(current or [])
        by_lun = {a.lun: a for a in current}
        seen: set[int] = set()
        for index, spec in enumerate(specs):
            target = f"properties.storageProfile.dataDisks[{index}]"
            lun = spec.get("lun")
            if isinstance(lun, bool) or not isinstance(lun, int) or not 0 <= lun <= 63:
                raise InvalidParameter("lun must be an integer 0..63.", target=f"{target}.lun")
            if lun in seen:
                raise InvalidParameter(
                    f"A disk at LUN {lun} is given more than once.", target=f"{target}.lun"
                )
            seen.add(lun)
            existing = by_lun.get(lun)
            managed = dict(spec.get("managedDisk") or {})
            if spec.get("toBeDetached"):
                if existing is not None:
                    plan.detach.append(existing)
                continue
            if existing is not None and (
                not managed.get("id")
                or normalize_id(managed["id"]) == normalize_id(existing.disk_id)
            ):
                # Unchanged disk; caching and the like may change in place.
                existing.caching = spec.get("caching") or existing.caching
                existing.delete_option = spec.get("deleteOption") or existing.delete_option
                continue
            if existing is not None:
                plan.detach.append(existing)
            plan.attach.append(self._plan_new_data_disk(vm, spec, lun, target))
        for attachment in current:
            if attachment.lun not in seen:
                plan.detach.append(attachment)
        return plan

    def _plan_new_data_disk(
        self: ComputeBackend, vm: VirtualMachine, spec: dict[str, Any], lun: int, target: str
    ) -> tuple[DiskAttachment, Disk | None, dict[str, Any] | None]:
        option = spec.get("createOption") or "Attach"
        attachment, managed = _requested_attachment(spec, option, lun, "None")
        if option.lower() == "attach":
            disk = self._attachable_disk(vm, managed.get("id"), f"{target}.managedDisk.id")
            attachment.disk_id, attachment.name = disk.id, disk.name
            return attachment, disk, None
        if option.lower() in ("empty", "copy", "restore"):
            name = attachment.name or f"{vm.name}_disk{lun + 2}_{uuid.uuid4().hex}"
            self._check_new_disk_name(vm, name, target)
            creation: dict[str, Any] = {"createOption": option.capitalize()}
            if option.lower() != "empty":
                source = (spec.get("sourceResource") or {}).get("id")
                if not source:
                    raise InvalidParameter(
                        f"sourceResource.id is required when createOption is {option}.",
                        target=f"{target}.sourceResource.id",
                    )
                creation["sourceResourceId"] = source
                attachment.source_resource_id = source
            elif not spec.get("diskSizeGB"):
                raise InvalidParameter(
                    "diskSizeGB is required for an empty data disk.",
                    target=f"{target}.diskSizeGB",
                )
            attachment.name = name
            attachment.disk_id = self._disk_id(vm, name)
            create = {
                "location": vm.location,
                "sku": {"name": managed.get("storageAccountType") or "Premium_LRS"},
                "properties": {"creationData": creation},
                "zones": vm.zones,
            }
            if spec.get("diskSizeGB"):
                create["properties"]["diskSizeGB"] = spec["diskSizeGB"]
            return attachment, None, create
        raise InvalidParameter(
            f"createOption '{option}' is not supported for a data disk.",
            target=f"{target}.createOption",
        )

    def _attachable_disk(
        self: ComputeBackend, vm: VirtualMachine, disk_id: str | None, target: str
    ) -> Disk:
        if not disk_id:
            raise InvalidParameter("managedDisk.id is required to attach a disk.", target=target)
        ref = parse_resource_id(disk_id, target=target)
        disk = self.service.find(disk_id)
        if not isinstance(disk, Disk) or disk.provisioning_state == "Deleting":
            raise SourceNotFound(ref.name)
        if disk.location != vm.location:
            raise InvalidParameter(
                f"Disk {disk.name} is in location {disk.location}; VM {vm.name} is in "
                f"{vm.location}. A disk can only be attached to a VM in its own region.",
                target=target,
            )
        if disk.managed_by and normalize_id(disk.managed_by) != normalize_id(vm.id):
            raise OperationNotAllowed(
                f"Disk {disk.name} is already attached to VM {disk.managed_by}."
            )
        if disk.sas is not None:
            raise OperationNotAllowed(
                f"Disk {disk.name} has an active SAS (export in progress) and cannot be attached."
            )
        return disk

    def _check_new_disk_name(
        self: ComputeBackend, vm: VirtualMachine, name: str, target: str
    ) -> None:
        if (vm.resource_group.lower(), name.lower()) in self.disks:
            raise BadRequest(
                f"A disk named {name} already exists in resource group {vm.resource_group}; "
                "use createOption Attach to attach it.",
                target=target,
            )

    def _disk_id(self: ComputeBackend, vm: VirtualMachine, name: str) -> str:
        return Disk(self.subscription, vm.resource_group, name, vm.location).id

    def _apply(self: ComputeBackend, vm: VirtualMachine, plan: _Plan) -> None:
        for attachment in plan.detach:
            self._detach(vm, attachment)
        for attachment, disk, create in plan.attach:
            if create is not None:
                disk = self.create_disk(vm.resource_group, attachment.name, create)
            assert disk is not None
            vm.data_disks.append(attachment)
            self._attach_disk(vm, disk)
        vm.generation += 1

    def _attach_disk(self: ComputeBackend, vm: VirtualMachine, disk: Disk) -> None:
        if disk.managed_by is None:
            disk.last_ownership_update = self.world.now()
        disk.managed_by = vm.id
        disk.reserved = vm.power_state == "deallocated"

    def _detach(self: ComputeBackend, vm: VirtualMachine, attachment: DiskAttachment) -> None:
        if attachment in vm.data_disks:
            vm.data_disks.remove(attachment)
        disk = self.service.find(attachment.disk_id)
        if (
            isinstance(disk, Disk)
            and disk.managed_by
            and normalize_id(disk.managed_by) == normalize_id(vm.id)
        ):
            disk.managed_by = None
            disk.reserved = False
            disk.last_ownership_update = self.world.now()

    def begin_update_vm(
        self: ComputeBackend, resource_group: str, name: str, patch: dict[str, Any]
    ) -> tuple[VirtualMachine, Operation]:
        vm = self.get_vm(resource_group, name)
        return vm, self._begin_vm_update(vm, patch, "VirtualMachines_Update", full=False)

    def _begin_vm_update(
        self: ComputeBackend,
        vm: VirtualMachine,
        body: dict[str, Any],
        operation_id: str,
        *,
        full: bool,
    ) -> Operation:
        """PUT (``full``: tags and data disks are replaced) or PATCH (only what is given)."""
        if vm.provisioning_state == "Deleting":
            raise OperationNotAllowed(f"VM {vm.name} is being deleted.")
        props = body.get("properties") or {}
        storage = props.get("storageProfile") or {}
        plan = None
        if "dataDisks" in storage or full:
            plan = self._plan_data_disks(vm, storage.get("dataDisks") or [], vm.data_disks)
        os_spec = storage.get("osDisk") or {}
        new_os_id = (os_spec.get("managedDisk") or {}).get("id")
        swap = None
        if vm.os_disk and new_os_id and normalize_id(new_os_id) != normalize_id(vm.os_disk.disk_id):
            if vm.power_state not in ("stopped", "deallocated"):
                raise OperationNotAllowed(
                    f"The OS disk of VM {vm.name} can only be swapped when the VM is stopped or "
                    "deallocated."
                )
            swap = self._attachable_disk(
                vm, new_os_id, "properties.storageProfile.osDisk.managedDisk.id"
            )
        tags = parse_tags(body.get("tags"))
        # Apply.
        if tags is not None or full:
            vm.tags = tags or {}
        size = (props.get("hardwareProfile") or {}).get("vmSize")
        if size:
            vm.size = size
        vm.profiles.update(_profiles(props))
        if plan is not None:
            self._apply(vm, plan)
        if swap is not None and vm.os_disk is not None:
            self._detach(vm, vm.os_disk)
            vm.os_disk = DiskAttachment(swap.id, swap.name, "Attach", caching=vm.os_disk.caching)
            self._attach_disk(vm, swap)
        vm.generation += 1
        vm.provisioning_state = "Updating"

        def finish(when: float) -> None:
            vm.provisioning_state = "Succeeded"
            self.announce_write(vm, when)

        return self.begin(operation_id, vm, finish=finish)

    def begin_attach_detach_data_disks(
        self: ComputeBackend, resource_group: str, name: str, body: dict[str, Any]
    ) -> tuple[VirtualMachine, Operation]:
        """POST attachDetachDataDisks: attach by disk id (lun chosen if absent), detach by id."""
        vm = self.get_vm(resource_group, name)
        if vm.provisioning_state == "Deleting":
            raise OperationNotAllowed(f"VM {vm.name} is being deleted.")
        specs = [
            {
                "lun": a.lun,
                "createOption": "Attach",
                "caching": a.caching,
                "deleteOption": a.delete_option,
                "managedDisk": {"id": a.disk_id},
            }
            for a in vm.data_disks
        ]
        detach_ids = set()
        for index, item in enumerate(body.get("dataDisksToDetach") or []):
            disk_id = item.get("diskId")
            if not disk_id:
                raise InvalidParameter(
                    "diskId is required.", target=f"dataDisksToDetach[{index}].diskId"
                )
            detach_ids.add(normalize_id(disk_id))
        specs = [s for s in specs if normalize_id(s["managedDisk"]["id"]) not in detach_ids]
        used = {s["lun"] for s in specs}
        for index, item in enumerate(body.get("dataDisksToAttach") or []):
            disk_id = item.get("diskId")
            if not disk_id:
                raise InvalidParameter(
                    "diskId is required.", target=f"dataDisksToAttach[{index}].diskId"
                )
            lun = item.get("lun")
            if lun is None:
                lun = next(n for n in range(64) if n not in used)
            used.add(lun)
            managed = {"id": disk_id}
            if item.get("diskEncryptionSet"):
                managed["diskEncryptionSet"] = item["diskEncryptionSet"]
            specs.append(
                {
                    "lun": lun,
                    "createOption": "Attach",
                    "caching": item.get("caching") or "None",
                    "deleteOption": item.get("deleteOption") or "Detach",
                    "writeAcceleratorEnabled": bool(item.get("writeAcceleratorEnabled")),
                    "managedDisk": managed,
                }
            )
        plan = self._plan_data_disks(vm, specs, vm.data_disks)
        self._apply(vm, plan)
        vm.provisioning_state = "Updating"

        def finish(when: float) -> dict[str, Any]:
            vm.provisioning_state = "Succeeded"
            self.announce_write(vm, when)
            return self.storage_profile_json(vm)

        op = self.begin("VirtualMachines_AttachDetachDataDisks", vm, finish=finish)
        return vm, op

    # --- power -------------------------------------------------------------------------

    def begin_power_action(
        self: ComputeBackend, resource_group: str, name: str, action: str
    ) -> Operation:
        vm = self.get_vm(resource_group, name)
        if vm.provisioning_state == "Deleting":
            raise OperationNotAllowed(f"VM {vm.name} is being deleted.")
        during, after, operation_id = POWER_TRANSITIONS[action]
        vm.power_state = during

        def finish(when: float) -> None:
            vm.power_state = after
            for attachment in vm.attachments():
                disk = self.service.find(attachment.disk_id)
                if isinstance(disk, Disk):
                    disk.reserved = after == "deallocated"
            self.announce_action(vm, action, when)

        return self.begin(operation_id, vm, finish=finish)

    # --- delete ------------------------------------------------------------------------

    def begin_delete_vm(self: ComputeBackend, resource_group: str, name: str) -> Operation | None:
        self.check_group(resource_group)
        vm = self.vms.get((resource_group.lower(), name.lower()))
        if vm is None:
            return None
        vm.provisioning_state = "Deleting"

        def finish(when: float) -> None:
            self.delete_vm_now(vm, when)

        return self.begin("VirtualMachines_Delete", vm, finish=finish)

    def delete_vm_now(self: ComputeBackend, vm: VirtualMachine, when: float) -> None:
        """Remove the VM; its disks are detached, or deleted if their deleteOption says so."""
        for attachment in vm.attachments():
            self._detach(vm, attachment)
            if attachment.delete_option == "Delete":
                disk = self.service.find(attachment.disk_id)
                if isinstance(disk, Disk) and disk.sas is None:
                    self.disks.pop(disk.key, None)
                    self.announce_delete(disk, when)
        vm.os_disk = None
        self.vms.pop(vm.key, None)
        self.announce_delete(vm, when)

    # --- serialization helper shared by the POST result and responses ------------------

    def storage_profile_json(self: ComputeBackend, vm: VirtualMachine) -> dict[str, Any]:
        profile: dict[str, Any] = {}
        if vm.image_reference:
            profile["imageReference"] = vm.image_reference
        if vm.os_disk:
            profile["osDisk"] = self._attachment_json(vm.os_disk, os_type=vm.os_type)
        profile["dataDisks"] = [
            self._attachment_json(a) for a in sorted(vm.data_disks, key=lambda a: a.lun or 0)
        ]
        return profile

    def _attachment_json(
        self: ComputeBackend, attachment: DiskAttachment, os_type: str | None = None
    ) -> dict[str, Any]:
        disk = self.service.find(attachment.disk_id)
        body: dict[str, Any] = {}
        if attachment.lun is not None:
            body["lun"] = attachment.lun
        if os_type:
            body["osType"] = os_type
        body["name"] = attachment.name
        body["createOption"] = attachment.create_option
        if attachment.source_resource_id:
            body["sourceResource"] = {"id": attachment.source_resource_id}
        body["caching"] = attachment.caching
        body["writeAcceleratorEnabled"] = attachment.write_accelerator
        managed: dict[str, Any] = {"id": attachment.disk_id}
        if isinstance(disk, Disk):
            managed["storageAccountType"] = disk.sku
            body["diskSizeGB"] = disk.size_gb
        managed.update(attachment.managed_disk_extra)
        body["managedDisk"] = managed
        body["deleteOption"] = attachment.delete_option
        if attachment.lun is not None:
            body["toBeDetached"] = False
        return body


def _requested_attachment(
    spec: dict[str, Any], option: str, lun: int | None, default_caching: str
) -> tuple[DiskAttachment, dict[str, Any]]:
    """The attachment a storage profile entry asks for (its disk id, and its name when not
    given, are filled in once the disk is known) and the entry's ``managedDisk``."""
    managed = dict(spec.get("managedDisk") or {})
    attachment = DiskAttachment(
        disk_id="",
        name=spec.get("name") or "",
        create_option=option,
        lun=lun,
        caching=spec.get("caching") or default_caching,
        delete_option=spec.get("deleteOption") or "Detach",
        write_accelerator=bool(spec.get("writeAcceleratorEnabled")),
        managed_disk_extra={
            k: v for k, v in managed.items() if k not in ("id", "storageAccountType")
        },
    )
    return attachment, managed


def _profiles(props: dict[str, Any]) -> dict[str, Any]:
    profiles = {k: props[k] for k in ECHOED_PROFILES if k in props}
    if isinstance(profiles.get("osProfile"), dict):
        profiles["osProfile"] = {
            k: v for k, v in profiles["osProfile"].items() if k not in SECRET_OS_PROFILE_KEYS
        }
        profiles["osProfile"].setdefault("secrets", [])
    return profiles


def _image_os_type(image_reference: dict[str, Any] | None) -> str | None:
    """A marketplace image names its OS: a Windows publisher, offer or sku means Windows."""
    if not image_reference:
        return None
    names = " ".join(str(image_reference.get(k) or "") for k in ("publisher", "offer", "sku"))
    return "Windows" if "windows" in names.lower() else None


def _image_id(image_reference: dict[str, Any] | None) -> str:
    """An opaque image id for the OS disk's creationData (images are not modelled)."""
    if image_reference and image_reference.get("id"):
        return str(image_reference["id"])
    reference = image_reference or {
        "publisher": "Canonical",
        "offer": "ubuntu-24_04-lts",
        "sku": "server",
        "version": "latest",
    }
    parts = [reference.get(k, "") for k in ("publisher", "offer", "sku", "version")]
    return (
        "/Subscriptions/00000000-0000-0000-0000-000000000000/Providers/Microsoft.Compute/"
        f"Locations/eastus/Publishers/{parts[0]}/ArtifactTypes/VMImage/Offers/{parts[1]}"
        f"/Skus/{parts[2]}/Versions/{parts[3]}"
    )
