"""Control-loop parts: timing counters, the observation vector, the action split."""

import math
from array import array

import numpy as np
import pytest

from edge_nerve.control import LoopMonitor, ObservationBuilder, ObservationLayout, split_action

MS = 1_000_000


def test_on_time_ticks_count_no_misses_and_jitter_is_measured():
    m = LoopMonitor(period_s=0.002)
    t = 0
    for i in range(100):
        start = t + (50_000 if i % 2 else 0)  # 50 µs of jitter on every other tick
        m.tick(start, start + 100_000, latency_ns=300_000)
        t += 2 * MS
    s = m.summary()
    assert s["ticks"] == 100 and s["deadline_misses"] == 0
    assert s["jitter_max_ms"] == pytest.approx(0.05)
    assert s["latency_p99_ms"] == pytest.approx(0.3)


def test_slow_compute_late_start_and_late_command_are_misses():
    m = LoopMonitor(period_s=0.002)
    assert not m.tick(0, 100_000)
    assert m.tick(2 * MS, 2 * MS + 3 * MS)  # compute longer than the period
    assert m.tick(9 * MS, 9 * MS + 10_000)  # started 5 ms late (a period went without a command)
    assert m.tick(11 * MS, 11 * MS + 10_000, latency_ns=int(2.5 * MS))  # command too old
    s = m.summary()
    assert (s["slow_computes"], s["late_starts"], s["late_commands"], s["deadline_misses"]) == (1, 1, 1, 3)


def test_an_idle_pause_is_not_a_late_start():
    m = LoopMonitor(period_s=0.01)
    m.tick(0, 1000)
    m.idle()
    assert not m.tick(10_000 * MS, 10_000 * MS + 1000)


def test_observation_layout_is_fixed_whatever_the_joint_count():
    b = ObservationBuilder(ObservationLayout(obs_dim=64, act_dim=12))
    assert b.vector.shape == (1, 64) and b.vector.dtype == np.float32
    j = b.layout.joints  # 15
    b.odometry(1, 2, 3, 4, 5, 6)
    b.joint_state(array("d", [1.0] * 20), [2.0] * 3, [])  # more joints than slots, fewer, none
    v = b.vector[0]
    assert list(v[:6]) == [1, 2, 3, 4, 5, 6]
    pos, vel, eff = v[18:18 + j], v[18 + j:18 + 2 * j], v[18 + 2 * j:18 + 3 * j]
    assert (pos == 1).all() and list(vel[:3]) == [2, 2, 2] and (vel[3:] == 0).all() and (eff == 0).all()
    b.last_action(np.arange(12, dtype=np.float32).reshape(1, 12))
    assert list(v[6:18]) == list(range(12))


def test_joint_rows_write_the_same_observation_as_three_arrays_whatever_came_before():
    """The loop's one-copy path (a (3, n) view of the message) and the three-array path fill the
    same slots, and joints a message no longer has read zero, in either order of calls."""
    rng = np.random.default_rng(1)
    rows_a, rows_b = rng.standard_normal((3, 12)), rng.standard_normal((3, 4))
    fast, slow = (ObservationBuilder(ObservationLayout(64, 12)) for _ in range(2))
    for rows in (rows_a, rows_b, rng.standard_normal((3, 40)), rows_a, rows_b):
        fast.joint_rows(rows)
        slow.joint_state(*rows)
        assert np.array_equal(fast.vector, slow.vector)
    slow.joint_state([1.0] * 15, [2.0] * 15, [3.0] * 15)  # every slot set, then fewer joints in rows
    slow.joint_rows(rows_b)
    fast.joint_state(*rows_b)
    assert np.array_equal(fast.vector, slow.vector)
    fast.joint_rows((rows_a[0], rows_a[1][:3], []))  # three sequences of other lengths: the general path
    slow.joint_state(rows_a[0], rows_a[1][:3], [])
    assert np.array_equal(fast.vector, slow.vector)


def test_split_action_passes_nan_through_for_the_gate():
    a = np.array([[0.1, 0.2, math.nan, 0.5, 0.1, 1.0] + [0] * 6], dtype=np.float32)
    base, arm = split_action(a)
    assert base[0] == pytest.approx(0.1) and math.isnan(base[2]) and arm == pytest.approx((0.5, 0.1, 1.0))
