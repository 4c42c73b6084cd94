"""after_vm_change: a debounced run that finds nothing to back up ends ``Skipped``."""

from __future__ import annotations

from datetime import timedelta

from orchestrations.after_vm_change import after_vm_change
from tests.orchestrations.conftest import orchestrator_function
from tests.orchestrations.fake_context import DEFAULT_NOW, FakeContext, run

AFTER_VM_CHANGE = orchestrator_function(after_vm_change)
VM = "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Compute/virtualMachines/vm-1"


def test_a_vm_no_policy_selects_is_skipped_with_its_reason() -> None:
    request = {
        "vmId": VM,
        "notBefore": (DEFAULT_NOW + timedelta(minutes=5)).isoformat(),
        "installId": "diskdr-test",
        "options": {},
    }
    context = FakeContext(request)
    output = run(AFTER_VM_CHANGE, context, {"describe_vm": lambda _: {"vm": None, "policy": None}})
    assert output["phase"] == "Skipped" and output["vmId"] == VM
    assert output["reason"] == "the VM is gone or no policy selects it"
    assert output["trigger"] == "vm-change"
    assert [task.kind for task in context.awaited] == ["timer", "activity"]  # debounced first
