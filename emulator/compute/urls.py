"""Routes of Microsoft.Compute: path regex → handler, with the spec's operationIds.

To add a resource type, append its routes to ``ROUTES`` (or to a router after
``install``); the operationId names it in ``GET /_emulator/stats``.
"""

from __future__ import annotations

from emulator import lro
from emulator.compute import responses as r
from emulator.compute import restore_point_responses as rp
from emulator.compute import run_command_responses as rc

# DiskRP (disks, snapshots, disk restore points): azure-mgmt-compute 39 sends 2026-03-02;
# the stored spec is 2025-01-02; older clients send the rest.
DISK_API_VERSIONS = (
    "2026-03-02",
    "2025-01-02",
    "2024-03-02",
    "2023-10-02",
    "2023-04-02",
    "2023-01-02",
    "2022-07-02",
    "2022-03-02",
    "2021-12-01",
    "2021-08-01",
    "2021-04-01",
    "2020-12-01",
)
# ComputeRP (virtual machines, restore points, run command): the SDK sends 2026-04-01.
COMPUTE_API_VERSIONS = (
    "2026-04-01",
    "2025-04-01",
    "2024-11-01",
    "2024-07-01",
    "2024-03-01",
    "2023-09-01",
    "2023-07-01",
    "2023-03-01",
    "2022-11-01",
    "2022-08-01",
    "2022-03-01",
    "2021-11-01",
)
ANY_COMPUTE_API_VERSION = tuple(dict.fromkeys(DISK_API_VERSIONS + COMPUTE_API_VERSIONS))

SUB = r"/subscriptions/(?P<subscription>[^/]+)"
GROUP = SUB + r"/resourceGroups/(?P<group>[^/]+)"
PROVIDER = "/providers/Microsoft.Compute"
DISK = GROUP + PROVIDER + r"/disks/(?P<disk>[^/]+)"
SNAPSHOT = GROUP + PROVIDER + r"/snapshots/(?P<snapshot>[^/]+)"
VM = GROUP + PROVIDER + r"/virtualMachines/(?P<vm>[^/]+)"
LOCATION = SUB + PROVIDER + r"/locations/(?P<location>[^/]+)"
COLLECTION = GROUP + PROVIDER + r"/restorePointCollections/(?P<collection>[^/]+)"
POINT = COLLECTION + r"/restorePoints/(?P<point>[^/]+)"
DISK_POINT = POINT + r"/diskRestorePoints/(?P<disk_point>[^/]+)"

D, C, ANY = DISK_API_VERSIONS, COMPUTE_API_VERSIONS, ANY_COMPUTE_API_VERSION

ROUTES = [
    # disks
    ("GET", SUB + PROVIDER + "/disks", "Disks_List", D, r.list_disks),
    ("GET", GROUP + PROVIDER + "/disks", "Disks_ListByResourceGroup", D, r.list_disks),
    ("GET", DISK, "Disks_Get", D, r.get_disk),
    ("PUT", DISK, "Disks_CreateOrUpdate", D, r.put_disk),
    ("PATCH", DISK, "Disks_Update", D, r.patch_disk),
    ("DELETE", DISK, "Disks_Delete", D, r.delete_disk),
    ("POST", DISK + "/beginGetAccess", "Disks_GrantAccess", D, r.grant_disk_access),
    ("POST", DISK + "/endGetAccess", "Disks_RevokeAccess", D, r.revoke_disk_access),
    # snapshots
    ("GET", SUB + PROVIDER + "/snapshots", "Snapshots_List", D, r.list_snapshots),
    ("GET", GROUP + PROVIDER + "/snapshots", "Snapshots_ListByResourceGroup", D, r.list_snapshots),
    ("GET", SNAPSHOT, "Snapshots_Get", D, r.get_snapshot),
    ("PUT", SNAPSHOT, "Snapshots_CreateOrUpdate", D, r.put_snapshot),
    ("PATCH", SNAPSHOT, "Snapshots_Update", D, r.patch_snapshot),
    ("DELETE", SNAPSHOT, "Snapshots_Delete", D, r.delete_snapshot),
    ("POST", SNAPSHOT + "/beginGetAccess", "Snapshots_GrantAccess", D, r.grant_snapshot_access),
    ("POST", SNAPSHOT + "/endGetAccess", "Snapshots_RevokeAccess", D, r.revoke_snapshot_access),
    # virtual machines
    ("GET", SUB + PROVIDER + "/virtualMachines", "VirtualMachines_ListAll", C, r.list_vms),
    ("GET", GROUP + PROVIDER + "/virtualMachines", "VirtualMachines_List", C, r.list_vms),
    ("GET", LOCATION + "/virtualMachines", "VirtualMachines_ListByLocation", C, r.list_vms),
    ("GET", VM, "VirtualMachines_Get", C, r.get_vm),
    ("GET", VM + "/instanceView", "VirtualMachines_InstanceView", C, r.get_vm_instance_view),
    ("PUT", VM, "VirtualMachines_CreateOrUpdate", C, r.put_vm),
    ("PATCH", VM, "VirtualMachines_Update", C, r.patch_vm),
    ("DELETE", VM, "VirtualMachines_Delete", C, r.delete_vm),
    (
        "POST",
        VM + "/attachDetachDataDisks",
        "VirtualMachines_AttachDetachDataDisks",
        C,
        r.attach_detach_data_disks,
    ),
    ("POST", VM + "/start", "VirtualMachines_Start", C, r.power_action("start")),
    ("POST", VM + "/powerOff", "VirtualMachines_PowerOff", C, r.power_action("powerOff")),
    ("POST", VM + "/deallocate", "VirtualMachines_Deallocate", C, r.power_action("deallocate")),
    ("POST", VM + "/restart", "VirtualMachines_Restart", C, r.power_action("restart")),
    ("POST", VM + "/runCommand", "VirtualMachines_RunCommand", C, rc.run_command),
    (
        "GET",
        VM + "/runCommands",
        "VirtualMachineRunCommands_ListByVirtualMachine",
        C,
        rc.list_managed,
    ),
    (
        "PUT",
        VM + r"/runCommands/(?P<name>[^/]+)",
        "VirtualMachineRunCommands_CreateOrUpdate",
        C,
        rc.put_managed,
    ),
    (
        "GET",
        VM + r"/runCommands/(?P<name>[^/]+)",
        "VirtualMachineRunCommands_GetByVirtualMachine",
        C,
        rc.get_managed,
    ),
    (
        "DELETE",
        VM + r"/runCommands/(?P<name>[^/]+)",
        "VirtualMachineRunCommands_Delete",
        C,
        rc.delete_managed,
    ),
    ("GET", LOCATION + "/runCommands", "VirtualMachineRunCommands_List", C, rc.list_commands),
    (
        "GET",
        LOCATION + r"/runCommands/(?P<command>[^/]+)",
        "VirtualMachineRunCommands_Get",
        C,
        rc.get_command,
    ),
    # restore point collections and restore points (ComputeRP)
    (
        "GET",
        SUB + PROVIDER + "/restorePointCollections",
        "RestorePointCollections_ListAll",
        C,
        rp.list_collections,
    ),
    (
        "GET",
        GROUP + PROVIDER + "/restorePointCollections",
        "RestorePointCollections_List",
        C,
        rp.list_collections,
    ),
    ("GET", COLLECTION, "RestorePointCollections_Get", C, rp.get_collection),
    ("PUT", COLLECTION, "RestorePointCollections_CreateOrUpdate", C, rp.put_collection),
    ("PATCH", COLLECTION, "RestorePointCollections_Update", C, rp.patch_collection),
    ("DELETE", COLLECTION, "RestorePointCollections_Delete", C, rp.delete_collection),
    ("GET", POINT, "RestorePoints_Get", C, rp.get_restore_point),
    ("PUT", POINT, "RestorePoints_Create", C, rp.put_restore_point),
    ("DELETE", POINT, "RestorePoints_Delete", C, rp.delete_restore_point),
    # disk restore points (DiskRP)
    (
        "GET",
        POINT + "/diskRestorePoints",
        "DiskRestorePoint_ListByRestorePoint",
        D,
        rp.list_disk_restore_points,
    ),
    ("GET", DISK_POINT, "DiskRestorePoint_Get", D, rp.get_disk_restore_point),
    (
        "POST",
        DISK_POINT + "/beginGetAccess",
        "DiskRestorePoint_GrantAccess",
        D,
        rp.grant_disk_restore_point_access,
    ),
    (
        "POST",
        DISK_POINT + "/endGetAccess",
        "DiskRestorePoint_RevokeAccess",
        D,
        rp.revoke_disk_restore_point_access,
    ),
    # long-running operation status (Azure-AsyncOperation) and result (Location, monitor=true)
    (
        "GET",
        LOCATION + r"/operations/(?P<operation>[^/]+)",
        "Operations_GetStatus",
        ANY,
        lro.get_status,
    ),
    (
        "GET",
        LOCATION + r"/DiskOperations/(?P<operation>[^/]+)",
        "Operations_GetStatus",
        ANY,
        lro.get_status,
    ),
]
