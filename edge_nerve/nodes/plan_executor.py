"""`plan_executor` node: runs the cloud's plan steps through the skill runner, one at a time.

Wires `brainstem/plan_events` (from cloud_link) -> PlanExecutor -> ExecuteSkill goals, and
reports every step's outcome (done, failed, or rejected as infeasible here) on
`brainstem/step_outcomes`. Its world view comes from `odom` and `sim/object_states`.
The cloud link's state (`brainstem/link`, latched, and link plan events) gates every step's
start; a running step whose lease runs out while the link is down is cancelled (execution.py).
With `step_journal:=PATH` (edge_nerve/link/journal.py) the step ids it ran survive a restart of
the node: it never runs one twice, and reports the step it was cut short in as failed.
An ExecuteSkill answer that DDS lost (a goal response, a result) is asked for again with the
same step id, which the skill runner never runs twice (edge_nerve/skill_call.py says when).

    .venv/bin/python -m edge_nerve.nodes.plan_executor
"""

from __future__ import annotations

import json
import time

from action_msgs.msg import GoalStatus
from nav_msgs.msg import Odometry
from rclpy.action import ActionClient
from rclpy.node import Node
from std_msgs.msg import Bool, String

from brainstem_interfaces.action import ExecuteSkill
from brainstem_interfaces.msg import ObjectStates, PlanEvent, StepOutcome
from cloud_brain.domain.plan import Step
from edge_nerve.execution import Outcome, PlanExecutor, QueuedStep
from edge_nerve.nodes.common import (LATCHED_QOS, PLAN_QOS, SENSOR_QOS, Topics, declare, declare_world,
                                     objects_from_msg, pose_from_odometry, spin_node)
from edge_nerve.skill_call import ASK, SkillCall
from edge_nerve.world_tracker import WorldTracker


ENDED = (GoalStatus.STATUS_SUCCEEDED, GoalStatus.STATUS_ABORTED, GoalStatus.STATUS_CANCELED)


class PlanExecutorNode(Node):
    def __init__(self):
        super().__init__("plan_executor")
        self.tracker = WorldTracker(declare_world(self))
        self.skill_timeout_s = declare(self, "skill_timeout_s", 120.0, "abort a skill that runs longer")
        settle_s = declare(self, "prediction_settle_s", 0.5, "how long a speculative step's "
                           "predicted precondition may take to show in the sensors before it is rejected")
        journal_path = declare(self, "step_journal", "", "SQLite step journal (exactly-once across "
                               "restarts of this node); empty: none")
        journal = None
        if journal_path:
            from edge_nerve.link.journal import StepJournal

            journal = StepJournal(journal_path)
        # no step starts until cloud_link says the link is up (its state is latched)
        self.executor_logic = PlanExecutor(self.tracker.state, self.dispatch, self.report,
                                           cancel=self.cancel_step, link_up=False, settle_s=settle_s,
                                           journal=journal)
        self.call: SkillCall | None = None  # the running step's ExecuteSkill call, once its goal is sent
        self.call_step: QueuedStep | None = None
        self.goal_handles = []  # every accepted goal of that call (a re-ask the runner joined adds one)
        self.outcomes = self.create_publisher(StepOutcome, Topics.STEP_OUTCOMES, PLAN_QOS)
        self.skills = ActionClient(self, ExecuteSkill, Topics.EXECUTE_SKILL)
        self.events_sub = self.create_subscription(PlanEvent, Topics.PLAN_EVENTS, self.plan_event_callback, PLAN_QOS)
        # said once, latched, when a plan sent now would reach this node: at start-up under load a
        # plan sent right after the node showed in the graph was lost before the match (volatile)
        self.ready_pub = self.create_publisher(Bool, Topics.EXECUTOR_READY, LATCHED_QOS)
        self.ready = False
        self.create_subscription(String, Topics.LINK_STATE, self.link_callback, LATCHED_QOS)
        self.create_subscription(Odometry, Topics.ODOM, self.odom_callback, SENSOR_QOS)
        self.create_subscription(ObjectStates, Topics.OBJECT_STATES, self.objects_callback, SENSOR_QOS)
        self.server_wait_s = declare(self, "server_wait_s", 10.0, "how long a step waits for the skill runner "
                                     "(to come up, to answer its goal, to send the result of a skill that ended)")
        self.answer_s = declare(self, "answer_s", 2.0, "an ExecuteSkill answer later than this is asked for again")
        self.pending: tuple[QueuedStep, float] | None = None  # dispatched, goal not yet sent
        self.create_timer(0.05, self.timer_callback)
        self.executor_logic.recover()  # after a restart: the cut-short step is reported failed

    # ---- inputs -------------------------------------------------------------------------------
    def odom_callback(self, msg: Odometry) -> None:
        self.tracker.update_odometry(*pose_from_odometry(msg))

    def objects_callback(self, msg: ObjectStates) -> None:
        self.tracker.update_objects(objects_from_msg(msg), msg.holding, msg.delivered, msg.docked)

    def link_callback(self, msg: String) -> None:
        self.executor_logic.on_link(msg.data == "up")

    def plan_event_callback(self, ev: PlanEvent) -> None:
        ex = self.executor_logic
        if ev.kind == PlanEvent.KIND_LINK:
            ex.on_link(ev.text == "up")
        elif ev.kind == PlanEvent.KIND_STEP:
            ex.on_step(QueuedStep(ev.plan_id, ev.revision, ev.index, ev.step_id, ev.command_id,
                                  Step(ev.skill, tuple(ev.args)), ev.speculative,
                                  lease_s=float(ev.lease_deadline_s),
                                  predicted_pre=json.loads(ev.predicted_pre) if ev.predicted_pre else None))
        elif ev.kind == PlanEvent.KIND_ROLLBACK:
            ex.on_rollback(ev.plan_id, ev.index, ev.revision)
        elif ev.kind == PlanEvent.KIND_DONE:
            ex.on_done(ev.plan_id, ev.index)
        elif ev.kind == PlanEvent.KIND_REFUSAL:
            ex.cancel_plan()

    # ---- running skills -----------------------------------------------------------------------
    def timer_callback(self) -> None:
        """Send a dispatched goal once the skill runner is up; retry steps that waited for state."""
        if not self.ready and self.executor_logic.link_up and self.events_sub.get_publisher_count() >= 1:
            self.ready = True
            self.ready_pub.publish(Bool(data=True))
            self.get_logger().info("ready: link up, matched with the plan events' publisher")
        if self.pending is not None:
            q, since = self.pending
            if self.skills.server_is_ready():
                self.pending = None
                self._send_goal(q)
            elif time.monotonic() - since > self.server_wait_s:
                self.pending = None
                self.executor_logic.finished(q.step_id, False, "skill runner is not available")
        if self.call is not None:
            self._watch_call()
        self.executor_logic.pump()

    def _watch_call(self) -> None:
        """Ask again for an answer DDS lost; fail the step when the skill runner stays silent."""
        c, q, now = self.call, self.call_step, time.monotonic()
        c.server(self.skills.server_is_ready(), now)
        if any(h.status in ENDED for h in self.goal_handles):
            c.ended(now)
        due = c.due(now)
        if due is None:
            return
        kind, why = due
        if kind == ASK:
            self.get_logger().warning(f"step {q.index} {q.step}: {why}; asking the skill runner again")
            c.asked(now)
            self._send_goal(q)
        else:
            self.get_logger().error(f"step {q.index} {q.step}: {why}")
            self._end_call(q, False, why)

    def dispatch(self, q: QueuedStep) -> None:
        self.get_logger().info(f"step {q.index}: {q.step} ({q.step_id})")
        self.pending = (q, time.monotonic())
        self.timer_callback()

    def _send_goal(self, q: QueuedStep) -> None:
        if self.call is None or self.call.step_id != q.step_id:
            self.call, self.call_step, self.goal_handles = (
                SkillCall(q.step_id, time.monotonic(), self.answer_s, self.server_wait_s), q, [])
        goal = ExecuteSkill.Goal(step_id=q.step_id, skill=q.step.skill, args=list(q.step.args),
                                 timeout_s=float(self.skill_timeout_s))
        self.skills.send_goal_async(goal).add_done_callback(lambda f, q=q: self._goal_response(q, f))

    def _current(self, q: QueuedStep) -> bool:
        """Whether an answer belongs to the call still open (not to a step already over)."""
        return self.call is not None and self.call.step_id == q.step_id

    def _end_call(self, q: QueuedStep, success: bool, message: str) -> None:
        self.call, self.call_step, self.goal_handles = None, None, []
        self.executor_logic.finished(q.step_id, success, message)

    def cancel_step(self, q: QueuedStep, reason: str) -> None:
        """Lease expired: cancel the running skill (the skill runner stops the base, arm holds)."""
        self.get_logger().warning(f"step {q.index} {q.step}: {reason}")
        if self.pending is not None and self.pending[0].step_id == q.step_id:
            self.pending = None  # the goal was never sent
            self.executor_logic.finished(q.step_id, False, "not started")
        elif self._current(q):
            for handle in self.goal_handles:
                handle.cancel_goal_async()

    def _goal_response(self, q: QueuedStep, future) -> None:
        if not self._current(q):
            return
        handle = future.result()
        if handle is None or not handle.accepted:
            if not self.goal_handles:  # (a re-ask turned down while an earlier ask runs changes nothing)
                self._end_call(q, False, "skill runner rejected the goal")
            return
        self.call.accepted(time.monotonic())
        self.goal_handles.append(handle)
        if q.step_id in self.executor_logic.lease_cancelled:  # expired while the goal was in flight
            handle.cancel_goal_async()
        handle.get_result_async().add_done_callback(lambda f, q=q: self._result(q, f))

    def _result(self, q: QueuedStep, future) -> None:
        if not self._current(q):  # the first of several answers for one step ended it
            return
        response = future.result()
        if response.status == GoalStatus.STATUS_UNKNOWN:
            return self._end_call(q, False, "the skill runner no longer knows the step's goal")
        self._end_call(q, bool(response.result.success), response.result.message)

    def report(self, o: Outcome) -> None:
        verdict = "rejected" if o.rejected else ("done" if o.success else "failed")
        line = f"step {o.index} {o.step} {verdict} in {o.duration_s:.2f}s: {o.message}"
        if o.success:  # rclpy forbids one call site logging at two severities
            self.get_logger().info(line)
        else:
            self.get_logger().warning(line)
        self.outcomes.publish(StepOutcome(
            stamp=self.get_clock().now().to_msg(), command_id=o.command_id,
            plan_id=o.plan_id, index=o.index, step_id=o.step_id, skill=o.step.skill,
            args=list(o.step.args), success=o.success, rejected=o.rejected, message=o.message,
            duration_s=o.duration_s))


def main(args=None):
    spin_node(PlanExecutorNode, args)


if __name__ == "__main__":
    main()
