"""What the edge needs from Gazebo that the MuJoCo sim node derives from its own physics (no ROS).

Why: the brainstem nodes talk to the MuJoCo sim node in project terms: `arm/command` is one
[lift m, extend m, gripper 0..1] array, and `sim/object_states` carries the objects' poses plus the
symbolic facts the skills and the feasibility checks need (which object is held, which ones the
user has taken, whether the base is docked). Gazebo has per-joint position controllers and
per-model poses instead, so this class turns one into the other; the thin rclpy node around it is
sim/gazebo/adapter_node.py.

How the facts are derived, mirroring HomeSim (sim/home_sim.py), which decides them with its weld:
- holding: the gripper is commanded closed and an object's centre is between the fingers (the
  grasp box around the grasp point) with the fingers stopped on its sides; it stays held while the
  gripper stays closed and the object stays near the grasp point (friction can drop it in Gazebo:
  then it is no longer held).
- delivered: a held object released within HANDOVER_RADIUS of the user's hand (kept for good:
  Gazebo has no hand weld, the user "takes" it as in MuJoCo).
- docked: sim.world_model.is_docked on the odometry pose and twist.

    GazeboStateAdapter(load_world()).arm_command([0.8, 0.2, 1.0])  # -> four joint setpoints
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from cloud_brain.domain.description import WorldDescription
from sim.gazebo.sdf import joint_commands
from sim.home_sim import GRASP_BOX, HANDOVER_RADIUS
from sim.mjcf import ROBOT, RobotSpec
from sim.world_model import half_extent_along, is_docked, user_hand_position

Pose7 = tuple[float, float, float, float, float, float, float]  # x, y, z, qw, qx, qy, qz
RELEASE_MARGIN = 2.0  # a held object further than this many grasp boxes from the grasp point has slipped


@dataclass(frozen=True)
class ObjectSnapshot:
    """The content of one brainstem_interfaces/ObjectStates message."""
    poses: dict[str, Pose7]
    holding: str  # "" if none
    delivered: tuple[str, ...]
    docked: bool


class GazeboStateAdapter:
    def __init__(self, desc: WorldDescription, robot: RobotSpec = ROBOT):
        self.desc, self.robot = desc, robot
        self.hand = user_hand_position(desc)
        self.objects: dict[str, Pose7] = {}
        self.pose: tuple[float, float, float] | None = None  # x, y, yaw (odometry, world frame)
        self.twist = (0.0, 0.0, 0.0)
        self.joints: dict[str, float] = {}  # measured joint positions (joint_states)
        self.arm_cmd: tuple[float, float, float] | None = None  # last valid arm/command
        self.holding: str | None = None
        self.delivered: list[str] = []

    # ---- inputs ---------------------------------------------------------------------------------
    def arm_command(self, values) -> dict[str, float] | None:
        """An arm/command array -> the joint setpoints for /arm/<joint>/cmd_pos, or None if it is
        not three finite numbers (then nothing is sent: the controllers hold their last setpoint)."""
        v = [float(x) for x in values]
        if len(v) != 3 or not all(math.isfinite(x) for x in v):
            return None
        self.arm_cmd = (v[0], v[1], v[2])
        return joint_commands(*v, robot=self.robot)

    def set_odometry(self, x: float, y: float, yaw: float, vx: float = 0.0, vy: float = 0.0, wz: float = 0.0) -> None:
        self.pose, self.twist = (x, y, yaw), (vx, vy, wz)

    def set_joints(self, names, positions) -> None:
        self.joints.update(zip(names, (float(p) for p in positions)))

    def set_object_pose(self, name: str, pose: Pose7) -> bool:
        """Store an object's world pose; False (ignored) for a name that is not an object."""
        if name not in self.desc.objects:
            return False
        self.objects[name] = tuple(float(v) for v in pose)
        return True

    def missing(self) -> list[str]:
        """Objects of the world no pose has arrived for yet."""
        return [o for o in self.desc.objects if o not in self.objects]

    # ---- geometry -------------------------------------------------------------------------------
    def _arm(self) -> tuple[float, float, float]:
        """(lift m, extend m, finger stroke m): measured where joint_states has them, else commanded."""
        cmd = self.arm_cmd or (0.0, 0.0, 0.0)
        return (self.joints.get("lift", cmd[0]), self.joints.get("arm_extend", cmd[1]),
                self.joints.get("finger_left", cmd[2] * self.robot.finger_travel))

    def grasp_point(self) -> tuple[float, float, float] | None:
        """World position of the point between the fingers (MJCF: grasp_x0 + extend ahead of the
        base centre, at the lift height), or None before the first odometry."""
        if self.pose is None:
            return None
        x, y, yaw = self.pose
        lift, extend, _ = self._arm()
        ahead = self.robot.grasp_x0 + extend
        return (x + math.cos(yaw) * ahead, y + math.sin(yaw) * ahead, lift)

    def _in_gripper_frame(self, obj: str) -> tuple[float, float, float]:
        gx, gy, gz = self.grasp_point()
        px, py, pz = self.objects[obj][:3]
        yaw = self.pose[2]
        c, s = math.cos(yaw), math.sin(yaw)
        dx, dy = px - gx, py - gy
        return (c * dx + s * dy, -s * dx + c * dy, pz - gz)

    def between_fingers(self, obj: str, margin: float = 1.0) -> bool:
        local = self._in_gripper_frame(obj)
        return all(abs(v) <= margin * b for v, b in zip(local, GRASP_BOX))

    def contact_stroke(self, obj: str) -> float:
        """Finger stroke [m] at which both fingers touch the object (negative: too wide), as HomeSim."""
        yaw = self.pose[2]
        yaxis = (-math.sin(yaw), math.cos(yaw), 0.0)
        half = half_extent_along(self.desc.objects[obj], self.objects[obj][3:], yaxis)
        return min(self.robot.finger_travel, self.robot.finger_inner_open - half)

    # ---- the facts ------------------------------------------------------------------------------
    def update(self) -> ObjectSnapshot | None:
        """Advance holding / delivered from the newest inputs and return the snapshot to publish;
        None until every object's pose has arrived (a partial world would read as missing objects)."""
        if self.missing():
            return None
        if self.pose is not None and self.arm_cmd is not None:
            self._update_grasp(closing=self.arm_cmd[2] >= 0.5)
        docked = self.pose is not None and is_docked(self.desc, self.pose, self.twist)
        return ObjectSnapshot(poses=dict(self.objects), holding=self.holding or "",
                              delivered=tuple(sorted(self.delivered)), docked=docked)

    def _update_grasp(self, closing: bool) -> None:
        if self.holding is None and closing:
            stroke = self._arm()[2]
            for o in self.desc.objects:
                if o in self.delivered or not self.between_fingers(o):
                    continue
                contact = self.contact_stroke(o)
                if contact >= 0.0 and contact - 0.004 <= stroke <= contact + 0.012:
                    self.holding = o
                break
        elif self.holding is not None and not closing:
            o, self.holding = self.holding, None
            if math.dist(self.objects[o][:3], self.hand) <= HANDOVER_RADIUS:
                self.delivered.append(o)
        elif self.holding is not None and not self.between_fingers(self.holding, RELEASE_MARGIN):
            self.holding = None  # it slipped out of the closed gripper
