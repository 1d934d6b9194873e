"""The geometric abstraction: continuous sim/robot state -> the symbolic WorldState.

Why: the planner reasons over names (robot_room, robot_at, object -> furniture); the edge's
feasibility check and the demo's final goal check must derive those names from what the
physics (or the real robot's sensors) report, with one set of thresholds. This module also
holds the few pure-geometry helpers about the user and the dock that the MJCF builder, the
sim, navigation and the skill teachers share, so they cannot disagree.

    /tmp/probe/v/bin/python -c "from sim.world_model import *; from cloud_brain.domain.description import load_world; d=load_world(); print(symbolic_state(d, d.robot_start, {}, None, set(), False))"
"""

from __future__ import annotations

import math
from typing import Iterable, Mapping, Sequence

from cloud_brain.domain.description import SIDES, Furniture, ObjectSpec, WorldDescription
from cloud_brain.domain.state import ROBOT, USER, WorldState

AT_RADIUS = 0.3  # m: robot within this of a furniture's approach edge (or its user pose) is "at" it
USER_STANDOFF = 0.7  # m: where the robot stands from the user's position to hand things over
USER_BODY_RADIUS = 0.17  # m: torso cylinder
USER_HAND_REACH = 0.30  # m: hand ahead of the torso axis, toward the user's facing direction
SURFACE_TOL = 0.03  # m: an object counts as "on" a top if its bottom is no lower than this below it
DOCK_WORDS = ("dock", "charger", "charging")


# ---- the user -------------------------------------------------------------------------------
def user_seat(desc: WorldDescription) -> Furniture | None:
    """The surface furniture the user sits on (its footprint contains the user's spot), if any."""
    ux, uy = desc.user_position()
    for f in desc.furniture.values():
        if f.surface and f.contains_xy(ux, uy):
            return f
    return None


def user_facing(desc: WorldDescription) -> tuple[float, float]:
    """Unit vector the user faces: out of the seat's approach side, else toward the room centre."""
    seat = user_seat(desc)
    if seat is not None:
        return SIDES[seat.approach]
    ux, uy = desc.user_position()
    cx, cy = desc.rooms[desc.user_room].center
    dx, dy = cx - ux, cy - uy
    n = math.hypot(dx, dy)
    return (dx / n, dy / n) if n > 1e-6 else (1.0, 0.0)


def user_base_height(desc: WorldDescription) -> float:
    """z where the user's torso starts: the seat's top when seated, the floor when standing."""
    seat = user_seat(desc)
    return seat.height if seat is not None else 0.0


def user_hand_position(desc: WorldDescription) -> tuple[float, float, float]:
    """Where the user holds out a hand to take things (x, y, z), metres."""
    ux, uy = desc.user_position()
    fx, fy = user_facing(desc)
    z = 0.70 if user_seat(desc) is not None else 0.85
    return (ux + fx * USER_HAND_REACH, uy + fy * USER_HAND_REACH, z)


# ---- the dock -------------------------------------------------------------------------------
def dock_name(desc: WorldDescription) -> str | None:
    """The charging dock furniture: named or aliased like a dock; None if the world has none."""
    for f in desc.furniture.values():
        words = (f.name,) + tuple(f.aliases)
        if any(w in s.lower() for s in words for w in DOCK_WORDS):
            return f.name
    return None


def is_docked(desc: WorldDescription, pose: Sequence[float], twist: Sequence[float] = (0, 0, 0),
              pos_tol: float = 0.10, yaw_tol: float = 0.20, speed_tol: float = 0.05) -> bool:
    """Base within pos_tol/yaw_tol of the dock's approach pose and nearly stopped."""
    name = dock_name(desc)
    if name is None:
        return False
    dx, dy, dyaw = desc.furniture[name].approach_pose()
    x, y, yaw = pose[:3]
    return (math.hypot(x - dx, y - dy) <= pos_tol and abs(wrap(yaw - dyaw)) <= yaw_tol
            and math.hypot(twist[0], twist[1]) <= speed_tol and abs(twist[2]) <= 2 * speed_tol)


# ---- geometry -------------------------------------------------------------------------------
def half_extent_along(spec: ObjectSpec, quat: Sequence[float], axis: Sequence[float]) -> float:
    """Half the object's extent along a world unit `axis`, for its orientation quat (w, x, y, z)
    [m]: the support function of its box / cylinder / sphere."""
    if spec.shape == "sphere":
        return spec.size[0]
    w, x, y, z = quat
    # columns of the rotation matrix: the body's x, y, z axes in the world
    cols = ((1 - 2 * (y * y + z * z), 2 * (x * y + w * z), 2 * (x * z - w * y)),
            (2 * (x * y - w * z), 1 - 2 * (x * x + z * z), 2 * (y * z + w * x)),
            (2 * (x * z + w * y), 2 * (y * z - w * x), 1 - 2 * (x * x + y * y)))
    dots = [abs(sum(c[i] * axis[i] for i in range(3))) for c in cols]
    if spec.shape == "box":
        return 0.5 * sum(d * s for d, s in zip(dots, spec.size))
    c = min(1.0, dots[2])  # cylinder: radius across its axis, half height along it
    return spec.size[0] * math.sqrt(max(0.0, 1 - c * c)) + spec.size[1] / 2 * c


def wrap(a: float) -> float:
    """Angle wrapped to (-pi, pi]."""
    return math.atan2(math.sin(a), math.cos(a))


def approach_edge_distance(f: Furniture, x: float, y: float) -> float:
    """Distance from (x, y) to the furniture's approach segment (all laterally shifted approach
    poses along its approach edge), metres."""
    nx, ny = SIDES[f.approach]
    cx, cy, _ = f.approach_pose()
    tx, ty = -ny, nx
    half_edge = (f.size[1] if nx else f.size[0]) / 2
    s = max(-half_edge, min(half_edge, (x - cx) * tx + (y - cy) * ty))
    return math.hypot(x - (cx + tx * s), y - (cy + ty * s))


def footprint_distance(f: Furniture, x: float, y: float) -> float:
    """Distance from (x, y) to the furniture's footprint rectangle (0 inside)."""
    dx = max(abs(x - f.at[0]) - f.size[0] / 2, 0.0)
    dy = max(abs(y - f.at[1]) - f.size[1] / 2, 0.0)
    return math.hypot(dx, dy)


def robot_room_of(desc: WorldDescription, x: float, y: float) -> str:
    """Room containing (x, y); on a wall or outside, the nearest room."""
    room = desc.room_at(x, y)
    if room is not None:
        return room

    def dist(r):
        x0, y0, x1, y1 = r.rect
        return math.hypot(max(x0 - x, 0, x - x1), max(y0 - y, 0, y - y1))
    return min(desc.rooms.values(), key=dist).name


def robot_at_of(desc: WorldDescription, x: float, y: float, radius: float = AT_RADIUS) -> str | None:
    """The furniture (or "user") the robot stands at, or None.

    Each candidate scores a distance: a furniture by the robot's distance to its approach edge
    (so lining up with any object along the edge still counts), the user by how much farther
    than USER_STANDOFF the robot is from the user's position. The closest within `radius` wins."""
    best, best_d = None, radius
    for f in desc.furniture.values():
        d = approach_edge_distance(f, x, y)
        if d <= best_d:
            best, best_d = f.name, d
    ux, uy = desc.user_position()
    d_user = abs(math.hypot(x - ux, y - uy) - USER_STANDOFF)
    if d_user < best_d:
        best = USER
    return best


def object_location(desc: WorldDescription, pos: Sequence[float], name: str | None = None) -> str:
    """The surface furniture an object at pos (x, y, z) stands on; if none contains it, the
    nearest surface (an object on the floor still belongs somewhere symbolically)."""
    x, y, z = pos[:3]
    half_h = desc.objects[name].half_height if name in desc.objects else 0.0
    surfaces = [f for f in desc.furniture.values() if f.surface]
    on = [f for f in surfaces if f.contains_xy(x, y, margin=0.02) and z - half_h >= f.height - SURFACE_TOL]
    if on:
        return max(on, key=lambda f: f.height).name  # the top it rests on, not one below it
    return min(surfaces, key=lambda f: (footprint_distance(f, x, y), abs(z - f.height))).name


def symbolic_state(desc: WorldDescription, robot_pose: Sequence[float],
                   object_poses: Mapping[str, Sequence[float]], holding: str | None,
                   delivered: Iterable[str], docked: bool) -> WorldState:
    """The WorldState that a continuous state corresponds to.

    robot_pose: (x, y, yaw) [m, m, rad]; object_poses: {name: (x, y, z, ...)} [m] (objects missing
    from it keep their description location); holding: the held object or None; delivered: objects
    handed to the user; docked: from HomeSim.docked() / is_docked()."""
    x, y = float(robot_pose[0]), float(robot_pose[1])
    delivered = set(delivered)
    objects = {}
    for o in desc.objects.values():
        if o.name == holding:
            objects[o.name] = ROBOT
        elif o.name in delivered:
            objects[o.name] = USER
        elif o.name in object_poses:
            objects[o.name] = object_location(desc, object_poses[o.name], o.name)
        else:
            objects[o.name] = o.on
    return WorldState(desc, tuple(sorted(objects.items())), robot_room_of(desc, x, y),
                      robot_at_of(desc, x, y), desc.user_room, bool(docked))
