"""Gazebo Harmonic instead of MuJoCo: the home world and the robot (sim/gazebo/generated),
ros_gz_bridge, the edge nodes with the gazebo_adapter, and a local cloud.

    ros2 launch launch/gazebo.launch.py                  # gz sim with its GUI
    ros2 launch launch/gazebo.launch.py headless:=true local_cloud:=false cloud_address:=HOST:PORT

Needs Gazebo Harmonic and ros_gz (ros_gz_sim, ros_gz_bridge) for the ROS distribution in use.
The bridge's topics are absolute (/cmd_vel, /odom, ...): keep `namespace` empty here.
Another world: `python -m sim.gazebo.sdf --out DIR --world W.yaml`, then `gz_dir:=DIR
world_name:=<its name> x:=.. y:=.. yaw:=..` (the command prints the start pose) and a params file
whose world_file is W.yaml.
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))  # ros2 launch does not add it

from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument, ExecuteProcess
from launch.conditions import IfCondition, UnlessCondition
from launch.substitutions import LaunchConfiguration, PathJoinSubstitution
from launch_ros.actions import Node

from _graph import ROOT, common_arguments, node_action  # noqa: I001
from cloud_brain.domain.description import load_world
from edge_nerve.bringup.graph import edge_graph
from sim.gazebo.sdf import ROBOT_MODEL, bridge_qos_overrides, spawn_pose


def generate_launch_description():
    desc = load_world()  # the default home: the files in sim/gazebo/generated are made from it
    pose = spawn_pose(desc)
    args = [
        DeclareLaunchArgument("cloud_address", default_value="127.0.0.1:50051",
                              description="host:port of the CloudBrain service cloud_link dials"),
        DeclareLaunchArgument("local_cloud", default_value="true",
                              description="start a planner service here, on cloud_port"),
        DeclareLaunchArgument("cloud_port", default_value="50051", description="port of the local cloud"),
        DeclareLaunchArgument("planner", default_value="moe", description="planner backend of the local cloud: moe or rules"),
        DeclareLaunchArgument("gz_dir", default_value=str(ROOT / "sim" / "gazebo" / "generated"),
                              description="folder with home.sdf, robot.sdf, bridge.yaml (python -m sim.gazebo.sdf)"),
        DeclareLaunchArgument("world_name", default_value=desc.name, description="<world name> in home.sdf"),
        DeclareLaunchArgument("headless", default_value="false", description="gz sim server only (-s)"),
        DeclareLaunchArgument("x", default_value=pose["x"], description="robot spawn x [m]"),
        DeclareLaunchArgument("y", default_value=pose["y"], description="robot spawn y [m]"),
        DeclareLaunchArgument("yaw", default_value=pose["Y"], description="robot spawn yaw [rad]"),
    ]
    gz_dir = LaunchConfiguration("gz_dir")
    world_sdf = PathJoinSubstitution([gz_dir, "home.sdf"])
    headless = LaunchConfiguration("headless")
    gazebo = [  # -r: run at once (the edge follows /clock)
        ExecuteProcess(cmd=["gz", "sim", "-r", "-s", world_sdf], name="gazebo", output="screen",
                       condition=IfCondition(headless)),
        ExecuteProcess(cmd=["gz", "sim", "-r", world_sdf], name="gazebo", output="screen",
                       condition=UnlessCondition(headless)),
    ]
    spawn = Node(package="ros_gz_sim", executable="create", name="spawn_robot", output="screen",
                 arguments=["-world", LaunchConfiguration("world_name"),
                            "-file", PathJoinSubstitution([gz_dir, "robot.sdf"]), "-name", ROBOT_MODEL,
                            "-x", LaunchConfiguration("x"), "-y", LaunchConfiguration("y"), "-z", pose["z"],
                            "-Y", LaunchConfiguration("yaw")])
    bridge = Node(package="ros_gz_bridge", executable="parameter_bridge", name="ros_gz_bridge", output="screen",
                  parameters=[{"config_file": PathJoinSubstitution([gz_dir, "bridge.yaml"]),
                               "use_sim_time": LaunchConfiguration("use_sim_time"), **bridge_qos_overrides()}])
    cloud = ExecuteProcess(  # the planner service (gRPC), as `brainstem cloud serve`
        cmd=[sys.executable, "-m", "cloud_brain.server.service", "--port", LaunchConfiguration("cloud_port"),
             "--planner", LaunchConfiguration("planner")], name="cloud", output="screen",
        condition=IfCondition(LaunchConfiguration("local_cloud")))
    actions = []
    for n in edge_graph(sim=False, gazebo=True):  # the edge nodes + gazebo_adapter
        extra = ["-p", ["cloud_address:=", LaunchConfiguration("cloud_address")]] if n.name == "cloud_link" else []
        actions.append(node_action(n, extra))
    return LaunchDescription([*common_arguments("gazebo.yaml", use_sim_time="true"), *args,
                              *gazebo, spawn, bridge, cloud, *actions])
