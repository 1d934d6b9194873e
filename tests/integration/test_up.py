"""`brainstem up --sim` starts every node of the graph for real and runs a multi-step mission;
`--record` leaves the run's MCAP in the run folder."""

import os
import re
import subprocess
import sys

import pytest

from edge_nerve.bringup.graph import edge_graph

pytestmark = pytest.mark.integration


def test_up_sim_starts_every_node_and_completes_a_mission(tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "ROS_DOMAIN_ID"}
    out = subprocess.run(
        [sys.executable, "-m", "cloud_brain.cli", "up", "--sim", "--real-time-factor", "3", "--duration", "1",
         "--run-dir", str(tmp_path), "--command", "take the book to the shelf"],
        capture_output=True, text=True, timeout=240, env=env)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    for node in edge_graph(sim=True):
        assert re.search(rf"^\s+{node.name}\s+pid \d+", out.stdout, re.M), f"{node.name} not started"
    assert re.search(r"^\s+cloud\s+pid \d+", out.stdout, re.M)
    assert "-> SATISFIED" in out.stdout
    assert (tmp_path / "mission.json").exists()


def test_up_record_writes_the_mcap_into_the_run_folder(tmp_path):
    """A short `up --sim --record` (no command): the recorder node is part of the graph and the
    MCAP holds the sim's sensor topics and the link state when the graph stops."""
    from mcap.reader import make_reader

    env = {k: v for k, v in os.environ.items() if k != "ROS_DOMAIN_ID"}
    out = subprocess.run(
        [sys.executable, "-m", "cloud_brain.cli", "up", "--sim", "--duration", "3", "--record",
         "--run-dir", str(tmp_path)], capture_output=True, text=True, timeout=180, env=env)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    assert re.search(r"^\s+recorder\s+pid \d+", out.stdout, re.M), out.stdout[-2000:]
    mcap = tmp_path / "mission.mcap"
    assert f"recording: {mcap}" in out.stdout
    with open(mcap, "rb") as f:
        summary = make_reader(f).get_summary()
    counts = {summary.channels[cid].topic: n for cid, n in summary.statistics.channel_message_counts.items()}
    for topic in ("/odom", "/joint_states", "/sim/object_states", "/brainstem/link"):
        assert counts.get(topic, 0) > 0, (topic, counts)


def test_up_gazebo_runs_the_gazebo_graph_on_sim_time(tmp_path):
    """`up --gazebo` (no ros2 launch): the edge nodes and the gazebo_adapter, following /clock; here
    the bridge stand-in (sim/gazebo/standin_node.py) plays Gazebo, and the recording shows the
    adapter's object states built from its bridged topics."""
    from mcap.reader import make_reader

    from edge_nerve.bringup.graph import reserve_ros_domain

    domain, lock = reserve_ros_domain()
    env = dict(os.environ, ROS_DOMAIN_ID=str(domain), ROS_AUTOMATIC_DISCOVERY_RANGE="LOCALHOST")
    standin = subprocess.Popen([sys.executable, "-m", "sim.gazebo.standin_node"], env=env,
                               stdout=open(tmp_path / "standin.log", "wb"), stderr=subprocess.STDOUT)
    try:
        out = subprocess.run(
            [sys.executable, "-m", "cloud_brain.cli", "up", "--gazebo", "--duration", "8", "--record",
             "--run-dir", str(tmp_path / "run")], capture_output=True, text=True, timeout=180, env=env)
    finally:
        standin.send_signal(2)
        standin.wait(10)
        lock.close()
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    for node in edge_graph(sim=False, gazebo=True):
        assert re.search(rf"^\s+{node.name}\s+pid \d+", out.stdout, re.M), f"{node.name} not started"
    params = (tmp_path / "run" / "params.yaml").read_text()
    assert params.count("use_sim_time: true") == len(edge_graph(sim=False, gazebo=True, record="x"))
    with open(tmp_path / "run" / "mission.mcap", "rb") as f:
        summary = make_reader(f).get_summary()
    counts = {summary.channels[cid].topic: n for cid, n in summary.statistics.channel_message_counts.items()}
    assert counts.get("/sim/object_states", 0) > 0 and counts.get("/odom", 0) > 0, counts
