"""`brainstem up --sim` starts every node of the graph for real and runs a multi-step mission."""

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
