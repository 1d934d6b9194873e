"""The skill teachers in physics: fetch-and-give, place, dock, failures with reasons, time
limits (edge_nerve/skills/teachers.py against sim/home_sim.py).

    /tmp/probe/v/bin/python -m pytest tests/unit/test_teachers.py -q
"""

import dataclasses
from pathlib import Path

import pytest

from cloud_brain.domain.description import REACH_TOP, load_world
from edge_nerve.skills.teachers import (SKILLS, Command, Observation, Status, observe, run_skill)
from sim.home_sim import HomeSim
from sim.mjcf import ROBOT
from sim.world_model import symbolic_state

FLAT = Path(__file__).parent / "data" / "flat.yaml"


def _state(sim, desc):
    return symbolic_state(desc, sim.robot_pose(), sim.object_poses(), sim.holding(), sim.delivered(),
                          sim.docked())


def _run(sim, desc, steps):
    for name, args in steps:
        ok, why, dur = run_skill(sim, desc, name, args)
        assert ok, f"{name}{tuple(args)} failed after {dur:.1f} s: {why}"


def test_registry_and_interface_types():
    assert set(SKILLS) == {"navigate", "pick", "place", "give", "dock"}
    c = Command(0.1, 0.0, 0.2, 0.5, 0.1, 1.0)
    assert c.as_tuple() == (0.1, 0.0, 0.2, 0.5, 0.1, 1.0)
    assert Status("failed", "x").done and not Status("running").done and Status("succeeded").ok


def test_fetch_red_cup_to_the_user():
    desc = load_world()
    sim = HomeSim(desc)
    _run(sim, desc, [("navigate", ["kitchen_counter"]), ("pick", ["red_cup"])])
    s = _state(sim, desc)
    assert s.holding == "red_cup" and s.robot_at == "kitchen_counter" and s.robot_room == "kitchen"
    _run(sim, desc, [("navigate", ["user"])])
    assert _state(sim, desc).robot_at == "user"
    _run(sim, desc, [("give", ["red_cup"])])
    assert sim.delivered() == {"red_cup"} and sim.holding() is None
    s = _state(sim, desc)
    assert s.location_of("red_cup") == "user" and s.robot_room == "living_room"
    # the cup is in the user's hand, and stays there
    sim.step(1.0)
    hand = sim.user_hand_position()
    cup = sim.object_poses()["red_cup"]
    assert sum((a - b) ** 2 for a, b in zip(cup[:3], hand)) ** 0.5 < 0.35


def test_place_on_the_shelf():
    desc = load_world()
    start = dataclasses.replace(desc, robot_start=(3.0, 2.3, 0.0))  # kitchen, near the table
    sim = HomeSim(start)
    _run(sim, start, [("navigate", ["dining_table"]), ("pick", ["blue_bottle"]),
                      ("navigate", ["shelf"]), ("place", ["blue_bottle", "shelf"])])
    s = _state(sim, start)
    assert s.location_of("blue_bottle") == "shelf" and s.holding is None
    sim.step(1.0)  # it stands there
    p = sim.object_poses()["blue_bottle"]
    assert p[2] == pytest.approx(1.0 + 0.10, abs=0.01)


def test_dock_from_the_start():
    desc = load_world()
    sim = HomeSim(desc)
    _run(sim, desc, [("dock", [])])
    assert sim.docked()
    s = _state(sim, desc)
    assert s.docked and s.robot_at == "charging_dock"


def test_pick_failures_have_reasons():
    desc = load_world()
    sim = HomeSim(desc)
    ok, why, _ = run_skill(sim, desc, "pick", ["red_cup"])  # far from the counter
    assert not ok and "not here" in why and "kitchen_counter" in why
    _run(sim, desc, [("navigate", ["kitchen_counter"])])
    ok, why, _ = run_skill(sim, desc, "pick", ["blue_bottle"])  # it is on the dining table
    assert not ok and "dining_table" in why
    ok, why, _ = run_skill(sim, desc, "pick", ["unicorn"])
    assert not ok and "unknown object" in why
    ok, why, _ = run_skill(sim, desc, "give", ["red_cup"])
    assert not ok and "not holding" in why
    ok, why, _ = run_skill(sim, desc, "place", ["red_cup", "sofa"])
    assert not ok and "not holding" in why
    ok, why, _ = run_skill(sim, desc, "navigate", ["garage"])
    assert not ok and "unknown" in why
    ok, why, _ = run_skill(sim, desc, "navigate", [])
    assert not ok and "argument" in why


def test_skills_time_out_instead_of_looping():
    desc = load_world()
    sim = HomeSim(desc)
    ok, why, dur = run_skill(sim, desc, "navigate", ["bedroom"], timeout=1.0)
    assert not ok and "limit" in why and dur == pytest.approx(1.0, abs=0.05)
    # a controller's own limit: the user cannot take what is held too far away
    ctrl = SKILLS["navigate"](desc)
    obs = observe(sim)
    ctrl.reset(["bedroom"], obs)
    ctrl.timeout = 0.5
    late = dataclasses.replace(obs, time=obs.time + 1.0)
    cmd, st = ctrl.step(late)
    assert st.state == "failed" and "timed out" in st.reason and (cmd.vx, cmd.vy, cmd.wz) == (0, 0, 0)


def test_another_world_fetch_and_a_too_wide_object():
    desc = load_world(FLAT)
    sim = HomeSim(desc)
    _run(sim, desc, [("navigate", ["counter"]), ("pick", ["mug"]), ("navigate", ["user"]),
                     ("give", ["mug"])])
    assert sim.delivered() == {"mug"}
    _run(sim, desc, [("navigate", ["desk"])])
    ok, why, _ = run_skill(sim, desc, "pick", ["laptop"])
    assert not ok and "too wide" in why
    _run(sim, desc, [("pick", ["tablet"]), ("dock", [])])
    s = _state(sim, desc)
    assert s.docked and s.robot_at == "charger_pad" and s.holding == "tablet"


def test_observation_is_plain_data():
    desc = load_world()
    obs = observe(HomeSim(desc))
    assert isinstance(obs, Observation)
    assert set(obs.objects) == set(desc.objects) and all(len(p) == 7 for p in obs.objects.values())
    assert obs.holding is None and obs.delivered == frozenset() and not obs.docked


def test_place_on_a_full_table_carries_the_object_over_the_others():
    desc = load_world()
    start = dataclasses.replace(desc, robot_start=(7.5, 1.75, 0.0))  # living room
    sim = HomeSim(start)
    before = sim.object_poses()
    _run(sim, start, [("navigate", ["sofa"]), ("pick", ["green_book"]), ("navigate", ["dining_table"]),
                      ("place", ["green_book", "dining_table"])])  # both described slots are taken
    after = sim.object_poses()
    assert _state(sim, start).location_of("green_book") == "dining_table"
    for o in ("blue_bottle", "white_plate"):  # untouched, still standing
        assert after[o][:3] == pytest.approx(before[o][:3], abs=0.01)


def test_a_long_thing_rests_where_the_gripper_can_span_it():
    # the office's hammer (0.30 m long) would lie across the fingers, which close along the
    # robot's sideways axis and have no wrist to turn: it rests pointing at the robot instead
    from math import pi

    from sim.mjcf import resting_yaw
    office = load_world(Path(__file__).parent / "office_world.yaml")
    assert resting_yaw(office, "hammer") == pi / 2 and resting_yaw(office, "stapler") == 0.0
    assert all(resting_yaw(load_world(), o) == 0.0 for o in load_world().objects)  # the home as it was
    assert resting_yaw(load_world(FLAT), "laptop") == 0.0  # too wide either way: the pick says so
    sim = HomeSim(office)
    _run(sim, office, [("navigate", ["filing_cabinet"]), ("pick", ["hammer"]), ("navigate", ["workbench"]),
                       ("place", ["hammer", "workbench"])])
    assert _state(sim, office).location_of("hammer") == "workbench"


def test_tops_up_to_the_arms_reach_are_worked_and_higher_ones_refused_at_once():
    """The farmhouse's piano (1.10 m) is within the lift's reach: its wool is picked and put on
    the mantelpiece (1.10 m). Raised to 2.2 m, above what the fingers can close over, the pick
    says so before moving, not "phase 'lower' did not finish in 10 s" a lowering later."""
    replace = dataclasses.replace
    desc = load_world(Path(__file__).resolve().parents[1] / "cases" / "worlds" / "farmhouse_j.yaml")
    sim = HomeSim(desc)
    _run(sim, desc, [("navigate", ["piano"]), ("pick", ["wool_ball"]), ("navigate", ["mantelpiece"]),
                     ("place", ["wool_ball", "mantelpiece"])])
    assert _state(sim, desc).location_of("wool_ball") == "mantelpiece"
    piano = desc.furniture["piano"]
    tall = replace(desc, furniture={**desc.furniture, "piano": replace(piano, size=(*piano.size[:2], 2.2))})
    sim = HomeSim(tall)
    _run(sim, tall, [("navigate", ["piano"])])
    ok, why, dur = run_skill(sim, tall, "pick", ["wool_ball"])
    assert not ok and "piano is too high" in why and "2.20 m" in why and dur < 1.0
    assert ROBOT.reach_top == pytest.approx(REACH_TOP)  # the planner's domain knows the same reach


def test_a_second_thing_is_handed_over_after_the_first():
    """The carer's "take him his inhalers": the first one stays in the person's hand, and the
    second had stopped against it ("give: phase 'extend' did not finish in 10 s") until a thing
    handed over touches nothing more."""
    desc = load_world(Path(__file__).resolve().parents[1] / "cases" / "worlds" / "bungalow_q.yaml")
    sim = HomeSim(desc)
    _run(sim, desc, [("navigate", ["bedside_table"]), ("pick", ["blue_inhaler"]), ("navigate", ["user"]),
                     ("give", ["blue_inhaler"]), ("navigate", ["vanity"]), ("pick", ["brown_inhaler"]),
                     ("navigate", ["user"]), ("give", ["brown_inhaler"])])
    assert sim.delivered() == {"blue_inhaler", "brown_inhaler"}
