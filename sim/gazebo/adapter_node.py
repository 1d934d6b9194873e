"""`gazebo_adapter` node: Gazebo (through ros_gz_bridge) in the terms the brainstem nodes use.

In Gazebo's place of the MuJoCo sim node: `arm/command` ([lift, extend, gripper], after the
safety gate) becomes the four joint setpoints the model's position controllers take
(`/arm/<joint>/cmd_pos`, bridged), and the objects' poses (`/gazebo/objects/<name>/pose`, bridged
from each object model's pose publisher) plus odometry and joint states become
`sim/object_states` with holding / delivered / docked (sim/gazebo/adapter.py decides them).
`/cmd_vel`, `/odom`, `/joint_states`, `/scan` and `/clock` need no adapter: the bridge maps them.

    .venv/bin/python -m sim.gazebo.adapter_node --ros-args -p use_sim_time:=true
"""

from __future__ import annotations

from geometry_msgs.msg import Pose, TransformStamped
from nav_msgs.msg import Odometry
from rclpy.node import Node
from rclpy.qos import DurabilityPolicy, HistoryPolicy, QoSProfile, ReliabilityPolicy
from sensor_msgs.msg import JointState
from std_msgs.msg import Float64, Float64MultiArray

from brainstem_interfaces.msg import ObjectStates
from edge_nerve.nodes.common import (CONTROL_QOS, SENSOR_QOS, Topics, declare, declare_world,
                                     pose_from_odometry, spin_node)
from sim.gazebo.adapter import GazeboStateAdapter
from sim.gazebo.sdf import ARM_JOINTS, object_pose_topics

# setpoints into ros_gz_bridge: its subscriptions are reliable by default (a best-effort
# publisher would never match them); only the newest setpoint matters
SETPOINT_QOS = QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=1,
                          reliability=ReliabilityPolicy.RELIABLE, durability=DurabilityPolicy.VOLATILE)


class GazeboAdapterNode(Node):
    def __init__(self):
        super().__init__("gazebo_adapter")
        desc = declare_world(self)
        rate = declare(self, "publish_rate_hz", 50.0, "sim/object_states rate (the node's clock)")
        self.adapter = GazeboStateAdapter(desc)
        self.setpoint_pubs = {j: self.create_publisher(Float64, f"/arm/{j}/cmd_pos", SETPOINT_QOS)
                              for j in ARM_JOINTS}
        self.objects_pub = self.create_publisher(ObjectStates, Topics.OBJECT_STATES, SENSOR_QOS)
        self.create_subscription(Float64MultiArray, Topics.ARM_COMMAND, self.arm_callback, CONTROL_QOS)
        self.create_subscription(Odometry, Topics.ODOM, self.odom_callback, SENSOR_QOS)
        self.create_subscription(JointState, Topics.JOINT_STATES, self.joints_callback, SENSOR_QOS)
        for name in desc.objects:  # one bridged topic per object (why: sim/gazebo/sdf.object_pose_topics)
            self.create_subscription(TransformStamped, object_pose_topics(name)[0],
                                     lambda msg, name=name: self.pose_callback(name, msg), SENSOR_QOS)
        self.create_timer(1.0 / rate, self.publish_callback)
        self.get_logger().info(f"{desc.summary()}; {len(desc.objects)} object pose topics")

    def arm_callback(self, msg: Float64MultiArray) -> None:
        setpoints = self.adapter.arm_command(msg.data)
        if setpoints is None:
            self.get_logger().warning(f"arm/command needs three finite values [lift, extend, gripper], "
                                      f"got {list(msg.data)}", throttle_duration_sec=5.0)
            return
        for joint, value in setpoints.items():
            self.setpoint_pubs[joint].publish(Float64(data=float(value)))

    def odom_callback(self, msg: Odometry) -> None:
        tw = msg.twist.twist
        self.adapter.set_odometry(*pose_from_odometry(msg), tw.linear.x, tw.linear.y, tw.angular.z)

    def joints_callback(self, msg: JointState) -> None:
        self.adapter.set_joints(msg.name, msg.position)

    def pose_callback(self, name: str, msg: TransformStamped) -> None:
        """The object's world pose. Its topic is the object's own; a child_frame_id naming another
        entity (scoped names "a::b" compare by their last part) is ignored."""
        child = msg.child_frame_id.split("::")[-1]
        if child and child != name:
            self.get_logger().warning(f"pose of {msg.child_frame_id!r} on {name}'s topic ignored",
                                      throttle_duration_sec=10.0)
            return
        tr, q = msg.transform.translation, msg.transform.rotation
        self.adapter.set_object_pose(name, (tr.x, tr.y, tr.z, q.w, q.x, q.y, q.z))

    def publish_callback(self) -> None:
        snap = self.adapter.update()
        if snap is None:
            self.get_logger().info(f"waiting for object poses: {', '.join(self.adapter.missing())}",
                                   throttle_duration_sec=10.0)
            return
        msg = ObjectStates(holding=snap.holding, delivered=list(snap.delivered), docked=snap.docked)
        msg.header.stamp, msg.header.frame_id = self.get_clock().now().to_msg(), "map"
        for name, (px, py, pz, qw, qx, qy, qz) in snap.poses.items():
            p = Pose()
            p.position.x, p.position.y, p.position.z = px, py, pz
            p.orientation.w, p.orientation.x, p.orientation.y, p.orientation.z = qw, qx, qy, qz
            msg.names.append(name)
            msg.poses.append(p)
        self.objects_pub.publish(msg)


def main(args=None):
    spin_node(GazeboAdapterNode, args)


if __name__ == "__main__":
    main()
