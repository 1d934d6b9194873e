"""Backpressure: the error a planner raises when it admits no more requests.

Why its own module (no torch): the session logic (cloud_brain/server/session.py) turns it into
Error(OVERLOADED) — the robot may retry, its session lives on — without importing the batching
engine (cloud_brain/server/batching.py) that raises it.
"""

from __future__ import annotations


class Overloaded(RuntimeError):
    """The planner is at its admission bound (decoding + queued); the request was not taken."""

    def __init__(self, active: int, queued: int, max_active: int, max_queue: int):
        self.active, self.queued, self.max_active, self.max_queue = active, queued, max_active, max_queue
        super().__init__(f"planner overloaded: {active} plans decoding and {queued} queued "
                         f"(limits: {max_active} decoding + {max_queue} queued); retry later")
