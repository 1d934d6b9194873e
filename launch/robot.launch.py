"""The edge nodes on a real robot: cloud_link, plan_executor, skill_runner, safety.

    ros2 launch launch/robot.launch.py cloud_address:=cloud.example:50051 namespace:=robot1
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))  # ros2 launch does not add it

from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument
from launch.substitutions import LaunchConfiguration

from _graph import common_arguments, node_action  # noqa: I001  (launch/ is on sys.path)
from edge_nerve.bringup.graph import edge_graph


def generate_launch_description():
    address = DeclareLaunchArgument("cloud_address", default_value="127.0.0.1:50051",
                                    description="host:port of the CloudBrain service")
    nodes = edge_graph(sim=False)
    actions = []
    for n in nodes:  # one line per node: what it is for is in NodeSpec.role
        extra = ["-p", ["cloud_address:=", LaunchConfiguration("cloud_address")]] if n.name == "cloud_link" else []
        actions.append(node_action(n, extra))
    return LaunchDescription([*common_arguments("robot.yaml"), address, *actions])
