"""PlanSession alone (no gRPC): the protocol rules of brainstem.v1.CloudBrain.Session.

    python -m pytest -q tests/unit/test_session.py
"""

from __future__ import annotations

import pytest

from cloud_brain.domain.description import load_world
from cloud_brain.domain.plan import Step, trace
from cloud_brain.domain.state import WorldState
from cloud_brain.server.session import Malformed, PlanSession, SessionConfig
from cloud_brain.wire import (PROTOCOL_VERSION, pb, snapshot_from_proto, snapshot_to_proto,
                              step_from_proto, step_to_proto)

E = pb.Error


@pytest.fixture(scope="module")
def planner():
    base = pytest.importorskip("cloud_brain.planner.base", reason="rules planner not merged yet")
    return base.get_planner("rules")


@pytest.fixture(scope="module")
def world():
    return load_world()


@pytest.fixture
def session(planner, world):
    return PlanSession(planner, {world.name: world}, planner_name="rules")


def hello(robot_id="r1", version=PROTOCOL_VERSION, world_name="", last_acked=""):
    h = pb.Hello(protocol_version=version, robot_id=robot_id, last_acked_step_id=last_acked)
    if world_name:
        h.world.world_name = world_name
    return pb.EdgeMessage(hello=h)


def command(text, command_id="c1", world: dict | None = None):
    c = pb.Command(command_id=command_id, text=text)
    if world:
        c.world.CopyFrom(snapshot_to_proto(world))
    return pb.EdgeMessage(command=c)


def outcome(step: "pb.PlanStep", success=True, message="", world: dict | None = None):
    o = pb.StepOutcome(step_id=step.step_id, plan_id=step.plan_id, index=step.index,
                       success=success, message=message)
    if world:
        o.world.CopyFrom(snapshot_to_proto(world))
    return pb.EdgeMessage(outcome=o)


def run(session, msg) -> list:
    return list(session.handle(msg))


def kinds(msgs) -> list[str]:
    return [m.WhichOneof("kind") for m in msgs]


def greeted(session):
    out = run(session, hello())
    assert kinds(out) == ["welcome"]
    return out[0].welcome


def planned(session, text="bring me the red cup"):
    out = run(session, command(text))
    assert kinds(out)[-1] == "done", out
    return [m.step for m in out[:-1]], out[-1].done


# ---- wire converters ---------------------------------------------------------------------------
def test_snapshot_round_trip(world):
    state = WorldState.initial(world, {"objects": {"red_cup": "sofa"}, "user": "bedroom"})
    snap = state.to_snapshot()
    back = snapshot_from_proto(snapshot_to_proto(snap))
    assert back == snap
    assert WorldState.from_snapshot(world, back) == state


def test_step_round_trip():
    step = Step("place", ("red_cup", "sofa"))
    assert step_from_proto(step_to_proto(step)) == step


# ---- hello -------------------------------------------------------------------------------------
def test_welcome_after_hello(session):
    w = greeted(session)
    assert w.protocol_version == PROTOCOL_VERSION and w.session_id and w.planner == "rules"
    assert w.lease_s == SessionConfig().lease_s


@pytest.mark.parametrize("msg, code, words", [
    (hello(version=99), E.PROTOCOL, "protocol_version 99"),
    (hello(world_name="moon_base"), E.UNKNOWN_WORLD, "moon_base"),
    (hello(robot_id=""), E.MALFORMED, "robot_id"),
])
def test_bad_hello_is_an_error_and_the_session_stays_up(session, msg, code, words):
    out = run(session, msg)
    assert kinds(out) == ["error"] and out[0].error.code == code and words in out[0].error.message
    assert not session.greeted
    greeted(session)


def test_messages_before_hello_are_protocol_errors(session):
    out = run(session, command("bring me the red cup", "c0"))
    assert kinds(out) == ["error"]
    assert out[0].error.code == E.PROTOCOL and out[0].error.command_id == "c0"
    assert "before Hello" in out[0].error.message
    greeted(session)
    planned(session)


@pytest.mark.parametrize("msg, code", [
    (command("   "), E.MALFORMED),
    (command("bring me the red cup " * 200), E.TOO_LARGE),
    (command("go to the kitchen", command_id=""), E.MALFORMED),
    (pb.EdgeMessage(), E.MALFORMED),
    (Malformed("Wire format was corrupt", 7), E.MALFORMED),
    (command("go", world={"world_name": "home", "object_locations": {"unicorn": "sofa"}}),
     E.MALFORMED),
    (command("go", world={"world_name": "atlantis"}), E.UNKNOWN_WORLD),
])
def test_protocol_errors_keep_the_session_up(session, msg, code):
    greeted(session)
    out = run(session, msg)
    assert kinds(out) == ["error"] and out[0].error.code == code and out[0].error.message
    planned(session)


# ---- plans -------------------------------------------------------------------------------------
def test_plan_steps_then_done(session, world):
    greeted(session)
    steps, done = planned(session)
    assert len(steps) >= 3 and done.num_steps == len(steps) and done.revision == 0
    assert done.command_id == "c1" and done.plan_id == steps[0].plan_id and done.plan_ms >= 0
    for i, s in enumerate(steps):
        assert (s.index, s.revision, s.step_id) == (i, 0, f"{s.plan_id}/{i}")
        assert s.command_id == "c1" and s.lease_deadline_s > 0 and s.decode_ms >= 0
        assert s.speculative == (i > 0)
    # the plan runs symbolically from the world the edge said hello with, and ends delivered
    initial = WorldState.initial(world)
    states = trace([step_from_proto(s.skill) for s in steps], initial)
    assert states[-1].location_of("red_cup") == "user"
    assert snapshot_from_proto(steps[0].predicted_pre) == initial.to_snapshot()
    for s, pre in zip(steps, states):  # every step says which state it assumes
        assert snapshot_from_proto(s.predicted_pre) == pre.to_snapshot()


def test_each_plan_gets_a_new_id(session):
    greeted(session)
    a, _ = planned(session)
    b, _ = planned(session)
    assert a[0].plan_id != b[0].plan_id


def test_plans_from_the_commands_world(session, world):
    greeted(session)
    moved = WorldState.initial(world, {"objects": {"red_cup": "bed"}}).to_snapshot()
    out = run(session, command("bring me the red cup", world=moved))
    assert out[0].step.skill.name == "navigate" and out[0].step.skill.args == ["bed"]


def test_unknown_object_is_refused_with_a_reason(session):
    greeted(session)
    out = run(session, command("bring me the purple unicorn", "c9"))
    assert kinds(out) == ["refusal"]
    assert out[0].refusal.reason and out[0].refusal.command_id == "c9"


# ---- outcomes ----------------------------------------------------------------------------------
def test_success_commits_and_duplicates_are_ignored(session):
    greeted(session)
    steps, _ = planned(session)
    out = run(session, outcome(steps[0]))
    assert kinds(out) == ["commit"]
    assert (out[0].commit.plan_id, out[0].commit.upto_index) == (steps[0].plan_id, 0)
    assert run(session, outcome(steps[0])) == []
    assert run(session, outcome(steps[0], success=False)) == []  # same id: still a duplicate
    out = run(session, outcome(steps[1]))
    assert out[0].commit.upto_index == 1


def test_unknown_step_is_an_error(session):
    greeted(session)
    planned(session)
    out = run(session, pb.EdgeMessage(outcome=pb.StepOutcome(step_id="nope/3", success=True)))
    assert kinds(out) == ["error"] and out[0].error.code == E.UNKNOWN_STEP


def test_failure_rolls_back_and_replans_from_the_observed_world(session, world):
    greeted(session)
    steps, _ = planned(session)
    assert steps[1].skill.name == "pick"
    run(session, outcome(steps[0]))
    # the cup fell onto the floor... the edge reports it now lies on the sink
    observed = trace([step_from_proto(steps[0].skill)], WorldState.initial(world))[-1]
    observed = observed.with_object("red_cup", "sink")
    out = run(session, outcome(steps[1], success=False, message="cup slipped",
                               world=observed.to_snapshot()))
    assert kinds(out)[0] == "rollback" and kinds(out)[-1] == "done"
    rb = out[0].rollback
    assert (rb.plan_id, rb.from_index, rb.new_revision, rb.reason) == \
        (steps[0].plan_id, 1, 1, "cup slipped")
    new = [m.step for m in out[1:-1]]
    assert new and all(s.revision == 1 and s.plan_id == steps[0].plan_id for s in new)
    assert [s.index for s in new] == list(range(1, 1 + len(new)))
    assert not {s.step_id for s in new} & {s.step_id for s in steps}  # never reuse a step id
    assert new[0].skill.name == "navigate" and new[0].skill.args == ["sink"]
    done = out[-1].done
    assert done.revision == 1 and done.num_steps == 1 + len(new)
    # a late outcome of a withdrawn step is told apart from an unknown one
    late = run(session, outcome(steps[2]))
    assert kinds(late) == ["error"] and late[0].error.code == E.PROTOCOL
    # the new revision commits normally
    assert run(session, outcome(new[0]))[0].commit.revision == 1


def _planning(planner, world, max_replans: int):
    """A greeted session with max_replans, and the steps of its first plan."""
    s = PlanSession(planner, {world.name: world}, config=SessionConfig(max_replans=max_replans))
    greeted(s)
    steps, _ = planned(s)
    return s, steps


def test_replanning_gives_up_after_max_replans(planner, world):
    s, steps = _planning(planner, world, max_replans=1)
    out = run(s, outcome(steps[0], success=False, message="blocked"))
    assert kinds(out)[0] == "rollback" and kinds(out)[-1] == "done"
    again = out[1].step
    out = run(s, outcome(again, success=False, message="blocked again"))
    assert kinds(out) == ["rollback", "refusal"]
    assert "blocked again" in out[1].refusal.reason


def test_heartbeat_ack(session):
    greeted(session)
    out = run(session, pb.EdgeMessage(heartbeat=pb.Heartbeat(seq=7, edge_monotonic_s=1.5)))
    assert kinds(out) == ["heartbeat_ack"] and out[0].heartbeat_ack.seq == 7
    assert out[0].heartbeat_ack.lease_s > 0


def test_resume_resends_the_steps_after_the_last_acked_one(session):
    greeted(session)
    steps, _ = planned(session)
    run(session, outcome(steps[0]))
    out = run(session, hello(last_acked=steps[0].step_id))
    assert kinds(out)[0] == "welcome" and kinds(out)[-1] == "done"
    assert [m.step.step_id for m in out[1:-1]] == [s.step_id for s in steps[1:]]


# ---- streaming ---------------------------------------------------------------------------------
class _Streaming:
    """Wraps the real planner and offers stream(), recording how far it has been consumed."""

    def __init__(self, inner):
        self.inner, self.produced = inner, 0

    def plan(self, text, state):
        return self.inner.plan(text, state)

    def stream(self, text, state):
        for step in self.inner.plan(text, state).steps:
            self.produced += 1
            yield step


def test_streamed_steps_leave_as_soon_as_they_are_produced(planner, world):
    streaming = _Streaming(planner)
    s = PlanSession(streaming, {world.name: world})
    greeted(s)
    replies = s.handle(command("bring me the red cup"))
    first = next(replies)
    assert first.WhichOneof("kind") == "step" and streaming.produced == 1
    rest = list(replies)
    assert kinds(rest)[-1] == "done" and streaming.produced == len(rest)


def test_a_step_failing_the_same_way_twice_is_not_sent_a_third_time(planner, world):
    """"the hammer is too wide for the gripper" will not change by asking again: the second
    identical failure from the same state ends the plan and says why, well before max_replans."""
    s, steps = _planning(planner, world, max_replans=3)
    out = run(s, outcome(steps[0], success=False, message="too wide for the gripper"))
    assert kinds(out)[0] == "rollback" and kinds(out)[-1] == "done"
    again = out[1].step
    assert (again.skill.name, list(again.skill.args)) == (steps[0].skill.name, list(steps[0].skill.args))
    out = run(s, outcome(again, success=False, message="too wide for the gripper"))
    assert kinds(out) == ["rollback", "refusal"]
    assert "failed twice the same way" in out[1].refusal.reason and "too wide" in out[1].refusal.reason
    # a different failure is replanned as before
    s2, steps = _planning(planner, world, max_replans=3)
    out = run(s2, outcome(steps[0], success=False, message="blocked"))
    out = run(s2, outcome(out[1].step, success=False, message="wheel slipped"))
    assert kinds(out)[0] == "rollback" and kinds(out)[-1] == "done"
