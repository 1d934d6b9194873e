"""Step streaming and plan prefetch over real gRPC through the latency-injecting proxy.

A real CloudBrain server (rules planner), edge_nerve/link/delay_proxy.py in between, and the
timed robot stand-in (edge_nerve/bench/timed_robot.py: the real CloudClient and PlanExecutor,
symbolic skills that take a few ms). Assertions are about order and counts, and timing bounds
only in the direction load cannot fake (a delay injected on purpose is never shorter).

    python -m pytest -q tests/integration/test_prefetch_link.py
"""

from __future__ import annotations

import queue
import threading
import time

import pytest

from cloud_brain.domain.goals import holds
from cloud_brain.domain.state import WorldState
from edge_nerve.bench.timed_robot import Fault, TimedRobot
from edge_nerve.link.client import ClientConfig, CloudClient
from edge_nerve.link.delay_proxy import DelayProxy

pytestmark = pytest.mark.integration

from cloud_brain.server.service import serve  # noqa: E402

RTT_MS = 60.0
FAST = ClientConfig(connect_timeout_s=5.0, heartbeat_s=0.2, backoff_initial_s=0.05, backoff_max_s=0.5)
DURATIONS = {"navigate": 0.05, "pick": 0.05, "place": 0.05, "give": 0.05, "dock": 0.05, "say": 0.02}
RED_CUP_GOAL = [["delivered", "red_cup"]]


class PacedPlanner:
    """The rules planner, yielding its steps one at a time `pace_s` apart, as a slow
    incremental decoder (the MoE backend's stream) would."""

    name = "paced-rules"

    def __init__(self, inner, pace_s: float):
        self.inner, self.pace_s = inner, pace_s

    def plan(self, text, state):
        return self.inner.plan(text, state)

    def stream(self, text, state):
        for step in self.inner.plan(text, state).steps:
            time.sleep(self.pace_s)
            yield step


@pytest.fixture(scope="module")
def cloud():
    srv, port = serve(0, "rules")
    yield port
    srv.stop(grace_s=1.0)


@pytest.fixture
def proxy(cloud):
    with DelayProxy(f"127.0.0.1:{cloud}", rtt_ms=RTT_MS) as p:
        yield p


def robot(proxy, name, faults=(), world=None) -> TimedRobot:
    return TimedRobot(proxy.address, world or WorldState.initial(), DURATIONS, robot_id=name,
                      faults=list(faults), config=FAST)


def goal_reached(rec, goal) -> bool:
    return rec.final_world is not None and all(
        holds(g, rec.final_world, [r.step for r in rec.runs]) for g in goal)


# ---- step streaming ------------------------------------------------------------------------
class Arrivals:
    """on_message for a bare CloudClient: (kind, message, arrival time) on a queue."""

    def __init__(self):
        self.q: queue.Queue = queue.Queue()

    def __call__(self, msg):
        kind = msg.WhichOneof("kind")
        if kind != "heartbeat_ack":
            self.q.put((kind, msg, time.monotonic()))

    def until(self, *kinds, timeout_s=10.0):
        out, deadline = [], time.monotonic() + timeout_s
        while True:
            item = self.q.get(timeout=max(0.01, deadline - time.monotonic()))
            out.append(item)
            if item[0] in kinds:
                return out


@pytest.fixture(scope="module")
def paced_cloud():
    from cloud_brain.planner.base import get_planner

    pace = 0.25
    srv, port = serve(0, "paced-rules", planner=PacedPlanner(get_planner("rules"), pace))
    yield port, pace
    srv.stop(grace_s=1.0)


@pytest.mark.parametrize("delivery", ["prefetch", "full_plan", "per_step"])
def test_steps_leave_the_server_as_the_planner_yields_them(paced_cloud, delivery):
    port, pace = paced_cloud
    arrivals = Arrivals()
    with DelayProxy(f"127.0.0.1:{port}", rtt_ms=RTT_MS) as proxy:
        client = CloudClient(proxy.address, f"robot-stream-{delivery}", lambda: None, arrivals,
                             config=FAST)
        try:
            assert client.start()
            arrivals.until("welcome")
            client.send_command("bring me the red cup", delivery=delivery)
            got = arrivals.until("done", "refusal", "error")
        finally:
            client.stop()
    kinds = [k for k, _, _ in got]
    assert kinds[-1] == "done", kinds
    steps = [(m.step, t) for k, m, t in got if k == "step"]
    n = got[-1][1].done.num_steps
    assert n == 4
    t_first, t_done = steps[0][1], got[-1][2]
    if delivery == "prefetch":  # streamed: step 0 arrives while the other three are decoded
        assert len(steps) == n and t_done - t_first >= (n - 1) * pace * 0.8
        assert [s.speculative for s, _ in steps] == [False, True, True, True]
        assert all(s.HasField("predicted_pre") for s, _ in steps)
    elif delivery == "full_plan":  # nothing leaves before the plan is complete
        assert len(steps) == n and t_done - t_first < pace
        assert not any(s.speculative for s, _ in steps)
    else:  # per_step: one step, the rest wait for outcomes
        assert [s.index for s, _ in steps] == [0] and not steps[0][0].speculative


def test_per_step_releases_the_next_step_on_each_outcome(proxy):
    arrivals = Arrivals()
    client = CloudClient(proxy.address, "robot-per-step", lambda: None, arrivals, config=FAST)
    try:
        assert client.start()
        arrivals.until("welcome")
        client.send_command("bring me the red cup", delivery="per_step")
        got = arrivals.until("done")
        step = next(m.step for k, m, _ in got if k == "step")
        indexes = [step.index]
        while True:
            t_sent = time.monotonic()
            client.send_outcome(step.step_id, step.plan_id, step.index, True)
            more = arrivals.until("commit")
            assert more[-1][1].commit.upto_index == step.index
            if step.index == 3:
                break
            (kind, msg, t_got), = arrivals.until("step")
            assert t_got - t_sent >= RTT_MS / 1e3 * 0.95  # a full round trip per step
            step = msg.step
            indexes.append(step.index)
    finally:
        client.stop()
    assert indexes == [0, 1, 2, 3]


# ---- plan prefetch -------------------------------------------------------------------------
def test_prefetch_runs_speculative_steps_back_to_back(proxy):
    with robot(proxy, "robot-prefetch") as r:
        rec = r.run_mission("bring me the red cup", "prefetch", timeout_s=20)
    assert rec.ok and goal_reached(rec, RED_CUP_GOAL)
    assert [x.speculative for x in rec.runs] == [False, True, True, True]
    assert rec.rollbacks == 0 and rec.wasted_steps == 0
    assert rec.first_action_ms >= RTT_MS * 0.95  # the command and the first step cross the link
    # no step waited for a round trip: each started long before an outcome could be answered
    assert max(rec.idle_gaps_ms) < RTT_MS * 0.9, rec.idle_gaps_ms


def test_injected_failure_rolls_back_and_the_replanned_plan_reaches_the_goal(proxy):
    with robot(proxy, "robot-fail", [Fault("pick", ("red_cup",), "fail")]) as r:
        rec = r.run_mission("bring me the red cup", "prefetch", timeout_s=20)
        started = list(r.started_step_ids)
        duplicates = list(r.duplicate_starts)
    assert rec.ok, (rec.refusal, rec.errors)
    assert rec.rollbacks == 1
    failed = [x for x in rec.runs if x.success is False]
    assert [str(x.step) for x in failed] == ["pick(red_cup)"]
    replanned = [x for x in rec.runs if "@r1" in x.step_id]
    assert replanned and str(replanned[0].step) == "pick(red_cup)" and not replanned[0].speculative
    assert goal_reached(rec, RED_CUP_GOAL)
    assert len(started) == len(set(started)) and not duplicates  # no step id ran twice
    # the withdrawn speculative tail (navigate(user), give) never ran
    assert rec.wasted_steps == 2 and not rec.rejected


def test_speculative_step_whose_prediction_fails_locally_is_never_started(proxy):
    # navigate reports success but the robot did not get there: pick's predicted precondition
    # (robot at the kitchen counter) does not hold, so pick must not start
    fault = Fault("navigate", ("kitchen_counter",), "wrong_outcome")
    with robot(proxy, "robot-mismatch", [fault]) as r:
        rec = r.run_mission("bring me the red cup", "prefetch", timeout_s=20)
        started = list(r.started_step_ids)
    assert rec.ok, (rec.refusal, rec.errors)
    (rejected_id, why), = rec.rejected.items()
    assert rejected_id.endswith("/1") and "predicted precondition does not hold" in why
    assert "robot_at" in why
    assert rejected_id not in started  # never started
    assert rec.received[rejected_id].speculative
    assert rec.rollbacks == 1
    assert [str(x.step) for x in rec.runs][:2] == ["navigate(kitchen_counter)", "navigate(kitchen_counter)"]
    assert goal_reached(rec, RED_CUP_GOAL) and len(started) == len(set(started))


def test_no_step_runs_twice_when_the_link_drops_mid_mission(proxy):
    with robot(proxy, "robot-outage") as r:
        r.durations_s = {k: 0.3 for k in DURATIONS}  # long enough to drop the link mid-step
        r.run_mission("go to the kitchen", "prefetch", timeout_s=20)  # warm the session
        done = queue.Queue()
        t = threading.Thread(target=lambda: done.put(
            r.run_mission("bring me the red cup", "prefetch", timeout_s=30)))
        t.start()
        deadline = time.monotonic() + 10
        while len(r.started_step_ids) < 2 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert proxy.drop_connections() >= 1  # the stream dies while navigate runs
        rec = done.get(timeout=40)
        t.join(5)
        started = list(r.started_step_ids)
        reconnects = r.client.reconnects
    assert reconnects >= 1
    assert rec.ok, (rec.refusal, rec.errors)
    assert goal_reached(rec, RED_CUP_GOAL)
    assert len(started) == len(set(started)) and not r.duplicate_starts


def test_bench_prefetch_small_run(cloud):
    from edge_nerve.bench.prefetch import STRATEGIES, run_prefetch_bench

    rtt = 80.0
    report = run_prefetch_bench(rtt_ms=rtt, missions=2, time_scale=0.005,
                                cloud_address=f"127.0.0.1:{cloud}", mission_timeout_s=30)
    assert report["rtt_ms"] == rtt and set(report["strategies"]) == set(STRATEGIES)
    assert "MuJoCo" in report["skills"]["durations_source"]
    for name, s in report["strategies"].items():
        assert s["goal_reached"] == s["missions"] == 2, (name, s)
        assert s["duplicate_step_starts"] == 0 and s["rollbacks"] == 0
        assert s["first_action_ms"]["p50"] >= rtt * 0.95
        assert set(s["idle_gap_ms"]) >= {"p50", "p95"} and s["mission_s"]["p50"] > 0
    assert report["strategies"]["per_step"]["idle_gap_ms"]["p50"] >= rtt * 0.95
    assert report["strategies"]["prefetch"]["idle_gap_ms"]["max"] < rtt * 0.9
