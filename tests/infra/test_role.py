"""Least privilege: the diskdr custom role grants exactly the ARM actions diskdr's code
performs. The actions are derived from the ports (``tests/infra/arm_actions.py``), so a new
Azure call (restores creating VMs and network interfaces, say) fails this test until the
role grants it, and a call removed fails it until the role stops granting it."""

import json
import textwrap

import pytest

from tests.infra.arm_actions import actions_used, arm_action, sdk_calls
from tests.infra.bicep import INFRA, parse

ROLE_FILE = INFRA / "scope" / "diskdr-role.json"

# Actions Azure checks on a call beyond the call's own action (linked access checks), each
# with the call that needs it and the source. Add an entry here when one is found; today
# every such check (the source disk or snapshot of a create, the VM of a restore point) is
# a read diskdr's own calls already need.
LINKED: dict[str, str] = {
    # A NIC created in a subnet (diskdr/azure/restore.py begin_nic); Learn "Azure
    # permissions for Networking": creating a NIC needs join on the subnet.
    "Microsoft.Network/virtualNetworks/subnets/join/action": (
        "network_interfaces.begin_create_or_update"
    ),
    # A VM created with a NIC (begin_vm); Learn "Azure permissions for Networking": a VM
    # that uses a NIC needs join on the NIC.
    "Microsoft.Network/networkInterfaces/join/action": "virtual_machines.begin_create_or_update",
}


def role_actions() -> set[str]:
    return set(json.loads(ROLE_FILE.read_text())["actions"])


def test_the_role_grants_exactly_the_actions_the_code_performs():
    used = actions_used()
    granted = role_actions()
    missing = sorted(set(used) - granted)
    unused = sorted(granted - set(used) - set(LINKED))
    assert not missing, "the role lacks actions the code performs (add them to " + (
        f"{ROLE_FILE.relative_to(INFRA.parent)}):\n"
        + "\n".join(f"  {action}  <- {', '.join(used[action])}" for action in missing)
    )
    assert not unused, f"the role grants actions no code performs (remove them): {unused}"


def test_the_extraction_sees_the_ports_calls():
    calls = {(call.group, call.method) for call in sdk_calls()}
    assert {
        ("snapshots", "begin_create_or_update"),
        ("snapshots", "begin_delete"),
        ("virtual_machines", "list_all"),
        ("restore_points", "begin_create"),
    } <= calls


def test_a_new_call_in_a_port_is_picked_up(tmp_path):
    (tmp_path / "export.py").write_text(
        textwrap.dedent(
            """
            from azure.mgmt.compute import ComputeManagementClient

            def export(compute: ComputeManagementClient) -> None:
                compute.snapshots.begin_grant_access("rg", "snap", {}).result()
                compute.virtual_machines.begin_run_command("rg", "vm", {})
            """
        )
    )
    assert set(actions_used(tmp_path)) == {
        "Microsoft.Compute/snapshots/beginGetAccess/action",
        "Microsoft.Compute/virtualMachines/runCommand/action",
    }


@pytest.mark.parametrize(
    ("method", "url", "action"),
    [
        (
            "GET",
            "/subscriptions/x/providers/Microsoft.Compute/snapshots",
            "Microsoft.Compute/snapshots/read",
        ),
        (
            "PUT",
            "/subscriptions/x/resourceGroups/x/providers/Microsoft.Compute/restorePointCollections/x/restorePoints/x",
            "Microsoft.Compute/restorePointCollections/restorePoints/write",
        ),
        (
            "PATCH",
            "/subscriptions/x/resourceGroups/x/providers/Microsoft.Compute/disks/x",
            "Microsoft.Compute/disks/write",
        ),
        (
            "POST",
            "/subscriptions/x/resourceGroups/x/providers/Microsoft.Compute/disks/x/endGetAccess?api-version=1",
            "Microsoft.Compute/disks/endGetAccess/action",
        ),
        (
            "DELETE",
            "/subscriptions/x/resourceGroups/x/providers/Microsoft.Network/networkInterfaces/x",
            "Microsoft.Network/networkInterfaces/delete",
        ),
    ],
)
def test_arm_action_naming(method, url, action):
    assert arm_action(method, url) == action


def test_the_role_is_defined_from_the_file_and_assigned_per_subscription():
    role = parse(INFRA / "scope" / "role.bicep")
    loaded = role["variables"]["permissions"]["value"]["function"]
    assert loaded["type"] == "load_json_content"
    assert loaded["parameters"]["file_path"] == "diskdr-role.json"
    definition = role["resources"]["role"]
    assert definition["type"] == "Microsoft.Authorization/roleDefinitions"
    assert definition["config"]["properties"]["type"] == "customRole"

    main = parse(INFRA / "main.bicep")
    per_subscription = main["modules"]["protectedSubscriptions"]
    assert per_subscription["detail"]["path"] == "scope/subscription.bicep"
    loop = per_subscription["config"]["loop_type"]["detail"]
    assert loop["array_name"] == "scopeSubscriptions"
    scope = per_subscription["config"]["config"]["scope"]["function"]
    assert scope == {"type": "subscription", "parameters": {"subscription_id": loop["item_name"]}}
    module = parse(INFRA / "scope" / "subscription.bicep")
    assert module["globals"]["scope"]["value"] == "subscription"
    assignment = module["resources"]["assignment"]
    assert assignment["type"] == "Microsoft.Authorization/roleAssignments"
    assert assignment["config"]["properties"]["roleDefinitionId"] == "roleDefinitionId"
