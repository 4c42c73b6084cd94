"""The control plane: reset, estate seeding, writes and content, clock, config, events, stats."""

from __future__ import annotations

import pytest
import requests
from azure.core.exceptions import ResourceNotFoundError

from emulator.harness import ControlError
from tests.emulator.support import SUB, SUB2, TIME_SCALE, disk_body, disk_id, estate_one_vm


def test_estate_creates_groups_vms_and_disks(compute, control):
    seed = estate_one_vm(data_skus=("Premium_LRS", "PremiumV2_LRS"))
    group = seed["subscriptions"][0]["resourceGroups"][0]
    group["disks"] = [{"name": "spare", "sizeGB": 32, "tags": {"role": "spare"}}]
    seed["subscriptions"].append(
        {"id": SUB2, "resourceGroups": [{"name": "rg-dr", "location": "westus2"}]}
    )
    created = control.estate(seed)["created"]
    assert len(created["resourceGroups"]) == 2
    assert created["vms"] == [
        f"/subscriptions/{SUB}/resourceGroups/rg-app/providers/Microsoft.Compute/virtualMachines/vm-web-1"
    ]
    assert sorted(created["disks"]) == sorted(
        disk_id(n, "rg-app")
        for n in ("spare", "vm-web-1-osdisk", "vm-web-1-data-0", "vm-web-1-data-1")
    )
    spare = compute.disks.get("rg-app", "spare")
    assert spare.properties.disk_state == "Unattached" and spare.tags == {"role": "spare"}
    data1 = compute.disks.get("rg-app", "vm-web-1-data-1")
    assert data1.sku.name == "PremiumV2_LRS" and data1.properties.disk_size_gb == 128
    # Fresh VM disks already hold data; standalone disks start empty.
    assert control.content(data1.id)["blocks"] == 8
    assert control.content(spare.id)["blocks"] == 0


def test_estate_is_additive_and_refuses_duplicates(control, compute):
    control.estate(estate_one_vm("vm-a"))
    control.estate(estate_one_vm("vm-b"))
    assert sorted(vm.name for vm in compute.virtual_machines.list("rg-app")) == ["vm-a", "vm-b"]
    with pytest.raises(ControlError) as info:
        control.estate(estate_one_vm("vm-a"))
    assert info.value.status == 409


def test_estate_power_state_and_tags(control, compute):
    seed = estate_one_vm()
    seed["subscriptions"][0]["resourceGroups"][0]["vms"][0]["powerState"] = "deallocated"
    control.estate(seed)
    view = compute.virtual_machines.instance_view("rg-app", "vm-web-1")
    assert view.statuses[1].code == "PowerState/deallocated"
    assert compute.disks.get("rg-app", "vm-web-1-osdisk").properties.disk_state == "Reserved"


def test_estate_unknown_field_is_named(control):
    seed = estate_one_vm()
    seed["subscriptions"][0]["resourceGroups"][0]["vms"][0]["colour"] = "blue"
    with pytest.raises(ControlError) as info:
        control.estate(seed)
    assert info.value.status == 400
    assert "subscriptions[0].resourceGroups[0].vms[0].colour" in info.value.body["error"]["message"]


def test_reset_drops_everything(control, compute):
    control.estate(estate_one_vm())
    control.config(pageSize=50)
    control.reset()
    assert control.stats()["requests"] == {}
    assert control.config()["pageSize"] == 3  # back to the startup value
    with pytest.raises(ResourceNotFoundError):
        compute.virtual_machines.get("rg-app", "vm-web-1")


def test_write_and_content(control, compute, group):
    disk = compute.disks.begin_create_or_update(group, "d", disk_body(1)).result()
    empty = control.content(disk.id)
    assert empty["blocks"] == 0 and empty["sizeGB"] == 1
    written = control.write(disk.id, offsets=[0, 3])
    assert written["id"] == disk.id and written["digest"] != empty["digest"]
    assert control.content(disk.id)["digest"] == written["digest"]
    again = control.write(disk.id, offsets=[0, 3])  # a rewrite changes the digest
    assert again["digest"] != written["digest"]
    assert control.write(disk.id, blocks=1000)["blocks"] == 256  # 1 GiB = 256 blocks of 4 MiB
    with pytest.raises(ControlError) as info:
        control.write(disk.id, offsets=[256])
    assert info.value.status == 400
    with pytest.raises(ControlError) as info:
        control.write(disk_id("ghost"), blocks=1)
    assert info.value.status == 404
    with pytest.raises(ControlError):
        control.content(disk_id("ghost"))


def test_clock_matches_the_harness_clock(emulator, control):
    clock = control.clock()
    assert clock["scale"] == TIME_SCALE
    assert clock["anchor"] == pytest.approx(emulator.clock.anchor)
    assert abs(clock["nowUnix"] - emulator.clock.time()) < 60  # 0.1 s real
    assert clock["now"].endswith("+00:00")


def test_config_validation_and_round_trip(control):
    config = control.config(limits={"copiesInFlightPerRegion": 5}, throttle=True)
    assert config["limits"]["copiesInFlightPerRegion"] == 5 and config["throttle"] is True
    assert config["lroSeconds"]["Snapshots_CreateOrUpdate"] > 0
    with pytest.raises(ControlError) as info:
        control.config(pageSze=3)
    assert "pageSze" in info.value.body["error"]["message"]
    with pytest.raises(ControlError):
        control.config(limits={"copiesPerRegion": 5})
    with pytest.raises(ControlError):
        control.config(pageSize=0)


def test_event_subscriptions_are_stored(control):
    result = control.events("https://127.0.0.1:9/hook")
    assert result["subscriptions"][0]["url"] == "https://127.0.0.1:9/hook"
    with pytest.raises(ControlError):
        control.events("ftp://nope")
    control.reset()
    assert control._call("GET", "events") == {"subscriptions": []}


def test_unknown_control_endpoint_and_fields(emulator, control):
    response = requests.post(
        emulator.url + "/_emulator/nope", json={}, verify=emulator.ca_path, timeout=10
    )
    assert response.status_code == 404
    with pytest.raises(ControlError) as info:
        control._call("POST", "reset", {"sed": 1})
    assert info.value.status == 400 and "sed" in info.value.body["error"]["message"]


def test_stats_shape(control, compute, group):
    compute.disks.begin_create_or_update(group, "d", disk_body()).result()
    stats = control.stats()
    assert stats["requests"]["Disks_CreateOrUpdate"] == 1
    assert stats["requests"]["ResourceGroups_CreateOrUpdate"] == 1
    for key in ("throttled", "limitViolations", "peakCopies", "pointsPerDisk", "copiesInFlight"):
        assert key in stats
