"""A robot stand-in for link benches and tests: the real edge logic, skills that take measured time.

Why: plan streaming and prefetch are about what the *link* costs between skills. This robot
runs the real pieces of the edge that decide it (edge_nerve.link.client.CloudClient over real
gRPC, edge_nerve.execution.PlanExecutor with its feasibility and prediction checks, exactly-once
step ids) and replaces only the physics: a skill holds for its duration measured in the MuJoCo
sim (edge_nerve/bench/skill_durations.py) times `time_scale`, then changes a symbolic world by
the skill's effects (cloud_brain.domain.skills.apply). Faults can be injected per skill: a
failure, or a "wrong outcome" (the skill reports success but the world did not change as
predicted), which is what makes the cloud roll back and replan.

Link loss (edge_nerve/execution.py's leases): no step starts without a live link; a running
step whose lease runs out while the link is down is cancelled (it ends as a failure, the world
unchanged: the robot held). `unsafe_events` lists every moment the robot moved without a live
lease (a step started while the cloud had been silent past its lease, or still running past its
step lease with the link down); it must stay empty. With `journal_path` the executor keeps a
step journal (edge_nerve/link/journal.py), so a restarted robot on the same file never runs a
step id twice and reports the step it was cut short in as failed.

Everything the edge does happens on one thread (cloud messages, skill ends, dispatch), so the
idle gap between two steps measures the protocol, not thread hand-offs.

    with TimedRobot(address, WorldState.initial(), load()["durations_s"], time_scale=0.05) as robot:
        record = robot.run_mission("bring me the red cup", delivery="prefetch")
        print(record.first_action_ms, record.idle_gaps_ms, robot.world)
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from dataclasses import dataclass, field

from cloud_brain.domain.plan import Step
from cloud_brain.domain.skills import SkillError, apply
from cloud_brain.domain.state import WorldState
from cloud_brain.wire import kind_of, pb, snapshot_from_proto
from edge_nerve.execution import Outcome, PlanExecutor, QueuedStep
from edge_nerve.link.client import DELIVERIES, ClientConfig, CloudClient

log = logging.getLogger(__name__)

_STOP = object()
_POLL_S = 0.05  # the loop wakes at least this often (link state, settle retries)
FAULT_KINDS = ("fail", "wrong_outcome")


@dataclass
class Fault:
    """Injected outcome for the first `times` runs of steps matching `skill` (and `args`).

    kind "fail": the skill reports failure and the world is unchanged.
    kind "wrong_outcome": the skill reports success but the world is unchanged (e.g. the base
    stopped short), so the next speculative step's predicted precondition does not hold."""

    skill: str
    args: tuple[str, ...] | None = None  # None: any arguments
    kind: str = "fail"
    times: int = 1

    def __post_init__(self):
        if self.kind not in FAULT_KINDS:
            raise ValueError(f"Fault.kind must be one of {FAULT_KINDS}, got {self.kind!r}")

    def matches(self, step: Step) -> bool:
        return self.times > 0 and step.skill == self.skill and (
            self.args is None or tuple(step.args) == tuple(self.args))


@dataclass
class StepRun:
    """One step the robot started (at most one per step id)."""

    step_id: str
    index: int
    revision: int
    step: Step
    speculative: bool
    start: float
    end: float | None = None
    success: bool | None = None
    message: str = ""


@dataclass
class MissionRecord:
    """What one command cost and did, on the edge's monotonic clock."""

    text: str
    delivery: str
    command_id: str = ""
    t_command: float = 0.0
    t_first_step_rx: float | None = None  # the mission's first PlanStep reached the edge
    runs: list[StepRun] = field(default_factory=list)
    received: dict[str, object] = field(default_factory=dict)  # step_id -> first PlanStep
    rejected: dict[str, str] = field(default_factory=dict)  # step_id -> why it was not started
    rollbacks: int = 0
    refusal: str | None = None
    errors: list[str] = field(default_factory=list)
    finished: bool = False
    timed_out: bool = False
    interrupted: bool = False  # the robot was stopped (an edge restart) before the mission ended
    final_world: WorldState | None = None

    @property
    def ok(self) -> bool:
        """The plan ran to its end (after any replans): no refusal, no error, no time-out."""
        return self.finished and not self.timed_out and self.refusal is None and not self.errors

    @property
    def first_action_ms(self) -> float | None:
        """Command sent -> first skill started."""
        return (self.runs[0].start - self.t_command) * 1e3 if self.runs else None

    @property
    def idle_gaps_ms(self) -> list[float]:
        """For each step after the first: previous step ended -> this one started."""
        return [(b.start - a.end) * 1e3 for a, b in zip(self.runs, self.runs[1:]) if a.end is not None]

    @property
    def idle_gaps_same_revision_ms(self) -> list[float]:
        """idle_gaps_ms between steps of one plan revision (no rollback and replan between)."""
        return [(b.start - a.end) * 1e3 for a, b in zip(self.runs, self.runs[1:])
                if a.end is not None and a.revision == b.revision]

    @property
    def mission_s(self) -> float | None:
        """Command sent -> last step ended."""
        ends = [r.end for r in self.runs if r.end is not None]
        return max(ends) - self.t_command if ends else None

    @property
    def wasted_steps(self) -> int:
        """Steps the cloud sent that never ran (withdrawn by a rollback, or rejected here)."""
        ran = {r.step_id for r in self.runs}
        return sum(1 for sid in self.received if sid not in ran)


class TimedRobot:
    """The edge of one robot, with timed symbolic skills (see the module docstring).

    address: the cloud (or a DelayProxy in front of it). world: the true initial state.
    durations_s: skill -> seconds (simulated); each run lasts that times `time_scale`.
    settle_s: PlanExecutor.settle_s (0: this world never lags, a mismatch is final at once).
    """

    def __init__(self, address: str, world: WorldState, durations_s: dict[str, float], *,
                 time_scale: float = 1.0, robot_id: str = "timed-robot",
                 faults: list[Fault] | tuple = (), config: ClientConfig | None = None,
                 settle_s: float = 0.0, journal_path: str | None = None):
        if time_scale <= 0:
            raise ValueError(f"time_scale must be positive, got {time_scale}")
        self.world = world
        self.durations_s = dict(durations_s)
        self.time_scale = time_scale
        self.faults = list(faults)
        self.journal = None
        if journal_path is not None:
            from edge_nerve.link.journal import StepJournal

            self.journal = StepJournal(journal_path)
        self.executor = PlanExecutor(lambda: self.world, self._dispatch, self._report,
                                     settle_s=settle_s, cancel=self._cancel, journal=self.journal)
        self.client = CloudClient(address, robot_id, lambda: self.world.to_snapshot(),
                                  self._inbox_put, config=config)
        if self.journal is not None:
            self.client.last_acked_step_id = self.journal.last_step_id()
        self.unsafe_events: list[str] = []  # motion without a live lease (must stay empty)
        self._cancelled: dict[str, str] = {}  # step id -> why the executor cancelled it
        self._link_down_since: float | None = None
        self.started_step_ids: list[str] = []  # every step ever started, in order
        self.duplicate_starts: list[str] = []  # step ids started twice (must stay empty)
        self._inbox: queue.Queue = queue.Queue()
        self._running: tuple[QueuedStep, float, StepRun] | None = None
        self._mission: MissionRecord | None = None
        self._mission_done = threading.Event()
        self._thread = threading.Thread(target=self._loop, name=f"timed-robot {robot_id}", daemon=True)

    # ---- lifecycle -----------------------------------------------------------------------
    def start(self, timeout_s: float = 10.0) -> "TimedRobot":
        self.executor.recover()  # a restarted robot: the step it was cut short in failed
        self._thread.start()
        if not self.client.start(timeout_s=timeout_s):
            self.stop()
            raise ConnectionError(f"no Welcome from the cloud at {self.client.address} "
                                  f"within {timeout_s} s")
        return self

    def stop(self) -> None:
        """Stop the edge (a restart: a running step is cut short, its effect never happens)."""
        self._inbox.put(_STOP)
        self._thread.join(5.0)
        self.client.stop(timeout_s=2.0)
        rec = self._mission
        if rec is not None and not rec.finished:
            rec.interrupted = True
            self._finish(rec)
        if self.journal is not None:
            self.journal.close()

    def __enter__(self) -> "TimedRobot":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    # ---- missions ------------------------------------------------------------------------
    def run_mission(self, text: str, delivery: str = "prefetch", timeout_s: float = 60.0,
                    world: WorldState | None = None) -> MissionRecord:
        """Send `text` (planned from `world`, default the current one) and wait until the plan
        has run to its end, was refused, failed for good, or `timeout_s` passed."""
        if delivery not in DELIVERIES:
            raise ValueError(f"unknown delivery {delivery!r}; one of {', '.join(DELIVERIES)}")
        done = threading.Event()
        self._inbox.put(("mission", text, delivery, world, done))
        if not done.wait(timeout_s):
            raise TimeoutError("the robot's loop did not take the mission")
        rec = self._mission
        if not self._mission_done.wait(timeout_s):
            rec.timed_out = True
            self._inbox.put(("abandon",))
        return rec

    def adopt_mission(self, text: str, command_id: str, delivery: str = "prefetch",
                      timeout_s: float = 60.0, idle_s: float = 3.0) -> MissionRecord:
        """After an edge restart: follow the mission `command_id` an earlier incarnation sent
        (the cloud resends its open plan on Hello) until it ends. If no step of it arrives for
        `idle_s` while the link is up and nothing runs, the cloud has nothing open for it: the
        record ends (finished, no refusal) and the caller judges the world."""
        rec = MissionRecord(text, delivery, command_id=command_id)
        rec.t_command = time.monotonic()
        self._inbox.put(("adopt", rec))
        deadline = time.monotonic() + timeout_s
        quiet_since = time.monotonic()
        while not self._mission_done.wait(0.05):
            now = time.monotonic()
            busy = (self._running is not None or not self.client.connected
                    or (self.executor.plan is not None and self.executor.plan.command_id == command_id
                        and not self.executor.complete and not self.executor.plan.failed))
            if busy:
                quiet_since = now
            elif now - quiet_since > idle_s:
                self._inbox.put(("settle", rec))
                self._mission_done.wait(1.0)
                break
            if now > deadline:
                rec.timed_out = True
                self._inbox.put(("abandon",))
                break
        return rec

    # ---- the edge loop -------------------------------------------------------------------
    def _inbox_put(self, msg) -> None:
        self._inbox.put(msg)

    def _loop(self) -> None:
        while True:
            timeout = _POLL_S
            if self._running is not None:
                timeout = min(timeout, max(0.0, self._running[1] - time.monotonic()))
            try:
                item = self._inbox.get(timeout=timeout)
            except queue.Empty:
                item = None
            if self._running is not None and time.monotonic() >= self._running[1]:
                self._end_running_step()
            if item is _STOP:
                return
            self._watch_lease()
            try:
                if isinstance(item, tuple):
                    self._on_local(item)
                elif item is not None:
                    self._on_cloud(item)
                self.executor.on_link(self.client.connected)
                self.executor.pump()
                self._check_mission_done()
            except Exception:
                log.exception("timed robot: error handling %r", item)

    def _on_local(self, item: tuple) -> None:
        if item[0] == "abandon":
            self._mission = None
            self.executor.cancel_plan()
            return
        if item[0] == "adopt":
            self._mission = item[1]
            self._mission_done.clear()
            return
        if item[0] == "settle":
            if self._mission is item[1] and not item[1].finished:
                self._finish(item[1])
            return
        _, text, delivery, world, taken = item
        if world is not None:
            self.world = world
        rec = MissionRecord(text, delivery)
        self._mission = rec
        self._mission_done.clear()
        rec.t_command = time.monotonic()
        try:
            rec.command_id = self.client.send_command(text, self.world.to_snapshot(),
                                                      delivery=delivery)
        except ConnectionError as e:
            rec.errors.append(str(e))
            self._finish(rec)
        taken.set()

    def _on_cloud(self, msg) -> None:
        kind = kind_of(msg)
        rec = self._mission
        mine = rec is not None and not rec.finished
        if kind == "step":
            s = msg.step
            if mine and s.command_id == rec.command_id:
                rec.received.setdefault(s.step_id, s)
                if rec.t_first_step_rx is None:
                    rec.t_first_step_rx = time.monotonic()
            self.executor.on_step(QueuedStep(
                s.plan_id, s.revision, s.index, s.step_id, s.command_id,
                Step(s.skill.name, tuple(s.skill.args)), s.speculative, lease_s=s.lease_deadline_s,
                predicted_pre=snapshot_from_proto(s.predicted_pre) if s.HasField("predicted_pre") else None))
        elif kind == "rollback":
            r = msg.rollback
            if mine:
                rec.rollbacks += 1
            self.executor.on_rollback(r.plan_id, r.from_index, r.new_revision)
        elif kind == "done":
            self.executor.on_done(msg.done.plan_id, msg.done.num_steps, msg.done.revision)
        elif kind == "refusal":
            self.executor.cancel_plan()
            if mine and msg.refusal.command_id == rec.command_id:
                rec.refusal = msg.refusal.reason
                self._finish(rec)
        elif kind == "error":
            e = msg.error
            if mine and e.command_id == rec.command_id:
                rec.errors.append(f"{pb.Error.Code.Name(e.code)}: {e.message}")
                if e.code != pb.Error.PROTOCOL:  # PROTOCOL: a late outcome; the plan goes on
                    self._finish(rec)

    def _lease_live(self) -> bool:
        """The cloud's lease holds: the stream is up, or the cloud spoke within its lease."""
        lease = self.client._lease_s or self.client.config.lease_s or 5.0
        return self.client.connected or time.monotonic() - self.client._last_rx <= lease

    def _watch_lease(self) -> None:
        """Record motion without a live lease: a running step past its step lease, link down."""
        if self.client.connected:
            self._link_down_since = None
            return
        now = time.monotonic()
        if self._link_down_since is None:
            self._link_down_since = now
        if self._running is None:
            return
        q = self._running[0]
        grace = 2 * _POLL_S + 0.1  # the executor's lease check runs on this loop's ticks
        if q.lease_s > 0 and now - self._link_down_since > q.lease_s + grace \
                and q.step_id not in self._cancelled:
            self.unsafe_events.append(f"{q.step_id} still moving {now - self._link_down_since:.2f} s "
                                      f"after the link went down (step lease {q.lease_s:.2f} s)")

    def _cancel(self, q: QueuedStep, reason: str) -> None:
        """PlanExecutor cancels the running step (its lease ran out): it stops now, as a failure."""
        if self._running is not None and self._running[0].step_id == q.step_id:
            self._cancelled[q.step_id] = reason
            self._running = (self._running[0], time.monotonic(), self._running[2])

    def _dispatch(self, q: QueuedStep) -> None:
        now = time.monotonic()
        if not self._lease_live():
            self.unsafe_events.append(f"{q.step_id} started without a live lease")
        if q.step_id in self.started_step_ids:
            self.duplicate_starts.append(q.step_id)
        self.started_step_ids.append(q.step_id)
        run = StepRun(q.step_id, q.index, q.revision, q.step, q.speculative, now)
        rec = self._mission
        if rec is not None and q.command_id == rec.command_id:
            rec.runs.append(run)
        seconds = self.durations_s.get(q.step.skill)
        if seconds is None:
            raise KeyError(f"no duration for skill '{q.step.skill}' (known: {sorted(self.durations_s)})")
        self._running = (q, now + seconds * self.time_scale, run)

    def _end_running_step(self) -> None:
        q, _, run = self._running
        self._running = None
        fault = next((f for f in self.faults if f.matches(q.step)), None)
        cancelled = self._cancelled.pop(q.step_id, None)
        if cancelled is not None:  # stopped where it was: the world did not change
            success, message = False, cancelled
        elif fault is not None:
            fault.times -= 1
            success = fault.kind == "wrong_outcome"
            message = f"injected {fault.kind}"
        else:
            try:
                self.world = apply(q.step, self.world)
                success, message = True, ""
            except SkillError as e:
                success, message = False, str(e)
        run.end, run.success, run.message = time.monotonic(), success, message
        self.executor.finished(q.step_id, success, message)

    def _report(self, o: Outcome) -> None:
        rec = self._mission
        if o.rejected and rec is not None and o.command_id == rec.command_id:
            rec.rejected[o.step_id] = o.message
        self.client.send_outcome(o.step_id, o.plan_id, o.index, o.success, o.message,
                                 self.world.to_snapshot(), o.duration_s, rejected=o.rejected)

    def _check_mission_done(self) -> None:
        rec = self._mission
        if rec is None or rec.finished or self._running is not None:
            return
        plan = self.executor.plan
        if plan is not None and plan.command_id == rec.command_id and self.executor.complete:
            self._finish(rec)

    def _finish(self, rec: MissionRecord) -> None:
        rec.finished = True
        rec.final_world = self.world
        self._mission_done.set()
