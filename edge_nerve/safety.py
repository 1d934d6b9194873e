"""The command watchdog: the last gate between any controller and the wheels.

Why: a controller that crashes, hangs or loses its link must never leave the base driving on
its last command. Every velocity command passes through here; when none has arrived for
`timeout_s`, the output is a zero twist until a fresh one comes, and the hold is reported once.
Non-finite or out-of-limit commands are clamped or turned into a stop.

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


class CommandWatchdog:
    """Gate for base twists (vx, vy, wz). Plain class: the `safety` node wires it to topics."""

    def __init__(self, config: WatchdogConfig | None = None):
        self.config = config or WatchdogConfig()
        self._last: tuple[float, float, float] = ZERO
        self._last_time: float | None = None
        self.holding = True  # nothing commanded yet: hold still
        self.stops = 0  # times the watchdog had to stop the base
        self.rejected = 0  # non-finite commands turned into stops

    def command(self, twist: tuple[float, float, float], now: float) -> tuple[tuple[float, float, float], str | None]:
        """A fresh command arrives. Returns (the twist to send, a diagnostic message or None)."""
        if not all(math.isfinite(v) for v in twist):
            self.rejected += 1
            self._last, self._last_time = ZERO, now
            return ZERO, f"non-finite command {twist} replaced by a stop"
        c = self.config
        vx, vy, wz = twist
        clamped = (max(-c.max_linear, min(c.max_linear, vx)), max(-c.max_linear, min(c.max_linear, vy)),
                   max(-c.max_angular, min(c.max_angular, wz)))
        note = None if clamped == tuple(twist) else f"command {twist} clamped to {clamped}"
        self._last, self._last_time = clamped, now
        resumed = self.holding
        self.holding = False
        if resumed and note is None:
            note = "commands resumed"
        return clamped, note

    def tick(self, now: float) -> tuple[tuple[float, float, float], str | None]:
        """Periodic check. Returns (the twist to send now, a message when the robot starts holding)."""
        stale = self._last_time is None or now - self._last_time > self.config.timeout_s
        if not stale:
            return self._last, None
        if self.holding:
            return ZERO, None
        self.holding = True
        self.stops += 1
        age = "never" if self._last_time is None else f"{(now - self._last_time) * 1e3:.0f} ms ago"
        return ZERO, f"no command for {self.config.timeout_s * 1e3:.0f} ms (last {age}): holding still"
