"""What every brainstem node shares: QoS profiles, topic names, the world, message conversions.

Why one place: QoS mismatches between a publisher and a subscriber fail silently in ROS 2, so
every node takes its profiles and topic names from here; and every node reads the same world
description (with the run's overrides) so their symbolic views agree.
"""

from __future__ import annotations

import faulthandler
import json
import math
import os
import sys
import traceback

import rclpy
from rclpy.executors import ExternalShutdownException
from rclpy.node import Node
from rclpy.qos import DurabilityPolicy, HistoryPolicy, QoSProfile, ReliabilityPolicy
from rcl_interfaces.msg import ParameterDescriptor

from cloud_brain.domain.description import WorldDescription, load_world

# ---- QoS ----------------------------------------------------------------------------------------
# control loop publishers: only the newest sample matters; never block or retransmit
CONTROL_QOS = QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=1,
                         reliability=ReliabilityPolicy.BEST_EFFORT, durability=DurabilityPolicy.VOLATILE)
# the control loop's readers (the policy's sensor input, the command's consumers): still best effort,
# but several samples deep. Depth 1 lets the OS drop a command: a reader descheduled for longer than
# a period finds only the newest sample, the one before overwritten unread. This VM stalls a process
# for up to ~8 ms now and then (2-4 periods at 500 Hz), so 8 covers 16 ms at 500 Hz, far inside the
# safety gate's command timeout. Samples arrive in order and each command carries its sensor's stamp,
# so the newest still wins. `brainstem bench edge` measures depth 1 against this in the same run.
CONTROL_READER_DEPTH = 8


def control_reader_qos(depth: int = CONTROL_READER_DEPTH) -> QoSProfile:
    """CONTROL_QOS for a subscription, `depth` samples deep (see CONTROL_READER_DEPTH)."""
    if depth < 1:
        raise ValueError(f"control reader depth must be >= 1, got {depth}")
    return QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=depth, reliability=ReliabilityPolicy.BEST_EFFORT,
                      durability=DurabilityPolicy.VOLATILE)


SENSOR_QOS = QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=5,
                        reliability=ReliabilityPolicy.BEST_EFFORT, durability=DurabilityPolicy.VOLATILE)
# plans, outcomes, commands: every message matters and order matters
PLAN_QOS = QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=100,
                      reliability=ReliabilityPolicy.RELIABLE, durability=DurabilityPolicy.VOLATILE)
# state a late joiner must still get (the last one): link state, E-stop
LATCHED_QOS = QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=1,
                         reliability=ReliabilityPolicy.RELIABLE, durability=DurabilityPolicy.TRANSIENT_LOCAL)
# /diagnostics: reliable like diagnostic_updater's publisher, a few arrays of slack
DIAGNOSTICS_QOS = QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=10,
                             reliability=ReliabilityPolicy.RELIABLE, durability=DurabilityPolicy.VOLATILE)


class Topics:
    CMD_VEL = "cmd_vel"  # geometry_msgs/Twist, after the safety gate: what the base obeys
    # geometry_msgs/TwistStamped from the skill runner into the gate; header.stamp is the stamp of
    # the sensor message the command was computed from (end-to-end latency is measurable)
    SKILL_CMD_VEL = "skill/cmd_vel"
    ARM_COMMAND = "arm/command"  # std_msgs/Float64MultiArray [lift m, extend m, gripper 0..1], after the gate
    SKILL_ARM_COMMAND = "skill/arm_command"  # the same, from the skill runner into the gate
    ESTOP = "estop"  # std_msgs/Bool, latched: True engages the E-stop, False releases it
    ESTOP_ENGAGE = "estop/engage"  # std_srvs/Trigger
    ESTOP_RELEASE = "estop/release"  # std_srvs/Trigger
    DIAGNOSTICS = "/diagnostics"  # diagnostic_msgs/DiagnosticArray (absolute, as the ROS tools expect)
    LINK_STATE = "brainstem/link"  # std_msgs/String "up" | "down", latched (from cloud_link)
    ODOM = "odom"  # nav_msgs/Odometry
    JOINT_STATES = "joint_states"  # sensor_msgs/JointState
    SCAN = "scan"  # sensor_msgs/LaserScan, the base's planar range scan (sim/lidar.py)
    OBJECT_STATES = "sim/object_states"  # brainstem_interfaces/ObjectStates
    COMMAND = "brainstem/command"  # std_msgs/String, natural-language commands
    PLAN_EVENTS = "brainstem/plan_events"  # brainstem_interfaces/PlanEvent
    # std_msgs/Bool, latched: the plan executor has the link up and is matched with the plan
    # events' publisher, so a plan sent now reaches it (the events are volatile)
    EXECUTOR_READY = "brainstem/plan_executor/ready"
    STEP_OUTCOMES = "brainstem/step_outcomes"  # brainstem_interfaces/StepOutcome
    SAY = "brainstem/say"  # std_msgs/String, what the robot says
    EXECUTE_SKILL = "execute_skill"  # brainstem_interfaces/action/ExecuteSkill


# ---- parameters ---------------------------------------------------------------------------------
def declare(node: Node, name: str, default, description: str):
    """Declare a parameter with a descriptor and return its value."""
    node.declare_parameter(name, default, ParameterDescriptor(description=description))
    return node.get_parameter(name).value


def declare_realtime(node: Node, priority: int = 0, cpus: str = "", lock_memory: bool = False) -> None:
    """The real-time parameters of a control process (edge_nerve/runtime/realtime.py), applied by
    spin_node once the node exists: every thread it has by then is moved."""
    declare(node, "realtime_priority", priority, "SCHED_FIFO priority 1..99 for every thread of the "
            "process (0 = the normal scheduler); refused without CAP_SYS_NICE, with a warning")
    # dynamic: `cpu_affinity:=1` arrives as an integer, `cpu_affinity:='0,1'` as a string
    node.declare_parameter("cpu_affinity", cpus, ParameterDescriptor(
        description="CPUs to pin the process to: one number or a comma list ('' = as inherited)",
        dynamic_typing=True))
    declare(node, "lock_memory", lock_memory, "mlockall: no page faults in the loop")
    declare(node, "cpu_dma_latency_us", -1, "CPU idle exit latency to hold while the process runs (PM QoS, "
            "/dev/cpu_dma_latency; 0 = idle CPUs poll), -1 = leave it to the kernel")


def apply_node_realtime(node: Node):
    """Apply the node's declared real-time parameters (declare_realtime); None if it has none."""
    if not node.has_parameter("realtime_priority"):
        return None
    from edge_nerve.runtime.realtime import RealtimeConfig, apply_realtime

    cfg = RealtimeConfig.from_params(node.get_parameter("realtime_priority").value,
                                     str(node.get_parameter("cpu_affinity").value),
                                     node.get_parameter("lock_memory").value,
                                     node.get_parameter("cpu_dma_latency_us").value)
    if not cfg.requested:
        return None
    rep = apply_realtime(cfg)
    node.realtime = rep
    (node.get_logger().warning if rep.problems else node.get_logger().info)(f"scheduling: {rep.summary()}")
    return rep


def declare_world(node: Node) -> WorldDescription:
    """The `world_file` + `world_overrides` parameters every node that reasons about the world has."""
    path = declare(node, "world_file", "", "world description YAML ('' = the default home)")
    overrides = declare(node, "world_overrides", "", "JSON overrides of the default state (case format)")
    return load_world(path or None).with_overrides(json.loads(overrides) if overrides else None)


# ---- conversions --------------------------------------------------------------------------------
def yaw_from_quaternion(w: float, x: float, y: float, z: float) -> float:
    return math.atan2(2.0 * (w * z + x * y), 1.0 - 2.0 * (y * y + z * z))


def quaternion_from_yaw(yaw: float) -> tuple[float, float, float, float]:
    return (math.cos(yaw / 2), 0.0, 0.0, math.sin(yaw / 2))  # w, x, y, z


def pose_from_odometry(msg) -> tuple[float, float, float]:
    p, q = msg.pose.pose.position, msg.pose.pose.orientation
    return (p.x, p.y, yaw_from_quaternion(q.w, q.x, q.y, q.z))


def objects_from_msg(msg) -> dict[str, tuple]:
    return {n: (p.position.x, p.position.y, p.position.z,
                p.orientation.w, p.orientation.x, p.orientation.y, p.orientation.z)
            for n, p in zip(msg.names, msg.poses)}


# ---- diagnostics --------------------------------------------------------------------------------
def diagnostic_status(name: str, level: str, message: str, values: dict, hardware_id: str = ""):
    """A diagnostic_msgs/DiagnosticStatus; `level` is "ok" | "warn" | "error" | "stale"."""
    from diagnostic_msgs.msg import DiagnosticStatus, KeyValue

    lv = {"ok": DiagnosticStatus.OK, "warn": DiagnosticStatus.WARN, "error": DiagnosticStatus.ERROR,
          "stale": DiagnosticStatus.STALE}[level]
    return DiagnosticStatus(level=lv, name=name, message=message, hardware_id=hardware_id,
                            values=[KeyValue(key=k, value=str(v)) for k, v in values.items()])


# ---- executors ----------------------------------------------------------------------------------
EXECUTORS = ("single", "events", "multi")


def make_executor(kind: str = "single"):
    """`single`: rclpy.executors.SingleThreadedExecutor (the Python wait-set loop);
    `events`: rclpy.experimental.EventsExecutor (C++ event queue, far less per-callback work);
    `multi`: MultiThreadedExecutor (threads contend for the GIL: costs more than it gains here)."""
    if kind == "single":
        return rclpy.executors.SingleThreadedExecutor()
    if kind == "events":
        from rclpy.experimental import EventsExecutor
        return EventsExecutor()
    if kind == "multi":
        return rclpy.executors.MultiThreadedExecutor(num_threads=2)
    raise ValueError(f"unknown executor {kind!r}; one of {EXECUTORS}")


# rclpy's message take raises this when it cannot turn a received message into its Python object
# (pybind11 loses the cause; rclpy issue #848 is one case). Once, under load, it killed the
# plan_executor at startup and the mission stalled without a word; one message is lost, not the node.
TAKE_FAILURE = "Unable to convert call argument"


def spin(executor, logger=None) -> int:
    """executor.spin() until shutdown, except for the EventsExecutor: its spin() never ran a
    callback here (rclpy 9.1.2, Kilted wheels: not even a timer), while spin_once() in a loop
    runs them all. A message rclpy fails to take (TAKE_FAILURE) is logged and dropped and the
    node spins on; every other exception propagates. Returns how many messages were dropped."""
    events = type(executor).__name__ == "EventsExecutor"
    dropped = 0
    while executor.context.ok():
        try:
            if not events:
                executor.spin()
                break
            executor.spin_once(timeout_sec=0.1)
        except RuntimeError as e:
            if TAKE_FAILURE not in str(e):
                raise
            dropped += 1
            if logger is not None:
                logger.error(f"dropped a received message rclpy could not convert ({e}); "
                             f"{dropped} so far, spinning on")
    return dropped


def spin_node(node_factory, args=None) -> None:
    """The `main()` of every node: init, spin on an explicit executor, clean shutdown.

    The executor is the node's `executor` parameter when it declares one (else single-threaded)."""
    faulthandler.enable()  # a crash in native code (DDS, gRPC) leaves a Python traceback in the log
    rclpy.init(args=args)
    node = None
    crashed = False
    try:
        node = node_factory()
        apply_node_realtime(node)
        kind = node.get_parameter("executor").value if node.has_parameter("executor") else "single"
        executor = make_executor(kind)
        executor.add_node(node)
        spin(executor, node.get_logger())
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    except Exception:
        crashed = True
        traceback.print_exc()
    finally:
        if node is not None:
            node.destroy_node()
        if rclpy.ok():
            rclpy.try_shutdown()
    if crashed:
        # Exit now, not through the interpreter's shutdown: once, after such a failure, the
        # process printed its traceback and then never exited, so the mission saw a live node
        # and waited out its whole timeout instead of reporting which node had died.
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(1)
