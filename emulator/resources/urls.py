"""Routes of Microsoft.Resources resource groups (ARM paths, matched case-insensitively)."""

from __future__ import annotations

from emulator import lro
from emulator.resources import responses

# azure-mgmt-resource 26 sends 2025-04-01; older clients and tools send the others.
API_VERSIONS = (
    "2025-04-01",
    "2025-03-01",
    "2024-11-01",
    "2024-07-01",
    "2024-03-01",
    "2023-07-01",
    "2022-09-01",
    "2021-04-01",
    "2020-06-01",
)

SUB = r"/subscriptions/(?P<subscription>[^/]+)"
GROUP = SUB + r"/resourcegroups/(?P<group>[^/]+)"

ROUTES = [
    ("GET", SUB + r"/resourcegroups", "ResourceGroups_List", API_VERSIONS, responses.list_groups),
    ("GET", GROUP, "ResourceGroups_Get", API_VERSIONS, responses.get),
    ("HEAD", GROUP, "ResourceGroups_CheckExistence", API_VERSIONS, responses.check_existence),
    ("PUT", GROUP, "ResourceGroups_CreateOrUpdate", API_VERSIONS, responses.create_or_update),
    ("PATCH", GROUP, "ResourceGroups_Update", API_VERSIONS, responses.update),
    ("DELETE", GROUP, "ResourceGroups_Delete", API_VERSIONS, responses.delete),
    (
        "GET",
        SUB + r"/operationresults/(?P<operation>[^/]+)",
        "ResourceGroups_OperationResult",
        API_VERSIONS,
        lro.get_result,
    ),
]
