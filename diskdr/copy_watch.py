"""The copy watch: copy progress read once per wait round for every copy into a region.

Each cross-region copy waits for its replica's ``completionPercent`` to reach 100. Read
by each copy with its own GET, 200 copies waiting six rounds cost 1,200 reads; read with
one listing of the replicas' resource group, they cost a few pages per round. So the
copies into one (subscription, target region) share a table, kept by a durable entity:
the last state read of every replica in flight. A copy whose round comes *looks* its
replica up: a state read since the copy's previous look is answered from the table (so
each round still sees a state newer than the last one it saw); otherwise the copy is
asked to read every unsettled replica of the table at once (``copy_progress``: one listing
per resource group) and to *report* what it read. One copy reads at a time (a claim,
which lapses if its reader is gone); a copy looking while another reads learns what it
knew and looks again next round. A settled state (usable, failed, gone) never changes, so
it is answered whatever its age and never read again; the copy *forgets* its replica when
it is done. Freshness is by order (read after my previous look), not by age: it holds
whatever the copies' waits and however late their rounds come.

The table is plain JSON (the entity's state); the functions here are pure.
"""

from __future__ import annotations

from typing import Any

from diskdr.model import RecoveryPoint

#: A claim to read lapses after this long: its reader is gone (the others read then).
CLAIM_SECONDS = 300.0
#: A replica nobody looked up for this long is dropped: its copy ended without saying so.
FORGET_SECONDS = 2 * 3600.0
SETTLED = ("usable", "failed")


def empty_table() -> dict[str, Any]:
    return {"replicas": {}, "claim": None}


def progress_of(point: RecoveryPoint | None) -> dict[str, Any] | None:
    """What the table keeps of a replica read (None: gone)."""
    if point is None:
        return None
    return {
        "state": point.state,
        "completionPercent": point.completion_percent,
        "errorCode": point.error_code,
    }


def is_settled(entry: dict[str, Any]) -> bool:
    """Read usable, failed or gone: no later read can change it."""
    if entry.get("seenAt") is None:
        return False
    progress = entry.get("progress")
    return progress is None or progress["state"] in SETTLED


def look(
    table: dict[str, Any], replica_id: str, holder: str, now: float
) -> tuple[dict[str, Any], dict[str, Any]]:
    """``holder``'s copy of ``replica_id`` asks how it is -> (table, answer).

    The answer is ``{"known", "progress", "read", "since"}``: ``known`` with the last state
    read (``progress``, None when gone) when it is settled, or was read after this copy's
    previous look, or another copy is reading now (the copy then sees that read on its
    next round). Otherwise ``read`` lists the ids the holder must read for everybody, and
    report with ``since``.
    """
    table = expire(table, now)
    replicas = dict(table["replicas"])
    key = replica_id.lower()
    entry = {**replicas.get(key, {"id": replica_id, "progress": None, "seenAt": None})}
    previous, entry["lookedAt"] = entry.get("lookedAt"), now
    replicas[key] = entry
    table = {**table, "replicas": replicas}
    seen = entry["seenAt"]
    known = {"known": seen is not None, "progress": entry["progress"], "read": None}
    if is_settled(entry) or (seen is not None and previous is not None and seen > previous):
        return table, known
    claim = table["claim"]
    if claim is not None and claim["holder"] != holder:
        return table, known
    table = {**table, "claim": {"holder": holder, "until": now + CLAIM_SECONDS}}
    unsettled = sorted(e["id"] for e in replicas.values() if not is_settled(e))
    return table, {"known": False, "progress": None, "read": unsettled, "since": now}


def report(
    table: dict[str, Any], holder: str, states: dict[str, Any], since: float
) -> dict[str, Any]:
    """``holder`` read ``states`` (``{id: progress or None}``; an id missing was not read,
    e.g. its group's listing failed transiently), reading from ``since`` (when its look
    was answered: the states are newer than every look before it) -> table. Its claim
    ends."""
    replicas = dict(table["replicas"])
    for replica_id, progress in states.items():
        key = replica_id.lower()
        if key in replicas:
            replicas[key] = {**replicas[key], "progress": progress, "seenAt": since}
    claim = table["claim"]
    if claim is not None and claim["holder"] == holder:
        claim = None
    return {"replicas": replicas, "claim": claim}


def forget(table: dict[str, Any], replica_id: str) -> dict[str, Any]:
    """The copy of ``replica_id`` is done: it is no longer read."""
    replicas = {k: v for k, v in table["replicas"].items() if k != replica_id.lower()}
    return {**table, "replicas": replicas}


def expire(table: dict[str, Any], now: float) -> dict[str, Any]:
    """Drop lapsed claims and replicas nobody looked up for ``FORGET_SECONDS``."""
    claim = table["claim"]
    if claim is not None and claim["until"] < now:
        claim = None
    replicas = {
        key: entry
        for key, entry in table["replicas"].items()
        if now - entry.get("lookedAt", now) <= FORGET_SECONDS
    }
    return {"replicas": replicas, "claim": claim}
