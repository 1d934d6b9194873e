"""Everything on one machine: the MuJoCo home world, the edge nodes and a local cloud service.

    ros2 launch launch/sim.launch.py use_sim_time:=false
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))  # ros2 launch does not add it

from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument, ExecuteProcess
from launch.substitutions import LaunchConfiguration

from _graph import common_arguments, node_action  # noqa: I001
from edge_nerve.bringup.graph import edge_graph


def generate_launch_description():
    port = DeclareLaunchArgument("cloud_port", default_value="50051", description="port of the local cloud")
    planner = DeclareLaunchArgument("planner", default_value="moe", description="planner backend: moe or rules")
    cloud = ExecuteProcess(  # the planner service (gRPC), as `brainstem cloud serve`
        cmd=[sys.executable, "-m", "cloud_brain.server.service", "--port", LaunchConfiguration("cloud_port"),
             "--planner", LaunchConfiguration("planner")], name="cloud", output="screen")
    actions = []
    for n in edge_graph(sim=True):
        extra = (["-p", ["cloud_address:=127.0.0.1:", LaunchConfiguration("cloud_port")]]
                 if n.name == "cloud_link" else [])
        actions.append(node_action(n, extra))
    return LaunchDescription([*common_arguments("sim.yaml"), port, planner, cloud, *actions])
