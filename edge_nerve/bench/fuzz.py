"""Fuzzing a live CloudBrain server: hypothesis-made EdgeMessages (raw bytes, mutated valid
messages, field-level protos, command texts) on one real Session stream.

Why: the robot's link is an attack surface and a source of garbage (bit flips, version skew, a
buggy edge). The server must answer anything with a typed Error (or nothing), never crash and
never drop the robot's session. Every `probe_every` cases a well-formed Command goes through the
same stream and must be answered (done / refusal / error naming its command id): that proves the
session logic (not only the stream reader) is alive after the garbage before it.

A crash is: an Error(INTERNAL) (the session logic raised), the stream ending with a non-OK
status, a probe left unanswered for `probe_timeout_s`, or (for callers that own the process) the
server exiting. The server should run with generous rate limits (`--command-rate`,
`--message-rate`), else its flood protection, working as designed, ends the stream.

    from edge_nerve.bench.fuzz import run_fuzz
    run_fuzz("127.0.0.1:50051", cases=500)   # {"fuzz_cases": 500, "fuzz_crashes": 0, ...}
"""

from __future__ import annotations

import logging
import queue
import random
import threading
import time
from collections import Counter

import grpc
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from cloud_brain.domain.description import load_world
from cloud_brain.wire import PROTOCOL_VERSION, SERVICE_NAME, pb

log = logging.getLogger(__name__)

_END = object()
METHOD = f"/{SERVICE_NAME}/Session"
# the guard ends a stream with these on purpose (another robot's Hello, a flood): not crashes
_REFUSALS = (grpc.StatusCode.PERMISSION_DENIED, grpc.StatusCode.UNAUTHENTICATED,
             grpc.StatusCode.RESOURCE_EXHAUSTED)


def _strategies(names: list[str], step_ids: list[str]):
    """The hypothesis strategy of one fuzz case: bytes to send as one EdgeMessage."""
    word = st.one_of(st.sampled_from(names), st.text(max_size=24))
    # step ids the server really sent (read live: the list grows while the run goes on)
    known_step = st.integers(0, 63).map(lambda i: step_ids[-1 - i % len(step_ids)] if step_ids else "x/0")
    snapshot = st.builds(
        lambda wn, objs, rr, ra, h, ur, d: pb.WorldSnapshot(
            world_name=wn, object_locations=objs, robot_room=rr, robot_at=ra, holding=h,
            user_room=ur, docked=d),
        st.one_of(st.just("home"), word), st.dictionaries(word, word, max_size=4), word, word,
        word, word, st.booleans())
    hello = st.builds(lambda v, r, t, w, a: pb.EdgeMessage(hello=pb.Hello(
        protocol_version=v, robot_id=r, auth_token=t, world=w, last_acked_step_id=a)),
        st.one_of(st.just(PROTOCOL_VERSION), st.integers(0, 2**32 - 1)),
        # another robot's id: the guard ends the stream (PERMISSION_DENIED, by design): rare
        st.integers(0, 199).flatmap(lambda i: st.text(max_size=16) if i == 0 else st.just("fuzz-robot")),
        st.text(max_size=8), snapshot,
        st.one_of(known_step, st.text(max_size=16)))
    texts = st.one_of(st.sampled_from(["bring me the red cup", "go to the kitchen",
                                       "put the apple on the dining table", "tidy the living room"]),
                      st.text(max_size=80), st.text(min_size=1990, max_size=2100, alphabet="ab "),
                      st.builds(lambda a, b: f"bring me the {a} to the {b}", word, word))
    command = st.builds(lambda c, t, w, d, use_w: pb.EdgeMessage(command=pb.Command(
        command_id=c, text=t, world=w if use_w else None, delivery=d)),
        st.text(max_size=12), texts, snapshot, st.integers(0, 2**31 - 1) | st.sampled_from([0, 1, 2]),
        st.booleans())
    outcome = st.builds(lambda s, p, i, ok, m, w, d, r: pb.EdgeMessage(outcome=pb.StepOutcome(
        step_id=s, plan_id=p, index=i, success=ok, message=m, world=w, duration_s=d, rejected=r)),
        st.one_of(known_step, st.text(max_size=20)), st.text(max_size=16), st.integers(0, 2**32 - 1),
        st.booleans(), st.text(max_size=30), snapshot,
        st.floats(allow_nan=True, allow_infinity=True), st.booleans())
    heartbeat = st.builds(lambda s, t: pb.EdgeMessage(heartbeat=pb.Heartbeat(seq=s, edge_monotonic_s=t)),
                          st.integers(0, 2**64 - 1), st.floats(allow_nan=True))
    field_level = st.one_of(hello, command, outcome, heartbeat, st.just(pb.EdgeMessage()))

    def mutate(msg, flips, cut):
        data = bytearray(msg.SerializeToString())
        for pos, bit in flips:
            if data:
                data[pos % len(data)] ^= 1 << (bit % 8)
        return bytes(data[:cut] if cut is not None and cut < len(data) else data)

    mutated = st.builds(mutate, field_level, st.lists(st.tuples(st.integers(0, 4096), st.integers(0, 7)),
                                                      max_size=4), st.none() | st.integers(0, 256))
    return st.one_of(st.binary(max_size=512), mutated,
                     field_level.map(lambda m: m.SerializeToString()))


class _Link:
    """One raw Session stream: bytes in, CloudMessages counted out (on a reader thread).
    `kinds` and `errors` are shared by the links of one run (totals over every stream)."""

    def __init__(self, address: str, robot_id: str, kinds: Counter, errors: Counter):
        self.channel = grpc.insecure_channel(address)
        self.requests: queue.Queue = queue.Queue()
        self.kinds, self.errors = kinds, errors
        self.internal: list[str] = []
        self.answered: set[str] = set()  # command ids answered
        self.step_ids: list[str] = []
        self.status: grpc.StatusCode | None = None
        self.status_detail = ""
        self.ended = threading.Event()
        call = self.channel.stream_stream(METHOD, request_serializer=lambda b: b,
                                          response_deserializer=pb.CloudMessage.FromString)
        self.call = call(self._iter())
        self.requests.put(pb.EdgeMessage(hello=pb.Hello(
            protocol_version=PROTOCOL_VERSION, robot_id=robot_id)).SerializeToString())
        self.reader = threading.Thread(target=self._read, daemon=True, name="fuzz-reader")
        self.reader.start()

    def _iter(self):
        while True:
            item = self.requests.get()
            if item is _END:
                return
            yield item

    def _read(self) -> None:
        try:
            for msg in self.call:
                kind = msg.WhichOneof("kind")
                self.kinds[kind] += 1
                if kind == "error":
                    self.errors[pb.Error.Code.Name(msg.error.code)] += 1
                    if msg.error.code == pb.Error.INTERNAL:
                        self.internal.append(msg.error.message)
                    self.answered.add(msg.error.command_id)
                elif kind == "step":
                    self.step_ids.append(msg.step.step_id)
                    del self.step_ids[:-50]
                elif kind in ("done", "refusal"):
                    self.answered.add(getattr(msg, kind).command_id)
            self.status = grpc.StatusCode.OK
        except grpc.RpcError as e:
            self.status, self.status_detail = e.code(), e.details() or ""
        self.ended.set()

    def close(self) -> None:
        self.requests.put(_END)
        self.ended.wait(5.0)
        self.call.cancel()
        self.channel.close()


def run_fuzz(address: str, cases: int = 10_000, seed: int = 0, robot_id: str = "fuzz-robot",
             probe_every: int = 250, probe_timeout_s: float = 30.0,
             alive=lambda: True) -> dict:
    """Send `cases` hypothesis-made messages to the server at `address`; the report counts
    crashes (module docstring). `alive()`: the caller's check that the server process lives."""
    desc = load_world()
    names = sorted({*desc.objects, *desc.furniture, *desc.rooms, "robot", "user", "home"})
    kinds: Counter = Counter()  # replies over every stream of the run
    errors: Counter = Counter()
    link = _Link(address, robot_id, kinds, errors)
    step_ids: list[str] = []  # shared with the strategy; refreshed from the link
    strategy = _strategies(names, step_ids)
    sent = 0
    crashes: list[str] = []
    probes = 0
    refused: Counter = Counter()  # streams the server's guard ended on purpose
    t0 = time.monotonic()

    def probe() -> None:
        nonlocal probes, link
        probes += 1
        cid = f"probe-{seed}-{probes}"
        link.requests.put(pb.EdgeMessage(command=pb.Command(
            command_id=cid, text="go to the kitchen")).SerializeToString())
        deadline = time.monotonic() + probe_timeout_s
        while cid not in link.answered and not link.ended.is_set() and time.monotonic() < deadline:
            time.sleep(0.01)
        why = None
        if link.ended.is_set() and link.status in _REFUSALS and not link.internal:
            refused[link.status.name] += 1
            link.close()
            link = _Link(address, robot_id, kinds, errors)
            return probe()
        if link.internal:
            why = f"Error(INTERNAL): {link.internal[0]}"
        elif link.ended.is_set():
            why = f"stream ended: {link.status} {link.status_detail}"
        elif cid not in link.answered:
            why = f"probe {cid} unanswered for {probe_timeout_s:.0f} s"
        if not alive():
            why = "server process died"
        if why:
            crashes.append(why)
            log.error("fuzz crash after %d cases: %s", sent, why)
            link.close()
            if alive():
                link = _Link(address, robot_id, kinds, errors)  # go on against the same server

    @settings(max_examples=cases, database=None, deadline=None, derandomize=False,
              suppress_health_check=list(HealthCheck), phases=[Phase.generate])
    @given(payload=strategy)
    def case(payload):
        nonlocal sent, link, refused
        if link.ended.is_set():  # the stream ended between probes
            if link.status in _REFUSALS and not link.internal:
                refused[link.status.name] += 1
                link.close()
                link = _Link(address, robot_id, kinds, errors)
            else:
                probe()
        if sent % 50 == 0:
            step_ids[:] = link.step_ids[-50:]
        link.requests.put(payload)
        sent += 1
        if sent % probe_every == 0:
            probe()

    random.seed(seed)
    case._hypothesis_internal_use_seed = seed  # reproducible runs
    case()
    probe()
    report = {"fuzz_cases": sent, "fuzz_crashes": len(crashes), "crash_examples": crashes[:3],
              "probes": probes, "streams_refused": dict(refused), "replies": dict(kinds), "errors": dict(errors),
              "wall_s": round(time.monotonic() - t0, 1)}
    link.close()
    return report
