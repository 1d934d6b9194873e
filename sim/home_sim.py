"""HomeSim: the MuJoCo home world as a plain, steppable class (no ROS, no rendering).

Why a plain class: the ROS 2 sim node, the skill teachers, the distillation loop and the tests all
drive the same physics through one small API. Everything moves through actuators and contacts
after construction (no teleporting): the base follows a body-frame twist through velocity
actuators, the lift/arm/fingers follow slew-limited position setpoints, and a grasp is an
equality weld switched on when the closed fingers meet an object, off when they open (an
object released near the user's hand is welded to the hand instead: delivered).

    /tmp/probe/v/bin/python -c "from sim.home_sim import HomeSim; from cloud_brain.domain.description import load_world; s=HomeSim(load_world()); s.set_base_twist(0.3,0,0); s.step(2); print(s.robot_pose())"
"""

from __future__ import annotations

import math

import mujoco
import numpy as np

from cloud_brain.domain.description import WorldDescription
from sim.mjcf import ROBOT, RobotSpec, build_mjcf
from sim.world_model import half_extent_along, is_docked

ARM_JOINTS = ("lift", "arm_extend", "finger_left", "finger_right")
BASE_JOINTS = ("base_x", "base_y", "base_yaw")
JOINT_NAMES = BASE_JOINTS + ARM_JOINTS
HANDOVER_RADIUS = 0.35  # m: object centre to the user's hand when released => the user takes it
GRASP_BOX = (0.05, 0.06, 0.05)  # m: half extents (x, y, z) of the region between the fingers (gripper frame)
SUBSTEPS = 5  # physics steps per drive/grasp update (10 ms)


def _quat_conj(q: np.ndarray) -> np.ndarray:
    return np.array([q[0], -q[1], -q[2], -q[3]])


def _quat_mul(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    out = np.empty(4)
    mujoco.mju_mulQuat(out, a, b)
    return out


def _rot(q: np.ndarray, v: np.ndarray) -> np.ndarray:
    out = np.empty(3)
    mujoco.mju_rotVecQuat(out, v, q)
    return out


class HomeSim:
    """One home world in MuJoCo. Units: metres, radians, seconds; world frame x east, y north."""

    def __init__(self, desc: WorldDescription, robot: RobotSpec = ROBOT,
                 initial_arm: tuple[float, float, float] = (0.6, 0.0, 0.0)):
        self.desc = desc
        self.robot = robot
        self.xml = build_mjcf(desc, robot)
        self.model = mujoco.MjModel.from_xml_string(self.xml)
        self.data = mujoco.MjData(self.model)
        m = self.model
        jid = {n: mujoco.mj_name2id(m, mujoco.mjtObj.mjOBJ_JOINT, n) for n in JOINT_NAMES}
        self._qadr = {n: int(m.jnt_qposadr[j]) for n, j in jid.items()}
        self._vadr = {n: int(m.jnt_dofadr[j]) for n, j in jid.items()}
        self._act = {n: mujoco.mj_name2id(m, mujoco.mjtObj.mjOBJ_ACTUATOR, n) for n in JOINT_NAMES}
        self._grasp_site = mujoco.mj_name2id(m, mujoco.mjtObj.mjOBJ_SITE, "grasp")
        self._hand_site = mujoco.mj_name2id(m, mujoco.mjtObj.mjOBJ_SITE, "user_hand")
        self._arm_body = mujoco.mj_name2id(m, mujoco.mjtObj.mjOBJ_BODY, "arm_link")
        self._hand_body = mujoco.mj_name2id(m, mujoco.mjtObj.mjOBJ_BODY, "user_hand")
        self._obj_body = {o: mujoco.mj_name2id(m, mujoco.mjtObj.mjOBJ_BODY, o) for o in desc.objects}
        self._obj_geom = {o: mujoco.mj_name2id(m, mujoco.mjtObj.mjOBJ_GEOM, o) for o in desc.objects}
        self._obj_qadr = {o: int(m.jnt_qposadr[mujoco.mj_name2id(m, mujoco.mjtObj.mjOBJ_JOINT, o + "_free")])
                          for o in desc.objects}
        self._obj_dadr = {o: int(m.jnt_dofadr[mujoco.mj_name2id(m, mujoco.mjtObj.mjOBJ_JOINT, o + "_free")])
                          for o in desc.objects}
        self._eq_grasp = {o: mujoco.mj_name2id(m, mujoco.mjtObj.mjOBJ_EQUALITY, "grasp_" + o) for o in desc.objects}
        self._eq_hand = {o: mujoco.mj_name2id(m, mujoco.mjtObj.mjOBJ_EQUALITY, "handover_" + o) for o in desc.objects}
        self._robot_geoms = {g for g in range(m.ngeom)
                             if m.body_rootid[m.geom_bodyid[g]] == mujoco.mj_name2id(m, mujoco.mjtObj.mjOBJ_BODY, "robot")}
        # initial configuration (construction, not teleporting): start yaw and arm posture
        self.data.qpos[self._qadr["base_yaw"]] = desc.robot_start[2]
        lift, extend, grip = initial_arm
        self.data.qpos[self._qadr["lift"]] = lift
        self.data.qpos[self._qadr["arm_extend"]] = extend
        for f in ("finger_left", "finger_right"):
            self.data.qpos[self._qadr[f]] = grip * robot.finger_travel
        mujoco.mj_forward(self.model, self.data)
        self._twist_cmd = np.zeros(3)  # commanded body twist (vx, vy, wz) [m/s, m/s, rad/s]
        self._twist = np.zeros(3)  # slew-limited twist actually sent to the drive
        self._arm_cmd = np.array([lift, extend, grip])  # commanded (lift m, extend m, gripper 0..1)
        self._arm_sp = np.array([lift, extend, grip * robot.finger_travel])  # slewed setpoints
        self._holding: str | None = None
        self._delivered: list[str] = []
        self._set_ctrl()

    # ---- commands -----------------------------------------------------------------------
    def set_base_twist(self, vx: float, vy: float, wz: float) -> None:
        """Body-frame twist: vx forward, vy left [m/s], wz counter-clockwise [rad/s]; saturated.
        Non-finite values command a stop."""
        v = np.array([vx, vy, wz], dtype=float)
        if not np.all(np.isfinite(v)):
            v[:] = 0.0
        lin = math.hypot(v[0], v[1])
        if lin > self.robot.max_lin_vel:
            v[:2] *= self.robot.max_lin_vel / lin
        v[2] = max(-self.robot.max_ang_vel, min(self.robot.max_ang_vel, v[2]))
        self._twist_cmd = v

    def set_arm(self, lift: float, extend: float, gripper: float) -> None:
        """Lift: grasp-centre height [m]; extend: arm extension [m]; gripper 0 = open .. 1 = closed.
        Clipped to the joint ranges; non-finite values keep the previous command."""
        r = self.robot
        new = np.array([lift, extend, gripper], dtype=float)
        ok = np.isfinite(new)
        new[~ok] = self._arm_cmd[~ok]
        new[0] = np.clip(new[0], *r.lift_range)
        new[1] = np.clip(new[1], *r.extend_range)
        new[2] = np.clip(new[2], 0.0, 1.0)
        self._arm_cmd = new

    # ---- stepping -----------------------------------------------------------------------
    def step(self, seconds: float) -> None:
        """Advance the physics by `seconds` (rounded to whole 2 ms steps, at least one).

        The drive and motor setpoints (twist -> world-frame joint velocities, slew limits) and the
        grasp logic update every SUBSTEPS physics steps (10 ms), like a motor controller's loop."""
        dt = self.model.opt.timestep
        n = max(1, int(round(seconds / dt)))
        while n > 0:
            k = min(SUBSTEPS, n)
            self._slew(dt * k)
            self._set_ctrl()
            mujoco.mj_step(self.model, self.data, nstep=k)
            self._update_grasp()
            n -= k

    def _slew(self, dt: float) -> None:
        r = self.robot
        d = self._twist_cmd - self._twist
        lim = np.array([r.max_lin_acc, r.max_lin_acc, r.max_ang_acc]) * dt
        self._twist += np.clip(d, -lim, lim)
        target = np.array([self._arm_cmd[0], self._arm_cmd[1], self._finger_target()])
        rate = np.array([r.lift_speed, r.extend_speed, r.finger_speed]) * dt
        self._arm_sp += np.clip(target - self._arm_sp, -rate, rate)

    def _finger_target(self) -> float:
        """Finger stroke [m] for the gripper command; closing stops on a held object's sides."""
        q = self._arm_cmd[2] * self.robot.finger_travel
        if self._holding is not None:
            q = min(q, max(0.0, self._contact_stroke(self._holding)))
        return q

    def _contact_stroke(self, obj: str) -> float:
        """Finger stroke [m] at which both fingers touch the object (from its half width along
        the gripper's lateral axis in its current orientation); negative if it is too wide."""
        yaxis = self.data.xmat[self._arm_body].reshape(3, 3)[:, 1]
        half = half_extent_along(self.desc.objects[obj], self.data.xquat[self._obj_body[obj]], yaxis)
        return min(self.robot.finger_travel, self.robot.finger_inner_open - half)

    def _set_ctrl(self) -> None:
        yaw = self.data.qpos[self._qadr["base_yaw"]]
        c, s = math.cos(yaw), math.sin(yaw)
        vx, vy, wz = self._twist
        ctrl = self.data.ctrl
        ctrl[self._act["base_x"]] = c * vx - s * vy
        ctrl[self._act["base_y"]] = s * vx + c * vy
        ctrl[self._act["base_yaw"]] = wz
        ctrl[self._act["lift"]] = self._arm_sp[0]
        ctrl[self._act["arm_extend"]] = self._arm_sp[1]
        ctrl[self._act["finger_left"]] = self._arm_sp[2]
        ctrl[self._act["finger_right"]] = self._arm_sp[2]

    # ---- grasp / handover -----------------------------------------------------------------
    def _update_grasp(self) -> None:
        closing = self._arm_cmd[2] >= 0.5
        if self._holding is None and closing:
            stroke = self.data.qpos[self._qadr["finger_left"]]
            for o in self.desc.objects:
                if o in self._delivered or not self._between_fingers(o):
                    continue
                contact = self._contact_stroke(o)  # fingers closing onto it, not already shut past it
                if contact >= 0.0 and contact - 0.004 <= stroke <= contact + 0.012:
                    self._weld(self._eq_grasp[o], self._arm_body, o)
                    self._holding = o
                break
        elif self._holding is not None and not closing:
            o = self._holding
            self.data.eq_active[self._eq_grasp[o]] = 0
            self._holding = None
            self._wake(o)  # a released object must fall, not sleep where the weld left it
            hand = self.data.site_xpos[self._hand_site]
            if np.linalg.norm(self.data.xpos[self._obj_body[o]] - hand) <= HANDOVER_RADIUS:
                self._weld(self._eq_hand[o], self._hand_body, o)
                self._delivered.append(o)
                # the person has it now: it touches nothing more, so the next thing handed over is
                # not stopped against it in the hand ("give: phase 'extend' did not finish")
                self.model.geom_contype[self._obj_geom[o]] = 0
                self.model.geom_conaffinity[self._obj_geom[o]] = 0

    def _wake(self, obj: str) -> None:
        """Wake an object's tree and restart its sleep countdown (mjMINAWAKE steps), so that a
        released object falls instead of sleeping where the weld left it."""
        tree = self.model.body_treeid[self._obj_body[obj]]
        self.data.tree_asleep[tree] = -(1 + mujoco.mjMINAWAKE)
        v = self.data.qvel[self._obj_dadr[obj]:self._obj_dadr[obj] + 6]
        v[v == 0.0] = -0.0  # non-zero bytes: wakes it if it already slept, no physical effect

    def _between_fingers(self, obj: str) -> bool:
        p = self.data.xpos[self._obj_body[obj]] - self.data.site_xpos[self._grasp_site]
        local = self.data.site_xmat[self._grasp_site].reshape(3, 3).T @ p
        return bool(np.all(np.abs(local) <= GRASP_BOX))

    def _weld(self, eq: int, body1: int, obj: str) -> None:
        """Activate weld `eq` holding the object at its current pose relative to body1."""
        b2 = self._obj_body[obj]
        q1 = self.data.xquat[body1]
        rel_pos = _rot(_quat_conj(q1), self.data.xpos[b2] - self.data.xpos[body1])
        rel_quat = _quat_mul(_quat_conj(q1), self.data.xquat[b2])
        ed = self.model.eq_data[eq]
        ed[0:3] = 0.0  # anchor at body2's origin
        ed[3:6] = rel_pos
        ed[6:10] = rel_quat
        self.data.eq_active[eq] = 1

    # ---- state --------------------------------------------------------------------------
    @property
    def time(self) -> float:
        """Simulated time since construction [s]."""
        return float(self.data.time)

    @property
    def timestep(self) -> float:
        return float(self.model.opt.timestep)

    def robot_pose(self) -> tuple[float, float, float]:
        """(x, y, yaw) of the base centre in the world [m, m, rad], yaw wrapped to (-pi, pi]."""
        q = self.data.qpos
        yaw = q[self._qadr["base_yaw"]]
        return (float(q[self._qadr["base_x"]]), float(q[self._qadr["base_y"]]),
                float(math.atan2(math.sin(yaw), math.cos(yaw))))

    def robot_twist(self) -> tuple[float, float, float]:
        """Measured body-frame twist (vx, vy, wz) [m/s, m/s, rad/s]."""
        v = self.data.qvel
        yaw = self.data.qpos[self._qadr["base_yaw"]]
        c, s = math.cos(yaw), math.sin(yaw)
        wx, wy = v[self._vadr["base_x"]], v[self._vadr["base_y"]]
        return (float(c * wx + s * wy), float(-s * wx + c * wy), float(v[self._vadr["base_yaw"]]))

    def arm_state(self) -> tuple[float, float, float]:
        """Measured (lift [m], extend [m], gripper 0 = open .. 1 = closed)."""
        q = self.data.qpos
        return (float(q[self._qadr["lift"]]), float(q[self._qadr["arm_extend"]]),
                float(q[self._qadr["finger_left"]] / self.robot.finger_travel))

    def joint_state(self) -> tuple[list[str], list[float], list[float]]:
        """(names, positions, velocities) of base_x, base_y, base_yaw [m, m, rad], lift,
        arm_extend, finger_left, finger_right [m] (finger strokes: 0 = open)."""
        q, v = self.data.qpos, self.data.qvel
        return (list(JOINT_NAMES), [float(q[self._qadr[n]]) for n in JOINT_NAMES],
                [float(v[self._vadr[n]]) for n in JOINT_NAMES])

    def object_poses(self) -> dict[str, tuple[float, float, float, float, float, float, float]]:
        """{object: (x, y, z, qw, qx, qy, qz)} in the world [m]."""
        out = {}
        for o, a in self._obj_qadr.items():
            out[o] = tuple(float(v) for v in self.data.qpos[a:a + 7])
        return out

    def holding(self) -> str | None:
        return self._holding

    def delivered(self) -> set[str]:
        return set(self._delivered)

    def docked(self) -> bool:
        return is_docked(self.desc, self.robot_pose(), self.robot_twist())

    def user_hand_position(self) -> tuple[float, float, float]:
        return tuple(float(v) for v in self.data.site_xpos[self._hand_site])

    def grasp_position(self) -> tuple[float, float, float]:
        """World position of the point between the fingers [m]."""
        return tuple(float(v) for v in self.data.site_xpos[self._grasp_site])

    def robot_contacts(self) -> list[str]:
        """Names of the non-robot geoms the robot touches now (walls, furniture, the user...)."""
        m, out = self.model, set()
        for c in self.data.contact[: self.data.ncon]:
            g1, g2 = int(c.geom1), int(c.geom2)
            r1, r2 = g1 in self._robot_geoms, g2 in self._robot_geoms
            if r1 != r2:
                other = g2 if r1 else g1
                out.add(mujoco.mj_id2name(m, mujoco.mjtObj.mjOBJ_GEOM, other) or f"geom{other}")
        return sorted(out)
