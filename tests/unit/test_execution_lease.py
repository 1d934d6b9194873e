"""Leases: no step starts without a live link; a running step outlives a lost link only
within its lease, then it is cancelled and the plan holds."""

from cloud_brain.domain.plan import Step
from cloud_brain.domain.state import WorldState
from edge_nerve.execution import PlanExecutor, QueuedStep


class Clock:
    def __init__(self):
        self.t = 100.0

    def __call__(self):
        return self.t


def make(link_up=False):
    clock, dispatched, outcomes, cancels = Clock(), [], [], []
    ex = PlanExecutor(WorldState.initial, dispatched.append, outcomes.append, clock=clock,
                      cancel=lambda q, why: cancels.append((q.step_id, why)), link_up=link_up)
    return ex, clock, dispatched, outcomes, cancels


def step(i, skill="navigate", *args, lease=30.0):
    return QueuedStep("p1", 0, i, f"p1/{i}", "c1", Step(skill, args or ("kitchen",)), lease_s=lease)


def test_no_step_starts_without_a_live_link():
    ex, clock, dispatched, outcomes, _ = make(link_up=False)
    ex.on_step(step(0))
    ex.pump()
    assert dispatched == [] and outcomes == []  # held, not rejected
    ex.on_link(True)
    assert [q.step_id for q in dispatched] == ["p1/0"]


def test_link_loss_lets_the_running_step_finish_then_holds():
    ex, clock, dispatched, outcomes, cancels = make(link_up=True)
    ex.on_step(step(0))
    ex.on_step(step(1, "navigate", "bedroom"))
    ex.on_link(False)
    clock.t += 10  # within the 30 s lease
    ex.pump()
    assert cancels == []
    ex.finished("p1/0", True, "ok")
    assert outcomes[-1].success and [q.step_id for q in dispatched] == ["p1/0"]  # step 1 does not start
    ex.on_link(True)
    assert [q.step_id for q in dispatched] == ["p1/0", "p1/1"]


def test_a_running_step_is_cancelled_when_its_lease_runs_out():
    ex, clock, dispatched, outcomes, cancels = make(link_up=True)
    ex.on_step(step(0, lease=5.0))
    ex.on_step(step(1, "navigate", "bedroom"))
    ex.on_link(False)
    clock.t += 4.0
    ex.pump()
    assert cancels == []
    clock.t += 2.0
    ex.pump()
    ex.pump()
    assert [c[0] for c in cancels] == ["p1/0"]  # once
    assert "lease expired" in cancels[0][1]
    ex.finished("p1/0", False, "cancelled")  # the skill runner stopped the base
    o = outcomes[-1]
    assert not o.success and "lease expired" in o.message
    ex.on_link(True)
    assert [q.step_id for q in dispatched] == ["p1/0"]  # the plan holds until the cloud replans


def test_a_step_without_a_lease_is_never_cancelled():
    ex, clock, dispatched, outcomes, cancels = make(link_up=True)
    ex.on_step(step(0, lease=0.0))
    ex.on_link(False)
    clock.t += 1000
    ex.pump()
    assert cancels == []
