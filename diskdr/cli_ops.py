"""The operator commands of ``diskdr`` over the HTTP API of a deployed app or the twin:
``status ID``, ``backup VM...``, ``points VM``, ``compliance``.

Every command takes ``--url``/``--key`` (or ``DISKDR_URL``/``DISKDR_KEY``) and ``--json``
(the API's answer as it is, for scripts; otherwise ``rich`` tables for a person). Exit
status: 0 ok, 1 the operation failed (a run that ended ``Failed``, ``PartiallyFailed`` or
``Terminated``; the app unreachable or failing), 2 bad input (see ``diskdr.api_client``).

A new command is a function ``(args, client, out) -> int`` registered in :func:`register`
with :func:`operator_parser`; :func:`follow` waits for any run that has a status URL, and
:func:`emit` prints JSON or a table.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Callable
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from diskdr.api_client import EXIT_FAILED, EXIT_INVALID, ApiCallError, ApiClient

EXIT_OK = 0
URL_VARIABLE = "DISKDR_URL"
KEY_VARIABLE = "DISKDR_KEY"
ENDED = ("Completed", "Failed", "Terminated", "Canceled")
BAD_PHASES = ("Failed", "PartiallyFailed")

Command = Callable[[argparse.Namespace, ApiClient, Console], int]


# --- shared by every operator command -------------------------------------------------------
def operator_parser(
    commands: Any, name: str, help_text: str, command: Command
) -> argparse.ArgumentParser:
    """A subcommand with ``--url``, ``--key`` and ``--json`` that runs ``command``.

    ``--url``/``--key`` are accepted before the command too (``diskdr --url U status ID``,
    as DESIGN writes it): :func:`connection_options` adds them to the top-level parser, and
    here they default to ``SUPPRESS`` so that a value given after the command wins and one
    given before it is not overwritten by this parser's default.
    """
    parser = commands.add_parser(name, help=help_text)
    connection_options(parser, argparse.SUPPRESS)
    parser.add_argument("--json", action="store_true", help="print the API's JSON answer")
    parser.set_defaults(run=lambda args: _run(args, command))
    return parser


def connection_options(parser: argparse.ArgumentParser, default: Any = None) -> None:
    """``--url`` and ``--key`` (on ``diskdr`` itself, and on every operator command)."""
    parser.add_argument(
        "--url", default=default, help=f"the app's URL (default: ${URL_VARIABLE})", metavar="URL"
    )
    parser.add_argument(
        "--key", default=default, help=f"a function key (default: ${KEY_VARIABLE})", metavar="KEY"
    )


def _run(args: argparse.Namespace, command: Command) -> int:
    try:
        client = connect(args)
        return command(args, client, Console())
    except ApiCallError as error:
        print(f"diskdr: {error}", file=sys.stderr)
        return error.exit_code


def connect(args: argparse.Namespace) -> ApiClient:
    url = getattr(args, "url", None) or os.environ.get(URL_VARIABLE, "")
    if not url:
        raise ApiCallError(
            f"no app URL: pass --url or set {URL_VARIABLE} (e.g. https://<app>.azurewebsites.net)",
            EXIT_INVALID,
        )
    key = getattr(args, "key", None)
    return ApiClient(url, key or os.environ.get(KEY_VARIABLE) or None)


def emit(args: argparse.Namespace, out: Console, document: Any, render: Callable[[], None]) -> None:
    """``--json``: the document; otherwise ``render()`` (tables)."""
    if args.json:
        # Plain print: rich would wrap long lines of JSON for the terminal.
        print(json.dumps(document, indent=2), file=sys.stdout)
    else:
        render()


def follow(client: ApiClient, status_url: str, interval: float) -> dict[str, Any]:
    """Poll a run's status URL until the run has ended, with a progress bar on stderr."""
    errors = Console(stderr=True)
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        TextColumn("{task.completed}/{task.total} VMs"),
        TimeElapsedColumn(),
        console=errors,
        transient=True,
    ) as progress:
        task = progress.add_task("starting", total=None)
        while True:
            status = client.get(status_url).body
            custom = status.get("customStatus") if isinstance(status, dict) else None
            if isinstance(custom, dict):
                total = custom.get("vms")
                progress.update(
                    task,
                    description=str(custom.get("phase", status.get("runtimeStatus"))),
                    total=total if isinstance(total, int) else None,
                    completed=int(custom.get("vmsDone") or 0),
                )
            if status.get("runtimeStatus") in ENDED:
                return dict(status)
            time.sleep(interval)


def run_exit_code(status: dict[str, Any]) -> int:
    """0 unless the run ended badly: ``Failed``/``Terminated``, or a report whose phase is
    ``Failed`` or ``PartiallyFailed``."""
    if status.get("runtimeStatus") in ("Failed", "Terminated", "Canceled"):
        return EXIT_FAILED
    output = status.get("output")
    if isinstance(output, dict) and output.get("phase") in BAD_PHASES:
        return EXIT_FAILED
    return EXIT_OK


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number of seconds, got {text!r}") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"expected a number of seconds > 0, got {text!r}")
    return value


def _wait_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--wait", action="store_true", help="follow the run to its end")
    parser.add_argument(
        "--interval",
        type=_positive_float,
        default=5.0,
        metavar="SECONDS",
        help="how often --wait asks for the status (default 5)",
    )


# --- the commands ------------------------------------------------------------------------
def register(commands: Any) -> None:
    """Add the operator commands to ``diskdr``'s subcommands."""
    status = operator_parser(commands, "status", "a backup run's status and report", _status)
    status.add_argument("id", metavar="ID", help="the run's id (as `diskdr backup` printed it)")
    _wait_options(status)

    backup = operator_parser(commands, "backup", "back up VMs (or disks) now", _backup)
    backup.add_argument("targets", nargs="+", metavar="VM", help="VM (or disk) resource ids")
    backup.add_argument("--policy", default=None, help="the policy to apply", metavar="NAME")
    _wait_options(backup)

    points = operator_parser(commands, "points", "a VM's recovery points per region", _points)
    points.add_argument("vm", metavar="VM", help="the VM's resource id")

    compliance = operator_parser(
        commands, "compliance", "RPO compliance per VM and region, and what is unprotected", _comp
    )
    compliance.add_argument(
        "--status", default=None, help="only VMs with this status (OK, AT_RISK, ...)"
    )

    from diskdr import cli_recover  # restore, drill, failover (they use this module's helpers)

    cli_recover.register(commands)


# Status routes of the runs that are not backups, by the prefix of their ids (restore ids
# are ``restore-<digest>``, drills ``drill-<policy>-<time>``, failovers ``failover-<digest>``).
RECOVERY_ROUTES = (("restore-", "restores"), ("drill-", "drills"), ("failover-", "failover"))


def status_route(run_id: str) -> str:
    """The API route that answers for a run id: a backup run's unless the id is a recovery
    run's (so ``diskdr status`` follows any id diskdr handed out)."""
    return next((r for prefix, r in RECOVERY_ROUTES if run_id.startswith(prefix)), "backups")


def _status(args: argparse.Namespace, client: ApiClient, out: Console) -> int:
    route = status_route(args.id)
    path = f"/api/{route}/{_segment(args.id)}"
    status = follow(client, path, args.interval) if args.wait else client.get(path).body
    if route == "backups":
        emit(args, out, status, lambda: render_run(out, status))
    else:
        # Imported here: diskdr.cli_recover builds on this module.
        from diskdr.cli_recover import render_recovery

        emit(args, out, status, lambda: render_recovery(out, status))
    return run_exit_code(status)


def _backup(args: argparse.Namespace, client: ApiClient, out: Console) -> int:
    disks = [t for t in args.targets if "/providers/microsoft.compute/disks/" in t.lower()]
    if disks and len(disks) != len(args.targets):
        raise ApiCallError("name either VMs or disks, not both in one backup", EXIT_INVALID)
    body: dict[str, Any] = {"diskIds" if disks else "vmIds": list(args.targets)}
    if args.policy:
        body["policy"] = args.policy
    accepted = client.post("/api/backups", body).body
    if not args.wait:
        emit(args, out, accepted, lambda: render_accepted(out, accepted))
        return EXIT_OK
    if not args.json:
        render_accepted(out, accepted)
    status = follow(client, accepted["statusUrl"], args.interval)
    emit(args, out, status, lambda: render_run(out, status))
    return run_exit_code(status)


def _points(args: argparse.Namespace, client: ApiClient, out: Console) -> int:
    listing = client.get("/api/recovery-points", vmId=args.vm).body
    emit(args, out, listing, lambda: render_points(out, listing))
    return EXIT_OK


def _comp(args: argparse.Namespace, client: ApiClient, out: Console) -> int:
    query = {"status": args.status} if args.status else {}
    report = client.get("/api/compliance", **query).body
    emit(args, out, report, lambda: render_compliance(out, report))
    return EXIT_OK


def _segment(text: str) -> str:
    from urllib.parse import quote

    return quote(text, safe=":@")


# --- tables --------------------------------------------------------------------------------
_STYLE = {
    "OK": "green",
    "Completed": "green",
    "AT_RISK": "yellow",
    "PartiallyFailed": "yellow",
    "Running": "cyan",
    "BREACHED": "red",
    "UNPROTECTED": "red",
    "Failed": "red",
}


def _styled(text: Any) -> str:
    value = "" if text is None else str(text)
    style = _STYLE.get(value)
    return f"[{style}]{value}[/{style}]" if style else value.replace("[", r"\[")


def render_accepted(out: Console, accepted: dict[str, Any]) -> None:
    """A started run: its id, how to read its status, and its VMs. A backup's 202 lists
    each VM with its disks; a drill's or a failover's lists VM ids only (DESIGN's 202s)."""
    policy = f" (policy {accepted['policy']})" if accepted.get("policy") else ""
    out.print(f"run [bold]{accepted['id']}[/bold] started{policy}")
    url = str(accepted.get("statusUrl", ""))
    # `diskdr status` reads backup runs; a restore, drill or failover is read at its URL.
    where = f"diskdr status {accepted['id']}" if "/api/backups/" in url or not url else url
    out.print(f"status: {where}", markup=False, highlight=False)
    for vm in accepted.get("vms", []):
        if isinstance(vm, dict):
            out.print(f"  {vm['id']}: {len(vm.get('disks', []))} disk(s)", highlight=False)
        else:
            out.print(f"  {vm}", highlight=False)


def render_run(out: Console, status: dict[str, Any]) -> None:
    report = status.get("output") if isinstance(status.get("output"), dict) else None
    phase = report.get("phase") if report else None
    title = f"run {status.get('instanceId')}: {_styled(status.get('runtimeStatus'))}"
    if phase:
        title += f", {_styled(phase)}"
    out.print(title, highlight=False)
    if report is None:
        custom = status.get("customStatus")
        if isinstance(custom, dict):
            out.print(f"  phase {custom.get('phase')}: {custom.get('vmsDone', 0)} VM(s) done")
        return
    summary = report.get("summary", {})
    out.print(
        "  " + ", ".join(f"{name} {value}" for name, value in summary.items() if value is not None),
        highlight=False,
    )
    if report.get("error"):
        out.print(f"  error: {report['error']}", markup=False, highlight=False)
    table = Table("VM", "group", "disk", "point", "replica", "error", title="disks")
    for vm in report.get("vms", []):
        for disk in vm.get("disks", []):
            point, replica = disk.get("point") or {}, disk.get("replica") or {}
            error = disk.get("error") or disk.get("replicaError") or {}
            table.add_row(
                vm.get("vmName"),
                _styled(vm.get("state")),
                disk.get("diskName"),
                point.get("state", "-"),
                replica.get("state", disk.get("replicaNote") or "-"),
                _styled(error.get("code", "")),
            )
    out.print(table)


def render_points(out: Console, listing: dict[str, Any]) -> None:
    table = Table("slot", "region", "role", "points", "usable", "states", title=listing["vmId"])
    for group in listing.get("groups", []):
        states = ", ".join(f"{name} {count}" for name, count in group.get("states", {}).items())
        table.add_row(
            group["slot"],
            group["region"],
            group["role"],
            str(group["points"]),
            str(group["usable"]),
            states,
        )
    out.print(table)
    if not listing.get("groups"):
        out.print("no recovery points")


def render_compliance(out: Console, report: dict[str, Any]) -> None:
    table = Table("VM", "policy", "status", "regions (age of the newest usable group)")
    for vm in report.get("vms", []):
        regions = "; ".join(
            f"{r['region']} {r['status']}"
            + (f" {r['ageMinutes']:g} min" if r.get("ageMinutes") is not None else "")
            for r in vm.get("regions", [])
        )
        table.add_row(vm["vmName"], vm["policy"], _styled(vm["status"]), regions)
    table.title = f"compliance at {report.get('generatedAt', '')}"
    out.print(table)
    summary = report.get("summary", {})
    out.print(", ".join(f"{name} {count}" for name, count in summary.items()), highlight=False)
    gaps = report.get("unprotected", [])
    if not gaps:
        out.print("unprotected: nothing")
        return
    unprotected = Table("VM", "reason", "policy", "disk", "detail", title="unprotected")
    for gap in gaps:
        disk = gap.get("diskId")
        unprotected.add_row(
            gap["vmName"],
            _styled(gap["reason"]),
            gap.get("policy") or "-",
            disk.rsplit("/", 1)[-1] if disk else "-",
            gap.get("detail") or "",
        )
    out.print(unprotected)
