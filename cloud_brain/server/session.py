"""One robot's planning session: the protocol logic of brainstem.v1.CloudBrain.Session, no gRPC.

Why a plain class: the servicer (cloud_brain/server/service.py) only moves messages between the
HTTP/2 stream and this object, so every protocol rule (Hello first, idempotent step outcomes,
Commit / Rollback / replan, errors that keep the session up) is unit-tested without a server.
`handle()` is a generator: each CloudMessage is yielded the moment it exists, so plan steps
leave the cloud as soon as the planner produces them, before the plan is complete.

Plan identity (protos/brainstem/v1/session.proto): a plan has a `plan_id`; every rollback bumps
its `revision`. Step ids are "<plan_id>/<index>" at revision 0 and "<plan_id>/<index>@r<rev>"
after a replan, so a replanned step never reuses the id of the step it replaces and the edge can
keep treating step ids as run-at-most-once.

Plan delivery (Command.delivery, the strategies `brainstem bench prefetch` compares):
PREFETCH (default) streams every step the moment the planner yields it; the steps after the
first of a revision go out flagged speculative with `predicted_pre`, the symbolic state the
step assumes (skills.apply over the steps before it), so the edge can start step i+1 the moment
step i ends, without a round trip, if its own state matches. FULL_PLAN holds every step until
the plan is complete and sends them as final. PER_STEP sends one step and holds the rest; each
success outcome releases the next (one round trip per step: the baseline prefetch removes).

Persistence (cloud_brain/server/store.py): with a `store`, every change is written through
*before* the message that depends on it leaves (a step before its PlanStep, an outcome before
its Commit, a revision before its Rollback), so a cloud killed at any instant restarts with
everything the edge has seen; `PlanSession.restore` rebuilds the session and a plan whose
planning was cut short is finished from where it stopped, with the same step ids.

    python -c "
    from cloud_brain.server.session import PlanSession
    from cloud_brain.planner.base import get_planner
    from cloud_brain.wire import pb, PROTOCOL_VERSION
    s = PlanSession(get_planner('rules'))
    hello = pb.EdgeMessage(hello=pb.Hello(protocol_version=PROTOCOL_VERSION, robot_id='r1'))
    cmd = pb.EdgeMessage(command=pb.Command(command_id='c1', text='bring me the red cup'))
    for m in [*s.handle(hello), *s.handle(cmd)]: print(m)"
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Iterator

from cloud_brain.domain.description import WorldDescription, WorldError, load_world
from cloud_brain.domain.state import ROBOT, USER, WorldState
from cloud_brain.server.admission import Overloaded
from cloud_brain.wire import (PROTOCOL_VERSION, kind_of, pb, snapshot_from_proto, snapshot_is_empty,
                              snapshot_to_proto, step_from_proto, step_to_proto)

log = logging.getLogger(__name__)

E = pb.Error  # error codes: E.MALFORMED, E.PROTOCOL, ...


class Malformed:
    """Stands in for an EdgeMessage whose bytes did not parse (the stream stays open)."""

    def __init__(self, detail: str, size: int = 0):
        self.detail = detail
        self.size = size

    def __repr__(self) -> str:
        return f"Malformed({self.detail!r}, size={self.size})"


@dataclass
class SessionConfig:
    """Protocol limits and timings of a session (one per server, shared by its sessions)."""

    lease_s: float = 5.0
    """The edge must hear from the cloud (any message, e.g. a HeartbeatAck) within this."""
    step_lease_s: float = 30.0
    """PlanStep.lease_deadline_s: how long after receipt the edge may run a step without news."""
    max_command_chars: int = 2000
    """Longer command texts are answered with Error(TOO_LARGE)."""
    max_replans: int = 3
    """Failed outcomes one plan may recover from by replanning before the cloud gives up."""
    keep_plans: int = 16
    """Finished plans remembered per session, so late or duplicate outcomes are recognised."""
    dedup_command_ids: bool = False
    """True: a Command whose command_id this session already planned is ignored (a duplicate on
    the wire or a retry after a reconnect is planned once). `cloud serve` turns it on; off here
    because callers of the bare class may reuse ids."""

    def __post_init__(self):
        if self.lease_s <= 0 or self.step_lease_s <= 0:
            raise ValueError("lease_s and step_lease_s must be positive")
        if self.max_command_chars < 1 or self.max_replans < 0 or self.keep_plans < 1:
            raise ValueError("max_command_chars and keep_plans must be >= 1, max_replans >= 0")


@dataclass
class _SentStep:
    index: int
    revision: int
    msg: Any  # pb.PlanStep as sent
    state: WorldState  # the state this step was planned to start from


DELIVERY_NAMES = {pb.PLAN_DELIVERY_PREFETCH: "prefetch", pb.PLAN_DELIVERY_FULL_PLAN: "full_plan",
                  pb.PLAN_DELIVERY_PER_STEP: "per_step"}


@dataclass
class _Plan:
    plan_id: str
    command_id: str
    text: str
    delivery: int = pb.PLAN_DELIVERY_PREFETCH
    revision: int = 0
    current: dict[int, _SentStep] = field(default_factory=dict)  # index -> step of this revision
    held: dict[int, _SentStep] = field(default_factory=dict)  # PER_STEP: planned, not yet sent
    num_steps: int | None = None  # set once PlanDone went out for the current revision
    committed_upto: int = -1
    outcomes: dict[str, bool] = field(default_factory=dict)  # step_id -> success
    replans: int = 0
    closed: bool = False  # refused, failed for good, or every step committed
    from_index: int = 0  # where the current revision's planning started ...
    from_state: WorldState | None = None  # ... and from which state (store: finish after a crash)
    last_failure: tuple | None = None  # (skill, args, reason, state) of the last failed step


def step_id_of(plan_id: str, index: int, revision: int) -> str:
    return f"{plan_id}/{index}" if revision == 0 else f"{plan_id}/{index}@r{revision}"


def state_from_snapshot(desc: WorldDescription, snap: dict) -> WorldState:
    """WorldState.from_snapshot with every name checked against the world description."""
    places = set(desc.furniture) | {ROBOT, USER}
    for obj, where in (snap.get("object_locations") or {}).items():
        if obj not in desc.objects:
            raise WorldError(f"snapshot names unknown object '{obj}'")
        if where not in places:
            raise WorldError(f"snapshot puts '{obj}' at unknown place '{where}'")
    for key in ("robot_room", "user_room"):
        if snap.get(key) and snap[key] not in desc.rooms:
            raise WorldError(f"snapshot {key} '{snap[key]}' is not a room of '{desc.name}'")
    if snap.get("robot_at") and snap["robot_at"] not in set(desc.furniture) | {USER}:
        raise WorldError(f"snapshot robot_at '{snap['robot_at']}' is neither furniture nor 'user'")
    state = WorldState.from_snapshot(desc, snap)
    held = [o for o, where in state.objects if where == ROBOT]
    if len(held) > 1:
        raise WorldError(f"snapshot has the robot holding several objects: {held}")
    if snap.get("holding") and held != [snap["holding"]]:
        raise WorldError(f"snapshot says holding '{snap['holding']}' but object_locations disagree")
    return state


def predict_after(step, state: WorldState) -> WorldState | None:
    """The symbolic state after `step` (cloud_brain.domain.skills.apply), None if it cannot run."""
    from cloud_brain.domain.skills import SkillError, apply

    try:
        return apply(step, state)
    except (SkillError, KeyError, ValueError):
        return None


def _is_refusal(steps: list, refusal: str | None) -> str | None:
    """The refusal reason of a planner result, or None when it is a plan."""
    if refusal:
        return str(refusal)
    if len(steps) == 1 and steps[0].skill == "refuse":
        return str(steps[0].args[0]) if steps[0].args else "refused"
    return None


class PlanSession:
    """The state of one robot's session and the replies to each of its messages.

    planner: has `plan(text, WorldState) -> PlanResult(steps, goals, refusal, latency_ms)`
        and optionally `stream(text, WorldState)` yielding steps as they are decoded.
    worlds: the world descriptions this cloud plans in, by name (default: the default home).
    predict: `predict(step, WorldState) -> WorldState | None`, the symbolic effect of a step,
        used to fill PlanStep.predicted_pre of the steps after the first (default: skills.apply).
    """

    def __init__(self, planner, worlds: dict[str, WorldDescription] | None = None, *,
                 planner_name: str = "", config: SessionConfig | None = None,
                 session_id: str | None = None,
                 predict: Callable[[Any, WorldState], WorldState | None] | None = predict_after,
                 clock: Callable[[], float] = time.monotonic, store=None):
        self.planner = planner
        self.planner_name = planner_name or getattr(planner, "name", type(planner).__name__)
        self.config = config or SessionConfig()
        self.session_id = session_id or uuid.uuid4().hex[:12]
        self._worlds = worlds  # resolved lazily: loading a world is I/O
        self._predict = predict
        self._clock = clock
        self._lock = threading.RLock()
        self.robot_id: str | None = None
        self.desc: WorldDescription | None = None
        self.world: WorldState | None = None
        self.last_acked_step_id = ""
        self._plans: dict[str, _Plan] = {}  # insertion-ordered: oldest first
        self._steps: dict[str, tuple[str, int, int]] = {}  # step_id -> (plan_id, index, revision)
        self._plan_seq = 0
        self.store = store  # cloud_brain.server.store.SessionStore, or None (nothing survives)

    # ---- public --------------------------------------------------------------------------
    @property
    def greeted(self) -> bool:
        return self.robot_id is not None

    def worlds(self) -> dict[str, WorldDescription]:
        if self._worlds is None:
            w = load_world()
            self._worlds = {w.name: w}
        return self._worlds

    def handle(self, msg) -> Iterator[Any]:
        """Yield the CloudMessages that answer one EdgeMessage (or a Malformed stand-in)."""
        with self._lock:
            if isinstance(msg, Malformed):
                yield _error(E.MALFORMED, f"could not parse EdgeMessage ({msg.size} bytes): {msg.detail}")
                return
            kind = kind_of(msg)
            if kind is None:
                yield _error(E.MALFORMED, "EdgeMessage has no member of `kind` set "
                                          "(expected hello, command, outcome or heartbeat)")
                return
            if kind == "hello":
                yield from self._on_hello(msg.hello)
                return
            if not self.greeted:
                cid = msg.command.command_id if kind == "command" else ""
                yield _error(E.PROTOCOL, f"{kind} before Hello: send Hello first", cid)
                return
            try:
                if kind == "command":
                    yield from self._on_command(msg.command)
                elif kind == "outcome":
                    yield from self._on_outcome(msg.outcome)
                elif kind == "heartbeat":
                    yield pb.CloudMessage(heartbeat_ack=pb.HeartbeatAck(
                        seq=msg.heartbeat.seq, lease_s=self.config.lease_s))
            except Exception as e:  # a bug must not end the robot's session silently
                log.exception("session %s: internal error on %s", self.session_id, kind)
                yield _error(E.INTERNAL, f"internal error handling {kind}: {type(e).__name__}: {e}",
                             msg.command.command_id if kind == "command" else "")

    # ---- persistence ---------------------------------------------------------------------
    def _persist(self, *plans: _Plan, forget: list[str] = ()) -> None:
        """Write the session row and `plans` through to the store (no-op without one)."""
        if self.store is None or self.robot_id is None or self.desc is None:
            return
        from cloud_brain.server.store import StoredPlan, StoredSession, StoredStep

        sess = StoredSession(self.robot_id, self.session_id, self.desc.name,
                             self.world.to_snapshot() if self.world is not None else None,
                             self.last_acked_step_id, self._plan_seq)
        rows = []
        for p in plans:
            steps = []
            for sid, (pid, index, revision) in self._steps.items():
                if pid != p.plan_id:
                    continue
                sent, status = p.current.get(index), "current"
                if sent is None or sent.msg.step_id != sid:
                    sent, status = p.held.get(index), "held"
                if sent is None or sent.msg.step_id != sid:
                    sent, status = None, "withdrawn"
                steps.append(StoredStep(sid, index, revision, status,
                                        sent.msg.SerializeToString() if sent else None,
                                        sent.state.to_snapshot() if sent and sent.state else None))
            rows.append(StoredPlan(p.plan_id, p.command_id, p.text, p.delivery, p.revision,
                                   p.num_steps, p.committed_upto, p.replans, p.closed, p.from_index,
                                   p.from_state.to_snapshot() if p.from_state else None, steps,
                                   dict(p.outcomes)))
        self.store.save(sess, rows, list(forget))

    @classmethod
    def restore(cls, stored, planner, worlds: dict[str, WorldDescription], **kwargs) -> "PlanSession":
        """A session rebuilt from the store (store.StoredSession): same session id, plans,
        revisions, step ids and acked outcomes as the process that wrote it."""
        s = cls(planner, worlds, session_id=stored.session_id, **kwargs)
        desc = s.worlds().get(stored.world_name)
        if desc is None:
            raise WorldError(f"stored session of '{stored.robot_id}' plans in world "
                             f"'{stored.world_name}', which this cloud does not serve")
        state = lambda snap: WorldState.from_snapshot(desc, snap) if snap else None  # noqa: E731
        s.robot_id, s.desc, s.world = stored.robot_id, desc, state(stored.world)
        s.last_acked_step_id, s._plan_seq = stored.last_acked_step_id, stored.plan_seq
        for sp in stored.plans:
            plan = _Plan(sp.plan_id, sp.command_id, sp.text, sp.delivery, sp.revision,
                         num_steps=sp.num_steps, committed_upto=sp.committed_upto,
                         outcomes=dict(sp.outcomes), replans=sp.replans, closed=sp.closed,
                         from_index=sp.from_index, from_state=state(sp.from_state))
            for st in sp.steps:
                s._steps[st.step_id] = (sp.plan_id, st.index, st.revision)
                if st.status in ("current", "held") and st.msg is not None:
                    sent = _SentStep(st.index, st.revision, pb.PlanStep.FromString(st.msg),
                                     state(st.state))
                    (plan.current if st.status == "current" else plan.held)[st.index] = sent
            s._plans[sp.plan_id] = plan
        log.info("session %s of robot '%s' restored from the store: %d plans, last acked '%s'",
                 s.session_id, s.robot_id, len(s._plans), s.last_acked_step_id)
        return s

    # ---- hello ---------------------------------------------------------------------------
    def _on_hello(self, h) -> Iterator[Any]:
        if h.protocol_version != PROTOCOL_VERSION:
            yield _error(E.PROTOCOL, f"protocol_version {h.protocol_version} is not supported; "
                                     f"this cloud speaks {PROTOCOL_VERSION}")
            return
        if not h.robot_id:
            yield _error(E.MALFORMED, "Hello.robot_id is empty")
            return
        if self.robot_id is not None and h.robot_id != self.robot_id:
            yield _error(E.PROTOCOL, f"this session belongs to robot '{self.robot_id}', "
                                     f"not '{h.robot_id}'")
            return
        world_name = h.world.world_name if h.HasField("world") else ""
        worlds = self.worlds()
        if not world_name:
            world_name = self.desc.name if self.desc else next(iter(worlds))
        if world_name not in worlds:
            yield _error(E.UNKNOWN_WORLD, f"unknown world '{world_name}'; this cloud knows "
                                          f"{sorted(worlds)}")
            return
        desc = worlds[world_name]
        try:
            if h.HasField("world") and not snapshot_is_empty(h.world):
                world = state_from_snapshot(desc, snapshot_from_proto(h.world))
            elif self.world is not None and self.desc is desc:
                world = self.world  # a reconnect that did not resend the world
            else:
                world = WorldState.initial(desc)
        except (WorldError, KeyError, ValueError) as e:
            yield _error(E.MALFORMED, f"Hello.world: {e}")
            return
        resumed = self.robot_id is not None
        self.robot_id, self.desc, self.world = h.robot_id, desc, world
        if h.last_acked_step_id:
            self.last_acked_step_id = h.last_acked_step_id
        self._persist()
        log.info("session %s: %s robot '%s' (world '%s', last acked step '%s')", self.session_id,
                 "resumed by" if resumed else "hello from", h.robot_id, desc.name,
                 h.last_acked_step_id)
        yield pb.CloudMessage(welcome=pb.Welcome(
            protocol_version=PROTOCOL_VERSION, session_id=self.session_id,
            planner=self.planner_name, lease_s=self.config.lease_s))
        yield from self._resend_open_steps(h.last_acked_step_id)

    def _resend_open_steps(self, last_acked: str) -> Iterator[Any]:
        """After a reconnect: re-send the newest open plan's steps the edge has not finished.

        Nothing is lost (steps after the resume point come again) and nothing runs twice (step
        ids are unchanged, and the edge ignores ids it has already run)."""
        open_plans = [p for p in self._plans.values() if not p.closed]
        if not open_plans:
            return
        plan = open_plans[-1]
        after = plan.committed_upto
        if last_acked in self._steps:
            pid, index, rev = self._steps[last_acked]
            if pid == plan.plan_id:
                if rev == plan.revision:  # an older revision's step: its index was replanned
                    after = max(after, index)
                elif rev < plan.revision:  # the edge may not have heard of the rollback
                    yield pb.CloudMessage(rollback=pb.Rollback(
                        plan_id=plan.plan_id, from_index=plan.from_index,
                        new_revision=plan.revision, reason="resent after reconnect"))
        for index in sorted(plan.current):
            sent = plan.current[index]
            if index > after and sent.msg.step_id not in plan.outcomes:
                yield pb.CloudMessage(step=sent.msg)
        if plan.num_steps is not None:
            yield pb.CloudMessage(done=pb.PlanDone(
                plan_id=plan.plan_id, revision=plan.revision, command_id=plan.command_id,
                num_steps=plan.num_steps, plan_ms=0.0))
        log.info("session %s: resent plan %s rev %d after index %d", self.session_id,
                 plan.plan_id, plan.revision, after)
        if plan.num_steps is None:  # the process that planned it died mid-plan: finish it
            yield from self._finish_interrupted(plan)

    def _finish_interrupted(self, plan: _Plan) -> Iterator[Any]:
        """Plan the rest of a revision whose planning was cut short (a restored session): from
        the state predicted after its last produced step, same revision, the next indexes, so
        the steps already sent keep their ids."""
        produced = [s for s in [*plan.current.values(), *plan.held.values()]
                    if s.revision == plan.revision and s.index >= plan.from_index]
        if produced:
            last = max(produced, key=lambda s: s.index)
            state = (self._predict(step_from_proto(last.msg.skill), last.state)
                     if self._predict and last.state is not None else None)
            start = last.index + 1
        else:
            state, start = plan.from_state, plan.from_index
        if state is None:
            plan.closed = True
            self._persist(plan)
            yield pb.CloudMessage(refusal=pb.Refusal(
                command_id=plan.command_id, plan_id=plan.plan_id,
                reason="the cloud restarted while planning and cannot tell the state to plan on from"))
            return
        log.info("session %s: finishing plan %s rev %d from index %d after a restart",
                 self.session_id, plan.plan_id, plan.revision, start)
        yield from self._plan_from(plan, state, start_index=start, continuing=bool(produced))

    # ---- command -------------------------------------------------------------------------
    def _on_command(self, c) -> Iterator[Any]:
        cid = c.command_id
        if not cid:
            yield _error(E.MALFORMED, "Command.command_id is empty")
            return
        text = c.text.strip()
        if not text:
            yield _error(E.MALFORMED, "Command.text is empty", cid)
            return
        if len(c.text) > self.config.max_command_chars:
            yield _error(E.TOO_LARGE, f"Command.text is {len(c.text)} characters; the limit is "
                                      f"{self.config.max_command_chars}", cid)
            return
        state = self.world
        if c.HasField("world") and not snapshot_is_empty(c.world):
            name = c.world.world_name or self.desc.name
            if name != self.desc.name:
                code = E.UNKNOWN_WORLD if name not in self.worlds() else E.PROTOCOL
                yield _error(code, f"Command.world is '{name}' but this session plans in "
                                   f"'{self.desc.name}'", cid)
                return
            try:
                state = state_from_snapshot(self.desc, snapshot_from_proto(c.world))
            except (WorldError, KeyError, ValueError) as e:
                yield _error(E.MALFORMED, f"Command.world: {e}", cid)
                return
            self.world = state
        if c.delivery not in DELIVERY_NAMES:
            yield _error(E.MALFORMED, f"Command.delivery {c.delivery} is not a PlanDelivery "
                                      f"({', '.join(f'{k}={v}' for k, v in DELIVERY_NAMES.items())})",
                         cid)
            return
        if self.config.dedup_command_ids and any(p.command_id == cid for p in self._plans.values()):
            # a repeat of a command this session already planned (a duplicate on the wire, a
            # retry after a reconnect): planned once; its plan is resent on Hello if still open
            log.info("session %s: command %s repeated; already planned, ignored", self.session_id, cid)
            return
        self._plan_seq += 1
        plan = _Plan(plan_id=f"{self.session_id}-{self._plan_seq}", command_id=cid, text=text,
                     delivery=c.delivery)
        superseded = [old for old in self._plans.values() if not old.closed]
        for old in superseded:
            old.closed = True  # a new command supersedes whatever was running
        self._plans[plan.plan_id] = plan
        forgotten = self._forget_old_plans()
        self._persist(*superseded, forget=forgotten)
        log.info("session %s: command %s %r -> plan %s (%s)", self.session_id, cid, text,
                 plan.plan_id, DELIVERY_NAMES[plan.delivery])
        yield from self._plan_from(plan, state, start_index=0)

    def _forget_old_plans(self) -> list[str]:
        forgotten = []
        while len(self._plans) > self.config.keep_plans:
            pid = next(iter(self._plans))
            del self._plans[pid]
            forgotten.append(pid)
            for sid in [s for s, (p, _, _) in self._steps.items() if p == pid]:
                del self._steps[sid]
        return forgotten

    def _plan_from(self, plan: _Plan, state: WorldState, start_index: int,
                   continuing: bool = False) -> Iterator[Any]:
        """Run the planner from `state` and hand out the steps as indexes start_index, ...

        How they leave depends on plan.delivery (module docstring): streamed as produced
        (PREFETCH; later steps speculative), all after the last (FULL_PLAN), or only the first
        (PER_STEP; the rest wait in plan.held for the outcomes that release them).
        continuing: the revision's earlier steps were already handed out (a restored session
        finishing an interrupted plan), so even the first step produced here comes after one."""
        t0 = last = self._clock()
        revision = plan.revision
        plan.num_steps = None
        if not continuing:
            plan.held.clear()
            plan.from_index, plan.from_state = start_index, state
            self._persist(plan)
        n = 0
        pre = state
        buffered: list = []  # FULL_PLAN: nothing leaves before the plan is complete
        try:
            for step, refusal in self._produce(plan.text, state):
                if refusal is not None:
                    plan.closed = True
                    self._persist(plan)
                    log.info("session %s: plan %s rev %d refused in %.1f ms: %s", self.session_id,
                             plan.plan_id, revision, (self._clock() - t0) * 1e3, refusal)
                    yield pb.CloudMessage(refusal=pb.Refusal(
                        command_id=plan.command_id, plan_id=plan.plan_id, reason=refusal))
                    return
                now = self._clock()
                index = start_index + n
                sid = step_id_of(plan.plan_id, index, revision)
                after_first = n > 0 or continuing
                speculative = after_first and plan.delivery == pb.PLAN_DELIVERY_PREFETCH
                msg = pb.PlanStep(
                    plan_id=plan.plan_id, revision=revision, index=index, step_id=sid,
                    command_id=plan.command_id, skill=step_to_proto(step), speculative=speculative,
                    lease_deadline_s=self.config.step_lease_s, decode_ms=(now - last) * 1e3)
                if pre is not None:
                    msg.predicted_pre.CopyFrom(snapshot_to_proto(pre.to_snapshot()))
                sent = _SentStep(index, revision, msg, pre)
                self._steps[sid] = (plan.plan_id, index, revision)
                n += 1
                last = now
                if plan.delivery == pb.PLAN_DELIVERY_PER_STEP and (n > 1 or continuing):
                    plan.held[index] = sent
                    self._persist(plan)
                else:
                    plan.current[index] = sent
                    self._persist(plan)
                    if plan.delivery == pb.PLAN_DELIVERY_FULL_PLAN:
                        buffered.append(pb.CloudMessage(step=msg))
                    else:
                        yield pb.CloudMessage(step=msg)
                pre = self._predict(step, pre) if (self._predict and pre is not None) else None
        except Overloaded as e:  # backpressure: nothing planned, the robot may retry
            plan.closed = True
            self._persist(plan)
            yield _error(E.OVERLOADED, str(e), plan.command_id)
            return
        except Exception as e:
            plan.closed = True
            self._persist(plan)
            log.exception("session %s: planner failed on plan %s", self.session_id, plan.plan_id)
            yield _error(E.INTERNAL, f"planner failed: {type(e).__name__}: {e}", plan.command_id)
            return
        plan_ms = (self._clock() - t0) * 1e3
        yield from buffered
        plan.num_steps = start_index + n
        if n == 0 and start_index == 0:
            plan.closed = True  # nothing to do: the goal already holds
        if plan.committed_upto >= plan.num_steps - 1 and start_index > 0:
            plan.closed = True  # a finished interrupted plan whose steps were all acked
        self._persist(plan)
        log.info("session %s: plan %s rev %d for %r: %d steps from index %d in %.1f ms",
                 self.session_id, plan.plan_id, revision, plan.text, n, start_index, plan_ms)
        yield pb.CloudMessage(done=pb.PlanDone(
            plan_id=plan.plan_id, revision=revision, command_id=plan.command_id,
            num_steps=plan.num_steps, plan_ms=plan_ms))

    def _produce(self, text: str, state: WorldState) -> Iterable[tuple[Any, str | None]]:
        """(step, None) for each step as the planner produces it, or one (None, reason)."""
        stream = getattr(self.planner, "stream", None)
        if callable(stream):
            first = True
            for step in stream(text, state):
                if first and step.skill == "refuse":
                    yield None, (str(step.args[0]) if step.args else "refused")
                    return
                first = False
                yield step, None
            return
        result = self.planner.plan(text, state)
        steps = list(result.steps)
        reason = _is_refusal(steps, getattr(result, "refusal", None))
        if reason is not None:
            yield None, reason
            return
        for step in steps:
            yield step, None

    # ---- outcomes ------------------------------------------------------------------------
    def _on_outcome(self, o) -> Iterator[Any]:
        ref = self._steps.get(o.step_id)
        if ref is None or ref[0] not in self._plans:
            yield _error(E.UNKNOWN_STEP, f"no step '{o.step_id}' in this session")
            return
        plan_id, index, revision = ref
        plan = self._plans[plan_id]
        if (o.plan_id and o.plan_id != plan_id) or (o.index and o.index != index):
            yield _error(E.MALFORMED, f"StepOutcome for '{o.step_id}' names plan '{o.plan_id}' "
                                      f"index {o.index}; the step is plan '{plan_id}' index {index}")
            return
        if o.step_id in plan.outcomes:
            log.debug("session %s: duplicate outcome for %s ignored", self.session_id, o.step_id)
            return
        plan.outcomes[o.step_id] = o.success
        self.last_acked_step_id = o.step_id
        if revision != plan.revision or plan.current.get(index) is None \
                or plan.current[index].msg.step_id != o.step_id:
            self._persist(plan)
            yield _error(E.PROTOCOL, f"step '{o.step_id}' was withdrawn (plan {plan_id} is at "
                                     f"revision {plan.revision}); its outcome is ignored",
                         plan.command_id)
            return
        observed = None
        if o.HasField("world") and not snapshot_is_empty(o.world):
            try:
                observed = state_from_snapshot(self.desc, snapshot_from_proto(o.world))
                self.world = observed
            except (WorldError, KeyError, ValueError) as e:
                yield _error(E.MALFORMED, f"StepOutcome.world: {e}", plan.command_id)
        if o.success:
            plan.committed_upto = max(plan.committed_upto, index)
            if plan.num_steps is not None and plan.committed_upto >= plan.num_steps - 1:
                plan.closed = True
            nxt = plan.held.pop(index + 1, None)  # PER_STEP: this outcome asks for the next step
            if nxt is not None and not plan.closed:
                plan.current[nxt.index] = nxt
            else:
                nxt = None
            self._persist(plan)  # the outcome is durable before the Commit says so
            yield pb.CloudMessage(commit=pb.Commit(
                plan_id=plan_id, revision=plan.revision, upto_index=plan.committed_upto))
            if nxt is not None:
                yield pb.CloudMessage(step=nxt.msg)
            return
        yield from self._rollback_and_replan(plan, index, o, observed)

    def _rollback_and_replan(self, plan: _Plan, index: int, o, observed: WorldState | None):
        failed = plan.current[index]
        reason = o.message or (f"step {index} ({failed.msg.skill.name}) was not started"
                               if o.rejected else f"step {index} ({failed.msg.skill.name}) failed")
        plan.revision += 1
        plan.held.clear()
        for i in [i for i in plan.current if i >= index]:
            del plan.current[i]
        log.info("session %s: plan %s step %d failed (%s): rollback to rev %d", self.session_id,
                 plan.plan_id, index, reason, plan.revision)
        plan.replans += 1
        # a failed step is assumed to have left the world as it found it unless the edge says
        state = observed or failed.state or self.world
        # the same step failing the same way from the same state again ("the hammer is too wide
        # for the gripper"): another replan would send it a third time
        failure = (failed.msg.skill.name, tuple(failed.msg.skill.args), reason, state)
        again, plan.last_failure = failure == plan.last_failure, failure
        give_up = not plan.closed and (plan.replans > self.config.max_replans or again)
        plan.closed = plan.closed or give_up
        plan.num_steps = None if not plan.closed else plan.num_steps
        plan.from_index, plan.from_state = index, state
        self._persist(plan)  # the new revision is durable before the Rollback announces it
        yield pb.CloudMessage(rollback=pb.Rollback(
            plan_id=plan.plan_id, from_index=index, new_revision=plan.revision, reason=reason))
        if plan.closed and not give_up:
            return  # superseded by a newer command: withdraw, do not replan
        if give_up:
            why = (f"{failed.msg.skill.name}({', '.join(failed.msg.skill.args)}) failed twice the same way"
                   if again else f"gave up after {self.config.max_replans} replans")
            yield pb.CloudMessage(refusal=pb.Refusal(
                command_id=plan.command_id, plan_id=plan.plan_id, reason=f"{why}; last failure: {reason}"))
            return
        yield from self._plan_from(plan, state, start_index=index)


def _error(code: int, message: str, command_id: str = ""):
    log.warning("protocol error %s: %s", pb.Error.Code.Name(code), message)
    return pb.CloudMessage(error=pb.Error(code=code, message=message, command_id=command_id))
