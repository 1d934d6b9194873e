"""`safety` node: every base command passes this gate; stale commands become a zero Twist.

Wires `skill/cmd_vel` -> CommandWatchdog -> `cmd_vel`, ticking at `rate_hz`.

    .venv/bin/python -m edge_nerve.nodes.safety --ros-args -p timeout_ms:=250.0
"""

from __future__ import annotations

from geometry_msgs.msg import Twist
from rclpy.node import Node

from edge_nerve.nodes.common import CONTROL_QOS, Topics, declare, spin_node
from edge_nerve.safety import CommandWatchdog, WatchdogConfig


class SafetyNode(Node):
    def __init__(self):
        super().__init__("safety")
        cfg = WatchdogConfig(
            timeout_s=declare(self, "timeout_ms", 250.0, "no command for this long -> zero twist") / 1e3,
            max_linear=declare(self, "max_linear", 1.0, "m/s limit per axis"),
            max_angular=declare(self, "max_angular", 2.0, "rad/s limit"))
        rate = declare(self, "rate_hz", 50.0, "watchdog tick rate")
        self.watchdog = CommandWatchdog(cfg)
        self.pub = self.create_publisher(Twist, Topics.CMD_VEL, CONTROL_QOS)
        self.create_subscription(Twist, Topics.SKILL_CMD_VEL, self.command_callback, CONTROL_QOS)
        self.create_timer(1.0 / rate, self.tick_callback)
        self.get_logger().info(f"command timeout {cfg.timeout_s * 1e3:.0f} ms, tick {rate:.0f} Hz")

    def _now(self) -> float:
        return self.get_clock().now().nanoseconds * 1e-9

    def _publish(self, twist) -> None:
        msg = Twist()
        msg.linear.x, msg.linear.y, msg.angular.z = twist
        self.pub.publish(msg)

    def command_callback(self, msg: Twist) -> None:
        out, note = self.watchdog.command((msg.linear.x, msg.linear.y, msg.angular.z), self._now())
        if note:
            self.get_logger().info(note)
        self._publish(out)

    def tick_callback(self) -> None:
        out, note = self.watchdog.tick(self._now())
        if note:
            self.get_logger().warning(note)
        if self.watchdog.holding:
            self._publish(out)


def main(args=None):
    spin_node(SafetyNode, args)


if __name__ == "__main__":
    main()
