"""Exactly-once and safety through real failures: cloud kill -9 + restart on its state DB, edge
restart on its step journal, a fuzz run against a live server, a small `bench chaos`.

Real processes and sockets: the cloud is `python -m cloud_brain.server.service` (SIGKILLed),
the link is gRPC through edge_nerve/link/delay_proxy.py, the robot is the timed stand-in.

    python -m pytest -q tests/integration/test_chaos.py
"""

from __future__ import annotations

import sqlite3
import threading
import time

import pytest

from cloud_brain.domain.goals import holds
from cloud_brain.domain.state import WorldState
from edge_nerve.bench.chaos import ChaosCloud, run_chaos_bench
from edge_nerve.bench.timed_robot import TimedRobot
from edge_nerve.link.client import ClientConfig
from edge_nerve.link.delay_proxy import DelayProxy

pytestmark = pytest.mark.integration

FAST = ClientConfig(connect_timeout_s=2.0, heartbeat_s=0.2, backoff_initial_s=0.05, backoff_max_s=0.5)
DURATIONS = {"navigate": 0.4, "pick": 0.4, "place": 0.4, "give": 0.4, "dock": 0.4, "say": 0.1}
RED_CUP_GOAL = [["delivered", "red_cup"]]


def goal_reached(world, runs) -> bool:
    return all(holds(g, world, [r.step for r in runs]) for g in RED_CUP_GOAL)


def wait_for(cond, timeout_s=15.0):
    deadline = time.monotonic() + timeout_s
    while not cond():
        assert time.monotonic() < deadline, "timed out waiting"
        time.sleep(0.01)


@pytest.fixture
def cloud(tmp_path):
    c = ChaosCloud(str(tmp_path / "cloud-state.db"), lease_s=2.0, step_lease_s=0.3)
    yield c
    c.close()


def test_kill9_cloud_mid_mission_then_restart_completes(cloud, tmp_path):
    with DelayProxy(cloud.address, rtt_ms=20) as proxy:
        robot = TimedRobot(proxy.address, WorldState.initial(), DURATIONS, robot_id="kill9",
                           config=FAST, journal_path=str(tmp_path / "journal.db"))
        with robot:
            box = {}
            t = threading.Thread(target=lambda: box.setdefault(
                "rec", robot.run_mission("bring me the red cup", timeout_s=60)))
            t.start()
            wait_for(lambda: len(robot.started_step_ids) >= 2)  # mid-mission: the pick runs
            session = robot.client.session_id
            cloud.kill9()
            time.sleep(0.2)
            cloud.start()
            t.join(70)
            rec = box["rec"]
            started = list(robot.started_step_ids)
            assert robot.client.reconnects >= 1
            assert robot.client.session_id == session  # the restarted cloud resumed the session
            assert not robot.unsafe_events, robot.unsafe_events
            world = robot.world
    assert rec.ok, (rec.refusal, rec.errors)
    assert goal_reached(world, rec.runs)
    assert len(started) == len(set(started))  # no step id twice
    # every step the robot ran successfully is acked in the restarted cloud's DB
    db = sqlite3.connect(cloud.state_db)
    acked = {s for s, ok in db.execute("SELECT step_id, success FROM outcomes") if ok}
    assert {r.step_id for r in rec.runs if r.success} <= acked


def test_edge_restart_mid_step_never_runs_a_step_twice(cloud, tmp_path):
    journal = str(tmp_path / "journal.db")
    with DelayProxy(cloud.address, rtt_ms=20) as proxy:
        a = TimedRobot(proxy.address, WorldState.initial(), DURATIONS, robot_id="restart",
                       config=FAST, journal_path=journal).start()
        box = {}
        t = threading.Thread(target=lambda: box.setdefault(
            "rec", a.run_mission("bring me the red cup", timeout_s=60)))
        t.start()
        wait_for(lambda: len(a.started_step_ids) >= 2)
        cut_short = a.started_step_ids[-1]
        a.stop()  # the edge dies mid-step: the step's effect never happens
        t.join(10)
        first = box["rec"]
        assert first.interrupted
        b = TimedRobot(proxy.address, a.world, DURATIONS, robot_id="restart", config=FAST,
                       journal_path=journal).start()
        try:
            second = b.adopt_mission(first.text, first.command_id, timeout_s=60)
            world = b.world
            assert not b.unsafe_events
        finally:
            b.stop()
    started = a.started_step_ids + b.started_step_ids
    assert len(started) == len(set(started)), started  # the cut-short step id never ran again
    assert cut_short not in b.started_step_ids
    assert second.rollbacks >= 1  # the cloud heard the cut-short step failed and replanned
    assert goal_reached(world, first.runs + second.runs)


def test_fuzz_against_a_live_server_no_crash_and_the_session_survives():
    from cloud_brain.security.guard import Limits
    from cloud_brain.server.service import serve
    from cloud_brain.server.session import SessionConfig
    from edge_nerve.bench.fuzz import run_fuzz

    srv, port = serve(0, "rules", config=SessionConfig(dedup_command_ids=True), store=":memory:",
                      limits=Limits(command_rate_per_s=1e4, command_burst=10**6,
                                    message_rate_per_s=1e6, message_burst=10**7))
    try:
        report = run_fuzz(f"127.0.0.1:{port}", cases=300, probe_every=100, seed=1)
        assert report["fuzz_cases"] == 300 and report["fuzz_crashes"] == 0, report
        assert report["probes"] >= 3  # a real command was answered after each 100 fuzz cases
        assert report["errors"], "malformed input is answered with typed Errors"
        # the server still plans for everyone
        with TimedRobot(f"127.0.0.1:{port}", WorldState.initial(), DURATIONS, robot_id="after-fuzz",
                        config=FAST) as r:
            r.durations_s = {k: 0.01 for k in DURATIONS}
            rec = r.run_mission("bring me the red cup", timeout_s=30)
        assert rec.ok
    finally:
        srv.stop(grace_s=0.5)


def test_bench_chaos_small_run(tmp_path):
    report = run_chaos_bench(missions=8, fuzz_cases=100, workdir=str(tmp_path), seed=3)
    assert report["trials"] == 8
    assert report["lost_steps"] == report["duplicated_steps"] == report["unsafe_events"] == 0, report
    assert report["unclear"] == 0, report["examples"]
    assert report["goals_reached"] + report["safe_failures"] == 8
    assert report["fuzz_cases"] == 100 and report["fuzz_crashes"] == 0
    assert report["injected"]["cloud_kills"] >= 1 and report["injected"]["edge_restarts"] >= 1


def test_command_lost_with_its_stream_is_sent_again_and_planned_once(cloud):
    from edge_nerve.link.client import CloudClient

    got = []
    with DelayProxy(cloud.address, rtt_ms=600) as proxy:  # 300 ms each way: time to cut it
        client = CloudClient(proxy.address, "lost-command", lambda: None, got.append, config=FAST)
        try:
            assert client.start(timeout_s=10)
            cid = client.send_command("bring me the red cup")
            time.sleep(0.05)
            assert proxy.drop_connections() >= 1  # the command dies in the proxy, unsent
            wait_for(lambda: any(m.WhichOneof("kind") == "done" for m in got), timeout_s=20)
            time.sleep(1.0)  # nothing more may come: one plan
        finally:
            client.stop()
    assert client.reconnects >= 1
    plans = {m.step.plan_id for m in got if m.WhichOneof("kind") == "step"}
    dones = [m.done for m in got if m.WhichOneof("kind") == "done"]
    assert len(plans) == 1 and {d.command_id for d in dones} == {cid}
