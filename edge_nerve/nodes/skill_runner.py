"""`skill_runner` node: the ExecuteSkill action server running closed-loop skill controllers.

Wires `odom`, `joint_states` and `sim/object_states` into an Observation, steps the active
skill's controller at `rate_hz`, and publishes `skill/cmd_vel` (into the safety gate) and
`arm/command`. One skill at a time; cancel and timeouts stop the base and hold the arm.
Controllers: edge_nerve/skills/teachers.py (privileged experts, later distilled to ONNX).

    .venv/bin/python -m edge_nerve.nodes.skill_runner --ros-args -p rate_hz:=100.0
"""

from __future__ import annotations

import time

from geometry_msgs.msg import Twist
from nav_msgs.msg import Odometry
from rclpy.action import ActionServer, CancelResponse, GoalResponse
from rclpy.node import Node
from rclpy.task import Future
from sensor_msgs.msg import JointState
from std_msgs.msg import Float64MultiArray, String

from brainstem_interfaces.action import ExecuteSkill
from brainstem_interfaces.msg import ObjectStates
from edge_nerve.nodes.common import (CONTROL_QOS, PLAN_QOS, SENSOR_QOS, Topics, declare, declare_world,
                                     objects_from_msg, pose_from_odometry, spin_node)
from edge_nerve.skills.teachers import SKILLS, Command, Observation
from sim.mjcf import ROBOT
from sim.world_model import user_hand_position


class SkillRunnerNode(Node):
    def __init__(self):
        super().__init__("skill_runner")
        self.desc = declare_world(self)
        rate = declare(self, "rate_hz", 100.0, "control loop rate")
        self.stale_s = declare(self, "stale_obs_s", 0.5, "abort a skill when sensors are older (wall s)")
        self.sensor_wait_s = declare(self, "sensor_wait_s", 5.0, "how long a skill waits for first sensor data")
        self.sensor_wait: tuple[Future, float] | None = None
        self.user_hand = user_hand_position(self.desc)
        self.cmd_pub = self.create_publisher(Twist, Topics.SKILL_CMD_VEL, CONTROL_QOS)
        self.arm_pub = self.create_publisher(Float64MultiArray, Topics.ARM_COMMAND, CONTROL_QOS)
        self.say_pub = self.create_publisher(String, Topics.SAY, PLAN_QOS)
        self.create_subscription(Odometry, Topics.ODOM, self.odom_callback, SENSOR_QOS)
        self.create_subscription(JointState, Topics.JOINT_STATES, self.joints_callback, SENSOR_QOS)
        self.create_subscription(ObjectStates, Topics.OBJECT_STATES, self.objects_callback, SENSOR_QOS)
        self.odom: Odometry | None = None
        self.arm: tuple[float, float, float] | None = None
        self.objects: ObjectStates | None = None
        self.last_rx = 0.0
        self.ticks = 0
        self.active = None  # (goal_handle, controller, future, start sim time, limit s, last Command)
        self.server = ActionServer(self, ExecuteSkill, Topics.EXECUTE_SKILL, self.execute_callback,
                                   goal_callback=self.goal_callback, cancel_callback=self.cancel_callback)
        self.create_timer(1.0 / rate, self.control_callback)
        self.get_logger().info(f"skills {sorted(SKILLS) + ['say']} at {rate:.0f} Hz")

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
    def goal_callback(self, goal) -> GoalResponse:
        if self.active is not None:
            self.get_logger().warning(f"rejecting {goal.skill}: a skill is already running")
            return GoalResponse.REJECT
        return GoalResponse.ACCEPT

    def cancel_callback(self, goal_handle) -> CancelResponse:
        return CancelResponse.ACCEPT

    async def execute_callback(self, goal_handle):
        g = goal_handle.request
        if g.skill == "say":
            text = " ".join(g.args)
            self.say_pub.publish(String(data=text))
            self.get_logger().info(f"say: {text}")
            return self._finish(goal_handle, True, f"said: {text}", 0.0)
        if g.skill not in SKILLS:
            return self._finish(goal_handle, False, f"unknown skill '{g.skill}'; known: "
                                f"{', '.join(sorted(SKILLS) + ['say'])}", 0.0)
        obs = self.observation()
        if obs is None:  # just started: give the sensors a moment instead of failing the step
            self.sensor_wait = (Future(), time.monotonic() + self.sensor_wait_s)
            await self.sensor_wait[0]
            self.sensor_wait = None
            obs = self.observation()
            if obs is None:
                return self._finish(goal_handle, False, f"no sensor data within {self.sensor_wait_s:.0f} s", 0.0)
        controller = SKILLS[g.skill](self.desc)
        try:
            controller.reset(tuple(g.args), obs)
        except (ValueError, KeyError) as e:
            return self._finish(goal_handle, False, f"{g.skill}{tuple(g.args)}: {e}", 0.0)
        limit = g.timeout_s if g.timeout_s > 0 else getattr(controller, "timeout", 120.0) + 5.0
        future = Future()
        self.active = (goal_handle, controller, future, obs.time, limit, Command())
        self.get_logger().info(f"{g.step_id}: {g.skill}({', '.join(g.args)}) started")
        success, message, duration = await future
        self.active = None
        return self._finish(goal_handle, success, message, duration)

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
            return
        goal_handle, controller, future, t0, limit, last = self.active
        if future.done():
            return
        obs = self.observation()
        if time.monotonic() - self.last_rx > self.stale_s:
            return self._stop(future, last, False, "sensor data went stale; stopped", obs, t0)
        if goal_handle.is_cancel_requested:
            return self._stop(future, last, False, "cancelled", obs, t0)
        cmd, status = controller.step(obs)
        if not status.done and obs.time - t0 > limit:
            return self._stop(future, cmd, False, f"timed out after {limit:.0f} s", obs, t0)
        if status.done:
            return self._stop(future, cmd, status.ok, status.reason or "ok", obs, t0)
        self._publish(cmd)
        self.active = (goal_handle, controller, future, t0, limit, cmd)
        self.ticks += 1
        if self.ticks % 20 == 0:  # feedback at a few Hz is plenty for a human or a recorder
            goal_handle.publish_feedback(ExecuteSkill.Feedback(
                phase=str(getattr(controller, "phase", "")),
                progress=float(min(1.0, (obs.time - t0) / max(limit, 1e-3)))))

    def _publish(self, cmd: Command, base: bool = True) -> None:
        tw = Twist()
        if base:
            tw.linear.x, tw.linear.y, tw.angular.z = cmd.vx, cmd.vy, cmd.wz
        self.cmd_pub.publish(tw)
        self.arm_pub.publish(Float64MultiArray(data=[cmd.lift, cmd.extend, cmd.gripper]))

    def _stop(self, future: Future, cmd: Command, ok: bool, message: str, obs, t0: float) -> None:
        self._publish(cmd, base=False)  # zero twist, arm holds its last setpoint
        duration = (obs.time - t0) if obs is not None else 0.0
        future.set_result((ok, message, duration))


def main(args=None):
    spin_node(SkillRunnerNode, args)


if __name__ == "__main__":
    main()
