"""Event Grid VM-change events: what is acted on, what is ignored (and why), debouncing."""

from datetime import UTC, datetime, timedelta

import pytest

from diskdr.events import Ignored, change_instance_id, debounce_window, vm_change

SUB = "00000000-0000-0000-0000-000000000001"
VM = f"/subscriptions/{SUB}/resourceGroups/rg/providers/Microsoft.Compute/virtualMachines/vm1"
WHEN = datetime(2026, 11, 25, 10, 7, 30, tzinfo=UTC)
WRITE = "Microsoft.Resources.ResourceWriteSuccess"


def data(**extra):
    return {
        "operationName": "Microsoft.Compute/virtualMachines/write",
        "resourceUri": VM,
        "status": "Succeeded",
        **extra,
    }


def test_a_vm_write_is_a_change():
    change = vm_change(WRITE, VM, data(), WHEN, [SUB])
    assert (change.vm_id, change.time) == (VM, WHEN)


@pytest.mark.parametrize(
    ("event_type", "payload", "why"),
    [
        ("Microsoft.Resources.ResourceDeleteSuccess", data(), "is not Microsoft.Resources"),
        (WRITE, "junk", "event data is not an object"),
        (WRITE, data(operationName="Microsoft.Compute/disks/write"), "is not a VM write"),
        (WRITE, data(status="Failed"), "operation status 'Failed'"),
        (WRITE, data(resourceUri="/subscriptions/x"), "is not a VM resource id"),
        (WRITE, data(resourceUri=VM.replace(SUB, "0" * 8 + SUB[8:-1] + "9")), "not in scope"),
    ],
)
def test_everything_else_is_ignored_with_a_reason(event_type, payload, why):
    with pytest.raises(Ignored, match=why):
        vm_change(event_type, VM, payload, WHEN, [SUB])


def test_writes_in_one_window_share_one_backup():
    window = timedelta(minutes=15)
    first = vm_change(WRITE, VM, data(), WHEN, [SUB])
    later = vm_change(WRITE, VM, data(), WHEN + timedelta(minutes=5), [SUB])
    next_window = vm_change(WRITE, VM, data(), WHEN + timedelta(minutes=10), [SUB])
    assert change_instance_id(first, window) == change_instance_id(later, window)
    assert change_instance_id(first, window) != change_instance_id(next_window, window)
    start, end = debounce_window(first, window)
    assert (start, end) == (WHEN.replace(minute=0, second=0), WHEN.replace(minute=15, second=0))
    assert change_instance_id(first, window).startswith("vmchange-")
    other_vm = vm_change(WRITE, VM + "x", data(resourceUri=VM + "x"), WHEN, [SUB])
    assert change_instance_id(other_vm, window) != change_instance_id(first, window)
