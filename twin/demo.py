"""``make demo``: diskdr's main job on the offline twin, start to finish, in a few minutes.

Starts the Compute emulator and devhost on one world clock running 1200x faster, seeds a
sample estate (6 VMs, 16 disks, Premium SSD and Premium SSD v2, two regions; one VM
protected by VM restore points), simulates
guest writes between slots, lets the scheduler take several hourly slots (snapshots,
cross-region copies, pruning), makes one on-demand backup over HTTP, prints what diskdr
did, restores a secondary-region point to a new disk and checks its content against the
source disk at that slot, and ends with the operator's view: `diskdr compliance` over the
HTTP API. Exits non-zero if any check fails.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import time
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from diskdr.azure.clients import Clients
from diskdr.azure.compute import ComputePort
from diskdr.naming import format_slot
from diskdr.settings import Settings
from twin.estate import sample_estate
from twin.harness import SUBSCRIPTION, Twin

HERE = Path(__file__).resolve().parent
GOLD_SLOTS_WANTED = 4  # the catch-up slot at start plus three more the timer takes
WRITE_MINUTE = 45  # guest writes land at HH:45 world time, between the slots
SUB_ORCHESTRATION = re.compile(r":(vm|copy|prune|cycle)(:|$)")


def say(text: str = "") -> None:
    print(text, flush=True)


class Demo:
    def __init__(self, time_scale: float, deadline: float) -> None:
        self.twin = Twin(
            policy_file=HERE / "demo-policies.yaml",
            time_scale=time_scale,
            install_id="diskdr-demo",
            tick_schedule="0 * * * * *",
            settings={"DISKDR_MAX_COPIES_PER_REGION": "4"},
        )
        self.deadline = time.monotonic() + deadline
        self.disk_ids: list[str] = []
        self.digest_at_slot: dict[str, dict[str, str]] = {}  # slot -> disk id -> digest
        self.seen: dict[str, str] = {}
        self.failures: list[str] = []

    # --- running -------------------------------------------------------------------------
    def run(self) -> int:
        twin = self.twin
        say(f"diskdr demo: offline twin, world clock x{twin.time_scale:g}")
        twin.start(host=False)
        try:
            created = twin.control.estate(sample_estate())["created"]
            self.disk_ids = list(created["disks"])
            say(f"  emulator  {twin.emulator.url}  (seeded {len(self.disk_ids)} disks)")
            twin.start_host()
            say(f"  devhost   {twin.host.url}  (function_app.py, state {twin.state_dir})")
            say()
            self.watch_schedule()
            self.on_demand()
            self.report()
            self.restore_check()
            self.stats()
            self.cli_compliance()
        finally:
            twin.stop()
            say("stopped the emulator and devhost")
        if self.failures:
            say("\nDEMO FAILED:\n  " + "\n  ".join(self.failures))
            return 1
        say("\ndemo OK")
        return 0

    def world(self) -> datetime:
        return self.twin.clock.now()

    def instances(self) -> list[Any]:
        """Top-level runs only: sub-orchestrations are ``<run>:vm:..``, ``:copy:..``, ..."""
        client = self.twin.host.client()
        statuses = self.twin.host.run(client.get_status_all())
        return [s for s in statuses if not SUB_ORCHESTRATION.search(s.instance_id)]

    def progress(self) -> list[Any]:
        """Print runs that started or ended since the last call; the top-level runs."""
        runs = [s for s in self.instances() if s.instance_id.startswith(("cycle-", "ondemand-"))]
        for run in sorted(runs, key=lambda s: s.instance_id):
            state = run.runtime_status.value if run.runtime_status else "?"
            if self.seen.get(run.instance_id) == state:
                continue
            self.seen[run.instance_id] = state
            custom = run.custom_status or {}
            if state == "Completed":
                out = run.output or {}
                summary = out.get("summary", {})
                say(
                    f"  [{self.world():%H:%M} world] {run.instance_id}: {out.get('phase')} — "
                    f"{summary.get('usable')}/{summary.get('disks')} points, "
                    f"{summary.get('replicated')} copied, {summary.get('pruned')} pruned"
                )
            else:
                phase = custom.get("phase", "")
                say(f"  [{self.world():%H:%M} world] {run.instance_id}: {state} {phase}")
        return runs

    def write_between_slots(self, last_write: datetime | None) -> datetime | None:
        now = self.world()
        mark = now.replace(minute=WRITE_MINUTE, second=0, microsecond=0)
        if now < mark:
            mark -= timedelta(hours=1)
        if last_write is not None and mark <= last_write:
            return last_write
        next_slot = format_slot(mark.replace(minute=0) + timedelta(hours=1))
        digests = {}
        for disk_id in self.disk_ids:
            digests[disk_id] = self.twin.control.write(disk_id, blocks=4)["digest"]
        self.digest_at_slot[next_slot] = digests
        return mark

    def watch_schedule(self) -> None:
        say(f"Letting the scheduler take {GOLD_SLOTS_WANTED} hourly gold slots (and silver ones):")
        last_write = None
        while time.monotonic() < self.deadline:
            last_write = self.write_between_slots(last_write)
            runs = self.progress()
            done = [
                r for r in runs
                if r.instance_id.startswith("cycle-gold-") and r.runtime_status
                and r.runtime_status.value in ("Completed", "Failed")
            ]  # fmt: skip
            if len(done) >= GOLD_SLOTS_WANTED:
                return
            time.sleep(0.2)
        self.failures.append(f"fewer than {GOLD_SLOTS_WANTED} gold slots before the deadline")

    def on_demand(self) -> None:
        vm_id = self.vm_id("vm-db-1")
        say("\nOn-demand backup over HTTP: POST /api/backups {'vmIds': ['.../vm-db-1']}")
        status, body = self.twin.http("POST", "/api/backups", {"vmIds": [vm_id]})
        say(f"  -> {status}, instance {body.get('id') if isinstance(body, dict) else body}")
        if status != 202:
            self.failures.append(f"on-demand backup answered {status}: {body}")
            return
        while time.monotonic() < self.deadline:
            self.progress()
            status, run = self.twin.http("GET", f"/api/backups/{body['id']}")
            if run["runtimeStatus"] in ("Completed", "Failed"):
                if run["runtimeStatus"] != "Completed" or run["output"]["phase"] != "Completed":
                    self.failures.append(f"on-demand backup ended {run['runtimeStatus']}")
                return
            time.sleep(0.2)
        self.failures.append("the on-demand backup did not finish before the deadline")

    # --- reporting -----------------------------------------------------------------------
    def vm_id(self, name: str) -> str:
        return (
            f"/subscriptions/{SUBSCRIPTION}/resourceGroups/rg-app/providers/"
            f"Microsoft.Compute/virtualMachines/{name}"
        )

    def report(self) -> None:
        say("\nRecovery points per VM (group = one slot of all the VM's disks):")
        for name in ("vm-web-1", "vm-web-2", "vm-db-1", "vm-sql-1", "vm-app-1", "vm-app-2"):
            _, body = self.twin.http("GET", f"/api/recovery-points?vmId={self.vm_id(name)}")
            say(f"  {name}")
            by_slot: dict[str, dict[str, str]] = {}
            for group in body["groups"]:
                cell = f"{group['usable']}/{group['points']} usable"
                by_slot.setdefault(group["slot"], {})[group["region"]] = cell
            copies = {
                format_slot(datetime.fromisoformat(p["slot"])): p.get("completionPercent")
                for p in body["points"]
                if p["role"] == "replica"
            }
            for slot, regions in sorted(by_slot.items()):
                copy = copies.get(slot)
                progress = f"  copy {copy:.0f}%" if copy is not None else ""
                say(
                    f"    {slot}  eastus: {regions.get('eastus', '-'):<12} "
                    f"westus2: {regions.get('westus2', '-'):<12}{progress}"
                )

        cycles = sorted(
            (r for r in self.instances() if r.instance_id.startswith("cycle-gold-")),
            key=lambda r: r.instance_id,
        )
        say("\nPruning (gold), per run: what retention removed and why the rest stayed:")
        for run in cycles:
            prune = (run.output or {}).get("prune") or {}
            plan = prune.get("plan") or {}
            say(
                f"  {run.instance_id}: kept {len(plan.get('keep', []))}, "
                f"deleted {len(prune.get('deleted', []))}"
            )
        if cycles:
            plan = ((cycles[-1].output or {}).get("prune") or {}).get("plan") or {}
            say(f"  decisions of the last run ({cycles[-1].instance_id}), vm-web-1:")
            for item in plan.get("keep", []):
                if item["vmId"].endswith("/vm-web-1"):
                    disk = item["diskId"].rsplit("/", 1)[1]
                    say(
                        f"    keep   {item['region']:<8} {disk:<18} {item['slot'][:16]}  "
                        f"{', '.join(item['reasons'])}"
                    )
            for item in plan.get("remove", []):
                if item["vmId"].endswith("/vm-web-1"):
                    disk = item["diskId"].rsplit("/", 1)[1]
                    say(f"    remove {item['region']:<8} {disk:<18} {item['slot'][:16]}")

        _, compliance = self.twin.http("GET", "/api/compliance")
        say("\nCompliance (GET /api/compliance):")
        say(f"  {'VM':<10} {'policy':<7} {'RPO':>5}  {'status':<11} newest usable point per region")
        for vm in compliance["vms"]:
            regions = "  ".join(
                f"{r['region']}: {r['status']}"
                + (f" ({r['ageMinutes']:.0f} min old)" if r.get("ageMinutes") is not None else "")
                for r in vm["regions"]
            )
            say(
                f"  {vm['vmName']:<10} {vm['policy']:<7} {vm['rpoMinutes']:>4.0f}m  "
                f"{vm['status']:<11} {regions}"
            )
        unprotected = [vm["vmName"] for vm in compliance["vms"] if vm["status"] == "UNPROTECTED"]
        if unprotected or len(compliance["vms"]) != 6:
            self.failures.append(
                f"compliance: {len(compliance['vms'])} VMs, unprotected {unprotected}"
            )

    def restore_check(self) -> None:
        say("\nRestore: a disk from a secondary-region point, checked against its source")
        twin = self.twin
        settings = Settings.from_env(twin.app_settings())
        port = ComputePort(Clients(settings))
        source_disk = next(d for d in self.disk_ids if d.endswith("/vm-web-1-data-0"))
        replicas = [
            p
            for p in port.list_points(SUBSCRIPTION).points
            if p.role == "replica"
            and p.state == "usable"
            and p.disk_id == source_disk.lower()
            and format_slot(p.slot) in self.digest_at_slot
        ]
        if not replicas:
            self.failures.append("no usable replica of vm-web-1-data-0 with a recorded slot")
            return
        replica = min(replicas, key=lambda p: p.slot)
        slot = format_slot(replica.slot)
        disk = port.create_disk_from_point(
            replica.id,
            resource_group="rg-diskdr-westus2",
            name=f"restored-web-1-data-0-{replica.slot:%Y%m%dT%H%M}",
            region=replica.region,
        )
        restored = twin.control.content(disk.id)["digest"]
        expected = self.digest_at_slot[slot][source_disk]
        now = twin.control.content(source_disk)["digest"]
        say(f"  point    {replica.name} (westus2, slot {slot})")
        say(f"  restored {disk.id}")
        say(f"  digest of the restored disk      {restored}")
        say(f"  digest of the source at {slot} {expected}")
        say(f"  digest of the source now         {now}")
        if restored != expected:
            self.failures.append("the restored disk does not hold the source's content at its slot")
        else:
            say("  OK: the restored disk holds exactly the source disk's content at that slot")

    def stats(self) -> None:
        stats = self.twin.control.stats()
        say("\nEmulator stats:")
        say(f"  requests: {sum(stats['requests'].values())}  throttled: {stats['throttled']}")
        say(f"  peak copies in flight: {stats['peakCopies']} (cap set to 4)")
        say(f"  platform limits violated: {len(stats['limitViolations'])}")
        if stats["limitViolations"]:
            self.failures.append(f"limit violations: {stats['limitViolations']}")
        if any(n > 4 for n in stats["peakCopies"].values()):
            self.failures.append(f"copy cap exceeded: {stats['peakCopies']}")

    def cli_compliance(self) -> None:
        """The operator's view: the ``diskdr`` command over the app's HTTP API."""
        host = self.twin.host
        assert host is not None
        say(f"\n$ diskdr compliance --url {host.url} --key ***")
        done = subprocess.run(
            [
                sys.executable,
                "-m",
                "diskdr",
                "compliance",
                "--url",
                host.url,
                "--key",
                host.function_key,
            ],
            env={**os.environ, "COLUMNS": "120"},
            check=False,
        )
        if done.returncode != 0:
            self.failures.append(f"diskdr compliance exited {done.returncode}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m twin.demo", description=__doc__)
    parser.add_argument("--time-scale", type=float, default=1200.0)
    parser.add_argument("--deadline", type=float, default=240.0, help="real seconds")
    args = parser.parse_args(argv)
    return Demo(args.time_scale, args.deadline).run()


if __name__ == "__main__":
    sys.exit(main())
