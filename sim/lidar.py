"""A planar range scan of the MuJoCo world, computed the way a 2-D lidar on the base would see it.

Why: the distilled skill student (edge_nerve/skills/student.py) may use only what a robot has;
a local range scan is one of those inputs. The rays are cast with `mj_multiRay` from one point
on the base's axis at SCAN_Z (inside the base cylinder, whose own body is excluded), so they hit
walls, furniture, the user and anything lying on the floor, never the floor itself. The sim node
publishes the same scan as sensor_msgs/LaserScan on `scan`.

    .venv/bin/python -c "from sim.home_sim import HomeSim; from cloud_brain.domain.description import load_world; from sim.lidar import RangeScanner; s=HomeSim(load_world()); print(RangeScanner(s.model).scan(s.data, s.robot_pose()))"
"""

from __future__ import annotations

import math
from typing import Sequence

import mujoco
import numpy as np

N_BEAMS = 24  # one beam every 15 degrees, beam 0 straight ahead, counter-clockwise
MAX_RANGE = 4.0  # m: no return (or farther) reads MAX_RANGE
SCAN_Z = 0.12  # m above the floor: below every furniture top, above the floor


class RangeScanner:
    """Ranges [m] of N_BEAMS horizontal rays from the base centre; preallocated buffers."""

    def __init__(self, model: mujoco.MjModel, n_beams: int = N_BEAMS, max_range: float = MAX_RANGE,
                 z: float = SCAN_Z, robot_body: str = "robot"):
        self.model = model
        self.n = int(n_beams)
        self.max_range = float(max_range)
        self.z = float(z)
        self.angles = np.arange(self.n) * (2 * math.pi / self.n)  # body frame, rad
        self.body = mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_BODY, robot_body)
        self._vec = np.zeros(3 * self.n)
        self._pnt = np.zeros(3)
        self._geom = np.zeros(self.n, dtype=np.int32)
        self._dist = np.zeros(self.n)

    @property
    def angle_min(self) -> float:
        return 0.0

    @property
    def angle_increment(self) -> float:
        return 2 * math.pi / self.n

    def scan(self, data: mujoco.MjData, pose: Sequence[float], out: np.ndarray | None = None) -> np.ndarray:
        """(N_BEAMS,) ranges [m], clipped to max_range, for the base at pose (x, y, yaw)."""
        x, y, yaw = pose[0], pose[1], pose[2]
        a = self.angles + yaw
        v = self._vec.reshape(self.n, 3)
        v[:, 0] = np.cos(a)
        v[:, 1] = np.sin(a)
        self._pnt[:] = (x, y, self.z)
        mujoco.mj_multiRay(self.model, data, self._pnt, self._vec, None, True, self.body, self._geom,
                           self._dist, None, self.n, self.max_range)
        d = self._dist
        d[(d < 0) | (d > self.max_range)] = self.max_range
        if out is None:
            return d.copy()
        out[:] = d
        return out


def scan_sim(sim, scanner: RangeScanner | None = None) -> np.ndarray:
    """The scan of a HomeSim at its current state."""
    sc = scanner or getattr(sim, "_range_scanner", None)
    if sc is None or sc.model is not sim.model:
        sc = RangeScanner(sim.model)
        sim._range_scanner = sc
    return sc.scan(sim.data, sim.robot_pose())
