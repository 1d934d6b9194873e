"""One step's ExecuteSkill call, from the plan executor's side, until its result is in.

Why: an action is three DDS service calls and a status topic, and a service answer can be lost.
rmw_fastrtps sends a response only once the server has matched the client's response reader
and waits briefly for that; on a loaded machine the answer is dropped, and rclpy's future for
it never completes. A step whose goal answer or result was lost used to wait for ever (a CI
run timed out a one-step mission after 120 s). The skill runner treats a goal whose step id it
already has as the same step: it joins the running one or answers with the stored result (see
nodes/skill_runner.py). So asking again is safe, and this class says when to:

- no goal answer `ack_s` after the last ask: ask again;
- the server's status says the goal ended but no result came within `ack_s`: ask again (the
  runner answers at once with the stored result);
- the server is gone from the graph while the step runs: wait `give_up_s` for it to return;
- no goal answer within `give_up_s` of the first ask, or the server gone that long: the step
  fails with a reason the cloud and the user can act on.

A step that is running normally is never re-asked: its length is bounded by the skill's own
timeout on the runner. Plain class (no rclpy): the `plan_executor` node polls `due()`.

    .venv/bin/python -m pytest tests/unit/test_skill_call.py -q
"""

from __future__ import annotations

from dataclasses import dataclass, field

ASK = "ask"
GIVE_UP = "give_up"


@dataclass
class SkillCall:
    step_id: str
    started: float  # when the first goal went out (monotonic s)
    ack_s: float = 2.0  # an answer later than this is treated as lost: ask again
    give_up_s: float = 10.0  # no answer (or no server) this long: the step fails
    asks: int = 1
    last_ask: float = field(init=False)
    accepted_at: float | None = None
    ended_at: float | None = None  # the server's status said the goal ended (result not yet here)
    server_lost_at: float | None = None

    def __post_init__(self):
        self.last_ask = self.started

    def asked(self, now: float) -> None:
        self.asks += 1
        self.last_ask = now

    def accepted(self, now: float) -> None:
        if self.accepted_at is None:
            self.accepted_at = now

    def ended(self, now: float) -> None:
        if self.ended_at is None:
            self.ended_at = now
            self.last_ask = now  # the result is due from now

    def server(self, ready: bool, now: float) -> None:
        if ready:
            self.server_lost_at = None
        elif self.server_lost_at is None:
            self.server_lost_at = now

    def due(self, now: float) -> tuple[str, str] | None:
        """(ASK, why) or (GIVE_UP, why) when the call needs action now, else None."""
        if self.server_lost_at is not None:
            gone = now - self.server_lost_at
            if gone > self.give_up_s:
                return GIVE_UP, f"skill runner gone for {gone:.0f} s during the step"
            return None  # nobody to ask; wait for it to come back
        if self.accepted_at is None:
            if now - self.started > self.give_up_s:
                return GIVE_UP, (f"skill runner did not answer the step's goal in {self.give_up_s:.0f} s "
                                 f"({self.asks} asks)")
            if now - self.last_ask > self.ack_s:
                return ASK, f"no answer to the goal in {now - self.last_ask:.1f} s"
            return None
        if self.ended_at is not None:
            if now - self.ended_at > self.give_up_s:
                return GIVE_UP, f"the skill ended but its result never came ({self.asks} asks)"
            if now - self.last_ask > self.ack_s:
                return ASK, f"the skill ended {now - self.ended_at:.1f} s ago and its result is missing"
        return None
