"""Names, slots and tags of recovery points: valid for Azure, deterministic, collision-free."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from diskdr import naming
from diskdr.errors import PointTagsError
from diskdr.naming import (
    PointTags,
    collection_name,
    format_slot,
    group_id,
    id_tag_value,
    is_owned_by,
    is_valid_name,
    parse_point_tags,
    parse_resource_id,
    parse_slot,
    point_name,
    point_tags,
    restore_point_name,
    run_of,
)

EXAMPLES = settings(max_examples=500, deadline=None)

SUB = "00000000-0000-0000-0000-000000000001"
RG = f"/subscriptions/{SUB}/resourceGroups/rg-app"
VM = f"{RG}/providers/Microsoft.Compute/virtualMachines/vm-web-1"
OS_DISK = (
    f"/subscriptions/{SUB}/resourceGroups/rg-app/providers/Microsoft.Compute/disks/"
    "vm-web-1_OsDisk_1_0123456789abcdef0123456789abcdef"
)
DATA_DISK = f"/subscriptions/{SUB}/resourceGroups/rg-app/providers/Microsoft.Compute/disks/data-0"
SLOT = datetime(2026, 11, 25, 4, 0, tzinfo=UTC)
# What diskdr itself generates: stricter than Azure's rule (no "_" or ".", starts with a letter).
OUR_NAMES = re.compile(r"[a-z][a-zA-Z0-9-]{0,78}[a-z0-9]")


# --- slots -----------------------------------------------------------------------------
def test_slot_text_is_iso_utc_with_minutes():
    assert format_slot(SLOT) == "2026-11-25T04:00Z"
    assert parse_slot("2026-11-25T04:00Z") == SLOT
    assert parse_slot("2026-11-25T04:00Z").tzinfo is UTC


def test_an_aware_slot_in_another_zone_is_written_in_utc():
    berlin_five = datetime(2026, 11, 25, 5, 0, tzinfo=timezone(timedelta(hours=1)))
    assert format_slot(berlin_five) == "2026-11-25T04:00Z"


@pytest.mark.parametrize(
    "text",
    [
        "2026-11-25T04:00:00Z",
        "2026-11-25T04:00",
        "2026-11-25T04:00+00:00",
        "2026-11-25 04:00Z",
        "2026-13-01T00:00Z",
        "2026-11-25t04:00z",
        "",
    ],
)
def test_parse_slot_refuses_anything_else(text):
    with pytest.raises(ValueError, match="slot"):
        parse_slot(text)


@pytest.mark.parametrize(
    "slot",
    [datetime(2026, 11, 25, 4, 0), SLOT.replace(second=1), SLOT.replace(microsecond=5)],
)
def test_format_slot_refuses_naive_or_sub_minute_instants(slot):
    with pytest.raises(ValueError, match="slot"):
        format_slot(slot)


@EXAMPLES
@given(st.datetimes(min_value=datetime(1, 1, 1), max_value=datetime(9999, 12, 31)))
def test_slots_round_trip(moment):
    slot = moment.replace(second=0, microsecond=0, tzinfo=UTC)
    assert parse_slot(format_slot(slot)) == slot


# --- names -----------------------------------------------------------------------------
def test_names_are_readable_and_stable_across_releases():
    # These exact strings are what earlier runs created in Azure: if they change, a re-run
    # slot no longer finds its point and makes a second one. Never update them casually.
    assert (
        point_name("prod", VM, DATA_DISK, SLOT)
        == "dr-vm-web-1-data-0-20261125T0400-2trqxxgnqey3kzox"
    )
    assert point_name("prod", VM, OS_DISK, SLOT) == (
        "dr-vm-web-1-osdisk-1-0123456789abcdef0123456789ab-20261125T0400-s7c32x5zuednnexp"
    )
    assert point_name("prod", VM, DATA_DISK, SLOT, "replica") == (
        "dr-vm-web-1-data-0-20261125T0400-rep-zinwyt3zwzgmqx2l"
    )
    assert group_id("prod", VM, SLOT) == "drg-vm-web-1-20261125T0400-us3pmcfxxo43ejum"
    assert restore_point_name("prod", VM, SLOT) == "drp-vm-web-1-20261125T0400-ovb3gh2tuiotbi6s"
    assert collection_name(VM, "prod") == "drc-vm-web-1-xv3j4gl345brze7e"
    assert collection_name(VM, "prod", "replica") == "drc-vm-web-1-rep-swl2pt2m6ndc7vse"


def test_resource_ids_are_compared_case_insensitively():
    assert point_name("prod", VM.upper(), DATA_DISK.lower(), SLOT) == point_name(
        "prod", VM, DATA_DISK, SLOT
    )
    assert group_id("prod", VM.lower(), SLOT) == group_id("prod", VM, SLOT)
    assert collection_name(VM.upper(), "prod") == collection_name(VM, "prod")


def test_the_install_id_is_part_of_the_identity():
    assert point_name("prod", VM, DATA_DISK, SLOT) != point_name("test", VM, DATA_DISK, SLOT)
    assert point_name("prod", VM, DATA_DISK, SLOT) != point_name("PROD", VM, DATA_DISK, SLOT)


def test_invalid_inputs_are_refused():
    with pytest.raises(ValueError, match="role: expected one of primary, replica"):
        point_name("prod", VM, DATA_DISK, SLOT, "secondary")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="resource id: expected a non-empty string"):
        point_name("prod", "", DATA_DISK, SLOT)
    with pytest.raises(ValueError, match="identity field: expected a non-empty string"):
        group_id("", VM, SLOT)
    with pytest.raises(ValueError, match="minute precision"):
        group_id("prod", VM, SLOT + timedelta(seconds=30))


def test_is_valid_name_follows_azure_snapshot_rules():
    assert is_valid_name("a")
    assert is_valid_name("snap_")
    assert is_valid_name("A.b-c_9")
    assert not is_valid_name("")
    assert not is_valid_name("-a")
    assert not is_valid_name("_a")
    assert not is_valid_name("a-")
    assert not is_valid_name("a.")
    assert not is_valid_name("a b")
    assert not is_valid_name("a" * 81)
    assert is_valid_name("a" * 80)


ids = st.text(min_size=1, max_size=300)
ascii_ids = st.text(st.sampled_from("abcXYZ019-_./()"), min_size=1, max_size=300)
slots = st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2200, 1, 1)).map(
    lambda moment: moment.replace(second=0, microsecond=0, tzinfo=UTC)
)
roles = st.sampled_from(["primary", "replica"])


@EXAMPLES
@given(ids, ids, ids, slots, roles)
def test_every_name_is_valid_for_azure(install, vm, disk, slot, role):
    names = [
        point_name(install, vm, disk, slot, role),
        group_id(install, vm, slot),
        restore_point_name(install, vm, slot, role),
        collection_name(vm, install, role),
    ]
    for name in names:
        assert is_valid_name(name), name
        assert OUR_NAMES.fullmatch(name), name
        assert len(name) <= naming.MAX_NAME_LENGTH


@EXAMPLES
@given(st.text(st.sampled_from("ab/"), min_size=150, max_size=150), ascii_ids, ascii_ids, slots)
def test_names_differ_when_identities_differ_even_after_truncation(prefix, tail_a, tail_b, slot):
    # A long shared prefix makes the readable parts identical: only the hash tells them apart.
    assume(tail_a.lower() != tail_b.lower())
    vm_a, vm_b = prefix + tail_a, prefix + tail_b
    assert point_name("i", vm_a, "d", slot) != point_name("i", vm_b, "d", slot)
    assert point_name("i", "v", vm_a, slot) != point_name("i", "v", vm_b, slot)
    assert group_id("i", vm_a, slot) != group_id("i", vm_b, slot)
    assert restore_point_name("i", vm_a, slot) != restore_point_name("i", vm_b, slot)
    assert collection_name(vm_a, "i") != collection_name(vm_b, "i")


@EXAMPLES
@given(ascii_ids, ascii_ids, slots, roles)
def test_names_ignore_the_case_of_resource_ids(vm, disk, slot, role):
    assert point_name("i", vm.swapcase(), disk.upper(), slot, role) == point_name(
        "i", vm, disk, slot, role
    )
    assert group_id("i", vm.swapcase(), slot) == group_id("i", vm, slot)


def test_thousands_of_near_identical_identities_never_collide():
    long_rg = "rg-" + "x" * 85
    base = f"/subscriptions/{SUB}/resourceGroups/{long_rg}/providers/Microsoft.Compute"
    names = set()
    count = 0
    for vm_index in range(20):
        vm = f"{base}/virtualMachines/vm-with-a-rather-long-name-{vm_index:02d}"
        for disk_index in range(25):
            disk = f"{base}/disks/vm-with-a-rather-long-name-{vm_index:02d}_datadisk_{disk_index}"
            for hour in range(0, 24, 4):
                slot = SLOT.replace(hour=hour)
                for role in ("primary", "replica"):
                    names.add(point_name("prod", vm, disk, slot, role))  # type: ignore[arg-type]
                    count += 1
    assert len(names) == count == 20 * 25 * 6 * 2


# --- resource ids ----------------------------------------------------------------------
def test_parse_resource_id():
    parts = parse_resource_id(OS_DISK)
    assert parts.subscription_id == SUB
    assert parts.resource_group == "rg-app"
    assert parts.name == "vm-web-1_OsDisk_1_0123456789abcdef0123456789abcdef"
    nested = (
        f"/subscriptions/{SUB}/resourcegroups/RG/providers/Microsoft.Compute/"
        "restorePointCollections/c/restorePoints/p"
    )
    assert parse_resource_id(nested).name == "p"
    assert parse_resource_id(nested).resource_group == "RG"
    with pytest.raises(ValueError, match="expected an ARM resource id"):
        parse_resource_id("vm-web-1")


# --- tags ------------------------------------------------------------------------------
def test_tag_names():
    assert (
        naming.TAG_OWNER,
        naming.TAG_POLICY,
        naming.TAG_VM,
        naming.TAG_DISK,
        naming.TAG_DISK_UID,
        naming.TAG_SLOT,
        naming.TAG_GROUP,
        naming.TAG_CONSISTENCY,
        naming.TAG_ROLE,
        naming.TAG_SOURCE,
        naming.TAG_HOLD,
    ) == (
        "diskdr-owner",
        "diskdr-policy",
        "diskdr-vm",
        "diskdr-disk",
        "diskdr-disk-uid",
        "diskdr-slot",
        "diskdr-group",
        "diskdr-consistency",
        "diskdr-role",
        "diskdr-source",
        "diskdr-hold",
    )


def test_point_tags_of_a_primary_point():
    group = group_id("prod", VM, SLOT)
    tags = point_tags("prod", "gold", VM, DATA_DISK, "A1B2-UID", SLOT, group, "crash", "primary")
    assert tags == {
        "diskdr-owner": "prod",
        "diskdr-policy": "gold",
        "diskdr-vm": VM.lower(),
        "diskdr-disk": DATA_DISK.lower(),
        "diskdr-disk-uid": "a1b2-uid",
        "diskdr-slot": "2026-11-25T04:00Z",
        "diskdr-group": group,
        "diskdr-consistency": "crash",
        "diskdr-role": "primary",
    }


def test_a_replica_names_its_source_and_a_primary_must_not():
    source = f"/subscriptions/{SUB}/resourceGroups/rg-app/providers/Microsoft.Compute/snapshots/S"
    tags = point_tags("prod", "gold", VM, DATA_DISK, "u", SLOT, "g", "app", "replica", source)
    assert tags["diskdr-source"] == source.lower()
    assert tags["diskdr-role"] == "replica"
    with pytest.raises(ValueError, match="a replica names the primary point"):
        point_tags("prod", "gold", VM, DATA_DISK, "u", SLOT, "g", "app", "replica")
    with pytest.raises(ValueError, match="only a replica has a source point"):
        point_tags("prod", "gold", VM, DATA_DISK, "u", SLOT, "g", "app", "primary", source)


def test_invalid_tag_inputs_are_refused():
    with pytest.raises(ValueError, match="consistency: expected one of crash, crash-multi, app"):
        point_tags("prod", "gold", VM, DATA_DISK, "u", SLOT, "g", "vss", "primary")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"policy: at most 256 characters .* got 257"):
        point_tags("prod", "p" * 257, VM, DATA_DISK, "u", SLOT, "g", "app", "primary")
    with pytest.raises(ValueError, match="install id: expected a non-empty string"):
        point_tags("", "gold", VM, DATA_DISK, "u", SLOT, "g", "app", "primary")


def test_an_id_longer_than_a_tag_value_is_cut_and_hashed():
    long_id = (
        f"/subscriptions/{SUB}/resourceGroups/{'r' * 90}/providers/Microsoft.Compute/disks/"
        + "d" * 80
    )
    assert len(long_id) > 256
    value = id_tag_value(long_id)
    assert len(value) == naming.MAX_TAG_VALUE_LENGTH
    assert value.startswith(long_id.lower()[:200])
    assert re.fullmatch(r"[a-z2-7]{16}", value.split("#")[1])
    assert id_tag_value(long_id.upper()) == value
    assert id_tag_value(long_id[:-1] + "e") != value
    assert id_tag_value(value) == value  # idempotent: re-tagging never shortens twice
    assert id_tag_value(VM) == VM.lower()


def test_ownership_is_the_owner_tag_exactly():
    tags = {"diskdr-owner": "prod"}
    assert is_owned_by(tags, "prod")
    assert is_owned_by({"DISKDR-OWNER": "prod"}, "prod")  # tag names are case-insensitive
    assert not is_owned_by(tags, "PROD")  # values are not
    assert not is_owned_by({}, "prod")
    assert not is_owned_by(None, "prod")


def test_parse_point_tags_ignores_what_is_not_ours():
    tags = point_tags("other", "gold", VM, DATA_DISK, "u", SLOT, "g", "crash", "primary")
    assert parse_point_tags(tags, "prod") is None
    assert parse_point_tags({"env": "prod"}, "prod") is None
    assert parse_point_tags(None, "prod") is None


def test_parse_point_tags_reads_hold_in_any_case_and_with_any_value():
    tags = point_tags("prod", "gold", VM, DATA_DISK, "u", SLOT, "g", "crash", "primary")
    parsed = parse_point_tags(tags, "prod")
    assert parsed is not None and parsed.hold is False
    held = parse_point_tags({**tags, "DiskDR-Hold": "legal case 42"}, "prod")
    assert held is not None and held.hold is True
    held_empty = parse_point_tags({**tags, "diskdr-hold": ""}, "prod")
    assert held_empty is not None and held_empty.hold is True


def test_broken_tags_on_our_resource_raise_with_every_problem_word_for_word():
    tags = {
        "diskdr-owner": "prod",
        "diskdr-policy": "gold",
        "diskdr-vm": VM.lower(),
        "diskdr-disk-uid": "u",
        "diskdr-slot": "2026-11-25T04:00:00Z",
        "diskdr-group": "g",
        "diskdr-consistency": "vss",
        "diskdr-role": "replica",
    }
    with pytest.raises(PointTagsError) as raised:
        parse_point_tags(tags, "prod", resource_id="/x/snapshots/s1")
    assert str(raised.value) == (
        "/x/snapshots/s1 carries diskdr-owner=prod but: diskdr-disk: missing; "
        "diskdr-slot: expected a slot like 2026-11-25T04:00Z (UTC, minutes), "
        "got '2026-11-25T04:00:00Z'; diskdr-consistency: expected one of crash, crash-multi, "
        "app, inconsistent, got 'vss'; diskdr-source: missing (required on a replica)"
    )


texts = st.text(min_size=1, max_size=300)
point_tag_inputs = st.fixed_dictionaries(
    {
        "install_id": st.text(min_size=1, max_size=256),
        "policy": st.text(min_size=1, max_size=256),
        "vm_id": texts,
        "disk_id": texts,
        "disk_uid": texts,
        "slot": slots,
        "group": st.text(min_size=1, max_size=256),
        "consistency": st.sampled_from(naming.CONSISTENCIES),
        "role": roles,
        "source": texts,
    }
)


@EXAMPLES
@given(point_tag_inputs, st.booleans(), st.booleans())
def test_tags_round_trip(inputs, hold, shout):
    if inputs["role"] == "primary":
        inputs["source"] = None
    tags = point_tags(**inputs)
    assert all(len(value) <= naming.MAX_TAG_VALUE_LENGTH for value in tags.values())
    if hold:
        tags[naming.TAG_HOLD] = "true"
    if shout:  # Azure may hand tag names back in another case
        tags = {name.upper(): value for name, value in tags.items()}
    parsed = parse_point_tags(tags, inputs["install_id"])
    assert parsed == PointTags(
        owner=inputs["install_id"],
        policy=inputs["policy"],
        vm_id=id_tag_value(inputs["vm_id"]),
        disk_id=id_tag_value(inputs["disk_id"]),
        disk_uid=id_tag_value(inputs["disk_uid"]),
        slot=inputs["slot"],
        group=inputs["group"],
        consistency=inputs["consistency"],
        role=inputs["role"],
        source=id_tag_value(inputs["source"]) if inputs["source"] else None,
        hold=hold,
    )
    assert parsed.vm_id == id_tag_value(inputs["vm_id"])
    # Writing the parsed tags again gives the same tags: shortened ids are not cut twice.
    written_again = point_tags(
        parsed.owner,
        parsed.policy,
        parsed.vm_id,
        parsed.disk_id,
        parsed.disk_uid,
        parsed.slot,
        parsed.group,
        parsed.consistency,
        parsed.role,
        parsed.source,
    )
    if parsed.hold:
        written_again[naming.TAG_HOLD] = "true"
    assert written_again == {name.lower(): value for name, value in tags.items()}


def test_ids_azure_echoes_in_another_form_compare_leniently():
    from diskdr.naming import same_resource_id_leniently

    sent = (
        "/subscriptions/S/resourceGroups/rg/providers/Microsoft.Compute/restorePointCollections/c"
    )
    assert same_resource_id_leniently(sent, sent.lower().lstrip("/"))
    assert same_resource_id_leniently(sent, sent + "/")
    assert not same_resource_id_leniently(sent, sent + "2")


@pytest.mark.parametrize(
    ("instance_id", "run"),
    [
        ("cycle-gold-2026-12-05T07:00Z", "cycle-gold-2026-12-05T07:00Z"),
        ("cycle-gold-2026-12-05T07:00Z:vm:ab12cd34ef56", "cycle-gold-2026-12-05T07:00Z"),
        ("cycle-gold-2026-12-05T07:00Z:lane:003", "cycle-gold-2026-12-05T07:00Z"),
        ("cycle-gold-2026-12-05T07:00Z:vm:ab:copy:2", "cycle-gold-2026-12-05T07:00Z"),
        ("ondemand-gold-2026-12-05T07:05Z-0a1b2c:prune", "ondemand-gold-2026-12-05T07:05Z-0a1b2c"),
        ("restore-0123456789abcdef", "restore-0123456789abcdef"),
    ],
)
def test_run_of_strips_sub_orchestration_suffixes_but_not_the_slot(instance_id, run):
    assert run_of(instance_id) == run


def test_a_disk_from_a_disk_restore_point_is_restored_and_from_a_snapshot_copied():
    collection = (
        "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Compute/restorePointCollections/c"
    )
    disk_point = f"{collection}/restorePoints/rp/diskRestorePoints/d0"
    snapshot = "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Compute/snapshots/s0"
    assert naming.disk_create_option(disk_point) == "Restore"
    assert naming.disk_create_option(snapshot) == "Copy"
