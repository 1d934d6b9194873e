"""The gazebo_adapter node over real DDS (loopback, its own ROS domain): this test stands in for
ros_gz_bridge (odometry, joint states, each object's TransformStamped on its bridged topic, and a
subscriber on the joint setpoint topics) and for the safety gate (arm/command)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time

import pytest

from cloud_brain.domain.description import load_world
from edge_nerve.bringup.graph import reserve_ros_domain
from sim.gazebo.sdf import ARM_JOINTS, joint_commands, object_pose_topics
from sim.mjcf import ROBOT
from sim.world_model import user_hand_position

pytestmark = pytest.mark.integration
CUP = "red_cup"


@pytest.fixture
def ros_domain(monkeypatch):
    domain, lock = reserve_ros_domain()
    monkeypatch.setenv("ROS_DOMAIN_ID", str(domain))
    monkeypatch.setenv("ROS_AUTOMATIC_DISCOVERY_RANGE", "LOCALHOST")
    yield domain
    lock.close()


def _wait(predicate, timeout: float, what: str, proc=None, log=None) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if proc is not None and proc.poll() is not None:
            raise AssertionError(f"the adapter exited ({proc.returncode}):\n{log.read_text()[-3000:]}")
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def test_adapter_turns_bridge_topics_into_setpoints_and_object_states(tmp_path, ros_domain):
    import rclpy
    from geometry_msgs.msg import TransformStamped
    from nav_msgs.msg import Odometry
    from rclpy.context import Context
    from rclpy.executors import SingleThreadedExecutor
    from rclpy.qos import QoSProfile
    from sensor_msgs.msg import JointState
    from std_msgs.msg import Float64, Float64MultiArray

    from brainstem_interfaces.msg import ObjectStates
    from edge_nerve.nodes.common import CONTROL_QOS, SENSOR_QOS, Topics
    from sim.gazebo.adapter_node import SETPOINT_QOS

    desc = load_world()
    log_path = tmp_path / "adapter.log"
    log = open(log_path, "wb")
    proc = subprocess.Popen([sys.executable, "-m", "sim.gazebo.adapter_node", "--ros-args",
                             "-p", "publish_rate_hz:=20.0"], stdout=log, stderr=subprocess.STDOUT, env=dict(os.environ))
    ctx = Context()
    rclpy.init(context=ctx)
    node = rclpy.create_node("fake_bridge", context=ctx)
    lock = threading.Lock()
    setpoints: dict[str, float] = {}
    states: list = []
    # the world as "Gazebo" reports it; the timer publishes it like the bridge would (reliable: its default)
    poses = {n: (x, y, z + desc.objects[n].half_height) for n, (x, y, z) in desc.object_slots().items()}
    extend = 0.2
    cup = poses[CUP]
    world = {"pose": (cup[0] - ROBOT.grasp_x0 - extend, cup[1], 0.0), "stroke": 0.0, "poses": poses}
    bridge_qos = QoSProfile(depth=10)
    odom_pub = node.create_publisher(Odometry, Topics.ODOM, bridge_qos)
    joints_pub = node.create_publisher(JointState, Topics.JOINT_STATES, bridge_qos)
    pose_pubs = {n: node.create_publisher(TransformStamped, object_pose_topics(n)[0], bridge_qos) for n in poses}
    arm_pub = node.create_publisher(Float64MultiArray, Topics.ARM_COMMAND, CONTROL_QOS)

    def on_setpoint(joint, msg):
        with lock:
            setpoints[joint] = msg.data

    for j in ARM_JOINTS:
        node.create_subscription(Float64, f"/arm/{j}/cmd_pos", lambda m, j=j: on_setpoint(j, m), SETPOINT_QOS)

    def on_states(msg):
        with lock:
            states.append(msg)

    node.create_subscription(ObjectStates, Topics.OBJECT_STATES, on_states, SENSOR_QOS)

    def publish_world(with_objects: bool = True):
        with lock:
            (x, y, yaw), stroke, ps = world["pose"], world["stroke"], dict(world["poses"])
        o = Odometry()
        o.pose.pose.position.x, o.pose.pose.position.y = x, y
        o.pose.pose.orientation.w = 1.0  # yaw 0
        odom_pub.publish(o)
        z = ps[CUP][2]
        joints_pub.publish(JointState(name=list(ARM_JOINTS), position=[z, extend, stroke, stroke]))
        if with_objects:
            for n, (px, py, pz) in ps.items():
                t = TransformStamped(child_frame_id=n)
                t.header.frame_id = desc.name
                t.transform.translation.x, t.transform.translation.y, t.transform.translation.z = px, py, pz
                t.transform.rotation.w = 1.0
                pose_pubs[n].publish(t)
            decoy = TransformStamped(child_frame_id="home::walls")  # another entity's name: ignored
            decoy.transform.translation.z = -5.0
            pose_pubs[CUP].publish(decoy)

    executor = SingleThreadedExecutor(context=ctx)
    executor.add_node(node)
    spin = threading.Thread(target=executor.spin, daemon=True)
    spin.start()
    try:
        _wait(lambda: arm_pub.get_subscription_count() > 0 and all(p.get_subscription_count() > 0
                                                                    for p in pose_pubs.values()),
              30.0, "the adapter's subscriptions", proc, log_path)
        for _ in range(10):  # odometry and joints, no object poses yet: no object states
            publish_world(with_objects=False)
            time.sleep(0.05)
        with lock:
            assert states == []

        # arm/command -> the four joint setpoints
        arm_pub.publish(Float64MultiArray(data=[cup[2], extend, 1.0]))
        want = joint_commands(cup[2], extend, 1.0)
        _wait(lambda: setpoints == pytest.approx(want), 10.0, f"setpoints {want}", proc, log_path)

        # object poses -> sim/object_states; fingers stopped on the cup's sides -> holding
        from sim.gazebo.adapter import GazeboStateAdapter
        a = GazeboStateAdapter(desc)
        a.set_odometry(*world["pose"])
        a.set_object_pose(CUP, (*cup, 1.0, 0.0, 0.0, 0.0))
        with lock:
            world["stroke"] = a.contact_stroke(CUP)

        def latest():
            with lock:
                return states[-1] if states else None

        def until(pred, what):
            deadline = time.monotonic() + 15.0
            while time.monotonic() < deadline:
                publish_world()
                time.sleep(0.05)
                m = latest()
                if m is not None and pred(m):
                    return m
                assert proc.poll() is None, log_path.read_text()[-3000:]
            raise AssertionError(f"timed out waiting for {what}; last: {latest()}")

        m = until(lambda m: m.holding == CUP, "holding red_cup")
        assert sorted(m.names) == sorted(desc.objects) and m.header.frame_id == "map"
        got = {n: (p.position.x, p.position.y, p.position.z) for n, p in zip(m.names, m.poses)}
        for n, xyz in poses.items():  # the decoy never replaced the cup's pose
            assert got[n] == pytest.approx(xyz), n

        # carry it next to the user's hand and open: delivered
        hand = user_hand_position(desc)
        with lock:
            world["poses"] = {**poses, CUP: (hand[0] - 0.1, hand[1], hand[2])}
            world["pose"] = (hand[0] - 0.1 - ROBOT.grasp_x0 - extend, hand[1], 0.0)
        time.sleep(0.3)
        arm_pub.publish(Float64MultiArray(data=[hand[2], extend, 0.0]))
        m = until(lambda m: list(m.delivered) == [CUP], "red_cup delivered")
        assert m.holding == "" and not m.docked
        assert setpoints["finger_left"] == 0.0
    finally:
        # the spin thread must be out of the wait set before the node it waits on is destroyed:
        # destroying it mid-wait once left that thread spinning hot (the run hung at proc.wait)
        executor.shutdown(timeout_sec=1.0)
        spin.join(5.0)
        node.destroy_node()
        rclpy.shutdown(context=ctx)
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)
        try:
            rc = proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
            raise
        log.close()
    assert rc == 0, log_path.read_text()[-3000:]
