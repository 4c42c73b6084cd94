"""Routes of Microsoft.Network (virtual networks, subnets, network interfaces).

DESIGN fixes api-version 2024-05-01; azure-mgmt-network 33 sends 2026-03-01 by default.
"""

from __future__ import annotations

from emulator import lro
from emulator.network import responses as r

API_VERSIONS = ("2026-03-01", "2025-05-01", "2024-07-01", "2024-05-01", "2024-03-01", "2023-11-01")

SUB = r"/subscriptions/(?P<subscription>[^/]+)"
GROUP = SUB + r"/resourceGroups/(?P<group>[^/]+)"
PROVIDER = "/providers/Microsoft.Network"
VNET = GROUP + PROVIDER + r"/virtualNetworks/(?P<vnet>[^/]+)"
SUBNET = VNET + r"/subnets/(?P<subnet>[^/]+)"
NICS = GROUP + PROVIDER + r"/networkInterfaces"
NIC = NICS + r"/(?P<nic>[^/]+)"
V = API_VERSIONS

ROUTES = [
    ("PUT", VNET, "VirtualNetworks_CreateOrUpdate", V, r.put_vnet),
    ("GET", VNET, "VirtualNetworks_Get", V, r.get_vnet),
    ("DELETE", VNET, "VirtualNetworks_Delete", V, r.delete_vnet),
    ("GET", SUBNET, "Subnets_Get", V, r.get_subnet),
    ("GET", NICS, "NetworkInterfaces_List", V, r.list_nics),
    ("PUT", NIC, "NetworkInterfaces_CreateOrUpdate", V, r.put_nic),
    ("GET", NIC, "NetworkInterfaces_Get", V, r.get_nic),
    ("DELETE", NIC, "NetworkInterfaces_Delete", V, r.delete_nic),
    (
        "GET",
        SUB + PROVIDER + r"/locations/(?P<location>[^/]+)/operations/(?P<operation>[^/]+)",
        "NetworkOperations_Get",
        V,
        lro.get_status,
    ),
]
