"""Bench echo node: the bare transport the control loop rides on, with no policy.

On every `joint_states` message it publishes a `skill/cmd_vel` TwistStamped carrying the
sensor stamp and a `skill/arm_command`, exactly the messages, QoS, executor and wire handling
(the sensor taken and the command published as CDR bytes, edge_nerve/control_cdr.py) the skill
runner's policy mode uses, so the loop's own cost (observation, policy, bookkeeping) is the
difference between the two.

    .venv/bin/python -m edge_nerve.bench.echo_node --ros-args -p executor:=events
"""

from __future__ import annotations

import time

import numpy as np
from geometry_msgs.msg import TwistStamped
from rclpy.node import Node
from sensor_msgs.msg import JointState
from std_msgs.msg import Float64MultiArray

from edge_nerve.control_cdr import ControlWire
from edge_nerve.nodes.common import (CONTROL_QOS, CONTROL_READER_DEPTH, EXECUTORS, control_reader_qos, Topics, declare, declare_realtime,
                                     spin_node)


class EchoNode(Node):
    def __init__(self):
        super().__init__("bench_echo")
        declare(self, "executor", "events", f"rclpy executor, one of {EXECUTORS}")
        declare_realtime(self)  # the same scheduling as the loop under test
        self.trace_file = declare(self, "trace_file", "", "save per-message stamps (npz) on shutdown")
        self.cmd_pub = self.create_publisher(TwistStamped, Topics.SKILL_CMD_VEL, CONTROL_QOS)
        self.arm_pub = self.create_publisher(Float64MultiArray, Topics.SKILL_ARM_COMMAND, CONTROL_QOS)
        depth = declare(self, "control_depth", CONTROL_READER_DEPTH, "joint_states reader depth, as the loop's")
        self.create_subscription(JointState, Topics.JOINT_STATES, self.sensor_callback, control_reader_qos(depth),
                                 raw=True)
        self.wire = ControlWire("base_link")
        self.arm_msg = Float64MultiArray(data=[0.6, 0.0, 0.0])
        self._trace = np.zeros((3, 400_000), dtype=np.int64)
        self._n = 0

    def sensor_callback(self, data: bytes) -> None:
        rx = time.time_ns()
        js = self.wire.joint_state(data)
        self.cmd_pub.publish(self.wire.command(js.sec, js.nanosec, 0.0, 0.0, 0.0))
        tx = time.time_ns()
        self.arm_pub.publish(self.arm_msg)
        if self._n < self._trace.shape[1]:
            tr, i = self._trace, self._n
            tr[0, i], tr[1, i], tr[2, i] = js.stamp_ns, rx, tx
            self._n = i + 1

    def destroy_node(self):
        if self.trace_file:
            np.savez(self.trace_file, trace=self._trace[:, :self._n])
        super().destroy_node()


def main(args=None):
    spin_node(EchoNode, args)


if __name__ == "__main__":
    main()
