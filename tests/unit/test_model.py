"""RecoveryPoint: exact JSON round trips and construction from Azure tags."""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from diskdr import naming
from diskdr.errors import PointTagsError
from diskdr.model import POINT_STATES, JsonModel, RecoveryPoint

EXAMPLES = settings(max_examples=500, deadline=None)

SUB = "00000000-0000-0000-0000-000000000001"
RG = f"/subscriptions/{SUB}/resourceGroups/rg-app/providers/Microsoft.Compute"
VM = f"{RG}/virtualMachines/vm-web-1"
DISK = f"{RG}/disks/data-0"
SLOT = datetime(2026, 11, 25, 4, 0, tzinfo=UTC)
NAME = naming.point_name("prod", VM, DISK, SLOT)
SNAPSHOT_ID = f"{RG}/snapshots/{NAME}"
GROUP = naming.group_id("prod", VM, SLOT)


def our_tags(**extra: str) -> dict[str, str]:
    tags = naming.point_tags("prod", "gold", VM, DISK, "uid-1", SLOT, GROUP, "crash", "primary")
    return {**tags, **extra}


def listed(tags: dict[str, str] | None, **fields) -> RecoveryPoint | None:
    """``from_tags`` as a listing of install ``prod`` calls it, by default for SNAPSHOT_ID."""
    fields = {"id": SNAPSHOT_ID, "name": NAME, "region": "eastus", "state": "usable", **fields}
    return RecoveryPoint.from_tags(**fields, tags=tags, install_id="prod")


def a_point(**changes) -> RecoveryPoint:
    point = listed(
        our_tags(env="prod"),
        completion_percent=100,
        created_at=datetime(2026, 11, 25, 4, 0, 7, 123456, tzinfo=UTC),
    )
    assert point is not None
    return replace(point, **changes)


def test_from_tags_reads_identity_from_the_id_and_fields_from_the_tags():
    point = a_point()
    assert point.subscription_id == SUB
    assert point.resource_group == "rg-app"
    assert point.vm_id == VM.lower()
    assert point.disk_id == DISK.lower()
    assert point.slot == SLOT
    assert point.group == GROUP
    assert (point.role, point.consistency, point.policy, point.owner) == (
        "primary",
        "crash",
        "gold",
        "prod",
    )
    assert point.hold is False
    assert point.source_id is None
    assert point.tags["env"] == "prod"  # every tag is kept, not only diskdr's
    assert point.completion_percent == 100.0


def test_from_tags_returns_none_for_someone_elses_snapshot():
    other = naming.point_tags("other", "gold", VM, DISK, "u", SLOT, GROUP, "crash", "primary")
    for tags in (other, {}, None, {"env": "prod"}):
        assert listed(tags) is None


def test_from_tags_raises_for_our_snapshot_with_broken_tags():
    broken = our_tags()
    del broken["diskdr-slot"]
    with pytest.raises(PointTagsError, match=f"{NAME} carries diskdr-owner=prod but: diskdr-slot"):
        listed(broken)


def test_a_replica_carries_its_source_and_hold_comes_from_the_tag():
    tags = naming.point_tags(
        "prod", "gold", VM, DISK, "uid-1", SLOT, GROUP, "crash", "replica", SNAPSHOT_ID
    )
    replica = listed(
        {**tags, "diskdr-hold": "audit"},
        id=f"{RG}/snapshots/replica-1",
        name="replica-1",
        region="westus2",
        state="pending",
        completion_percent=12.5,
    )
    assert replica is not None
    assert replica.role == "replica"
    assert replica.source_id == SNAPSHOT_ID.lower()
    assert replica.hold is True


def test_to_dict_is_plain_json_with_camel_case_keys():
    data = a_point().to_dict()
    assert json.loads(json.dumps(data)) == data
    assert data["resourceGroup"] == "rg-app"
    assert data["slot"] == "2026-11-25T04:00:00+00:00"
    assert data["createdAt"] == "2026-11-25T04:00:07.123456+00:00"
    assert data["completionPercent"] == 100.0
    assert data["tags"]["env"] == "prod"
    assert set(data) == {
        "id",
        "name",
        "region",
        "resourceGroup",
        "subscriptionId",
        "role",
        "owner",
        "policy",
        "vmId",
        "diskId",
        "diskUid",
        "slot",
        "group",
        "consistency",
        "state",
        "completionPercent",
        "errorCode",
        "sourceId",
        "createdAt",
        "hold",
        "tags",
        "members",
        "capturedAt",
    }


def test_from_dict_fills_defaults_and_refuses_unknown_keys():
    data = a_point().to_dict()
    for optional in ("completionPercent", "errorCode", "sourceId", "createdAt", "hold", "tags"):
        del data[optional]
    point = RecoveryPoint.from_dict(data)
    assert point.completion_percent is None and point.created_at is None
    assert point.hold is False and dict(point.tags) == {}
    with pytest.raises(ValueError, match="RecoveryPoint: unknown keys diskId2"):
        RecoveryPoint.from_dict({**data, "diskId2": "x"})
    with pytest.raises(ValueError, match=r"RecoveryPoint\.slot: expected an ISO 8601 string"):
        RecoveryPoint.from_dict({**data, "slot": 5})


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"state": "done"}, "RecoveryPoint.state: expected one of"),
        ({"role": "secondary"}, "RecoveryPoint.role: expected one of"),
        ({"consistency": "vss"}, "RecoveryPoint.consistency: expected one of"),
        ({"slot": SLOT + timedelta(seconds=1)}, "minute precision"),
        ({"created_at": datetime(2026, 11, 25)}, "created_at: expected an aware datetime"),
        ({"completion_percent": 101}, "completion_percent: expected 0 to 100"),
        ({"region": ""}, "RecoveryPoint.region: expected a non-empty string"),
    ],
)
def test_invalid_points_are_refused(changes, message):
    with pytest.raises(ValueError, match=message):
        a_point(**changes)


def test_points_are_immutable_and_hashable():
    point = a_point()
    with pytest.raises(TypeError):
        point.tags["x"] = "y"  # type: ignore[index]
    assert hash(point) == hash(a_point())
    assert len({point, a_point()}) == 1


def test_times_in_other_zones_are_stored_as_utc():
    two_hours_ahead = timezone(timedelta(hours=2))
    point = a_point(
        slot=datetime(2026, 11, 25, 6, 0, tzinfo=two_hours_ahead),
        created_at=datetime(2026, 11, 25, 6, 0, 7, tzinfo=two_hours_ahead),
    )
    assert point.slot == SLOT and point.slot.utcoffset() == timedelta(0)
    assert point.to_dict()["createdAt"] == "2026-11-25T04:00:07+00:00"


@dataclass(frozen=True)
class Shelf(JsonModel):
    """A record nesting others, as later models will (a tuple and an optional record)."""

    label: str
    points: tuple[RecoveryPoint, ...] = ()
    best: RecoveryPoint | None = None
    taken_at: datetime | None = None


def test_nested_records_round_trip():
    shelf = Shelf("s", (a_point(), a_point(state="failed", error_code="SnapshotsLimitReached")))
    shelf = replace(shelf, best=a_point(), taken_at=SLOT)
    assert Shelf.from_dict(json.loads(json.dumps(shelf.to_dict()))) == shelf


ids = st.text(min_size=1, max_size=40)
aware_times = st.datetimes(
    min_value=datetime(2000, 1, 1),
    max_value=datetime(2100, 1, 1),
    timezones=st.sampled_from([UTC, timezone(timedelta(hours=-5)), timezone(timedelta(hours=13))]),
)
minutes = st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1)).map(
    lambda moment: moment.replace(second=0, microsecond=0, tzinfo=UTC)
)
recovery_points = st.builds(
    RecoveryPoint,
    id=ids,
    name=ids,
    region=ids,
    resource_group=ids,
    subscription_id=ids,
    role=st.sampled_from(naming.ROLES),
    owner=ids,
    policy=st.text(max_size=20),
    vm_id=st.text(max_size=60),
    disk_id=st.text(max_size=60),
    disk_uid=st.text(max_size=40),
    slot=minutes,
    group=st.text(max_size=40),
    consistency=st.sampled_from(naming.CONSISTENCIES),
    state=st.sampled_from(POINT_STATES),
    completion_percent=st.none() | st.floats(0, 100) | st.integers(0, 100),
    error_code=st.none() | st.text(max_size=30),
    source_id=st.none() | st.text(max_size=60),
    created_at=st.none() | aware_times,
    hold=st.booleans(),
    tags=st.dictionaries(st.text(max_size=20), st.text(max_size=40), max_size=6),
)


@EXAMPLES
@given(recovery_points)
def test_recovery_points_round_trip_through_json_exactly(point):
    text = json.dumps(point.to_dict())
    again = RecoveryPoint.from_dict(json.loads(text))
    assert again == point
    assert again.to_dict() == point.to_dict()
    assert json.dumps(again.to_dict()) == text
