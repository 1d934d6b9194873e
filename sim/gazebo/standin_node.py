"""`gazebo_standin` node: the ROS side of Gazebo + ros_gz_bridge, played by the MuJoCo HomeSim.

Why: Gazebo is not installable everywhere (not here, not in CI), yet the Gazebo node graph
(launch/gazebo.launch.py: the edge nodes + gazebo_adapter) should be run end to end. This node
speaks exactly the bridged topics of sim/gazebo/sdf.py and nothing else: it obeys `/cmd_vel` and
the four `/arm/<joint>/cmd_pos` setpoints, and publishes `/clock`, `/odom` (world pose, body
twist, as gz-sim-odometry-publisher-system), `/joint_states` (the arm joints only, as
gz-sim-joint-state-publisher-system), `/scan` and each object's pose as a TransformStamped named
in child_frame_id (as gz-sim-pose-publisher-system through the bridge). It publishes no
`sim/object_states`: deciding holding / delivered / docked is the gazebo_adapter's job.

    .venv/bin/python -m sim.gazebo.standin_node --ros-args -p real_time_factor:=2.0
"""

from __future__ import annotations

import time

from geometry_msgs.msg import TransformStamped, Twist
from nav_msgs.msg import Odometry
from rclpy.node import Node
from rclpy.qos import DurabilityPolicy, HistoryPolicy, QoSProfile, ReliabilityPolicy
from rosgraph_msgs.msg import Clock
from sensor_msgs.msg import JointState, LaserScan
from std_msgs.msg import Float64

from edge_nerve.nodes.common import CONTROL_QOS, declare, declare_world, quaternion_from_yaw, spin_node
from sim.gazebo.adapter_node import SETPOINT_QOS
from sim.gazebo.sdf import ARM_JOINTS, object_pose_topics
from sim.home_sim import HomeSim
from sim.lidar import RangeScanner

# ros_gz_bridge publishes with rclcpp's default QoS (reliable, keep last 10)
BRIDGE_PUB_QOS = QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=10,
                            reliability=ReliabilityPolicy.RELIABLE, durability=DurabilityPolicy.VOLATILE)


class GazeboStandinNode(Node):
    def __init__(self):
        super().__init__("gazebo_standin")
        self.desc = declare_world(self)
        self.rtf = declare(self, "real_time_factor", 1.0, "simulated seconds per wall-clock second")
        rate = declare(self, "publish_rate_hz", 50.0, "odometry, joints and poses (wall clock)")
        self.sim = HomeSim(self.desc)
        lift, extend, _ = self.sim.arm_state()
        self.setpoints = {"lift": lift, "arm_extend": extend, "finger_left": 0.0, "finger_right": 0.0}
        self.clock_pub = self.create_publisher(Clock, "/clock", BRIDGE_PUB_QOS)
        self.odom_pub = self.create_publisher(Odometry, "/odom", BRIDGE_PUB_QOS)
        self.joints_pub = self.create_publisher(JointState, "/joint_states", BRIDGE_PUB_QOS)
        self.scan_pub = self.create_publisher(LaserScan, "/scan", BRIDGE_PUB_QOS)
        self.pose_pubs = {o: self.create_publisher(TransformStamped, object_pose_topics(o)[0], BRIDGE_PUB_QOS)
                          for o in self.desc.objects}
        # the bridge's subscriptions: /cmd_vel best effort (its QoS override), setpoints reliable
        self.create_subscription(Twist, "/cmd_vel", self.cmd_vel_callback, CONTROL_QOS)
        for j in ARM_JOINTS:
            self.create_subscription(Float64, f"/arm/{j}/cmd_pos", lambda m, j=j: self.setpoint_callback(j, m),
                                     SETPOINT_QOS)
        self.scanner = RangeScanner(self.sim.model)
        self.scan_msg = LaserScan(angle_min=0.0, angle_max=self.scanner.angle_increment * (self.scanner.n - 1),
                                  angle_increment=self.scanner.angle_increment, range_min=0.0,
                                  range_max=self.scanner.max_range)
        self.scan_msg.header.frame_id = "base_link"
        self.wall0, self.sim0 = time.monotonic(), self.sim.time
        self.create_timer(1.0 / rate, self.step_callback)
        self.get_logger().info(f"{self.desc.summary()}; standing in for Gazebo at real-time factor {self.rtf}")

    def cmd_vel_callback(self, msg: Twist) -> None:
        """As gz-sim-velocity-control-system: the last twist holds until the next one."""
        self.sim.set_base_twist(msg.linear.x, msg.linear.y, msg.angular.z)

    def setpoint_callback(self, joint: str, msg: Float64) -> None:
        self.setpoints[joint] = msg.data
        s = self.setpoints
        self.sim.set_arm(s["lift"], s["arm_extend"], s["finger_left"] / self.sim.robot.finger_travel)

    def step_callback(self) -> None:
        target = self.sim0 + (time.monotonic() - self.wall0) * self.rtf
        lag = target - self.sim.time
        if lag > 0.25 * self.rtf:  # the host fell behind: drop the backlog
            self.sim0 -= lag - 0.05
            lag = 0.05
        if lag > 0:
            self.sim.step(lag)
        self.publish_state()

    def publish_state(self) -> None:
        t = self.sim.time
        stamp = Clock().clock
        stamp.sec, stamp.nanosec = int(t), int((t % 1.0) * 1e9)
        self.clock_pub.publish(Clock(clock=stamp))
        x, y, yaw = self.sim.robot_pose()
        vx, vy, wz = self.sim.robot_twist()
        odom = Odometry()
        odom.header.stamp, odom.header.frame_id, odom.child_frame_id = stamp, "odom", "base_link"
        odom.pose.pose.position.x, odom.pose.pose.position.y = x, y
        q = odom.pose.pose.orientation
        q.w, q.x, q.y, q.z = quaternion_from_yaw(yaw)
        odom.twist.twist.linear.x, odom.twist.twist.linear.y, odom.twist.twist.angular.z = vx, vy, wz
        self.odom_pub.publish(odom)
        names, pos, vel = self.sim.joint_state()
        arm = [names.index(j) for j in ARM_JOINTS]
        js = JointState(name=list(ARM_JOINTS), position=[float(pos[i]) for i in arm],
                        velocity=[float(vel[i]) for i in arm])
        js.header.stamp = stamp
        self.joints_pub.publish(js)
        for name, (px, py, pz, qw, qx, qy, qz) in self.sim.object_poses().items():
            tf = TransformStamped(child_frame_id=name)
            tf.header.stamp, tf.header.frame_id = stamp, self.desc.name
            tr, r = tf.transform.translation, tf.transform.rotation
            tr.x, tr.y, tr.z, r.w, r.x, r.y, r.z = px, py, pz, qw, qx, qy, qz
            self.pose_pubs[name].publish(tf)
        self.scan_msg.header.stamp = stamp
        self.scan_msg.ranges = self.scanner.scan(self.sim.data, (x, y, yaw)).tolist()
        self.scan_pub.publish(self.scan_msg)


def main(args=None):
    spin_node(GazeboStandinNode, args)


if __name__ == "__main__":
    main()
