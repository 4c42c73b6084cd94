"""The recovery commands of ``diskdr`` over the HTTP API: ``restore VM``, ``drill POLICY``,
``failover POLICY`` (a dry run unless ``--execute``). Same options, output and exit
codes as the other operator commands (``diskdr.cli_ops``)."""

from __future__ import annotations

import argparse
from typing import Any

from rich.console import Console
from rich.table import Table

from diskdr.api_client import ApiClient
from diskdr.cli import _positive_int
from diskdr.cli_ops import (
    EXIT_OK,
    _wait_options,
    emit,
    follow,
    operator_parser,
    render_accepted,
    run_exit_code,
)


def register(commands: Any) -> None:
    restore = operator_parser(
        commands, "restore", "restore a VM's recovery point group as disks or a VM", _restore
    )
    restore.add_argument("vm", metavar="VM", help="the VM's resource id (a deleted VM's too)")
    restore.add_argument(
        "--resource-group", required=True, help="an existing group to restore into"
    )
    restore.add_argument(
        "--slot", default="latest", help='"latest" or a slot like 2026-11-25T04:00Z'
    )
    restore.add_argument("--region", default=None, help="restore from the replicas in this region")
    restore.add_argument("--mode", choices=("disks", "vm"), default="disks")
    restore.add_argument("--subnet-id", default=None, help="the new VM's subnet (--mode vm)")
    restore.add_argument("--name-prefix", default=None, help="prefix of every name created")
    restore.add_argument(
        "--vm-size", default=None, help="the new VM's size (default: the source's)"
    )
    _wait_options(restore)

    drill = operator_parser(commands, "drill", "run a policy's DR drill now", _drill)
    drill.add_argument("policy", metavar="POLICY")
    drill.add_argument(
        "--vms", type=_positive_int, default=None, help="how many VMs (default: the sample)"
    )
    _wait_options(drill)

    failover = operator_parser(
        commands, "failover", "fail a policy's VMs over to the secondary region", _failover
    )
    failover.add_argument("policy", metavar="POLICY")
    failover.add_argument(
        "--resource-group", required=True, help="an existing group to restore into"
    )
    failover.add_argument("--region", default=None, help="default: the policy's replicate.region")
    failover.add_argument("--subnet-id", default=None, help="restore as VMs in this subnet")
    failover.add_argument(
        "--execute", action="store_true", help="really fail over (default: a dry run, the plan)"
    )
    _wait_options(failover)


def _started(args: argparse.Namespace, client: ApiClient, out: Console, accepted: Any) -> int:
    if not args.wait:
        emit(args, out, accepted, lambda: render_accepted(out, accepted))
        return EXIT_OK
    if not args.json:
        render_accepted(out, accepted)
    status = follow(client, accepted["statusUrl"], args.interval)
    emit(args, out, status, lambda: render_recovery(out, status))
    return run_exit_code(status)


def _restore(args: argparse.Namespace, client: ApiClient, out: Console) -> int:
    body = {
        "vmId": args.vm,
        "slot": args.slot,
        "resourceGroup": args.resource_group,
        "mode": args.mode,
    }
    for key, value in (
        ("region", args.region),
        ("subnetId", args.subnet_id),
        ("namePrefix", args.name_prefix),
        ("vmSize", args.vm_size),
    ):
        if value:
            body[key] = value
    return _started(args, client, out, client.post("/api/restores", body).body)


def _drill(args: argparse.Namespace, client: ApiClient, out: Console) -> int:
    body: dict[str, Any] = {"policy": args.policy}
    if args.vms is not None:
        body["vms"] = args.vms
    return _started(args, client, out, client.post("/api/drills", body).body)


def _failover(args: argparse.Namespace, client: ApiClient, out: Console) -> int:
    body: dict[str, Any] = {
        "policy": args.policy,
        "resourceGroup": args.resource_group,
        "dryRun": not args.execute,
    }
    if args.region:
        body["region"] = args.region
    if args.subnet_id:
        body["subnetId"] = args.subnet_id
    answer = client.post("/api/failover", body).body
    if answer.get("dryRun"):
        emit(args, out, answer, lambda: render_plan(out, answer))
        return EXIT_OK
    return _started(args, client, out, answer)


def render_plan(out: Console, plan: dict[str, Any]) -> None:
    table = Table(
        title=f"failover plan of {plan.get('policy')} into {plan.get('region')} (dry run)"
    )
    for column in ("order", "VM", "slot", "RPO achieved", "would create"):
        table.add_column(column)
    for vm in plan.get("vms", []):
        table.add_row(
            str(vm["order"]),
            vm["vmId"].rsplit("/", 1)[-1],
            vm["slot"],
            f"{vm['pointAgeSeconds'] / 60:.0f} min",
            str(len(vm["wouldCreate"])) + " resources",
        )
    out.print(table)
    for refused in plan.get("refused", []):
        out.print(f"[red]cannot restore[/red] {refused['vmId']}: {refused['error']['message']}")


def render_recovery(out: Console, status: dict[str, Any]) -> None:
    output = status.get("output") or {}
    out.print(
        f"{status.get('name')} {status.get('id')}: {status.get('runtimeStatus')} "
        f"{output.get('phase', '')}"
    )
    vms = output.get("vms")
    if vms is None:  # a restore: one VM
        vms = [
            {
                **output,
                "vmId": output.get("sourceVmId"),
                "restoredDiskIds": [d["restoredDiskId"] for d in output.get("disks", [])],
            }
        ]
    table = Table()
    for column in ("VM", "slot", "restored", "RTO", "check", "error"):
        table.add_column(column)
    for vm in vms:
        rto = vm.get("rtoSeconds")
        made = f"{len(vm.get('restoredDiskIds') or [])} disks"
        if vm.get("restoredVmId") or (vm is not None and output.get("mode") == "vm"):
            made += " + VM"
        table.add_row(
            str(vm.get("vmId", "")).rsplit("/", 1)[-1],
            str(vm.get("slot", "")),
            made,
            "-" if rto is None else f"{rto:.0f} s",
            str(vm.get("contentCheck", "")),
            str((vm.get("error") or {}).get("code", "")),
        )
    out.print(table)
