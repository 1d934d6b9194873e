"""The user's side of a mission, as a ROS node: send a command, follow the plan, see the world.

Why a node: the demo and the integration tests talk to the robot exactly as any ROS tool
would (topics only), and judge the result from the simulated world's own state.
"""

from __future__ import annotations

import queue
import threading
import time
from dataclasses import dataclass, field

import rclpy
from nav_msgs.msg import Odometry
from rclpy.action import ActionClient
from rclpy.executors import SingleThreadedExecutor
from rclpy.node import Node
from std_msgs.msg import Bool, String
from std_srvs.srv import Trigger

from brainstem_interfaces.action import ExecuteSkill
from brainstem_interfaces.msg import ObjectStates, PlanEvent, StepOutcome
from cloud_brain.domain.description import WorldDescription
from cloud_brain.domain.plan import Step
from cloud_brain.domain.state import WorldState
from edge_nerve.nodes.cloud_link import LINK_STATE
from edge_nerve.nodes.common import (LATCHED_QOS, PLAN_QOS, SENSOR_QOS, Topics, objects_from_msg,
                                     pose_from_odometry)
from edge_nerve.world_tracker import WorldTracker

REPLAN_WAIT_S = 15.0  # after a failed step, how long to wait for the cloud's rollback + replan


@dataclass
class Trace:
    records: list = field(default_factory=list)  # StepRecord, in arrival order
    planned: list[Step] = field(default_factory=list)  # the current revision's steps
    first_plan: list[Step] = field(default_factory=list)  # what the cloud first promised
    executed: list[Step] = field(default_factory=list)  # steps that ran successfully, in order
    refusal: str | None = None
    error: str | None = None
    events: list = field(default_factory=list)  # (x, y, label) where each step ended, for the map
    heard: dict | None = None  # the voice node's transcript record, when the command was spoken
    first_step_ms: float | None = None
    plan_ms: float | None = None
    total_s: float = 0.0


class MissionNode:
    def __init__(self, desc: WorldDescription, voice: bool = False):
        if not rclpy.ok():
            rclpy.init()
        self.node = Node("mission")
        self.tracker = WorldTracker(desc)
        self.link = None
        self.inbox: queue.Queue = queue.Queue()
        n = self.node
        self.command_pub = n.create_publisher(String, Topics.COMMAND, PLAN_QOS)
        self.events_sub = n.create_subscription(PlanEvent, Topics.PLAN_EVENTS, lambda m: self.inbox.put(m), PLAN_QOS)
        self.outcomes_sub = n.create_subscription(StepOutcome, Topics.STEP_OUTCOMES, lambda m: self.inbox.put(m),
                                                  PLAN_QOS)
        n.create_subscription(String, LINK_STATE, self._link_callback, LATCHED_QOS)
        self.executor_ready = False
        n.create_subscription(Bool, Topics.EXECUTOR_READY, self._executor_ready_callback, LATCHED_QOS)
        n.create_subscription(Odometry, Topics.ODOM, self._odom_callback, SENSOR_QOS)
        self.path: list[tuple[float, float]] = []  # the robot's track, for the map of the run
        self.render_client = n.create_client(Trigger, "sim/render")
        n.create_subscription(ObjectStates, Topics.OBJECT_STATES, lambda m: self.tracker.update_objects(
            objects_from_msg(m), m.holding, m.delivered, m.docked), SENSOR_QOS)
        self.skills = ActionClient(n, ExecuteSkill, Topics.EXECUTE_SKILL)
        self.voice = voice
        self.voice_state = None
        self.transcripts: queue.Queue = queue.Queue()
        if voice:
            from edge_nerve.nodes.voice import TRANSCRIPT, VOICE_STATE, WAV_REQUEST
            self.wav_pub = n.create_publisher(String, WAV_REQUEST, PLAN_QOS)
            n.create_subscription(String, TRANSCRIPT, lambda m: self.transcripts.put(m.data), PLAN_QOS)
            n.create_subscription(String, VOICE_STATE, self._voice_state_callback, LATCHED_QOS)
        self.executor = SingleThreadedExecutor()
        self.executor.add_node(n)
        self.thread = threading.Thread(target=self._spin, name="mission-spin", daemon=True)
        self.thread.start()

    def _spin(self) -> None:
        try:
            self.executor.spin()
        except Exception:  # shutdown races end the spin
            pass

    def _voice_state_callback(self, msg: String) -> None:
        self.voice_state = msg.data

    def _odom_callback(self, msg: Odometry) -> None:
        x, y, yaw = pose_from_odometry(msg)
        self.tracker.update_odometry(x, y, yaw)
        if not self.path or (x - self.path[-1][0]) ** 2 + (y - self.path[-1][1]) ** 2 > 0.02 ** 2:
            self.path.append((x, y))

    def render(self, timeout_s: float = 20.0) -> list[str]:
        """Ask the sim for pictures of the scene now; their paths ([] when it cannot render)."""
        if not self.render_client.service_is_ready():
            return []
        future = self.render_client.call_async(Trigger.Request())
        deadline = time.monotonic() + timeout_s
        while not future.done() and time.monotonic() < deadline:
            time.sleep(0.05)
        res = future.result() if future.done() else None
        return res.message.split() if res is not None and res.success else []

    def _link_callback(self, msg: String) -> None:
        self.link = msg.data

    def _executor_ready_callback(self, msg: Bool) -> None:
        self.executor_ready = self.executor_ready or msg.data

    def world_state(self) -> WorldState | None:
        return self.tracker.state()

    def wait_ready(self, timeout_s: float, check_alive, recorder: bool = False) -> None:
        """Until the link is up, sensors flow and every consumer of our topics has subscribed
        (with `recorder`, the MCAP recorder too: the command is published once)."""
        deadline = time.monotonic() + timeout_s
        while True:
            check_alive()
            waiting = []
            if self.link != "up":
                waiting.append("cloud link")
            if not self.tracker.ready:
                waiting.append("sim state")
            if not self.skills.server_is_ready():
                waiting.append("skill runner")
            if self.command_pub.get_subscription_count() < 1:  # matched, not just discovered
                waiting.append("cloud_link subscription")
            if self.events_sub.get_publisher_count() < 1 or self.outcomes_sub.get_publisher_count() < 1:
                waiting.append("plan events and step outcomes")  # volatile: sent before the match is lost
            if not self.executor_ready:  # its own word that it is matched (a recorder must not stand in)
                waiting.append("plan_executor subscription")
            if recorder and "recorder" not in {i.node_name for i in self.node.get_subscriptions_info_by_topic(
                    self.command_pub.topic_name)}:
                waiting.append("recorder subscription")
            if self.voice and (self.voice_state != "ready" or self.node.count_subscribers(
                    self.wav_pub.topic_name) < 1):
                if self.voice_state and self.voice_state.startswith("error"):
                    raise RuntimeError(f"voice node: {self.voice_state}")
                waiting.append("voice node")
            if not waiting:
                time.sleep(0.5)  # seen in the graph; give DDS a moment to match the endpoints
                return
            if time.monotonic() > deadline:
                raise TimeoutError(f"system not ready after {timeout_s:.0f}s; waiting for: {', '.join(waiting)}")
            time.sleep(0.1)

    def listen(self, wav: str, timeout_s: float, check_alive) -> dict:
        """Ask the voice node to listen to a WAV file; its transcript record (see nodes/voice)."""
        import json
        while not self.transcripts.empty():
            self.transcripts.get_nowait()
        self.wav_pub.publish(String(data=str(wav)))
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            check_alive()
            try:
                return json.loads(self.transcripts.get(timeout=0.1))
            except queue.Empty:
                continue
        raise TimeoutError(f"the voice node gave no transcript for {wav} in {timeout_s:.0f}s")

    def run_command(self, text: str, timeout_s: float, check_alive, echo, wav: str | None = None) -> Trace:
        from edge_nerve.bringup.demo import StepRecord

        while not self.inbox.empty():  # events of earlier missions
            self.inbox.get_nowait()
        tr = Trace()
        t0 = time.monotonic()
        if wav is not None:  # spoken: the voice node publishes the command (or asks to repeat)
            tr.heard = self.listen(wav, 60.0, check_alive)
            echo(f"  {time.monotonic() - t0:7.2f}s  heard {tr.heard['text']!r} (confidence "
                 f"{tr.heard['confidence']:.2f}, decoded in {tr.heard['decode_ms']:.0f} ms)"
                 + ("" if tr.heard["published"] else ": asked to repeat"))
            if not tr.heard["published"]:
                from edge_nerve.nodes.voice import REPEAT
                tr.refusal = REPEAT  # the robot did not act: judged like a refusal
                tr.total_s = time.monotonic() - t0
                return tr
        else:
            self.command_pub.publish(String(data=text))
        command_id = None
        plan: dict[int, Step] = {}
        records: dict[str, StepRecord] = {}  # step_id -> record
        ok_steps: dict[int, Step] = {}
        num_steps = None
        failed_at = None
        withdrawn: set[str] = set()  # step ids a rollback replaced
        deadline = t0 + timeout_s
        while True:
            now = time.monotonic()
            if num_steps is not None and len(ok_steps) >= num_steps and all(i in ok_steps for i in range(num_steps)):
                break
            if failed_at is not None and now - failed_at > REPLAN_WAIT_S:
                tr.error = tr.error or "a step failed and the cloud sent no new plan"
                break
            if now > deadline:
                tr.error = f"mission timed out after {timeout_s:.0f}s"
                break
            check_alive()
            try:
                m = self.inbox.get(timeout=0.1)
            except queue.Empty:
                continue
            t = time.monotonic() - t0
            if isinstance(m, StepOutcome):
                if command_id is not None and m.command_id != command_id:
                    continue
                rec = records.get(m.step_id)
                verdict = "rejected" if m.rejected else ("done" if m.success else "FAILED")
                if rec is not None:
                    rec.finished_s, rec.duration_s, rec.verdict, rec.message = t, m.duration_s, verdict, m.message
                echo(f"  {t:7.2f}s  step {m.index}  {Step(m.skill, tuple(m.args))!s:<34} {verdict} "
                     f"in {m.duration_s:5.2f}s" + (f"  ({m.message})" if m.message and not m.success else ""))
                if m.success:
                    ok_steps[m.index] = Step(m.skill, tuple(m.args))
                    tr.executed.append(ok_steps[m.index])
                    if self.tracker.robot_pose is not None:
                        x, y, _ = self.tracker.robot_pose
                        tr.events.append((x, y, str(ok_steps[m.index])))
                elif m.step_id in withdrawn:
                    pass  # the cloud's rollback for this failure arrived first; its replan is under way
                else:
                    failed_at = time.monotonic()
                    tr.error = f"step {m.index} {verdict}: {m.message}"
                continue
            kind = m.kind
            if kind == PlanEvent.KIND_LINK:
                echo(f"  {t:7.2f}s  cloud link {m.text}")
                continue
            if command_id is None and m.command_id:
                command_id = m.command_id
            if m.command_id and m.command_id != command_id:
                continue
            if kind == PlanEvent.KIND_STEP:
                step = Step(m.skill, tuple(m.args))
                plan[m.index] = step
                rec = StepRecord(m.index, str(step), t, m.speculative, m.decode_ms)
                records[m.step_id] = rec
                tr.records.append(rec)
                if tr.first_step_ms is None:
                    tr.first_step_ms = round(t * 1e3, 2)
                echo(f"  {t:7.2f}s  step {m.index}  {step!s:<34} received"
                     + (" (speculative)" if m.speculative else "") + f"  [decoded in {m.decode_ms:.1f} ms]")
            elif kind == PlanEvent.KIND_DONE:
                if not tr.first_plan:
                    tr.first_plan = [plan[i] for i in sorted(plan)]
                num_steps = m.index
                tr.plan_ms = round(m.decode_ms, 2)
                echo(f"  {t:7.2f}s  plan complete: {num_steps} steps, planned in {m.decode_ms:.1f} ms")
            elif kind == PlanEvent.KIND_ROLLBACK:
                echo(f"  {t:7.2f}s  rollback from step {m.index} (revision {m.revision}): {m.text}")
                withdrawn.update(sid for sid, r in records.items() if r.index >= m.index)
                for i in [i for i in plan if i >= m.index]:
                    del plan[i]
                for i in [i for i in ok_steps if i >= m.index]:
                    del ok_steps[i]
                num_steps, failed_at, tr.error = None, None, None
            elif kind == PlanEvent.KIND_REFUSAL:
                tr.refusal = m.text
                echo(f"  {t:7.2f}s  refused: {m.text}")
                if tr.records:  # steps were planned and tried: this is the cloud giving up
                    tr.error = f"the cloud gave up after steps failed: {m.text}"
                break
            elif kind == PlanEvent.KIND_ERROR:
                echo(f"  {t:7.2f}s  error: {m.text}")
                if m.command_id:  # about our command; others (e.g. a stray outcome) are only shown
                    tr.error = f"cloud error: {m.text}"
                    break
        tr.planned = [plan[i] for i in sorted(plan)]
        tr.total_s = time.monotonic() - t0
        time.sleep(0.3)  # let the last sensor messages arrive before the goal check
        return tr

    def close(self) -> None:
        self.executor.shutdown(timeout_sec=1.0)
        self.thread.join(2.0)  # out of the wait set before its node is destroyed
        self.node.destroy_node()
        if rclpy.ok():
            rclpy.try_shutdown()
