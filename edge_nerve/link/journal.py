"""The edge's step journal: which step ids this robot started and how they ended, in SQLite.

Why: "the edge never runs a step id twice" must hold across a restart of the edge process too.
The cloud re-sends the open plan's unfinished steps after every Hello, and a freshly started
edge has no memory of what its previous incarnation ran. PlanExecutor writes a row *before* it
dispatches a step (status "started") and when the step ends ("succeeded", "failed") or is
rejected; on start-up it loads every step id it has seen, and `recover()` reports a step still
"started" as failed (it was cut short by the restart; the robot held), so the cloud replans
from the real state instead of the edge running the step again. WAL mode, stdlib sqlite3, JSON
for the skill; one connection, used from the executor's thread.

    journal = StepJournal("runs/robot-1-steps.db")
    PlanExecutor(..., journal=journal).recover()
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from cloud_brain.domain.plan import Step

_SCHEMA = """
CREATE TABLE IF NOT EXISTS steps (
    step_id TEXT PRIMARY KEY,
    plan_id TEXT NOT NULL,
    idx INTEGER NOT NULL,
    revision INTEGER NOT NULL,
    command_id TEXT NOT NULL,
    skill_json TEXT NOT NULL,
    status TEXT NOT NULL,           -- started | succeeded | failed | rejected
    message TEXT NOT NULL DEFAULT '',
    seq INTEGER NOT NULL,
    at REAL NOT NULL
);
"""


@dataclass
class JournalRow:
    step_id: str
    plan_id: str
    index: int
    revision: int
    command_id: str
    step: Step
    status: str
    message: str


class StepJournal:
    """Durable record of the steps this robot started (see the module docstring)."""

    def __init__(self, path: str | Path = ":memory:"):
        self.path = str(path)
        if self.path != ":memory:":
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        if self.path != ":memory:":
            self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.executescript(_SCHEMA)
        row = self._db.execute("SELECT MAX(seq) FROM steps").fetchone()
        self._seq = (row[0] or 0) if row else 0

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def record(self, q, status: str, message: str = "") -> None:
        """Upsert the step (a QueuedStep) with its status; one committed write."""
        with self._lock:
            self._seq += 1
            self._db.execute(
                "INSERT INTO steps VALUES (?,?,?,?,?,?,?,?,?,?) ON CONFLICT(step_id) DO UPDATE SET "
                "status=excluded.status, message=excluded.message, at=excluded.at",
                (q.step_id, q.plan_id, q.index, q.revision, q.command_id,
                 json.dumps([q.step.skill, list(q.step.args)]), status, message, self._seq, time.time()))

    def record_row(self, row: JournalRow, status: str, message: str = "") -> None:
        with self._lock:
            self._db.execute("UPDATE steps SET status=?, message=?, at=? WHERE step_id=?",
                             (status, message, time.time(), row.step_id))

    def seen(self) -> set[str]:
        with self._lock:
            return {r[0] for r in self._db.execute("SELECT step_id FROM steps")}

    def status(self, step_id: str) -> str | None:
        with self._lock:
            row = self._db.execute("SELECT status FROM steps WHERE step_id=?", (step_id,)).fetchone()
        return row[0] if row else None

    def last_step_id(self) -> str:
        """The step whose outcome this robot reported last ('' if none): the Hello resume point."""
        with self._lock:
            row = self._db.execute("SELECT step_id FROM steps WHERE status != 'started' "
                                   "ORDER BY seq DESC LIMIT 1").fetchone()
        return row[0] if row else ""

    def recent(self) -> list[JournalRow]:
        """The rows of the most recently touched plan, oldest first."""
        with self._lock:
            last = self._db.execute("SELECT plan_id FROM steps ORDER BY seq DESC LIMIT 1").fetchone()
            if last is None:
                return []
            rows = self._db.execute(
                "SELECT step_id, plan_id, idx, revision, command_id, skill_json, status, message "
                "FROM steps WHERE plan_id=? ORDER BY seq", (last[0],)).fetchall()
        out = []
        for r in rows:
            skill, args = json.loads(r[5])
            out.append(JournalRow(r[0], r[1], r[2], r[3], r[4], Step(skill, tuple(args)), r[6], r[7]))
        return out
