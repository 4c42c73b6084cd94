"""``make demo``: diskdr's main job on the offline twin, start to finish, in a few minutes.

Starts the Compute emulator and devhost on one world clock running 1200x faster, seeds a
sample estate (6 VMs, 16 disks, Premium SSD and Premium SSD v2, two regions; one VM
protected by VM restore points), simulates
guest writes between slots, lets the scheduler take several hourly slots (snapshots,
cross-region copies, pruning), makes one on-demand backup over HTTP, prints what diskdr
did, then recovers over the HTTP API: restores vm-web-1 from a secondary-region group and
checks the restored disks against the source disks at that slot, runs a DR drill and
plans a regional failover (dry run); and ends with the operator's view: `diskdr compliance` over the
HTTP API. Exits non-zero if any check fails.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from diskdr.naming import format_slot, run_of
from twin.estate import sample_estate
from twin.harness import SUBSCRIPTION, Twin

HERE = Path(__file__).resolve().parent
GOLD_SLOTS_WANTED = 4  # the catch-up slot at start plus three more the timer takes
WRITE_MINUTE = 45  # guest writes land at HH:45 world time, between the slots


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
            self.drill()
            self.failover_plan()
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
        return [s for s in statuses if run_of(s.instance_id) == s.instance_id]

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
            counts = {**(plan.get("counts") or {}), **(prune.get("counts") or {})}
            say(
                f"  {run.instance_id}: kept {counts.get('keep', 0)}, "
                f"deleted {counts.get('deleted', 0)}"
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

    def wait_run(self, route: str, instance_id: str) -> dict[str, Any] | None:
        """Poll ``GET /api/{route}/{id}`` until the run ends; its output (None: it did not)."""
        while time.monotonic() < self.deadline:
            _, status = self.twin.http("GET", f"/api/{route}/{instance_id}")
            if status["runtimeStatus"] in ("Completed", "Failed", "Terminated"):
                if status["runtimeStatus"] != "Completed":
                    self.failures.append(f"{route}/{instance_id} ended {status['runtimeStatus']}")
                    return None
                return dict(status["output"])
            time.sleep(0.2)
        self.failures.append(f"{route}/{instance_id} did not end before the deadline")
        return None

    def restore_check(self) -> None:
        """POST /api/restores: vm-web-1's oldest recorded slot from the secondary region."""
        _, listing = self.twin.http("GET", f"/api/recovery-points?vmId={self.vm_id('vm-web-1')}")
        complete = sorted(
            g["slot"]
            for g in listing["groups"]
            if g["region"] == "westus2" and g["usable"] == g["points"] > 0
            and g["slot"] in self.digest_at_slot
        )  # fmt: skip
        if not complete:
            self.failures.append("no complete westus2 group of vm-web-1 with recorded digests")
            return
        slot = complete[0]  # the oldest replica still kept: the source has changed since
        body = {
            "vmId": self.vm_id("vm-web-1"),
            "slot": slot,
            "region": "westus2",
            "resourceGroup": "rg-diskdr-restore",
        }
        say(f"\nRestore over HTTP: POST /api/restores (vm-web-1, slot {slot}, from westus2)")
        status, accepted = self.twin.http("POST", "/api/restores", body)
        if status != 202:
            self.failures.append(f"restore answered {status}: {accepted}")
            return
        output = self.wait_run("restores", accepted["id"])
        if output is None:
            return
        say(f"  {output['phase']}, RTO {output['rtoSeconds']} s (world), slot {output['slot']}")
        for disk in output["disks"]:
            source = disk["sourceDiskId"]
            restored = self.twin.control.content(disk["restoredDiskId"])["digest"]
            expected = {k.lower(): v for k, v in self.digest_at_slot[slot].items()}.get(
                source.lower()
            )
            now = self.twin.control.content(source)["digest"]
            same = (
                "= the source at the slot" if restored == expected else "!= the source at the slot"
            )
            changed = "(the source has changed since)" if now != restored else ""
            say(f"  {disk['restoredDiskId'].rsplit('/', 1)[1]:<38} {same} {changed}")
            if restored != expected:
                self.failures.append(f"{disk['restoredDiskId']} does not hold its slot's content")

    def drill(self) -> None:
        say("\nDR drill over HTTP: POST /api/drills {'policy': 'gold', 'vms': 2}")
        status, accepted = self.twin.http("POST", "/api/drills", {"policy": "gold", "vms": 2})
        if status != 202:
            self.failures.append(f"drill answered {status}: {accepted}")
            return
        output = self.wait_run("drills", accepted["id"])
        if output is None:
            return
        say(f"  {output['phase']} in {output['region']} ({output['resourceGroup']})")
        for vm in output["vms"]:
            say(
                f"  {vm['vmId'].rsplit('/', 1)[1]:<9} slot {vm['slot'][:16]}  point age "
                f"{vm['pointAgeSeconds'] / 60:.0f} min  content {vm['contentCheck']}  RTO "
                f"{vm['rtoSeconds']} s  cleaned up {vm['cleanedUp']}"
            )
            if vm["contentCheck"] != "passed" or not vm["cleanedUp"]:
                self.failures.append(f"drill of {vm['vmId']}: {vm}")

    def failover_plan(self) -> None:
        say("\nFailover dry run: POST /api/failover {'policy': 'gold', 'resourceGroup': ...}")
        body = {"policy": "gold", "resourceGroup": "rg-diskdr-failover"}
        status, plan = self.twin.http("POST", "/api/failover", body)
        if status != 200 or not plan.get("dryRun"):
            self.failures.append(f"failover dry run answered {status}: {plan}")
            return
        for vm in plan["vms"]:
            say(
                f"  order {vm['order']:<5} {vm['vmId'].rsplit('/', 1)[1]:<9} from {vm['slot']} "
                f"(RPO achieved {vm['pointAgeSeconds'] / 60:.0f} min), would create "
                f"{len(vm['wouldCreate'])} disks"
            )
        for refused in plan["refused"]:
            say(f"  cannot restore {refused['vmId']}: {refused['error']['message']}")
        if not plan["vms"]:
            self.failures.append("the failover plan restores nothing")

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
