"""`brainstem demo --record`: an MCAP of a real mission that Foxglove and `brainstem report` read."""

import pytest
from mcap.reader import make_reader

from edge_nerve.bringup.demo import Mission
from edge_nerve.bringup.report import report

pytestmark = pytest.mark.integration


def test_a_recorded_mission_holds_the_control_topics_and_plan_events(tmp_path):
    with Mission(real_time_factor=3.0, run_dir=tmp_path, echo=print, record=True, render_pictures=False) as m:
        assert m.run("go to the bathroom", timeout_s=120).ok
    mcap = tmp_path / "mission.mcap"
    with open(mcap, "rb") as f:
        reader = make_reader(f)
        summary = reader.get_summary()
        counts = {summary.channels[cid].topic: n for cid, n in summary.statistics.channel_message_counts.items()}
    for topic in ("/cmd_vel", "/odom", "/joint_states", "/brainstem/plan_events", "/brainstem/step_outcomes",
                  "/brainstem/command"):
        assert counts.get(topic, 0) > 0, (topic, counts)
    out = report(mcap, tmp_path / "report")
    assert any(line for line in out["timeline"] if "navigate(bathroom)" in str(line))
    assert len(out["pngs"]) == 3 and all(p.exists() and p.stat().st_size > 1000 for p in map(type(mcap), out["pngs"].values()))
