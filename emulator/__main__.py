"""``python -m emulator``: serve the Compute emulator until SIGTERM.

Prints one JSON line ``{"url": "https://127.0.0.1:PORT", "ca": "DIR/ca.pem"}`` on stdout
when ready; logs go to stderr.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from pathlib import Path

from emulator.server import create_world, serve


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m emulator", description=__doc__)
    parser.add_argument("--port", type=int, default=0, help="TCP port (0: a free one)")
    parser.add_argument(
        "--state-dir", type=Path, required=True, help="directory for the CA (ca.pem) and logs"
    )
    parser.add_argument(
        "--time-scale", type=float, default=1.0, help="world seconds per real second"
    )
    parser.add_argument(
        "--clock-anchor",
        type=float,
        default=None,
        help="real Unix time at which world and real time agree (default: now)",
    )
    parser.add_argument("--throttle", action="store_true", help="refuse requests over ARM's limits")
    parser.add_argument(
        "--lro-hints",
        action="store_true",
        help="fast mode: DiskRP LROs send Retry-After hints too (Azure sends none)",
    )
    parser.add_argument("--page-size", type=int, default=100, help="items per list page")
    parser.add_argument("--seed", type=int, default=None, help="seed of the content RNG")
    parser.add_argument("--log-level", default="INFO", help="DEBUG logs every request")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(
        stream=sys.stderr,
        level=args.log_level.upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    if args.time_scale <= 0 or args.page_size < 1:
        print("--time-scale must be > 0 and --page-size >= 1", file=sys.stderr)
        return 2
    world, router = create_world(
        time_scale=args.time_scale,
        clock_anchor=args.clock_anchor,
        throttle=args.throttle,
        page_size=args.page_size,
        seed=args.seed,
        lro_hints=args.lro_hints,
    )

    def ready(line: str) -> None:
        sys.stdout.write(line + "\n")
        sys.stdout.flush()

    asyncio.run(serve(world, router, port=args.port, state_dir=args.state_dir, ready=ready))
    return 0


if __name__ == "__main__":
    sys.exit(main())
