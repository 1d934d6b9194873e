"""The safety gate on real nodes: the `safety` node process, a `skill_runner` running an ONNX
policy (event-driven, as in the loop benchmark), and this test as the probe (sensors in, commands
out, E-stop topic and services, /diagnostics), all over DDS on a private domain.

    .venv/bin/python -m pytest -q tests/integration/test_safety_nodes.py
"""

from __future__ import annotations

import math
import os
import random
import subprocess
import sys
import threading
import time

import numpy as np
import pytest

pytestmark = pytest.mark.integration

RT_PRIORITY = 20  # skill_runner's SCHED_FIFO priority (falls back, with a warning, where refused)
TIMEOUT_MS = 100.0
TICK_HZ = 50.0
SENSOR_HZ = 100.0


@pytest.fixture(scope="module")
def policy_file(tmp_path_factory):
    from edge_nerve.runtime.export import PolicyMLP, export_onnx

    import torch
    torch.manual_seed(0)
    return export_onnx(PolicyMLP(), tmp_path_factory.mktemp("policy") / "policy.onnx")


@pytest.fixture(scope="module")
def graph(tmp_path_factory, policy_file):
    """safety + skill_runner (policy mode) as processes; the probe node in this process."""
    import rclpy
    from diagnostic_msgs.msg import DiagnosticArray
    from geometry_msgs.msg import Twist, TwistStamped
    from rclpy.node import Node
    from sensor_msgs.msg import JointState
    from std_msgs.msg import Bool, Float64MultiArray
    from std_srvs.srv import Trigger

    from edge_nerve.nodes.common import (CONTROL_QOS, DIAGNOSTICS_QOS, LATCHED_QOS, SENSOR_QOS, Topics,
                                         control_reader_qos, make_executor)

    env = dict(os.environ, ROS_DOMAIN_ID=str(random.randint(201, 232)), ROS_AUTOMATIC_DISCOVERY_RANGE="LOCALHOST")
    os.environ.update(ROS_DOMAIN_ID=env["ROS_DOMAIN_ID"], ROS_AUTOMATIC_DISCOVERY_RANGE="LOCALHOST")
    logs = tmp_path_factory.mktemp("logs")
    procs = {}
    for name, argv in {
        "safety": ["-m", "edge_nerve.nodes.safety", "--ros-args", "-p", f"timeout_ms:={TIMEOUT_MS}",
                   "-p", f"rate_hz:={TICK_HZ}"],
        "skill_runner": ["-m", "edge_nerve.nodes.skill_runner", "--ros-args", "-p", f"policy_file:={policy_file}",
                         "-p", f"rate_hz:={SENSOR_HZ}", "-p", f"realtime_priority:={RT_PRIORITY}"],
    }.items():
        procs[name] = subprocess.Popen([sys.executable, *argv], env=env, start_new_session=True,
                                       stdout=open(logs / f"{name}.log", "wb"), stderr=subprocess.STDOUT)
    if not rclpy.ok():
        rclpy.init()
    node = Node("safety_probe")
    g = type("G", (), {})()
    g.node, g.logs, g.procs = node, logs, procs
    g.cmd_vel: list[tuple[float, tuple]] = []  # (arrival monotonic, (vx, vy, wz))
    g.arm: list[tuple[float, tuple]] = []
    g.diag: list = []
    g.lock = threading.Lock()

    def on_cmd(m):
        with g.lock:
            g.cmd_vel.append((time.monotonic(), (m.linear.x, m.linear.y, m.angular.z)))

    def on_arm(m):
        with g.lock:
            g.arm.append((time.monotonic(), tuple(m.data)))

    node.create_subscription(Twist, Topics.CMD_VEL, on_cmd, CONTROL_QOS)
    node.create_subscription(Float64MultiArray, Topics.ARM_COMMAND, on_arm, CONTROL_QOS)
    node.create_subscription(DiagnosticArray, Topics.DIAGNOSTICS, lambda m: g.diag.extend(m.status), DIAGNOSTICS_QOS)
    g.answered: set[int] = set()  # sensor stamps (ns) the skill runner's commands carried

    def on_skill_cmd(m):
        with g.lock:
            g.answered.add(m.header.stamp.sec * 1_000_000_000 + m.header.stamp.nanosec)

    node.create_subscription(TwistStamped, Topics.SKILL_CMD_VEL, on_skill_cmd, control_reader_qos())
    g.cmd_pub = node.create_publisher(TwistStamped, Topics.SKILL_CMD_VEL, CONTROL_QOS)
    g.sensor_pub = node.create_publisher(JointState, Topics.JOINT_STATES, SENSOR_QOS)
    g.estop_pub = node.create_publisher(Bool, Topics.ESTOP, LATCHED_QOS)
    g.engage = node.create_client(Trigger, Topics.ESTOP_ENGAGE)
    g.release = node.create_client(Trigger, Topics.ESTOP_RELEASE)
    g.Trigger, g.TwistStamped, g.JointState, g.Bool = Trigger, TwistStamped, JointState, Bool
    executor = make_executor("single")
    executor.add_node(node)
    spin = threading.Thread(target=executor.spin, daemon=True)
    spin.start()
    deadline = time.monotonic() + 45
    while not (g.engage.service_is_ready() and node.count_publishers(Topics.CMD_VEL) >= 1
               and node.count_subscribers(Topics.JOINT_STATES) >= 1
               and node.count_publishers(Topics.SKILL_CMD_VEL) >= 2):  # the probe and skill_runner
        for n, p in procs.items():
            assert p.poll() is None, f"{n} exited:\n{(logs / f'{n}.log').read_text()[-3000:]}"
        assert time.monotonic() < deadline, "nodes did not come up"
        time.sleep(0.1)
    time.sleep(0.5)
    yield g
    executor.shutdown(timeout_sec=1.0)
    spin.join(5.0)  # out of the wait set before its node is destroyed
    node.destroy_node()
    for p in procs.values():
        p.send_signal(2)
    for p in procs.values():
        try:
            p.wait(10)
        except subprocess.TimeoutExpired:
            p.kill()


def _twist(g, vx, vy=0.0, wz=0.0):
    m = g.TwistStamped()
    m.twist.linear.x, m.twist.linear.y, m.twist.angular.z = vx, vy, wz
    return m


def _since(g, t0):
    with g.lock:
        return [c for t, c in g.cmd_vel if t >= t0], [(t, c) for t, c in g.cmd_vel if t >= t0]


def _call(g, client):
    fut = client.call_async(g.Trigger.Request())
    deadline = time.monotonic() + 5
    while not fut.done():
        assert time.monotonic() < deadline, "service did not answer"
        time.sleep(0.01)
    return fut.result()


class SensorStream:
    """Publishes joint_states at SENSOR_HZ from a thread, like the sim would."""

    def __init__(self, g, nan: bool = False):
        self.g, self.nan, self.stop = g, nan, threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)

    def run(self):
        m = self.g.JointState()
        m.name = [f"j{i}" for i in range(12)]
        while not self.stop.is_set():
            v = np.full(12, math.nan) if self.nan else np.random.default_rng().standard_normal(12)
            m.position = v.tolist()
            m.header.stamp = self.g.node.get_clock().now().to_msg()
            self.g.sensor_pub.publish(m)
            time.sleep(1.0 / SENSOR_HZ)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.stop.set()
        self.thread.join()


def test_stale_commands_become_a_zero_twist_within_one_tick_plus_10ms(graph):
    g = graph
    period = 1.0 / TICK_HZ
    for _ in range(20):
        g.cmd_pub.publish(_twist(g, 0.3))
        last = time.monotonic()
        time.sleep(0.01)
    time.sleep(TIMEOUT_MS / 1e3 + period + 0.2)
    _, timed = _since(g, last - 0.05)
    moving = [t for t, c in timed if c[0] == pytest.approx(0.3)]
    assert moving, "the gate forwarded nothing"
    zeros = [t for t, c in timed if t > last and c == (0.0, 0.0, 0.0)]
    assert zeros, "no zero twist after the commands stopped"
    delay = zeros[0] - last
    assert delay <= TIMEOUT_MS / 1e3 + period + 0.010, f"zero twist {delay * 1e3:.1f} ms after the last command"
    assert delay >= TIMEOUT_MS / 1e3 - 0.005  # and not before the timeout


def test_estop_overrides_a_running_policy_until_released(graph):
    g = graph
    with SensorStream(g):
        time.sleep(0.5)
        t0 = time.monotonic()
        time.sleep(0.3)
        running, _ = _since(g, t0)
        assert len(running) > 10 and any(c != (0.0, 0.0, 0.0) for c in running), "the policy is not driving"

        assert _call(g, g.engage).success  # service
        t1 = time.monotonic()
        with g.lock:
            arm_before = len(g.arm)
        time.sleep(0.5)
        during, _ = _since(g, t1 + 0.02)
        assert during and all(c == (0.0, 0.0, 0.0) for c in during), "E-stop let a policy command through"
        with g.lock:
            arm_during = [t for t, _ in g.arm[arm_before:] if t > t1 + 0.02]
        assert not arm_during, "arm commands forwarded during the E-stop"

        g.estop_pub.publish(g.Bool(data=False))  # released by topic
        time.sleep(0.5)
        t2 = time.monotonic()
        time.sleep(0.3)
        after, _ = _since(g, t2)
        assert any(c != (0.0, 0.0, 0.0) for c in after), "commands did not resume after the release"

        g.estop_pub.publish(g.Bool(data=True))  # engaged by topic (latched)
        time.sleep(0.3)
        t3 = time.monotonic()
        time.sleep(0.3)
        during, _ = _since(g, t3)
        assert during and all(c == (0.0, 0.0, 0.0) for c in during)
        assert _call(g, g.release).success
        g.estop_pub.publish(g.Bool(data=False))  # leave the latched topic released
    estop = [s for s in g.diag if "command gate" in s.name and "E-STOP engaged" in s.message]
    assert estop, "the E-stop was not reported on /diagnostics"


def test_injected_nan_stops_the_robot_with_a_diagnostic(graph):
    g = graph
    time.sleep(0.3)
    n_diag = len(g.diag)
    with SensorStream(g):  # finite sensors: the policy drives
        time.sleep(0.5)
    with SensorStream(g, nan=True):  # a NaN observation: the runtime outputs NaN
        t0 = time.monotonic()
        time.sleep(0.5)
        during, _ = _since(g, t0 + 0.05)
    assert during and all(c == (0.0, 0.0, 0.0) for c in during), "a NaN command reached the base"
    errors = [s for s in g.diag[n_diag:] if s.level == s.ERROR and "non-finite" in s.message]
    assert errors, "the NaN stop was not reported on /diagnostics"
    # a direct NaN command (any controller, not only the policy) is stopped too
    t1 = time.monotonic()
    g.cmd_pub.publish(_twist(g, math.nan, 0.1, 0.0))
    time.sleep(0.1)
    direct, _ = _since(g, t1)
    assert direct and all(c == (0.0, 0.0, 0.0) for c in direct)
    # the skill runner counts its own non-finite outputs (its status goes out once a second)
    deadline = time.monotonic() + 3
    while not any(kv.key == "policy_nonfinite" and int(kv.value) > 0
                  for s in g.diag if "control loop" in s.name for kv in s.values):
        assert time.monotonic() < deadline, "the skill runner did not report its non-finite outputs"
        time.sleep(0.1)


def test_a_control_process_stalled_for_a_few_periods_answers_every_sensor_sample(graph):
    """The OS stops the skill runner for three sensor periods (SIGSTOP stands in for a VM or
    scheduler stall): the samples sent meanwhile wait in its reader, and each gets its command,
    in order, once it runs again. With a reader one sample deep all but the newest were lost."""
    import signal

    g = graph
    runner = g.procs["skill_runner"]
    m = g.JointState()
    m.name = [f"j{i}" for i in range(12)]
    m.position = [0.1] * 12
    stamps = []
    runner.send_signal(signal.SIGSTOP)
    try:
        for i in range(3):
            now = time.time_ns()
            m.header.stamp.sec, m.header.stamp.nanosec = divmod(now, 1_000_000_000)
            g.sensor_pub.publish(m)
            stamps.append(now)
            time.sleep(1.0 / SENSOR_HZ)
        time.sleep(0.05)
    finally:
        runner.send_signal(signal.SIGCONT)
    deadline = time.monotonic() + 2
    while True:
        with g.lock:
            missing = [s for s in stamps if s not in g.answered]
        if not missing or time.monotonic() > deadline:
            break
        time.sleep(0.02)
    assert not missing, f"{len(missing)} of {len(stamps)} sensor samples sent during the stall got no command"


def test_the_control_loop_reports_its_real_time_scheduling(graph):
    """skill_runner asked for SCHED_FIFO: /diagnostics says what it got, or why not (no rtprio)."""
    g = graph
    deadline = time.monotonic() + 3
    while True:
        sched = [kv.value for s in list(g.diag) if "control loop" in s.name for kv in s.values if kv.key == "scheduling"]
        if sched:
            break
        assert time.monotonic() < deadline, "no scheduling on the control loop's diagnostics"
        time.sleep(0.1)
    assert sched[-1].startswith(f"SCHED_FIFO priority {RT_PRIORITY}") or "refused" in sched[-1], sched[-1]
