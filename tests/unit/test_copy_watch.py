"""The copy watch table: one read per round for all the copies into a region."""

from __future__ import annotations

from dataclasses import replace

from diskdr import copy_watch
from diskdr.copy_watch import empty_table, forget, look, report
from tests.unit.points import OWNER, point

A, B, C = (
    f"/subscriptions/s/resourceGroups/rg-dr/providers/Microsoft.Compute/snapshots/{n}"
    for n in "abc"
)
USABLE = {"state": "usable", "completionPercent": 100.0, "errorCode": None}


def pending(percent: float) -> dict:
    return {"state": "pending", "completionPercent": percent, "errorCode": None}


def test_one_copy_reads_for_everybody_and_the_others_are_answered_until_their_next_round():
    table = empty_table()
    # Round 1: a claims the read of every replica it knows; b and c, looking meanwhile,
    # know nothing yet.
    table, answer_a = look(table, A, "copy-a", now=0)
    table, answer_b = look(table, B, "copy-b", now=1)
    table, answer_c = look(table, C, "copy-c", now=2)
    assert answer_a["read"] == [A] and answer_a["since"] == 0
    assert answer_b == answer_c == {"known": False, "progress": None, "read": None}
    table = report(table, "copy-a", {A: pending(10)}, since=0)
    assert table["claim"] is None
    # Round 2: b reads for all three (b and c had looked after a's read began).
    table, answer_b = look(table, B, "copy-b", now=10)
    assert answer_b["read"] == [A, B, C]
    table = report(table, "copy-b", {A: pending(20), B: pending(30), C: pending(40)}, since=10)
    # a and c looked before that read: answered from the table, no read of their own.
    table, answer_a = look(table, A, "copy-a", now=11)
    table, answer_c = look(table, C, "copy-c", now=12)
    assert answer_a == {"known": True, "progress": pending(20), "read": None}
    assert answer_c == {"known": True, "progress": pending(40), "read": None}
    # b's next round: its own read was its previous round; a newer one is due.
    table, answer_b = look(table, B, "copy-b", now=20)
    assert answer_b["read"] == [A, B, C]


def test_settled_replicas_are_answered_at_any_time_and_never_read_again():
    table, _ = look(empty_table(), A, "copy-a", now=0)
    table, _ = look(table, B, "copy-b", now=0)
    table = report(table, "copy-a", {A: USABLE, B: None}, since=0)
    table, answer = look(table, A, "copy-a", now=500)
    assert answer == {"known": True, "progress": USABLE, "read": None}
    table, answer = look(table, B, "copy-b", now=500)
    assert answer == {"known": True, "progress": None, "read": None}  # gone
    table, answer = look(table, C, "copy-c", now=501)
    assert answer["read"] == [C]  # A and B are settled: not read again


def test_a_claim_lapses_when_its_reader_is_gone_and_an_id_not_read_stays_due():
    table, _ = look(empty_table(), A, "copy-a", now=0)
    table, answer = look(table, B, "copy-b", now=copy_watch.CLAIM_SECONDS - 1)
    assert answer["read"] is None
    table, answer = look(table, B, "copy-b", now=copy_watch.CLAIM_SECONDS + 1)
    assert answer["read"] == [A, B]
    # B's group was not read (a transient failure): B stays unknown, due for a read.
    table = report(table, "copy-b", {A: pending(50)}, since=copy_watch.CLAIM_SECONDS + 1)
    table, answer = look(table, B, "copy-b", now=400)
    assert answer["read"] == [A, B]


def test_a_copy_done_is_forgotten_and_one_nobody_looks_up_is_dropped():
    table, _ = look(empty_table(), A, "copy-a", now=0)
    table, _ = look(table, B, "copy-b", now=0)
    table = forget(table, A.upper())
    assert list(table["replicas"]) == [B.lower()]
    table, _ = look(table, C, "copy-c", now=copy_watch.FORGET_SECONDS + 1)
    assert list(table["replicas"]) == [C.lower()]


def test_progress_keeps_state_percent_and_error_code():
    replica = point(role="replica", owner=OWNER)
    failed = replace(replica, state="failed", completion_percent=40.0, error_code="CopyFailed")
    assert copy_watch.progress_of(failed) == {
        "state": "failed",
        "completionPercent": 40.0,
        "errorCode": "CopyFailed",
    }
    assert copy_watch.progress_of(None) is None
