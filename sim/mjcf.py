"""MJCF (MuJoCo XML) of a home world, generated from its world description.

Why generated: the YAML world description is the single source of truth, so the room, furniture
and object names (and their geometry) in the physics can never drift from the planner's. Any
world in the description format builds; nothing here knows the default home.

The robot is a Stretch-like mobile manipulator: a round holonomic base (planar joints base_x,
base_y, base_yaw driven by velocity actuators), a mast with a lift (grasp height above the
floor), a telescoping arm extending forward, and a parallel gripper whose fingers close along
the robot's lateral axis. Grasping is an equality weld toggled by the sim (HomeSim).

    /tmp/probe/v/bin/python -m sim.mjcf > /tmp/home.xml      # then: python -m mujoco.viewer --mjcf=/tmp/home.xml
"""

from __future__ import annotations

import math
import sys
from dataclasses import dataclass
from xml.sax.saxutils import quoteattr

from cloud_brain.domain.description import WorldDescription, load_world, volume
from sim.world_model import USER_BODY_RADIUS, user_base_height, user_facing, user_hand_position, user_seat

TIMESTEP = 0.002  # s

# collision bits: contact iff (contype1 & conaffinity2) or (contype2 & conaffinity1)
ENV_BITS = (1, 6)  # static world: floor, walls, furniture, user; touches robot and objects
BASE_BITS = (2, 5)  # robot base: touches the world and objects
ARM_BITS = (2, 1)  # mast, arm, gripper: touch the world only (the grasp is a weld, not friction)
OBJ_BITS = (4, 5)  # objects: touch the world, each other and the base


@dataclass(frozen=True)
class RobotSpec:
    """Geometry and limits of the robot (metres, radians, seconds) shared with the controllers."""

    mast_x: float = -0.12  # mast axis, base frame
    grasp_x0: float = 0.15  # grasp centre ahead of the base centre with the arm retracted
    lift_range: tuple[float, float] = (0.10, 2.10)  # lift joint = grasp centre height above floor
    # (2.10: the fingers close over a top up to 1.97 m, a bookcase's or a garage rack's top shelf;
    # at 1.20 the 1.5-1.9 m shelves and 1.1 m mantelpieces of the held-out homes were out of reach)
    extend_range: tuple[float, float] = (0.0, 0.55)  # telescoping arm extension
    finger_travel: float = 0.10  # each finger's stroke (0 = open)
    finger_open_y: float = 0.115  # finger centre from the gripper axis when open
    finger_half_thickness: float = 0.008
    finger_half_length: float = 0.045
    finger_half_height: float = 0.02
    base_height: float = 0.16  # base cylinder height; its bottom is 3 cm above the floor
    base_mass: float = 18.0  # kg (whole robot about 23 kg)
    max_lin_vel: float = 1.0  # m/s, actuator saturation in the sim (controllers use less)
    max_ang_vel: float = 2.0  # rad/s
    max_lin_acc: float = 1.5  # m/s^2, twist slew limit (the drive's acceleration limit)
    max_ang_acc: float = 4.0  # rad/s^2
    lift_speed: float = 0.30  # m/s, setpoint slew limit of the lift motor
    extend_speed: float = 0.30  # m/s
    finger_speed: float = 0.25  # m/s

    @property
    def reach_top(self) -> float:
        """Highest furniture top the fingers close over: the lift's top, less the grasp centre's
        margin below it (0.1 m) and above the top (0.03 m). The planner's REACH_TOP."""
        return self.lift_range[1] - 0.13

    @property
    def reach(self) -> float:
        """Farthest grasp centre ahead of the base centre."""
        return self.grasp_x0 + self.extend_range[1]

    @property
    def finger_inner_open(self) -> float:
        """Half the opening between the finger faces when fully open."""
        return self.finger_open_y - self.finger_half_thickness

    def spans(self, half_width: float) -> bool:
        """Whether the open fingers close around something this wide across them (half width,
        metres), with the pick's margin inside the fingers."""
        return half_width <= self.finger_inner_open - GRIP_MARGIN


GRIP_MARGIN = 0.003  # the pick's margin inside the open fingers [m]
ROBOT = RobotSpec()


def resting_yaw(desc: WorldDescription, name: str, robot: RobotSpec = ROBOT) -> float:
    """The yaw an object rests at where the world puts it [rad]: 0, unless the gripper (which
    closes across the robot's heading, the robot facing the furniture from its approach side)
    could not span it that way but could turned a quarter: then pi/2, as a person leaves a
    hammer or a tray pointing at whoever will pick it up. Why: the arm has no wrist to turn."""
    o = desc.objects[name]
    if o.shape != "box":
        return 0.0
    across_y = desc.furniture[o.on].approach in ("+x", "-x")  # the fingers close along world y
    across, along = (o.size[1], o.size[0]) if across_y else (o.size[0], o.size[1])
    return math.pi / 2 if not robot.spans(across / 2) and robot.spans(along / 2) else 0.0


FURNITURE_RGBA = {
    "counter": "0.75 0.70 0.62 1", "sink": "0.70 0.75 0.80 1", "table": "0.55 0.38 0.22 1",
    "sofa": "0.35 0.40 0.55 1", "shelf": "0.50 0.33 0.20 1", "bed": "0.80 0.78 0.90 1",
    "dock": "0.15 0.15 0.15 1",
}


def _f(*vals: float) -> str:
    return " ".join(f"{v:.6g}" for v in vals)


def _rgba_for(name: str) -> str:
    for key, rgba in FURNITURE_RGBA.items():
        if key in name:
            return rgba
    return "0.6 0.55 0.5 1"


def object_mass(shape: str, size: tuple[float, ...]) -> float:
    """kg: household-object density (600 kg/m^3: hollow cups, paper, fruit), clipped to 50-600 g."""
    return min(0.6, max(0.05, 600.0 * volume(shape, size)))


def _object_geom(o) -> str:
    """Geom attributes for an object spec (the description gives full sizes; MJCF wants halves)."""
    rgba = _f(*o.rgba)
    common = (f'rgba="{rgba}" mass="{object_mass(o.shape, o.size):.4g}" contype="{OBJ_BITS[0]}" '
              f'conaffinity="{OBJ_BITS[1]}" friction="1.0 0.01 0.002" solref="0.004 1"')
    if o.shape == "box":
        return f'type="box" size="{_f(*(s / 2 for s in o.size))}" {common}'
    if o.shape == "cylinder":
        return f'type="cylinder" size="{_f(o.size[0], o.size[1] / 2)}" {common}'
    return f'type="sphere" size="{_f(o.size[0])}" condim="6" {common}'


def build_mjcf(desc: WorldDescription, robot: RobotSpec = ROBOT) -> str:
    """The MJCF text of the world: floor, walls, furniture, objects, the user and the robot.

    Names: furniture body/geom = furniture name; object body = object name (free joint
    "<name>_free"); user body "user" with site "user_hand"; robot joints base_x, base_y,
    base_yaw, lift, arm_extend, finger_left, finger_right; weld equalities grasp_<object> (robot
    gripper) and handover_<object> (user's hand), all inactive at the start."""
    r = robot
    t, h = desc.wall_thickness, desc.wall_height
    xs = [v for room in desc.rooms.values() for v in (room.rect[0], room.rect[2])]
    ys = [v for room in desc.rooms.values() for v in (room.rect[1], room.rect[3])]
    cx, cy = (min(xs) + max(xs)) / 2, (min(ys) + max(ys)) / 2
    ext = max(max(xs) - min(xs), max(ys) - min(ys))
    out: list[str] = []
    w = out.append
    w(f'<mujoco model={quoteattr("brainstem_" + desc.name)}>')
    w('  <compiler angle="radian" autolimits="true"/>')
    w(f'  <option timestep="{TIMESTEP}" integrator="implicitfast" cone="elliptic" impratio="5">')
    w('    <flag sleep="enable"/>')  # resting objects sleep (4x faster); contacts/welds wake them
    w('  </option>')
    w('  <visual><global offwidth="1280" offheight="960"/><quality shadowsize="2048"/></visual>')
    w('  <default>')
    w('    <geom solimp="0.95 0.99 0.001" solref="0.005 1"/>')
    w('    <site group="3"/>')
    w('  </default>')
    w('  <asset>')
    w('    <texture name="grid" type="2d" builtin="checker" rgb1="0.82 0.80 0.76" rgb2="0.74 0.72 0.68" width="256" height="256"/>')
    w('    <material name="floor" texture="grid" texrepeat="20 20"/>')
    w('  </asset>')
    w('  <worldbody>')
    w(f'    <light name="sun" pos="{_f(cx, cy, 12)}" dir="0 0 -1" directional="true" diffuse="0.7 0.7 0.7"/>')
    w(f'    <camera name="overview" pos="{_f(cx, cy - 0.35 * ext, 1.1 * ext)}" xyaxes="1 0 0 0 0.95 0.3"/>')
    w(f'    <geom name="floor" type="plane" pos="{_f(cx, cy, 0)}" size="{_f(ext, ext, 0.1)}" material="floor" '
      f'contype="{ENV_BITS[0]}" conaffinity="{ENV_BITS[1]}"/>')
    # walls: boxes centred on their segments
    for i, wall in enumerate(desc.walls):
        (x0, y0), (x1, y1) = wall.start, wall.end
        length = math.hypot(x1 - x0, y1 - y0)
        horizontal = abs(y1 - y0) < 1e-9
        half = (length / 2, t / 2, h / 2) if horizontal else (t / 2, length / 2, h / 2)
        w(f'    <geom name="wall_{i}" type="box" pos="{_f((x0 + x1) / 2, (y0 + y1) / 2, h / 2)}" '
          f'size="{_f(*half)}" rgba="0.92 0.90 0.86 1" friction="0.4 0.005 0.0001" '
          f'contype="{ENV_BITS[0]}" conaffinity="{ENV_BITS[1]}"/>')
    # furniture: static boxes from the floor to their height
    for f in desc.furniture.values():
        sx, sy, fh = f.size
        w(f'    <body name="{f.name}" pos="{_f(f.at[0], f.at[1], fh / 2)}">')
        w(f'      <geom name="{f.name}" type="box" size="{_f(sx / 2, sy / 2, fh / 2)}" rgba="{_rgba_for(f.name)}" '
          f'friction="0.8 0.005 0.0001" contype="{ENV_BITS[0]}" conaffinity="{ENV_BITS[1]}"/>')
        w('    </body>')
    # the user: a static figure (torso cylinder, head sphere, hand site toward the room)
    ux, uy = desc.user_position()
    z0 = user_base_height(desc)
    torso = 0.60 if user_seat(desc) is not None else 1.40
    fx, fy = user_facing(desc)
    hx, hy, hz = user_hand_position(desc)
    w(f'    <body name="user" pos="{_f(ux, uy, 0)}">')
    w(f'      <geom name="user_torso" type="cylinder" pos="{_f(0, 0, z0 + torso / 2)}" size="{_f(USER_BODY_RADIUS, torso / 2)}" '
      f'rgba="0.25 0.45 0.65 1" contype="{ENV_BITS[0]}" conaffinity="{ENV_BITS[1]}"/>')
    w(f'      <geom name="user_head" type="sphere" pos="{_f(0, 0, z0 + torso + 0.12)}" size="0.11" '
      f'rgba="0.90 0.75 0.62 1" contype="{ENV_BITS[0]}" conaffinity="{ENV_BITS[1]}"/>')
    arm_len = math.hypot(hx - ux, hy - uy)
    w(f'      <geom name="user_arm" type="capsule" fromto="{_f(0, 0, hz + 0.15, hx - ux - 0.04 * fx, hy - uy - 0.04 * fy, hz)}" '
      f'size="0.035" rgba="0.90 0.75 0.62 1" contype="0" conaffinity="0"/>' if arm_len > 0.05 else '')
    w(f'      <body name="user_hand" pos="{_f(hx - ux, hy - uy, hz)}">')
    w('        <site name="user_hand" type="sphere" size="0.04" rgba="0.90 0.75 0.62 1" group="0"/>')
    w('      </body>')
    w('    </body>')
    # objects: free bodies resting on their slots
    slots = desc.object_slots()
    for o in desc.objects.values():
        sx, sy, top = slots[o.name]
        yaw = resting_yaw(desc, o.name, r)
        quat = f' quat="{_f(math.cos(yaw / 2), 0, 0, math.sin(yaw / 2))}"' if yaw else ""
        w(f'    <body name="{o.name}" pos="{_f(sx, sy, top + o.half_height + 0.0005)}"{quat}>')
        w(f'      <freejoint name="{o.name}_free"/>')
        w(f'      <geom name="{o.name}" {_object_geom(o)}/>')
        w('    </body>')
    # the robot
    x0, y0, _yaw0 = desc.robot_start  # yaw is set in the initial qpos by HomeSim (slides stay world-aligned)
    bz = 0.03 + r.base_height / 2
    mast_top = r.lift_range[1] + 0.2
    w(f'    <body name="robot" pos="{_f(x0, y0, 0)}">')
    w(f'      <joint name="base_x" type="slide" axis="1 0 0" ref="{x0:.6g}" damping="2"/>')
    w(f'      <joint name="base_y" type="slide" axis="0 1 0" ref="{y0:.6g}" damping="2"/>')
    w('      <joint name="base_yaw" type="hinge" axis="0 0 1" damping="0.5"/>')
    w(f'      <geom name="robot_base" type="cylinder" pos="{_f(0, 0, bz)}" size="{_f(desc.robot_radius, r.base_height / 2)}" '
      f'mass="{r.base_mass}" rgba="0.15 0.15 0.17 1" friction="0.3 0.005 0.0001" contype="{BASE_BITS[0]}" conaffinity="{BASE_BITS[1]}"/>')
    w(f'      <geom name="robot_front" type="box" pos="{_f(desc.robot_radius - 0.04, 0, bz + r.base_height / 2 + 0.005)}" '
      'size="0.03 0.05 0.005" rgba="0.9 0.5 0.1 1" contype="0" conaffinity="0" mass="0"/>')
    # the mast (2.30 m) stands between the chase camera and what the arm does: drawn see-through
    w(f'      <geom name="robot_mast" type="box" pos="{_f(r.mast_x, 0, (0.03 + r.base_height + mast_top) / 2)}" '
      f'size="{_f(0.035, 0.035, (mast_top - 0.03 - r.base_height) / 2)}" mass="2" rgba="0.2 0.2 0.22 0.45" '
      f'contype="{ARM_BITS[0]}" conaffinity="{ARM_BITS[1]}"/>')
    w('      <site name="base_center" pos="0 0 0.1"/>')
    # chase camera (sim/render.py): over the robot's right shoulder, turning with it, looking down at the floor 0.8 m ahead
    w('      <camera name="chase" pos="-1.3 -0.5 2.2" xyaxes="0.275 -0.962 0 0.631 0.18 0.754" fovy="55"/>')
    lift0 = 0.6
    # lift carriage: its frame z = grasp-centre height (the lift joint value)
    w(f'      <body name="lift_link" pos="{_f(0, 0, lift0)}" gravcomp="1">')
    w(f'        <joint name="lift" type="slide" axis="0 0 1" ref="{lift0}" range="{_f(*r.lift_range)}" damping="150" armature="1"/>')
    w(f'        <geom name="lift_carriage" type="box" pos="{_f(r.mast_x, 0, 0)}" size="0.06 0.06 0.05" mass="1.2" '
      f'rgba="0.25 0.25 0.28 1" contype="{ARM_BITS[0]}" conaffinity="{ARM_BITS[1]}"/>')
    w(f'        <geom name="arm_sleeve" type="box" pos="{_f((r.mast_x + 0.06) / 2, 0, 0.04)}" size="{_f((0.06 - r.mast_x) / 2, 0.03, 0.02)}" '
      f'mass="0.4" rgba="0.3 0.3 0.33 1" contype="0" conaffinity="0"/>')
    # telescoping arm: its frame origin is the grasp centre (between the fingers)
    w(f'        <body name="arm_link" pos="{_f(r.grasp_x0, 0, 0)}" gravcomp="1">')
    w(f'          <joint name="arm_extend" type="slide" axis="1 0 0" range="{_f(*r.extend_range)}" damping="50" armature="0.5"/>')
    w('          <geom name="arm_tube" type="box" pos="-0.30 0 0.04" size="0.22 0.022 0.015" mass="0.5" '
      'rgba="0.35 0.35 0.38 1" contype="0" conaffinity="0"/>')
    w(f'          <geom name="gripper_palm" type="box" pos="-0.065 0 0.02" size="0.015 {r.finger_open_y + 0.01:.4g} 0.03" mass="0.25" '
      f'rgba="0.2 0.2 0.22 1" contype="{ARM_BITS[0]}" conaffinity="{ARM_BITS[1]}"/>')
    w('          <site name="grasp" type="sphere" size="0.01" rgba="0 1 0 0.5"/>')
    for side, sign in (("left", 1), ("right", -1)):
        w(f'          <body name="finger_{side}" pos="{_f(-0.005, sign * r.finger_open_y, 0)}" gravcomp="1">')
        w(f'            <joint name="finger_{side}" type="slide" axis="0 {-sign} 0" range="0 {r.finger_travel}" damping="3" armature="0.05"/>')
        w(f'            <geom name="finger_{side}" type="box" size="{_f(r.finger_half_length, r.finger_half_thickness, r.finger_half_height)}" '
          f'mass="0.05" rgba="0.85 0.85 0.88 1" friction="1 0.01 0.001" contype="{ARM_BITS[0]}" conaffinity="{ARM_BITS[1]}"/>')
        w('          </body>')
    w('        </body>')
    w('      </body>')
    w('    </body>')
    w('  </worldbody>')
    w('  <equality>')
    for o in desc.objects.values():
        w(f'    <weld name="grasp_{o.name}" body1="arm_link" body2="{o.name}" active="false" solref="0.01 1"/>')
        w(f'    <weld name="handover_{o.name}" body1="user_hand" body2="{o.name}" active="false" solref="0.01 1"/>')
    w('  </equality>')
    w('  <actuator>')
    v, wv = r.max_lin_vel, r.max_ang_vel
    w(f'    <velocity name="base_x" joint="base_x" kv="600" ctrlrange="{-v} {v}" forcerange="-150 150"/>')
    w(f'    <velocity name="base_y" joint="base_y" kv="600" ctrlrange="{-v} {v}" forcerange="-150 150"/>')
    w(f'    <velocity name="base_yaw" joint="base_yaw" kv="40" ctrlrange="{-wv} {wv}" forcerange="-40 40"/>')
    w(f'    <position name="lift" joint="lift" kp="4000" ctrlrange="{_f(*r.lift_range)}" forcerange="-200 200"/>')
    w(f'    <position name="arm_extend" joint="arm_extend" kp="1500" ctrlrange="{_f(*r.extend_range)}" forcerange="-80 80"/>')
    for side in ("left", "right"):
        w(f'    <position name="finger_{side}" joint="finger_{side}" kp="300" ctrlrange="0 {r.finger_travel}" forcerange="-20 20"/>')
    w('  </actuator>')
    w('</mujoco>')
    return "\n".join(line for line in out if line) + "\n"


if __name__ == "__main__":
    sys.stdout.write(build_mjcf(load_world(sys.argv[1] if len(sys.argv) > 1 else None)))
