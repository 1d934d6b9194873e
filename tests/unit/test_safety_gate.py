"""The gate's E-stop and arm checks (edge_nerve/safety.py, no ROS)."""

import math

from edge_nerve.safety import ZERO, CommandWatchdog, WatchdogConfig


def test_estop_overrides_commands_and_ticks_until_released():
    w = CommandWatchdog(WatchdogConfig(timeout_s=0.2))
    w.command((0.5, 0.0, 0.0), now=0.0)
    assert "E-STOP" in w.engage_estop("operator")
    assert w.engage_estop("again") is None  # engaging twice reports once
    assert w.command((0.5, 0.0, 0.0), now=0.05) == (ZERO, None)
    assert w.tick(0.06) == (ZERO, None)
    assert w.arm((0.5, 0.1, 0.0), now=0.06) == (None, None)  # the arm holds
    assert "released" in w.release_estop()
    assert w.tick(0.07)[0] == ZERO  # a command from before the E-stop never resumes
    out, note = w.command((0.3, 0.0, 0.0), now=0.08)
    assert out == (0.3, 0.0, 0.0) and note == "commands resumed"
    assert w.estops == 1


def test_arm_setpoints_are_clamped_or_dropped():
    w = CommandWatchdog(WatchdogConfig(arm_min=(0.1, 0.0, 0.0), arm_max=(1.2, 0.55, 1.0)))
    assert w.arm((0.6, 0.2, 0.5), 0.0) == ((0.6, 0.2, 0.5), None)
    out, note = w.arm((2.0, -1.0, 0.5), 0.0)
    assert out == (1.2, 0.0, 0.5) and "clamped" in note
    out, note = w.arm((0.6, math.nan, 0.5), 0.0)
    assert out is None and "rejected" in note
    out, note = w.arm((0.6, 0.2), 0.0)
    assert out is None and w.arm_rejected == 2
