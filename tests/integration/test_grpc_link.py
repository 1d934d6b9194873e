"""The cloud link end to end: a real CloudBrain server (in-process and as its own process), the
real CloudClient, raw bytes on the wire, health checking and reflection.

    python -m pytest -q tests/integration/test_grpc_link.py
"""

from __future__ import annotations

import os
import queue
import signal
import subprocess
import sys
import time
from pathlib import Path

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

from cloud_brain.localproc import free_port
from cloud_brain.wire import PROTOCOL_VERSION, SERVICE_NAME, SESSION_METHOD, pb

pytest.importorskip("cloud_brain.planner.base", reason="rules planner not merged yet")
pytestmark = pytest.mark.integration

from cloud_brain.server.service import serve  # noqa: E402
from edge_nerve.link.client import ClientConfig, CloudClient  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
FAST = ClientConfig(connect_timeout_s=3.0, heartbeat_s=0.2, backoff_initial_s=0.05,
                    backoff_max_s=0.5)


class Inbox:
    """on_message for a CloudClient: a queue the test waits on (heartbeat acks set aside)."""

    def __init__(self):
        self.q: queue.Queue = queue.Queue()
        self.acks = 0

    def __call__(self, msg):
        if msg.WhichOneof("kind") == "heartbeat_ack":
            self.acks += 1
        else:
            self.q.put(msg)

    def until(self, *kinds: str, timeout_s: float = 5.0) -> list:
        """Messages up to and including the first of `kinds`."""
        out, deadline = [], time.monotonic() + timeout_s
        while True:
            msg = self.q.get(timeout=max(0.01, deadline - time.monotonic()))
            out.append(msg)
            if msg.WhichOneof("kind") in kinds:
                return out


@pytest.fixture(scope="module")
def server():
    srv, port = serve(0, "rules")
    yield srv, port
    srv.stop(grace_s=1.0)


@pytest.fixture
def connect():
    clients = []

    def make(port: int, robot_id: str, world_fn=lambda: None):
        inbox = Inbox()
        client = CloudClient(f"127.0.0.1:{port}", robot_id, world_fn, inbox, config=FAST)
        clients.append(client)
        return client, inbox

    yield make
    for c in clients:
        c.stop(timeout_s=2.0)


def kinds(msgs) -> list[str]:
    return [m.WhichOneof("kind") for m in msgs]


def plan_of(inbox: Inbox, timeout_s: float = 5.0):
    msgs = inbox.until("done", "refusal", "error", timeout_s=timeout_s)
    assert kinds(msgs)[-1] == "done", msgs
    return [m.step for m in msgs[:-1]], msgs[-1].done


def test_red_cup_streams_steps_then_done(server, connect):
    _, port = server
    client, inbox = connect(port, "robot-red-cup")
    assert client.start() and client.connected
    assert kinds(inbox.until("welcome")) == ["welcome"]
    cid = client.send_command("bring me the red cup")
    steps, done = plan_of(inbox)
    assert [s.index for s in steps] == list(range(len(steps))) and len(steps) >= 3
    assert {s.command_id for s in steps} == {cid} and done.command_id == cid
    assert steps[-1].skill.name == "give" and steps[-1].skill.args == ["red_cup"]
    assert done.num_steps == len(steps)


def test_unknown_object_is_refused(server, connect):
    _, port = server
    client, inbox = connect(port, "robot-unicorn")
    assert client.start()
    inbox.until("welcome")
    cid = client.send_command("bring me the purple unicorn")
    msgs = inbox.until("refusal", "done", "error")
    assert kinds(msgs) == ["refusal"]
    assert msgs[0].refusal.reason and msgs[0].refusal.command_id == cid


def test_failed_outcome_rolls_back_and_replans(server, connect):
    _, port = server
    client, inbox = connect(port, "robot-rollback")
    assert client.start()
    inbox.until("welcome")
    client.send_command("bring me the red cup")
    steps, _ = plan_of(inbox)
    s0, s1 = steps[0], steps[1]
    client.send_outcome(s0.step_id, s0.plan_id, s0.index, True)
    assert inbox.until("commit")[-1].commit.upto_index == 0
    client.send_outcome(s1.step_id, s1.plan_id, s1.index, False, message="gripper slipped")
    msgs = inbox.until("done", "refusal")
    assert kinds(msgs)[0] == "rollback" and kinds(msgs)[-1] == "done"
    rb = msgs[0].rollback
    assert (rb.from_index, rb.new_revision, rb.reason) == (1, 1, "gripper slipped")
    new = [m.step for m in msgs[1:-1]]
    assert new and all(s.revision == 1 for s in new) and new[0].index == 1
    assert msgs[-1].done.revision == 1


def test_malformed_bytes_do_not_end_the_stream(server):
    _, port = server
    with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
        grpc.channel_ready_future(channel).result(timeout=5)
        session = channel.stream_stream(SESSION_METHOD, request_serializer=lambda b: b,
                                        response_deserializer=pb.CloudMessage.FromString)
        requests: queue.Queue = queue.Queue()

        def request_iter():
            while (item := requests.get()) is not None:
                yield item

        responses = session(request_iter(), timeout=10)
        requests.put(pb.EdgeMessage(hello=pb.Hello(
            protocol_version=PROTOCOL_VERSION, robot_id="robot-raw")).SerializeToString())
        assert next(responses).WhichOneof("kind") == "welcome"
        requests.put(b"\xff\xfe\x00 this is not protobuf \x07")
        err = next(responses)
        assert err.WhichOneof("kind") == "error" and err.error.code == pb.Error.MALFORMED
        requests.put(pb.EdgeMessage(command=pb.Command(
            command_id="after-garbage", text="bring me the red cup")).SerializeToString())
        msgs = [next(responses)]
        while msgs[-1].WhichOneof("kind") not in ("done", "refusal", "error"):
            msgs.append(next(responses))
        assert kinds(msgs)[-1] == "done" and kinds(msgs)[0] == "step"
        assert msgs[-1].done.command_id == "after-garbage"
        requests.put(None)  # half-close: the server ends the stream with OK
        assert list(responses) == []
        assert responses.code() == grpc.StatusCode.OK


def test_health_check_serving(server):
    _, port = server
    with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
        stub = health_pb2_grpc.HealthStub(channel)
        for name in ("", SERVICE_NAME):
            reply = stub.Check(health_pb2.HealthCheckRequest(service=name), timeout=3)
            assert reply.status == health_pb2.HealthCheckResponse.SERVING


def test_reflection_lists_the_service(server):
    _, port = server
    with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
        stub = reflection_pb2_grpc.ServerReflectionStub(channel)
        replies = stub.ServerReflectionInfo(
            iter([reflection_pb2.ServerReflectionRequest(list_services="")]), timeout=3)
        names = {s.name for r in replies for s in r.list_services_response.service}
    assert SERVICE_NAME in names and "grpc.health.v1.Health" in names


def test_client_reconnects_after_server_restart(connect):
    srv, port = serve(0, "rules")
    try:
        client, inbox = connect(port, "robot-restart")
        assert client.start()
        inbox.until("welcome")
        client.send_command("bring me the red cup")
        steps, _ = plan_of(inbox)
        client.send_outcome(steps[0].step_id, steps[0].plan_id, 0, True)
        inbox.until("commit")
        first_session = client.session_id

        srv.stop(grace_s=0.5)
        deadline = time.monotonic() + 3
        while client.connected and time.monotonic() < deadline:
            time.sleep(0.02)
        assert not client.connected
        with pytest.raises(ConnectionError):
            client.send_command("go to the kitchen")

        srv, _ = serve(port, "rules")
        assert client.wait_connected(5.0)
        assert client.reconnects >= 1 and client.session_id != first_session
        # the new Hello carried the resume point
        resumed = srv.service._sessions["robot-restart"]
        assert resumed.last_acked_step_id == steps[0].step_id
        inbox.until("welcome")
        client.send_command("bring me the red cup")
        plan_of(inbox)
    finally:
        srv.stop(grace_s=0.5)


def test_server_as_its_own_process(connect):
    port = free_port()
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(
        [str(ROOT), *filter(None, [os.environ.get("PYTHONPATH")])])}
    proc = subprocess.Popen([sys.executable, "-m", "cloud_brain.server.service", "--port", str(port),
                             "--log-level", "WARNING"], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
            ready = grpc.channel_ready_future(channel)
            deadline = time.monotonic() + 15
            while not ready.done():
                assert proc.poll() is None, f"server exited early:\n{proc.communicate()[1]}"
                assert time.monotonic() < deadline, "server did not come up within 15 s"
                time.sleep(0.05)
            reply = health_pb2_grpc.HealthStub(channel).Check(
                health_pb2.HealthCheckRequest(service=SERVICE_NAME), timeout=3)
            assert reply.status == health_pb2.HealthCheckResponse.SERVING
        client, inbox = connect(port, "robot-subprocess")
        assert client.start()
        inbox.until("welcome")
        client.send_command("bring me the red cup")
        steps, done = plan_of(inbox)
        assert done.num_steps == len(steps) > 0
        client.stop()
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=10) == 0, proc.stderr.read()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=5)
