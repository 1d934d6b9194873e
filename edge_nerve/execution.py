"""The plan executor's logic: run the cloud's steps in order, each only if it is feasible here.

Why on the edge: the cloud plans from a snapshot that may be stale by the time a step runs.
Before every step the robot checks the skill's preconditions against its *own* current world
state; an infeasible step is rejected with the reason and the robot stays still. Step ids are
idempotent: a step id that has run (or been rejected) is never run again, whatever the link
repeats. Rollbacks withdraw queued steps; the cloud's replacement steps carry a new revision.

Leases (ARCHITECTURE.md, "Leases"): a step is never *started* without a live link to the cloud;
while the link is down queued steps wait and the robot holds still. A step that is running when
the link drops may finish, but only within its lease (`lease_s`, the PlanStep's
lease_deadline_s: how long it may run without news from the cloud, counted from when the link
went down); past that it is cancelled (the skill runner stops the base, the arm holds), its
outcome is a failure that says so, and the plan stops there until the cloud replans.

Plan prefetch: the cloud pre-sends the steps after the current one flagged `speculative`, each
with `predicted_pre`, the symbolic state it assumes. The moment step i ends, step i+1 starts
without a network round trip, but only if the robot's own state equals that prediction (every
field of the world snapshot: where the robot is, what it holds, where every object is). If it
does not, the speculative step is never started: it is reported as rejected with the fields
that differ, and the cloud answers Rollback and replans from the state the robot reports. A
mismatch is only declared after `settle_s` (sensors may lag the end of a skill by a frame).

Duplicated, reordered or repeated cloud messages change nothing: a Rollback or PlanDone of a
revision the executor has already moved past is ignored, a step of a newer revision implies the
rollback it follows, and a queued step of an older revision is never started. With a `journal`
(edge_nerve/link/journal.py) the step ids that ran survive an edge restart too, and a step that
was running when the edge died is reported as failed (it was cut short; the robot held).

Plain class (no rclpy): the `plan_executor` node feeds it events and runs what it dispatches.

    .venv/bin/python -m pytest tests/unit/test_execution.py -q
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from typing import Callable

from cloud_brain.domain.plan import Step
from cloud_brain.domain.skills import check as check_step
from cloud_brain.domain.state import WorldState

log = logging.getLogger(__name__)


@dataclass
class QueuedStep:
    plan_id: str
    revision: int
    index: int
    step_id: str
    command_id: str
    step: Step
    speculative: bool = False
    received: float = field(default_factory=time.monotonic)
    lease_s: float = 0.0  # may run this long without news from the cloud (0: until it ends)
    predicted_pre: dict | None = None  # speculative steps: the snapshot they assume (to_snapshot form)


_COMPARED = ("object_locations", "robot_room", "robot_at", "holding", "user_room", "docked")


def prediction_mismatch(predicted: dict | None, state: WorldState) -> str | None:
    """Why the robot's `state` is not the `predicted` snapshot (None when it is, or when there is
    no prediction). Fields missing from the prediction are not compared."""
    if not predicted:
        return None
    observed = state.to_snapshot()
    if predicted.get("world_name") and predicted["world_name"] != observed["world_name"]:
        return f"world '{observed['world_name']}', predicted '{predicted['world_name']}'"
    diffs = []
    for key in _COMPARED:
        if key not in predicted:
            continue
        want, got = predicted[key], observed[key]
        if key == "object_locations":
            for obj in sorted(set(want) | set(got)):
                if want.get(obj) != got.get(obj):
                    diffs.append(f"{obj} at '{got.get(obj)}', predicted '{want.get(obj)}'")
        elif (want or None) != (got or None):
            diffs.append(f"{key} '{got}', predicted '{want}'")
    return "; ".join(diffs) or None


@dataclass
class Outcome:
    command_id: str
    plan_id: str
    index: int
    step_id: str
    step: Step
    success: bool
    rejected: bool
    message: str
    duration_s: float


@dataclass
class PlanProgress:
    plan_id: str
    command_id: str
    revision: int = 0
    next_index: int = 0
    done_at: int | None = None  # number of steps once the cloud says the plan is complete
    failed: bool = False


class PlanExecutor:
    """Orders, checks and dispatches plan steps; one step runs at a time.

    `state_fn()` gives the robot's current symbolic state; `dispatch(queued)` starts a skill
    (the node sends the ExecuteSkill goal) and the node calls `finished(...)` when it ends;
    `cancel(queued, reason)` asks the node to cancel the running skill (its result still comes
    back through `finished`). `link_up`: the link state until `on_link` says otherwise (the node
    starts with False and waits for cloud_link's latched state)."""

    def __init__(self, state_fn: Callable[[], WorldState | None], dispatch: Callable[[QueuedStep], None],
                 report: Callable[[Outcome], None], state_wait_s: float = 5.0,
                 clock: Callable[[], float] = time.monotonic,
                 cancel: Callable[[QueuedStep, str], None] | None = None, link_up: bool = True,
                 settle_s: float = 0.0, journal=None):
        self.cancel = cancel
        self.journal = journal  # edge_nerve.link.journal.StepJournal or None
        self.settle_s = settle_s  # a speculative step's prediction may wait this long to hold
        self._mismatch_since: tuple[str, float] | None = None  # (step id, first seen)
        self.link_up = link_up
        self._link_down_since: float | None = None if link_up else clock()
        self._held_for_link: str | None = None  # step id we already logged as waiting for the link
        self.lease_cancelled: dict[str, str] = {}  # step id -> why it was cancelled
        self.state_fn = state_fn
        self.state_wait_s = state_wait_s  # a step waits this long for the first sensor data
        self.clock = clock
        self._waiting_since: float | None = None
        self.dispatch = dispatch
        self.report = report
        self.plan: PlanProgress | None = None
        self.queue: dict[int, QueuedStep] = {}
        self.running: QueuedStep | None = None
        self.seen_step_ids: set[str] = set(journal.seen()) if journal else set()  # never again
        self.started_at: dict[str, float] = {}
        self._left_plans: set[str] = set()  # plans a newer one replaced: their late steps never run

    # ---- events from the cloud ----------------------------------------------------------------
    def on_step(self, q: QueuedStep) -> None:
        if q.step_id in self.seen_step_ids:
            log.info("step %s already handled; ignoring the repeat", q.step_id)
            return
        if q.plan_id in self._left_plans:
            log.info("step %s of plan %s, which a newer plan replaced; ignored", q.step_id, q.plan_id)
            return
        if self.plan is None or self.plan.plan_id != q.plan_id:
            if self.plan is not None:
                self._left_plans.add(self.plan.plan_id)
            if self.running is not None:
                log.warning("new plan %s while %s runs; the new one waits", q.plan_id, self.running.step_id)
            self.plan = PlanProgress(q.plan_id, q.command_id, q.revision)
            self.queue.clear()
        if q.revision < self.plan.revision:
            log.info("step %s has stale revision %d < %d; dropped", q.step_id, q.revision, self.plan.revision)
            return
        if q.revision > self.plan.revision:  # its Rollback is late or lost: that is what it says
            self._withdraw(q.index, q.revision)
        self.plan.revision = q.revision
        self.queue[q.index] = q
        self.pump()

    def on_rollback(self, plan_id: str, from_index: int, new_revision: int) -> None:
        if self.plan is None or self.plan.plan_id != plan_id:
            return
        if new_revision <= self.plan.revision:
            log.info("rollback of %s to revision %d: already there; ignored", plan_id, new_revision)
            return
        self._withdraw(from_index, new_revision)

    def _withdraw(self, from_index: int, new_revision: int) -> None:
        self.plan.revision = new_revision
        self.plan.done_at = None
        self.plan.failed = False  # the replacement steps may run
        for i in [i for i, q in self.queue.items() if i >= from_index or q.revision < new_revision]:
            del self.queue[i]
        self.plan.next_index = min(self.plan.next_index, from_index)

    def on_done(self, plan_id: str, num_steps: int, revision: int | None = None) -> None:
        if self.plan is not None and self.plan.plan_id == plan_id:
            if revision is not None and revision < self.plan.revision:
                return  # a late PlanDone of a withdrawn revision
            self.plan.done_at = num_steps

    def on_link(self, up: bool) -> None:
        """The cloud link came up (every lease is renewed) or went down (leases start to run)."""
        if up == self.link_up:
            return
        self.link_up = up
        self._link_down_since = None if up else self.clock()
        log.info("cloud link %s", "up: steps may start" if up else "down: no new step starts")
        if up:
            self.pump()
        else:
            self.check_lease()

    def check_lease(self) -> None:
        """Cancel the running step once the link has been down longer than its lease."""
        q = self.running
        if q is None or self.link_up or q.lease_s <= 0 or q.step_id in self.lease_cancelled:
            return
        down_for = self.clock() - self._link_down_since
        if down_for <= q.lease_s:
            return
        reason = (f"lease expired: no news from the cloud for {down_for:.1f} s "
                  f"(lease {q.lease_s:.1f} s); skill cancelled, holding")
        self.lease_cancelled[q.step_id] = reason
        log.warning("%s %s: %s", q.step_id, q.step, reason)
        if self.cancel is not None:
            self.cancel(q, reason)

    def cancel_plan(self) -> None:
        """Forget queued steps (refusal, new command); the running skill is left to the node."""
        self.queue.clear()
        if self.plan is not None:
            self._left_plans.add(self.plan.plan_id)
        self.plan = None

    @property
    def complete(self) -> bool:
        p = self.plan
        return p is not None and p.done_at is not None and p.next_index >= p.done_at and self.running is None

    # ---- running ------------------------------------------------------------------------------
    def pump(self) -> None:
        """Start the next step if nothing runs, it has arrived and the link is live."""
        self.check_lease()
        p = self.plan
        if self.running is not None or p is None or p.failed:
            return
        q = self.queue.get(p.next_index)
        if q is None:
            return
        if not self.link_up:  # never start a step without a live link: hold still
            if self._held_for_link != q.step_id:
                self._held_for_link = q.step_id
                log.warning("cloud link down: holding before %s %s", q.step_id, q.step)
            return
        state = self.state_fn()
        if state is None:  # sensors not heard from yet (start-up): wait a little, never guess
            now = self.clock()
            if self._waiting_since is None:
                self._waiting_since = now
            if now - self._waiting_since < self.state_wait_s:
                return
        self._waiting_since = None
        mismatch = prediction_mismatch(q.predicted_pre, state) if (
            q.speculative and state is not None) else None
        if mismatch is not None and self.settle_s > 0:
            now = self.clock()
            if self._mismatch_since is None or self._mismatch_since[0] != q.step_id:
                self._mismatch_since = (q.step_id, now)
            if now - self._mismatch_since[1] < self.settle_s:
                return  # retried by the next pump: the sensors may not have caught up yet
        self._mismatch_since = None
        del self.queue[p.next_index]
        if q.revision < p.revision:  # withdrawn while it waited
            return self.pump()
        self.seen_step_ids.add(q.step_id)
        if mismatch is not None:
            reason = f"speculative step not started: predicted precondition does not hold: {mismatch}"
        elif state is None:
            reason = (f"infeasible here: no world state from the robot's sensors within "
                      f"{self.state_wait_s:.0f} s")
        else:
            reason = check_step(q.step, state)
            reason = None if reason is None else f"infeasible here: {reason}"
        if reason is not None:
            p.failed = True
            if self.journal is not None:
                self.journal.record(q, "rejected", reason)
            log.warning("rejecting %s %s: %s", q.step_id, q.step, reason)
            self.report(Outcome(q.command_id, q.plan_id, q.index, q.step_id, q.step, False, True,
                                reason, 0.0))
            return
        self.running = q
        self.started_at[q.step_id] = time.monotonic()
        if self.journal is not None:
            self.journal.record(q, "started")  # durable before the robot moves
        self.dispatch(q)

    def finished(self, step_id: str, success: bool, message: str) -> None:
        q = self.running
        if q is None or q.step_id != step_id:
            log.warning("result for %s, which is not running; ignored", step_id)
            return
        self.running = None
        lease = self.lease_cancelled.pop(step_id, None)
        if lease is not None:
            success, message = False, f"{lease} ({message})" if message else lease
        duration = time.monotonic() - self.started_at.pop(step_id, time.monotonic())
        if self.journal is not None:
            self.journal.record(q, "succeeded" if success else "failed", message)
        if self.plan is not None and self.plan.plan_id == q.plan_id:
            if success:
                self.plan.next_index = q.index + 1
            else:
                self.plan.failed = True
        self.report(Outcome(q.command_id, q.plan_id, q.index, q.step_id, q.step, success, False, message, duration))
        self.pump()

    def recover(self) -> list[Outcome]:
        """After an edge restart (with a journal): report every step that was running when the
        edge died as failed (cut short; the robot held), and the outcomes of the last plan again
        (the cloud ignores those it has), so the cloud resumes from what really happened."""
        if self.journal is None:
            return []
        rows = self.journal.recent()
        if rows:  # pick the plan up where this robot left it (the cloud resends from there)
            last = rows[-1]
            ok = last.status == "succeeded"  # steps run in order: the last row is the frontier
            self.plan = PlanProgress(last.plan_id, last.command_id, last.revision,
                                     next_index=last.index + 1 if ok else last.index, failed=not ok)
        out = []
        for row in rows:
            if row.status == "started":
                msg = "interrupted: the edge restarted while the step ran; the robot held"
                self.journal.record_row(row, "failed", msg)
                success, rejected = False, False
            else:
                msg, success, rejected = row.message, row.status == "succeeded", row.status == "rejected"
            o = Outcome(row.command_id, row.plan_id, row.index, row.step_id, row.step, success,
                        rejected, msg, 0.0)
            out.append(o)
            self.report(o)
        return out
