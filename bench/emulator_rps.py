"""Throughput of the Compute emulator: simple authenticated GETs over keep-alive TLS.

Starts an emulator, seeds one disk, then runs client threads (each with its own keep-alive
HTTPS connection) that GET the disk for a fixed time, and reports requests per second and
the p50/p99 latency. The emulator answers from one process; the clients run in worker
processes so that the client's own GIL does not cap what is measured.

    .venv/bin/python bench/emulator_rps.py [--seconds 10] [--processes 2] [--threads 4]
"""

from __future__ import annotations

import argparse
import http.client
import json
import multiprocessing
import ssl
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from emulator import EmulatorServer

SUB = "00000000-0000-0000-0000-0000000000be"
PATH = (
    f"/subscriptions/{SUB}/resourceGroups/rg-bench/providers/Microsoft.Compute/disks/"
    "bench-disk?api-version=2026-03-02"
)


def client(args: tuple[str, str, float, int]) -> list[float]:
    """One worker process: ``threads`` keep-alive connections GETting until the deadline."""
    url, ca_path, seconds, threads = args
    import threading

    host, port = url.removeprefix("https://").split(":")
    context = ssl.create_default_context(cafile=ca_path)
    latencies: list[float] = []
    lock = threading.Lock()
    deadline = time.perf_counter() + seconds

    def run() -> None:
        connection = http.client.HTTPSConnection(host, int(port), context=context, timeout=30)
        mine = []
        headers = {"Authorization": "Bearer bench"}
        while time.perf_counter() < deadline:
            started = time.perf_counter()
            connection.request("GET", PATH, headers=headers)
            response = connection.getresponse()
            response.read()
            if response.status != 200:
                raise RuntimeError(f"unexpected status {response.status}")
            mine.append(time.perf_counter() - started)
        connection.close()
        with lock:
            latencies.extend(mine)

    workers = [threading.Thread(target=run) for _ in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    return latencies


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--processes", type=int, default=2)
    parser.add_argument("--threads", type=int, default=4, help="connections per process")
    args = parser.parse_args()

    with EmulatorServer(log_level="WARNING") as emu:
        assert emu.control is not None
        emu.control.estate(
            {
                "subscriptions": [
                    {
                        "id": SUB,
                        "resourceGroups": [
                            {
                                "name": "rg-bench",
                                "location": "eastus",
                                "disks": [{"name": "bench-disk", "sizeGB": 64}],
                            }
                        ],
                    }
                ]
            }
        )
        # Warm up (TLS session setup, first-request costs) before measuring.
        client((emu.url, emu.ca_path, 0.5, 1))
        started = time.perf_counter()
        with multiprocessing.Pool(args.processes) as pool:
            results = pool.map(
                client, [(emu.url, emu.ca_path, args.seconds, args.threads)] * args.processes
            )
        elapsed = time.perf_counter() - started
        stats = emu.control.stats()

    latencies = sorted(x for r in results for x in r)
    count = len(latencies)
    report = {
        "requests": count,
        "seconds": round(elapsed, 2),
        "rps": round(count / elapsed),
        "p50_ms": round(statistics.median(latencies) * 1000, 2),
        "p99_ms": round(latencies[int(count * 0.99) - 1] * 1000, 2),
        "connections": args.processes * args.threads,
        "served_by_emulator": stats["requests"].get("Disks_Get", 0),
    }
    print(json.dumps(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
