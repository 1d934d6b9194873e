"""`safety` node: every base and arm command passes this gate; the E-stop overrides everything.

Wires `skill/cmd_vel` (TwistStamped) -> CommandWatchdog -> `cmd_vel` (plain Twist, what standard
base drivers take) and `skill/arm_command` -> CommandWatchdog.arm -> `arm/command`, with a tick at
`rate_hz` that turns stale commands (none for `timeout_ms`) into a zero Twist; the arm keeps its
last setpoint. Non-finite commands become a stop, out-of-limit ones are clamped; each is reported
on /diagnostics (and in the log) at once, and a status goes out once a second.

E-stop: `estop` (std_msgs/Bool, transient local: a late-starting gate still sees an engaged
E-stop; True engages, False releases) and the services `estop/engage` / `estop/release`
(std_srvs/Trigger). While engaged the base gets zero Twists every tick and no arm command is
forwarded; after a release the base stays still until a fresh command arrives.

    .venv/bin/python -m edge_nerve.nodes.safety --ros-args -p timeout_ms:=250.0
    # then, from any ROS tool: a std_srvs/Trigger call on /estop/engage, or Bool True on /estop
"""

from __future__ import annotations

from diagnostic_msgs.msg import DiagnosticArray
from geometry_msgs.msg import Twist, TwistStamped
from rclpy.node import Node
from std_msgs.msg import Bool, Float64MultiArray
from std_srvs.srv import Trigger

from edge_nerve.nodes.common import (CONTROL_QOS, DIAGNOSTICS_QOS, EXECUTORS, LATCHED_QOS, Topics,
                                     control_reader_qos, declare, declare_realtime, diagnostic_status, spin_node)
from edge_nerve.safety import CommandWatchdog, WatchdogConfig
from sim.mjcf import ROBOT


class SafetyNode(Node):
    def __init__(self):
        super().__init__("safety")
        cfg = WatchdogConfig(
            timeout_s=declare(self, "timeout_ms", 250.0, "no command for this long -> zero twist") / 1e3,
            max_linear=declare(self, "max_linear", 1.0, "m/s limit per axis"),
            max_angular=declare(self, "max_angular", 2.0, "rad/s limit"),
            arm_min=(ROBOT.lift_range[0], ROBOT.extend_range[0], 0.0),
            arm_max=(ROBOT.lift_range[1], ROBOT.extend_range[1], 1.0))
        rate = declare(self, "rate_hz", 50.0, "watchdog tick rate: a stale command is caught within one tick")
        declare(self, "executor", "single", f"rclpy executor, one of {EXECUTORS}")
        declare_realtime(self)  # the watchdog is a control process too (applied by spin_node)
        diag_hz = declare(self, "diagnostics_hz", 1.0, "status on /diagnostics at this rate")
        self.watchdog = CommandWatchdog(cfg)
        self.last_note = ""
        self.pub = self.create_publisher(Twist, Topics.CMD_VEL, CONTROL_QOS)
        self.arm_pub = self.create_publisher(Float64MultiArray, Topics.ARM_COMMAND, CONTROL_QOS)
        self.diag_pub = self.create_publisher(DiagnosticArray, Topics.DIAGNOSTICS, DIAGNOSTICS_QOS)
        self.create_subscription(TwistStamped, Topics.SKILL_CMD_VEL, self.command_callback, control_reader_qos())
        self.create_subscription(Float64MultiArray, Topics.SKILL_ARM_COMMAND, self.arm_callback, control_reader_qos())
        self.create_subscription(Bool, Topics.ESTOP, self.estop_callback, LATCHED_QOS)
        self.create_service(Trigger, Topics.ESTOP_ENGAGE, self.engage_callback)
        self.create_service(Trigger, Topics.ESTOP_RELEASE, self.release_callback)
        self.twist = Twist()  # reused: the gate runs at the control rate
        self.arm_msg = Float64MultiArray()
        self.create_timer(1.0 / rate, self.tick_callback)
        self.create_timer(1.0 / diag_hz, self.diagnostics_callback)
        self.get_logger().info(f"command timeout {cfg.timeout_s * 1e3:.0f} ms, tick {rate:.0f} Hz, "
                               f"limits {cfg.max_linear} m/s {cfg.max_angular} rad/s, arm {cfg.arm_min}..{cfg.arm_max}")

    def _now(self) -> float:
        return self.get_clock().now().nanoseconds * 1e-9

    def _publish(self, twist) -> None:
        msg = self.twist
        msg.linear.x, msg.linear.y, msg.angular.z = twist
        self.pub.publish(msg)

    # ---- commands -----------------------------------------------------------------------------
    def command_callback(self, msg: TwistStamped) -> None:
        t = msg.twist
        out, note = self.watchdog.command((t.linear.x, t.linear.y, t.angular.z), self._now())
        self._publish(out)
        if note:
            self._event(note, "error" if "non-finite" in note else "warn" if "clamped" in note else "ok")

    def arm_callback(self, msg: Float64MultiArray) -> None:
        out, note = self.watchdog.arm(msg.data, self._now())
        if out is not None:
            self.arm_msg.data = out
            self.arm_pub.publish(self.arm_msg)
        if note:
            self._event(note, "error" if "rejected" in note else "warn")

    def tick_callback(self) -> None:
        out, note = self.watchdog.tick(self._now())
        if self.watchdog.holding:
            self._publish(out)
        if note:
            self._event(note, "warn")

    # ---- E-stop -------------------------------------------------------------------------------
    def _engage(self, reason: str) -> str:
        note = self.watchdog.engage_estop(reason)
        self._publish((0.0, 0.0, 0.0))  # now, not at the next tick
        if note:
            self._event(note, "error")
        return note or f"E-stop already engaged ({self.watchdog.estop_reason})"

    def _release(self) -> str:
        note = self.watchdog.release_estop()
        if note:
            self._event(note, "ok")
        return note or "E-stop was not engaged"

    def estop_callback(self, msg: Bool) -> None:
        if msg.data:
            self._engage(f"topic {Topics.ESTOP}")
        else:
            self._release()

    def engage_callback(self, request, response):
        response.message = self._engage(f"service {Topics.ESTOP_ENGAGE}")
        response.success = True
        return response

    def release_callback(self, request, response):
        response.message = self._release()
        response.success = True
        return response

    # ---- diagnostics --------------------------------------------------------------------------
    def _event(self, note: str, level: str) -> None:
        """Log a gate event and publish it on /diagnostics right away (not at the next status)."""
        if level == "error":
            self.get_logger().error(note)
        elif level == "warn":
            self.get_logger().warning(note)
        else:
            self.get_logger().info(note)
        self.last_note = note
        self._diagnostics(level, note)

    def diagnostics_callback(self) -> None:
        w = self.watchdog
        level = "error" if w.estopped else ("warn" if w.holding else "ok")
        message = (f"E-STOP: {w.estop_reason}" if w.estopped else
                   "holding still (no fresh command)" if w.holding else "forwarding commands")
        self._diagnostics(level, message)

    def _diagnostics(self, level: str, message: str) -> None:
        w = self.watchdog
        arr = DiagnosticArray()
        arr.header.stamp = self.get_clock().now().to_msg()
        arr.status = [diagnostic_status(f"{self.get_name()}: command gate", level, message, {
            "estop": w.estopped, "estop_reason": w.estop_reason or "", "estops": w.estops,
            "holding": w.holding, "timeout_stops": w.stops, "nonfinite_stops": w.rejected,
            "clamped": w.clamped, "arm_rejected": w.arm_rejected, "last_event": self.last_note})]
        self.diag_pub.publish(arr)


def main(args=None):
    spin_node(SafetyNode, args)


if __name__ == "__main__":
    main()
