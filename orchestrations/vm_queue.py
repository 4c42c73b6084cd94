"""vm_queue: the work queue of one backup cycle's complete phase, a durable entity.

One entity per cycle, keyed by the cycle's instance id. The take phase's ``take_batch``
sub-orchestrations ``put`` each VM's taken points here (so the points are stored once: not
again in the cycle's history); ``backup_cycle`` then loads it with every VM's
``ProtectJob`` (without points: ``load`` joins them to their VMs); its ``protect_lane``
sub-orchestrations pull the next VM each time they finished one, so the lanes stay busy
until the queue is empty, whatever the speed of each VM (fixed shares dealt in advance left
most lanes idle while a few were still working through slow VMs). Each lane hands in its
previous VM's answer with the call that takes the next VM, so the answers live here, not
in the lanes' histories or outputs; the cycle reads them all at the end, and that read
deletes the entity.

The queue is correct because all operations on one entity run serially, one after another
(Learn, "Entity functions", General concepts), so no index is handed out twice; and
because lanes and take batches *call* (two-way) rather than signal, points and answers are
stored before their caller goes on: every ``put`` is in before the cycle's ``load`` (the
cycle waits for its take batches), every answer before the cycle's final read.

State (JSON): ``{"shared": the ProtectJob fields every VM has in common, "vms": [{"vm",
"taken"}] (each VM's own fields, in the cycle's order; None once handed out), "next": index
of the next VM to hand out, "held": {index: taken points of a VM handed out and not
answered yet}, "answers": {index: {"outcome": VmOutcome} | {"error": message, "taken"?}},
"taken": {vm id: points put before the load}}``. The shared fields are kept once, not once
per VM. A VM's points stay here until its answer comes: a VM whose protect_vm or lane
failed still reports the points taken for it.

Cost: every operation reads and writes the whole state, which holds the jobs not yet
handed out and the answers so far — about as large as the cycle's report. At 500 VMs
that is a few MB per operation (docs/performance.md, "Durable engine"); an estate ten
times larger would want the answers sharded (e.g. per lane) rather than in one entity.

Operations:
- ``put({vm id: [DiskOutcome]})``: the points a take batch took, kept for the load.
- ``load(state)``: the state made by :func:`loaded` (the cycle sends the shared fields
  once), joined with the points put so far; replaces any other state (a re-run of the
  cycle id starts afresh, but keeps the points its own take phase just put); returns the
  number of VMs.
- ``next(answer | None)``: stores ``answer`` (``{"index", "outcome" | "error"}``) and
  returns ``{"index", "job"}`` for the next VM, or None when none is left.
- ``results()``: returns the answers (a VM without one: ``{"taken"}`` if points were
  taken for it) and deletes the entity.
"""

from typing import Any

import azure.durable_functions as df

bp = df.Blueprint()

ENTITY_NAME = "vm_queue"

# The ProtectJob fields that differ from VM to VM; every other field is the cycle's.
PER_VM = ("vm", "taken")


def queue_entity(cycle_id: str) -> df.EntityId:
    return df.EntityId(ENTITY_NAME, cycle_id)


def loaded(jobs: list[dict[str, Any]]) -> dict[str, Any]:
    """The queue's state for ``jobs`` (ProtectJob dicts, one per VM, in order)."""
    shared = {key: value for key, value in jobs[0].items() if key not in PER_VM} if jobs else {}
    for job in jobs:
        if {key: value for key, value in job.items() if key not in PER_VM} != shared:
            raise ValueError(f"vm_queue: the jobs differ in more than {', '.join(PER_VM)}")
    return {
        "shared": shared,
        "vms": [{key: job.get(key) for key in PER_VM} for job in jobs],
        "next": 0,
        "held": {},
        "answers": {},
    }


def joined(state: dict[str, Any], taken: dict[str, Any]) -> dict[str, Any]:
    """``state`` (as :func:`loaded` makes it) with the points ``taken`` (by VM id) of VMs
    loaded without points."""
    vms = [
        {**entry, "taken": taken.get(entry["vm"]["id"])} if entry["taken"] is None else entry
        for entry in state["vms"]
    ]
    return {**state, "vms": vms}


def take_next(
    state: dict[str, Any], answer: dict[str, Any] | None
) -> tuple[dict[str, Any], dict[str, Any] | None]:
    """``state`` with ``answer`` stored and the next VM handed out; and that VM's
    ``{"index", "job"}`` (None when the queue is empty)."""
    answers = dict(state["answers"])
    held = dict(state["held"])
    if answer is not None:
        index = str(answer["index"])
        taken = held.pop(index, None)
        stored = {k: v for k, v in answer.items() if k != "index"}
        if "error" in stored and taken is not None:  # the failure reports what was taken
            stored["taken"] = taken
        answers[index] = stored
    index = state["next"]
    if index >= len(state["vms"]):
        return {**state, "held": held, "answers": answers}, None
    vms = list(state["vms"])
    job = {**state["shared"], **vms[index]}
    if vms[index]["taken"] is not None:
        held[str(index)] = vms[index]["taken"]
    vms[index] = None  # handed out: the state (re-read at every operation) shrinks
    return {**state, "vms": vms, "next": index + 1, "held": held, "answers": answers}, {
        "index": index,
        "job": job,
    }


def final_answers(state: dict[str, Any]) -> dict[str, Any]:
    """Every answer; a VM without one (its lane failed, or no lane took it) gets
    ``{"taken"}`` when points were taken for it."""
    answers = dict(state["answers"])
    for index, taken in state["held"].items():
        answers.setdefault(index, {"taken": taken})
    for index, entry in enumerate(state["vms"]):
        if entry is not None and entry["taken"] is not None:
            answers.setdefault(str(index), {"taken": entry["taken"]})
    return answers


@bp.entity_trigger(context_name="context", entity_name=ENTITY_NAME)
def vm_queue(context: df.DurableEntityContext) -> None:
    operation = context.operation_name
    if operation == "put":
        state = context.get_state(lambda: loaded([]))
        context.set_state({**state, "taken": {**state.get("taken", {}), **context.get_input()}})
    elif operation == "load":
        put = context.get_state(lambda: loaded([])).get("taken", {})
        state = joined(context.get_input(), put)  # made by ``loaded``: the shared fields once
        context.set_state(state)
        context.set_result(len(state["vms"]))
    elif operation == "next":
        state, handout = take_next(context.get_state(lambda: loaded([])), context.get_input())
        context.set_state(state)
        context.set_result(handout)
    elif operation == "results":
        context.set_result(final_answers(context.get_state(lambda: loaded([]))))
        context.destruct_on_exit()  # after set_result, which marks the entity as existing
    else:
        raise ValueError(f"vm_queue: unknown operation {operation!r}")
