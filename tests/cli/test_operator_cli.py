"""The operator commands of ``diskdr`` against devhost + emulator, over real HTTP: tables and
``--json``, ``--wait`` with its progress bar, every exit code (0 ok, 1 the operation failed,
2 bad input), and clear messages for a wrong URL, a wrong key and an unknown id.

One twin for the module: its one scheduled slot runs first, then ``diskdr drill`` runs a DR
drill in which Azure refuses every disk restored into the drill group. vm-c1 is protected
(one data disk excluded by tag) and its last drill failed, vm-c2 is selected by no policy,
and Azure refuses every point of vm-c3's data disk, so its runs end ``PartiallyFailed`` (and
it has no complete group to drill).
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import re
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from diskdr.cli import main
from tests.e2e.conftest import REPLICA_REGION, TwinRun, estate, start_twin, vm
from twin.harness import REPO_ROOT, SUBSCRIPTION

pytestmark = pytest.mark.slow

GROUP = f"/subscriptions/{SUBSCRIPTION}/resourceGroups/rg-cli/providers/Microsoft.Compute"
ESTATE = estate(
    {
        "rg-cli": [
            vm("vm-c1", "e2e", data=[(0, "Premium_LRS"), (1, "Premium_LRS", {"backup": "skip"})]),
            vm("vm-c2", "none"),
            vm("vm-c3", "e2e", data=[(0, "Premium_LRS")]),
        ]
    }
)
ESTATE["subscriptions"][0]["resourceGroups"].append(
    {"name": "rg-drill", "location": REPLICA_REGION}
)
FAILING_CODE = "OperationNotAllowed"
DRILL_CODE = "SnapshotCorrupted"


def vm_id(name: str) -> str:
    return f"{GROUP}/virtualMachines/{name}"


REFUSE_VM_C3_DATA_DISK = {
    "method": "PUT",
    "path": r"/snapshots/dr-vm-c3-data-0-[^/]*$",
    "status": 409,
    "code": FAILING_CODE,
    "message": "Operation is not allowed on this disk at the moment.",
}
# Azure refuses a disk made from a broken replica.
REFUSE_DRILL_DISKS = {
    "method": "PUT",
    "path": "resourceGroups/rg-drill/providers/Microsoft.Compute/disks/",
    "status": 409,
    "code": DRILL_CODE,
    "message": "The source snapshot is corrupted.",
}
#: ``diskdr drill e2e --wait`` of the fixture: (exit code, stdout)
DRILL: dict[str, Any] = {}


def refuse_vm_c3_data_disk(run: TwinRun) -> None:
    run.control.faults([REFUSE_VM_C3_DATA_DISK])


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TwinRun]:
    state_dir = tmp_path_factory.mktemp("cli")
    with start_twin(
        state_dir,
        ESTATE,
        1,
        template=Path(__file__).with_name("policies.yaml"),
        prepare=refuse_vm_c3_data_disk,
    ) as twin_run:
        report = twin_run.wait_cycle(twin_run.slots[0])
        assert report["phase"] == "PartiallyFailed", report
        failing_drill(twin_run)
        yield twin_run


def failing_drill(run: TwinRun) -> None:
    """``diskdr drill e2e --wait`` while Azure refuses the drill's disks (kept in ``DRILL``)."""
    host = run.twin.host
    assert host is not None
    run.control.faults([REFUSE_VM_C3_DATA_DISK, REFUSE_DRILL_DISKS])
    out = io.StringIO()
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(io.StringIO()):
            argv = ["drill", "e2e", "--wait", "--interval", "0.2"]
            DRILL["code"] = main([*argv, "--url", host.url, "--key", host.function_key])
    finally:
        run.control.faults([REFUSE_VM_C3_DATA_DISK])
    DRILL["out"] = out.getvalue()


def diskdr(run: TwinRun, capsys: pytest.CaptureFixture[str], *argv: str, key: str | None = None):
    """Run ``diskdr ARGV --url <devhost> --key <function key>``: (exit code, stdout, stderr)."""
    host = run.twin.host
    assert host is not None
    command, *rest = argv
    code = main([command, "--url", host.url, "--key", key or host.function_key, *rest])
    out, err = capsys.readouterr()
    return code, out, err


# --- compliance ------------------------------------------------------------------------------
def test_compliance_lists_each_vm_and_what_is_unprotected(run, capsys):
    code, out, _ = diskdr(run, capsys, "compliance")
    assert code == 0
    assert re.search(r"vm-c1 .*e2e .*OK", out), out
    assert "unprotected" in out
    assert re.search(r"vm-c2 .*NoPolicy", out), out
    assert re.search(r"vm-c1 .*DiskExcluded .*vm-c1-data-1", out), out
    assert re.search(r"vm-c3 .*NoUsablePoint .*vm-c3-data-0", out), out
    for name in ("vm-c1", "vm-c3"):  # both drilled (sample 2): every restored disk refused
        assert re.search(rf"{name} .*DrillFailed .*drill", out), out
    assert DRILL_CODE in out


def test_compliance_json_is_the_api_answer(run, capsys):
    code, out, _ = diskdr(run, capsys, "compliance", "--json")
    assert code == 0
    report = json.loads(out)
    gaps = {(gap["vmName"], gap["reason"]) for gap in report["unprotected"]}
    assert gaps == {
        ("vm-c1", "DiskExcluded"),
        ("vm-c1", "DrillFailed"),
        ("vm-c2", "NoPolicy"),
        ("vm-c3", "NoUsablePoint"),
        ("vm-c3", "DrillFailed"),
    }
    assert {entry["vmName"] for entry in report["vms"]} == {"vm-c1", "vm-c3"}
    for gap in report["unprotected"]:
        if gap["reason"] == "DrillFailed":
            assert gap["policy"] == "e2e" and gap["detail"].startswith("drill drill-e2e-"), gap
            assert f"restore failed: {DRILL_CODE}: " in gap["detail"], gap
            assert "The source snapshot is corrupted." in gap["detail"], gap
    drills = {entry["vmName"]: entry["drill"]["status"] for entry in report["vms"]}
    assert drills == {"vm-c1": "FAILED", "vm-c3": "FAILED"}


def test_a_drill_that_failed_exits_1_and_says_why():
    assert DRILL["code"] == 1, DRILL["out"]
    assert "Failed" in DRILL["out"] and DRILL_CODE in DRILL["out"], DRILL["out"]


# --- backup --wait, status, points -----------------------------------------------------------
def test_backup_wait_follows_the_run_to_completed_and_exits_0(run, capsys):
    code, out, err = diskdr(run, capsys, "backup", vm_id("vm-c1"), "--wait", "--interval", "0.2")
    assert code == 0, (out, err)
    assert re.search(r"run \S+ started \(policy e2e\)", out), out
    assert re.search(r"run \S+: Completed, Completed", out), out
    assert "vm-c1-data-0" in out and "vm-c1-data-1" not in out  # the excluded disk


def test_backup_json_answers_the_202_then_status_reads_the_run(run, capsys):
    code, out, _ = diskdr(run, capsys, "backup", vm_id("vm-c1"), "--policy", "e2e", "--json")
    assert code == 0
    accepted = json.loads(out)
    assert accepted["statusUrl"].endswith(f"/api/backups/{accepted['id']}")
    code, out, _ = diskdr(run, capsys, "status", accepted["id"], "--wait", "--interval", "0.2")
    assert code == 0, out
    code, out, _ = diskdr(run, capsys, "status", accepted["id"], "--json")
    status = json.loads(out)
    assert status["runtimeStatus"] == "Completed" and status["output"]["phase"] == "Completed"


def test_a_run_that_partly_failed_exits_1(run, capsys):
    code, out, _ = diskdr(run, capsys, "status", run.cycle_id(run.slots[0]))
    assert code == 1
    assert "PartiallyFailed" in out and FAILING_CODE in out
    code, out, err = diskdr(run, capsys, "backup", vm_id("vm-c3"), "--wait", "--interval", "0.2")
    assert code == 1, (out, err)
    assert "PartiallyFailed" in out


def test_points_lists_groups_per_region(run, capsys):
    code, out, _ = diskdr(run, capsys, "points", vm_id("vm-c1"))
    assert code == 0
    assert "eastus" in out and "westus2" in out and "replica" in out
    code, out, _ = diskdr(run, capsys, "points", vm_id("vm-c1"), "--json")
    assert json.loads(out)["vmId"] == vm_id("vm-c1")


# --- bad input: exit 2, and what the operator is told ----------------------------------------
def test_an_unknown_run_id_is_2_with_the_api_message(run, capsys):
    code, _, err = diskdr(run, capsys, "status", "no-such-run")
    assert code == 2
    assert "InstanceNotFound" in err and "no-such-run" in err


def test_a_wrong_key_is_2_and_says_so(run, capsys):
    code, _, err = diskdr(run, capsys, "compliance", key="not-the-key")
    assert code == 2
    assert "function key is wrong" in err and "DISKDR_KEY" in err


def test_a_url_that_is_not_diskdr_is_2(run, capsys):
    host = run.twin.host
    assert host is not None
    code = main(["compliance", "--url", f"{host.url}/elsewhere", "--key", host.function_key])
    _, err = capsys.readouterr()
    assert code == 2 and "is http" in err and "a diskdr app" in err


def test_bad_arguments_are_2(run, capsys):
    code, _, err = diskdr(run, capsys, "backup", "vm-c1")
    assert code == 2 and "InvalidResourceId" in err
    code, _, err = diskdr(run, capsys, "backup", vm_id("vm-c1"), f"{GROUP}/disks/vm-c1-osdisk")
    assert code == 2 and "not both" in err
    assert main(["compliance", "--url", "not a url"]) == 2
    assert "--url" in capsys.readouterr().err


def unused_port() -> int:
    """A port nothing listens on (bound, then released)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_an_unreachable_app_is_1(capsys):
    code = main(["compliance", "--url", f"http://127.0.0.1:{unused_port()}", "--key", "k"])
    assert code == 1
    assert "cannot reach diskdr" in capsys.readouterr().err


# --- the installed command, configured by the environment -----------------------------------
def test_the_command_reads_url_and_key_from_the_environment(run):
    host = run.twin.host
    assert host is not None
    environment = {**os.environ, "DISKDR_URL": host.url, "DISKDR_KEY": host.function_key}
    done = subprocess.run(
        [sys.executable, "-m", "diskdr", "compliance", "--status", "OK", "--json"],
        env=environment,
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    report: dict[str, Any] = json.loads(done.stdout)
    assert [entry["vmName"] for entry in report["vms"]] == ["vm-c1"]
    environment.pop("DISKDR_URL")
    done = subprocess.run(
        [sys.executable, "-m", "diskdr", "compliance"],
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 2 and "DISKDR_URL" in done.stderr


# --- --url/--key before the command (DESIGN: diskdr [--url URL] [--key KEY] status ID) ------
def test_url_and_key_work_before_the_command_and_after_it_wins(run, capsys):
    host = run.twin.host
    assert host is not None
    cycle = run.cycle_id(run.slots[0])
    code = main(["--url", host.url, "--key", host.function_key, "status", cycle, "--json"])
    out, err = capsys.readouterr()
    assert code == 1, err  # the slot's run PartiallyFailed (vm-c3)
    assert json.loads(out)["output"]["phase"] == "PartiallyFailed"
    # Both given: the command's own value wins (a wrong key before, the right one after).
    code = main(["--url", host.url, "--key", "wrong", "compliance", "--key", host.function_key])
    assert code == 0, capsys.readouterr().err
    code = main(["--url", host.url, "--key", host.function_key, "compliance", "--key", "wrong"])
    assert code == 2 and "function key is wrong" in capsys.readouterr().err


def test_a_status_of_another_kind_of_run_is_404_with_the_json_error(run):
    # GET /api/backups/{id} answers for backup runs only, with "id" as the other routes.
    status, body = run.twin.http("GET", f"/api/backups/{run.cycle_id(run.slots[0])}")
    assert status == 200 and body["id"] == body["instanceId"] == run.cycle_id(run.slots[0])
    status, accepted = run.twin.http("POST", "/api/backups", {"vmIds": [vm_id("vm-c1")]})
    assert status == 202, accepted
    for route in ("restores", "drills", "failover"):
        status, body = run.twin.http("GET", f"/api/{route}/{accepted['id']}")
        assert status == 404 and body["error"]["code"] == "InstanceNotFound", (route, body)


def test_drill_vms_must_be_a_positive_number(capsys):
    assert main(["drill", "e2e", "--vms", "0", "--url", "http://127.0.0.1:9"]) == 2
    assert "expected an integer > 0" in capsys.readouterr().err


# --- Skipped: nothing attempted for a reason that is not a fault ----------------------------
def test_a_restore_point_within_azure_spacing_is_skipped_with_its_reason(run, capsys):
    # Policy rp takes crash-consistent VM restore points: Azure wants them 1 h apart.
    body = {"vmIds": [vm_id("vm-c1")], "policy": "rp"}
    status, first = run.twin.http("POST", "/api/backups", body)
    assert status == 202, first
    assert run.wait_report(first["id"])["phase"] == "Completed"
    status, second = run.twin.http("POST", "/api/backups", body)
    assert status == 202 and second["id"] != first["id"], second  # a later minute's slot
    report = run.wait_report(second["id"])
    assert report["phase"] == "Skipped", report
    assert "1 h apart" in report["reason"] and "vm-c1" in report["reason"], report
    summary = report["summary"]
    assert summary["failed"] == 0 and summary["skipped"] == summary["disks"] > 0, summary
    code, out, _ = diskdr(run, capsys, "status", second["id"])
    assert code == 0 and "Skipped" in out, out  # not a failure: exit 0, no alert
