"""The control loop's plain parts: loop timing (jitter, deadline misses), the policy's
observation vector, and the mapping from a policy's action vector to robot commands.

Why here and not in the node: the skill runner must hold 500 Hz in rclpy, so what runs per tick
is kept to a few array stores into preallocated buffers (no allocation, no Python containers
growing), and that is testable without ROS. The `skill_runner` node calls these per tick and
publishes `LoopMonitor.summary()` on /diagnostics once a second.

Deadline miss (per tick): the command was computed later than one deadline (default one
period) after its sensor sample was stamped (when the sample carries this host's wall clock),
or the tick's own compute took longer than the deadline, or the tick started more than one
deadline after it was due (the previous tick plus one period): in each case the actuator went
a whole period without a fresh command.

    .venv/bin/python -m pytest tests/unit/test_control.py -q
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

ODOM_DIM = 6  # x, y, yaw, vx, vy, wz


class LoopMonitor:
    """Per-tick timing of a periodic (or sensor-driven) loop. All times in integer ns."""

    def __init__(self, period_s: float, deadline_s: float | None = None, window: int = 8192):
        if period_s <= 0:
            raise ValueError("period_s must be positive")
        self.period_ns = int(period_s * 1e9)
        self.deadline_ns = int((deadline_s if deadline_s is not None else period_s) * 1e9)
        self._window = int(window)
        self._interval = np.zeros(self._window, dtype=np.int64)
        self._compute = np.zeros(self._window, dtype=np.int64)
        self._latency = np.zeros(self._window, dtype=np.int64)
        self.reset()

    def reset(self) -> None:
        self.ticks = 0
        self.misses = 0
        self.late_starts = 0
        self.slow_computes = 0
        self.late_commands = 0
        self.max_compute_ns = 0
        self.max_jitter_ns = 0
        self._n_latency = 0
        self._prev_start: int | None = None

    def idle(self) -> None:
        """The loop paused on purpose (no skill running): the next tick is not late."""
        self._prev_start = None

    def tick(self, start_ns: int, end_ns: int, latency_ns: int | None = None) -> bool:
        """Record one tick (`start_ns`..`end_ns` its compute, monotonic or wall, one clock);
        `latency_ns`: sensor stamp -> command published, when known. Returns True on a miss."""
        i = self.ticks % self._window
        compute = end_ns - start_ns
        self._compute[i] = compute
        miss = False
        if compute > self.max_compute_ns:
            self.max_compute_ns = compute
        if compute > self.deadline_ns:
            self.slow_computes += 1
            miss = True
        if self._prev_start is not None:
            interval = start_ns - self._prev_start
            self._interval[(self.ticks - 1) % self._window] = interval
            jitter = abs(interval - self.period_ns)
            if jitter > self.max_jitter_ns:
                self.max_jitter_ns = jitter
            if interval > self.period_ns + self.deadline_ns:
                self.late_starts += 1
                miss = True
        self._prev_start = start_ns
        if latency_ns is not None:
            self._latency[self._n_latency % self._window] = latency_ns
            self._n_latency += 1
            if latency_ns > self.deadline_ns:
                self.late_commands += 1
                miss = True
        if miss:
            self.misses += 1
        self.ticks += 1
        return miss

    def summary(self) -> dict[str, float | int]:
        """Counters and percentiles (ms) over the last `window` ticks. Allocates: off the hot path."""
        n = min(self.ticks, self._window)
        ni = min(max(self.ticks - 1, 0), self._window)
        nl = min(self._n_latency, self._window)
        out: dict[str, float | int] = {
            "ticks": self.ticks, "deadline_misses": self.misses,
            "miss_rate": round(self.misses / self.ticks, 6) if self.ticks else 0.0,
            "late_starts": self.late_starts, "slow_computes": self.slow_computes,
            "late_commands": self.late_commands,
            "period_ms": self.period_ns / 1e6, "deadline_ms": self.deadline_ns / 1e6,
            "compute_max_ms": round(self.max_compute_ns / 1e6, 4),
            "jitter_max_ms": round(self.max_jitter_ns / 1e6, 4),
        }
        if n:
            c = self._compute[:n] / 1e6
            out["compute_p50_ms"], out["compute_p99_ms"] = (round(float(v), 4) for v in np.percentile(c, [50, 99]))
        if ni:
            j = np.abs(self._interval[:ni] - self.period_ns) / 1e6
            out["jitter_p50_ms"], out["jitter_p99_ms"] = (round(float(v), 4) for v in np.percentile(j, [50, 99]))
        if nl:
            lat = self._latency[:nl] / 1e6
            out["latency_p50_ms"], out["latency_p99_ms"] = (round(float(v), 4) for v in np.percentile(lat, [50, 99]))
        return out


@dataclass(frozen=True)
class ObservationLayout:
    """Where each sensor quantity sits in the policy's observation vector (float32, fixed size).

    [0:6] odometry (x, y, yaw, vx, vy, wz) | [6:6+A] the previous action | then J slots each of
    joint positions, velocities, efforts (J = (obs_dim - 6 - A) // 3); the rest stays zero.
    Joints beyond J are dropped, missing ones read zero: the shape never changes (NPU rule)."""

    obs_dim: int = 64
    act_dim: int = 12

    @property
    def joints(self) -> int:
        return max(0, (self.obs_dim - ODOM_DIM - self.act_dim) // 3)

    def __post_init__(self):
        if self.obs_dim < ODOM_DIM + self.act_dim:
            raise ValueError(f"obs_dim {self.obs_dim} < {ODOM_DIM} (odometry) + act_dim {self.act_dim}")


class ObservationBuilder:
    """Fills one preallocated observation vector from sensor messages' numeric fields."""

    def __init__(self, layout: ObservationLayout = ObservationLayout()):
        self.layout = layout
        self.vector = np.zeros((1, layout.obs_dim), dtype=np.float32)  # (1, O): the model's input
        v = self.vector[0]
        a, j = ODOM_DIM + layout.act_dim, layout.joints
        self._odom = v[:ODOM_DIM]
        self._action = v[ODOM_DIM:a]
        self._joints = v[a:a + 3 * j].reshape(3, j)  # rows: positions, velocities, efforts
        self._pos, self._vel, self._eff = self._joints
        self._joints_set = j  # slots the last call may have written (the rest are zero)

    @staticmethod
    def _fill(dst: np.ndarray, values) -> None:
        """Copy a sequence of floats (a numpy view of the message bytes, or array.array('d') from
        rclpy: zero-copy view) into `dst`."""
        if type(values) is np.ndarray:
            src = values
        elif isinstance(values, (bytes, memoryview)) or hasattr(values, "typecode"):
            src = np.frombuffer(values, dtype=np.float64)
        else:
            src = np.asarray(values, dtype=np.float64)
        n = min(len(src), len(dst))
        dst[:n] = src[:n]
        dst[n:] = 0.0

    def joint_state(self, position, velocity, effort) -> None:
        self._fill(self._pos, position)
        self._fill(self._vel, velocity)
        self._fill(self._eff, effort)
        self._joints_set = self._joints.shape[1]

    def joint_rows(self, rows) -> None:
        """Positions, velocities and efforts: a (3, n) float array (one copy into the vector, as
        control_cdr.JointStateReader gives it) or three sequences (`joint_state`)."""
        if type(rows) is not np.ndarray or rows.ndim != 2 or rows.shape[0] != 3:
            self.joint_state(*rows)
            return
        j = self._joints
        n = min(rows.shape[1], j.shape[1])
        j[:, :n] = rows[:, :n] if n < rows.shape[1] else rows
        if n < self._joints_set:
            j[:, n:self._joints_set] = 0.0
        self._joints_set = n

    def odometry(self, x: float, y: float, yaw: float, vx: float, vy: float, wz: float) -> None:
        o = self._odom
        o[0], o[1], o[2], o[3], o[4], o[5] = x, y, yaw, vx, vy, wz

    def last_action(self, action: np.ndarray) -> None:
        n = min(action.size, self._action.size)
        self._action[:n] = action.reshape(-1)[:n]


def split_action(action: np.ndarray) -> tuple[tuple[float, float, float], tuple[float, float, float]]:
    """A policy action (1, A), A >= 6 -> base twist (vx, vy, wz) and arm [lift, extend, gripper].

    Values pass through unchanged, NaN included: limits and finiteness are the safety gate's job."""
    a = action.ravel()[:6].tolist()  # one call: six numpy scalar reads cost more on a cold tick
    return (a[0], a[1], a[2]), (a[3], a[4], a[5])
