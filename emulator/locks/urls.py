"""Routes of management locks: one scope-shaped path serves every level.

The SDK's ``*_at_subscription_level``, ``*_at_resource_group_level``, ``*_at_resource_level``
and ``*_by_scope`` calls all address ``{scope}/providers/Microsoft.Authorization/locks[/{name}]``
(a resource-level call with an empty parent path sends ``Microsoft.Compute//disks/x``).
"""

from __future__ import annotations

from emulator.locks import responses

# azure-mgmt-resource-locks 1.0 sends 2020-05-01.
API_VERSIONS = ("2020-05-01", "2016-09-01", "2015-01-01")

SCOPE = r"(?P<scope>/subscriptions/(?P<subscription>[^/]+)(?:/.*?)?)"
LOCKS = SCOPE + r"/providers/Microsoft\.Authorization/locks"
LOCK = LOCKS + r"/(?P<lock>[^/]+)"

ROUTES = [
    ("GET", LOCKS, "ManagementLocks_ListByScope", API_VERSIONS, responses.list_locks),
    ("GET", LOCK, "ManagementLocks_GetByScope", API_VERSIONS, responses.get_lock),
    ("PUT", LOCK, "ManagementLocks_CreateOrUpdateByScope", API_VERSIONS, responses.put_lock),
    ("DELETE", LOCK, "ManagementLocks_DeleteByScope", API_VERSIONS, responses.delete_lock),
]
