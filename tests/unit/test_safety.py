"""The command watchdog: the robot never keeps driving on a stale or invalid command."""

import math

from edge_nerve.safety import ZERO, CommandWatchdog, WatchdogConfig


def test_holds_still_before_any_command():
    w = CommandWatchdog(WatchdogConfig(timeout_s=0.2))
    assert w.tick(0.0) == (ZERO, None)
    assert w.holding


def test_forwards_fresh_commands_then_stops_when_they_go_stale():
    w = CommandWatchdog(WatchdogConfig(timeout_s=0.2))
    out, _ = w.command((0.5, 0.0, 0.1), now=1.0)
    assert out == (0.5, 0.0, 0.1)
    assert w.tick(1.1) == ((0.5, 0.0, 0.1), None)
    out, note = w.tick(1.25)
    assert out == ZERO and "holding still" in note
    out, note = w.tick(1.5)  # reported once, keeps stopping
    assert out == ZERO and note is None
    assert w.stops == 1
    out, note = w.command((0.2, 0.0, 0.0), now=2.0)
    assert out == (0.2, 0.0, 0.0) and note == "commands resumed"


def test_non_finite_command_becomes_a_stop():
    w = CommandWatchdog()
    out, note = w.command((math.nan, 0.0, 0.0), now=0.0)
    assert out == ZERO and "non-finite" in note
    out, _ = w.command((0.1, math.inf, 0.0), now=0.01)
    assert out == ZERO and w.rejected == 2


def test_out_of_limit_command_is_clamped():
    w = CommandWatchdog(WatchdogConfig(max_linear=0.8, max_angular=1.5))
    out, note = w.command((3.0, -2.0, 9.0), now=0.0)
    assert out == (0.8, -0.8, 1.5) and "clamped" in note
