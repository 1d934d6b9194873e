"""Authenticated links over real TLS sockets on loopback: the good robot gets a plan; no client
certificate, a wrong token, another robot's token and an expired token are refused with their
gRPC status codes; input limits (rate, size, command length) answer clearly and the session lives.

    python -m pytest -q tests/integration/test_auth.py
"""

from __future__ import annotations

import queue
import time

import grpc
import pytest

from cloud_brain.security import tokens
from cloud_brain.security.certs import write_certs
from cloud_brain.security.guard import AuthPolicy, Limits
from cloud_brain.security.tls import ClientTLS, ServerTLS, robot_credentials, secure_channel
from cloud_brain.server.session import SessionConfig
from cloud_brain.wire import PROTOCOL_VERSION, pb, pb_grpc

pytest.importorskip("cloud_brain.planner.base", reason="rules planner not merged yet")
pytestmark = pytest.mark.integration

from cloud_brain.server.service import serve  # noqa: E402
from edge_nerve.link.client import ClientConfig, CloudClient  # noqa: E402

FAST = dict(connect_timeout_s=3.0, heartbeat_s=0.2, backoff_initial_s=0.05, backoff_max_s=0.5)
Code = grpc.StatusCode
_END = object()


@pytest.fixture(scope="module")
def certs(tmp_path_factory):
    d = tmp_path_factory.mktemp("certs")
    write_certs(d, ["robot-1", "robot-2"])
    return d


@pytest.fixture(scope="module")
def mtls_server(certs):
    """Mutual TLS + required tokens: the production set-up."""
    secret = tokens.load_secret(certs / "token.key")
    srv, port = serve(0, "rules", tls=ServerTLS.from_dir(certs, require_client_cert=True),
                      auth=AuthPolicy(secret, require_token=True, require_client_cert=True))
    yield srv, port
    srv.stop(grace_s=1.0)


@pytest.fixture(scope="module")
def tls_server(certs):
    """Server-only TLS + required tokens: the token alone names the robot."""
    secret = tokens.load_secret(certs / "token.key")
    srv, port = serve(0, "rules", tls=ServerTLS.from_dir(certs), auth=AuthPolicy(secret, require_token=True))
    yield srv, port
    srv.stop(grace_s=1.0)


def hello(robot_id: str, token: str = "") -> pb.EdgeMessage:
    return pb.EdgeMessage(hello=pb.Hello(protocol_version=PROTOCOL_VERSION, robot_id=robot_id,
                                         auth_token=token))


def command(cid: str, text: str = "go to the kitchen") -> pb.EdgeMessage:
    return pb.EdgeMessage(command=pb.Command(command_id=cid, text=text))


class RawStream:
    """A Session stream driven by hand over a real channel: send messages, read replies or the
    status the cloud ended it with."""

    def __init__(self, port: int, tls: ClientTLS | None, metadata=None):
        self.channel = secure_channel(f"127.0.0.1:{port}", tls)
        self.requests: queue.Queue = queue.Queue()

        def it():
            while (m := self.requests.get()) is not _END:
                yield m

        self.call = pb_grpc.CloudBrainStub(self.channel).Session(it(), timeout=10.0, metadata=metadata)

    def send(self, *msgs) -> "RawStream":
        for m in msgs:
            self.requests.put(m)
        return self

    def next(self):
        """The next non-heartbeat reply, or the grpc.RpcError that ended the stream."""
        try:
            while (m := next(self.call)).WhichOneof("kind") == "heartbeat_ack":
                pass
            return m
        except grpc.RpcError as e:
            return e

    def close(self) -> None:
        self.requests.put(_END)
        self.call.cancel()
        self.channel.close()


@pytest.fixture
def stream():
    opened = []

    def make(port, tls, *msgs, metadata=None):
        s = RawStream(port, tls, metadata).send(*msgs)
        opened.append(s)
        return s

    yield make
    for s in opened:
        s.close()


def refused(reply, code: grpc.StatusCode, *words: str) -> str:
    assert isinstance(reply, grpc.RpcError), f"expected {code.name}, got a reply: {reply}"
    assert reply.code() == code, (reply.code(), reply.details())
    for w in words:
        assert w in reply.details(), reply.details()
    return reply.details()


def robot(certs, robot_id: str, with_cert: bool = True) -> ClientTLS:
    tls, _ = robot_credentials(certs, robot_id)
    return tls if with_cert else ClientTLS(tls.ca_file)


def token_of(certs, robot_id: str) -> str:
    return (certs / "robots" / f"{robot_id}.token").read_text().strip()


# ---- who gets in ----------------------------------------------------------------------------------
def test_good_robot_gets_a_plan_over_mutual_tls(mtls_server, certs):
    srv, port = mtls_server
    tls, token = robot_credentials(certs, "robot-1")
    got: queue.Queue = queue.Queue()
    client = CloudClient(f"127.0.0.1:{port}", "robot-1", lambda: None, got.put,
                         config=ClientConfig(auth_token=token, tls=tls, **FAST))
    try:
        assert client.start(), "the robot with its certificate and token was not let in"
        client.send_command("bring me the red cup")
        kinds, deadline = [], time.monotonic() + 10
        while "done" not in kinds and time.monotonic() < deadline:
            kinds.append(got.get(timeout=10).WhichOneof("kind"))
        assert kinds.count("step") == 4 and kinds[-1] == "done", kinds
    finally:
        client.stop()


def test_no_client_certificate_fails_the_handshake(mtls_server, certs, stream):
    """Without a certificate there is no TLS connection, so no RPC and no session at all."""
    srv, port = mtls_server
    before = len(srv.service._sessions)
    reply = stream(port, robot(certs, "robot-1", with_cert=False),
                   hello("robot-1", token_of(certs, "robot-1"))).next()
    refused(reply, Code.UNAVAILABLE)
    assert len(srv.service._sessions) == before


def test_wrong_token_is_unauthenticated(mtls_server, certs, stream):
    forged = tokens.issue(b"0" * 64, "robot-1")  # right shape, signed with another key
    reply = stream(mtls_server[1], robot(certs, "robot-1"), hello("robot-1", forged)).next()
    refused(reply, Code.UNAUTHENTICATED, "signature")
    garbage = stream(mtls_server[1], robot(certs, "robot-1"), hello("robot-1", "letmein")).next()
    refused(garbage, Code.UNAUTHENTICATED, "not a brainstem token")


def test_missing_token_is_unauthenticated(mtls_server, certs, stream):
    reply = stream(mtls_server[1], robot(certs, "robot-1"), hello("robot-1")).next()
    refused(reply, Code.UNAUTHENTICATED, "no token")


def test_other_robots_token_is_permission_denied(mtls_server, certs, stream):
    port = mtls_server[1]
    # robot-1's certificate and Hello with robot-2's (valid) token
    reply = stream(port, robot(certs, "robot-1"), hello("robot-1", token_of(certs, "robot-2"))).next()
    refused(reply, Code.PERMISSION_DENIED, "robot-2", "robot-1")
    # robot-1's certificate claiming to be robot-2 with robot-2's token
    reply = stream(port, robot(certs, "robot-1"), hello("robot-2", token_of(certs, "robot-2"))).next()
    refused(reply, Code.PERMISSION_DENIED, "certificate")


def test_other_robots_token_without_client_certs(tls_server, certs, stream):
    """Server-only TLS: the token names the robot, and the Hello must agree with it."""
    port = tls_server[1]
    reply = stream(port, robot(certs, "robot-1", with_cert=False),
                   hello("robot-1", token_of(certs, "robot-2"))).next()
    refused(reply, Code.PERMISSION_DENIED, "token is for robot 'robot-2'")
    ok = stream(port, robot(certs, "robot-2", with_cert=False),
                hello("robot-2", token_of(certs, "robot-2"))).next()
    assert ok.WhichOneof("kind") == "welcome"


def test_expired_token_is_unauthenticated(mtls_server, certs, stream):
    secret = tokens.load_secret(certs / "token.key")
    old = tokens.issue(secret, "robot-1", ttl_s=60, now=time.time() - 3600)
    reply = stream(mtls_server[1], robot(certs, "robot-1"), hello("robot-1", old)).next()
    refused(reply, Code.UNAUTHENTICATED, "expired")


def test_bearer_header_is_checked_before_any_message(mtls_server, certs, stream):
    """A token in call metadata is refused at once, before a Hello is even read."""
    reply = stream(mtls_server[1], robot(certs, "robot-1"),
                   metadata=(("authorization", "Bearer bst1.bad.token"),)).next()
    refused(reply, Code.UNAUTHENTICATED, "token refused")
    good = (("authorization", f"Bearer {token_of(certs, 'robot-1')}"),)
    ok = stream(mtls_server[1], robot(certs, "robot-1"), hello("robot-1"), metadata=good).next()
    assert ok.WhichOneof("kind") == "welcome"


def test_command_before_hello_is_unauthenticated(mtls_server, certs, stream):
    reply = stream(mtls_server[1], robot(certs, "robot-1"), command("c1")).next()
    refused(reply, Code.UNAUTHENTICATED, "first message must be a Hello")


def test_a_second_hello_for_another_robot_is_refused(tls_server, certs, stream):
    s = stream(tls_server[1], robot(certs, "robot-1", with_cert=False),
               hello("robot-1", token_of(certs, "robot-1")))
    assert s.next().WhichOneof("kind") == "welcome"
    s.send(hello("robot-2", token_of(certs, "robot-2")))
    refused(s.next(), Code.PERMISSION_DENIED, "this stream is robot 'robot-1'")


# ---- input limits (plaintext: the limits hold with or without TLS) -----------------------------------
@pytest.fixture(scope="module")
def limited_server():
    srv, port = serve(0, "rules", config=SessionConfig(max_command_chars=200),
                      limits=Limits(max_message_bytes=4096, command_rate_per_s=0.2, command_burst=2,
                                    message_rate_per_s=5.0, message_burst=30))
    yield srv, port
    srv.stop(grace_s=1.0)


def test_command_rate_limit_answers_error_and_the_stream_lives(limited_server, stream):
    s = stream(limited_server[1], None, hello("busy-robot"))
    assert s.next().WhichOneof("kind") == "welcome"
    s.send(command("c1"), command("c2"), command("c3"))
    errors = []
    while len(errors) < 1:
        m = s.next()
        assert not isinstance(m, grpc.RpcError), m
        if m.WhichOneof("kind") == "error":
            errors.append(m.error)
    assert errors[0].code == pb.Error.RATE_LIMITED and errors[0].command_id == "c3"
    assert "commands" in errors[0].message
    s.send(pb.EdgeMessage(heartbeat=pb.Heartbeat(seq=7)))  # the stream is still up
    while (m := next(s.call)).WhichOneof("kind") != "heartbeat_ack":
        pass
    assert m.heartbeat_ack.seq == 7


def test_message_flood_closes_the_stream_but_keeps_the_session(limited_server, stream):
    port = limited_server[1]
    s = stream(port, None, hello("flood-robot"))
    welcome = s.next().welcome
    s.send(*[pb.EdgeMessage(heartbeat=pb.Heartbeat(seq=i)) for i in range(60)])
    while not isinstance(m := s.next(), grpc.RpcError):
        pass
    refused(m, Code.RESOURCE_EXHAUSTED, "messages/s")
    time.sleep(0.3)  # a polite robot reconnects later and resumes its session
    again = stream(port, None, hello("flood-robot")).next()
    assert again.welcome.session_id == welcome.session_id


def test_oversized_message_is_refused_by_grpc(limited_server, stream):
    s = stream(limited_server[1], None, hello("big-robot"))
    assert s.next().WhichOneof("kind") == "welcome"
    s.send(command("huge", "x" * 8000))
    refused(s.next(), Code.RESOURCE_EXHAUSTED)


def test_long_command_is_too_large_and_the_session_goes_on(limited_server, stream):
    s = stream(limited_server[1], None, hello("chatty-robot"))
    assert s.next().WhichOneof("kind") == "welcome"
    s.send(command("long", "go to the kitchen " * 20))
    err = s.next()
    assert err.error.code == pb.Error.TOO_LARGE and "limit is 200" in err.error.message
    s.send(command("short", "go to the kitchen"))
    assert s.next().WhichOneof("kind") in ("step", "done")
