"""Microsoft.Network on the emulator, driven by the real azure-mgmt-network client at
api-version 2024-05-01: virtual networks with subnets (PUT/GET, estate seed), NICs in a
subnet (PUT 201 + Azure-AsyncOperation, GET, DELETE), the subnet check Azure makes
(``InvalidResourceReference`` for a subnet missing or in another region) and ``NicInUse``."""

from __future__ import annotations

import pytest
from azure.core.exceptions import HttpResponseError
from azure.mgmt.network import NetworkManagementClient

from emulator import EmulatorServer
from tests.emulator.support import SUB, StaticToken, make_compute

V = "2024-05-01"
GROUP = f"/subscriptions/{SUB}/resourceGroups"


@pytest.fixture
def network(emulator: EmulatorServer) -> NetworkManagementClient:
    return NetworkManagementClient(
        StaticToken(), SUB, base_url=emulator.url, connection_verify=emulator.ca_path
    )


@pytest.fixture
def seeded(control) -> None:
    control.estate(
        {
            "subscriptions": [
                {
                    "id": SUB,
                    "resourceGroups": [
                        {
                            "name": "rg-net",
                            "location": "westus2",
                            "virtualNetworks": [
                                {
                                    "name": "vnet-dr",
                                    "addressPrefix": "10.2.0.0/16",
                                    "subnets": [{"name": "apps", "addressPrefix": "10.2.1.0/24"}],
                                }
                            ],
                        },
                        {"name": "rg-east", "location": "eastus"},
                    ],
                }
            ]
        }
    )


SUBNET = f"{GROUP}/rg-net/providers/Microsoft.Network/virtualNetworks/vnet-dr/subnets/apps"


def nic_body(location: str, subnet: str = SUBNET) -> dict:
    return {
        "location": location,
        "properties": {
            "ipConfigurations": [{"name": "ipconfig1", "properties": {"subnet": {"id": subnet}}}]
        },
    }


def test_seeded_vnet_and_subnet(network: NetworkManagementClient, seeded: None) -> None:
    vnet = network.virtual_networks.get("rg-net", "vnet-dr", api_version=V)
    assert vnet.location == "westus2"
    assert vnet.address_space.address_prefixes == ["10.2.0.0/16"]
    assert [s.name for s in vnet.subnets] == ["apps"]
    subnet = network.subnets.get("rg-net", "vnet-dr", "apps", api_version=V)
    assert subnet.address_prefix == "10.2.1.0/24" and subnet.id == SUBNET


def test_nic_create_get_delete(network: NetworkManagementClient, seeded: None) -> None:
    poller = network.network_interfaces.begin_create_or_update(
        "rg-net", "nic-1", nic_body("westus2"), api_version=V
    )
    nic = poller.result()
    assert nic.provisioning_state == "Succeeded"
    config = nic.ip_configurations[0]
    assert config.subnet.id == SUBNET
    assert config.private_ip_address == "10.2.1.4"  # the first four are Azure's
    assert config.public_ip_address is None
    again = network.network_interfaces.get("rg-net", "nic-1", api_version=V)
    assert again.id == nic.id
    network.network_interfaces.begin_delete("rg-net", "nic-1", api_version=V).result()
    with pytest.raises(HttpResponseError) as missing:
        network.network_interfaces.get("rg-net", "nic-1", api_version=V)
    assert missing.value.status_code == 404


@pytest.mark.parametrize(
    ("location", "subnet"),
    [("eastus", SUBNET), ("westus2", SUBNET.replace("/apps", "/nope"))],
    ids=["subnet-in-other-region", "missing-subnet"],
)
def test_nic_subnet_must_exist_in_its_region(
    network: NetworkManagementClient, seeded: None, location: str, subnet: str
) -> None:
    with pytest.raises(HttpResponseError) as refused:
        network.network_interfaces.begin_create_or_update(
            "rg-east" if location == "eastus" else "rg-net",
            "nic-x",
            nic_body(location, subnet),
            api_version=V,
        ).result()
    assert refused.value.status_code == 400
    assert refused.value.error.code == "InvalidResourceReference"
    assert "same region" in refused.value.error.message


def test_a_nic_used_by_a_vm_cannot_be_deleted(
    emulator: EmulatorServer, network: NetworkManagementClient, seeded: None, control
) -> None:
    nic = network.network_interfaces.begin_create_or_update(
        "rg-net", "nic-vm", nic_body("westus2"), api_version=V
    ).result()
    compute = make_compute(emulator)
    disk = compute.disks.begin_create_or_update(
        "rg-net",
        "os-1",
        {
            "location": "westus2",
            "sku": {"name": "Premium_LRS"},
            "properties": {
                "creationData": {"createOption": "Empty"},
                "diskSizeGB": 32,
                "osType": "Linux",
            },
        },
    ).result()
    compute.virtual_machines.begin_create_or_update(
        "rg-net",
        "vm-1",
        {
            "location": "westus2",
            "properties": {
                "hardwareProfile": {"vmSize": "Standard_D2s_v5"},
                "storageProfile": {
                    "osDisk": {"createOption": "Attach", "managedDisk": {"id": disk.id}}
                },
                "networkProfile": {"networkInterfaces": [{"id": nic.id}]},
            },
        },
    ).result()
    used = network.network_interfaces.get("rg-net", "nic-vm", api_version=V)
    assert used.virtual_machine.id.lower().endswith("/virtualmachines/vm-1")
    with pytest.raises(HttpResponseError) as refused:
        network.network_interfaces.begin_delete("rg-net", "nic-vm", api_version=V).result()
    assert refused.value.error.code == "NicInUse"
