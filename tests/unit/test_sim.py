"""The MuJoCo home: MJCF generated from the description, physics of the base, grasp welds, and
the geometric abstraction back to the symbolic state (sim/mjcf.py, sim/home_sim.py, sim/world_model.py).

    /tmp/probe/v/bin/python -m pytest tests/unit/test_sim.py -q
"""

import dataclasses
import math
from pathlib import Path

import mujoco
import pytest

from cloud_brain.domain.description import load_world
from cloud_brain.domain.state import WorldState
from sim.home_sim import JOINT_NAMES, HomeSim
from sim.mjcf import ROBOT, TIMESTEP, build_mjcf
from sim.world_model import (dock_name, half_extent_along, robot_at_of, symbolic_state, user_facing,
                             user_hand_position)

FLAT = Path(__file__).parent / "data" / "flat.yaml"


@pytest.fixture(scope="module", params=["home", "flat"])
def world(request):
    return load_world(None if request.param == "home" else FLAT)


def _names(m, kind, n):
    return {mujoco.mj_id2name(m, kind, i) for i in range(n)}


def test_mjcf_names_match_the_description(world):
    m = mujoco.MjModel.from_xml_string(build_mjcf(world))
    assert m.opt.timestep == pytest.approx(TIMESTEP)
    bodies = _names(m, mujoco.mjtObj.mjOBJ_BODY, m.nbody)
    assert set(world.furniture) <= bodies and set(world.objects) <= bodies
    assert {"user", "user_hand", "robot", "lift_link", "arm_link", "finger_left", "finger_right"} <= bodies
    geoms = _names(m, mujoco.mjtObj.mjOBJ_GEOM, m.ngeom)
    assert sum(1 for g in geoms if g and g.startswith("wall_")) == len(world.walls)
    joints = _names(m, mujoco.mjtObj.mjOBJ_JOINT, m.njnt)
    assert set(JOINT_NAMES) <= joints
    assert {o + "_free" for o in world.objects} <= joints
    assert set(JOINT_NAMES) <= _names(m, mujoco.mjtObj.mjOBJ_ACTUATOR, m.nu)
    eqs = _names(m, mujoco.mjtObj.mjOBJ_EQUALITY, m.neq)
    assert eqs == {f"grasp_{o}" for o in world.objects} | {f"handover_{o}" for o in world.objects}
    # furniture boxes where the description says, objects on their slots
    d = mujoco.MjData(m)
    mujoco.mj_forward(m, d)
    for f in world.furniture.values():
        assert d.body(f.name).xpos == pytest.approx([f.at[0], f.at[1], f.height / 2])
    for o, (x, y, top) in world.object_slots().items():
        assert d.body(o).xpos == pytest.approx([x, y, top + world.objects[o].half_height], abs=1e-3)


def test_objects_rest_and_the_robot_starts_where_described(world):
    sim = HomeSim(world)
    before = sim.object_poses()
    sim.step(1.0)
    after = sim.object_poses()
    for o in world.objects:
        assert math.dist(before[o][:3], after[o][:3]) < 0.003, o
    x, y, yaw = sim.robot_pose()
    assert (x, y) == pytest.approx(world.robot_start[:2], abs=1e-3)
    assert math.cos(yaw - world.robot_start[2]) == pytest.approx(1.0, abs=1e-4)
    assert sim.user_hand_position() == pytest.approx(user_hand_position(world))
    names, pos, vel = sim.joint_state()
    assert names == list(JOINT_NAMES) and len(pos) == len(vel) == len(names)


def test_symbolic_state_of_the_start_is_the_initial_state(world):
    sim = HomeSim(world)
    sim.step(0.2)
    s = symbolic_state(world, sim.robot_pose(), sim.object_poses(), sim.holding(), sim.delivered(), sim.docked())
    assert s == WorldState.initial(world)


def test_base_follows_a_body_frame_twist():
    desc = load_world()
    sim = HomeSim(dataclasses.replace(desc, robot_start=(5.0, 4.25, math.pi / 2)))
    sim.set_base_twist(0.0, -0.4, 0.0)  # facing north, moving right = east
    sim.step(1.5)
    vx, vy, wz = sim.robot_twist()
    assert (vx, vy, wz) == pytest.approx((0.0, -0.4, 0.0), abs=0.02)
    x, y, _ = sim.robot_pose()
    assert x > 5.3 and y == pytest.approx(4.25, abs=0.01)
    sim.set_base_twist(0.0, 0.0, 1.0)
    sim.step(1.5)
    assert sim.robot_twist()[2] == pytest.approx(1.0, abs=0.03)
    sim.set_base_twist(float("nan"), 0.0, 0.0)  # non-finite commands stop the base
    sim.step(1.0)
    assert max(abs(v) for v in sim.robot_twist()) < 0.01


def test_the_robot_cannot_drive_through_a_wall():
    desc = load_world()
    sim = HomeSim(desc)  # hallway, (5.0, 4.25); the hallway's north wall is at y = 5.0 here
    wall_y = 5.0 - desc.wall_thickness / 2
    sim.set_base_twist(0.0, 0.8, 0.0)
    for _ in range(8):
        sim.step(0.5)
        assert sim.robot_pose()[1] + desc.robot_radius <= wall_y + 0.01
    assert any(g.startswith("wall_") for g in sim.robot_contacts())
    assert abs(sim.robot_twist()[1]) < 0.02  # pushing, not moving
    # and not through furniture: drive east along the hallway into the charging dock
    sim = HomeSim(desc)
    sim.set_base_twist(0.8, 0.0, 0.0)
    sim.step(8.0)
    dock = desc.furniture["charging_dock"]
    assert sim.robot_pose()[0] + desc.robot_radius <= dock.at[0] - dock.size[0] / 2 + 0.01
    assert "charging_dock" in sim.robot_contacts()


def test_arm_setpoints_are_clipped_and_reached():
    sim = HomeSim(load_world())
    sim.set_arm(5.0, -1.0, 2.0)
    sim.step(6.0)
    lift, ext, grip = sim.arm_state()
    assert lift == pytest.approx(ROBOT.lift_range[1], abs=0.01)
    assert ext == pytest.approx(0.0, abs=0.01)
    assert grip == pytest.approx(1.0, abs=0.02)
    sim.set_arm(0.3, 0.5, 0.0)
    sim.step(7.0)
    assert sim.arm_state() == pytest.approx((0.3, 0.5, 0.0), abs=0.01)


def test_grasp_weld_lift_and_release_falls_by_physics():
    desc = load_world()
    cup = desc.object_slots()["red_cup"]
    f = desc.furniture["kitchen_counter"]
    x, y, yaw = f.approach_pose()
    sim = HomeSim(dataclasses.replace(desc, robot_start=(cup[0], y, yaw)))
    z = sim.object_poses()["red_cup"][2]
    for cmd in [(z + 0.06, 0.0, 0.0), (z + 0.06, y - cup[1] - ROBOT.grasp_x0, 0.0), (z, None, 0.0)]:
        sim.set_arm(cmd[0], cmd[1] if cmd[1] is not None else sim.arm_state()[1], cmd[2])
        sim.step(2.0)
    assert sim.holding() is None
    sim.set_arm(z, sim.arm_state()[1], 1.0)
    sim.step(1.0)
    assert sim.holding() == "red_cup"
    sim.set_arm(z + 0.1, 0.0, 1.0)  # lift and retract: the cup comes along, off the counter
    sim.step(2.5)
    p = sim.object_poses()["red_cup"]
    assert p[2] == pytest.approx(z + 0.1, abs=0.01) and math.dist(p[:3], sim.grasp_position()) < 0.03
    sim.set_arm(z + 0.1, 0.0, 0.0)  # released above the base: it falls (onto the base's top)
    sim.step(2.0)
    assert sim.holding() is None and sim.delivered() == set()
    assert sim.object_poses()["red_cup"][2] < 0.3


def test_world_model_names():
    desc = load_world()
    for f in desc.furniture.values():
        assert robot_at_of(desc, *f.approach_pose()[:2]) == f.name
        x, y, _ = f.approach_pose(lateral=0.3 if min(f.size[:2]) > 0.6 else 0.0)
        assert robot_at_of(desc, x, y) == f.name
    ux, uy = desc.user_position()
    fx, fy = user_facing(desc)
    assert robot_at_of(desc, ux + 0.7 * fx, uy + 0.75 * fy) == "user"
    assert robot_at_of(desc, *desc.rooms["living_room"].center) is None
    assert robot_at_of(desc, *desc.rooms["hallway"].center) is None
    assert dock_name(desc) == "charging_dock" and dock_name(load_world(FLAT)) == "charger_pad"
    s = symbolic_state(desc, desc.furniture["charging_dock"].approach_pose(), {}, "apple",
                       {"red_cup"}, True)
    assert s.robot_room == "hallway" and s.robot_at == "charging_dock" and s.docked
    assert s.location_of("apple") == "robot" and s.location_of("red_cup") == "user"
    assert s.location_of("green_book") == "sofa"  # not reported: keeps its described place
    # an object lying on the floor belongs to the nearest surface; one on a top to that top
    s = symbolic_state(desc, desc.robot_start, {"remote": (9.2, 2.2, 0.02, 1, 0, 0, 0),
                                                "apple": (1.2, 2.3, 0.79, 1, 0, 0, 0)}, None, (), False)
    assert s.location_of("remote") == "shelf" and s.location_of("apple") == "dining_table"


def test_half_extent_follows_orientation():
    desc = load_world()
    book = desc.objects["green_book"]  # box 0.15 x 0.21 x 0.04
    up = (1.0, 0.0, 0.0, 0.0)
    assert half_extent_along(book, up, (1, 0, 0)) == pytest.approx(0.075)
    yaw90 = (math.cos(math.pi / 4), 0.0, 0.0, math.sin(math.pi / 4))
    assert half_extent_along(book, yaw90, (1, 0, 0)) == pytest.approx(0.105)
    cup = desc.objects["red_cup"]  # cylinder r 0.04, h 0.10; lying on its side
    side = (math.cos(math.pi / 4), math.sin(math.pi / 4), 0.0, 0.0)
    assert half_extent_along(cup, side, (0, 0, 1)) == pytest.approx(0.04)
    assert half_extent_along(cup, up, (0, 0, 1)) == pytest.approx(0.05)
