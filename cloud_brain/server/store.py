"""Durable session state of the cloud: sessions, plans, revisions, steps and acked outcomes in SQLite.

Why: a cloud process can die at any instant (`kill -9`, OOM, a node drained). The robot then
reconnects (Hello with its last acknowledged step) to a new process, which must carry on with
the same plan: the same plan ids, revisions and step ids, no acked step issued again, no step
lost. PlanSession writes through to this store *before* it sends anything that depends on the
write (a PlanStep, a Commit, a Rollback), so whatever the edge has seen, the store has.

SQLite in WAL mode (stdlib sqlite3) is the embedded default: readers never block the writer, a
commit is one append to the log, and `synchronous=NORMAL` keeps every committed transaction
across a process crash (only a power loss may drop the last ones). One connection per store,
guarded by a lock (sessions write from their own threads). `SessionStore(":memory:")` is the
in-memory mode for tests. Stored as protobuf bytes (PlanStep) and JSON (world snapshots) only.

    store = SessionStore("runs/cloud-state.db")
    store.save_session(session_row); store.save_plan(robot_id, plan_row)
    store.load(robot_id) -> StoredSession | None
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

SCHEMA_VERSION = 1

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS sessions (
    robot_id TEXT PRIMARY KEY,
    session_id TEXT NOT NULL,
    world_name TEXT NOT NULL,
    world_json TEXT,                 -- WorldState.to_snapshot() of the last known world
    last_acked_step_id TEXT NOT NULL DEFAULT '',
    plan_seq INTEGER NOT NULL DEFAULT 0,
    updated REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS plans (
    plan_id TEXT PRIMARY KEY,
    robot_id TEXT NOT NULL,
    seq INTEGER NOT NULL,            -- order of the plans of a session
    command_id TEXT NOT NULL,
    text TEXT NOT NULL,
    delivery INTEGER NOT NULL,
    revision INTEGER NOT NULL,
    num_steps INTEGER,               -- NULL while the current revision is being planned
    committed_upto INTEGER NOT NULL,
    replans INTEGER NOT NULL,
    closed INTEGER NOT NULL,
    from_index INTEGER NOT NULL,     -- where the current revision's planning started
    from_state_json TEXT             -- ... and from which state (to finish it after a crash)
);
CREATE INDEX IF NOT EXISTS plans_robot ON plans (robot_id, seq);
CREATE TABLE IF NOT EXISTS steps (
    step_id TEXT PRIMARY KEY,
    plan_id TEXT NOT NULL,
    idx INTEGER NOT NULL,
    revision INTEGER NOT NULL,
    status TEXT NOT NULL,            -- current | held | withdrawn
    msg BLOB,                        -- pb.PlanStep bytes (current / held)
    state_json TEXT                  -- the state the step was planned to start from
);
CREATE INDEX IF NOT EXISTS steps_plan ON steps (plan_id);
CREATE TABLE IF NOT EXISTS outcomes (
    step_id TEXT PRIMARY KEY,
    plan_id TEXT NOT NULL,
    success INTEGER NOT NULL,
    at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS outcomes_plan ON outcomes (plan_id);
"""


class StoreError(RuntimeError):
    """The state database cannot be opened or is not one this version understands."""


@dataclass
class StoredStep:
    step_id: str
    index: int
    revision: int
    status: str  # current | held | withdrawn
    msg: bytes | None = None
    state: dict | None = None


@dataclass
class StoredPlan:
    plan_id: str
    command_id: str
    text: str
    delivery: int
    revision: int
    num_steps: int | None
    committed_upto: int
    replans: int
    closed: bool
    from_index: int = 0
    from_state: dict | None = None
    steps: list[StoredStep] = field(default_factory=list)
    outcomes: dict[str, bool] = field(default_factory=dict)


@dataclass
class StoredSession:
    robot_id: str
    session_id: str
    world_name: str
    world: dict | None
    last_acked_step_id: str
    plan_seq: int
    plans: list[StoredPlan] = field(default_factory=list)  # oldest first


def _dumps(obj) -> str | None:
    return None if obj is None else json.dumps(obj, sort_keys=True)


def _loads(text):
    return None if text is None else json.loads(text)


class SessionStore:
    """One SQLite database (a file in WAL mode, or ":memory:") holding every robot's session."""

    shared = False  # one process owns the file: its cached sessions are the truth

    def __init__(self, path: str | Path = ":memory:"):
        self.path = str(path)
        if self.path != ":memory:":
            parent = Path(self.path).parent
            try:
                parent.mkdir(parents=True, exist_ok=True)
            except OSError as e:
                raise StoreError(f"cannot create the folder of the state database {self.path}: {e}") from e
        self._lock = threading.Lock()
        try:
            self._db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None,
                                       timeout=10.0)
            self._db.execute("PRAGMA busy_timeout=10000")
            if self.path != ":memory:":
                mode = self._db.execute("PRAGMA journal_mode=WAL").fetchone()[0]
                if str(mode).lower() != "wal":
                    raise StoreError(f"{self.path}: SQLite refused WAL mode (got {mode!r})")
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.executescript(_SCHEMA)
            row = self._db.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone()
            if row is None:
                self._db.execute("INSERT INTO meta VALUES ('schema_version', ?)", (str(SCHEMA_VERSION),))
            elif int(row[0]) != SCHEMA_VERSION:
                raise StoreError(f"{self.path} has schema version {row[0]}; this cloud reads "
                                 f"{SCHEMA_VERSION} (move the file away to start afresh)")
        except sqlite3.DatabaseError as e:
            raise StoreError(f"cannot open the state database {self.path}: {e}") from e

    @property
    def journal_mode(self) -> str:
        with self._lock:
            return str(self._db.execute("PRAGMA journal_mode").fetchone()[0]).lower()

    def close(self) -> None:
        with self._lock:
            self._db.close()

    # ---- writes (each one transaction) ---------------------------------------------------
    def save(self, session: StoredSession, plans: list[StoredPlan] = (),
             forget_plans: list[str] = ()) -> None:
        """Upsert the session row and the given plans (with all their steps and outcomes),
        delete `forget_plans`, in one transaction: a crash leaves all of it or none."""
        now = time.time()
        with self._lock:
            db = self._db
            db.execute("BEGIN IMMEDIATE")
            try:
                db.execute(
                    "INSERT INTO sessions VALUES (?,?,?,?,?,?,?) ON CONFLICT(robot_id) DO UPDATE SET "
                    "session_id=excluded.session_id, world_name=excluded.world_name, "
                    "world_json=excluded.world_json, last_acked_step_id=excluded.last_acked_step_id, "
                    "plan_seq=excluded.plan_seq, updated=excluded.updated",
                    (session.robot_id, session.session_id, session.world_name, _dumps(session.world),
                     session.last_acked_step_id, session.plan_seq, now))
                for pid in forget_plans:
                    for table in ("steps", "outcomes", "plans"):
                        db.execute(f"DELETE FROM {table} WHERE plan_id=?", (pid,))
                for p in plans:
                    seq = int(p.plan_id.rsplit("-", 1)[-1]) if p.plan_id.rsplit("-", 1)[-1].isdigit() else 0
                    db.execute(
                        "INSERT OR REPLACE INTO plans VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)",
                        (p.plan_id, session.robot_id, seq, p.command_id, p.text, p.delivery,
                         p.revision, p.num_steps, p.committed_upto, p.replans, int(p.closed),
                         p.from_index, _dumps(p.from_state)))
                    db.execute("DELETE FROM steps WHERE plan_id=?", (p.plan_id,))
                    db.executemany("INSERT INTO steps VALUES (?,?,?,?,?,?,?)", [
                        (s.step_id, p.plan_id, s.index, s.revision, s.status, s.msg, _dumps(s.state))
                        for s in p.steps])
                    db.executemany("INSERT OR IGNORE INTO outcomes VALUES (?,?,?,?)", [
                        (sid, p.plan_id, int(ok), now) for sid, ok in p.outcomes.items()])
                db.execute("COMMIT")
            except BaseException:
                db.execute("ROLLBACK")
                raise

    def forget_robot(self, robot_id: str) -> None:
        with self._lock:
            db = self._db
            db.execute("BEGIN IMMEDIATE")
            pids = [r[0] for r in db.execute("SELECT plan_id FROM plans WHERE robot_id=?", (robot_id,))]
            for pid in pids:
                db.execute("DELETE FROM steps WHERE plan_id=?", (pid,))
                db.execute("DELETE FROM outcomes WHERE plan_id=?", (pid,))
            db.execute("DELETE FROM plans WHERE robot_id=?", (robot_id,))
            db.execute("DELETE FROM sessions WHERE robot_id=?", (robot_id,))
            db.execute("COMMIT")

    # ---- reads (one implementation for both databases) -------------------------------------
    def _sql(self, query: str) -> str:
        """The query in this database's placeholder style (written with `?`)."""
        return query

    def _reading(self):
        """What a consistent read holds: the connection's lock (SQLite reads see one snapshot)."""
        return self._lock

    def robots(self) -> list[str]:
        with self._lock:
            return [r[0] for r in self._db.execute("SELECT robot_id FROM sessions ORDER BY robot_id")]

    def load(self, robot_id: str) -> StoredSession | None:
        """The robot's session as last written, or None if the store never saw the robot."""
        q = self._sql
        with self._reading():
            db = self._db
            row = db.execute(q("SELECT session_id, world_name, world_json, last_acked_step_id, plan_seq "
                               "FROM sessions WHERE robot_id=?"), (robot_id,)).fetchone()
            if row is None:
                return None
            out = StoredSession(robot_id, row[0], row[1], _loads(row[2]), row[3], row[4])
            for p in db.execute(q("SELECT plan_id, command_id, text, delivery, revision, num_steps, "
                                  "committed_upto, replans, closed, from_index, from_state_json "
                                  "FROM plans WHERE robot_id=? ORDER BY seq"), (robot_id,)).fetchall():
                plan = StoredPlan(p[0], p[1], p[2], p[3], p[4], p[5], p[6], p[7], bool(p[8]), p[9],
                                  _loads(p[10]))
                # msg: bytes from SQLite's BLOB, a memoryview from PostgreSQL's BYTEA
                plan.steps = [StoredStep(s[0], s[1], s[2], s[3], bytes(s[4]) if s[4] is not None else None,
                                         _loads(s[5])) for s in db.execute(
                    q("SELECT step_id, idx, revision, status, msg, state_json FROM steps "
                      "WHERE plan_id=? ORDER BY revision, idx"), (plan.plan_id,)).fetchall()]
                plan.outcomes = {s: bool(ok) for s, ok in db.execute(
                    q("SELECT step_id, success FROM outcomes WHERE plan_id=?"), (plan.plan_id,)).fetchall()}
                out.plans.append(plan)
            return out


# ---- PostgreSQL: one state database for several cloud replicas ----------------------------------
_PG_SCHEMA = [s.replace("BLOB", "BYTEA").replace(" REAL ", " DOUBLE PRECISION ")
              for s in _SCHEMA.split(";") if s.strip()]


class PostgresSessionStore(SessionStore):
    """The same store on PostgreSQL (psycopg 3), for several cloud replicas behind one address.

    Why: with SQLite a robot's session lives in one process's file; with several replicas the
    robot may reconnect to any of them, so the state must be in a server all of them share.
    `shared` tells the service to reload a robot's session from the database on every Hello
    (another replica may have moved it on) instead of trusting its own cached copy.

        store = PostgresSessionStore("postgresql://brainstem@db/brainstem")
    """

    shared = True

    def __init__(self, url: str):  # noqa: super().__init__ is SQLite's
        try:
            import psycopg
        except ImportError as e:
            raise StoreError("a postgresql:// state database needs psycopg: "
                             "pip install 'psycopg[binary]'") from e
        self.path = url
        self._lock = threading.Lock()
        try:
            self._db = psycopg.connect(url, autocommit=True)
            for stmt in _PG_SCHEMA:
                self._db.execute(stmt)
            self._db.execute("INSERT INTO meta VALUES ('schema_version', %s) ON CONFLICT DO NOTHING",
                             (str(SCHEMA_VERSION),))
            row = self._db.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone()
        except psycopg.Error as e:
            raise StoreError(f"cannot open the state database {_redact(url)}: {e}") from e
        if int(row[0]) != SCHEMA_VERSION:
            raise StoreError(f"{_redact(url)} has schema version {row[0]}; this cloud reads {SCHEMA_VERSION}")

    @property
    def journal_mode(self) -> str:
        return "postgresql"

    def save(self, session: StoredSession, plans: list[StoredPlan] = (),
             forget_plans: list[str] = ()) -> None:
        now = time.time()
        with self._lock, self._db.transaction():
            db = self._db
            db.execute(
                "INSERT INTO sessions VALUES (%s,%s,%s,%s,%s,%s,%s) ON CONFLICT (robot_id) DO UPDATE SET "
                "session_id=excluded.session_id, world_name=excluded.world_name, "
                "world_json=excluded.world_json, last_acked_step_id=excluded.last_acked_step_id, "
                "plan_seq=excluded.plan_seq, updated=excluded.updated",
                (session.robot_id, session.session_id, session.world_name, _dumps(session.world),
                 session.last_acked_step_id, session.plan_seq, now))
            for pid in forget_plans:
                for table in ("steps", "outcomes", "plans"):
                    db.execute(f"DELETE FROM {table} WHERE plan_id=%s", (pid,))
            for p in plans:
                tail = p.plan_id.rsplit("-", 1)[-1]
                db.execute("DELETE FROM plans WHERE plan_id=%s", (p.plan_id,))
                db.execute("INSERT INTO plans VALUES (%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s)",
                           (p.plan_id, session.robot_id, int(tail) if tail.isdigit() else 0,
                            p.command_id, p.text, p.delivery, p.revision, p.num_steps,
                            p.committed_upto, p.replans, int(p.closed), p.from_index,
                            _dumps(p.from_state)))
                db.execute("DELETE FROM steps WHERE plan_id=%s", (p.plan_id,))
                for s in p.steps:
                    db.execute("INSERT INTO steps VALUES (%s,%s,%s,%s,%s,%s,%s)",
                               (s.step_id, p.plan_id, s.index, s.revision, s.status, s.msg,
                                _dumps(s.state)))
                for sid, ok in p.outcomes.items():
                    db.execute("INSERT INTO outcomes VALUES (%s,%s,%s,%s) ON CONFLICT DO NOTHING",
                               (sid, p.plan_id, int(ok), now))

    def forget_robot(self, robot_id: str) -> None:
        with self._lock, self._db.transaction():
            pids = [r[0] for r in self._db.execute("SELECT plan_id FROM plans WHERE robot_id=%s", (robot_id,))]
            for pid in pids:
                self._db.execute("DELETE FROM steps WHERE plan_id=%s", (pid,))
                self._db.execute("DELETE FROM outcomes WHERE plan_id=%s", (pid,))
            self._db.execute("DELETE FROM plans WHERE robot_id=%s", (robot_id,))
            self._db.execute("DELETE FROM sessions WHERE robot_id=%s", (robot_id,))

    def _sql(self, query: str) -> str:
        return query.replace("?", "%s")

    @contextmanager
    def _reading(self):
        """The lock and one transaction: another replica may write between the queries."""
        with self._lock, self._db.transaction():
            yield


def _redact(url: str) -> str:
    """The URL without its password (errors and logs)."""
    import re

    return re.sub(r"//([^:/@]+):[^@]*@", r"//\1:***@", url)


def open_store(where: str | Path) -> SessionStore:
    """A postgresql:// URL -> PostgresSessionStore; anything else: a SQLite file (or ':memory:')."""
    text = str(where)
    if text.startswith(("postgresql://", "postgres://")):
        return PostgresSessionStore(text)
    return SessionStore(text)
