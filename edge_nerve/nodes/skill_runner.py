"""`skill_runner` node: the robot's control loop.

Two modes, one node:
- skills (default, `policy_file` empty): the ExecuteSkill action server. Wires `odom`,
  `joint_states`, `scan` and `sim/object_states` into an Observation and steps the active skill's
  controller on a timer at `rate_hz`: by default the distilled ONNX student
  (edge_nerve/skills/student.py, INT8 on PolicyRuntime, `skills:=student`), or with
  `skills:=teacher` the privileged experts it was distilled from (edge_nerve/skills/teachers.py;
  also the fallback, with a warning, when no student artifact is found). One skill at a time;
  cancel and timeouts stop the base and hold the arm.
- policy (`policy_file` set): an ONNX policy on the NPU-style PolicyRuntime, event-driven: each
  `joint_states` message (best effort, `control_depth` deep so an OS stall loses none) is turned into
  the observation vector (edge_nerve/control.py, with the latest odometry and the previous
  action), the policy runs, and the command is published in the same callback, so the latency
  is transport + one policy call, with no timer phase added. The sensor message is taken and the
  command published as CDR bytes (edge_nerve/control_cdr.py), skipping rclpy's conversion to and
  from Python objects, which cost more than the policy call. No action server in this mode
  (the distilled skill students will plug in here).

Both publish `skill/cmd_vel` (geometry_msgs/TwistStamped; the stamp is the sensor message's, so
anyone downstream can measure sensor-to-command latency) and `skill/arm_command` into the safety
gate, and loop timing (jitter, compute time, deadline misses) on /diagnostics once a second.
`executor`: policy mode runs on rclpy.experimental.EventsExecutor (edge_nerve/bench/loop.py
measures the executors against each other); teacher mode stays on SingleThreadedExecutor, where
the ExecuteSkill action and its awaited Futures are proven by the demo and the end-to-end tests.
(A first demo on the EventsExecutor never ran the goal; that was with `spin()`, which here runs
no callbacks at all, see common.spin; teacher mode has not been retried on the spin_once loop.)

    .venv/bin/python -m edge_nerve.nodes.skill_runner --ros-args -p rate_hz:=200.0
    .venv/bin/python -m edge_nerve.nodes.skill_runner --ros-args -p policy_file:=/tmp/p.int8.onnx -p rate_hz:=500.0
"""

from __future__ import annotations

import os
import time
from collections import OrderedDict

import numpy as np
from diagnostic_msgs.msg import DiagnosticArray
from geometry_msgs.msg import TwistStamped
from nav_msgs.msg import Odometry
from rclpy.action import ActionServer, CancelResponse, GoalResponse
from rclpy.node import Node
from rclpy.parameter import Parameter
from rclpy.task import Future
from sensor_msgs.msg import JointState, LaserScan
from std_msgs.msg import Float64MultiArray, String

from brainstem_interfaces.action import ExecuteSkill
from brainstem_interfaces.msg import ObjectStates
from edge_nerve.control import LoopMonitor, ObservationBuilder, ObservationLayout, split_action
from edge_nerve.control_cdr import ControlWire
from edge_nerve.nodes.common import (CONTROL_QOS, CONTROL_READER_DEPTH, DIAGNOSTICS_QOS, EXECUTORS, PLAN_QOS,
                                     SENSOR_QOS, Topics, control_reader_qos, declare, declare_realtime, declare_world,
                                     diagnostic_status, objects_from_msg, pose_from_odometry, spin_node,
                                     yaw_from_quaternion)
from edge_nerve.skills.teachers import SKILLS, Command, Observation, holding_arm
from sim.mjcf import ROBOT
from sim.world_model import user_hand_position

STEP_RESULTS_KEPT = 64  # ended steps whose result a re-ask still gets


class SkillRunnerNode(Node):
    def __init__(self):
        super().__init__("skill_runner")
        self.desc = declare_world(self)
        rate = declare(self, "rate_hz", 200.0, "control loop rate (policy mode: the expected sensor rate)")
        executor = declare(self, "executor", "", f"rclpy executor, one of {EXECUTORS} "
                           "('' = events with a policy_file, single for the teacher skills)")
        policy_file = declare(self, "policy_file", "", "ONNX policy: run it event-driven on joint_states "
                              "instead of the teacher skills ('' = teachers)")
        if not executor:  # read back by spin_node
            self.set_parameters([Parameter("executor", value="events" if policy_file else "single")])
        declare_realtime(self)  # SCHED_FIFO / affinity / mlockall, applied by spin_node
        self.realtime = None  # what spin_node applied (RealtimeReport), for /diagnostics
        deadline_ms = declare(self, "deadline_ms", 0.0, "a command later than this is a miss (0 = one period)")
        diag_hz = declare(self, "diagnostics_hz", 1.0, "loop timing on /diagnostics at this rate")
        self.trace_file = declare(self, "trace_file", "", "benchmarks: save per-tick stamps (npz) on shutdown")
        self.stale_s = declare(self, "stale_obs_s", 0.2, "hold still while sensors are older (wall s)")
        self.stale_abort_s = declare(self, "stale_abort_s", 3.0, "abort the skill when sensors stay stale this long")
        self.sensor_wait_s = declare(self, "sensor_wait_s", 5.0, "how long a skill waits for first sensor data")
        self.sensor_wait: tuple[Future, float] | None = None
        self.user_hand = user_hand_position(self.desc)
        self.period_s = 1.0 / rate
        self.monitor = LoopMonitor(self.period_s, deadline_ms / 1e3 if deadline_ms > 0 else None)
        self.cmd_pub = self.create_publisher(TwistStamped, Topics.SKILL_CMD_VEL, CONTROL_QOS)
        self.arm_pub = self.create_publisher(Float64MultiArray, Topics.SKILL_ARM_COMMAND, CONTROL_QOS)
        self.diag_pub = self.create_publisher(DiagnosticArray, Topics.DIAGNOSTICS, DIAGNOSTICS_QOS)
        self.create_timer(1.0 / diag_hz, self.diagnostics_callback)
        # one message object of each kind, refilled every tick (no per-tick construction)
        self.cmd_msg = TwistStamped()
        self.cmd_msg.header.frame_id = "base_link"
        self.arm_msg = Float64MultiArray(data=[0.6, 0.0, 0.0])
        self._trace = None
        if self.trace_file:  # (stamp, callback entry, published) wall ns per tick
            self._trace = np.zeros((3, 400_000), dtype=np.int64)
            self._n_trace = 0
        self.policy = None
        if policy_file:
            self._init_policy(policy_file, rate)
            return
        self.say_pub = self.create_publisher(String, Topics.SAY, PLAN_QOS)
        self.student = self._init_student(declare(self, "skills", os.environ.get("BRAINSTEM_SKILLS", "auto"),
                                                  "skill controllers: 'student' (the distilled ONNX policy), "
                                                  "'teacher' (privileged experts) or 'auto' (the student in "
                                                  "a world it was distilled in, else the teachers)"),
                                          declare(self, "student_dir", "", "student artifact folder "
                                                  "('' = edge_nerve/skills/artifacts/student-v4)"),
                                          declare(self, "student_precision", "int8", "int8 | fp32"))
        self.scan = None
        self.create_subscription(LaserScan, Topics.SCAN, self.scan_callback, SENSOR_QOS)
        self.create_subscription(Odometry, Topics.ODOM, self.odom_callback, SENSOR_QOS)
        self.create_subscription(JointState, Topics.JOINT_STATES, self.joints_callback, SENSOR_QOS)
        self.create_subscription(ObjectStates, Topics.OBJECT_STATES, self.objects_callback, SENSOR_QOS)
        self.odom: Odometry | None = None
        self.arm: tuple[float, float, float] | None = None
        self.objects: ObjectStates | None = None
        self.last_rx = 0.0
        self.ticks = 0
        self.arm_setpoint: tuple[float, float, float] | None = None  # the last one published
        self.active = None  # (controller, future, start sim time, limit s, last Command)
        self.running_step: str | None = None  # the step id being run ('' for a goal without one)
        self.step_future = Future()  # its (success, message, duration), for goals that join it
        self.step_handles = []  # every goal handle of that step (re-asks join the first)
        self.results: OrderedDict[str, tuple[bool, str, float]] = OrderedDict()  # ended steps, newest last
        self.server = ActionServer(self, ExecuteSkill, Topics.EXECUTE_SKILL, self.execute_callback,
                                   goal_callback=self.goal_callback, cancel_callback=self.cancel_callback)
        self.create_timer(1.0 / rate, self.control_callback)
        self.get_logger().info(f"skills {sorted(SKILLS) + ['say']} at {rate:.0f} Hz, "
                               f"{'ONNX student' if self.student else 'teachers'}")

    def _init_student(self, mode: str, folder: str, precision: str):
        """The student's PolicyRuntime, or None to run the teachers."""
        if mode == "teacher":
            return None
        if mode not in ("student", "auto"):
            raise ValueError(f"skills must be 'auto', 'student' or 'teacher', not {mode!r}")
        from edge_nerve.skills.student import ARTIFACT_DIR, load_student_runtime, trained_for

        folder = folder or str(ARTIFACT_DIR)
        if mode == "auto":
            ok, why = trained_for(folder, self.desc.name)
            if not ok:
                self.get_logger().warning(f"skills:=auto runs the teachers: {why} (skills:=student forces it)")
                return None
        try:
            rt = load_student_runtime(folder, precision)
        except (OSError, ValueError) as e:  # no artifact yet (or a broken one): say so, use the teachers
            self.get_logger().warning(f"no usable student in {folder} ({e}); running the teachers")
            return None
        self.get_logger().info(f"student {folder}/student.{precision}.onnx on {rt.provider}")
        return rt

    def scan_callback(self, msg: LaserScan) -> None:
        self.scan = np.asarray(msg.ranges, dtype=np.float64)

    # ---- policy mode --------------------------------------------------------------------------
    def _init_policy(self, path: str, rate: float) -> None:
        from edge_nerve.runtime import PolicyRuntime  # onnxruntime only where a policy runs

        self.policy = PolicyRuntime(path, deadline_us=self.monitor.deadline_ns / 1e3)
        (_, obs_dim), (_, act_dim) = self.policy.input_shape, self.policy.output_shape
        if act_dim < 6:
            raise ValueError(f"{path}: action dim {act_dim} < 6 (vx, vy, wz, lift, extend, gripper)")
        self.obs = ObservationBuilder(ObservationLayout(obs_dim, act_dim))
        self.wire = ControlWire(self.cmd_msg.header.frame_id)  # joint_states in, cmd_vel out, as bytes
        if not self.wire.writer.ok:
            self.get_logger().warning("TwistStamped CDR layout not as expected: commands go through rclpy's "
                                      "serialisation (slower)")
        depth = declare(self, "control_depth", CONTROL_READER_DEPTH, "joint_states reader depth in policy mode "
                        "(best effort; 1 = only the newest, a stalled reader loses samples)")
        self.create_subscription(JointState, Topics.JOINT_STATES, self.policy_callback, control_reader_qos(depth),
                                 raw=True)
        self.create_subscription(Odometry, Topics.ODOM, self.policy_odom_callback, SENSOR_QOS)
        self.get_logger().info(f"policy {path} ({obs_dim} -> {act_dim}, {self.policy.provider}) on every "
                               f"joint_states message, expected {rate:.0f} Hz")

    def policy_odom_callback(self, msg: Odometry) -> None:
        p, q, tw = msg.pose.pose.position, msg.pose.pose.orientation, msg.twist.twist
        self.obs.odometry(p.x, p.y, yaw_from_quaternion(q.w, q.x, q.y, q.z), tw.linear.x, tw.linear.y,
                          tw.angular.z)

    def policy_callback(self, data: bytes) -> None:
        """One control tick: sensor message (CDR bytes) -> observation -> policy -> command, in
        this callback."""
        rx = time.time_ns()
        t0 = time.perf_counter_ns()
        js = self.wire.joint_state(data)
        self.obs.joint_rows(js.rows)
        action = self.policy.run(self.obs.vector)
        self.obs.last_action(action)
        (vx, vy, wz), arm = split_action(action)  # NaN passes: the safety gate stops on it
        self.cmd_pub.publish(self.wire.command(js.sec, js.nanosec, vx, vy, wz))
        tx = time.time_ns()
        self.arm_msg.data = arm
        self.arm_pub.publish(self.arm_msg)
        t1 = time.perf_counter_ns()
        stamp_ns = js.stamp_ns
        age = tx - stamp_ns
        # the stamp is comparable only when the sensor stamps with this host's wall clock
        self.monitor.tick(t0, t1, age if 0 <= age < 1_000_000_000 else None)
        if self._trace is not None and self._n_trace < self._trace.shape[1]:
            tr = self._trace
            i = self._n_trace
            tr[0, i], tr[1, i], tr[2, i] = stamp_ns, rx, tx
            self._n_trace = i + 1

    def diagnostics_callback(self) -> None:
        s = self.monitor.summary()
        level, message = "ok", f"{s['ticks']} ticks, {s['deadline_misses']} deadline misses"
        if self.policy is not None:
            s["policy_nonfinite"] = self.policy.nonfinite
            s["policy_p99_us"] = self.policy.stats()["latency_us"]["p99"]
            s["sensor_messages_read_by_rclpy"] = self.wire.fallbacks  # not plain little-endian CDR
            if self.policy.nonfinite:
                level, message = "error", message + f", {self.policy.nonfinite} non-finite policy outputs"
        if self.realtime is not None:
            s["scheduling"] = self.realtime.summary()
        if s["miss_rate"] > 0.001 and level == "ok":
            level = "warn"
        arr = DiagnosticArray()
        arr.header.stamp = self.get_clock().now().to_msg()
        arr.status = [diagnostic_status(f"{self.get_name()}: control loop", level, message, s)]
        self.diag_pub.publish(arr)

    def destroy_node(self):
        if self._trace is not None:
            np.savez(self.trace_file, trace=self._trace[:, :self._n_trace],
                     period_ns=self.monitor.period_ns, **{k: v for k, v in self.monitor.summary().items()
                                                          if isinstance(v, (int, float))})
        super().destroy_node()

    # ---- sensors ------------------------------------------------------------------------------
    def odom_callback(self, msg: Odometry) -> None:
        self.odom = msg
        self.last_rx = time.monotonic()

    def joints_callback(self, msg: JointState) -> None:
        pos = dict(zip(msg.name, msg.position))
        if {"lift", "arm_extend", "finger_left"} <= pos.keys():
            self.arm = (pos["lift"], pos["arm_extend"], pos["finger_left"] / ROBOT.finger_travel)

    def objects_callback(self, msg: ObjectStates) -> None:
        self.objects = msg

    def observation(self) -> Observation | None:
        if self.odom is None or self.arm is None or self.objects is None:
            return None
        o, t = self.odom, self.odom.header.stamp
        tw = o.twist.twist
        return Observation(time=t.sec + t.nanosec * 1e-9, pose=pose_from_odometry(o),
                           twist=(tw.linear.x, tw.linear.y, tw.angular.z), arm=self.arm,
                           objects=objects_from_msg(self.objects), holding=self.objects.holding or None,
                           delivered=frozenset(self.objects.delivered), docked=self.objects.docked,
                           user_hand=self.user_hand)

    # ---- the action ---------------------------------------------------------------------------
    # A goal whose step id the runner already has is the same step asked again (the plan executor
    # re-asks when DDS lost an answer, edge_nerve/skill_call.py): it joins the running step, or
    # gets the stored result of an ended one. A step never runs twice.
    def goal_callback(self, goal) -> GoalResponse:
        if goal.step_id and (goal.step_id in self.results or goal.step_id == self.running_step):
            return GoalResponse.ACCEPT
        if self.running_step is not None:
            self.get_logger().warning(f"rejecting {goal.skill}: a skill is already running")
            return GoalResponse.REJECT
        return GoalResponse.ACCEPT

    def cancel_callback(self, goal_handle) -> CancelResponse:
        return CancelResponse.ACCEPT

    async def execute_callback(self, goal_handle):
        g = goal_handle.request
        if g.step_id and g.step_id in self.results:
            self.get_logger().info(f"{g.step_id}: asked again after it ended; its result again")
            return self._finish(goal_handle, *self.results[g.step_id])
        if g.step_id and g.step_id == self.running_step:
            self.get_logger().info(f"{g.step_id}: asked again while it runs; joined")
            self.step_handles.append(goal_handle)
            return self._finish(goal_handle, *(await self.step_future))
        if self.running_step is not None:  # accepted in the same instant as another step
            return self._finish(goal_handle, False, "another skill is already running", 0.0)
        self.running_step, self.step_future, self.step_handles = g.step_id, Future(), [goal_handle]
        try:
            outcome = await self._run_skill(g)
        except Exception as e:  # a broken controller fails its step; the runner takes the next one
            self.get_logger().error(f"{g.step_id}: {g.skill} raised {e!r}")
            outcome = (False, f"{g.skill} failed on the robot: {e}", 0.0)
        finally:
            self.active = None
            self.running_step = None
        if g.step_id:
            self.results[g.step_id] = outcome
            while len(self.results) > STEP_RESULTS_KEPT:
                self.results.popitem(last=False)
        self.step_future.set_result(outcome)
        return self._finish(goal_handle, *outcome)

    async def _run_skill(self, g) -> tuple[bool, str, float]:
        """One step's skill to its end: (success, message, duration in sim s)."""
        if g.skill == "say":
            text = " ".join(g.args)
            self.say_pub.publish(String(data=text))
            self.get_logger().info(f"say: {text}")
            return True, f"said: {text}", 0.0
        if g.skill not in SKILLS:
            return False, f"unknown skill '{g.skill}'; known: {', '.join(sorted(SKILLS) + ['say'])}", 0.0
        obs = self.observation()
        if obs is None:  # just started: give the sensors a moment instead of failing the step
            self.sensor_wait = (Future(), time.monotonic() + self.sensor_wait_s)
            await self.sensor_wait[0]
            self.sensor_wait = None
            obs = self.observation()
            if obs is None:
                return False, f"no sensor data within {self.sensor_wait_s:.0f} s", 0.0
        if self.student is not None:
            from edge_nerve.skills.student import StudentController

            controller = StudentController(self.desc, g.skill, self.student.run)
        else:
            controller = SKILLS[g.skill](self.desc)
        try:
            controller.reset(tuple(g.args), obs)
        except (ValueError, KeyError) as e:
            return False, f"{g.skill}{tuple(g.args)}: {e}", 0.0
        limit = g.timeout_s if g.timeout_s > 0 else getattr(controller, "timeout", 120.0) + 5.0
        future = Future()
        self.active = (controller, future, obs.time, limit, self._hold_command(obs))
        self.get_logger().info(f"{g.step_id}: {g.skill}({', '.join(g.args)}) started")
        return await future

    def _finish(self, goal_handle, success: bool, message: str, duration: float):
        if goal_handle.is_cancel_requested:
            goal_handle.canceled()
        elif success:
            goal_handle.succeed()
        else:
            goal_handle.abort()
        return ExecuteSkill.Result(success=success, message=message, duration_s=duration)

    # ---- the control loop ---------------------------------------------------------------------
    def control_callback(self) -> None:
        if self.sensor_wait is not None:
            waiting, deadline = self.sensor_wait
            if not waiting.done() and (self.observation() is not None or time.monotonic() > deadline):
                waiting.set_result(None)
        if self.active is None:
            self.monitor.idle()
            return
        controller, future, t0, limit, last = self.active
        if future.done():
            return
        start = time.perf_counter_ns()
        obs = self.observation()
        age = time.monotonic() - self.last_rx
        if age > self.stale_abort_s:
            return self._stop(future, last, False, f"no sensor data for {age:.1f} s; stopped", obs, t0)
        if age > self.stale_s:  # a hiccup: hold still (arm keeps its setpoint) until sensors return
            self._publish(last, base=False)
            return
        if any(h.is_cancel_requested for h in self.step_handles):
            return self._stop(future, last, False, "cancelled", obs, t0)
        if self.scan is not None and hasattr(controller, "scan"):
            controller.scan = self.scan
        cmd, status = controller.step(obs)
        if not status.done and obs.time - t0 > limit:
            return self._stop(future, cmd, False, f"timed out after {limit:.0f} s", obs, t0)
        if status.done:
            return self._stop(future, cmd, status.ok, status.reason or "ok", obs, t0)
        self._publish(cmd)
        self.monitor.tick(start, time.perf_counter_ns())
        self.active = (controller, future, t0, limit, cmd)
        self.ticks += 1
        if self.ticks % 20 == 0:  # feedback at a few Hz is plenty for a human or a recorder
            feedback = ExecuteSkill.Feedback(phase=str(getattr(controller, "phase", "")),
                                             progress=float(min(1.0, (obs.time - t0) / max(limit, 1e-3))))
            for h in self.step_handles:
                h.publish_feedback(feedback)

    def _hold_command(self, obs: Observation) -> Command:
        """What a skill sends before its controller has stepped (stale sensors, a cancel on the
        first tick): the base still and the arm where it was last commanded, or, before any
        command, where it is with the gripper shut on a held object. Never Command()'s defaults:
        those open the gripper, and the object the previous skill picked up would fall."""
        if self.arm_setpoint is not None:
            return Command(0.0, 0.0, 0.0, *self.arm_setpoint)
        return Command(0.0, 0.0, 0.0, *holding_arm(obs))

    def _publish(self, cmd: Command, base: bool = True) -> None:
        msg = self.cmd_msg
        if self.odom is not None:
            msg.header.stamp = self.odom.header.stamp  # the sensor sample this command answers
        tw = msg.twist
        tw.linear.x, tw.linear.y, tw.angular.z = (cmd.vx, cmd.vy, cmd.wz) if base else (0.0, 0.0, 0.0)
        self.cmd_pub.publish(msg)
        self.arm_setpoint = (cmd.lift, cmd.extend, cmd.gripper)
        self.arm_msg.data = list(self.arm_setpoint)
        self.arm_pub.publish(self.arm_msg)

    def _stop(self, future: Future, cmd: Command, ok: bool, message: str, obs, t0: float) -> None:
        self._publish(cmd, base=False)  # zero twist, arm holds its last setpoint
        duration = (obs.time - t0) if obs is not None else 0.0
        future.set_result((ok, message, duration))


def main(args=None):
    spin_node(SkillRunnerNode, args)


if __name__ == "__main__":
    main()
