"""Symbolic domain: skills, plan grammar/validation/execution, goals and the solver.

    cd /work/main && python -m pytest tests/unit/test_domain.py -q
"""

import itertools
from pathlib import Path

import pytest

from cloud_brain.domain import skills
from cloud_brain.domain.description import load_world
from cloud_brain.domain.goals import check_goals, holds
from cloud_brain.domain.plan import PlanError, Step, execute, format_plan, parse_plan, validate
from cloud_brain.domain.solver import SolveError, solve
from cloud_brain.domain.state import ROBOT, USER, WorldState

OFFICE = Path(__file__).with_name("office_world.yaml")


@pytest.fixture(scope="module")
def home():
    return WorldState.initial()


def test_step_str_and_parse_roundtrip():
    steps = [Step("navigate", ("kitchen",)), Step("place", ("red_cup", "shelf")), Step("dock"),
             Step("say", ('he said "hi"; ok',))]
    assert [str(s) for s in steps[:3]] == ["navigate(kitchen)", "place(red_cup, shelf)", "dock()"]
    assert str(steps[3]) == 'say("he said \\"hi\\"; ok")'
    assert parse_plan(format_plan(steps)) == steps
    assert parse_plan("navigate(kitchen); dock()") == [steps[0], steps[2]]
    assert parse_plan("1. navigate(kitchen)\n\n2) dock()") == [steps[0], steps[2]]


def test_parse_errors_are_specific(home):
    with pytest.raises(PlanError) as e:
        parse_plan("navigate(kitchen)\ngrab(red_cup)")
    assert e.value.step_index == 1 and "unknown skill 'grab'" in e.value.reason
    with pytest.raises(PlanError) as e:
        parse_plan("place(red_cup)")
    assert "place takes 2 arguments" in str(e.value) and e.value.step_index == 0
    with pytest.raises(PlanError) as e:
        parse_plan("navigate(kitchen_counter); pick(red_mug)", home.desc)
    assert e.value.step_index == 1 and "did you mean 'red_cup'" in e.value.reason
    with pytest.raises(PlanError) as e:
        parse_plan("pick(kitchen)", home.desc)
    assert "'kitchen' is a room, not a object" in e.value.reason
    with pytest.raises(PlanError):
        parse_plan("this is not a plan(", home.desc)


def test_preconditions_explain_why(home):
    at_sofa = execute([Step("navigate", ("sofa",))], home)
    assert skills.check(Step("pick", ("red_cup",)), at_sofa) == \
        "pick(red_cup): the robot is at sofa, but red_cup is on kitchen_counter"
    assert "not holding red_cup" in skills.check(Step("give", ("red_cup",)), home)
    assert "not a surface" in skills.check(Step("place", ("red_cup", "charging_dock")), home)
    assert "not at charging_dock" in skills.check(Step("dock", ()), home)
    with pytest.raises(PlanError) as e:
        validate(parse_plan("navigate(kitchen_counter); pick(red_cup); pick(apple)"), home)
    assert e.value.step_index == 2 and "hand is full (holding red_cup)" in e.value.reason
    with pytest.raises(PlanError) as e:
        validate(parse_plan('say("hi"); refuse("no")'), home)
    assert e.value.step_index == 1 and "only step" in e.value.reason


def test_effects(home):
    s = execute(parse_plan("navigate(kitchen_counter); pick(red_cup)"), home)
    assert s.holding == "red_cup" and s.robot_room == "kitchen" and s.robot_at == "kitchen_counter"
    s = execute(parse_plan("navigate(user); give(red_cup)"), s)
    assert s.location_of("red_cup") == USER and s.robot_at == USER and s.robot_room == home.user_room
    s = execute(parse_plan("navigate(charging_dock); dock()"), s)
    assert s.docked
    assert not execute([Step("navigate", ("bedroom",))], s).docked  # navigation undocks
    assert execute([Step("navigate", ("bedroom",))], s).robot_at is None


def test_dock_rule_comes_from_the_description():
    assert skills.dock_furniture(load_world()) == "charging_dock"
    assert skills.dock_furniture(load_world(OFFICE)) == "power_dock"


def test_capacity_is_a_precondition(home):
    # dining_table has two slots and starts with the bottle and the plate on it
    s = execute(parse_plan("navigate(kitchen_counter); pick(apple); navigate(dining_table)"), home)
    assert skills.check(Step("place", ("apple", "dining_table")), s) == \
        "place(apple, dining_table): dining_table is full"


def test_goals(home):
    plan = parse_plan("navigate(kitchen_counter); pick(red_cup); navigate(user); give(red_cup)")
    assert check_goals([["delivered", "red_cup"]], home, plan) == (True, None)
    ok, why = check_goals([["on", "red_cup", "kitchen_counter"]], home, plan)
    assert not ok and "red_cup ends with the user" in why
    ok, why = check_goals([["delivered", "red_cup"]], home, plan[:2])
    assert not ok and "gripper" in why
    assert check_goals([["refused"]], home, [Step("refuse", ("unsafe",))]) == (True, None)
    assert not check_goals([["refused"]], home, [Step("say", ("no",))])[0]
    ok, why = check_goals([["delivered", "red_cup"]], home, [Step("refuse", ("no",))])
    assert not ok and "refused" in why
    ok, why = check_goals([["on", "red_cop", "sofa"]], home, [])
    assert not ok and "did you mean 'red_cup'" in why
    assert not holds(["tidy", "kitchen"], home, [])  # apple and bottle are away from home
    assert holds(["tidy", "hallway"], home, [])
    assert holds(["robot_in", "hallway"], home, [])


GOAL_SETS = [
    [["delivered", "red_cup"]],
    [["on", "apple", "dining_table"]],  # full table: the solver makes room first
    [["tidy", "kitchen"]],
    [["tidy", "living_room"]],
    [["tidy", r] for r in ("kitchen", "living_room", "bedroom", "bathroom", "hallway")],
    [["docked"]],
    [["robot_in", "bedroom"]],
    [["delivered", "green_book"], ["on", "yellow_ball", "sofa"], ["docked"]],
    [["on", "red_cup", "sink"], ["on", "apple", "sink"], ["on", "white_plate", "sink"]],
    [["refused"]],
]


@pytest.mark.parametrize("goals", GOAL_SETS)
def test_solver_reaches_goals_with_valid_plans(home, goals):
    steps = solve(goals, home)
    validate(steps, home)
    assert check_goals(goals, home, steps) == (True, None)


def test_solver_skips_what_is_already_true(home):
    assert solve([["robot_in", "hallway"]], home) == []
    docked = execute(solve([["docked"]], home), home)
    assert solve([["docked"]], docked) == []
    at_counter = execute(parse_plan("navigate(kitchen_counter)"), home)
    assert solve([["delivered", "red_cup"]], at_counter)[0] == Step("pick", ("red_cup",))
    holding = execute(parse_plan("pick(red_cup)"), at_counter)
    assert solve([["delivered", "red_cup"]], holding) == parse_plan("navigate(user); give(red_cup)")


def test_solver_puts_down_an_unneeded_held_object(home):
    holding = execute(parse_plan("navigate(sofa); pick(green_book)"), home)
    steps = solve([["delivered", "remote"]], holding)
    assert steps[:2] == parse_plan("navigate(shelf); place(green_book, shelf)")  # its home
    assert check_goals([["delivered", "remote"]], holding, steps)[0]


def test_solver_errors(home):
    with pytest.raises(SolveError, match="not a surface"):
        solve([["on", "apple", "charging_dock"]], home)
    with pytest.raises(SolveError, match="conflict"):
        solve([["robot_in", "bedroom"], ["docked"]], home)
    with pytest.raises(SolveError, match="unknown predicate"):
        solve([["hold", "apple"]], home)


def test_solver_on_every_pair_in_another_world():
    world = load_world(OFFICE)
    state = WorldState.initial(world)
    surfaces = [f for f, spec in world.furniture.items() if spec.surface]
    for obj, furn in itertools.product(world.objects, surfaces):
        for goals in ([["on", obj, furn]], [["delivered", obj], ["docked"]], [["tidy", "office"]]):
            steps = solve(goals, state)
            assert check_goals(goals, state, steps) == (True, None), (goals, steps)


def test_snapshot_roundtrip(home):
    s = execute(parse_plan("navigate(kitchen_counter); pick(red_cup)"), home)
    back = WorldState.from_snapshot(home.desc, s.to_snapshot())
    assert back.location_of("red_cup") == ROBOT and back.robot_at == "kitchen_counter"


def test_a_top_above_the_arms_reach_is_neither_picked_from_nor_placed_on():
    """The home's shelf (1.0 m) is within reach; raised above the robot's reach (the world file's
    robot.reach_top, 1.97 m by default as the sim's robot), the planner refuses up front with the
    height, where the arm would have tried and failed in front of it."""
    import yaml
    from cloud_brain.domain.description import DEFAULT_WORLD, REACH_TOP, parse_world
    raw = yaml.safe_load(DEFAULT_WORLD.read_text())
    raw["furniture"]["shelf"]["size"][2] = 2.2
    tall = WorldState.initial(parse_world(raw))
    assert tall.desc.reach_top == REACH_TOP
    with pytest.raises(PlanError, match=r"pick\(remote\): the top of the shelf is 2.20 m high, above the arm's reach \(1.97 m\)"):
        validate(parse_plan("navigate(shelf); pick(remote)"), tall)
    with pytest.raises(PlanError, match="place.green_book, shelf.: the top of the shelf is 2.20 m high"):
        validate(parse_plan("navigate(sofa); pick(green_book); navigate(shelf); place(green_book, shelf)"), tall)
    with pytest.raises(SolveError, match="above the arm's reach"):
        solve([["on", "green_book", "shelf"]], tall)
    validate(parse_plan("navigate(shelf); pick(remote)"), WorldState.initial())  # 1.0 m: within reach
    raw["robot"]["reach_top"] = 2.5  # a taller robot, said in the world file
    validate(parse_plan("navigate(shelf); pick(remote)"), WorldState.initial(parse_world(raw)))
