"""Shared by the launch files: brainstem's node graph (edge_nerve.bringup.graph) as launch actions.

The graph is declared once in Python; `brainstem up` and these launch files both read it, so
the node lists cannot drift. Nodes are Python modules, started as `python -m <module>` with
the usual `--ros-args` (node name, namespace, parameter file, use_sim_time).
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # a source checkout that is not pip-installed
    sys.path.insert(0, str(ROOT))

from launch.actions import DeclareLaunchArgument, ExecuteProcess  # noqa: E402
from launch.substitutions import LaunchConfiguration  # noqa: E402

from edge_nerve.bringup.graph import NodeSpec  # noqa: E402

CONFIG = Path(__file__).resolve().parent / "config"


def common_arguments(default_params: str, use_sim_time: str = "false") -> list[DeclareLaunchArgument]:
    return [
        DeclareLaunchArgument("namespace", default_value="", description="ROS namespace of this robot"),
        DeclareLaunchArgument("params_file", default_value=str(CONFIG / default_params),
                              description="ros__parameters YAML for every node"),
        DeclareLaunchArgument("use_sim_time", default_value=use_sim_time,
                              description="follow /clock (true in simulation)"),
    ]


def node_action(n: NodeSpec, extra_args: list | None = None) -> ExecuteProcess:
    """One node as a process with the launch arguments applied."""
    ns = LaunchConfiguration("namespace")
    cmd = [sys.executable, "-m", n.module, "--ros-args", "-r", f"__node:={n.name}",
           "-r", ["__ns:=/", ns], "--params-file", LaunchConfiguration("params_file"),
           "-p", ["use_sim_time:=", LaunchConfiguration("use_sim_time")], *(extra_args or [])]
    return ExecuteProcess(cmd=cmd, name=n.name, output="screen")
