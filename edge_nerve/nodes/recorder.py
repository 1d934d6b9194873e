"""Records the brainstem topics to an MCAP file that Foxglove (and `ros2 bag`) can open.

Why not `ros2 bag record`: rosbag2 is not on pip, and the demo must leave a recording behind.
The file follows the MCAP ROS 2 profile (https://mcap.dev/spec/registry#ros2): profile `ros2`,
schemas in `ros2msg` encoding (the .msg text with each nested type appended after a line of 80
`=` and `MSG: pkg/Type`, as rosbag2 writes it), messages as the raw CDR bytes the middleware
delivered. Subscriptions take raw bytes (no deserialize/serialize round trip); log time is the
middleware's receive time, publish time the message's header stamp (or top-level `stamp`) when
it has one and it is set.

    .venv/bin/python -m edge_nerve.nodes.recorder --ros-args -p path:=/tmp/run.mcap
"""

from __future__ import annotations

import functools
import importlib
import os
import re
import signal
import struct
import threading
import time
from pathlib import Path

from mcap.well_known import MessageEncoding, Profile, SchemaEncoding
from mcap.writer import CompressionType, Writer

from rclpy.executors import ExternalShutdownException
from rclpy.node import Node
from rclpy.qos import DurabilityPolicy, HistoryPolicy, QoSProfile, ReliabilityPolicy

from edge_nerve.nodes.common import DIAGNOSTICS_QOS, LATCHED_QOS, PLAN_QOS, Topics, declare, spin_node

# best effort matches every publisher; a few samples of slack so a busy recorder drops none of
# the 50 Hz control stream
BEST_EFFORT_QOS = QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=20,
                             reliability=ReliabilityPolicy.BEST_EFFORT, durability=DurabilityPolicy.VOLATILE)
# what to record when `topics` is not given, with the type each carries and a QoS that matches
# its publisher (a RELIABLE or TRANSIENT_LOCAL subscription would not match a weaker publisher)
KNOWN_TOPICS: dict[str, tuple[str, QoSProfile]] = {
    Topics.CMD_VEL: ("geometry_msgs/msg/Twist", BEST_EFFORT_QOS),
    Topics.SKILL_CMD_VEL: ("geometry_msgs/msg/TwistStamped", BEST_EFFORT_QOS),
    Topics.ARM_COMMAND: ("std_msgs/msg/Float64MultiArray", BEST_EFFORT_QOS),
    Topics.ODOM: ("nav_msgs/msg/Odometry", BEST_EFFORT_QOS),
    Topics.JOINT_STATES: ("sensor_msgs/msg/JointState", BEST_EFFORT_QOS),
    Topics.OBJECT_STATES: ("brainstem_interfaces/msg/ObjectStates", BEST_EFFORT_QOS),
    Topics.COMMAND: ("std_msgs/msg/String", PLAN_QOS),
    Topics.PLAN_EVENTS: ("brainstem_interfaces/msg/PlanEvent", PLAN_QOS),
    Topics.STEP_OUTCOMES: ("brainstem_interfaces/msg/StepOutcome", PLAN_QOS),
    Topics.LINK_STATE: ("std_msgs/msg/String", LATCHED_QOS),
    Topics.DIAGNOSTICS: ("diagnostic_msgs/msg/DiagnosticArray", DIAGNOSTICS_QOS),
}
DEFAULT_TOPICS = list(KNOWN_TOPICS)

# ---- message definitions (no rclpy) -------------------------------------------------------------
PRIMITIVES = {"bool", "byte", "char", "float32", "float64", "int8", "uint8", "int16", "uint16",
              "int32", "uint32", "int64", "uint64", "string", "wstring"}
SEPARATOR = "=" * 80


def _split(type_name: str) -> tuple[str, str]:
    """"pkg/msg/Type" or "pkg/Type" -> ("pkg", "Type")."""
    parts = type_name.split("/")
    if len(parts) not in (2, 3) or (len(parts) == 3 and parts[1] != "msg"):
        raise ValueError(f"not a message type name: {type_name!r}")
    return parts[0], parts[-1]


def find_msg_file(pkg: str, name: str, prefixes: list[str] | None = None) -> Path:
    """share/<pkg>/msg/<name>.msg under the first AMENT_PREFIX_PATH prefix that has it."""
    if prefixes is None:
        prefixes = [p for p in os.environ.get("AMENT_PREFIX_PATH", "").split(os.pathsep) if p]
    for prefix in prefixes:
        path = Path(prefix, "share", pkg, "msg", f"{name}.msg")
        if path.is_file():
            return path
    raise FileNotFoundError(f"{pkg}/msg/{name}.msg in none of {prefixes}")


def field_types(pkg: str, text: str) -> list[str]:
    """The non-primitive field types of a .msg text, as "pkg/Type", in order of appearance."""
    out = []
    for line in text.splitlines():
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        base = re.sub(r"\[.*\]$", "", line.split()[0])  # "geometry_msgs/Pose[]" -> "geometry_msgs/Pose"
        base = re.sub(r"<=\d+$", "", base)  # "string<=10" -> "string"
        if base in PRIMITIVES:
            continue
        dep = base if "/" in base else f"{pkg}/{base}"  # unqualified: same package
        out.append("/".join(_split(dep)))
    return out


def msgdef_text(type_name: str, prefixes: list[str] | None = None) -> str:
    """The `ros2msg` schema text of a type: its .msg, then every type it uses (recursively, each
    once, depth first) as a `MSG: pkg/Type` block after a separator line, as rosbag2 writes it."""
    pkg, name = _split(type_name)
    top = find_msg_file(pkg, name, prefixes).read_text()
    blocks, seen = [], {f"{pkg}/{name}"}

    def visit(owner_pkg: str, text: str) -> None:
        for dep in field_types(owner_pkg, text):
            if dep in seen:
                continue
            seen.add(dep)
            dep_pkg, dep_name = _split(dep)
            dep_text = find_msg_file(dep_pkg, dep_name, prefixes).read_text()
            blocks.append(f"{SEPARATOR}\nMSG: {dep}\n{dep_text.rstrip()}\n")
            visit(dep_pkg, dep_text)

    visit(pkg, top)
    return top.rstrip() + "\n" + "".join(blocks)


def starts_with_stamp(type_name: str, prefixes: list[str] | None = None) -> bool:
    """True when the type's first field is a std_msgs/Header or builtin_interfaces/Time: then its
    CDR payload starts with the stamp (int32 sec, uint32 nanosec)."""
    pkg, name = _split(type_name)
    for line in find_msg_file(pkg, name, prefixes).read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if not line or re.match(r"^\S+\s+\w+\s*=", line):
            continue  # blank, comment or constant
        return line.split()[0] in ("std_msgs/Header", "Header", "builtin_interfaces/Time")
    return False


def cdr_stamp_ns(data: bytes) -> int:
    """The leading (sec, nanosec) of a CDR payload as ns; 0 when unset or too short."""
    if len(data) < 12:
        return 0
    endian = "<" if data[1] & 1 else ">"  # encapsulation 0x0001 = CDR_LE, 0x0000 = CDR_BE
    sec, nanosec = struct.unpack_from(endian + "iI", data, 4)
    return max(0, sec * 1_000_000_000 + nanosec)


class McapRecording:
    """An MCAP file in the ROS 2 profile: one schema per type, one channel per topic, raw CDR."""

    def __init__(self, path: str | Path, prefixes: list[str] | None = None, chunk_size: int = 1024 * 1024):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._file = open(self.path, "wb")
        self._writer = Writer(self._file, compression=CompressionType.ZSTD, chunk_size=chunk_size)
        self._writer.start(profile=Profile.ROS2, library="brainstem recorder")
        self._prefixes = prefixes
        self._schemas: dict[str, int] = {}
        self.channels: dict[str, int] = {}
        self.stamped: dict[str, bool] = {}
        self.counts: dict[str, int] = {}
        self._sequence = 0

    def add_topic(self, topic: str, type_name: str) -> None:
        """Register the topic's channel (and its type's schema the first time it is seen)."""
        pkg, name = _split(type_name)
        full = f"{pkg}/msg/{name}"
        if full not in self._schemas:
            self._schemas[full] = self._writer.register_schema(
                full, SchemaEncoding.ROS2, msgdef_text(full, self._prefixes).encode())
        self.channels[topic] = self._writer.register_channel(topic, MessageEncoding.CDR, self._schemas[full])
        self.stamped[topic] = starts_with_stamp(full, self._prefixes)
        self.counts[topic] = 0

    def write(self, topic: str, data: bytes, log_time_ns: int) -> None:
        publish_ns = cdr_stamp_ns(data) if self.stamped[topic] else 0
        self._sequence += 1
        self._writer.add_message(self.channels[topic], log_time=log_time_ns,
                                 publish_time=publish_ns or log_time_ns, data=data, sequence=self._sequence)
        self.counts[topic] += 1

    def close(self) -> None:
        """Write the summary and footer; without it readers must scan the whole file."""
        if not self._file.closed:
            self._writer.finish()
            self._file.close()


def message_class(type_name: str):
    pkg, name = _split(type_name)
    return getattr(importlib.import_module(f"{pkg}.msg"), name)


# ---- the node -----------------------------------------------------------------------------------
class Recorder(Node):
    def __init__(self):
        super().__init__("recorder")
        path = declare(self, "path", "", "the .mcap file to write ('' = brainstem-<time>.mcap here)")
        topics = declare(self, "topics", DEFAULT_TOPICS, "topics to record (relative names resolve in the namespace)")
        discovery_s = declare(self, "discovery_period_s", 0.5, "how often to look for topics not yet found")
        chunk_kib = declare(self, "chunk_kib", 1024, "MCAP chunk size (KiB): messages are compressed a chunk at a time")
        self.recording = McapRecording(path or f"brainstem-{time.strftime('%Y%m%d-%H%M%S')}.mcap",
                                       chunk_size=chunk_kib * 1024)
        # SIGINT / SIGTERM end the recording between two messages. As a KeyboardInterrupt they
        # could land inside the MCAP writer while it closed a chunk: the chunk's messages were
        # lost and the file held an empty chunk (a mission's whole recording, once).
        # (The handler only sets a flag; a timer wakes the executor to see it, as rclpy's own
        # handler, which this replaces, would have.)
        self.stop_requested = False
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGINT, signal.SIGTERM):
                signal.signal(sig, self._on_signal)
        self.create_timer(0.1, self._stop_callback)
        self.pending: list[str] = []
        for topic in topics:
            if topic in KNOWN_TOPICS:
                self._subscribe(topic, *KNOWN_TOPICS[topic])
            else:
                self.pending.append(topic)
        # a topic of unknown type is recorded once a publisher announces its type on the graph
        self.discovery_timer = self.create_timer(discovery_s, self.discovery_callback)
        self.get_logger().info(f"recording {sorted(self.recording.channels)} to {self.recording.path}"
                               + (f"; waiting for {self.pending}" if self.pending else ""))

    def _subscribe(self, topic: str, type_name: str, qos: QoSProfile) -> None:
        name = self.resolve_topic_name(topic)  # "/cmd_vel": the name Foxglove and rosbag2 show
        self.recording.add_topic(name, type_name)
        # raw=True: the CDR bytes as delivered, written as they are
        self.create_subscription(message_class(type_name), topic,
                                 functools.partial(self.message_callback, name), qos, raw=True)

    def _on_signal(self, signum, frame) -> None:
        self.stop_requested = True

    def _stop_callback(self) -> None:
        if self.stop_requested:
            raise ExternalShutdownException()  # spin_node then closes the file (destroy_node)

    def message_callback(self, topic: str, data: bytes, info) -> None:
        self.recording.write(topic, data, info.get("received_timestamp") or time.time_ns())

    def discovery_callback(self) -> None:
        if not self.pending:
            self.discovery_timer.cancel()
            return
        graph = dict(self.get_topic_names_and_types())
        for topic in list(self.pending):
            resolved = self.resolve_topic_name(topic)
            if graph.get(resolved):
                self._subscribe(topic, graph[resolved][0], BEST_EFFORT_QOS)
                self.pending.remove(topic)
                self.get_logger().info(f"recording {resolved} ({graph[resolved][0]})")

    def destroy_node(self):
        self.recording.close()
        self.get_logger().info(f"wrote {self.recording.path}: {self.recording.counts}")
        return super().destroy_node()


def main(args=None):
    spin_node(Recorder, args)


if __name__ == "__main__":
    main()
