"""A robot stand-in for link benches and tests: the real edge logic, skills that take measured time.

Why: plan streaming and prefetch are about what the *link* costs between skills. This robot
runs the real pieces of the edge that decide it (edge_nerve.link.client.CloudClient over real
gRPC, edge_nerve.execution.PlanExecutor with its feasibility and prediction checks, exactly-once
step ids) and replaces only the physics: a skill holds for its duration measured in the MuJoCo
sim (edge_nerve/bench/skill_durations.py) times `time_scale`, then changes a symbolic world by
the skill's effects (cloud_brain.domain.skills.apply). Faults can be injected per skill: a
failure, or a "wrong outcome" (the skill reports success but the world did not change as
predicted), which is what makes the cloud roll back and replan.

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
                 settle_s: float = 0.0):
        if time_scale <= 0:
            raise ValueError(f"time_scale must be positive, got {time_scale}")
        self.world = world
        self.durations_s = dict(durations_s)
        self.time_scale = time_scale
        self.faults = list(faults)
        self.executor = PlanExecutor(lambda: self.world, self._dispatch, self._report,
                                     settle_s=settle_s)
        self.client = CloudClient(address, robot_id, lambda: self.world.to_snapshot(),
                                  self._inbox_put, config=config)
        self.started_step_ids: list[str] = []  # every step ever started, in order
        self.duplicate_starts: list[str] = []  # step ids started twice (must stay empty)
        self._inbox: queue.Queue = queue.Queue()
        self._running: tuple[QueuedStep, float, StepRun] | None = None
        self._mission: MissionRecord | None = None
        self._mission_done = threading.Event()
        self._thread = threading.Thread(target=self._loop, name=f"timed-robot {robot_id}", daemon=True)

    # ---- lifecycle -----------------------------------------------------------------------
    def start(self, timeout_s: float = 10.0) -> "TimedRobot":
        self._thread.start()
        if not self.client.start(timeout_s=timeout_s):
            self.stop()
            raise ConnectionError(f"no Welcome from the cloud at {self.client.address} "
                                  f"within {timeout_s} s")
        return self

    def stop(self) -> None:
        self._inbox.put(_STOP)
        self._thread.join(5.0)
        self.client.stop(timeout_s=2.0)

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
            self.executor.on_done(msg.done.plan_id, msg.done.num_steps)
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

    def _dispatch(self, q: QueuedStep) -> None:
        now = time.monotonic()
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
        if fault is not None:
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
