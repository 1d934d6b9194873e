"""The cloud's state database (cloud_brain/server/store.py) and PlanSession written through to it.

A session is rebuilt from the file by a fresh PlanSession (as a restarted process would): same
session id, plans, revisions and step ids; acked steps are not sent again; a plan whose planning
was cut short is finished with the ids a whole plan would have had.

    python -m pytest -q tests/unit/test_store.py
"""

from __future__ import annotations

import sqlite3

import pytest

from cloud_brain.domain.description import load_world
from cloud_brain.server.session import PlanSession, SessionConfig
from cloud_brain.server.store import SessionStore, StoredPlan, StoredSession, StoredStep, StoreError
from cloud_brain.wire import PROTOCOL_VERSION, pb


@pytest.fixture(scope="module")
def planner():
    from cloud_brain.planner.base import get_planner

    return get_planner("rules")


@pytest.fixture(scope="module")
def world():
    return load_world()


def hello(last_acked=""):
    return pb.EdgeMessage(hello=pb.Hello(protocol_version=PROTOCOL_VERSION, robot_id="r1",
                                         last_acked_step_id=last_acked))


def command(text="bring me the red cup", cid="c1"):
    return pb.EdgeMessage(command=pb.Command(command_id=cid, text=text))


def ack(step, success=True):
    return pb.EdgeMessage(outcome=pb.StepOutcome(step_id=step.step_id, plan_id=step.plan_id,
                                                 index=step.index, success=success))


def kinds(msgs):
    return [m.WhichOneof("kind") for m in msgs]


def test_round_trip_in_a_wal_file(tmp_path):
    path = tmp_path / "state.db"
    store = SessionStore(path)
    assert store.journal_mode == "wal"
    step = pb.PlanStep(plan_id="s-1", index=0, step_id="s-1/0", skill=pb.Skill(name="navigate", args=["sofa"]))
    plan = StoredPlan("s-1", "c1", "go to the sofa", 0, 1, 2, 0, 1, False, 1, {"robot_room": "kitchen"},
                      [StoredStep("s-1/0", 0, 0, "current", step.SerializeToString(), {"robot_at": ""}),
                       StoredStep("s-1/1", 1, 0, "withdrawn")], {"s-1/0": True, "s-1/1": False})
    store.save(StoredSession("r1", "s", "home", {"robot_room": "kitchen"}, "s-1/1", 1), [plan])
    store.close()
    again = SessionStore(path).load("r1")  # a new connection: what another process would read
    assert (again.session_id, again.world_name, again.last_acked_step_id, again.plan_seq) == ("s", "home", "s-1/1", 1)
    (p,) = again.plans
    assert (p.revision, p.num_steps, p.committed_upto, p.replans, p.closed, p.from_index) == (1, 2, 0, 1, False, 1)
    assert p.outcomes == {"s-1/0": True, "s-1/1": False} and p.from_state == {"robot_room": "kitchen"}
    assert pb.PlanStep.FromString(p.steps[0].msg) == step and p.steps[1].status == "withdrawn"
    assert SessionStore(path).load("nobody") is None


def test_not_a_database_is_a_clear_error(tmp_path):
    bad = tmp_path / "bad.db"
    bad.write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(StoreError, match="cannot open the state database"):
        SessionStore(bad)


def test_restored_session_resumes_after_the_last_acked_step(tmp_path, planner, world):
    path = tmp_path / "state.db"
    a = PlanSession(planner, {world.name: world}, store=SessionStore(path))
    list(a.handle(hello()))
    out = list(a.handle(command()))
    steps = [m.step for m in out if m.HasField("step")]
    assert kinds(list(a.handle(ack(steps[0])))) == ["commit"]
    # the process dies; a new one opens the same file
    store = SessionStore(path)
    b = PlanSession.restore(store.load("r1"), planner, {world.name: world}, store=store)
    assert b.session_id == a.session_id
    out = list(b.handle(hello(last_acked=steps[0].step_id)))
    assert kinds(out) == ["welcome", "step", "step", "step", "done"]
    assert [m.step.step_id for m in out[1:4]] == [s.step_id for s in steps[1:]]
    assert [m.step for m in out[1:4]] == steps[1:]  # byte-identical steps
    # an acked step's outcome again is a no-op; the rest commit as before
    assert list(b.handle(ack(steps[0]))) == []
    for s in steps[1:]:
        (c,) = b.handle(ack(s))
        assert c.commit.upto_index == s.index
    assert kinds(list(b.handle(hello(last_acked=steps[-1].step_id)))) == ["welcome"]  # plan closed


def test_plan_cut_short_is_finished_with_the_same_step_ids(tmp_path, planner, world):
    whole = PlanSession(planner, {world.name: world})
    list(whole.handle(hello()))
    reference = [m.step for m in whole.handle(command()) if m.HasField("step")]
    path = tmp_path / "state.db"
    a = PlanSession(planner, {world.name: world}, session_id=whole.session_id, store=SessionStore(path))
    list(a.handle(hello()))
    gen = a.handle(command())
    first_two = [next(gen), next(gen)]  # the process dies after sending two steps
    gen.close()
    store = SessionStore(path)
    b = PlanSession.restore(store.load("r1"), planner, {world.name: world}, store=store)
    out = list(b.handle(hello()))
    assert kinds(out)[0] == "welcome" and kinds(out)[-1] == "done"
    steps = [m.step for m in out if m.HasField("step")]
    assert [m.step for m in first_two] == steps[:2]
    assert [s.step_id for s in steps] == [s.step_id for s in reference]
    assert [(s.skill.name, list(s.skill.args)) for s in steps] == \
        [(s.skill.name, list(s.skill.args)) for s in reference]
    assert all(s.speculative for s in steps[1:])  # finished steps still carry predictions
    assert out[-1].done.num_steps == len(reference)


def test_rollback_survives_a_restart(tmp_path, planner, world):
    path = tmp_path / "state.db"
    a = PlanSession(planner, {world.name: world}, store=SessionStore(path))
    list(a.handle(hello()))
    steps = [m.step for m in a.handle(command()) if m.HasField("step")]
    list(a.handle(ack(steps[0])))
    out = list(a.handle(ack(steps[1], success=False)))
    assert kinds(out)[0] == "rollback"
    replanned = [m.step for m in out if m.HasField("step")]
    store = SessionStore(path)
    b = PlanSession.restore(store.load("r1"), planner, {world.name: world}, store=store)
    out = list(b.handle(hello(last_acked=steps[1].step_id)))
    # the edge's last ack is the failed step: it may have missed the Rollback, which comes again
    assert kinds(out)[:2] == ["welcome", "rollback"] and out[1].rollback.new_revision == 1
    assert [m.step for m in out if m.HasField("step")] == replanned
    assert all("@r1" in s.step_id for s in replanned)


def test_repeated_command_id_is_planned_once(planner, world):
    s = PlanSession(planner, {world.name: world}, config=SessionConfig(dedup_command_ids=True))
    list(s.handle(hello()))
    assert kinds(list(s.handle(command())))[-1] == "done"
    assert list(s.handle(command())) == []


def test_store_schema_is_plain_sqlite(tmp_path):
    path = tmp_path / "state.db"
    SessionStore(path)
    tables = {r[0] for r in sqlite3.connect(path).execute("SELECT name FROM sqlite_master WHERE type='table'")}
    assert {"sessions", "plans", "steps", "outcomes"} <= tables
