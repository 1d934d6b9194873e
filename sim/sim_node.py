"""`sim` node: the MuJoCo home world standing in for the robot and its sensors.

Steps the physics (sim/home_sim.py) in step with the wall clock times `real_time_factor`,
publishes `/clock`, `odom`, `joint_states`, `scan` (a planar range scan, sim/lidar.py) and `sim/object_states`, and obeys `cmd_vel`
(geometry_msgs/Twist, body frame) and `arm/command` ([lift, extend, gripper]). Like a real base
driver it stops by itself when `cmd_vel` goes quiet for `cmd_timeout_s`.

    .venv/bin/python -m sim.sim_node --ros-args -p real_time_factor:=2.0
"""

from __future__ import annotations

import time
from pathlib import Path

from geometry_msgs.msg import Pose, Twist
from nav_msgs.msg import Odometry
from rclpy.node import Node
from rosgraph_msgs.msg import Clock
from sensor_msgs.msg import JointState, LaserScan
from std_msgs.msg import Float64MultiArray
from std_srvs.srv import Trigger

from brainstem_interfaces.msg import ObjectStates
from edge_nerve.nodes.common import (CONTROL_QOS, SENSOR_QOS, Topics, control_reader_qos, declare, declare_world,
                                     quaternion_from_yaw, spin_node)
from sim.home_sim import HomeSim
from sim.lidar import RangeScanner


class SimNode(Node):
    def __init__(self):
        super().__init__("sim")
        desc = declare_world(self)
        self.rtf = declare(self, "real_time_factor", 1.0, "simulated seconds per wall-clock second")
        rate = declare(self, "publish_rate_hz", 100.0, "sensor publishing rate (wall clock)")
        self.cmd_timeout_s = declare(self, "cmd_timeout_s", 0.5, "base stops when cmd_vel is older (wall s)")
        self.sim = HomeSim(desc)
        self.clock_pub = self.create_publisher(Clock, "/clock", CONTROL_QOS)
        self.odom_pub = self.create_publisher(Odometry, Topics.ODOM, SENSOR_QOS)
        self.joints_pub = self.create_publisher(JointState, Topics.JOINT_STATES, SENSOR_QOS)
        self.objects_pub = self.create_publisher(ObjectStates, Topics.OBJECT_STATES, SENSOR_QOS)
        self.scan_pub = self.create_publisher(LaserScan, Topics.SCAN, SENSOR_QOS)
        self.scanner = RangeScanner(self.sim.model)
        self.scan_msg = LaserScan(angle_min=0.0, angle_max=self.scanner.angle_increment * (self.scanner.n - 1),
                                  angle_increment=self.scanner.angle_increment, range_min=0.0,
                                  range_max=self.scanner.max_range)
        self.scan_msg.header.frame_id = "base_link"
        self.create_subscription(Twist, Topics.CMD_VEL, self.cmd_vel_callback, control_reader_qos())
        self.create_subscription(Float64MultiArray, Topics.ARM_COMMAND, self.arm_callback, control_reader_qos())
        self.render_dir = declare(self, "render_dir", "", "where sim/render writes pictures ('' = the cwd)")
        self.renders = 0
        self.create_service(Trigger, "sim/render", self.render_callback)
        self.last_cmd_wall: float | None = None
        self.wall0 = time.monotonic()
        self.sim0 = self.sim.time
        self.create_timer(1.0 / rate, self.step_callback)
        self.get_logger().info(f"{desc.summary()}; real-time factor {self.rtf}")

    def render_callback(self, request, response):
        """Offscreen pictures of the current physics state (overview + robot camera)."""
        from sim.render import RenderError, render_scene

        self.renders += 1
        out = Path(self.render_dir or ".")
        paths = []
        try:
            for camera in ("overview", "robot"):
                path = out / f"scene-{self.renders:02d}-{camera}.png"
                render_scene(self.sim, path, camera=camera)
                paths.append(str(path))
            response.success, response.message = True, " ".join(paths)
        except (RenderError, OSError) as e:
            response.success, response.message = False, str(e)
            self.get_logger().warning(f"render failed: {e}")
        return response

    def cmd_vel_callback(self, msg: Twist) -> None:
        self.sim.set_base_twist(msg.linear.x, msg.linear.y, msg.angular.z)
        self.last_cmd_wall = time.monotonic()

    def arm_callback(self, msg: Float64MultiArray) -> None:
        if len(msg.data) != 3:
            self.get_logger().warning(f"arm/command needs [lift, extend, gripper], got {len(msg.data)} values")
            return
        self.sim.set_arm(*msg.data)

    def step_callback(self) -> None:
        now = time.monotonic()
        if self.last_cmd_wall is not None and now - self.last_cmd_wall > self.cmd_timeout_s:
            self.sim.set_base_twist(0.0, 0.0, 0.0)
            self.last_cmd_wall = None
        target = self.sim0 + (now - self.wall0) * self.rtf
        lag = target - self.sim.time
        if lag > 0.25 * self.rtf:  # the host fell behind: drop the backlog instead of racing
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
        js = JointState(name=list(names), position=[float(p) for p in pos], velocity=[float(v) for v in vel])
        js.header.stamp = stamp
        self.joints_pub.publish(js)

        msg = ObjectStates(holding=self.sim.holding() or "", delivered=sorted(self.sim.delivered()),
                           docked=bool(self.sim.docked()))
        msg.header.stamp, msg.header.frame_id = stamp, "map"
        for name, (px, py, pz, qw, qx, qy, qz) in self.sim.object_poses().items():
            p = Pose()
            p.position.x, p.position.y, p.position.z = px, py, pz
            p.orientation.w, p.orientation.x, p.orientation.y, p.orientation.z = qw, qx, qy, qz
            msg.names.append(name)
            msg.poses.append(p)
        self.objects_pub.publish(msg)

        scan = self.scan_msg
        scan.header.stamp = stamp
        scan.ranges = self.scanner.scan(self.sim.data, (x, y, yaw)).tolist()
        self.scan_pub.publish(scan)


def main(args=None):
    spin_node(SimNode, args)


if __name__ == "__main__":
    main()
