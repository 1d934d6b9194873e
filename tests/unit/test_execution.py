"""The plan executor: order, on-robot feasibility checks, exactly-once steps, rollbacks."""

import pytest

from cloud_brain.domain.plan import Step
from cloud_brain.domain.state import WorldState
from edge_nerve.execution import PlanExecutor, QueuedStep


class Harness:
    """Runs skills symbolically: the dispatched step's effect is applied when it finishes."""

    def __init__(self, state):
        from cloud_brain.domain.skills import apply
        self.apply = apply
        self.state = state
        self.dispatched: list[QueuedStep] = []
        self.outcomes = []
        self.ex = PlanExecutor(lambda: self.state, self.dispatched.append, self.outcomes.append)

    def finish(self, success=True, message=""):
        q = self.dispatched[-1]
        if success:
            self.state = self.apply(q.step, self.state)
        self.ex.finished(q.step_id, success, message)


def q(i, skill, *args, plan="p1", rev=0):
    sid = f"{plan}/{i}" if rev == 0 else f"{plan}/{i}@r{rev}"
    return QueuedStep(plan, rev, i, sid, "c1", Step(skill, tuple(args)))


@pytest.fixture
def h():
    return Harness(WorldState.initial())


def test_runs_steps_in_order_even_when_they_arrive_out_of_order(h):
    h.ex.on_step(q(1, "pick", "red_cup"))
    assert h.dispatched == []  # step 0 has not arrived
    h.ex.on_step(q(0, "navigate", "kitchen_counter"))
    assert [d.index for d in h.dispatched] == [0]
    h.finish()
    assert [d.index for d in h.dispatched] == [0, 1]
    h.finish()
    h.ex.on_done("p1", 2)
    assert h.ex.complete
    assert [o.success for o in h.outcomes] == [True, True]


def test_infeasible_step_is_rejected_with_reason_and_nothing_runs(h):
    h.ex.on_step(q(0, "pick", "red_cup"))  # the robot is in the hallway, not at the counter
    assert h.dispatched == []
    (o,) = h.outcomes
    assert o.rejected and not o.success
    assert "red_cup" in o.message and "kitchen_counter" in o.message


def test_a_step_id_runs_at_most_once(h):
    h.ex.on_step(q(0, "navigate", "kitchen"))
    h.finish()
    h.ex.on_step(q(0, "navigate", "kitchen"))  # the link repeats it
    assert len(h.dispatched) == 1 and len(h.outcomes) == 1


def test_rollback_withdraws_queued_steps_and_the_new_revision_runs(h):
    h.ex.on_step(q(0, "navigate", "kitchen_counter"))
    h.ex.on_step(q(1, "pick", "apple"))
    h.finish(success=False, message="blocked")
    assert h.outcomes[-1].success is False
    assert len(h.dispatched) == 1  # nothing runs after a failure
    h.ex.on_rollback("p1", 0, 1)
    h.ex.on_step(q(0, "navigate", "kitchen_counter", rev=1))
    assert h.dispatched[-1].step_id == "p1/0@r1"
    h.finish()
    assert h.dispatched[-1].step_id == "p1/0@r1"  # the old step 1 was withdrawn


def test_a_step_waits_for_first_sensor_data_then_runs():
    state = {"s": None}
    dispatched = []
    ex = PlanExecutor(lambda: state["s"], dispatched.append, lambda o: pytest.fail(f"no outcome yet: {o}"))
    ex.on_step(q(0, "navigate", "kitchen"))
    assert dispatched == []
    state["s"] = WorldState.initial()
    ex.pump()
    assert [d.index for d in dispatched] == [0]


def test_no_state_for_too_long_means_rejection_not_motion():
    now = {"t": 0.0}
    out = []
    ex = PlanExecutor(lambda: None, lambda s: pytest.fail("must not run"), out.append,
                      state_wait_s=2.0, clock=lambda: now["t"])
    ex.on_step(q(0, "navigate", "kitchen"))
    assert out == []
    now["t"] = 2.5
    ex.pump()
    assert out and out[0].rejected and "no world state" in out[0].message
