"""The steps of recovery flows: plan a restore (all reads and checks, before anything is
created), start one create or delete, read states, check content.

Triggers plan (so bad input is a 4xx before anything exists); activities run one step
each; the orchestrations in ``orchestrations/restore.py`` decide order and waiting.
Expected Azure failures come back as ``{"error": Failure}`` values, never raised.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import replace
from datetime import datetime
from functools import partial
from typing import Any

from diskdr.api import RestoreRequest
from diskdr.azure.clients import Clients
from diskdr.azure.restore import ResourceState, RestorePort, VmFacts
from diskdr.backup import Failure
from diskdr.errors import AzureError
from diskdr.inventory import VmInfo
from diskdr.model import RecoveryPoint
from diskdr.naming import format_slot, id_tag_value
from diskdr.policy import Policy
from diskdr.restore import (
    TAG_RESTORE_POINT,
    DiskRestore,
    DrillNetwork,
    GroupChoice,
    RestorePlan,
    RestoreRefused,
    RestoreTarget,
    SourceDisk,
    check_target_region,
    choose_group,
    drill_network,
    drill_sample,
    gone_sources,
    is_made_by,
    plan_restore,
    run_id,
    subscription_of,
)
from diskdr.service import Service, get_service

log = logging.getLogger(__name__)

RunId = str | Callable[[GroupChoice], str]
# The platform's own limit of a Run Command (Learn "Run scripts in your Linux VM by using
# managed Run Commands": 90 minutes); the drill's script gets all of it.
VERIFY_TIMEOUT_SECONDS = 90 * 60


class RestoreSteps:
    """Recovery steps bound to the app's service (settings, policies, Compute port)."""

    def __init__(self, service: Service, port: RestorePort | None = None) -> None:
        self.service = service
        self.port = port or RestorePort(Clients(service.settings))

    @property
    def install_id(self) -> str:
        return self.service.install_id

    # --- planning ----------------------------------------------------------------------
    def plan_vm(
        self,
        vm_id: str,
        *,
        target: RestoreTarget,
        slot: datetime | None,
        run: RunId,
        requested_at: datetime,
        role: str | None = None,
        points: Iterable[RecoveryPoint] | None = None,
        vm: VmInfo | None = None,
        check_subnet: bool = True,
    ) -> RestorePlan:
        """Plan the restore of one VM's group into ``target`` (whose region is the
        point's region); raises :class:`RestoreRefused` for anything that cannot work."""
        facts = self.port.vm_facts(vm_id)
        if points is None:
            mine = self.service.points_of_vm(vm_id)
        else:
            wanted = id_tag_value(vm_id)
            mine = [p for p in points if p.vm_id == wanted]
        if facts is None and not mine:
            raise RestoreRefused(
                404,
                "ResourceNotFound",
                f"vmId: {vm_id} does not exist and no recovery point names it",
                "vmId",
            )
        choice = choose_group(mine, target.region, slot, role=role)
        sources = self._sources(choice, facts.disks if facts else {})
        if target.mode == "vm" and target.subnet_id and check_subnet:
            check_target_region(
                target.subnet_id, self._subnet_region(target.subnet_id), target.region
            )
        self._check_group_exists(target)
        plan = plan_restore(
            run=run if isinstance(run, str) else run(choice),
            install_id=self.install_id,
            vm_id=facts.id if facts else vm_id,
            vm_name=facts.name if facts else vm_id.rstrip("/").rsplit("/", 1)[-1],
            vm_size=facts.size if facts else None,
            vm_region=facts.location if facts else None,
            vm_tags=(facts.tags if facts else (vm.tags if vm else {})),
            choice=choice,
            sources=sources,
            target=target,
            requested_at=requested_at,
        )
        self._check_names(plan)
        return plan

    def _sources(
        self, choice: GroupChoice, luns: Mapping[str, int | None]
    ) -> dict[str, SourceDisk]:
        known: dict[str, SourceDisk] = {}
        gone: list[tuple[str, int, str | None]] = []
        for point in choice.points:
            source = None
            if point.disk_id.lower() in luns:
                source = self.port.source_disk(point.disk_id, luns[point.disk_id.lower()])
            if source is not None:
                known[point.disk_id.lower()] = source
            else:
                size, os_type = self.port.point_facts(point.id)
                gone.append((point.disk_id, size, os_type))
        return {**known, **gone_sources(gone, known.values())}

    def _subnet_region(self, subnet_id: str) -> str:
        region = self.port.subnet_region(subnet_id)
        if region is None:
            raise RestoreRefused(
                422, "SubnetNotFound", f"subnetId: {subnet_id} does not exist", "subnetId"
            )
        return region

    def _check_group_exists(self, target: RestoreTarget) -> None:
        """Target resource groups must exist: diskdr creates resources in them, never them."""
        if not self.port.group_exists(target.subscription_id, target.resource_group):
            raise RestoreRefused(
                422,
                "ResourceGroupNotFound",
                f"resourceGroup: {target.resource_group} does not exist in subscription "
                f"{target.subscription_id}; diskdr creates resources in it, never the group",
                "resourceGroup",
            )

    def _check_names(self, plan: RestorePlan) -> None:
        """Every name the plan uses is free, or holds what this same restore made."""
        points = {id_tag_value(d.point_id) for d in plan.disks}
        for resource in plan.would_create():
            existing = self.port.state(resource)
            if existing is None:
                continue
            if not is_made_by(existing.tags, self.install_id):
                raise RestoreRefused(
                    409,
                    "NameCollision",
                    f"{resource} already exists and diskdr did not make it; choose another "
                    "namePrefix or resourceGroup",
                    "namePrefix",
                )
            made_from = existing.tags.get(TAG_RESTORE_POINT)
            if (
                "/providers/microsoft.compute/disks/" in resource.lower()
                and made_from not in points
            ):
                raise RestoreRefused(
                    409,
                    "NameCollision",
                    f"{resource} was made by an earlier restore from another point; choose "
                    "another namePrefix, or delete it first",
                    "namePrefix",
                )

    # --- planning a request, a failover, a drill --------------------------------------------
    def plan_request(self, request: RestoreRequest, now: datetime) -> RestorePlan:
        """The plan of a ``POST /api/restores``: the region defaults to the VM's own
        (primary points); another region restores from the replicas there."""
        points = self.service.points_of_vm(request.vm_id)
        facts = self.port.vm_facts(request.vm_id)
        home = facts.location if facts else _primary_region(points)
        region = request.region or home or ""
        role = None if region == home else "replica"
        subnet_id = request.subnet_id
        if request.mode == "vm" and subnet_id is None:
            subnet_id = self._source_subnet(request.vm_id, facts, region)
        target = RestoreTarget(
            subscription_id=subscription_of(request.vm_id),
            resource_group=request.resource_group,
            region=region,
            mode=request.mode,
            name_prefix=request.name_prefix,
            subnet_id=subnet_id,
            vm_size=request.vm_size,
        )

        def run(choice: GroupChoice) -> str:
            return run_id(
                "restore",
                request.vm_id,
                format_slot(choice.slot),
                region,
                request.resource_group,
                request.mode,
                request.name_prefix or "",
                request.subnet_id or "",
            )

        return self.plan_vm(
            request.vm_id, target=target, slot=request.slot, run=run, requested_at=now,
            role=role, points=points,
        )  # fmt: skip

    def _source_subnet(self, vm_id: str, facts: VmFacts | None, region: str) -> str:
        """A ``vm`` mode restore without ``subnetId``: the source VM's own subnet (its
        primary NIC's), which only works in the VM's region (a NIC's subnet is in its
        region) and while the VM and its NIC exist. Otherwise 400, saying why."""
        why = None
        if facts is None:
            why = f"{vm_id} no longer exists, so its subnet cannot be used"
        elif region != facts.location:
            why = (
                f"the restore is in {region}, not the VM's region {facts.location}, so the "
                "VM's own subnet cannot be used (a NIC needs a subnet of its region)"
            )
        else:
            subnets = (self.port.nic_subnet(nic) for nic in facts.nic_ids)
            found = next((subnet for subnet in subnets if subnet), None)
            if found is not None:
                return found
            why = f"{vm_id} has no network interface with a subnet to reuse"
        raise RestoreRefused(
            400, "InvalidRequest", f"subnetId: required with mode vm here: {why}", "subnetId"
        )

    def plan_policy(
        self,
        policy: Policy,
        *,
        run: str,
        resource_group: str,
        mode: str,
        now: datetime,
        region: str | None = None,
        subnet_id: str | None = None,
        vm_ids: Iterable[str] | None = None,
        keep_names: bool = False,
        subnet_made: bool = False,
    ) -> tuple[list[RestorePlan], list[dict[str, Any]]]:
        """Plans restoring VMs of ``policy`` from their newest complete replica group into
        the secondary region (``vm_ids``: only those; default: every VM of the policy,
        including VMs that are gone but have replicas; ``subnet_made``: ``subnet_id`` is
        made by the run itself, so it need not exist yet). Returns the plans and the VMs that
        cannot be restored, each with its error; raises :class:`RestoreRefused` (422
        ``ResourceGroupNotFound``) when the target resource group does not exist."""
        if policy.replicate is None:
            raise RestoreRefused(
                422,
                "NoReplicas",
                f"policy {policy.name} does not replicate: there is no secondary region",
                "policy",
            )
        region = region or policy.replicate.region
        points = [p for p in self.service.all_points() if p.policy == policy.name]
        live = {vm.id.lower(): vm for vm in self.service.vms_for_policy(policy)}
        names = {id_tag_value(vm_id): vm_id for vm_id in live}
        for point in points:
            if point.role == "replica":
                names.setdefault(point.vm_id, point.vm_id)
        wanted = list(vm_ids) if vm_ids is not None else sorted(names.values())
        for subscription in sorted({subscription_of(vm_id).lower() for vm_id in wanted}):
            # Up front, as a restore does: a missing group fails every VM the same way.
            self._check_group_exists(
                RestoreTarget(subscription, resource_group, region, mode, subnet_id=subnet_id)
            )
        plans: list[RestorePlan] = []
        refused: list[dict[str, Any]] = []
        for vm_id in wanted:
            vm = live.get(vm_id.lower())
            vm_id = vm.id if vm is not None else vm_id
            name = vm_id.rstrip("/").rsplit("/", 1)[-1]
            target = RestoreTarget(
                subscription_id=subscription_of(vm_id),
                resource_group=resource_group,
                region=region,
                mode=mode,
                name_prefix=name if keep_names else None,
                subnet_id=subnet_id,
            )
            try:
                plans.append(
                    self.plan_vm(
                        vm_id,
                        target=target,
                        slot=None,
                        run=run,
                        requested_at=now,
                        role="replica",
                        points=points,
                        vm=vm,
                        check_subnet=not subnet_made,
                    )
                )
            except RestoreRefused as error:
                refused.append(
                    {"vmId": vm_id, "error": {"code": error.code, "message": error.message}}
                )
            except AzureError as error:
                refused.append({"vmId": vm_id, "error": Failure.from_error(error).to_dict()})
        return plans, refused

    def plan_drill(
        self, policy: Policy, sample: int, last_drilled: Mapping[str, datetime], run: str,
        now: datetime,
    ) -> tuple[list[RestorePlan], list[dict[str, Any]], list[DrillNetwork]]:  # fmt: skip
        """Plans of one drill: the ``sample`` least recently drilled VMs of the policy, and
        the networks the drill makes. With ``drill.verifyScript`` each VM is restored as a
        VM (the script runs on it) in ``drill.subnetId``, or without one in an isolated
        network the drill makes in its resource group (one per subscription); else as
        disks."""
        drill = policy.drill
        assert drill is not None and policy.replicate is not None
        vms = [vm.id for vm in self.service.vms_for_policy(policy)]
        chosen = drill_sample(vms, last_drilled, sample)
        script = drill.verify_script
        plan_vms = partial(
            self.plan_policy, policy, run=run, resource_group=drill.resource_group, now=now
        )
        if not script or drill.subnet_id:
            plans, refused = plan_vms(
                mode="vm" if script else "disks", vm_ids=chosen,
                subnet_id=drill.subnet_id if script else None,
            )  # fmt: skip
            return [replace(plan, verify_script=script) for plan in plans], refused, []
        plans, refused, networks = [], [], []
        by_subscription: dict[str, list[str]] = {}
        for vm_id in chosen:
            by_subscription.setdefault(subscription_of(vm_id).lower(), []).append(vm_id)
        for subscription, vm_ids in by_subscription.items():
            network = drill_network(
                run, self.install_id, subscription, drill.resource_group, policy.replicate.region
            )
            made, cannot = plan_vms(
                mode="vm", vm_ids=vm_ids, subnet_id=network.subnet_id, subnet_made=True
            )
            plans += [replace(plan, verify_script=script) for plan in made]
            refused += cannot
            networks += [network] if made else []
        return plans, refused, networks

    # --- one step each (activities) ---------------------------------------------------------
    def begin_disk(self, disk: DiskRestore) -> dict[str, Any]:
        return self._step(lambda: self.port.begin_disk(disk), disk.restored_disk_id)

    def begin_nic(self, plan: RestorePlan) -> dict[str, Any]:
        return self._step(lambda: self.port.begin_nic(plan), plan.nic_resource_id or "")

    def begin_network(self, network: DrillNetwork) -> dict[str, Any]:
        return self._step(lambda: self.port.begin_network(network), network.id)

    def begin_vm(self, plan: RestorePlan) -> dict[str, Any]:
        return self._step(lambda: self.port.begin_vm(plan), plan.vm_resource_id or "")

    def begin_delete(self, resource: str) -> dict[str, Any]:
        return self._step(lambda: self.port.begin_delete(resource), resource)

    def _step(self, call: Callable[[], Any], resource: str) -> dict[str, Any]:
        try:
            call()
        except AzureError as error:
            log.warning("%s: %s", resource, error)
            return {"id": resource, "error": Failure.from_error(error).to_dict()}
        return {"id": resource}

    def begin_verify(self, plan: RestorePlan) -> dict[str, Any]:
        """Start the drill's ``verifyScript`` on the restored VM (a managed Run Command)."""
        assert plan.vm is not None and plan.vm_resource_id and plan.verify_script
        vm_id, script = plan.vm_resource_id, plan.verify_script
        return self._step(
            lambda: self.port.begin_run_command(
                vm_id, plan.verify_command_name, script, plan.region, VERIFY_TIMEOUT_SECONDS
            ),
            f"{vm_id}/runCommands/{plan.verify_command_name}",
        )

    def verify_state(self, plan: RestorePlan) -> dict[str, Any]:
        """How the ``verifyScript`` run is going: ``{"executionState", "exitCode",
        "error"?, "output"?}``; ``executionState`` None when it cannot be read right now
        (the caller asks again), ``Missing`` when the run command does not exist."""
        assert plan.vm_resource_id
        try:
            found = self.port.run_command_state(plan.vm_resource_id, plan.verify_command_name)
        except AzureError as error:
            log.warning("verify script state of %s unknown for now: %s", plan.vm_id, error)
            return {"executionState": None}
        return found if found is not None else {"executionState": "Missing"}

    def states(self, resources: Iterable[str]) -> dict[str, Any]:
        """``{id: {"state", "sizeGB"} | None}``; a read that failed transiently is left out
        (the caller asks again)."""
        out: dict[str, Any] = {}
        for resource in resources:
            try:
                state: ResourceState | None = self.port.state(resource)
            except AzureError as error:
                log.warning("state of %s unknown for now: %s", resource, error)
                continue
            out[resource] = (
                None if state is None else {"state": state.state, "sizeGB": state.size_gb}
            )
        return out

    def check_content(self, plan: RestorePlan) -> dict[str, Any]:
        """The drill's content check of a restored plan: ``{"result": passed|failed,
        "details": [...]}``. On the twin, each restored disk's digest must equal its source's
        at the slot (the primary point's digest); on Azure, each disk must be ``Succeeded``
        with the source's size (a content digest needs the data, which only the guest sees:
        ``drill.verifyScript``)."""
        details = []
        passed = True
        for disk in plan.disks:
            try:
                if self.service.settings.credential == "emulator":
                    restored = self.port.digest(disk.restored_disk_id)
                    expected = self.port.digest(disk.content_point_id)
                    ok = restored == expected
                    details.append({"diskId": disk.restored_disk_id, "digestMatches": ok})
                else:
                    state = self.port.state(disk.restored_disk_id)
                    ok = (
                        state is not None
                        and state.state == "Succeeded"
                        and (not disk.size_gb or state.size_gb == disk.size_gb)
                    )
                    details.append({"diskId": disk.restored_disk_id, "succeededWithSize": ok})
            except (AzureError, OSError, ValueError) as error:
                ok = False
                details.append({"diskId": disk.restored_disk_id, "error": str(error)})
            passed = passed and ok
        return {"result": "passed" if passed else "failed", "details": details}


def _primary_region(points: Iterable[RecoveryPoint]) -> str | None:
    """The region of a (deleted) VM, as its primary points say."""
    return next((p.region for p in points if p.role == "primary"), None)


_steps: RestoreSteps | None = None
_lock = threading.Lock()


def get_restore_steps() -> RestoreSteps:
    """The process-wide recovery steps (created on first use, over ``get_service()``)."""
    global _steps
    with _lock:
        if _steps is None:
            _steps = RestoreSteps(get_service())
        return _steps
