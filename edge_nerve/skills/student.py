"""The multi-skill student: observation vector, skill targets from the map, success monitor, and
a controller that runs the distilled ONNX policy with the same reset/step interface as a teacher.

Why: the teachers (teachers.py) read privileged simulator state and run hand-written phase
machines; the robot's NPU runs one small static-shape MLP for every skill instead. The student
sees only what a robot has (no simulator internals), packed into one float32 vector (1, OBS_DIM):

- the skill (one-hot of SKILL_NAMES);
- odometry: the base twist; joint states: lift, arm extension, gripper closure; the gripper's
  grasp sense (an object is held) (no memory: the phase of a skill shows in the joint states);
- the skill's target relative to the robot, from the map: the goal base pose (navigate/dock: the
  goal pose of the target on the map; pick/place/give: the stance in front of the furniture or
  the user, computed once at skill start from the map geometry and the perceived object pose),
  the lookahead point of the A* path on the map and the remaining path length, the target point
  (the object to pick, the spot to place on, the user's hand) and its offset from what the
  gripper manipulates (the grasp centre, or the held object as perceived);
- a 24-beam planar range scan (sim/lidar.py, `scan` topic in ROS).

Targets are fixed in the map frame at skill start and re-expressed in the body frame every tick
from odometry. Everything geometric is computed by `Target.features`; nothing reads the sim.
A skill ends when the monitor (`Target.check`) sees its goal condition in the same sensor data
(goal pose reached and stopped / object held and arm retracted / object on the furniture /
handed over / docked), or fails on its time limit or a dropped object.

    .venv/bin/python -m pytest tests/unit/test_student.py -q
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

from cloud_brain.domain.description import WorldDescription
from cloud_brain.domain.state import USER
from edge_nerve.skills.navigation import LOOKAHEAD, PathFollower, goal_pose, path_length
from edge_nerve.skills.teachers import (CONTROL_DT, SKILLS, Command, Give, Observation, Pick, Place,
                                        Status, failed, grid_for, holding_arm, vertical_half_extent)
from sim.lidar import MAX_RANGE, N_BEAMS
from sim.mjcf import ROBOT
from sim.world_model import SURFACE_TOL, dock_name, object_location, wrap

SKILL_NAMES: tuple[str, ...] = ("navigate", "pick", "place", "give", "dock")
ACT_DIM = 6  # vx, vy, wz [m/s, m/s, rad/s], lift [m], extend [m], gripper 0..1
# The teachers' phases (teachers.py). The student predicts the phase it is in and has one action
# head per phase: a phase boundary is a decision, so the action jumps there as the teacher's does
# instead of being averaged into an in-between setpoint where the arm stops (a fixed point).
PHASES: tuple[str, ...] = ("init", "stow", "drive", "settle", "align", "face", "extend", "lower",
                           "close", "lift", "release", "retract")
OBS_DIM = 64
# feature slots (see Target.features)
F_SKILL, F_TWIST, F_ARM, F_HOLD, F_GOALMM = 0, 5, 8, 11, 12
F_GOAL, F_FINE, F_WAY, F_POINT, F_REL, F_RELFINE, F_HALF, F_SCAN = 15, 21, 24, 27, 30, 33, 36, 38
F_RELMM = F_SCAN + N_BEAMS  # 62
assert F_RELMM + 2 <= OBS_DIM

ARTIFACT_DIR = Path(__file__).resolve().parent / "artifacts" / "student-v4"
STUDENT_TIMEOUT = {"pick": 25.0, "place": 25.0, "give": 20.0}  # s; navigate/dock: from the path
NAV_POS_TOL, NAV_YAW_TOL, STOP_SPEED = 0.05, 0.08, 0.06  # goal reached and stopped


def _body(pose: Sequence[float], px: float, py: float) -> tuple[float, float]:
    """World point -> base frame (x forward, y left)."""
    c, s = math.cos(pose[2]), math.sin(pose[2])
    dx, dy = px - pose[0], py - pose[1]
    return (c * dx + s * dy, -s * dx + c * dy)


def _clip(v: float, lim: float) -> float:
    return max(-lim, min(lim, v))


@dataclass
class Target:
    """A skill's target in the map frame, fixed at skill start. `error` is set when the skill
    cannot start (unknown name, nothing to hold, no path...)."""

    skill: str
    args: list[str]
    goal: tuple[float, float, float | None] | None = None  # base pose to reach
    path: list[tuple[float, float]] | None = None  # map path for navigate/dock
    obj: str | None = None  # the object picked / placed / given
    point: tuple[float, float, float] | None = None  # object / spot / hand [m]
    furniture: str | None = None  # place: the target surface
    obj_half: float = 0.0  # vertical half extent of the object [m]
    start_z: float = 0.0  # pick: the object's height at the start
    held: str | None = None  # the object held at the start (navigate/dock carry it)
    timeout: float = 40.0
    error: str | None = None
    _follower: PathFollower | None = field(default=None, repr=False)

    # ---- features -----------------------------------------------------------------------
    def features(self, out: np.ndarray, obs: Observation, scan: np.ndarray, prev_arm: Sequence[float]) -> np.ndarray:
        """Fill `out` (OBS_DIM,) float32 with this tick's observation vector; returns it."""
        out[:] = 0.0
        pose = obs.pose
        out[F_SKILL + SKILL_NAMES.index(self.skill)] = 1.0
        out[F_TWIST:F_TWIST + 3] = obs.twist
        out[F_ARM:F_ARM + 3] = obs.arm
        out[F_HOLD] = 1.0 if obs.holding else 0.0
        # (slots 12-14 held the previous arm setpoints once: the student learnt to copy them, a
        # feedback loop that froze it mid-skill.) The millimetre features (F_GOALMM, F_RELMM)
        # resolve the teachers' phase thresholds (base at its stance within ~1 cm, arm at its
        # setpoint within ~6 mm) after input normalisation; the coarser ones only steer there.
        g = self.goal
        if g is not None:
            dx, dy = _body(pose, g[0], g[1])
            d = math.hypot(dx, dy)
            dyaw = wrap(g[2] - pose[2]) if g[2] is not None else 0.0
            out[F_GOAL:F_GOAL + 6] = (_clip(dx, 4.0), _clip(dy, 4.0), min(d, 4.0), math.sin(dyaw),
                                      math.cos(dyaw), 1.0 if g[2] is None else 0.0)
            out[F_FINE:F_FINE + 3] = (_clip(dx, 0.3), _clip(dy, 0.3), _clip(dyaw, 0.3))
            out[F_GOALMM:F_GOALMM + 3] = (_clip(dx, 0.03), _clip(dy, 0.03), _clip(dyaw, 0.05))
            wx, wy, rem = self._waypoint(pose)
            out[F_WAY:F_WAY + 3] = (wx, wy, min(rem, 6.0))
        if self.point is not None:
            px, py = _body(pose, self.point[0], self.point[1])
            out[F_POINT:F_POINT + 3] = (_clip(px, 3.0), _clip(py, 3.0), self.point[2])
            held = obs.objects.get(self.obj) if self.obj and obs.holding == self.obj else None
            if held is not None:  # the held object (perceived) against the spot / hand
                mx, my, mz = held[0], held[1], held[2] - self.obj_half
                if self.skill == "give":
                    mz = held[2]
            else:  # the grasp centre against the object
                c, s = math.cos(pose[2]), math.sin(pose[2])
                reach = ROBOT.grasp_x0 + obs.arm[1]
                mx, my, mz = pose[0] + c * reach, pose[1] + s * reach, obs.arm[0]
            rx, ry = _body(pose, self.point[0], self.point[1])
            bx, by = _body(pose, mx, my)
            rel = (rx - bx, ry - by, self.point[2] - mz)
            out[F_REL:F_REL + 3] = [_clip(v, 0.6) for v in rel]
            out[F_RELFINE:F_RELFINE + 3] = [_clip(v, 0.08) for v in rel]
            out[F_RELMM:F_RELMM + 2] = (_clip(rel[0], 0.02), _clip(rel[2], 0.02))
            out[F_HALF] = self.obj_half
        out[F_SCAN:F_SCAN + N_BEAMS] = np.minimum(scan, MAX_RANGE)
        return out

    def _waypoint(self, pose) -> tuple[float, float, float]:
        """The path's lookahead point in the base frame and the remaining length [m]."""
        g = self.goal
        f = self._follower
        if f is None:
            dx, dy = _body(pose, g[0], g[1])
            return dx, dy, math.hypot(dx, dy)
        f._seg, t = f._project(pose[0], pose[1])
        (ax, ay), (bx, by) = f.path[f._seg], f.path[f._seg + 1]
        rem = math.hypot(bx - (ax + t * (bx - ax)), by - (ay + t * (by - ay))) + path_length(f.path[f._seg + 1:])
        (lx, ly), _ = f._point_along(f._seg, t, LOOKAHEAD)
        if rem < LOOKAHEAD:
            lx, ly = g[0], g[1]
        wx, wy = _body(pose, lx, ly)
        return wx, wy, rem

    # ---- monitor ------------------------------------------------------------------------
    def check(self, desc: WorldDescription, obs: Observation, t: float) -> Status | None:
        """The goal condition seen in the sensors: SUCCEEDED, a failure, or None (running).
        `t`: seconds since the skill started."""
        arm = obs.arm
        speed = math.hypot(obs.twist[0], obs.twist[1])
        sk = self.skill
        if sk in ("navigate", "dock") and self.held and obs.holding != self.held:
            return failed(f"dropped {self.held}")
        if sk == "navigate":
            g = self.goal
            dist = math.hypot(g[0] - obs.pose[0], g[1] - obs.pose[1])
            yaw_ok = g[2] is None or abs(wrap(g[2] - obs.pose[2])) < NAV_YAW_TOL
            if dist < NAV_POS_TOL and yaw_ok and speed < STOP_SPEED and abs(obs.twist[2]) < 0.15:
                return Status("succeeded")
        elif sk == "dock":
            if obs.docked:
                return Status("succeeded")
        elif sk == "pick":
            if obs.holding and obs.holding != self.obj:
                return failed(f"grasped {obs.holding} instead of {self.obj}")
            p = obs.objects.get(self.obj)
            if obs.holding == self.obj and arm[1] < 0.03 and p is not None and p[2] > self.start_z + 0.03:
                return Status("succeeded")
        elif sk == "place":
            p = obs.objects.get(self.obj)
            if obs.holding is None and p is not None and arm[1] < 0.03 and arm[2] < 0.3:
                f = desc.furniture[self.furniture]
                on_top = p[2] - vertical_half_extent(desc, self.obj, p) >= f.height - SURFACE_TOL
                if object_location(desc, p, self.obj) == self.furniture and on_top:
                    return Status("succeeded")
                if t > 1.0 and p[2] < f.height - 0.1:
                    return failed(f"{self.obj} fell")
        elif sk == "give":
            if self.obj in obs.delivered and arm[1] < 0.03:
                return Status("succeeded")
            if obs.holding is None and self.obj not in obs.delivered:
                return failed(f"dropped {self.obj}")
        if t > self.timeout:
            return failed(f"{sk} timed out after {self.timeout:.0f} s")
        return None


def make_target(desc: WorldDescription, skill: str, args: Any, obs: Observation) -> Target:
    """The target of a skill from the map (the world description) and the perceived object
    poses at skill start. Stances for manipulation come from the same geometric helpers the
    teachers use (`_start`: where the base stands so the object is straight ahead within reach)."""
    args = [str(a) for a in (args or [])] if not isinstance(args, str) else [args]
    t = Target(skill, args, held=obs.holding)
    if skill not in SKILL_NAMES:
        t.error = f"unknown skill '{skill}'"
        return t
    grid = grid_for(desc)
    if skill in ("navigate", "dock"):
        if skill == "dock":
            name = dock_name(desc)
            if name is None:
                t.error = "this world has no charging dock"
                return t
            target = name
        else:
            if not args:
                t.error = "navigate needs a target"
                return t
            target = args[0]
            if target not in desc.rooms and target not in desc.furniture and target != USER:
                t.error = f"unknown navigation target '{target}'"
                return t
        g = goal_pose(desc, grid, target, obs.pose[:2])
        if g is None:
            t.error = f"no reachable pose for '{target}'"
            return t
        path = grid.plan(obs.pose[:2], g[:2])
        if path is None:
            t.error = f"no path to '{target}'"
            return t
        t.goal, t.path = g, path
        t._follower = PathFollower(path, g[2])
        t.timeout = 20.0 + path_length(path) / 0.25
        return t
    # manipulation: the teacher's geometry gives the stance; the student does the rest
    cls = {"pick": Pick, "place": Place, "give": Give}[skill]
    ctrl = cls(desc)
    ctrl.reset(args, obs)
    if ctrl.error:
        t.error = ctrl.error
        return t
    st = ctrl._start(obs)
    if st.done:
        t.error = st.reason or f"{skill}: nothing to do"
        return t
    t.obj = ctrl.obj
    p = obs.objects[t.obj]
    t.obj_half = vertical_half_extent(desc, t.obj, p)
    t.goal = tuple(ctrl.base_goal)
    t.timeout = STUDENT_TIMEOUT[skill]
    if skill == "pick":
        t.point, t.start_z = (p[0], p[1], p[2]), p[2]
    elif skill == "place":
        t.point, t.furniture = tuple(ctrl.slot), ctrl.target
    else:
        t.point = tuple(obs.user_hand)
    return t


# ---- the policy -------------------------------------------------------------------------------
def load_meta(artifact_dir: str | Path = ARTIFACT_DIR) -> dict:
    return json.loads((Path(artifact_dir) / "meta.json").read_text())


class StudentController:
    """The ONNX student as a skill controller: reset(args, obs) / step(obs, dt) -> (Command,
    Status), like a teacher, plus `scan` (the latest range scan, set by the caller each tick).

    `policy`: a callable (1, OBS_DIM) float32 -> (1, ACT_DIM), e.g. PolicyRuntime.run."""

    def __init__(self, desc: WorldDescription, skill: str, policy: Callable[[np.ndarray], np.ndarray]):
        self.desc, self.name, self.policy = desc, skill, policy
        self.vec = np.zeros((1, OBS_DIM), dtype=np.float32)
        self.scan = np.full(N_BEAMS, MAX_RANGE)
        self.target: Target | None = None
        self.prev_arm = [0.6, 0.0, 0.0]
        self.t0 = 0.0
        self.phase = "student"
        self.timeout = 40.0

    def reset(self, args: Any, obs: Observation) -> None:
        self.target = make_target(self.desc, self.name, args, obs)
        self.timeout = self.target.timeout
        self.prev_arm = holding_arm(obs)
        self.t0 = obs.time

    def step(self, obs: Observation, dt: float = CONTROL_DT) -> tuple[Command, Status]:
        tg = self.target
        hold = Command(0.0, 0.0, 0.0, *self.prev_arm)
        if tg.error:
            return hold, failed(tg.error)
        st = tg.check(self.desc, obs, obs.time - self.t0)
        if st is not None:
            return hold, st
        tg.features(self.vec[0], obs, self.scan, self.prev_arm)
        a = self.policy(self.vec).reshape(-1)
        if not np.all(np.isfinite(a[:ACT_DIM])):
            return hold, failed("the policy's action is not finite")
        cmd = Command(float(a[0]), float(a[1]), float(a[2]), float(a[3]), float(a[4]), float(a[5]))
        self.prev_arm = [cmd.lift, cmd.extend, cmd.gripper]
        return cmd, Status("running")


def load_student_runtime(artifact_dir: str | Path = ARTIFACT_DIR, which: str = "int8"):
    """PolicyRuntime over the shipped student (`student.int8.onnx` or `student.fp32.onnx`)."""
    from edge_nerve.runtime import PolicyRuntime

    path = Path(artifact_dir) / f"student.{which}.onnx"
    return PolicyRuntime(path, deadline_us=5000, expected_input_shape=(1, OBS_DIM),
                         expected_output_shape=(1, ACT_DIM))


def trained_for(artifact_dir: str | Path, world_name: str) -> tuple[bool, str]:
    """Whether the student in `artifact_dir` was distilled in the world named `world_name`
    (its meta.json `worlds`, layouts randomised around each), and a sentence saying so. A
    learned policy outside its training distribution fails quietly (it stalls), so `skills:=auto`
    runs the teachers in any other world and says why."""
    try:
        meta = load_meta(artifact_dir)
    except (OSError, ValueError) as e:
        return False, f"no readable meta.json in {artifact_dir} ({e})"
    worlds = meta.get("worlds") or []
    if world_name in worlds:
        return True, f"distilled in '{world_name}'"
    return False, (f"the student in {artifact_dir} was distilled in {worlds or 'an unrecorded world'}, "
                   f"not '{world_name}'")


assert set(SKILL_NAMES) == set(SKILLS)
