"""The ``diskdr`` command: policy tools (offline) and operator commands (over the HTTP API).

``diskdr validate FILE`` · ``diskdr slots FILE --from ISO --to ISO [--json]`` ·
``diskdr simulate FILE --days N [...] [--json]``; policy errors go to stderr as
``file:line: field.path: reason``. The operator commands (``status``, ``backup``,
``points``, ``compliance``) live in ``diskdr.cli_ops``. Exit status 0 on success, 1 when
an operation failed, 2 on invalid input.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from datetime import UTC, datetime

from diskdr import cli_ops
from diskdr.errors import PolicyError, ScheduleError
from diskdr.policy import Policy, PolicySet, load_policy_file
from diskdr.schedule import policy_slots, zone_of
from diskdr.simulate import Prices, Workload, render_table, simulate

EXIT_OK = 0
EXIT_INVALID = 2


class UsageError(Exception):
    """A command-line value is invalid (reported as ``diskdr: message``, exit 2)."""


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command; return the exit status."""
    parser = _parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exit_:  # argparse exits 2 on usage errors, 0 on --help
        return int(exit_.code or 0)
    try:
        return int(args.run(args))
    except PolicyError as error:
        for issue in error.issues:
            print(issue, file=sys.stderr)
        return EXIT_INVALID
    except UsageError as error:
        print(f"diskdr: {error}", file=sys.stderr)
        return EXIT_INVALID


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="diskdr",
        description="Backup and disaster recovery for Azure VM disks: policy tools, and "
        "operator commands over the HTTP API of a deployed app (--url/--key or DISKDR_URL/"
        "DISKDR_KEY).",
    )
    cli_ops.connection_options(parser)
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    validate = commands.add_parser("validate", help="check a policy file (YAML or JSON)")
    validate.add_argument("file", metavar="FILE")
    validate.set_defaults(run=_validate)

    slots = commands.add_parser("slots", help="list when each policy takes points")
    slots.add_argument("file", metavar="FILE")
    slots.add_argument("--from", dest="start", required=True, metavar="ISO", type=_instant)
    slots.add_argument("--to", dest="end", required=True, metavar="ISO", type=_instant)
    slots.add_argument("--json", action="store_true", help="print JSON")
    slots.set_defaults(run=_slots)

    sim = commands.add_parser(
        "simulate", help="run schedules and retention over N days; estimate storage and cost"
    )
    sim.add_argument("file", metavar="FILE")
    sim.add_argument("--days", required=True, type=_positive_int, metavar="N")
    sim.add_argument(
        "--start",
        type=_instant,
        metavar="ISO",
        help="first instant (default: today 00:00 UTC)",
    )
    defaults, prices = Workload(), Prices()
    sim.add_argument(
        "--interval-changes",
        dest="changes",
        type=_non_negative,
        default=defaults.changes_gb_per_day,
        metavar="GB/day",
        help=f"data written per disk per day (default {defaults.changes_gb_per_day:g})",
    )
    sim.add_argument(
        "--disk-size",
        type=_non_negative,
        default=defaults.disk_size_gb,
        metavar="GB",
        help=f"used size of each disk (default {defaults.disk_size_gb:g})",
    )
    sim.add_argument(
        "--disks",
        type=_positive_int,
        default=defaults.disks,
        metavar="N",
        help=f"disks protected by each policy (default {defaults.disks})",
    )
    sim.add_argument(
        "--price-snapshot",
        type=_non_negative,
        default=prices.snapshot_gb_month,
        metavar="USD",
        help=f"snapshot storage per GB-month (example default {prices.snapshot_gb_month:g})",
    )
    sim.add_argument(
        "--price-transfer",
        type=_non_negative,
        default=prices.transfer_gb,
        metavar="USD",
        help=f"cross-region transfer per GB (example default {prices.transfer_gb:g})",
    )
    sim.add_argument(
        "--primary-region",
        default="primary",
        metavar="NAME",
        help="label of the primary region in the output (default: primary)",
    )
    sim.add_argument("--json", action="store_true", help="print JSON")
    sim.set_defaults(run=_simulate)

    cli_ops.register(commands)
    return parser


# -- argument types ---------------------------------------------------------------------


def _instant(text: str) -> datetime:
    """An ISO 8601 date or date-time; without an offset it is UTC."""
    try:
        value = datetime.fromisoformat(text.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected an ISO 8601 instant such as 2026-11-24T06:00Z, got {text!r}"
        ) from None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _non_negative(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not value >= 0:  # also refuses NaN
        raise argparse.ArgumentTypeError(f"expected a number >= 0, got {text!r}")
    return value


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"expected an integer > 0, got {text!r}")
    return value


# -- commands -----------------------------------------------------------------------------


def _validate(args: argparse.Namespace) -> int:
    policies = load_policy_file(args.file)
    names = ", ".join(policy.name for policy in policies.policies)
    count = len(policies.policies)
    print(f"{args.file}: valid ({count} polic{'y' if count == 1 else 'ies'}: {names})")
    return EXIT_OK


def _slots(args: argparse.Namespace) -> int:
    if args.end <= args.start:
        raise UsageError("--to must be later than --from")
    policies = load_policy_file(args.file)
    listing = [(policy, policy_slots(policy, args.start, args.end)) for policy in policies.policies]
    if args.json:
        document = {
            "from": _iso(args.start),
            "to": _iso(args.end),
            "policies": [
                {"name": policy.name, "slots": [_iso(slot) for slot in slots]}
                for policy, slots in listing
            ],
        }
        print(json.dumps(document, indent=2))
        return EXIT_OK
    print(f"slots in ({_iso(args.start)}, {_iso(args.end)}]:")
    for policy, slots in listing:
        print(f"\npolicy {policy.name}: {len(slots)} slot(s); {_describe(policy)}")
        zone = _common_zone(policy)
        for slot in slots:
            local = ""
            if zone is not None:
                wall = slot.astimezone(zone_of(zone))
                local = f"  ({wall:%Y-%m-%d %H:%M %Z} {zone})"
            print(f"  {_iso(slot)}{local}")
    return EXIT_OK


def _simulate(args: argparse.Namespace) -> int:
    policies: PolicySet = load_policy_file(args.file)
    start = args.start
    if start is None:
        start = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    try:
        result = simulate(
            policies,
            start,
            args.days,
            workload=Workload(args.disk_size, args.changes, args.disks),
            prices=Prices(args.price_snapshot, args.price_transfer),
            primary_region=args.primary_region,
        )
    except (ValueError, ScheduleError) as error:
        raise UsageError(str(error)) from None
    if args.json:
        print(json.dumps(result.to_dict(), indent=2))
    else:
        print(render_table(result))
    return EXIT_OK


def _describe(policy: Policy) -> str:
    schedules = "; ".join(f"{s.cron} ({s.time_zone})" for s in policy.schedules)
    return f"{schedules}; catchUp {policy.catch_up}"


def _common_zone(policy: Policy) -> str | None:
    """The schedules' zone when they share one that is not UTC (shown next to each slot)."""
    zones = {schedule.time_zone for schedule in policy.schedules}
    if len(zones) != 1:
        return None
    zone = zones.pop()
    return None if zone in ("UTC", "Etc/UTC") else zone


def _iso(instant: datetime) -> str:
    return instant.astimezone(UTC).strftime("%Y-%m-%dT%H:%MZ")
