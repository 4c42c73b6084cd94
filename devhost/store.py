"""Durable state of devhost in SQLite: instances, history, inbox, work items, entities, timers.

The layout follows the Durable Task Framework's storage providers: each instance has an
append-only history; messages for it (activity results, timer firings, raised events,
sub-orchestration results) wait in an inbox until an orchestration episode consumes them;
scheduled activities are work items until their result is written. Everything one episode
produces is written in one transaction, so a killed host resumes exactly where it stopped.
WAL mode keeps readers (the management API) off the writer's way.
"""

from __future__ import annotations

import contextlib
import json
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

SCHEMA = """
CREATE TABLE IF NOT EXISTS instances (
    instance_id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    execution_id TEXT NOT NULL,
    status TEXT NOT NULL,
    input TEXT,
    output TEXT,
    custom_status TEXT,
    created_time REAL NOT NULL,
    last_updated REAL NOT NULL,
    parent_instance_id TEXT,
    parent_task_id INTEGER,
    next_id INTEGER NOT NULL DEFAULT 0,
    actions_seen INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS instances_by_created ON instances (created_time);
CREATE TABLE IF NOT EXISTS history (
    instance_id TEXT NOT NULL,
    seq INTEGER NOT NULL,
    event TEXT NOT NULL,
    PRIMARY KEY (instance_id, seq)
);
CREATE TABLE IF NOT EXISTS action_log (
    instance_id TEXT NOT NULL,
    position INTEGER NOT NULL,
    event_id INTEGER,
    kind TEXT NOT NULL,
    name TEXT,
    PRIMARY KEY (instance_id, position)
);
CREATE TABLE IF NOT EXISTS retry_chains (
    instance_id TEXT NOT NULL,
    position INTEGER NOT NULL,
    chain TEXT NOT NULL,
    PRIMARY KEY (instance_id, position)
);
CREATE TABLE IF NOT EXISTS inbox (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    instance_id TEXT NOT NULL,
    execution_id TEXT,
    event TEXT NOT NULL,
    visible_at REAL
);
CREATE INDEX IF NOT EXISTS inbox_by_instance ON inbox (instance_id, id);
CREATE TABLE IF NOT EXISTS work (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    instance_id TEXT NOT NULL,
    execution_id TEXT NOT NULL,
    task_id INTEGER NOT NULL,
    name TEXT NOT NULL,
    input TEXT
);
CREATE TABLE IF NOT EXISTS entities (
    scheduler_id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    key TEXT NOT NULL,
    state TEXT,
    last_modified REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS entity_ops (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    scheduler_id TEXT NOT NULL,
    operation TEXT NOT NULL,
    input TEXT,
    signal INTEGER NOT NULL,
    parent_instance_id TEXT,
    request_id TEXT
);
CREATE INDEX IF NOT EXISTS entity_ops_by_entity ON entity_ops (scheduler_id, id);
CREATE TABLE IF NOT EXISTS timer_triggers (
    function_name TEXT PRIMARY KEY,
    last REAL,
    next REAL,
    last_updated REAL
);
"""

RUNNING_STATES = ("Pending", "Running")
TERMINAL_STATES = ("Completed", "Failed", "Terminated")


@dataclass
class Instance:
    """One orchestration instance (its latest execution)."""

    instance_id: str
    name: str
    execution_id: str
    status: str
    input: str | None
    output: str | None
    custom_status: str | None
    created_time: float
    last_updated: float
    parent_instance_id: str | None
    parent_task_id: int | None
    next_id: int
    actions_seen: int

    @property
    def is_running(self) -> bool:
        return self.status in RUNNING_STATES


@dataclass
class InboxMessage:
    id: int
    instance_id: str
    execution_id: str | None
    event: dict
    visible_at: float | None


@dataclass
class WorkItem:
    id: int
    instance_id: str
    execution_id: str
    task_id: int
    name: str
    input: str | None


@dataclass
class EntityOp:
    id: int
    scheduler_id: str
    operation: str
    input: str | None
    signal: bool
    parent_instance_id: str | None
    request_id: str | None


class Store:
    """All SQL of devhost. Used from the event loop thread only."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self.db = sqlite3.connect(str(path), isolation_level=None, check_same_thread=False)
        self.db.execute("PRAGMA journal_mode=WAL")
        # NORMAL is durable against a killed process (only a power loss can drop the tail).
        self.db.execute("PRAGMA synchronous=NORMAL")
        self.db.executescript(SCHEMA)

    def close(self) -> None:
        self.db.close()

    @contextlib.contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        self.db.execute("BEGIN IMMEDIATE")
        try:
            yield self.db
        except BaseException:
            self.db.execute("ROLLBACK")
            raise
        self.db.execute("COMMIT")

    # -- instances -------------------------------------------------------------------
    def get_instance(self, instance_id: str) -> Instance | None:
        row = self.db.execute(
            "SELECT * FROM instances WHERE instance_id = ?", (instance_id,)
        ).fetchone()
        return None if row is None else Instance(*row)

    def query_instances(
        self,
        statuses: list[str] | None = None,
        created_from: float | None = None,
        created_to: float | None = None,
        prefix: str | None = None,
    ) -> list[Instance]:
        sql = "SELECT * FROM instances WHERE 1=1"
        args: list[Any] = []
        if statuses:
            sql += f" AND status IN ({','.join('?' * len(statuses))})"
            args += statuses
        if created_from is not None:
            sql += " AND created_time >= ?"
            args.append(created_from)
        if created_to is not None:
            sql += " AND created_time <= ?"
            args.append(created_to)
        if prefix:
            sql += " AND substr(instance_id, 1, ?) = ?"
            args += [len(prefix), prefix]
        sql += " ORDER BY created_time, instance_id"
        return [Instance(*row) for row in self.db.execute(sql, args)]

    @staticmethod
    def put_instance(db: sqlite3.Connection, instance: Instance) -> None:
        db.execute(
            "INSERT OR REPLACE INTO instances VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)",
            (
                instance.instance_id,
                instance.name,
                instance.execution_id,
                instance.status,
                instance.input,
                instance.output,
                instance.custom_status,
                instance.created_time,
                instance.last_updated,
                instance.parent_instance_id,
                instance.parent_task_id,
                instance.next_id,
                instance.actions_seen,
            ),
        )

    @staticmethod
    def clear_execution(db: sqlite3.Connection, instance_id: str) -> None:
        """Forget the history and bookkeeping of an instance's execution (not its inbox)."""
        for table in ("history", "action_log", "retry_chains", "work"):
            db.execute(f"DELETE FROM {table} WHERE instance_id = ?", (instance_id,))

    @staticmethod
    def delete_instance(db: sqlite3.Connection, instance_id: str) -> None:
        Store.clear_execution(db, instance_id)
        db.execute("DELETE FROM inbox WHERE instance_id = ?", (instance_id,))
        db.execute("DELETE FROM instances WHERE instance_id = ?", (instance_id,))

    # -- history ---------------------------------------------------------------------
    def load_history(self, instance_id: str) -> list[dict]:
        rows = self.db.execute(
            "SELECT event FROM history WHERE instance_id = ? ORDER BY seq", (instance_id,)
        )
        return [json.loads(row[0]) for row in rows]

    @staticmethod
    def append_history(
        db: sqlite3.Connection, instance_id: str, first_seq: int, events: list[dict]
    ) -> None:
        db.executemany(
            "INSERT INTO history VALUES (?,?,?)",
            [
                (instance_id, first_seq + index, json.dumps(record))
                for index, record in enumerate(events)
            ],
        )

    # -- replay bookkeeping ------------------------------------------------------------
    def load_action_log(self, instance_id: str) -> list[tuple[int | None, str, str | None]]:
        rows = self.db.execute(
            "SELECT event_id, kind, name FROM action_log WHERE instance_id = ? ORDER BY position",
            (instance_id,),
        )
        return [(row[0], row[1], row[2]) for row in rows]

    @staticmethod
    def append_action_log(
        db: sqlite3.Connection,
        instance_id: str,
        first_position: int,
        entries: list[tuple[int | None, str, str | None]],
    ) -> None:
        db.executemany(
            "INSERT INTO action_log VALUES (?,?,?,?,?)",
            [(instance_id, first_position + index, *entry) for index, entry in enumerate(entries)],
        )

    def load_retry_chains(self, instance_id: str) -> dict[int, dict]:
        rows = self.db.execute(
            "SELECT position, chain FROM retry_chains WHERE instance_id = ?", (instance_id,)
        )
        return {row[0]: json.loads(row[1]) for row in rows}

    @staticmethod
    def put_retry_chain(
        db: sqlite3.Connection, instance_id: str, position: int, chain: dict
    ) -> None:
        db.execute(
            "INSERT OR REPLACE INTO retry_chains VALUES (?,?,?)",
            (instance_id, position, json.dumps(chain)),
        )

    # -- inbox -------------------------------------------------------------------------
    def visible_inbox(self, instance_id: str, now: float) -> list[InboxMessage]:
        rows = self.db.execute(
            "SELECT id, instance_id, execution_id, event, visible_at FROM inbox "
            "WHERE instance_id = ? AND (visible_at IS NULL OR visible_at <= ?) ORDER BY id",
            (instance_id, now),
        )
        return [InboxMessage(r[0], r[1], r[2], json.loads(r[3]), r[4]) for r in rows]

    def pending_timers(self) -> list[tuple[float, str]]:
        rows = self.db.execute(
            "SELECT visible_at, instance_id FROM inbox WHERE visible_at IS NOT NULL"
        )
        return [(row[0], row[1]) for row in rows]

    def instances_with_inbox(self) -> list[str]:
        return [row[0] for row in self.db.execute("SELECT DISTINCT instance_id FROM inbox")]

    @staticmethod
    def add_inbox(
        db: sqlite3.Connection,
        instance_id: str,
        execution_id: str | None,
        record: dict,
        visible_at: float | None = None,
    ) -> None:
        db.execute(
            "INSERT INTO inbox (instance_id, execution_id, event, visible_at) VALUES (?,?,?,?)",
            (instance_id, execution_id, json.dumps(record), visible_at),
        )

    @staticmethod
    def delete_inbox(db: sqlite3.Connection, ids: list[int]) -> None:
        db.executemany("DELETE FROM inbox WHERE id = ?", [(i,) for i in ids])

    @staticmethod
    def delete_timer_message(db: sqlite3.Connection, instance_id: str, timer_id: int) -> None:
        db.execute(
            "DELETE FROM inbox WHERE instance_id = ? AND visible_at IS NOT NULL "
            "AND json_extract(event, '$.TimerId') = ?",
            (instance_id, timer_id),
        )

    # -- work items (activities) -------------------------------------------------------
    @staticmethod
    def add_work(
        db: sqlite3.Connection,
        instance_id: str,
        execution_id: str,
        task_id: int,
        name: str,
        input_text: str | None,
    ) -> int:
        cursor = db.execute(
            "INSERT INTO work (instance_id, execution_id, task_id, name, input) VALUES (?,?,?,?,?)",
            (instance_id, execution_id, task_id, name, input_text),
        )
        return int(cursor.lastrowid or 0)

    @staticmethod
    def delete_work(db: sqlite3.Connection, work_id: int) -> None:
        db.execute("DELETE FROM work WHERE id = ?", (work_id,))

    @staticmethod
    def delete_work_of(db: sqlite3.Connection, instance_id: str) -> None:
        """Forget an instance's scheduled activities (a terminated instance)."""
        db.execute("DELETE FROM work WHERE instance_id = ?", (instance_id,))

    def all_work(self) -> list[WorkItem]:
        return [WorkItem(*row) for row in self.db.execute("SELECT * FROM work ORDER BY id")]

    def get_work(self, work_id: int) -> WorkItem | None:
        row = self.db.execute("SELECT * FROM work WHERE id = ?", (work_id,)).fetchone()
        return None if row is None else WorkItem(*row)

    # -- entities ----------------------------------------------------------------------
    def get_entity(self, scheduler_id: str) -> tuple[str | None, bool]:
        row = self.db.execute(
            "SELECT state FROM entities WHERE scheduler_id = ?", (scheduler_id,)
        ).fetchone()
        return (None, False) if row is None else (row[0], True)

    @staticmethod
    def put_entity(
        db: sqlite3.Connection,
        scheduler_id: str,
        name: str,
        key: str,
        state: str | None,
        exists: bool,
        now: float,
    ) -> None:
        if exists:
            db.execute(
                "INSERT OR REPLACE INTO entities VALUES (?,?,?,?,?)",
                (scheduler_id, name, key, state, now),
            )
        else:
            db.execute("DELETE FROM entities WHERE scheduler_id = ?", (scheduler_id,))

    @staticmethod
    def add_entity_op(
        db: sqlite3.Connection,
        scheduler_id: str,
        operation: str,
        input_text: str | None,
        signal: bool,
        parent_instance_id: str | None,
        request_id: str | None,
    ) -> None:
        db.execute(
            "INSERT INTO entity_ops (scheduler_id, operation, input, signal, "
            "parent_instance_id, request_id) VALUES (?,?,?,?,?,?)",
            (scheduler_id, operation, input_text, int(signal), parent_instance_id, request_id),
        )

    @staticmethod
    def delete_entity_ops(db: sqlite3.Connection, op_ids: list[int]) -> None:
        db.executemany("DELETE FROM entity_ops WHERE id = ?", [(i,) for i in op_ids])

    def entity_ops(self, scheduler_id: str) -> list[EntityOp]:
        rows = self.db.execute(
            "SELECT id, scheduler_id, operation, input, signal, parent_instance_id, request_id "
            "FROM entity_ops WHERE scheduler_id = ? ORDER BY id",
            (scheduler_id,),
        )
        return [EntityOp(r[0], r[1], r[2], r[3], bool(r[4]), r[5], r[6]) for r in rows]

    def entities_with_ops(self) -> list[str]:
        return [row[0] for row in self.db.execute("SELECT DISTINCT scheduler_id FROM entity_ops")]

    # -- timer triggers ----------------------------------------------------------------
    def get_timer_status(self, function_name: str) -> tuple[float | None, float | None, float]:
        row = self.db.execute(
            "SELECT last, next, last_updated FROM timer_triggers WHERE function_name = ?",
            (function_name,),
        ).fetchone()
        return (None, None, 0.0) if row is None else (row[0], row[1], row[2])

    def put_timer_status(
        self, function_name: str, last: float | None, next_: float | None, now: float
    ) -> None:
        with self.transaction() as db:
            db.execute(
                "INSERT OR REPLACE INTO timer_triggers VALUES (?,?,?,?)",
                (function_name, last, next_, now),
            )
