"""GazeboStateAdapter (sim/gazebo/adapter.py): the arm command as joint setpoints, and the object
states (holding / delivered / docked) decided from poses the way HomeSim decides them."""

from __future__ import annotations

import math

import pytest

from cloud_brain.domain.description import load_world
from sim.gazebo.adapter import GazeboStateAdapter
from sim.gazebo.sdf import ARM_JOINTS, joint_commands
from sim.home_sim import HANDOVER_RADIUS, HomeSim
from sim.mjcf import ROBOT
from sim.world_model import dock_name, user_hand_position

CUP = "red_cup"


@pytest.fixture(scope="module")
def desc():
    return load_world()


def _with_all_poses(desc) -> GazeboStateAdapter:
    a = GazeboStateAdapter(desc)
    for name, (x, y, z) in desc.object_slots().items():
        a.set_object_pose(name, (x, y, z + desc.objects[name].half_height, 1.0, 0.0, 0.0, 0.0))
    return a


def _reach(a: GazeboStateAdapter, obj: str, extend: float = 0.2, stroke: float | str = 0.0) -> None:
    """Stand facing +x with the grasp point on the object's centre, fingers at `stroke` [m]
    ("contact": stopped on the object's sides)."""
    x, y, z = a.objects[obj][:3]
    a.set_odometry(x - ROBOT.grasp_x0 - extend, y, 0.0)
    if stroke == "contact":
        stroke = a.contact_stroke(obj)
    a.set_joints(["lift", "arm_extend", "finger_left", "finger_right"], [z, extend, stroke, stroke])


def _carry(a: GazeboStateAdapter, obj: str, to_xyz) -> None:
    """Move the robot so that the grasp point (and the held object with it) is at to_xyz."""
    _, extend, _ = a._arm()
    a.set_odometry(to_xyz[0] - ROBOT.grasp_x0 - extend, to_xyz[1], 0.0)
    a.set_joints(["lift"], [to_xyz[2]])
    a.set_object_pose(obj, (*to_xyz, 1.0, 0.0, 0.0, 0.0))


def test_arm_command_becomes_the_four_joint_setpoints(desc):
    a = GazeboStateAdapter(desc)
    sp = a.arm_command([0.8, 0.25, 1.0])
    assert set(sp) == set(ARM_JOINTS) and sp == joint_commands(0.8, 0.25, 1.0)
    assert sp["finger_left"] == sp["finger_right"] == ROBOT.finger_travel
    assert a.arm_command([0.8, 0.25]) is None and a.arm_command([0.8, math.nan, 0.0]) is None
    assert a.arm_cmd == (0.8, 0.25, 1.0)  # the last valid command is kept


def test_no_snapshot_until_every_object_has_a_pose(desc):
    a = GazeboStateAdapter(desc)
    assert a.update() is None and set(a.missing()) == set(desc.objects)
    assert not a.set_object_pose("not_an_object", (0, 0, 0, 1, 0, 0, 0))
    names = list(desc.objects)
    for n in names[:-1]:
        a.set_object_pose(n, (1, 2, 3, 1, 0, 0, 0))
    assert a.update() is None and a.missing() == names[-1:]
    a.set_object_pose(names[-1], (1, 2, 3, 1, 0, 0, 0))
    snap = a.update()
    assert set(snap.poses) == set(desc.objects) and snap.holding == "" and snap.delivered == () and not snap.docked


def test_grasp_point_and_user_hand_agree_with_mujoco(desc):
    sim = HomeSim(desc)
    sim.set_arm(0.9, 0.3, 0.0)
    sim.set_base_twist(0.1, 0.0, 0.4)
    sim.step(1.0)
    a = GazeboStateAdapter(desc)
    x, y, yaw = sim.robot_pose()
    a.set_odometry(x, y, yaw)
    names, pos, _ = sim.joint_state()
    a.set_joints(names, pos)
    assert a.grasp_point() == pytest.approx(sim.grasp_position(), abs=1e-3)
    assert user_hand_position(desc) == pytest.approx(sim.user_hand_position(), abs=1e-6)


def test_pick_carry_and_hand_over(desc):
    a = _with_all_poses(desc)
    _reach(a, CUP)
    a.arm_command([a.objects[CUP][2], 0.2, 1.0])
    assert a.update().holding == ""  # closing, but the fingers have not reached the cup yet
    _reach(a, CUP, stroke="contact")
    assert a.update().holding == CUP
    hand = user_hand_position(desc)
    _carry(a, CUP, (hand[0] - 0.1, hand[1], hand[2]))
    assert a.update().holding == CUP
    a.arm_command([hand[2], 0.2, 0.0])  # open next to the hand: the user takes it
    snap = a.update()
    assert snap.holding == "" and snap.delivered == (CUP,)
    a.set_object_pose(CUP, (hand[0], hand[1], 0.05, 1, 0, 0, 0))  # (in Gazebo it falls: still delivered)
    assert a.update().delivered == (CUP,)
    a.arm_command([hand[2], 0.2, 1.0])
    _reach(a, CUP, stroke="contact")
    assert a.update().holding == ""  # a delivered object is never picked again


def test_release_away_from_the_user_is_not_a_delivery(desc):
    a = _with_all_poses(desc)
    _reach(a, CUP, stroke="contact")
    a.arm_command([a.objects[CUP][2], 0.2, 1.0])
    assert a.update().holding == CUP
    hand = user_hand_position(desc)
    far = (hand[0] + HANDOVER_RADIUS + 0.3, hand[1], hand[2])
    _carry(a, CUP, far)
    a.arm_command([far[2], 0.2, 0.0])
    snap = a.update()
    assert snap.holding == "" and snap.delivered == ()


def test_fingers_shut_past_the_object_or_open_gripper_hold_nothing(desc):
    a = _with_all_poses(desc)
    _reach(a, CUP, stroke=ROBOT.finger_travel)  # closed on nothing: the cup is not between them really
    a.arm_command([a.objects[CUP][2], 0.2, 1.0])
    assert a.update().holding == ""
    a = _with_all_poses(desc)
    _reach(a, CUP, stroke="contact")
    a.arm_command([a.objects[CUP][2], 0.2, 0.0])  # open
    assert a.update().holding == ""


def test_an_object_that_slips_out_is_no_longer_held(desc):
    a = _with_all_poses(desc)
    _reach(a, CUP, stroke="contact")
    a.arm_command([a.objects[CUP][2], 0.2, 1.0])
    assert a.update().holding == CUP
    x, y, z = a.objects[CUP][:3]
    a.set_object_pose(CUP, (x, y, z - 0.3, 1, 0, 0, 0))  # it fell while the gripper stayed closed
    assert a.update().holding == ""


def test_docked_at_the_dock_approach_pose_and_stopped(desc):
    a = _with_all_poses(desc)
    x, y, yaw = desc.furniture[dock_name(desc)].approach_pose()
    a.set_odometry(x, y, yaw)
    assert a.update().docked
    a.set_odometry(x, y, yaw, 0.3, 0.0, 0.0)  # driving through
    assert not a.update().docked
    a.set_odometry(x + 0.5, y, yaw)
    assert not a.update().docked
