"""The brainstem node graph, declared once, and a launcher that runs it as separate processes.

Why: `ros2 launch` is not available from pip, yet the demo and the integration tests must
start every node for real, each in its own process, with parameters from a `ros__parameters`
YAML file, exactly as a launch file would. The launch files (launch/) read this same graph.

    .venv/bin/brainstem demo            # uses it
"""

from __future__ import annotations

import json
import logging
import os
import random
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import yaml

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class NodeSpec:
    name: str  # ROS node name
    module: str  # python -m target
    role: str  # one line: what it is for
    params: dict = field(default_factory=dict)


def edge_graph(*, world_file: str = "", world_overrides: dict | None = None,
               cloud_address: str = "127.0.0.1:50051", robot_id: str = "robot-1",
               sim: bool = True, real_time_factor: float = 1.0, control_rate_hz: float = 50.0,
               voice: bool = False, voice_threshold: float = 0.5, voice_speaker: str = "", render_dir: str = "",
               record: str = "", gazebo: bool = False, skills: str = "auto") -> list[NodeSpec]:
    """The edge nodes (and the MuJoCo sim standing in for the robot when `sim`; the adapter to a
    Gazebo world behind ros_gz_bridge when `gazebo`; the voice node, listening to WAV files asked
    for on brainstem/voice/wav, when `voice`, through an enrolled `voice_speaker` folder when given).
    `skills`: the skill_runner's controllers, the
    distilled ONNX "student", the privileged "teacher" experts, or "auto" (the student in a world it
    was distilled in, else the teachers)."""
    world = {"world_file": world_file, "world_overrides": json.dumps(world_overrides or {})}
    nodes = [
        NodeSpec("cloud_link", "edge_nerve.nodes.cloud_link", "gRPC session with the cloud <-> ROS topics",
                 {**world, "cloud_address": cloud_address, "robot_id": robot_id}),
        NodeSpec("plan_executor", "edge_nerve.nodes.plan_executor",
                 "runs plan steps in order after an on-robot feasibility check", {**world}),
        NodeSpec("skill_runner", "edge_nerve.nodes.skill_runner",
                 "ExecuteSkill action server: closed-loop skill controllers",
                 {**world, "rate_hz": control_rate_hz, "executor": "single", "skills": skills}),
        NodeSpec("safety", "edge_nerve.nodes.safety",
                 "command gate: stale/NaN commands -> zero twist, limits, E-stop, arm gate",
                 {"timeout_ms": 250.0, "rate_hz": 50.0}),
    ]
    if sim:
        nodes.insert(0, NodeSpec("sim", "sim.sim_node", "MuJoCo home world standing in for the robot",
                                 {**world, "real_time_factor": real_time_factor, "render_dir": render_dir}))
    if gazebo:
        nodes.append(NodeSpec("gazebo_adapter", "sim.gazebo.adapter_node",
                              "Gazebo in brainstem terms: arm/command -> joint setpoints, poses -> sim/object_states",
                              {**world, "publish_rate_hz": 50.0}))
    if voice:
        nodes.append(NodeSpec("voice", "edge_nerve.nodes.voice", "offline speech -> brainstem/command",
                              {**world, "source": "wav", "confidence_threshold": voice_threshold,
                               "speaker": voice_speaker}))
    if record:
        nodes.append(NodeSpec("recorder", "edge_nerve.nodes.recorder",
                              "records the mission topics to MCAP (Foxglove, brainstem report)", {"path": record}))
    return nodes


def write_params(nodes: list[NodeSpec], path: Path) -> Path:
    """One YAML file of every node's parameters, in the `ros__parameters` layout launch uses."""
    path.parent.mkdir(parents=True, exist_ok=True)
    # "/**/name": the node in any namespace (one robot or many, `namespace:=robot1`)
    path.write_text(yaml.safe_dump({f"/**/{n.name}": {"ros__parameters": n.params} for n in nodes if n.params},
                                   sort_keys=False))
    return path


def reserve_ros_domain(lock_dir: str = "/tmp") -> tuple[int, object]:
    """A ROS_DOMAIN_ID no other brainstem run on this machine holds, and the lock that holds it.

    Concurrent runs (tests, demos, benches) on one host would otherwise see each other's topics
    whenever their randomly chosen domains collide. Close the returned file to release it."""
    import fcntl

    ids = list(range(1, 233))  # Fast DDS maps domains 0..232 to valid UDP ports; 0 is the default
    random.shuffle(ids)
    for domain in ids:
        f = open(os.path.join(lock_dir, f"brainstem-ros-domain-{domain}.lock"), "w")
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return domain, f
        except OSError:
            f.close()
    raise RuntimeError("every ROS domain id is taken by another brainstem run on this machine")


class ProcessGroup:
    """Child processes that live and die together; each logs to its own file."""

    def __init__(self, log_dir: Path, env: dict[str, str] | None = None):
        self.log_dir = Path(log_dir)
        self.env = dict(os.environ if env is None else env)
        self.procs: dict[str, subprocess.Popen] = {}
        self._files = []

    def start(self, name: str, argv: list[str]) -> subprocess.Popen:
        self.log_dir.mkdir(parents=True, exist_ok=True)
        f = open(self.log_dir / f"{name}.log", "wb")
        self._files.append(f)
        p = subprocess.Popen(argv, stdout=f, stderr=subprocess.STDOUT, env=self.env,
                             start_new_session=True)
        self.procs[name] = p
        log.info("started %s (pid %d): %s", name, p.pid, " ".join(argv))
        return p

    def start_nodes(self, nodes: list[NodeSpec], params_file: Path) -> None:
        for n in nodes:
            argv = [sys.executable, "-m", n.module, "--ros-args", "-r", f"__node:={n.name}"]
            if n.params:
                argv += ["--params-file", str(params_file)]
            self.start(n.name, argv)

    def dead(self) -> dict[str, int]:
        """Processes that have exited, with their return codes."""
        return {n: p.returncode for n, p in self.procs.items() if p.poll() is not None}

    def log_tail(self, name: str, lines: int = 20) -> str:
        try:
            return "\n".join((self.log_dir / f"{name}.log").read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def stop(self, timeout: float = 5.0) -> None:
        for p in self.procs.values():
            if p.poll() is None:
                try:
                    os.killpg(p.pid, signal.SIGINT)
                except ProcessLookupError:
                    pass
        deadline = time.monotonic() + timeout
        for p in self.procs.values():
            try:
                p.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                try:
                    os.killpg(p.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                p.wait()
        for f in self._files:
            f.close()
        self._files.clear()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()
