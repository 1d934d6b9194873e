"""The edge's end of the cloud link: one CloudBrain.Session stream, kept alive and resumed.

Why a plain class: the ROS 2 node `cloud_link` only converts between ROS messages and the
calls below; connection handling, heartbeats, the lease and reconnects (exponential backoff,
Hello again with the last acknowledged step so the cloud resumes the plan) are tested here
without ROS. Every message from the cloud is handed to `on_message` on the link's reader
thread, in order; the callback must be quick (hand it to an executor or a queue).

    python -m edge_nerve.link.client --address 127.0.0.1:50051 "bring me the red cup"
"""

from __future__ import annotations

import argparse
import itertools
import logging
import queue
import random
import threading
import time
import uuid
from dataclasses import dataclass
from typing import Callable

import grpc
from google.protobuf import text_format

from cloud_brain.security.tls import ClientTLS, read_token, robot_credentials, secure_channel
from cloud_brain.wire import PROTOCOL_VERSION, kind_of, pb, pb_grpc, snapshot_to_proto

log = logging.getLogger(__name__)

_END = object()  # ends a request stream (half-close)

# Command.delivery by name (protos/brainstem/v1/session.proto, PlanDelivery)
DELIVERIES = {"prefetch": pb.PLAN_DELIVERY_PREFETCH, "full_plan": pb.PLAN_DELIVERY_FULL_PLAN,
              "per_step": pb.PLAN_DELIVERY_PER_STEP}


@dataclass
class ClientConfig:
    """Timings of the link. Defaults suit a LAN/WAN cloud; tests shorten them."""

    connect_timeout_s: float = 5.0
    """How long one connection attempt waits for the channel to become ready."""
    heartbeat_s: float = 1.0
    """Interval between Heartbeats while connected."""
    lease_s: float | None = None
    """Declare the link dead after this long without any message from the cloud (None: the
    lease the cloud announces in Welcome)."""
    backoff_initial_s: float = 0.2
    backoff_max_s: float = 5.0
    backoff_factor: float = 2.0
    auth_token: str = ""
    """This robot's token (`brainstem certs` / `brainstem token`), sent in Hello."""
    tls: ClientTLS | None = None
    """None: plaintext (the loopback demo); else TLS, mutual when it holds the robot's cert."""

    def __post_init__(self):
        if self.connect_timeout_s <= 0 or self.heartbeat_s <= 0:
            raise ValueError("connect_timeout_s and heartbeat_s must be positive")
        if not 0 < self.backoff_initial_s <= self.backoff_max_s or self.backoff_factor < 1:
            raise ValueError("need 0 < backoff_initial_s <= backoff_max_s and backoff_factor >= 1")


class CloudClient:
    """A robot's Session with the cloud.

    address: "host:port" of the CloudBrain server.
    world_snapshot_fn: () -> dict (WorldState.to_snapshot() form) or None; called for every
        Hello, i.e. on each (re)connect, from the link thread.
    on_message: (pb.CloudMessage) -> None, called on the reader thread for every message.
    """

    def __init__(self, address: str, robot_id: str,
                 world_snapshot_fn: Callable[[], dict | None],
                 on_message: Callable[[object], None], *, config: ClientConfig | None = None):
        if not robot_id:
            raise ValueError("robot_id must not be empty")
        self.address = address
        self.robot_id = robot_id
        self.world_snapshot_fn = world_snapshot_fn
        self.on_message = on_message
        self.config = config or ClientConfig()
        self.session_id = ""
        self.planner = ""
        self.last_acked_step_id = ""
        self.reconnects = 0  # streams opened after the first one
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._welcomed = threading.Event()  # set while the current stream has had its Welcome
        self._channel: grpc.Channel | None = None
        self._requests: queue.Queue | None = None  # the current stream's outgoing messages
        self._call = None  # the current stream (a grpc Call: cancel() ends it)
        self._unanswered: dict[str, object] = {}  # step_id -> StepOutcome not yet committed/rolled back
        self._commands: dict[str, object] = {}  # command_id -> Command the cloud has not answered yet
        self._last_rx = time.monotonic()
        self._lease_s: float | None = self.config.lease_s
        self._seq = itertools.count(1)
        self._link_thread: threading.Thread | None = None
        self._heartbeat_thread: threading.Thread | None = None

    # ---- lifecycle -----------------------------------------------------------------------
    @property
    def connected(self) -> bool:
        """True while a stream is open and the cloud has answered its Hello."""
        return self._welcomed.is_set()

    def start(self, timeout_s: float | None = None) -> bool:
        """Open the channel and the link threads; wait up to `timeout_s` (default: the connect
        timeout) for the first Welcome. Returns `connected`; when False the link keeps trying
        in the background."""
        if self._link_thread is not None:
            raise RuntimeError("CloudClient.start() called twice")
        ms = int(self.config.backoff_initial_s * 1000)
        self._channel = secure_channel(self.address, self.config.tls, options=[
            ("grpc.initial_reconnect_backoff_ms", ms), ("grpc.min_reconnect_backoff_ms", ms),
            ("grpc.max_reconnect_backoff_ms", int(self.config.backoff_max_s * 1000))])
        self._link_thread = threading.Thread(target=self._link_loop, name="cloud-link", daemon=True)
        self._heartbeat_thread = threading.Thread(target=self._heartbeat_loop,
                                                  name="cloud-heartbeat", daemon=True)
        self._link_thread.start()
        self._heartbeat_thread.start()
        return self.wait_connected(self.config.connect_timeout_s if timeout_s is None else timeout_s)

    def wait_connected(self, timeout_s: float) -> bool:
        return self._welcomed.wait(timeout_s)

    def stop(self, timeout_s: float = 3.0) -> None:
        """Half-close the stream, then end the threads (cancelling the call if it lingers)."""
        self._stop.set()
        with self._lock:
            requests, call = self._requests, self._call
        if requests is not None:
            requests.put(_END)
        deadline = time.monotonic() + timeout_s
        for t in (self._heartbeat_thread, self._link_thread):
            if t is None:
                continue
            t.join(max(0.0, deadline - time.monotonic()))
            if t.is_alive() and call is not None:
                call.cancel()  # the server did not close the stream in time
                t.join(1.0)
        if self._channel is not None:
            self._channel.close()
            self._channel = None  # stop() is idempotent
        self._welcomed.clear()
        log.info("cloud link to %s stopped", self.address)

    # ---- sending -------------------------------------------------------------------------
    def send_command(self, text: str, world_snapshot: dict | None = None,
                     command_id: str | None = None, delivery: str = "prefetch") -> str:
        """Send a command; returns its command_id (echoed by every reply about it).

        delivery: how the cloud hands out the plan's steps, one of DELIVERIES ("prefetch":
        streamed, later steps speculative; "full_plan"; "per_step").
        Raises ConnectionError while the link is down: a command is the user's to repeat. Once
        sent, it is kept until the cloud answers about it (a step, PlanDone, Refusal or Error
        naming it) and sent again after a reconnect, so a stream that dies under it does not
        lose it (`cloud serve` plans a repeated command id once)."""
        if delivery not in DELIVERIES:
            raise ValueError(f"unknown delivery {delivery!r}; one of {', '.join(DELIVERIES)}")
        command_id = command_id or f"{self.robot_id}-{uuid.uuid4().hex[:10]}"
        cmd = pb.Command(command_id=command_id, text=text, delivery=DELIVERIES[delivery])
        if world_snapshot:
            cmd.world.CopyFrom(snapshot_to_proto(world_snapshot))
        with self._lock:
            self._commands[command_id] = cmd
        if not self._send(pb.EdgeMessage(command=cmd), require_welcome=True):
            with self._lock:
                self._commands.pop(command_id, None)
            raise ConnectionError(f"cloud link to {self.address} is down; command not sent")
        return command_id

    def send_outcome(self, step_id: str, plan_id: str, index: int, success: bool,
                     message: str = "", world_snapshot: dict | None = None,
                     duration_s: float = 0.0, rejected: bool = False) -> None:
        """Report how a step ended (rejected: it was never started). Kept until the cloud
        commits or rolls it back, and sent again after a reconnect (the cloud ignores a step_id
        it has already seen)."""
        outcome = pb.StepOutcome(step_id=step_id, plan_id=plan_id, index=index, success=success,
                                 message=message, duration_s=duration_s, rejected=rejected)
        if world_snapshot:
            outcome.world.CopyFrom(snapshot_to_proto(world_snapshot))
        with self._lock:
            self._unanswered[step_id] = outcome
            self.last_acked_step_id = step_id
        self._send(pb.EdgeMessage(outcome=outcome), require_welcome=False)

    def _send(self, msg, require_welcome: bool) -> bool:
        with self._lock:
            requests = self._requests
            if requests is None or (require_welcome and not self._welcomed.is_set()):
                return False
            requests.put(msg)
            return True

    # ---- the link thread -----------------------------------------------------------------
    def _link_loop(self) -> None:
        backoff = self.config.backoff_initial_s
        first = True
        while not self._stop.is_set():
            try:
                grpc.channel_ready_future(self._channel).result(timeout=self.config.connect_timeout_s)
            except grpc.FutureTimeoutError:
                log.warning("cloud %s not reachable within %.1f s", self.address,
                            self.config.connect_timeout_s)
            else:
                if not first:
                    self.reconnects += 1
                first = False
                welcomed = self._run_stream()
                if welcomed:
                    backoff = self.config.backoff_initial_s  # it worked: start over
            if self._stop.is_set():
                break
            delay = backoff * random.uniform(0.8, 1.2)
            log.info("cloud link down; reconnecting in %.2f s", delay)
            self._stop.wait(delay)
            backoff = min(backoff * self.config.backoff_factor, self.config.backoff_max_s)

    def _hello(self):
        hello = pb.Hello(protocol_version=PROTOCOL_VERSION, robot_id=self.robot_id,
                         auth_token=self.config.auth_token,
                         last_acked_step_id=self.last_acked_step_id)
        try:
            snap = self.world_snapshot_fn()
        except Exception:
            log.exception("world_snapshot_fn failed; saying Hello without a world")
            snap = None
        if snap:
            hello.world.CopyFrom(snapshot_to_proto(snap))
        return pb.EdgeMessage(hello=hello)

    def _run_stream(self) -> bool:
        """One stream from Hello until it ends; returns whether the cloud said Welcome."""
        requests: queue.Queue = queue.Queue()
        requests.put(self._hello())

        def request_iter():
            while True:
                item = requests.get()
                if item is _END:
                    return
                yield item

        stub = pb_grpc.CloudBrainStub(self._channel)
        call = stub.Session(request_iter())
        with self._lock:
            self._requests, self._call = requests, call
        self._last_rx = time.monotonic()
        welcomed = False
        try:
            for msg in call:
                self._last_rx = time.monotonic()
                kind = kind_of(msg)
                if kind == "welcome":
                    welcomed = True
                    self._resend_outcomes(requests, msg.welcome.session_id)
                    self.session_id, self.planner = msg.welcome.session_id, msg.welcome.planner
                    if self.config.lease_s is None and msg.welcome.lease_s > 0:
                        self._lease_s = msg.welcome.lease_s
                    self._welcomed.set()
                    log.info("cloud link up: %s session %s (planner '%s', lease %.1f s)",
                             self.address, self.session_id, self.planner, msg.welcome.lease_s)
                elif kind == "commit":
                    self._forget_outcomes(msg.commit.plan_id, msg.commit.upto_index)
                elif kind == "rollback":
                    self._forget_outcomes(msg.rollback.plan_id, msg.rollback.from_index)
                elif kind == "error" and msg.error.code == pb.Error.PROTOCOL and not welcomed:
                    log.error("cloud refused the Hello: %s", msg.error.message)
                if kind in ("step", "done", "refusal", "error") and self._commands:
                    with self._lock:  # the cloud has it: no need to send it again
                        self._commands.pop(getattr(msg, kind).command_id, None)
                self._deliver(msg)
        except grpc.RpcError as e:
            if not self._stop.is_set():
                log.warning("cloud stream ended: %s %s", e.code(), e.details())
        finally:
            self._welcomed.clear()
            with self._lock:
                self._requests = self._call = None
            requests.put(_END)  # ends request_iter if gRPC is still consuming it
        if not self._stop.is_set():
            log.info("cloud stream to %s closed", self.address)
        return welcomed

    def _resend_outcomes(self, requests: queue.Queue, session_id: str) -> None:
        """Outcomes the cloud has not answered go again if it resumed our session; a new session
        (the cloud lost its state) never knew their steps, so they are dropped."""
        with self._lock:
            pending = sorted(self._unanswered.values(), key=lambda o: (o.plan_id, o.index))
            if self.session_id and session_id != self.session_id:
                if pending:
                    log.warning("cloud started a new session; %d unanswered outcomes dropped",
                                len(pending))
                self._unanswered.clear()
                return
        for outcome in pending:
            requests.put(pb.EdgeMessage(outcome=outcome))
        with self._lock:
            commands = list(self._commands.values())
        for cmd in commands:  # sent on a stream that died before the cloud answered
            log.info("command %s sent again after the reconnect", cmd.command_id)
            requests.put(pb.EdgeMessage(command=cmd))

    def _forget_outcomes(self, plan_id: str, upto_index: int) -> None:
        with self._lock:
            for sid in [s for s, o in self._unanswered.items()
                        if o.plan_id == plan_id and o.index <= upto_index]:
                del self._unanswered[sid]

    def _deliver(self, msg) -> None:
        try:
            self.on_message(msg)
        except Exception:
            log.exception("on_message failed on a %s message", kind_of(msg))

    # ---- the heartbeat thread ------------------------------------------------------------
    def _heartbeat_loop(self) -> None:
        while not self._stop.wait(self.config.heartbeat_s):
            if not self.connected:
                continue
            silent = time.monotonic() - self._last_rx
            if self._lease_s is not None and silent > self._lease_s:
                log.warning("no message from the cloud for %.1f s (lease %.1f s): dropping the "
                            "stream", silent, self._lease_s)
                with self._lock:
                    call = self._call
                if call is not None:
                    call.cancel()
                continue
            self._send(pb.EdgeMessage(heartbeat=pb.Heartbeat(
                seq=next(self._seq), edge_monotonic_s=time.monotonic())), require_welcome=True)


def main(argv: list[str] | None = None) -> int:
    """Send one command and print what comes back (a manual check of a running cloud)."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("text")
    ap.add_argument("--address", default="127.0.0.1:50051")
    ap.add_argument("--robot-id", default="cli")
    ap.add_argument("--tls-dir", help="a `brainstem certs` directory: TLS (mutual with the robot's "
                                      "certificate) and the robot's token from it")
    ap.add_argument("--server-name", default="", help="the name in the cloud's certificate, if not the address")
    ap.add_argument("--token", default="", help="this robot's token, or @FILE")
    ap.add_argument("--wait-s", type=float, default=5.0, help="how long to wait for PlanDone")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    finished = threading.Event()

    def on_message(msg):
        kind = kind_of(msg)
        if kind == "step":
            s = msg.step
            print(f"step {s.index} r{s.revision} {s.skill.name}({', '.join(s.skill.args)})"
                  f"{' speculative' if s.speculative else ''}  [{s.step_id}, {s.decode_ms:.1f} ms]")
        else:
            print(kind, text_format.MessageToString(getattr(msg, kind), as_one_line=True))
        if kind_of(msg) in ("done", "refusal", "error"):
            finished.set()

    config = ClientConfig(auth_token=read_token(args.token))
    if args.tls_dir:
        config.tls, token = robot_credentials(args.tls_dir, args.robot_id, args.server_name)
        config.auth_token = config.auth_token or token
    client = CloudClient(args.address, args.robot_id, lambda: None, on_message, config=config)
    try:
        if not client.start():
            log.error("no cloud at %s", args.address)
            return 1
        client.send_command(args.text)
        return 0 if finished.wait(args.wait_s) else 2
    finally:
        client.stop()


if __name__ == "__main__":
    raise SystemExit(main())
