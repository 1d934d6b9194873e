"""`cloud_link` node: the robot's gRPC session with the cloud brain, as ROS topics.

Wires `brainstem/command` (std_msgs/String) -> Command (with the robot's current world
snapshot), cloud messages -> `brainstem/plan_events`, `brainstem/step_outcomes` -> StepOutcome.
The link itself (reconnects, heartbeats, resume) is edge_nerve.link.client.CloudClient.

    .venv/bin/python -m edge_nerve.nodes.cloud_link --ros-args -p cloud_address:=127.0.0.1:50051
    ... -p cloud_address:=cloud.example:50051 -p robot_id:=robot-1 -p tls_dir:=certs   (mutual TLS + token)
"""

from __future__ import annotations

import json
import queue
import time

from nav_msgs.msg import Odometry
from rclpy.node import Node
from std_msgs.msg import String

from brainstem_interfaces.msg import ObjectStates, PlanEvent, StepOutcome
from cloud_brain.wire import kind_of, snapshot_from_proto
from cloud_brain.security.tls import read_token, robot_credentials
from edge_nerve.link.client import DELIVERIES, ClientConfig, CloudClient
from edge_nerve.nodes.common import (LATCHED_QOS, PLAN_QOS, SENSOR_QOS, Topics, declare, declare_world,
                                     objects_from_msg, pose_from_odometry, spin_node)
from edge_nerve.world_tracker import WorldTracker

LINK_STATE = Topics.LINK_STATE  # kept for importers; the name lives in common.Topics


class CloudLinkNode(Node):
    def __init__(self):
        super().__init__("cloud_link")
        self.tracker = WorldTracker(declare_world(self))
        address = declare(self, "cloud_address", "127.0.0.1:50051", "host:port of the CloudBrain service")
        robot_id = declare(self, "robot_id", "robot-1", "this robot's id in the cloud session")
        config = ClientConfig(heartbeat_s=declare(self, "heartbeat_s", 1.0, "heartbeat interval"),
                              auth_token=read_token(declare(self, "auth_token", "",
                                                            "token sent in Hello, or @FILE")))
        tls_dir = declare(self, "tls_dir", "", "a `brainstem certs` directory: TLS to the cloud (mutual "
                                               "with robots/<robot_id>.pem) and the token in it; '' = plaintext")
        server_name = declare(self, "server_name", "", "the name in the cloud's certificate, if not "
                                                       "cloud_address's host")
        if tls_dir:
            config.tls, token = robot_credentials(tls_dir, robot_id, server_name)
            config.auth_token = config.auth_token or token
        self.events = self.create_publisher(PlanEvent, Topics.PLAN_EVENTS, PLAN_QOS)
        self.link_pub = self.create_publisher(String, LINK_STATE, LATCHED_QOS)
        self.create_subscription(String, Topics.COMMAND, self.command_callback, PLAN_QOS)
        self.create_subscription(StepOutcome, Topics.STEP_OUTCOMES, self.outcome_callback, PLAN_QOS)
        self.create_subscription(Odometry, Topics.ODOM, self.odom_callback, SENSOR_QOS)
        self.create_subscription(ObjectStates, Topics.OBJECT_STATES, self.objects_callback, SENSOR_QOS)
        self.state_wait_s = declare(self, "state_wait_s", 5.0, "how long a command waits for the first world state")
        self.plan_delivery = declare(self, "plan_delivery", "prefetch",
                                     f"how the cloud hands out plan steps: {', '.join(DELIVERIES)}")
        if self.plan_delivery not in DELIVERIES:
            raise ValueError(f"plan_delivery '{self.plan_delivery}' is not one of {', '.join(DELIVERIES)}")
        self.pending_commands: list[tuple[str, float]] = []  # (text, received), oldest first
        self.inbox: queue.SimpleQueue = queue.SimpleQueue()  # cloud messages from the link thread
        self.link_up: bool | None = None
        self.client = CloudClient(address, robot_id, self.snapshot, self.inbox.put, config=config)
        self.client.start(timeout_s=0.0)  # connects in the background; state is reported below
        self.create_timer(0.01, self.timer_callback)
        self.get_logger().info(f"cloud link to {address} as '{robot_id}' "
                               f"({'TLS' if config.tls else 'plaintext'}{', token' if config.auth_token else ''})")

    def snapshot(self) -> dict | None:
        state = self.tracker.state()
        return state.to_snapshot() if state is not None else None

    # ---- ROS -> cloud -------------------------------------------------------------------------
    def odom_callback(self, msg: Odometry) -> None:
        self.tracker.update_odometry(*pose_from_odometry(msg))

    def objects_callback(self, msg: ObjectStates) -> None:
        self.tracker.update_objects(objects_from_msg(msg), msg.holding, msg.delivered, msg.docked)

    def command_callback(self, msg: String) -> None:
        """A command is planned from the robot's own world state, so it waits for the first one."""
        self.pending_commands.append((msg.data, time.monotonic()))
        self._send_pending()

    def _send_pending(self) -> None:
        while self.pending_commands:
            text, since = self.pending_commands[0]
            snapshot = self.snapshot()
            if snapshot is None and time.monotonic() - since < self.state_wait_s:
                return  # sensors not heard from yet; retried by the timer
            self.pending_commands.pop(0)
            if snapshot is None:
                self.get_logger().warning(f"no world state after {self.state_wait_s:.0f} s; "
                                          "the cloud plans from its last known state")
            try:
                cid = self.client.send_command(text, snapshot, delivery=self.plan_delivery)
                self.get_logger().info(f"command {cid}: {text!r}")
            except ConnectionError as e:
                self.get_logger().error(str(e))
                self._publish(PlanEvent(kind=PlanEvent.KIND_ERROR, text=str(e)))

    def outcome_callback(self, o: StepOutcome) -> None:
        self.client.send_outcome(o.step_id, o.plan_id, o.index, o.success, o.message,
                                 self.snapshot(), o.duration_s, rejected=o.rejected)

    # ---- cloud -> ROS -------------------------------------------------------------------------
    def timer_callback(self) -> None:
        self._send_pending()
        up = self.client.connected
        if up != self.link_up:
            self.link_up = up
            self.link_pub.publish(String(data="up" if up else "down"))
            self._publish(PlanEvent(kind=PlanEvent.KIND_LINK, text="up" if up else "down"))
            self.get_logger().info(f"cloud link {'up' if up else 'down'}")
        while True:
            try:
                msg = self.inbox.get_nowait()
            except queue.Empty:
                return
            ev = self.to_event(msg)
            if ev is not None:
                self._publish(ev)

    def _publish(self, ev: PlanEvent) -> None:
        ev.stamp = self.get_clock().now().to_msg()
        self.events.publish(ev)

    @staticmethod
    def to_event(msg) -> PlanEvent | None:
        kind = kind_of(msg)
        if kind == "step":
            s = msg.step
            return PlanEvent(kind=PlanEvent.KIND_STEP, command_id=s.command_id, plan_id=s.plan_id,
                             revision=s.revision, index=s.index, step_id=s.step_id, skill=s.skill.name,
                             args=list(s.skill.args), speculative=s.speculative,
                             lease_deadline_s=s.lease_deadline_s, decode_ms=s.decode_ms,
                             predicted_pre=json.dumps(snapshot_from_proto(s.predicted_pre))
                             if s.HasField("predicted_pre") else "")
        if kind == "commit":
            return PlanEvent(kind=PlanEvent.KIND_COMMIT, plan_id=msg.commit.plan_id,
                             revision=msg.commit.revision, index=msg.commit.upto_index)
        if kind == "rollback":
            r = msg.rollback
            return PlanEvent(kind=PlanEvent.KIND_ROLLBACK, plan_id=r.plan_id, index=r.from_index,
                             revision=r.new_revision, text=r.reason)
        if kind == "done":
            d = msg.done
            return PlanEvent(kind=PlanEvent.KIND_DONE, plan_id=d.plan_id, revision=d.revision,
                             command_id=d.command_id, index=d.num_steps, decode_ms=d.plan_ms)
        if kind == "refusal":
            r = msg.refusal
            return PlanEvent(kind=PlanEvent.KIND_REFUSAL, command_id=r.command_id, plan_id=r.plan_id,
                             text=r.reason)
        if kind == "error":
            e = msg.error
            return PlanEvent(kind=PlanEvent.KIND_ERROR, command_id=e.command_id, text=e.message)
        return None  # welcome, heartbeat acks: link bookkeeping only

    def destroy_node(self):
        self.client.stop()
        super().destroy_node()


def main(args=None):
    spin_node(CloudLinkNode, args)


if __name__ == "__main__":
    main()
