"""Distil the privileged teachers into one multi-skill student: behaviour cloning and DAgger in
the same run, ONNX export (static shapes), INT8 QDQ calibrated on rollouts, and the evaluation.

Why: the teachers (teachers.py) need simulator internals; the robot runs the student
(student.py) on the NPU-style runtime. DAgger (Ross et al. 2011): round 0 rolls out the teachers
(beta = 1); every later round the student acts (beta = 0 after round 1, 0.3 there) while each
skill's teacher runs alongside on the same observations and labels every state the student
visits with its own command; the aggregate is retrained (warm start). Behaviour cloning trains
the same network for the same number of steps on teacher rollouts of the same total episode
count. Episodes start from randomised states (start poses anywhere for navigate/dock; perturbed
stances in front of the furniture for pick; pick + navigate by the teachers first for place and
give), snapshotted so every policy in the evaluation starts from the very same physics state.

    .venv/bin/brainstem distill --out edge_nerve/skills/artifacts/student-v4
    .venv/bin/brainstem eval skills --episodes 100 --json
"""

from __future__ import annotations

import copy
import json
import math
import os
import random
import time
from contextlib import nullcontext
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Callable

import numpy as np

from cloud_brain.domain.description import (APPROACH_STANDOFF, SIDES, Furniture, WorldDescription, WorldError,
                                            load_world)
from cloud_brain.domain.state import USER
from edge_nerve.skills.student import (ACT_DIM, ARTIFACT_DIR, F_ARM, OBS_DIM, PHASES,
                                       SKILL_NAMES, Target, make_target)
from edge_nerve.skills.teachers import (CONTROL_DT, SKILLS, grid_for, holding_arm, observe, random_free_pose,
                                        run_skill)
from sim.home_sim import HomeSim
from sim.lidar import scan_sim


# ---- episodes ---------------------------------------------------------------------------------
def clone_sim(sim: HomeSim) -> HomeSim:
    """An independent copy of a HomeSim (physics state, model incl. weld anchors, setpoints)."""
    new = copy.copy(sim)
    new.data = copy.deepcopy(sim.data)
    new.model = new.data.model
    for k in ("_twist_cmd", "_twist", "_arm_cmd", "_arm_sp"):
        setattr(new, k, getattr(sim, k).copy())
    new._delivered = list(sim._delivered)
    new.__dict__.pop("_range_scanner", None)
    return new


@dataclass
class Episode:
    skill: str
    args: list[str]
    desc: WorldDescription
    sim: HomeSim  # the start state (cloned for each run)


def _near_start(desc: WorldDescription, fname: str, rng: random.Random) -> tuple[float, float, float]:
    ax, ay, yaw = desc.furniture[fname].approach_pose()
    for _ in range(100):
        x, y = ax + rng.uniform(-0.2, 0.2), ay + rng.uniform(-0.2, 0.2)
        if grid_for(desc).clearance_at(x, y) >= desc.robot_radius + 0.05:
            return (x, y, yaw + rng.uniform(-0.35, 0.35))
    return (ax, ay, yaw)


HOLDING_NAVIGATE = 0.4  # share of navigate episodes that start holding an object (after a pick)
MOVED_WORLD = 0.5  # share of episodes in which the user sits in another room and objects moved
MOVED_OBJECT = 0.3  # in those, the chance each object stands on another surface


# Domain randomisation of the layout (LAYOUT_SHARE of the episodes): each furniture slid along
# its approach edge and a little towards / away from it, resized and (surfaces) raised or lowered;
# objects resized. A student trained on one layout learnt the scan and stance of each place by
# heart: in a second world (tests/unit/office_world.yaml) it stopped lining up in front of a
# desk of the same height as the home's dining table (0/10 picks, the teachers 8/10).
LAYOUT_SHARE = 0.5
SLIDE_M, DEPTH_M = 0.6, 0.15  # furniture shift along / across its approach edge, at most
SCALE = (0.8, 1.2)  # furniture footprint and surface height factor
SURFACE_HEIGHT = (0.4, 1.0)  # m: surfaces the arm reaches from above (lift range minus clearance)
OBJECT_SCALE = (0.85, 1.15)
CLEARANCE = 0.1  # m: between furniture, and from furniture to a wall
DOOR_CLEARANCE = 0.7  # m: furniture to a door's centre (the robot must get through)


def _overlap(a: tuple, b: tuple, margin: float) -> bool:  # axis-aligned boxes (x0, y0, x1, y1)
    return a[0] < b[2] + margin and b[0] < a[2] + margin and a[1] < b[3] + margin and b[1] < a[3] + margin


def _box(f: Furniture) -> tuple:
    return (f.at[0] - f.size[0] / 2, f.at[1] - f.size[1] / 2, f.at[0] + f.size[0] / 2, f.at[1] + f.size[1] / 2)


def _approach_zone(f: Furniture, robot_radius: float) -> tuple:
    """The floor in front of the approach edge where the robot stands to work at `f`."""
    nx, ny = SIDES[f.approach]
    x0, y0, x1, y1 = _box(f)
    reach = APPROACH_STANDOFF + robot_radius + 0.1
    if nx:
        return (x1, y0, x1 + reach, y1) if nx > 0 else (x0 - reach, y0, x0, y1)
    return (x0, y1, x1, y1 + reach) if ny > 0 else (x0, y0 - reach, x1, y0)


def _fits(f: Furniture, others: list[Furniture], desc: WorldDescription) -> bool:
    room = desc.rooms[f.room]
    inner = desc.wall_thickness / 2 - 1e-6  # against a wall is fine
    r = (room.rect[0] + inner, room.rect[1] + inner, room.rect[2] - inner, room.rect[3] - inner)
    box, zone = _box(f), _approach_zone(f, desc.robot_radius)
    inside = lambda b: r[0] <= b[0] and r[1] <= b[1] and b[2] <= r[2] and b[3] <= r[3]  # noqa: E731
    if not (inside(box) and inside(zone)):
        return False
    for o in others:
        ob = _box(o)
        if _overlap(box, ob, CLEARANCE) or _overlap(zone, ob, 0.0) or _overlap(box, _approach_zone(o, desc.robot_radius), 0.0):
            return False
    for d in desc.doors:
        dx = max(box[0] - d.at[0], 0.0, d.at[0] - box[2])
        dy = max(box[1] - d.at[1], 0.0, d.at[1] - box[3])
        if math.hypot(dx, dy) < DOOR_CLEARANCE:
            return False
    start = desc.robot_start
    return not (box[0] - 0.5 < start[0] < box[2] + 0.5 and box[1] - 0.5 < start[1] < box[3] + 0.5)


def random_layout(base: WorldDescription, rng: random.Random) -> WorldDescription:
    """`base` with its furniture moved and resized and its objects resized (see LAYOUT_SHARE);
    every change keeps the furniture inside its room, clear of the others, of the doors and of
    the robot's start, with its approach side free. A change that does not fit is not made."""
    furniture = dict(base.furniture)
    for name in rng.sample(list(furniture), len(furniture)):
        f = furniture[name]
        others = [o for n, o in furniture.items() if n != name]
        nx, ny = SIDES[f.approach]
        for _ in range(8):
            slide, depth = rng.uniform(-SLIDE_M, SLIDE_M), rng.uniform(-DEPTH_M, DEPTH_M)
            h = f.size[2]
            if f.surface:
                h = min(SURFACE_HEIGHT[1], max(SURFACE_HEIGHT[0], h * rng.uniform(*SCALE)))
            cand = replace(f, at=(f.at[0] - ny * slide + nx * depth, f.at[1] + nx * slide + ny * depth),
                           size=(f.size[0] * rng.uniform(*SCALE), f.size[1] * rng.uniform(*SCALE), h))
            if _fits(cand, others, base):
                furniture[name] = cand
                break
    objects = {n: replace(o, size=tuple(v * rng.uniform(*OBJECT_SCALE) for v in o.size)) if rng.random() < 0.5 else o
               for n, o in base.objects.items()}
    out = replace(base, furniture=furniture, objects=objects)
    try:
        out.object_slots()  # a shrunk top may hold fewer objects
    except WorldError:
        return replace(base, objects=objects)
    return out


def random_world(base: WorldDescription, rng: random.Random) -> WorldDescription:
    """The world as a case may override it (MOVED_WORLD of the time): the user in another room,
    some objects on other surfaces, so the student meets handovers, stances and clutter that the
    default layout never shows (a student trained on one home stalled handing a cup over in the
    kitchen); and, LAYOUT_SHARE of the time, another layout of the same home (random_layout)."""
    if rng.random() < LAYOUT_SHARE:
        base = random_layout(base, rng)
    if rng.random() >= MOVED_WORLD:
        return base
    surfaces = [f.name for f in base.furniture.values() if f.surface]
    user = rng.choice(list(base.rooms))
    moved = {o: rng.choice(surfaces) for o in base.objects if rng.random() < MOVED_OBJECT}
    try:
        return base.with_overrides({"user": user, "objects": moved})
    except WorldError:  # a surface over capacity: move the user only
        return base.with_overrides({"user": user})


def make_episode(skill: str, rng: random.Random, base: WorldDescription) -> Episode:
    """A random start state for `skill` in `base` as random_world moves it (prerequisites run
    by the teachers; retried until they succeed). Navigate starts anywhere, or
    (HOLDING_NAVIGATE) holding an object just picked."""
    targets = list(base.rooms) + list(base.furniture) + [USER]
    surfaces = [f.name for f in base.furniture.values() if f.surface]
    layout = base
    while True:
        base = random_world(layout, rng)  # this episode's world
        if skill == "navigate" and rng.random() < HOLDING_NAVIGATE:  # carrying something
            obj = rng.choice(list(base.objects))
            d = replace(base, robot_start=_near_start(base, base.objects[obj].on, rng))
            sim = HomeSim(d)
            if run_skill(sim, d, "pick", [obj])[0]:
                target = rng.choice([t for t in targets if t != base.objects[obj].on])
                return Episode(skill, [target], d, sim)
            continue
        if skill in ("navigate", "dock"):
            d = replace(base, robot_start=random_free_pose(base, rng))
            args = [rng.choice(targets)] if skill == "navigate" else []
            return Episode(skill, args, d, HomeSim(d))
        obj = rng.choice(list(base.objects))
        home = base.objects[obj].on
        d = replace(base, robot_start=_near_start(base, home, rng))
        sim = HomeSim(d)
        if skill == "pick":
            return Episode(skill, [obj], d, sim)
        if not run_skill(sim, d, "pick", [obj])[0]:
            continue
        if skill == "place":
            dest = rng.choice([s for s in surfaces if s != home])
            if run_skill(sim, d, "navigate", [dest])[0]:
                return Episode(skill, [obj, dest], d, sim)
        else:
            if run_skill(sim, d, "navigate", [USER])[0]:
                return Episode(skill, [obj], d, sim)


def make_episodes(n: int, seed: int, skills=SKILL_NAMES, world: str | None = None,
                  progress: Callable[[], None] | None = None) -> list[Episode]:
    base = load_world(world)
    out = []
    for skill in skills:
        rng = random.Random(f"{seed}-{skill}")
        for _ in range(n):
            out.append(make_episode(skill, rng, base))
            if progress:
                progress()
    return out


# ---- labelling: the teacher kept in step with what the student did ----------------------------
def sync_phase(teacher, obs) -> None:
    """Advance a labelling teacher's phase when the student has already started the next phase
    from a state where the teacher itself would have started it (an arm dimension on its way to
    the next phase's setpoint). Without this a teacher running alongside waits for its own
    previous setpoint (e.g. extend = 0 in 'align') and labels a half-extended arm "retract",
    while its own rollouts label the same state "extend": contradictory labels that the student
    averages into a stall. Transitions and setpoints are the teachers' own (teachers.py)."""
    import edge_nerve.skills.teachers as T

    ph, arm, r = teacher.phase, teacher.arm, teacher.robot
    lift, ext, grip = obs.arm
    hx, hy = math.cos(obs.pose[2]), math.sin(obs.pose[2])
    if isinstance(teacher, T.Pick):
        gz = getattr(teacher, "grasp_z", 0.0)
        if (ph == "align" and ext > 0.02 and grip < 0.1 and abs(lift - arm[0]) < 0.03
                and teacher._base_at(obs, 0.02, 0.03)):
            p = obs.objects[teacher.obj]
            e = (p[0] - obs.pose[0]) * hx + (p[1] - obs.pose[1]) * hy - r.grasp_x0
            if r.extend_range[0] <= e <= r.extend_range[1]:
                arm[1] = e
                teacher._goto("extend", obs)
        elif ph == "extend" and abs(ext - arm[1]) < 0.02 and lift < arm[0] - 0.01:
            arm[0] = gz
            teacher._goto("lower", obs)
        elif ph == "lower" and grip > 0.08 and abs(lift - gz) < 0.03:
            arm[2] = 1.0
            teacher._goto("close", obs)
        elif ph == "lift" and obs.holding == teacher.obj and ext < arm[1] - 0.02 and lift > gz + 0.04:
            arm[1] = 0.0
            teacher._goto("retract", obs)
    elif isinstance(teacher, T.Place):
        if (ph == "align" and ext > 0.02 and obs.holding == teacher.obj and abs(lift - arm[0]) < 0.03
                and teacher._base_at(obs, 0.02, 0.03)):
            p = obs.objects[teacher.obj]
            arm[1] = min(r.extend_range[1], max(0.0, ext + (teacher.slot[0] - p[0]) * hx
                                                + (teacher.slot[1] - p[1]) * hy))
            teacher._goto("extend", obs)
        elif ph == "extend" and abs(ext - arm[1]) < 0.02 and lift < arm[0] - 0.01:
            arm[0] = teacher.lift_place
            teacher._goto("lower", obs)
        elif ph == "lower" and grip < 0.92 and abs(lift - teacher.lift_place) < 0.03:
            arm[2] = 0.0
            teacher._goto("release", obs)
        elif ph in ("release", "settle") and obs.holding is None and ext < arm[1] - 0.02:
            arm[1] = 0.0
            arm[0] = min(r.lift_range[1], arm[0] + 0.03)
            teacher._goto("retract", obs)
    elif isinstance(teacher, T.Give):
        if (ph == "face" and ext > 0.02 and abs(lift - arm[0]) < 0.03
                and teacher._base_at(obs, pos_tol=0.03, yaw_tol=0.05)):
            fwd = (obs.user_hand[0] - obs.pose[0]) * hx + (obs.user_hand[1] - obs.pose[1]) * hy
            e = fwd - r.grasp_x0 - teacher.obj_ahead - 0.08
            arm[1] = min(r.extend_range[1], max(0.0, e))
            teacher._goto("extend", obs)
        elif ph == "extend" and grip < 0.92 and abs(ext - arm[1]) < 0.02:
            arm[2] = 0.0
            teacher._goto("release", obs)


# ---- rollouts ---------------------------------------------------------------------------------
@dataclass
class Rollout:
    skill: str
    success: bool
    time_s: float
    reason: str
    obs: np.ndarray | None = None  # (T, OBS_DIM) float32 states visited
    labels: np.ndarray | None = None  # (T, ACT_DIM) teacher commands there
    phases: np.ndarray | None = None  # (T,) int64 the teacher's phase there (index in PHASES)


def phase_index(teacher) -> int:
    return PHASES.index(teacher.phase) if teacher.phase in PHASES else 0


# Executed-command noise in the DAgger rounds (as in DART, Laskey et al. 2017): a slowly varying offset
# (first-order autoregressive, correlation time ~0.4 s at 50 Hz) on the base twist and the arm
# setpoints, so the rollouts visit the off-nominal states a student drifts into (an arm a few cm
# high, a base turned a little) and the teacher's labels there show the way back. The labels
# stay the clean teacher commands. Std per action slot: vx, vy [m/s], wz [rad/s], lift, extend [m].
# Off by default (DistillConfig.noise = 0): the student's own errors already visit those states,
# and with the offsets on, the same run did worse on every manipulation skill (pick 75% vs 92%).
NOISE_STD = np.array([0.03, 0.03, 0.1, 0.02, 0.02, 0.0])
NOISE_RHO = 0.95


def rollout(ep: Episode, actor: str, policy: Callable[[np.ndarray], np.ndarray] | None = None,
            beta: float = 0.0, rng: random.Random | None = None, record: bool = False,
            noise: float = 0.0) -> Rollout:
    """One episode from ep's start state.

    actor "teacher": the teacher acts (success = its own status). actor "student": `policy`
    acts on the observation vector (success = the student's monitor, Target.check); with
    `record` the teacher runs alongside and labels every visited state, and with beta > 0 the
    teacher's command is executed instead with probability beta per tick (DAgger's mixture).
    `noise` scales NOISE_STD on the executed command (0: none; drawn from `rng`)."""
    sim, desc = clone_sim(ep.sim), ep.desc
    obs = observe(sim)
    t0 = obs.time
    target: Target = make_target(desc, ep.skill, ep.args, obs)
    teacher = None
    if actor == "teacher" or record:
        teacher = SKILLS[ep.skill](desc)
        teacher.reset(ep.args, obs)
    if actor != "teacher" and target.error:
        return Rollout(ep.skill, False, 0.0, target.error)
    prev_arm = holding_arm(obs)
    vec = np.zeros((1, OBS_DIM), dtype=np.float32)
    xs, ys, ps = [], [], []
    limit = (teacher.timeout + 5.0) if actor == "teacher" else target.timeout
    teacher_done_t = None
    rng = rng or random.Random(0)
    success, reason = False, ""
    nrng = np.random.default_rng(rng.getrandbits(32)) if noise > 0 else None
    offset = np.zeros(ACT_DIM)
    while True:
        obs = observe(sim)
        t = obs.time - t0
        tcmd = tst = None
        if teacher is not None:
            if actor != "teacher":
                sync_phase(teacher, obs)
            tcmd, tst = teacher.step(obs, CONTROL_DT)
        if actor == "teacher":
            if tst.done:
                success, reason = tst.ok, tst.reason
                break
            if t > limit:
                reason = f"exceeded {limit:.0f} s"
                break
            cmd = tcmd.as_tuple()
            if record and not target.error:
                target.features(vec[0], obs, scan_sim(sim), prev_arm)
                xs.append(vec[0].copy())
                ys.append(cmd)
                ps.append(phase_index(teacher))
        else:
            st = target.check(desc, obs, t)
            if st is not None:
                success, reason = st.ok, st.reason
                break
            if tst is not None and tst.done:
                if not tst.ok:  # the labeller gave up: its labels are meaningless from here
                    reason = "teacher: " + tst.reason
                    break
                teacher_done_t = t if teacher_done_t is None else teacher_done_t
                if t - teacher_done_t > 2.0:
                    reason = "did not reach the goal condition after the teacher's success"
                    break
            target.features(vec[0], obs, scan_sim(sim), prev_arm)
            if record:
                xs.append(vec[0].copy())
                ys.append(tcmd.as_tuple())
                ps.append(phase_index(teacher))
            if tcmd is not None and beta > 0 and rng.random() < beta:
                cmd = tcmd.as_tuple()
            else:
                a = policy(vec).reshape(-1)
                cmd = tuple(float(v) for v in a[:ACT_DIM])
        if nrng is not None:
            offset = NOISE_RHO * offset + math.sqrt(1 - NOISE_RHO ** 2) * noise * NOISE_STD * nrng.standard_normal(ACT_DIM)
            cmd = tuple(float(c + o) for c, o in zip(cmd, offset))
        prev_arm = [cmd[3], cmd[4], cmd[5]]
        sim.set_base_twist(*cmd[:3])
        sim.set_arm(*cmd[3:6])
        sim.step(CONTROL_DT)
    out = Rollout(ep.skill, success, obs.time - t0, reason)
    if record and xs:
        out.obs = np.asarray(xs, dtype=np.float32)
        out.labels = np.asarray(ys, dtype=np.float32)
        out.phases = np.asarray(ps, dtype=np.int64)
    return out


# ---- the network ------------------------------------------------------------------------------
ARM_OFFSET = slice(3, 5)  # action slots (lift, extend) the network predicts relative to obs F_ARM
# Offsets are learnt clipped to +-ARM_OFFSET_CLIP: the arm moves the same either way (the sim and
# the motors slew the setpoint at 0.3 m/s, 6 mm a tick, and the servo lags ~1 cm behind it, so a
# setpoint 5 cm ahead already drives the joint at full speed), while the unclipped offsets (up to
# the 0.45 m of a whole extension) set the regression's scale: at 12 cm of spread, the last 1-2 cm
# of an extension were within the fit's error and the student stopped there (place held 1-2 cm
# short of its slot, the teacher waiting for < 1 cm: the place failures of student-v3).
ARM_OFFSET_CLIP = 0.05  # m


def offset_targets(X: np.ndarray, Y: np.ndarray) -> np.ndarray:
    """Teacher commands (N, ACT_DIM) -> the network's targets: lift and extend minus the arm's,
    clipped to +-ARM_OFFSET_CLIP."""
    T = np.array(Y, dtype=np.float32, copy=True)
    T[:, ARM_OFFSET] = np.clip(T[:, ARM_OFFSET] - X[:, F_ARM:F_ARM + 2], -ARM_OFFSET_CLIP, ARM_OFFSET_CLIP)
    return T


def build_model(mean: np.ndarray, std: np.ndarray, out_mean: np.ndarray, out_std: np.ndarray,
                hidden=(256, 256)):
    """The student: normalise (baked in, so ONNX carries it) -> MLP trunk (ReLU) -> phase logits
    and one action per phase -> the action of the most likely phase -> de-normalise.

    One head per phase (PHASES) because the teachers' actions are piecewise: a single regression
    head averages "hold the arm out" and "retract it" at the lift/retract boundary into a
    half-retracted setpoint the arm settles at, and the student stalls there. Selecting by argmax
    keeps the boundary a decision; ArgMax + GatherElements export with static shapes.

    Lift and extend are predicted as offsets from the measured arm (ARM_OFFSET): as absolute
    setpoints, "command where the arm is" fits most frames (the arm sits at its setpoint most of
    a phase), and a student that learns that copy holds the arm wherever it happens to be (the
    copycat problem of imitation from proprioception). The offset is what the geometry says:
    the target's height or reach against the gripper (F_REL); normalised by its own small spread,
    its errors also weigh in the loss."""
    import torch
    from torch import nn

    K = len(PHASES)

    class Student(nn.Module):
        def __init__(self):
            super().__init__()
            dims = (OBS_DIM, *hidden)
            self.layers = nn.ModuleList(nn.Linear(i, o) for i, o in zip(dims[:-1], dims[1:]))
            self.head = nn.Linear(dims[-1], K * (1 + ACT_DIM))  # K logits, then K actions
            self.register_buffer("mean", torch.as_tensor(mean, dtype=torch.float32))
            self.register_buffer("std", torch.as_tensor(std, dtype=torch.float32))
            self.register_buffer("out_mean", torch.as_tensor(out_mean, dtype=torch.float32))
            self.register_buffer("out_std", torch.as_tensor(out_std, dtype=torch.float32))
            # INT8 simulation for quantisation-aware fine-tuning (fake_quant_ranges): one
            # (min, max) per layer input, as onnxruntime's MinMax calibration will set them
            self.register_buffer("act_ranges", torch.zeros(len(dims), 2))
            self.fake_quant = False

        def _act(self, x, i):  # a layer's input as uint8 per tensor (asymmetric, 0 in range)
            if not self.fake_quant:
                return x
            lo, hi = self.act_ranges[i, 0].clamp(max=0.0), self.act_ranges[i, 1].clamp(min=0.0)
            scale = float(max((hi - lo) / 255.0, 1e-8))
            return torch.fake_quantize_per_tensor_affine(x, scale, int(round(float(-lo) / scale)), 0, 255)

        def _weight(self, w):  # int8 per output channel, symmetric, 7 bits (reduce_range)
            if not self.fake_quant:
                return w
            scale = (w.detach().abs().amax(1) / 63.5).clamp(min=1e-8)
            return torch.fake_quantize_per_channel_affine(w, scale, torch.zeros_like(scale, dtype=torch.int32),
                                                          0, -64, 63)

        def trunk(self, obs):  # (B, OBS_DIM) -> inputs of every layer [(B, d_i)]
            h = torch.clamp((obs - self.mean) / self.std, -5.0, 5.0)
            ins = [h]
            for i, lin in enumerate(self.layers):
                h = torch.relu(nn.functional.linear(self._act(h, i), self._weight(lin.weight), lin.bias))
                ins.append(h)
            return ins

        def heads(self, obs):  # (B, OBS_DIM) -> logits (B, K), normalised actions (B, K, ACT_DIM)
            h = self._act(self.trunk(obs)[-1], len(self.layers))
            out = nn.functional.linear(h, self._weight(self.head.weight), self.head.bias)
            return out[:, :K], out[:, K:].reshape(-1, K, ACT_DIM)

        def forward(self, obs):  # (B, OBS_DIM) -> (B, ACT_DIM)
            logits, acts = self.heads(obs)
            k = torch.argmax(logits, dim=1, keepdim=True)  # (B, 1)
            a = torch.gather(acts, 1, k.unsqueeze(2).expand(-1, 1, ACT_DIM)).squeeze(1)
            a = a * self.out_std + self.out_mean
            arm = obs[:, F_ARM:F_ARM + 2] + a[:, ARM_OFFSET]  # offsets -> lift, extend setpoints
            return torch.cat([a[:, :ARM_OFFSET.start], arm, a[:, ARM_OFFSET.stop:]], dim=1)

        @torch.no_grad()
        def fake_quant_ranges(self, X: np.ndarray) -> None:
            """Record each layer input's (min, max) over calibration rows X and switch the INT8
            simulation on (straight-through gradients)."""
            self.fake_quant = False
            ins = self.trunk(torch.from_numpy(X))
            for i, t in enumerate(ins):
                self.act_ranges[i, 0], self.act_ranges[i, 1] = t.min(), t.max()
            self.fake_quant = True

    return Student()


def norm_stats(X: np.ndarray, Y: np.ndarray):
    mean, std = X.mean(0), X.std(0)
    std = np.where(std < 1e-3, 1.0, std)
    mean = np.where(X.std(0) < 1e-3, 0.0, mean)
    return mean, std, Y.mean(0), np.maximum(Y.std(0), 1e-3)


def train(model, X: np.ndarray, Y: np.ndarray, P: np.ndarray, steps: int, seed: int, batch: int = 512,
          lr: float = 1e-3, progress: Callable[[int], None] | None = None) -> float:
    """Cross-entropy on the teacher's phase + MSE of that phase's head on the normalised action
    (lift/extend as offsets, offset_targets);
    Adam with cosine decay; returns the final mean loss."""
    import torch
    from torch.nn import functional as F

    torch.manual_seed(seed)
    g = np.random.default_rng(seed)
    Xt, Yt, Pt = torch.from_numpy(X), torch.from_numpy(offset_targets(X, Y)), torch.from_numpy(P)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, max(1, steps), eta_min=lr * 0.05)
    model.train()
    tail = []
    for i in range(steps):
        idx = torch.from_numpy(g.integers(0, len(X), batch))
        x, y, ph = Xt[idx], Yt[idx], Pt[idx]
        logits, acts = model.heads(x)
        pred = acts[torch.arange(len(idx)), ph]  # (B, ACT_DIM): the teacher's phase's head
        mse = ((pred - (y - model.out_mean) / model.out_std) ** 2).mean()
        loss = mse + 0.5 * F.cross_entropy(logits, ph)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
        tail.append(loss.item())
        tail = tail[-100:]
        if progress and (i + 1) % 50 == 0:
            progress(50)
    model.eval()
    return float(np.mean(tail)) if tail else float("nan")


def torch_policy(model):
    import torch

    def run(vec: np.ndarray) -> np.ndarray:
        with torch.inference_mode():
            return model(torch.from_numpy(vec)).numpy()
    return run


# ---- the whole run ----------------------------------------------------------------------------
@dataclass(frozen=True)
class DistillConfig:
    seed: int = 0
    rounds: int = 5  # DAgger rounds after the teacher round
    teacher_episodes: int = 30  # per skill, round 0
    round_episodes: int = 20  # per skill, each DAgger round
    steps_round0: int = 3000  # gradient steps after round 0
    steps_round: int = 2000  # after each DAgger round (warm start)
    hidden: tuple[int, ...] = (384, 384)
    calib_rows: int = 2000
    quick_eval_episodes: int = 0  # per skill, after each round (0: off)
    noise: float = 0.0  # NOISE_STD scale on every other student rollout of the DAgger rounds (0: off)
    # Quantisation-aware fine-tuning of the DAgger student (0: none, INT8 = PTQ of the float
    # student). Off: on the noise-free student QAT's 2,000 steps moved the network itself (pick
    # 92% fp32 -> 84% INT8 on the 100-episode eval) while plain PTQ kept it (92% -> 91%).
    qat_steps: int = 0
    qat_lr: float = 2e-4
    val_episodes: int = 20  # per skill, to pick the best round's student (0: the last round's)

    @property
    def total_steps(self) -> int:
        return self.steps_round0 + self.rounds * self.steps_round


VAL_SEED_OFFSET = 3571  # validation start states: apart from training (seed, seed + 7919) and eval (1000)
SMOKE = DistillConfig(rounds=1, teacher_episodes=2, round_episodes=1, steps_round0=150, steps_round=50, val_episodes=1,
                      hidden=(64, 64), calib_rows=200, qat_steps=20)


def _progress_bar():
    try:
        from rich.progress import (BarColumn, MofNCompleteColumn, Progress, TextColumn,
                                   TimeElapsedColumn, TimeRemainingColumn)
    except ImportError:  # pragma: no cover
        return None
    return Progress(TextColumn("{task.description:<28}"), BarColumn(), MofNCompleteColumn(),
                    TimeElapsedColumn(), TimeRemainingColumn())


def distill(out: str | Path, cfg: DistillConfig = DistillConfig(), show_progress: bool = True,
            log=print) -> dict:
    """Train BC and DAgger students; export fp32 ONNX (both) and INT8 QDQ (DAgger) to `out`."""
    import torch

    from edge_nerve.runtime.export import export_onnx

    torch.set_num_threads(1)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    t_start = time.perf_counter()
    bar = _progress_bar() if show_progress else None
    ctx = bar if bar is not None else nullcontext()
    rec: dict[str, Any] = {"config": {k: getattr(cfg, k) for k in cfg.__dataclass_fields__}, "rounds": []}
    rng = random.Random(cfg.seed)
    with ctx:
        def task(desc, total):
            return (bar.add_task(desc, total=total), bar) if bar else (None, None)

        def adv(tk, n=1):
            if tk[1] is not None:
                tk[1].advance(tk[0], n)

        n_rounds_eps = cfg.rounds * cfg.round_episodes
        total_eps = cfg.teacher_episodes + n_rounds_eps
        # start states: one pool for DAgger (round 0 + its rounds) and one for BC, same sizes
        tk = task("start states", 2 * total_eps * len(SKILL_NAMES))
        pool = make_episodes(total_eps, cfg.seed, progress=lambda: adv(tk))
        bc_pool = make_episodes(total_eps, cfg.seed + 7919, progress=lambda: adv(tk))
        by_skill = lambda eps, lo, hi: [e for s in SKILL_NAMES for e in [x for x in eps if x.skill == s][lo:hi]]
        # round 0: teacher rollouts (shared by BC and DAgger)
        r0 = by_skill(pool, 0, cfg.teacher_episodes)
        tk = task("round 0: teacher rollouts", len(r0))
        X, Y, P = [], [], []
        for ep in r0:
            r = rollout(ep, "teacher", record=True)
            if r.obs is not None:
                X.append(r.obs)
                Y.append(r.labels)
                P.append(r.phases)
            adv(tk)
        X0, Y0, P0 = np.concatenate(X), np.concatenate(Y), np.concatenate(P)
        mean, std, omean, ostd = norm_stats(X0, offset_targets(X0, Y0))
        np.savez_compressed(out / "norm.npz", mean=mean, std=std, out_mean=omean, out_std=ostd)
        torch.manual_seed(cfg.seed)
        dagger = build_model(mean, std, omean, ostd, cfg.hidden)
        tk = task("train DAgger round 0", cfg.steps_round0)
        loss = train(dagger, X0, Y0, P0, cfg.steps_round0, cfg.seed, progress=lambda n: adv(tk, n))
        rec["rounds"].append({"round": 0, "samples": int(len(X0)), "loss": round(loss, 5)})
        # DAgger returns the best of its policies on validation (Ross et al. 2011), not the last:
        # a round's retrain on the grown aggregate can lose a skill another round had
        val = make_episodes(cfg.val_episodes, cfg.seed + VAL_SEED_OFFSET) if cfg.val_episodes else []
        best: tuple | None = None

        def select(k: int) -> None:
            nonlocal best
            if not val:
                return
            tk = task(f"validate round {k}", len(val))
            wins = {s: 0 for s in SKILL_NAMES}
            pol = torch_policy(dagger)
            for ep in val:
                wins[ep.skill] += rollout(ep, "student", pol).success
                adv(tk)
            key = (min(wins.values()), sum(wins.values()), k)  # the weakest skill first
            rec["rounds"][-1]["validation"] = {s: f"{w}/{cfg.val_episodes}" for s, w in wins.items()}
            log(f"validation after round {k}: " + ", ".join(f"{s} {w}/{cfg.val_episodes}" for s, w in wins.items()))
            if best is None or key >= best[0]:
                best = (key, copy.deepcopy(dagger.state_dict()))

        select(0)
        Xs, Ys, Ps = [X0], [Y0], [P0]
        for k in range(1, cfg.rounds + 1):
            eps = by_skill(pool, cfg.teacher_episodes + (k - 1) * cfg.round_episodes,
                           cfg.teacher_episodes + k * cfg.round_episodes)
            beta = 0.3 if k == 1 else 0.0
            pol = torch_policy(dagger)
            tk = task(f"round {k}: student rollouts", len(eps))
            succ = {s: [0, 0] for s in SKILL_NAMES}
            for i, ep in enumerate(eps):
                r = rollout(ep, "student", pol, beta=beta, rng=rng, record=True, noise=cfg.noise * (i % 2 == 0))
                succ[ep.skill][0] += int(r.success)
                succ[ep.skill][1] += 1
                if r.obs is not None:
                    Xs.append(r.obs)
                    Ys.append(r.labels)
                    Ps.append(r.phases)
                adv(tk)
            X, Y, P = np.concatenate(Xs), np.concatenate(Ys), np.concatenate(Ps)
            tk = task(f"train DAgger round {k}", cfg.steps_round)
            loss = train(dagger, X, Y, P, cfg.steps_round, cfg.seed + k, progress=lambda n: adv(tk, n))
            rec["rounds"].append({"round": k, "beta": beta, "samples": int(len(X)), "loss": round(loss, 5),
                                  "rollout_success": {s: f"{a}/{b}" for s, (a, b) in succ.items()}})
            log(f"DAgger round {k}: {len(X)} samples, loss {loss:.4f}, rollouts "
                + ", ".join(f"{s} {a}/{b}" for s, (a, b) in succ.items()))
            select(k)
        if best is not None:
            dagger.load_state_dict(best[1])
            rec["selected_round"] = best[0][2]
            log(f"selected the student of round {best[0][2]} (validation: weakest skill {best[0][0]}/"
                f"{cfg.val_episodes}, all {best[0][1]}/{cfg.val_episodes * len(SKILL_NAMES)})")
        # calibration rows for INT8: states the DAgger student visited (its own rollouts)
        cal = np.concatenate(Xs[1:] if len(Xs) > 1 else Xs)
        cal = cal[np.random.default_rng(cfg.seed).permutation(len(cal))[:cfg.calib_rows]]
        # (shipped with the student: anyone re-quantising it for another NPU needs the same rows)
        np.savez_compressed(out / "calibration.npz", obs=cal)
        # the float student is the selected one; the INT8 one is quantised from it, or with
        # qat_steps from a copy tuned under simulated INT8
        export_onnx(dagger, out / "student.fp32.onnx", OBS_DIM)
        if cfg.qat_steps:  # fine-tune under simulated INT8 so the quantised student acts alike
            dagger.fake_quant_ranges(cal)
            tk = task("quantisation-aware tuning", cfg.qat_steps)
            qloss = train(dagger, X, Y, P, cfg.qat_steps, cfg.seed + 99, lr=cfg.qat_lr,
                          progress=lambda n: adv(tk, n))
            dagger.fake_quant = False
            rec["qat"] = {"steps": cfg.qat_steps, "loss": round(qloss, 5)}
            log(f"quantisation-aware tuning: loss {qloss:.4f}")
        # behaviour cloning: teacher rollouts over the same number of episodes, same steps
        extra = by_skill(bc_pool, 0, n_rounds_eps)
        tk = task("BC: teacher rollouts", len(extra))
        Xb, Yb, Pb = [X0], [Y0], [P0]
        for ep in extra:
            r = rollout(ep, "teacher", record=True)
            if r.obs is not None:
                Xb.append(r.obs)
                Yb.append(r.labels)
                Pb.append(r.phases)
            adv(tk)
        Xb, Yb, Pb = np.concatenate(Xb), np.concatenate(Yb), np.concatenate(Pb)
        torch.manual_seed(cfg.seed)
        bc = build_model(mean, std, omean, ostd, cfg.hidden)
        tk = task("train BC", cfg.total_steps)
        bc_loss = train(bc, Xb, Yb, Pb, cfg.total_steps, cfg.seed, progress=lambda n: adv(tk, n))
        rec["bc"] = {"samples": int(len(Xb)), "loss": round(bc_loss, 5)}
        log(f"BC: {len(Xb)} samples, loss {bc_loss:.4f}")
        # export + INT8 calibrated on the same rows as the tuning
        tk = task("export + INT8", 3)
        src = out / "student.fp32.onnx"
        if cfg.qat_steps:
            src = out / "student.qat.fp32.onnx"  # the INT8 student before quantisation (not kept)
            export_onnx(dagger, src, OBS_DIM)
        adv(tk)
        export_onnx(bc, out / "bc.fp32.onnx", OBS_DIM)
        adv(tk)
        quantize_student(src, out / "student.int8.onnx", cal)
        if cfg.qat_steps:
            src.unlink()
        adv(tk)
    rec["worlds"] = [load_world().name]  # what `skills:=auto` checks (student.trained_for)
    rec["domain_randomisation"] = {"layout_share": LAYOUT_SHARE, "slide_m": SLIDE_M, "depth_m": DEPTH_M,
                                   "scale": list(SCALE), "surface_height_m": list(SURFACE_HEIGHT),
                                   "object_scale": list(OBJECT_SCALE), "moved_world": MOVED_WORLD,
                                   "moved_object": MOVED_OBJECT}
    rec["train_time_s"] = round(time.perf_counter() - t_start, 1)
    rec["obs_dim"], rec["act_dim"], rec["skills"] = OBS_DIM, ACT_DIM, list(SKILL_NAMES)
    rec["torch_threads"] = torch.get_num_threads()
    (out / "meta.json").write_text(json.dumps(rec, indent=2) + "\n")
    log(f"distilled in {rec['train_time_s']:.0f} s -> {out}")
    return rec


def quantize_student(fp32: Path, int8: Path, calibration: np.ndarray) -> Path:
    """INT8 QDQ (edge_nerve/runtime/quantize.py settings) of the layers, calibrated on rollout
    observations; the normalisation, phase selection and arm offsets around them stay float, and
    so does each layer's output (the next layer quantises its input): one uint8 range over the
    head's logits and actions together left the actions a few centimetres coarse."""
    from edge_nerve.runtime.quantize import quantize_int8

    return quantize_int8(fp32, int8, calibration, op_types=("Gemm", "MatMul"), float_outputs=("Gemm",))


# ---- evaluation -------------------------------------------------------------------------------
def evaluate(episodes: int = 100, seed: int = 1000, artifact_dir: str | Path = ARTIFACT_DIR,
             policies=("teacher", "bc", "dagger_fp32", "dagger_int8"), skills=SKILL_NAMES,
             show_progress: bool = False, world: str | None = None, workers: int = 1) -> dict:
    """Every policy on the same `episodes` start states per skill (seeded, disjoint from the
    training seeds): success rate and mean time (simulated s, over the successful episodes).
    `workers` > 1 splits the skills over that many processes (same episodes, same results)."""
    if workers > 1 and len(skills) > 1:
        import multiprocessing as mp

        wall0 = time.perf_counter()
        parts = [tuple(skills[i::workers]) for i in range(min(workers, len(skills)))]
        with mp.get_context("fork").Pool(len(parts)) as pool:
            outs = pool.starmap(evaluate, [(episodes, seed, artifact_dir, policies, part, False, world, 1)
                                           for part in parts])
        out = outs[0]
        for o in outs[1:]:
            out["skills"].update(o["skills"])
        out["skills"] = {s: out["skills"][s] for s in skills}
        out["wall_s"], out["workers"] = round(time.perf_counter() - wall0, 1), len(parts)
        out["done_when"] = done_when(out)
        return out
    from edge_nerve.runtime import PolicyRuntime

    artifact_dir = Path(artifact_dir)
    files = {"bc": "bc.fp32.onnx", "dagger_fp32": "student.fp32.onnx", "dagger_int8": "student.int8.onnx"}
    runtimes = {p: PolicyRuntime(artifact_dir / files[p], deadline_us=5000, expected_input_shape=(1, OBS_DIM),
                                 expected_output_shape=(1, ACT_DIM)) for p in policies if p != "teacher"}
    wall0 = time.perf_counter()
    bar = _progress_bar() if show_progress else None
    res = {s: {p: [] for p in policies} for s in skills}
    with (bar if bar is not None else nullcontext()):
        tk = bar.add_task("start states", total=episodes * len(skills)) if bar else None
        eps = make_episodes(episodes, seed, skills, world, progress=(lambda: bar.advance(tk)) if bar else None)
        tk = bar.add_task("episodes", total=len(eps) * len(policies)) if bar else None
        for ep in eps:
            for p in policies:
                r = rollout(ep, "teacher") if p == "teacher" else rollout(ep, "student", runtimes[p].run)
                res[ep.skill][p].append((r.success, r.time_s, r.reason))
                if bar:
                    bar.advance(tk)
    out = {"episodes_per_skill": episodes, "seed": seed, "control_hz": round(1 / CONTROL_DT),
           "artifact": str(artifact_dir), "wall_s": round(time.perf_counter() - wall0, 1), "skills": {}}
    for s in skills:
        out["skills"][s] = {}
        for p in policies:
            rs = res[s][p]
            n = len(rs)
            ok = [r for r in rs if r[0]]
            fails: dict[str, int] = {}
            for r in rs:
                if not r[0]:
                    key = r[2][:60]
                    fails[key] = fails.get(key, 0) + 1
            out["skills"][s][p] = {"episodes": n, "success_rate": round(len(ok) / n, 3) if n else None,
                                   "mean_time_s": round(float(np.mean([r[1] for r in ok])), 2) if ok else None,
                                   "failures": fails}
    stats = {p: rt.stats()["latency_us"] for p, rt in runtimes.items()}
    out["policy_latency_us"] = {p: {"p50": s_["p50"], "p99": s_["p99"]} for p, s_ in stats.items()}
    out["done_when"] = done_when(out)
    return out


def done_when(report: dict) -> dict:
    sk = report["skills"]
    rate = lambda s, p: sk[s].get(p, {}).get("success_rate") or 0.0
    return {
        "dagger_ge_95pct_of_teacher": all(rate(s, "dagger_int8") >= 0.95 * rate(s, "teacher") and
                                          rate(s, "dagger_fp32") >= 0.95 * rate(s, "teacher") for s in sk),
        "int8_within_1pt_of_fp32": all(abs(rate(s, "dagger_int8") - rate(s, "dagger_fp32")) <= 0.01 + 1e-9 for s in sk),
        "dagger_ge_bc": all(rate(s, "dagger_fp32") >= rate(s, "bc") for s in sk),
    }


def limit_threads() -> None:
    """One thread everywhere (the box is shared): torch, BLAS, onnxruntime is already 1."""
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    try:
        import torch

        torch.set_num_threads(1)
    except ImportError:  # pragma: no cover
        pass
