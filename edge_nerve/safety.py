"""The command watchdog: the last gate between any controller and the wheels and the arm.

Why: a controller that crashes, hangs or loses its link must never leave the base driving on
its last command. Every velocity command passes through here; when none has arrived for
`timeout_s`, the output is a zero twist until a fresh one comes, and the hold is reported once.
Non-finite or out-of-limit commands are clamped or turned into a stop. An E-stop overrides
everything (base zero, arm commands not forwarded so the arm holds its setpoint) until it is
released; after a release the base stays still until a *fresh* command arrives.
Arm setpoints pass the same gate: non-finite ones are dropped (the arm holds), out-of-range
ones are clamped to the joint ranges.

    .venv/bin/python -m pytest tests/unit/test_safety.py -q
"""

from __future__ import annotations

import math
from dataclasses import dataclass

ZERO = (0.0, 0.0, 0.0)


@dataclass
class WatchdogConfig:
    timeout_s: float = 0.25  # no fresh command for this long -> zero twist
    max_linear: float = 1.0  # m/s, per axis
    max_angular: float = 2.0  # rad/s
    # arm setpoint ranges [lift m, extend m, gripper 0..1] (sim/mjcf.py RobotSpec defaults)
    arm_min: tuple[float, float, float] = (0.10, 0.0, 0.0)
    arm_max: tuple[float, float, float] = (2.10, 0.55, 1.0)

    def __post_init__(self):
        if self.timeout_s <= 0 or self.max_linear <= 0 or self.max_angular <= 0:
            raise ValueError("timeout_s, max_linear and max_angular must be positive")
        if len(self.arm_min) != 3 or len(self.arm_max) != 3 or any(
                lo > hi for lo, hi in zip(self.arm_min, self.arm_max)):
            raise ValueError("arm_min/arm_max must be 3 values each with min <= max")


class CommandWatchdog:
    """Gate for base twists (vx, vy, wz). Plain class: the `safety` node wires it to topics."""

    def __init__(self, config: WatchdogConfig | None = None):
        self.config = config or WatchdogConfig()
        self._last: tuple[float, float, float] = ZERO
        self._last_time: float | None = None
        self.holding = True  # nothing commanded yet: hold still
        self.stops = 0  # times the watchdog had to stop the base
        self.rejected = 0  # non-finite commands turned into stops
        self.clamped = 0  # out-of-limit commands clamped (base and arm)
        self.arm_rejected = 0  # arm setpoints dropped (non-finite or wrong length)
        self.estop_reason: str | None = None  # set while the E-stop is engaged
        self.estops = 0  # times the E-stop was engaged

    # ---- E-stop -------------------------------------------------------------------------------
    @property
    def estopped(self) -> bool:
        return self.estop_reason is not None

    def engage_estop(self, reason: str) -> str | None:
        """Stop everything until `release_estop`. Returns a message when this engages it."""
        if self.estopped:
            return None
        self.estop_reason = reason or "E-stop"
        self.estops += 1
        self.holding = True
        return f"E-STOP engaged ({self.estop_reason}): base stopped, arm holds"

    def release_estop(self) -> str | None:
        """Release; the base stays still until a fresh command arrives. Message when it releases."""
        if not self.estopped:
            return None
        was, self.estop_reason = self.estop_reason, None
        self._last, self._last_time = ZERO, None  # a command from before the E-stop never resumes
        self.holding = True
        return f"E-stop released (was: {was}); holding until a fresh command"

    # ---- arm ----------------------------------------------------------------------------------
    def arm(self, setpoint, now: float) -> tuple[tuple[float, float, float] | None, str | None]:
        """An arm setpoint [lift, extend, gripper]. Returns (what to forward or None to drop, note)."""
        if self.estopped:
            return None, None
        if len(setpoint) != 3 or not all(math.isfinite(v) for v in setpoint):
            self.arm_rejected += 1
            return None, f"arm setpoint {tuple(setpoint)} rejected (needs 3 finite values): arm holds"
        c = self.config
        out = tuple(max(lo, min(hi, float(v))) for v, lo, hi in zip(setpoint, c.arm_min, c.arm_max))
        if out != tuple(setpoint):
            self.clamped += 1
            return out, f"arm setpoint {tuple(setpoint)} clamped to {out}"
        return out, None

    def command(self, twist: tuple[float, float, float], now: float) -> tuple[tuple[float, float, float], str | None]:
        """A fresh command arrives. Returns (the twist to send, a diagnostic message or None)."""
        if self.estopped:
            return ZERO, None
        if not all(math.isfinite(v) for v in twist):
            self.rejected += 1
            self._last, self._last_time = ZERO, now
            return ZERO, f"non-finite command {twist} replaced by a stop"
        c = self.config
        vx, vy, wz = twist
        clamped = (max(-c.max_linear, min(c.max_linear, vx)), max(-c.max_linear, min(c.max_linear, vy)),
                   max(-c.max_angular, min(c.max_angular, wz)))
        note = None if clamped == tuple(twist) else f"command {twist} clamped to {clamped}"
        if note is not None:
            self.clamped += 1
        self._last, self._last_time = clamped, now
        resumed = self.holding
        self.holding = False
        if resumed and note is None:
            note = "commands resumed"
        return clamped, note

    def tick(self, now: float) -> tuple[tuple[float, float, float], str | None]:
        """Periodic check. Returns (the twist to send now, a message when the robot starts holding)."""
        if self.estopped:
            return ZERO, None
        stale = self._last_time is None or now - self._last_time > self.config.timeout_s
        if not stale:
            return self._last, None
        if self.holding:
            return ZERO, None
        self.holding = True
        self.stops += 1
        age = "never" if self._last_time is None else f"{(now - self._last_time) * 1e3:.0f} ms ago"
        return ZERO, f"no command for {self.config.timeout_s * 1e3:.0f} ms (last {age}): holding still"
