"""The recorder node writes an MCAP file Foxglove can read, and report() reads it back.

A real recorder process on its own ROS domain; this test publishes to it like the edge nodes do.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest
from mcap.reader import make_reader
from mcap_ros2._dynamic import generate_dynamic
from mcap_ros2.decoder import DecoderFactory

from edge_nerve.bringup.graph import reserve_ros_domain
from edge_nerve.bringup.report import report
from edge_nerve.nodes.recorder import KNOWN_TOPICS, msgdef_text, starts_with_stamp


@pytest.mark.parametrize("topic", list(KNOWN_TOPICS))
def test_every_default_topic_has_a_parsable_schema(topic):
    type_name = KNOWN_TOPICS[topic][0]
    assert type_name in generate_dynamic(type_name, msgdef_text(type_name))


def test_schema_text_nests_dependencies_once():
    text = msgdef_text("nav_msgs/msg/Odometry")
    msg_lines = [line for line in text.splitlines() if line.startswith("MSG: ")]
    assert len(msg_lines) == len(set(msg_lines))
    assert "MSG: geometry_msgs/Pose" in msg_lines and "MSG: std_msgs/Header" in msg_lines
    assert starts_with_stamp("nav_msgs/msg/Odometry") and starts_with_stamp("brainstem_interfaces/msg/PlanEvent")
    assert not starts_with_stamp("geometry_msgs/msg/Twist")


@pytest.fixture
def ros_domain(monkeypatch):
    domain, lock = reserve_ros_domain()
    monkeypatch.setenv("ROS_DOMAIN_ID", str(domain))
    monkeypatch.setenv("ROS_AUTOMATIC_DISCOVERY_RANGE", "LOCALHOST")
    yield domain
    lock.close()


def _wait(predicate, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def test_recorder_writes_mcap_and_report_reads_it(tmp_path, ros_domain):
    import rclpy
    from brainstem_interfaces.msg import PlanEvent, StepOutcome
    from geometry_msgs.msg import Twist
    from nav_msgs.msg import Odometry
    from rclpy.context import Context
    from std_msgs.msg import String

    from edge_nerve.nodes.common import (CONTROL_QOS, LATCHED_QOS, PLAN_QOS, SENSOR_QOS, Topics)

    path = tmp_path / "run.mcap"
    topics = [Topics.CMD_VEL, Topics.ODOM, Topics.PLAN_EVENTS, Topics.STEP_OUTCOMES, Topics.LINK_STATE,
              "test/chatter"]  # the last is of no known type: found on the graph
    log = open(tmp_path / "recorder.log", "wb")
    proc = subprocess.Popen([sys.executable, "-m", "edge_nerve.nodes.recorder", "--ros-args",
                             "-p", f"path:={path}", "-p", f"topics:=[{', '.join(topics)}]",
                             "-p", "discovery_period_s:=0.1"],
                            stdout=log, stderr=subprocess.STDOUT, env=dict(os.environ))
    ctx = Context()
    rclpy.init(context=ctx)
    node = rclpy.create_node("recording_test", context=ctx)
    try:
        pubs = {
            Topics.CMD_VEL: node.create_publisher(Twist, Topics.CMD_VEL, CONTROL_QOS),
            Topics.ODOM: node.create_publisher(Odometry, Topics.ODOM, SENSOR_QOS),
            Topics.PLAN_EVENTS: node.create_publisher(PlanEvent, Topics.PLAN_EVENTS, PLAN_QOS),
            Topics.STEP_OUTCOMES: node.create_publisher(StepOutcome, Topics.STEP_OUTCOMES, PLAN_QOS),
            "test/chatter": node.create_publisher(String, "test/chatter", PLAN_QOS),
        }
        link = node.create_publisher(String, Topics.LINK_STATE, LATCHED_QOS)
        link.publish(String(data="up"))  # before the recorder is there: it still gets it (latched)
        _wait(lambda: all(p.get_subscription_count() > 0 for p in pubs.values()) and proc.poll() is None,
              20.0, f"the recorder's subscriptions (log: {(tmp_path / 'recorder.log').read_text()})")

        for i, (kind, skill) in enumerate([("step", "navigate"), ("step", "pick"), ("rollback", ""),
                                           ("step", "pick"), ("done", "")]):
            ev = PlanEvent(kind=kind, index=min(i, 1), skill=skill, args=["kitchen"], decode_ms=10.0 + i)
            ev.stamp = node.get_clock().now().to_msg()
            pubs[Topics.PLAN_EVENTS].publish(ev)
        for i, ok in enumerate([True, False]):
            pubs[Topics.STEP_OUTCOMES].publish(StepOutcome(index=i, skill="navigate", success=ok,
                                                           duration_s=1.5 + i, message="" if ok else "blocked"))
        pubs["test/chatter"].publish(String(data="hello"))
        odom_stamp = (1234, 5678)
        for i in range(5):
            pubs[Topics.CMD_VEL].publish(Twist())
            odom = Odometry()
            odom.header.stamp.sec, odom.header.stamp.nanosec = odom_stamp
            pubs[Topics.ODOM].publish(odom)
            time.sleep(0.02)
        time.sleep(0.5)  # let the recorder take them all before it is stopped
    finally:
        node.destroy_node()
        rclpy.shutdown(context=ctx)
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)
        try:
            rc = proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
            raise
        log.close()
    assert rc == 0, (tmp_path / "recorder.log").read_text()

    with open(path, "rb") as f:
        reader = make_reader(f, decoder_factories=[DecoderFactory()])
        summary = reader.get_summary()  # present only when the writer finished cleanly
        assert summary is not None and summary.statistics is not None
        assert reader.get_header().profile == "ros2"
        counts = {summary.channels[cid].topic: n for cid, n in summary.statistics.channel_message_counts.items()}
        assert counts == {"/cmd_vel": 5, "/odom": 5, "/brainstem/plan_events": 5,
                          "/brainstem/step_outcomes": 2, "/brainstem/link": 1, "/test/chatter": 1}
        types = {c.topic: summary.schemas[c.schema_id].name for c in summary.channels.values()}
        assert types["/test/chatter"] == "std_msgs/msg/String"
        assert types["/brainstem/plan_events"] == "brainstem_interfaces/msg/PlanEvent"
        odoms = list(reader.iter_decoded_messages(topics=["/odom"]))
        assert all(m.publish_time == odom_stamp[0] * 10**9 + odom_stamp[1] for _, _, m, _ in odoms)
        assert all(m.log_time > m.publish_time for _, _, m, _ in odoms)  # received now, stamped in 1970
        kinds = [d.kind for _, _, _, d in reader.iter_decoded_messages(topics=["/brainstem/plan_events"])]
        assert kinds == ["step", "step", "rollback", "step", "done"]

    result = report(path, tmp_path / "report", stream=None)
    assert result["counts"]["/brainstem/plan_events"] == 5
    assert result["decode_ms"] == [10.0, 11.0, 13.0] and result["step_s"] == [1.5, 2.5]
    assert len(result["cmd_vel_jitter_ms"]) == 4
    assert any("ROLLBACK" in line for line in result["timeline"])
    assert any("FAILED" in line and "blocked" in line for line in result["timeline"])
    for png in result["pngs"].values():
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_stopping_the_recorder_mid_stream_keeps_every_message_it_counted(tmp_path, ros_domain):
    """SIGINT while messages pour in (a mission ending): whatever the recorder counted is in the
    file. Small chunks make the writer close one every few messages, where an interrupt once
    cost a mission its whole recording."""
    import threading

    import rclpy
    from nav_msgs.msg import Odometry
    from rclpy.context import Context

    from edge_nerve.nodes.common import SENSOR_QOS, Topics

    for trial in range(3):
        path = tmp_path / f"run{trial}.mcap"
        log = open(tmp_path / f"recorder{trial}.log", "wb")
        proc = subprocess.Popen([sys.executable, "-m", "edge_nerve.nodes.recorder", "--ros-args",
                                 "-p", f"path:={path}", "-p", f"topics:=[{Topics.ODOM}]", "-p", "chunk_kib:=2"],
                                stdout=log, stderr=subprocess.STDOUT, env=dict(os.environ))
        ctx = Context()
        rclpy.init(context=ctx)
        node = rclpy.create_node("recording_stress", context=ctx)
        stop = threading.Event()
        flooder = None
        try:
            pub = node.create_publisher(Odometry, Topics.ODOM, SENSOR_QOS)
            _wait(lambda: pub.get_subscription_count() > 0 and proc.poll() is None, 20.0, "the recorder")

            def flood():
                msg = Odometry()
                while not stop.is_set():
                    pub.publish(msg)
                    time.sleep(0.0005)
            flooder = threading.Thread(target=flood)
            flooder.start()
            time.sleep(0.7 + 0.13 * trial)
            proc.send_signal(signal.SIGINT)
            rc = proc.wait(20)
        finally:
            stop.set()
            if flooder is not None:  # not started when the recorder never came up
                flooder.join()
            node.destroy_node()
            rclpy.shutdown(context=ctx)
            if proc.poll() is None:
                proc.kill()
                proc.wait()
            log.close()
        assert rc == 0, (tmp_path / f"recorder{trial}.log").read_text()
        with open(path, "rb") as f:
            reader = make_reader(f)
            counted = reader.get_summary().statistics.message_count
            read = sum(1 for _ in reader.iter_messages())
        assert counted > 100 and read == counted, (trial, counted, read)
