"""Names, group ids and tags of the recovery points diskdr makes.

Everything here is deterministic in its inputs, so re-running a slot finds the point it
made before instead of making a second one. Azure resource ids are case-insensitive, so
ids are lower-cased before they are hashed or written to a tag: the same VM spelt in two
cases gives the same names and tags. docs/naming.md explains the choices.

Generated names use only lower-case letters, digits and hyphens, start with a letter, end
with a letter or digit and have at most 80 characters: valid for snapshots (Azure allows
1-80 alphanumerics, ``_``, ``.``, ``-``; start alphanumeric; end alphanumeric or ``_``) and a
safe subset for restore points and restore point collections, which publish no pattern.
Each name ends with a hash of the full identity, so names differ whenever identities do,
however much of the readable part had to be cut.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal, cast, get_args

from diskdr.errors import PointTagsError

# --- tag names (DESIGN "Recovery points, names and ownership") ---------------------------
TAG_OWNER = "diskdr-owner"
TAG_POLICY = "diskdr-policy"
TAG_VM = "diskdr-vm"
TAG_DISK = "diskdr-disk"
TAG_DISK_UID = "diskdr-disk-uid"
TAG_SLOT = "diskdr-slot"
TAG_GROUP = "diskdr-group"
TAG_CONSISTENCY = "diskdr-consistency"
TAG_ROLE = "diskdr-role"
TAG_SOURCE = "diskdr-source"
#: How many points the point's consistency group has (its VM's protected disks at the slot):
#: a group with fewer points listed is *partial* (a member failed and was cleaned up).
TAG_MEMBERS = "diskdr-members"
#: On a replica: when its source point was created (the capture time of the data it holds).
TAG_CAPTURED = "diskdr-captured"
#: Set by people, never by diskdr: a point carrying it (any value) is never removed.
TAG_HOLD = "diskdr-hold"

Consistency = Literal["crash", "crash-multi", "app", "inconsistent"]
Role = Literal["primary", "replica"]
CONSISTENCIES: tuple[Consistency, ...] = get_args(Consistency)
ROLES: tuple[Role, ...] = get_args(Role)

#: Azure's limit for snapshot names (and the limit diskdr keeps for every name it makes).
MAX_NAME_LENGTH = 80
#: Azure's limit for a tag value.
MAX_TAG_VALUE_LENGTH = 256

_HASH_CHARS = 16  # base32: 80 bits of the identity
_AZURE_NAME = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9_.-]{0,78}[A-Za-z0-9_])?")
_SLOT_TEXT = re.compile(r"(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2})Z")
_NOT_NAME_CHAR = re.compile(r"[^a-z0-9]+")
_RESOURCE_ID = re.compile(
    r"/subscriptions/(?P<subscription>[^/]+)/resourceGroups/(?P<group>[^/]+)/providers/.+/"
    r"(?P<name>[^/]+)",
    re.IGNORECASE,
)


# --- slots -----------------------------------------------------------------------------
def format_slot(slot: datetime) -> str:
    """``2026-11-25T04:00Z``: the slot as ISO UTC with minute precision."""
    slot = check_slot(slot)
    return f"{slot.year:04d}-{slot.month:02d}-{slot.day:02d}T{slot.hour:02d}:{slot.minute:02d}Z"


def parse_slot(text: str) -> datetime:
    """The inverse of :func:`format_slot`; anything but ``YYYY-MM-DDTHH:MMZ`` is refused."""
    match = _SLOT_TEXT.fullmatch(text) if isinstance(text, str) else None
    if match is None:
        raise ValueError(f"expected a slot like 2026-11-25T04:00Z (UTC, minutes), got {text!r}")
    year, month, day, hour, minute = (int(part) for part in match.groups())
    try:
        return datetime(year, month, day, hour, minute, tzinfo=UTC)
    except ValueError as error:
        raise ValueError(f"invalid slot {text!r}: {error}") from None


def check_slot(slot: datetime) -> datetime:
    """Return ``slot`` as UTC if it is an aware instant on a whole minute, else raise."""
    if not isinstance(slot, datetime) or slot.utcoffset() is None:
        raise ValueError(f"a slot must be an aware datetime, got {slot!r}")
    if slot.second or slot.microsecond:
        raise ValueError(f"a slot has minute precision, got {slot.isoformat()}")
    return slot.astimezone(UTC)


# --- names -----------------------------------------------------------------------------
def point_name(
    install_id: str, vm_id: str, disk_id: str, slot: datetime, role: Role = "primary"
) -> str:
    """Name of the snapshot of ``disk_id`` (a disk of ``vm_id``) at ``slot``.

    ``dr-<vm>-<disk>-<yyyymmddThhmm>-<hash>``; replicas add ``-rep`` before the hash.
    """
    _check_role(role)
    stamp = _stamp(slot)
    digest = _digest("point", install_id, _id_key(vm_id), _id_key(disk_id), stamp, role)
    vm, disk = _readable(vm_id), _readable(disk_id)
    # Azure names a VM's disks "<vm>_OsDisk_1_<guid>": don't spend the budget on <vm> twice.
    if disk.startswith(vm + "-") and len(disk) > len(vm) + 1:
        disk = disk[len(vm) + 1 :]
    return _name("dr", [vm, disk], stamp, _marker(role), digest)


def group_id(install_id: str, vm_id: str, slot: datetime) -> str:
    """Id of the consistency group of ``vm_id`` at ``slot``: ``drg-<vm>-<stamp>-<hash>``.

    The same group id is used in the primary and the secondary region.
    """
    stamp = _stamp(slot)
    digest = _digest("group", install_id, _id_key(vm_id), stamp)
    return _name("drg", [_readable(vm_id)], stamp, None, digest)


def restore_point_name(install_id: str, vm_id: str, slot: datetime, role: Role = "primary") -> str:
    """Name of the VM restore point of ``vm_id`` at ``slot``: ``drp-<vm>-<stamp>[-rep]-<hash>``."""
    _check_role(role)
    stamp = _stamp(slot)
    digest = _digest("restore-point", install_id, _id_key(vm_id), stamp, role)
    return _name("drp", [_readable(vm_id)], stamp, _marker(role), digest)


def collection_name(vm_id: str, install_id: str, role: Role = "primary") -> str:
    """Name of the restore point collection of ``vm_id``: ``drc-<vm>[-rep]-<hash>``.

    A replica collection (in the secondary region, ``source.id`` = the primary one) gets
    its own name so that both may share a resource group.
    """
    _check_role(role)
    digest = _digest("collection", install_id, _id_key(vm_id), role)
    return _name("drc", [_readable(vm_id)], None, _marker(role), digest)


# A sub-orchestration's id is its parent's id, ":", and a lowercase kind ("vm", "copy", "lane",
# ...); a run's own id holds ":" only inside its slot ("...T07:00Z"), followed by a digit.
_SUB_ORCHESTRATION_SUFFIX = re.compile(r":[a-z].*$", re.DOTALL)


def run_of(instance_id: str) -> str:
    """The run (top-level orchestration) an instance belongs to: its id without the
    ``:<kind>...`` suffixes sub-orchestrations add (``cycle-p-2026-12-05T07:00Z:vm:ab`` ->
    ``cycle-p-2026-12-05T07:00Z``)."""
    return _SUB_ORCHESTRATION_SUFFIX.sub("", instance_id)


def disk_create_option(point_id: str) -> str:
    """The ``creationData.createOption`` of a disk made from a point: ``Restore`` from a disk
    restore point, ``Copy`` from a snapshot (DiskRP.json, ``DiskCreateOption``)."""
    return "Restore" if "/diskrestorepoints/" in point_id.lower() else "Copy"


def is_valid_name(name: str) -> bool:
    """Whether ``name`` is a valid Azure snapshot name (1-80 chars, Azure's character rules)."""
    return isinstance(name, str) and _AZURE_NAME.fullmatch(name) is not None


def same_resource_id(first: str, second: str) -> bool:
    """Azure resource ids compare case-insensitively."""
    return first.lower() == second.lower()


def same_resource_id_leniently(first: str, second: str) -> bool:
    """Ids Azure may echo in another form than sent (DESIGN "Platform facts": a replica
    collection's ``source.id``): compared without case, and with or without the leading
    and trailing slashes."""
    return first.strip().strip("/").lower() == second.strip().strip("/").lower()


@dataclass(frozen=True)
class ResourceIdParts:
    """The parts of an ARM resource id diskdr needs."""

    subscription_id: str
    resource_group: str
    name: str


def parse_resource_id(resource_id: str) -> ResourceIdParts:
    """Subscription, resource group and (last) name of an ARM resource id."""
    match = _RESOURCE_ID.fullmatch(resource_id.rstrip("/")) if resource_id else None
    if match is None:
        raise ValueError(
            "expected an ARM resource id like /subscriptions/<id>/resourceGroups/<group>/"
            f"providers/<namespace>/<type>/<name>, got {resource_id!r}"
        )
    return ResourceIdParts(match["subscription"], match["group"], match["name"])


def _name(
    prefix: str, readable: list[str], stamp: str | None, marker: str | None, digest: str
) -> str:
    fixed = [part for part in (prefix, stamp, marker, digest) if part]
    separators = len(fixed) + len(readable) - 1
    budget = MAX_NAME_LENGTH - sum(map(len, fixed)) - separators
    parts = [prefix, *_fit(readable, budget), stamp, marker, digest]
    return "-".join(part for part in parts if part)


def _fit(parts: list[str], budget: int) -> list[str]:
    """Cut the longest parts first until all of them fit in ``budget`` characters."""
    if sum(map(len, parts)) <= budget:
        return parts
    cap = max(len(part) for part in parts)
    while cap > 1 and sum(min(len(part), cap) for part in parts) > budget:
        cap -= 1
    return [part[:cap].strip("-") or "x" for part in parts]


def _readable(resource_id: str) -> str:
    """The last segment of a resource id, lower-cased, reduced to ``[a-z0-9-]``."""
    _check_text("resource id", resource_id)
    last = resource_id.rstrip("/").rsplit("/", 1)[-1]
    return _NOT_NAME_CHAR.sub("-", last.lower()).strip("-") or "x"


def _stamp(slot: datetime) -> str:
    slot = check_slot(slot)
    return f"{slot.year:04d}{slot.month:02d}{slot.day:02d}T{slot.hour:02d}{slot.minute:02d}"


def _marker(role: Role) -> str | None:
    return "rep" if role == "replica" else None


def _id_key(resource_id: str) -> str:
    _check_text("resource id", resource_id)
    return resource_id.lower()


def _digest(*identity: str) -> str:
    # JSON keeps the encoding unambiguous (no separator can be smuggled into a field).
    for field in identity:
        _check_text("identity field", field)
    encoded = json.dumps(["diskdr/1", *identity], ensure_ascii=False).encode()
    raw = hashlib.sha256(encoded).digest()
    return base64.b32encode(raw).decode().lower()[:_HASH_CHARS]


def _check_role(role: str) -> None:
    if role not in ROLES:
        raise ValueError(f"role: expected one of {', '.join(ROLES)}, got {role!r}")


def _check_text(what: str, value: object) -> None:
    if not isinstance(value, str) or not value:
        raise ValueError(f"{what}: expected a non-empty string, got {value!r}")


# --- tags ------------------------------------------------------------------------------
def id_tag_value(resource_id: str) -> str:
    """A resource id as diskdr writes it in a tag: lower-case, at most 256 characters.

    A longer id (possible: a resource group name may have 90 characters and a disk name
    80) keeps its first characters and ends in ``#`` plus a hash of the whole id. ``#``
    never occurs in an ARM id, so a shortened value is recognisable and, being derived
    from the id alone, still compares equal to ``id_tag_value`` of the same id.
    """
    _check_text("resource id", resource_id)
    value = resource_id.lower()
    if len(value) <= MAX_TAG_VALUE_LENGTH:
        return value
    digest = _digest("tag", value)
    return f"{value[: MAX_TAG_VALUE_LENGTH - len(digest) - 1]}#{digest}"


@dataclass(frozen=True)
class PointTags:
    """The diskdr tags of one recovery point, typed. Id fields are as written in the tags
    (lower-case, possibly shortened: compare them with :func:`id_tag_value` of an id)."""

    owner: str
    policy: str
    vm_id: str
    disk_id: str
    disk_uid: str
    slot: datetime
    group: str
    consistency: Consistency
    role: Role
    source: str | None = None
    hold: bool = False
    members: int | None = None  # absent on points made before diskdr wrote the tag
    captured: datetime | None = None  # replicas only


def point_tags(
    install_id: str,
    policy: str,
    vm_id: str,
    disk_id: str,
    disk_uid: str,
    slot: datetime,
    group: str,
    consistency: Consistency,
    role: Role,
    source: str | None = None,
    *,
    members: int | None = None,
    captured: datetime | None = None,
) -> dict[str, str]:
    """The tags diskdr writes on a recovery point it makes.

    ``source`` (the primary point's id) is required for a replica and refused for a
    primary. ``members``: how many points the group has (its VM's protected disks);
    ``captured``: on a replica, when its source was created.
    Plain values (install id, policy, group) longer than Azure's 256 characters
    are refused rather than cut, since they are compared for equality.
    """
    for what, value in (("install id", install_id), ("policy", policy), ("group", group)):
        _check_text(what, value)
        if len(value) > MAX_TAG_VALUE_LENGTH:
            raise ValueError(
                f"{what}: at most {MAX_TAG_VALUE_LENGTH} characters (Azure tag value limit), "
                f"got {len(value)}"
            )
    _check_text("disk uid", disk_uid)
    if consistency not in CONSISTENCIES:
        raise ValueError(
            f"consistency: expected one of {', '.join(CONSISTENCIES)}, got {consistency!r}"
        )
    _check_role(role)
    if role == "replica" and source is None:
        raise ValueError("source: a replica names the primary point it was copied from")
    if role == "primary" and source is not None:
        raise ValueError("source: only a replica has a source point")
    tags = {
        TAG_OWNER: install_id,
        TAG_POLICY: policy,
        TAG_VM: id_tag_value(vm_id),
        TAG_DISK: id_tag_value(disk_id),
        TAG_DISK_UID: id_tag_value(disk_uid),
        TAG_SLOT: format_slot(slot),
        TAG_GROUP: group,
        TAG_CONSISTENCY: consistency,
        TAG_ROLE: role,
    }
    if source is not None:
        tags[TAG_SOURCE] = id_tag_value(source)
    if members is not None:
        if isinstance(members, bool) or not isinstance(members, int) or members < 1:
            raise ValueError(f"members: expected an integer >= 1, got {members!r}")
        tags[TAG_MEMBERS] = str(members)
    if captured is not None:
        if role != "replica":
            raise ValueError("captured: only a replica records its source's creation time")
        tags[TAG_CAPTURED] = format_instant(captured)
    return tags


def format_instant(instant: datetime) -> str:
    """An aware instant as ISO 8601 UTC to the second (``2026-11-24T13:05:09Z``)."""
    if instant.utcoffset() is None:
        raise ValueError(f"expected an aware datetime, got {instant!r}")
    return instant.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_instant(text: str) -> datetime:
    """The instant :func:`format_instant` wrote (any aware ISO 8601 form is accepted)."""
    instant = datetime.fromisoformat(text.replace("Z", "+00:00"))
    if instant.utcoffset() is None:
        raise ValueError(f"expected an instant with a UTC offset, got {text!r}")
    return instant.astimezone(UTC)


def _tag(tags: Mapping[str, str], name: str) -> str | None:
    # Azure tag names are case-insensitive: a person may write "DiskDR-Hold".
    for key, value in tags.items():
        if key.lower() == name:
            return value
    return None


def is_owned_by(tags: Mapping[str, str] | None, install_id: str) -> bool:
    """Whether a resource with ``tags`` belongs to the install ``install_id``."""
    if not tags:
        return False
    return _tag(tags, TAG_OWNER) == install_id


def parse_point_tags(
    tags: Mapping[str, str] | None, install_id: str, *, resource_id: str | None = None
) -> PointTags | None:
    """The typed diskdr tags of a resource, or None if the resource is not this install's.

    A resource whose owner tag is ours but whose other tags are missing or malformed raises
    :class:`~diskdr.errors.PointTagsError` listing every problem: it must not be mistaken
    for someone else's resource (and so ignored), nor guessed at (and so deleted).
    """
    if not tags or not is_owned_by(tags, install_id):
        return None
    problems: list[str] = []

    def required(name: str) -> str:
        value = _tag(tags, name)
        if not value:
            problems.append(f"{name}: missing")
            return ""
        return value

    policy = required(TAG_POLICY)
    vm_id = required(TAG_VM)
    disk_id = required(TAG_DISK)
    disk_uid = required(TAG_DISK_UID)
    group = required(TAG_GROUP)
    slot = datetime(1970, 1, 1, tzinfo=UTC)
    if slot_text := required(TAG_SLOT):
        try:
            slot = parse_slot(slot_text)
        except ValueError as error:
            problems.append(f"{TAG_SLOT}: {error}")
    consistency = required(TAG_CONSISTENCY)
    if consistency and consistency not in CONSISTENCIES:
        problems.append(
            f"{TAG_CONSISTENCY}: expected one of {', '.join(CONSISTENCIES)}, got {consistency!r}"
        )
    role = required(TAG_ROLE)
    if role and role not in ROLES:
        problems.append(f"{TAG_ROLE}: expected one of {', '.join(ROLES)}, got {role!r}")
    source = _tag(tags, TAG_SOURCE) or None
    if role == "replica" and source is None:
        problems.append(f"{TAG_SOURCE}: missing (required on a replica)")
    if role == "primary" and source is not None:
        problems.append(f"{TAG_SOURCE}: present on a primary point")
    members = None
    if (members_text := _tag(tags, TAG_MEMBERS)) is not None:
        if members_text.isdigit() and int(members_text) >= 1:
            members = int(members_text)
        else:
            problems.append(f"{TAG_MEMBERS}: expected an integer >= 1, got {members_text!r}")
    captured = None
    if (captured_text := _tag(tags, TAG_CAPTURED)) is not None:
        try:
            captured = parse_instant(captured_text)
        except ValueError:
            problems.append(f"{TAG_CAPTURED}: expected an ISO 8601 instant, got {captured_text!r}")
    if problems:
        where = resource_id or "a resource"
        raise PointTagsError(f"{where} carries {TAG_OWNER}={install_id} but: {'; '.join(problems)}")
    return PointTags(
        owner=install_id,
        policy=policy,
        vm_id=vm_id.lower(),
        disk_id=disk_id.lower(),
        disk_uid=disk_uid.lower(),
        slot=slot,
        group=group,
        consistency=cast(Consistency, consistency),
        role=cast(Role, role),
        source=source.lower() if source else None,
        hold=_tag(tags, TAG_HOLD) is not None,
        members=members,
        captured=captured,
    )
