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
               sim: bool = True, real_time_factor: float = 1.0, control_rate_hz: float = 50.0) -> list[NodeSpec]:
    """The edge nodes (and the MuJoCo sim standing in for the robot when `sim`)."""
    world = {"world_file": world_file, "world_overrides": json.dumps(world_overrides or {})}
    nodes = [
        NodeSpec("cloud_link", "edge_nerve.nodes.cloud_link", "gRPC session with the cloud <-> ROS topics",
                 {**world, "cloud_address": cloud_address, "robot_id": robot_id}),
        NodeSpec("plan_executor", "edge_nerve.nodes.plan_executor",
                 "runs plan steps in order after an on-robot feasibility check", {**world}),
        NodeSpec("skill_runner", "edge_nerve.nodes.skill_runner",
                 "ExecuteSkill action server: closed-loop skill controllers", {**world, "rate_hz": control_rate_hz}),
        NodeSpec("safety", "edge_nerve.nodes.safety", "command watchdog: stale commands -> zero twist", {}),
    ]
    if sim:
        nodes.insert(0, NodeSpec("sim", "sim.sim_node", "MuJoCo home world standing in for the robot",
                                 {**world, "real_time_factor": real_time_factor}))
    return nodes


def write_params(nodes: list[NodeSpec], path: Path) -> Path:
    """One YAML file of every node's parameters, in the `ros__parameters` layout launch uses."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump({n.name: {"ros__parameters": n.params} for n in nodes if n.params},
                                   sort_keys=False))
    return path


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
