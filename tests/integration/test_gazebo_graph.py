"""The Gazebo node graph (launch/gazebo.launch.py's: edge nodes + gazebo_adapter, a local cloud)
completes a pick-and-give mission, each node its own process over DDS. Gazebo itself is not
installed here: sim/gazebo/standin_node.py plays Gazebo + ros_gz_bridge on exactly the bridged
topics, so the object states the mission depends on (holding, delivered) come from the adapter."""

from __future__ import annotations

import os
import sys

import pytest

from cloud_brain.domain.description import load_world
from edge_nerve.bringup.demo import free_port
from edge_nerve.bringup.graph import ProcessGroup, edge_graph, reserve_ros_domain, write_params

pytestmark = pytest.mark.integration


def test_gazebo_graph_delivers_the_red_cup_against_a_bridge_standin(tmp_path, monkeypatch):
    domain, lock = reserve_ros_domain()
    monkeypatch.setenv("ROS_DOMAIN_ID", str(domain))
    monkeypatch.setenv("ROS_AUTOMATIC_DISCOVERY_RANGE", "LOCALHOST")
    desc = load_world()
    port = free_port()
    nodes = edge_graph(sim=False, gazebo=True, cloud_address=f"127.0.0.1:{port}")
    assert [n.name for n in nodes][-1] == "gazebo_adapter"
    node = None
    try:
        with ProcessGroup(tmp_path / "logs", dict(os.environ)) as procs:
            procs.start("cloud", [sys.executable, "-m", "cloud_brain.server.service", "--port", str(port),
                                  "--planner", "rules"])
            procs.start("gazebo_standin", [sys.executable, "-m", "sim.gazebo.standin_node", "--ros-args",
                                           "-p", "real_time_factor:=2.0"])
            procs.start_nodes(nodes, write_params(nodes, tmp_path / "params.yaml"))

            def check_alive():
                dead = procs.dead()
                if dead:
                    name, rc = next(iter(dead.items()))
                    raise RuntimeError(f"'{name}' exited with code {rc}:\n{procs.log_tail(name, 40)}")

            from edge_nerve.bringup.mission_node import MissionNode

            node = MissionNode(desc)
            node.wait_ready(90.0, check_alive)
            trace = node.run_command("bring me the red cup", 240.0, check_alive, print)
            assert trace.error is None and not trace.refusal, trace.error or trace.refusal
            skills = [s.skill for s in trace.executed]
            assert "pick" in skills and "give" in skills, skills
            state = node.world_state()  # as the adapter reported it on sim/object_states
            assert "red_cup" in node.tracker.delivered, (state, procs.log_tail("gazebo_adapter"))
    finally:
        if node is not None:
            node.close()
        lock.close()
