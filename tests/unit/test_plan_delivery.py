"""Plan delivery (prefetch / full_plan / per_step) in PlanSession, and the edge's prediction check
in PlanExecutor: both without gRPC (tests/integration/test_prefetch_link.py runs them over it).

    python -m pytest -q tests/unit/test_plan_delivery.py
"""

from __future__ import annotations

import pytest

from cloud_brain.domain.description import load_world
from cloud_brain.domain.plan import Step
from cloud_brain.domain.skills import apply
from cloud_brain.domain.state import WorldState
from cloud_brain.server.session import PlanSession
from cloud_brain.wire import PROTOCOL_VERSION, pb, snapshot_from_proto, snapshot_to_proto
from edge_nerve.execution import PlanExecutor, QueuedStep, prediction_mismatch

E = pb.Error


@pytest.fixture(scope="module")
def world():
    return load_world()


@pytest.fixture(scope="module")
def planner():
    from cloud_brain.planner.base import get_planner

    return get_planner("rules")


class Counting:
    """The rules planner, streaming, counting how many steps it has produced so far."""

    name = "counting"

    def __init__(self, inner):
        self.inner, self.produced = inner, 0

    def plan(self, text, state):
        return self.inner.plan(text, state)

    def stream(self, text, state):
        for step in self.inner.plan(text, state).steps:
            self.produced += 1
            yield step


def greeted(planner, world) -> PlanSession:
    s = PlanSession(planner, {world.name: world})
    list(s.handle(pb.EdgeMessage(hello=pb.Hello(protocol_version=PROTOCOL_VERSION, robot_id="r1"))))
    return s


def command(text, delivery, cid="c1"):
    return pb.EdgeMessage(command=pb.Command(command_id=cid, text=text, delivery=delivery))


def outcome(step, success=True, world=None, rejected=False, message=""):
    o = pb.StepOutcome(step_id=step.step_id, plan_id=step.plan_id, index=step.index,
                       success=success, rejected=rejected, message=message)
    if world is not None:
        o.world.CopyFrom(snapshot_to_proto(world.to_snapshot()))
    return pb.EdgeMessage(outcome=o)


def kinds(msgs):
    return [m.WhichOneof("kind") for m in msgs]


# ---- the cloud -------------------------------------------------------------------------------
def test_prefetch_streams_and_flags_later_steps_speculative_with_predictions(planner, world):
    counting = Counting(planner)
    s = greeted(counting, world)
    replies = s.handle(command("bring me the red cup", pb.PLAN_DELIVERY_PREFETCH))
    first = next(replies)
    assert first.WhichOneof("kind") == "step" and counting.produced == 1  # before the rest
    steps = [first.step] + [m.step for m in replies if m.WhichOneof("kind") == "step"]
    assert [x.speculative for x in steps] == [False, True, True, True]
    state = WorldState.initial(world)
    for x in steps:  # each prediction is the symbolic state after the steps before it
        assert snapshot_from_proto(x.predicted_pre) == state.to_snapshot()
        state = apply(Step(x.skill.name, tuple(x.skill.args)), state)


def test_full_plan_sends_nothing_before_the_plan_is_complete(planner, world):
    counting = Counting(planner)
    s = greeted(counting, world)
    replies = s.handle(command("bring me the red cup", pb.PLAN_DELIVERY_FULL_PLAN))
    first = next(replies)
    assert first.WhichOneof("kind") == "step" and counting.produced == 4
    rest = list(replies)
    assert kinds(rest) == ["step", "step", "step", "done"]
    assert not any(m.step.speculative for m in [first] + rest[:-1])


def test_per_step_sends_one_step_per_success_outcome(planner, world):
    s = greeted(planner, world)
    msgs = list(s.handle(command("bring me the red cup", pb.PLAN_DELIVERY_PER_STEP)))
    assert kinds(msgs) == ["step", "done"] and msgs[1].done.num_steps == 4
    step, state = msgs[0].step, WorldState.initial(world)
    seen = [step.index]
    for i in range(3):
        state = apply(Step(step.skill.name, tuple(step.skill.args)), state)
        replies = list(s.handle(outcome(step, world=state)))
        assert kinds(replies) == ["commit", "step"]
        step = replies[1].step
        assert not step.speculative and step.index == i + 1
        seen.append(step.index)
    assert kinds(list(s.handle(outcome(step)))) == ["commit"]  # the last one: nothing follows
    assert seen == [0, 1, 2, 3]


def test_per_step_failure_rolls_back_and_sends_only_the_replanned_first_step(planner, world):
    s = greeted(planner, world)
    step = list(s.handle(command("bring me the red cup", pb.PLAN_DELIVERY_PER_STEP)))[0].step
    replies = list(s.handle(outcome(step, success=False, message="wheel slipped",
                                    world=WorldState.initial(world))))
    assert kinds(replies) == ["rollback", "step", "done"]
    assert replies[1].step.index == 0 and replies[1].step.revision == 1
    assert replies[1].step.step_id != step.step_id  # a new id: the edge may run it


def test_rejected_speculative_step_rolls_back_and_replans_from_the_observed_state(planner, world):
    s = greeted(planner, world)
    msgs = list(s.handle(command("bring me the red cup", pb.PLAN_DELIVERY_PREFETCH)))
    s0, s1 = msgs[0].step, msgs[1].step
    observed = WorldState.initial(world)  # navigate "succeeded" but the robot did not move
    assert kinds(list(s.handle(outcome(s0, world=observed)))) == ["commit"]
    replies = list(s.handle(outcome(s1, success=False, rejected=True, world=observed)))
    assert kinds(replies)[0] == "rollback" and replies[0].rollback.from_index == 1
    assert "not started" in replies[0].rollback.reason
    new = [m.step for m in replies if m.WhichOneof("kind") == "step"]
    assert new[0].skill.name == "navigate" and not new[0].speculative  # from the real state
    assert snapshot_from_proto(new[0].predicted_pre) == observed.to_snapshot()


def test_unknown_delivery_is_malformed(planner, world):
    s = greeted(planner, world)
    (reply,) = list(s.handle(command("bring me the red cup", 7)))
    assert reply.error.code == E.MALFORMED and "PlanDelivery" in reply.error.message


# ---- the edge --------------------------------------------------------------------------------
class Edge:
    """A PlanExecutor over a settable state, recording dispatches and reports."""

    def __init__(self, state, settle_s=0.0):
        self.state, self.t = state, 0.0
        self.dispatched, self.reports = [], []
        self.ex = PlanExecutor(lambda: self.state, self.dispatched.append, self.reports.append,
                               clock=lambda: self.t, settle_s=settle_s)


def queued(index, step, predicted: WorldState | None, speculative=True, plan="p"):
    return QueuedStep(plan, 0, index, f"{plan}/{index}", "c", step, speculative,
                      predicted_pre=predicted.to_snapshot() if predicted else None)


def test_prediction_mismatch_names_the_fields_that_differ(world):
    s = WorldState.initial(world)
    assert prediction_mismatch(s.to_snapshot(), s) is None
    assert prediction_mismatch(None, s) is None
    moved = apply(Step("navigate", ("kitchen_counter",)), s)
    why = prediction_mismatch(moved.to_snapshot(), s)
    assert "robot_at" in why and "kitchen_counter" in why


def test_speculative_step_starts_at_once_when_the_prediction_holds(world):
    s0 = WorldState.initial(world)
    nav, pick = Step("navigate", ("kitchen_counter",)), Step("pick", ("red_cup",))
    s1 = apply(nav, s0)
    e = Edge(s0)
    e.ex.on_step(queued(0, nav, s0, speculative=False))
    e.ex.on_step(queued(1, pick, s1))
    assert [q.step_id for q in e.dispatched] == ["p/0"]
    e.state = s1
    e.ex.finished("p/0", True, "")
    assert [q.step_id for q in e.dispatched] == ["p/0", "p/1"]  # no wait for the cloud


def test_speculative_step_whose_prediction_fails_is_rejected_and_never_started(world):
    s0 = WorldState.initial(world)
    nav, pick = Step("navigate", ("kitchen_counter",)), Step("pick", ("red_cup",))
    e = Edge(s0)
    e.ex.on_step(queued(0, nav, s0, speculative=False))
    e.ex.on_step(queued(1, pick, apply(nav, s0)))
    e.ex.finished("p/0", True, "")  # "done", but the state did not change
    assert [q.step_id for q in e.dispatched] == ["p/0"]
    rej = e.reports[-1]
    assert rej.step_id == "p/1" and rej.rejected and not rej.success
    assert "predicted precondition does not hold" in rej.message
    e.ex.on_step(queued(1, pick, apply(nav, s0)))  # repeated by the link: still never runs
    e.ex.pump()
    assert [q.step_id for q in e.dispatched] == ["p/0"]


def test_a_mismatch_waits_settle_s_for_the_sensors_before_rejecting(world):
    s0 = WorldState.initial(world)
    nav, pick = Step("navigate", ("kitchen_counter",)), Step("pick", ("red_cup",))
    s1 = apply(nav, s0)
    e = Edge(s0, settle_s=0.2)
    e.ex.on_step(queued(0, nav, s0, speculative=False))
    e.ex.on_step(queued(1, pick, s1))
    e.ex.finished("p/0", True, "")  # the state lags the skill's end
    assert len(e.dispatched) == 1 and len(e.reports) == 1
    e.t = 0.1
    e.state = s1  # caught up within settle_s
    e.ex.pump()
    assert [q.step_id for q in e.dispatched] == ["p/0", "p/1"] and len(e.reports) == 1


def test_a_final_step_is_checked_by_its_preconditions_not_the_prediction(world):
    s0 = WorldState.initial(world)
    e = Edge(s0)
    other = apply(Step("navigate", ("bedroom",)), s0)  # a prediction that does not hold
    e.ex.on_step(queued(0, Step("navigate", ("kitchen",)), other, speculative=False))
    assert [q.step_id for q in e.dispatched] == ["p/0"]


def test_cloud_link_carries_the_prediction_to_the_plan_executor(world):
    """The ROS path: PlanStep.predicted_pre -> PlanEvent.predicted_pre (JSON) -> QueuedStep."""
    import json

    cloud_link = pytest.importorskip("edge_nerve.nodes.cloud_link")
    state = WorldState.initial(world)
    step = pb.PlanStep(plan_id="p", index=1, step_id="p/1", speculative=True,
                       skill=pb.Skill(name="pick", args=["red_cup"]))
    step.predicted_pre.CopyFrom(snapshot_to_proto(state.to_snapshot()))
    ev = cloud_link.CloudLinkNode.to_event(pb.CloudMessage(step=step))
    assert ev.speculative and json.loads(ev.predicted_pre) == state.to_snapshot()
    bare = cloud_link.CloudLinkNode.to_event(pb.CloudMessage(step=pb.PlanStep(step_id="p/0")))
    assert bare.predicted_pre == ""
