"""What diskdr protects: VMs and their managed disks, as plain JSON-able records.

The Azure adapter fills these from the Compute API; everything here is pure: which VMs a
policy's target selects and which of their disks are protected.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from diskdr.model import JsonModel
from diskdr.naming import parse_resource_id


class _InResourceGroup:
    """Subscription and resource group of a record, read from its ARM ``id``."""

    id: str

    @property
    def subscription_id(self) -> str:
        return parse_resource_id(self.id).subscription_id

    @property
    def resource_group(self) -> str:
        return parse_resource_id(self.id).resource_group


@dataclass(frozen=True)
class DiskInfo(JsonModel, _InResourceGroup):
    """One managed disk of a VM (or a standalone disk named in an on-demand request)."""

    id: str
    name: str
    location: str
    sku: str
    size_gb: int
    unique_id: str
    lun: int | None = None  # None for the OS disk or a standalone disk
    tags: Mapping[str, str] = field(default_factory=dict)

    @property
    def family(self) -> str:
        """The snapshot family: a recreated disk with the same id is a new family."""
        return f"{self.id.lower()}#{self.unique_id.lower()}"


@dataclass(frozen=True)
class VmInfo(JsonModel, _InResourceGroup):
    """A VM and the managed disks diskdr protects on it (OS disk first, then by LUN)."""

    id: str
    name: str
    location: str
    tags: Mapping[str, str]
    disks: tuple[DiskInfo, ...]


def tags_match(resource_tags: Mapping[str, str] | None, wanted: Mapping[str, str]) -> bool:
    """Every wanted tag is present with that value (names case-insensitive, as in Azure)."""
    have = {name.lower(): value for name, value in (resource_tags or {}).items()}
    return all(have.get(name.lower()) == value for name, value in wanted.items())


def vm_in_target(
    vm_id: str,
    vm_tags: Mapping[str, str] | None,
    tags: Mapping[str, str],
    resource_groups: Iterable[str],
) -> bool:
    """Whether a VM is selected by a policy target (all given selectors must match)."""
    groups = {group.lower() for group in resource_groups}
    if groups and parse_resource_id(vm_id).resource_group.lower() not in groups:
        return False
    return tags_match(vm_tags, tags)


def protected_disks(
    disks: Iterable[DiskInfo], exclude_tags: Mapping[str, str], exclude_luns: Iterable[int]
) -> tuple[DiskInfo, ...]:
    """The disks left after the target's ``excludeDisks`` (by disk tags or by data-disk LUN)."""
    luns = set(exclude_luns)
    kept = [
        disk
        for disk in disks
        if not (disk.lun is not None and disk.lun in luns)
        and not (exclude_tags and tags_match(disk.tags, exclude_tags))
    ]
    return tuple(sorted(kept, key=lambda d: (-1 if d.lun is None else d.lun, d.id.lower())))
