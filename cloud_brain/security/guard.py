"""The cloud's gate on the Session stream: who may open one (mutual-TLS identity, per-robot tokens)
and how much it may send (per-robot token buckets), as a grpc.ServerInterceptor.

Why an interceptor: the servicer (server/service.py) and the session logic (server/session.py)
stay about planning; every stream passes this gate first, and nothing from an unauthenticated
peer reaches a PlanSession. The gate wraps both directions of the stream:

- requests: the first message must be a Hello when credentials are required; every Hello is
  checked (token signature and expiry, token robot id == Hello robot id == client certificate
  robot id); a command over the robot's command rate is dropped and answered with
  Error(RATE_LIMITED) while the stream lives on; a flood over the message rate ends the stream.
- responses: those Errors are merged into the servicer's replies, and a refusal ends the RPC from
  gRPC's own handler thread with `context.abort`, so the robot sees a real status:

    UNAUTHENTICATED    no token, a token that does not verify, an expired token, no client cert
    PERMISSION_DENIED  a valid token or certificate of another robot than the Hello names
    RESOURCE_EXHAUSTED more messages per second than the flood limit (gRPC itself answers a
                       message over the size limit with this code too)

The session itself (kept per robot id by the servicer) survives all of these: a robot that
reconnects properly resumes it.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from dataclasses import dataclass

import grpc

from cloud_brain.security import tokens
from cloud_brain.security.layout import ROBOT_URI_PREFIX
from cloud_brain.wire import SESSION_METHOD, kind_of, pb

log = logging.getLogger(__name__)

_DONE = object()  # the servicer's response stream ended


@dataclass(frozen=True)
class Limits:
    """Input limits of a Session stream (the command length limit is SessionConfig's)."""

    max_message_bytes: int = 1 << 20
    """Largest EdgeMessage gRPC accepts (server option grpc.max_receive_message_length)."""
    command_rate_per_s: float = 2.0
    command_burst: int = 10
    """Commands per robot: a bucket of `command_burst`, refilled at `command_rate_per_s`."""
    message_rate_per_s: float = 200.0
    message_burst: int = 400
    """All messages per robot (heartbeats, outcomes, ...): beyond this the stream is closed."""

    def __post_init__(self):
        if self.max_message_bytes < 1024:
            raise ValueError("max_message_bytes must be at least 1024")
        if min(self.command_rate_per_s, self.message_rate_per_s) <= 0 or min(
                self.command_burst, self.message_burst) < 1:
            raise ValueError("rates must be positive and bursts at least 1")

    def server_options(self) -> list[tuple[str, int]]:
        return [("grpc.max_receive_message_length", self.max_message_bytes)]


@dataclass(frozen=True)
class AuthPolicy:
    """Who may open a Session. `token_secret`: the HMAC key of tokens.py (tokens are verified
    whenever one is presented; `require_token` refuses streams without one).
    `require_client_cert`: the stream's robot id must come from a verified client certificate
    (the TLS handshake already refuses robots without one; this also holds the Hello to it)."""

    token_secret: bytes | None = None
    require_token: bool = False
    require_client_cert: bool = False

    def __post_init__(self):
        if self.require_token and not self.token_secret:
            raise ValueError("require_token needs token_secret (DIR/token.key from `brainstem certs`)")

    @property
    def required(self) -> bool:
        return self.require_token or self.require_client_cert


class TokenBucket:
    """`burst` tokens, refilled at `rate_per_s`; thread-safe (a robot's streams share one)."""

    def __init__(self, rate_per_s: float, burst: int, clock=time.monotonic):
        self.rate, self.burst, self.clock = rate_per_s, float(burst), clock
        self.level = float(burst)
        self.t = clock()
        self._lock = threading.Lock()

    def _refill(self) -> None:
        now = self.clock()
        self.level = min(self.burst, self.level + (now - self.t) * self.rate)
        self.t = now

    def full(self) -> bool:
        with self._lock:
            self._refill()
            return self.level >= self.burst

    def take(self) -> bool:
        with self._lock:
            self._refill()
            if self.level >= 1.0:
                self.level -= 1.0
                return True
            return False


class _Refuse:
    """A verdict of the request side, carried to gRPC's handler thread to abort the RPC."""

    def __init__(self, code: grpc.StatusCode, details: str):
        self.code, self.details = code, details


class _Raised:
    def __init__(self, exc: BaseException):
        self.exc = exc


def _metadata_token(context) -> str:
    for key, value in context.invocation_metadata() or ():
        if key == "authorization" and isinstance(value, str):
            scheme, _, tok = value.partition(" ")
            return tok.strip() if scheme.lower() == "bearer" else ""
    return ""


def peer_robot_id(context) -> str:
    """The robot id of the verified client certificate ("" without one): its
    urn:brainstem:robot:<id> SAN (a certificate `brainstem certs` made for a robot)."""
    auth = context.auth_context() or {}
    for raw in auth.get("x509_subject_alternative_name", []):
        name = raw.decode(errors="replace") if isinstance(raw, bytes) else str(raw)
        if name.startswith(ROBOT_URI_PREFIX):
            return name[len(ROBOT_URI_PREFIX):]
    return ""


class SessionGuard(grpc.ServerInterceptor):
    """Authenticates and rate-limits `method` (the CloudBrain Session); other methods (health,
    reflection) pass untouched."""

    MAX_ROBOTS = 4096

    def __init__(self, auth: AuthPolicy | None = None, limits: Limits | None = None, *,
                 method: str = SESSION_METHOD, clock=time.time):
        self.auth = auth or AuthPolicy()
        self.limits = limits or Limits()
        self.method = method
        self.clock = clock  # wall clock for token expiry (tests move it)
        self._lock = threading.Lock()
        self._buckets: dict[str, tuple[TokenBucket, TokenBucket]] = {}
        self.refusals: dict[str, int] = {}  # status code name -> count (audit, tests)

    def buckets(self, key: str) -> tuple[TokenBucket, TokenBucket]:
        """(commands, messages) of robot `key`, shared by its streams."""
        with self._lock:
            b = self._buckets.get(key)
            if b is None:
                if len(self._buckets) >= self.MAX_ROBOTS:  # forget idle robots (full buckets)
                    for k in [k for k, (c, m) in self._buckets.items() if c.full() and m.full()]:
                        del self._buckets[k]
                lim = self.limits
                b = self._buckets[key] = (TokenBucket(lim.command_rate_per_s, lim.command_burst),
                                          TokenBucket(lim.message_rate_per_s, lim.message_burst))
            return b

    def _count(self, code: grpc.StatusCode) -> None:
        with self._lock:
            self.refusals[code.name] = self.refusals.get(code.name, 0) + 1

    def intercept_service(self, continuation, handler_call_details):
        handler = continuation(handler_call_details)
        if (handler is None or handler_call_details.method != self.method
                or handler.stream_stream is None):
            return handler
        inner = handler.stream_stream

        def guarded(request_iterator, context):
            return _GuardedStream(self, context).run(inner, request_iterator)

        return grpc.stream_stream_rpc_method_handler(
            guarded, request_deserializer=handler.request_deserializer,
            response_serializer=handler.response_serializer)


class _GuardedStream:
    """One Session stream behind the gate."""

    def __init__(self, guard: SessionGuard, context):
        self.guard, self.context = guard, context
        self.peer = context.peer()
        self.out: queue.Queue = queue.Queue()  # servicer replies, our Errors, a verdict
        self.cert_robot = peer_robot_id(context)
        self.header_token = _metadata_token(context)
        self.robot_id = ""  # bound by the first accepted Hello
        lim = guard.limits  # this stream's own buckets until a Hello names the robot
        self.buckets = (TokenBucket(lim.command_rate_per_s, lim.command_burst),
                        TokenBucket(lim.message_rate_per_s, lim.message_burst))

    def _abort(self, code: grpc.StatusCode, details: str):
        self.guard._count(code)
        log.warning("refused Session from %s (robot %r): %s %s", self.peer,
                    self.robot_id or self.cert_robot or "?", code.name, details)
        self.context.abort(code, details)

    def run(self, inner, request_iterator):
        """Checks that need no message (the handler thread: `abort` sends the status), then the
        servicer, its replies pumped through `self.out` so our own Errors can join them."""
        auth = self.guard.auth
        if auth.require_client_cert and not self.cert_robot:
            self._abort(grpc.StatusCode.UNAUTHENTICATED,
                        "a client certificate issued to a robot by this cloud's CA is required "
                        "(see `brainstem certs`)")
        if self.header_token:
            verdict = self._check_token(self.header_token, claimed="")
            if verdict is not None:
                self._abort(verdict.code, verdict.details)
        responses = inner(self._requests(request_iterator), self.context)
        threading.Thread(target=self._pump, args=(responses,), daemon=True,
                         name=f"guard-pump {self.peer}").start()
        return self._replies()

    def _pump(self, responses) -> None:
        try:
            for msg in responses:
                self.out.put(msg)
        except BaseException as e:  # e.g. the servicer's own context.abort
            self.out.put(_Raised(e))
        self.out.put(_DONE)

    def _replies(self):
        while True:
            item = self.out.get()
            if item is _DONE:
                return
            if isinstance(item, _Raised):
                raise item.exc
            if isinstance(item, _Refuse):
                self._abort(item.code, item.details)
            yield item

    # ---- the request side (runs on whichever thread the servicer reads requests from) ----------
    def _requests(self, request_iterator):
        for msg in request_iterator:
            verdict = self._admit(msg)
            if isinstance(verdict, _Refuse):
                self.out.put(verdict)
                return  # the servicer sees the request stream end; the RPC is aborted
            if verdict is not None:
                self.out.put(verdict)  # an Error reply; the message is dropped
                continue
            yield msg

    def _admit(self, msg):
        """None to pass `msg` on, an Error CloudMessage to answer and drop it, a _Refuse to end."""
        lim = self.guard.limits
        if not self.buckets[1].take():
            return _Refuse(grpc.StatusCode.RESOURCE_EXHAUSTED,
                           f"robot '{self.robot_id or '?'}' sent more than {lim.message_rate_per_s:g} "
                           f"messages/s (burst {lim.message_burst}); stream closed, the session is kept")
        kind = kind_of(msg) if isinstance(msg, pb.EdgeMessage) else None
        if kind == "hello":
            return self._check_hello(msg.hello)
        if not self.robot_id and self.guard.auth.required:
            return _Refuse(grpc.StatusCode.UNAUTHENTICATED,
                           f"the first message must be a Hello with this robot's credentials, not "
                           f"{kind or 'an unparsable message'}")
        if kind == "command" and not self.buckets[0].take():
            return pb.CloudMessage(error=pb.Error(
                code=pb.Error.RATE_LIMITED, command_id=msg.command.command_id,
                message=f"robot '{self.robot_id}' sent more than {lim.command_burst} commands in a burst "
                        f"({lim.command_rate_per_s:g}/s sustained); command dropped, try again later"))
        return None

    def _check_token(self, token: str, claimed: str) -> _Refuse | None:
        auth = self.guard.auth
        if not auth.token_secret:
            return None  # this cloud does not use tokens
        try:
            claims = tokens.verify(auth.token_secret, token, now=self.guard.clock())
        except tokens.TokenError as e:
            return _Refuse(grpc.StatusCode.UNAUTHENTICATED, f"token refused: {e}")
        if self.cert_robot and claims.robot_id != self.cert_robot:
            return _Refuse(grpc.StatusCode.PERMISSION_DENIED,
                           f"token is for robot '{claims.robot_id}' but the client certificate is "
                           f"robot '{self.cert_robot}'")
        if claimed and claims.robot_id != claimed:
            return _Refuse(grpc.StatusCode.PERMISSION_DENIED,
                           f"token is for robot '{claims.robot_id}' but the Hello says robot '{claimed}'")
        return None

    def _check_hello(self, hello) -> _Refuse | None:
        rid = hello.robot_id
        if self.robot_id and rid != self.robot_id:
            return _Refuse(grpc.StatusCode.PERMISSION_DENIED,
                           f"this stream is robot '{self.robot_id}'; a Hello for '{rid}' is not allowed")
        if self.cert_robot and rid != self.cert_robot:
            return _Refuse(grpc.StatusCode.PERMISSION_DENIED,
                           f"the client certificate is robot '{self.cert_robot}' but the Hello says "
                           f"robot '{rid}'")
        token = self.header_token or hello.auth_token
        if token:
            verdict = self._check_token(token, claimed=rid)
            if verdict is not None:
                return verdict
        elif self.guard.auth.require_token:
            return _Refuse(grpc.StatusCode.UNAUTHENTICATED,
                           f"robot '{rid}' sent no token; this cloud requires one (Hello.auth_token "
                           "or an 'authorization: Bearer' header; see `brainstem token`)")
        if rid and not self.robot_id:
            self.robot_id = rid
            self.buckets = self.guard.buckets(rid)
        return None
