"""The cloud's gRPC server: brainstem.v1.CloudBrain.Session over PlanSession, with health + reflection.

Why this shape: each Session stream gets three workers so that neither direction waits on the
other. A reader drains the incoming stream (answering heartbeats at once, even while a plan is
being decoded), a worker runs the session logic (the planner included) and puts every reply
on a thread-safe outgoing queue the moment it exists, and gRPC's own thread writes that queue
to the wire, so plan steps stream out while the incoming side keeps reading.

Bytes that do not parse as an EdgeMessage do not end the stream: the Session method is
registered with a deserializer that turns a DecodeError into a `Malformed` stand-in, which the
session answers with Error(MALFORMED) before it carries on.

Sessions are written through to a state database (cloud_brain/server/store.py, SQLite in WAL
mode; `--state-db PATH`; by default a temp file of the process, so name a path to survive a
restart; `:memory:` keeps nothing; a postgresql:// URL for several replicas), so a cloud killed
with `kill -9` and started again on the same file resumes every robot's session when the robot
says Hello again: same plans, revisions and step ids, acked steps never issued again.

    python -m cloud_brain.server.service --port 50051     # rules planner, default home world
    python -m edge_nerve.link.client --address 127.0.0.1:50051 "bring me the red cup"
    grpcurl -plaintext 127.0.0.1:50051 list               # reflection, if grpcurl is installed
"""

from __future__ import annotations

import argparse
import faulthandler
import logging
import os
import queue
import signal
import threading
import time
from concurrent import futures
from dataclasses import dataclass
from pathlib import Path

import grpc
from google.protobuf.message import DecodeError
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from cloud_brain.domain.description import WorldDescription, load_world
from cloud_brain.domain.state import WorldState
from cloud_brain.security.guard import AuthPolicy, Limits, SessionGuard
from cloud_brain.security.options import add_server_args, server_security
from cloud_brain.security.tls import ServerTLS
from cloud_brain.planner.base import DEFAULT_BACKEND
from cloud_brain.server.admission import add_batching_args, batching_config
from cloud_brain.server.session import Malformed, PlanSession, SessionConfig
from cloud_brain.server.store import SessionStore, StoreError, open_store
from cloud_brain.wire import SERVICE_NAME, kind_of, pb

log = logging.getLogger(__name__)

_END = object()  # closes an outgoing queue
# Without --state-db: a file of this process only (a fresh cloud never resumes strangers' stale
# plans); removed on a clean shutdown, left behind by a crash. Name a path to survive restarts.
DEFAULT_STATE_DB = "a temp file of this process"


def deserialize_edge_message(data: bytes):
    """EdgeMessage bytes -> message, or a Malformed stand-in (never raises: the stream lives on)."""
    try:
        return pb.EdgeMessage.FromString(data)
    except (DecodeError, RuntimeWarning, ValueError) as e:
        return Malformed(str(e), len(data))


class CloudBrainService:
    """The Session servicer: one PlanSession per robot, kept across reconnects of its stream."""

    def __init__(self, planner, worlds: dict[str, WorldDescription] | None = None, *,
                 planner_name: str = "", config: SessionConfig | None = None,
                 store: SessionStore | None = None):
        self.planner = planner
        self.store = store
        self.worlds = worlds
        self.planner_name = planner_name
        self.config = config or SessionConfig()
        self._lock = threading.Lock()
        self._sessions: dict[str, PlanSession] = {}  # robot_id -> session (resume on reconnect)
        self._streams: set[queue.Queue] = set()  # outgoing queues of the open streams
        self._closing = False

    def new_session(self) -> PlanSession:
        return PlanSession(self.planner, self.worlds, planner_name=self.planner_name,
                           config=self.config, store=self.store)

    def rpc_method_handler(self) -> grpc.GenericRpcHandler:
        """The CloudBrain service with the forgiving request deserializer."""
        return grpc.method_handlers_generic_handler(SERVICE_NAME, {
            "Session": grpc.stream_stream_rpc_method_handler(
                self.Session, request_deserializer=deserialize_edge_message,
                response_serializer=pb.CloudMessage.SerializeToString)})

    def close_streams(self) -> None:
        """End every open stream cleanly (status OK), so clients see a close, not a reset."""
        with self._lock:
            self._closing = True
            streams = list(self._streams)
        for out in streams:
            out.put(_END)

    # ---- the RPC -------------------------------------------------------------------------
    def Session(self, request_iterator, context):
        out: queue.Queue = queue.Queue()
        with self._lock:
            if self._closing:
                context.abort(grpc.StatusCode.UNAVAILABLE, "server is shutting down")
            self._streams.add(out)
        stream = _Stream(self, request_iterator, out, context.peer())
        context.add_callback(lambda: out.put(_END))  # client went away / deadline / cancel
        log.info("stream open from %s", stream.peer)
        stream.start()
        try:
            while True:
                item = out.get()
                if item is _END:
                    break
                yield item
        finally:
            with self._lock:
                self._streams.discard(out)
            stream.close()
            log.info("stream closed from %s (robot %s, session %s): %d messages in, %d out, %.1f s",
                     stream.peer, stream.session.robot_id, stream.session.session_id,
                     stream.n_in, stream.n_out, time.monotonic() - stream.t0)

    def _session_for_hello(self, current: PlanSession, robot_id: str) -> PlanSession:
        """The session a Hello binds this stream to: the robot's earlier one if it has one."""
        if current.greeted or not robot_id:
            return current
        with self._lock:
            if robot_id in self._sessions and not (self.store is not None and self.store.shared):
                return self._sessions[robot_id]  # (a shared store: another replica may have moved it on)
            if self.store is None:
                return current
            try:
                stored = self.store.load(robot_id)
                if stored is None:
                    return current
                session = PlanSession.restore(stored, self.planner, current.worlds(),
                                              planner_name=self.planner_name, config=self.config,
                                              store=self.store)
            except Exception:  # a bad row must not lock the robot out: it starts afresh
                log.exception("cannot restore the stored session of robot '%s'; starting a new one",
                              robot_id)
                return current
            self._sessions[robot_id] = session
            return session

    def _register(self, session: PlanSession) -> None:
        if session.greeted:
            with self._lock:
                self._sessions.setdefault(session.robot_id, session)


class _Stream:
    """The threads of one Session stream (see the module docstring)."""

    def __init__(self, service: CloudBrainService, requests, out: queue.Queue, peer: str):
        self.service, self.requests, self.out, self.peer = service, requests, out, peer
        self.session = service.new_session()
        self.inbox: queue.Queue = queue.Queue()
        self.n_in = self.n_out = 0
        self.t0 = time.monotonic()
        self._reader = threading.Thread(target=self._read, name=f"session-read {peer}", daemon=True)
        self._worker = threading.Thread(target=self._work, name=f"session-work {peer}", daemon=True)

    def start(self) -> None:
        self._reader.start()
        self._worker.start()

    def close(self) -> None:
        self.inbox.put(_END)
        self._worker.join(timeout=5.0)
        # the reader ends when gRPC ends the request iterator (it does once the RPC is over)
        self._reader.join(timeout=1.0)

    def _emit(self, msg) -> None:
        self.n_out += 1
        self.out.put(msg)

    def _read(self) -> None:
        try:
            for msg in self.requests:
                self.n_in += 1
                if (not isinstance(msg, Malformed) and kind_of(msg) == "heartbeat"
                        and self.session.greeted):  # else the worker answers, in order
                    self._emit(pb.CloudMessage(heartbeat_ack=pb.HeartbeatAck(
                        seq=msg.heartbeat.seq, lease_s=self.service.config.lease_s)))
                    continue
                self.inbox.put(msg)
        except grpc.RpcError as e:  # cancelled by the client or by shutdown
            log.debug("stream from %s: reader ended: %s", self.peer, e)
        except Exception:
            log.exception("stream from %s: reader failed", self.peer)
        self.inbox.put(_END)

    def _work(self) -> None:
        while True:
            msg = self.inbox.get()
            if msg is _END:
                break
            if not isinstance(msg, Malformed) and kind_of(msg) == "hello":
                self.session = self.service._session_for_hello(self.session, msg.hello.robot_id)
            for reply in self.session.handle(msg):
                self._emit(reply)
            self.service._register(self.session)
        self.out.put(_END)  # client half-closed: finish the response stream too


# ---- the server --------------------------------------------------------------------------------
@dataclass
class BrainServer:
    """A running server: the gRPC server, its port, the servicer and the health service."""

    grpc_server: grpc.Server
    port: int
    service: CloudBrainService
    health: health.HealthServicer
    guard: SessionGuard | None = None
    metrics: object | None = None  # PlannerMetrics when /metrics is served (serve(metrics_port=...))
    batched: object | None = None  # the BatchedPlanner when serve(batching=...): stopped with the server

    def stop(self, grace_s: float = 2.0) -> None:
        """Health NOT_SERVING, end open streams cleanly, then stop within `grace_s`."""
        self.health.enter_graceful_shutdown()
        self.service.close_streams()
        self.grpc_server.stop(grace_s).wait(grace_s + 1.0)
        if self.metrics is not None:
            self.metrics.close()
        if self.batched is not None:
            self.batched.close()
        log.info("server on port %d stopped", self.port)

    def wait_for_termination(self, timeout: float | None = None) -> bool:
        return self.grpc_server.wait_for_termination(timeout)


def serve(port: int = 0, planner_name: str = DEFAULT_BACKEND, host: str = "127.0.0.1",
          world_path: str | Path | None = None, *, planner=None,
          config: SessionConfig | None = None, max_workers: int = 64, metrics_port: int | None = None,
          tls: ServerTLS | None = None, auth: AuthPolicy | None = None,
          limits: Limits | None = None, batching=None,
          artifact: str | Path | None = None,
          store: SessionStore | str | Path | None = None) -> tuple[BrainServer, int]:
    """Start the server; returns it and the bound port (useful with port=0).

    `tls` None serves plaintext (the loopback demo); `auth` and `limits` configure the Session
    gate (cloud_brain/security/guard.py: tokens, client-certificate identity, rate limits).

    Each open Session stream holds one of `max_workers` threads, so it bounds concurrent robots.
    `planner` overrides `planner_name` with an instance (it must be safe to share between
    sessions: they call it from their own threads).

    `batching` (a cloud_brain.server.batching.BatchConfig) serves planner "moe" through the
    continuous-batching engine: every session's plan decodes in one shared batch, with an
    admission bound (Error(OVERLOADED) beyond it). `artifact`: the "moe" planner's weights folder
    (default: the shipped one).

    `store`: a SessionStore or the path of its SQLite file (None: nothing survives the process)."""
    desc = load_world(world_path)
    batched, given = None, planner  # a planner passed in is the caller's to prepare (maybe paused)
    if (batching is not None or artifact is not None) and (planner is not None or planner_name != "moe"):
        raise ValueError(f"batching and artifact apply to the embedded 'moe' planner, not {planner_name!r}")
    if batching is not None:
        from cloud_brain.server.batching import BatchedPlanner

        planner = batched = BatchedPlanner(desc, artifact, config=batching)
    elif artifact is not None:
        from cloud_brain.planner.moe import MoEPlanner

        planner = MoEPlanner(desc, artifact)
    if planner is None:
        from cloud_brain.planner.base import get_planner

        planner = get_planner(planner_name, desc)
    if given is None and hasattr(planner, "warm_up"):  # the embedded MoE built here: its first
        planner.warm_up(WorldState.initial(desc))  # forwards before the first robot, not by it
    metrics = None
    if metrics_port is not None:  # Prometheus: the planner timed, the sessions counted
        from cloud_brain.server.metrics import PlannerMetrics

        metrics = PlannerMetrics(planner)
        if batched is not None:
            batched.register_metrics(metrics.registry)
        planner = metrics.instrument(planner)
    if store is not None and not isinstance(store, SessionStore):
        store = open_store(store)
    service = CloudBrainService(planner, {desc.name: desc}, planner_name=planner_name,
                                config=config, store=store)
    if metrics is not None:
        metrics.attach(service)
    auth, limits = auth or AuthPolicy(), limits or Limits()
    if auth.require_client_cert and (tls is None or not tls.require_client_cert):
        raise ValueError("require_client_cert needs TLS with a client CA (ServerTLS(require_client_cert=True))")
    guard = SessionGuard(auth, limits)
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=max_workers,
                                                    thread_name_prefix="grpc"),
                         interceptors=(guard,), options=limits.server_options())
    server.add_generic_rpc_handlers((service.rpc_method_handler(),))
    health_servicer = health.HealthServicer(experimental_non_blocking=True)
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    for name in ("", SERVICE_NAME):
        health_servicer.set(name, health_pb2.HealthCheckResponse.SERVING)
    reflection.enable_server_reflection(
        (SERVICE_NAME, health_pb2.DESCRIPTOR.services_by_name["Health"].full_name,
         reflection.SERVICE_NAME), server)
    if tls is None:
        if not _is_loopback(host):
            log.warning("serving PLAINTEXT on %s: robots and tokens are not protected; use --tls-dir", host)
        bound = server.add_insecure_port(f"{host}:{port}")
    else:
        bound = server.add_secure_port(f"{host}:{port}", tls.credentials())
    if bound == 0:
        raise OSError(f"cannot bind {host}:{port}")
    if metrics is not None:
        metrics.serve(metrics_port, host)
    server.start()
    log.info("CloudBrain serving on %s:%d (planner %r, %s, lease %.1f s; %s; state %s)", host, bound,
             planner_name, desc.summary(), service.config.lease_s, _security_summary(tls, auth),
             store.path if store is not None else "not kept")
    return BrainServer(server, bound, service, health_servicer, guard, metrics=metrics,
                       batched=batched), bound


def _is_loopback(host: str) -> bool:
    return host in ("localhost", "127.0.0.1", "::1", "[::1]") or host.startswith("127.")


def _security_summary(tls: ServerTLS | None, auth: AuthPolicy) -> str:
    link = "plaintext" if tls is None else ("mutual TLS" if tls.require_client_cert else "TLS")
    token = "tokens required" if auth.require_token else ("tokens checked" if auth.token_secret else "no tokens")
    return f"{link}, {token}"


def main(argv: list[str] | None = None) -> int:
    faulthandler.enable()  # a native crash leaves a traceback in the log
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--port", type=int, default=50051, help="0 picks a free port")
    ap.add_argument("--host", default="127.0.0.1", help="0.0.0.0 to accept remote robots")
    ap.add_argument("--planner", default=DEFAULT_BACKEND, help="planner name for get_planner()")
    ap.add_argument("--world", default=None, help="world description YAML (default: home)")
    ap.add_argument("--lease-s", type=float, default=SessionConfig.lease_s)
    ap.add_argument("--step-lease-s", type=float, default=SessionConfig.step_lease_s)
    ap.add_argument("--log-level", default="INFO")
    ap.add_argument("--state-db", default=DEFAULT_STATE_DB,
                    help="SQLite file (WAL) the sessions are written through to, so a restarted "
                         "cloud resumes them; ':memory:' keeps nothing; a postgresql:// URL shares "
                         "them between several cloud replicas (default: %(default)s)")
    ap.add_argument("--metrics-port", type=int, default=None,
                    help="serve Prometheus /metrics on this port (0: any free port)")
    add_batching_args(ap)
    add_server_args(ap, SessionConfig.max_command_chars)
    args = ap.parse_args(argv)
    if (args.batching or args.artifact) and args.planner != "moe":
        ap.error(f"--batching and --artifact need --planner moe (got {args.planner!r})")
    try:
        tls, auth, limits = server_security(args)
    except (ValueError, OSError) as e:
        ap.error(str(e))
    logging.basicConfig(level=args.log_level.upper(),
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    log.info("config: %s", vars(args))
    temp_db = None
    if args.state_db == DEFAULT_STATE_DB:
        import tempfile

        temp_db = args.state_db = str(Path(tempfile.gettempdir()) / f"brainstem-cloud-state-{os.getpid()}.db")
    try:
        store = open_store(args.state_db)
    except StoreError as e:
        ap.error(str(e))
    server, _ = serve(args.port, args.planner, args.host, args.world, metrics_port=args.metrics_port,
                      config=SessionConfig(lease_s=args.lease_s, step_lease_s=args.step_lease_s,
                                           max_command_chars=args.max_command_chars,
                                           dedup_command_ids=True),
                      tls=tls, auth=auth, limits=limits, batching=batching_config(args),
                      artifact=args.artifact, store=store)
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    stop.wait()
    server.stop()
    store.close()
    for suffix in ("", "-wal", "-shm") if temp_db else ():
        Path(temp_db + suffix).unlink(missing_ok=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
