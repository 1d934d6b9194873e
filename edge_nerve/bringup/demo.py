"""The end-to-end mission: cloud service, edge nodes and MuJoCo sim as separate processes.

Starts the CloudBrain gRPC service and every edge node (edge_nerve.bringup.graph), sends one
natural-language command on `brainstem/command` like a user would, prints each plan step with
its timing as it streams in and runs, then checks the goal against the simulated world (not
against the plan): the mission passes only if the goal holds in physics.

    .venv/bin/brainstem demo --command "bring me the red cup"
"""

from __future__ import annotations

import json
import logging
import os
import socket
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from cloud_brain.domain.description import load_world
from cloud_brain.domain.goals import explain_unmet, goal_error, holds, is_refusal
from cloud_brain.domain.plan import Step, execute
from cloud_brain.domain.state import USER, WorldState
from cloud_brain.planner.base import ALREADY_DONE, DEFAULT_BACKEND
from edge_nerve.bringup.graph import ProcessGroup, edge_graph, reserve_ros_domain, write_params

log = logging.getLogger(__name__)
ROOT = Path(__file__).resolve().parents[2]
DEFAULT_COMMAND = "bring me the red cup"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def expected_goals(steps: list[Step], initial: WorldState) -> list[list[str]]:
    """What the plan promises, as goal predicates (used when the user gives no goal)."""
    if is_refusal(steps):
        return [["refused"]]
    final = execute(steps, initial)
    goals: list[list[str]] = []
    before = initial.object_map
    for obj, where in final.objects:
        if where != before[obj]:
            goals.append(["delivered", obj] if where == USER else ["on", obj, where])
    if any(s.skill == "navigate" for s in steps) and not final.holding:
        goals.append(["robot_in", final.robot_room])
    if final.docked:
        goals.append(["docked"])
    return goals


@dataclass
class StepRecord:
    index: int
    text: str
    received_s: float
    speculative: bool = False
    decode_ms: float = 0.0
    finished_s: float | None = None
    duration_s: float = 0.0
    verdict: str = ""
    message: str = ""


@dataclass
class MissionResult:
    ok: bool
    command: str
    goals: list
    reason: str
    steps: list[StepRecord] = field(default_factory=list)
    refusal: str | None = None
    first_step_ms: float | None = None
    plan_ms: float | None = None
    total_s: float = 0.0
    run_dir: str = ""
    pictures: list[str] = field(default_factory=list)  # scene renders before/after, the map

    def to_json(self) -> dict:
        return {"ok": self.ok, "command": self.command, "goals": self.goals, "reason": self.reason,
                "refusal": self.refusal, "first_step_ms": self.first_step_ms, "plan_ms": self.plan_ms,
                "total_s": round(self.total_s, 3), "run_dir": self.run_dir, "pictures": self.pictures,
                "steps": [{"index": s.index, "step": s.text, "received_s": round(s.received_s, 3),
                           "finished_s": None if s.finished_s is None else round(s.finished_s, 3),
                           "duration_s": round(s.duration_s, 3), "verdict": s.verdict,
                           "message": s.message} for s in self.steps]}


class Mission:
    """Brings the system up, runs commands, brings it down. Use as a context manager."""

    def __init__(self, *, world_file: str = "", world_overrides: dict | None = None,
                 real_time_factor: float = 2.0, run_dir: Path | None = None, planner: str = DEFAULT_BACKEND,
                 echo=print, startup_timeout_s: float = 60.0, voice: bool = False, speaker: str = "",
                 render_pictures: bool = True, record: bool = False, skills: str = "auto"):
        self.world_file = world_file
        self.overrides = world_overrides or {}
        self.desc = load_world(world_file or None).with_overrides(self.overrides)
        self.rtf = real_time_factor
        self.run_dir = Path(run_dir or ROOT / "runs" / time.strftime("%Y%m%d-%H%M%S"))
        self.planner = planner
        self.skills = skills  # skill_runner: "auto", the ONNX "student" or the "teacher" experts
        self.echo = echo
        self.startup_timeout_s = startup_timeout_s
        self.voice = voice  # run the voice node: commands may then be spoken (run(wav=...))
        self.speaker = str(speaker or "")  # the voice node hears through this enrolled speaker
        if self.speaker:  # a bad folder is a clear error now, not a voice node that never starts
            from edge_nerve.voice.adapt import speaker_options
            speaker_options(self.speaker)
        self.procs: ProcessGroup | None = None
        self.render_pictures = render_pictures
        self.record = record  # an MCAP of the control topics and plan events in run_dir
        self.maps = 0
        self.node = None

    # ---- bring-up -----------------------------------------------------------------------------
    def __enter__(self):
        self.run_dir.mkdir(parents=True, exist_ok=True)
        env = dict(os.environ)
        self._domain_lock = None
        if "ROS_DOMAIN_ID" not in env:  # keep concurrent runs (tests, other demos) apart
            domain, self._domain_lock = reserve_ros_domain()
            env["ROS_DOMAIN_ID"] = os.environ["ROS_DOMAIN_ID"] = str(domain)
        env.setdefault("MUJOCO_GL", "osmesa")  # the sim renders pictures offscreen
        self.procs = ProcessGroup(self.run_dir / "logs", env)
        try:
            self._start()
        except BaseException:
            self.__exit__(None, None, None)
            raise
        return self

    def _start(self) -> None:
        t0 = time.monotonic()
        port = free_port()
        cloud = [sys.executable, "-m", "cloud_brain.server.service", "--port", str(port),
                 "--planner", self.planner]
        if self.world_file:
            cloud += ["--world", self.world_file]
        self.procs.start("cloud", cloud)
        self.pictures = self.run_dir / "pictures"
        self.pictures.mkdir(parents=True, exist_ok=True)
        nodes = edge_graph(world_file=self.world_file, world_overrides=self.overrides,
                           cloud_address=f"127.0.0.1:{port}", real_time_factor=self.rtf, skills=self.skills,
                           voice=self.voice, voice_speaker=self.speaker, render_dir=str(self.pictures),
                           record=str(self.run_dir / "mission.mcap") if self.record else "")
        self.procs.start_nodes(nodes, write_params(nodes, self.run_dir / "params.yaml"))
        from edge_nerve.bringup.mission_node import MissionNode
        self.node = MissionNode(self.desc, voice=self.voice)
        self.node.wait_ready(self.startup_timeout_s, self._check_alive, recorder=self.record)
        self.echo(f"brainstem up in {time.monotonic() - t0:.1f}s: cloud on 127.0.0.1:{port}, "
                  f"{len(nodes)} edge processes, ROS_DOMAIN_ID={os.environ['ROS_DOMAIN_ID']}, "
                  f"logs in {self.run_dir / 'logs'}")

    def _check_alive(self) -> None:
        dead = self.procs.dead()
        if dead:
            name, rc = next(iter(dead.items()))
            raise RuntimeError(f"process '{name}' exited with code {rc}:\n{self.procs.log_tail(name)}")

    def __exit__(self, *exc):
        if self.node is not None:
            self.node.close()
            self.node = None
        if self.procs is not None:
            self.procs.stop()  # the recorder finishes its file on SIGINT
            mcap = self.run_dir / "mission.mcap"
            if self.record and mcap.exists():
                self.echo(f"recording: {mcap}  (brainstem report {mcap})")
        if getattr(self, "_domain_lock", None) is not None:  # the domain was ours: give it back
            os.environ.pop("ROS_DOMAIN_ID", None)
            self._domain_lock.close()
            self._domain_lock = None

    # ---- one command --------------------------------------------------------------------------
    def _draw_map(self, path, events) -> list[str]:
        """A top-down map of this mission: rooms, furniture, objects, the robot's track, the steps."""
        from sim.render import draw_map

        self.maps += 1
        out = self.pictures / f"map-{self.maps:02d}.png"
        try:
            objects = {n: p[:2] for n, p in self.node.tracker.object_poses.items()}  # where they are now
            draw_map(self.desc, path, out, events=events, object_xy=objects)
        except (OSError, ValueError) as e:
            log.warning("map not drawn: %s", e)
            return []
        return [str(out)]

    def run(self, command: str | None, goals: list | None = None, timeout_s: float = 300.0,
            wav: str | Path | None = None) -> MissionResult:
        """One command, typed (`command`) or spoken (`wav`: the voice node listens to it)."""
        node = self.node
        initial = node.world_state()
        if goals is not None:
            for g in goals:
                bad = goal_error(g, self.desc)
                if bad:
                    raise ValueError(f"bad goal {g!r}: {bad}")
        if wav is not None and not self.voice:
            raise ValueError("a spoken command needs Mission(voice=True)")
        self.echo(f"\ncommand: {command!r}" if wav is None else f"\nspoken command: {wav}")
        pictures = node.render() if self.render_pictures else []
        path_start = len(node.path)
        trace = node.run_command(command, timeout_s, self._check_alive, self.echo,
                                 wav=None if wav is None else str(wav))
        if trace.heard is not None:
            command = trace.heard["text"]
            if not trace.heard["published"]:  # the robot asked to repeat; nothing may move
                goals = goals if goals is not None else [["refused"]]
        final = node.world_state()
        steps = [Step(s.skill, s.args) for s in trace.executed]
        if goals is None:  # judge by what the cloud first promised, not by what it fell back to
            goals = ([["refused"]] if trace.refusal and not trace.records
                     else expected_goals(trace.first_plan or trace.planned, initial))
        res = MissionResult(False, command or "", goals, "", trace.records, trace.refusal,
                            trace.first_step_ms, trace.plan_ms, trace.total_s, str(self.run_dir))
        if trace.error:
            res.reason = trace.error
            self.echo(f"mission failed: {trace.error}")
            for name in ("plan_executor", "skill_runner"):  # where a stuck step shows why
                tail = self.procs.log_tail(name, lines=6)
                self.echo(f"  last lines of {name}.log:\n" + "\n".join(f"    {line}" for line in tail.splitlines()))
        elif not goals and [(s.skill, s.args) for s in steps] == [("say", (ALREADY_DONE,))]:
            res.ok, res.reason = True, "the cloud found every goal of the command already holding"
        elif not goals:
            res.reason = "the plan promises nothing checkable"
        else:
            unmet = [f"{g}: {explain_unmet(g, final, steps)}" for g in goals
                     if not holds(g, final, [Step("refuse", (trace.refusal,))] if trace.refusal else steps, initial)]
            res.ok = not unmet
            res.reason = "goal holds in the simulated world" if res.ok else "; ".join(unmet)
        self.echo(f"goal check: {json.dumps(goals)} -> {'SATISFIED' if res.ok else 'NOT satisfied'} "
                  f"({res.reason})")
        if self.render_pictures:
            pictures += node.render() + self._draw_map(node.path[max(0, path_start - 1):], trace.events)
            res.pictures = pictures
            if pictures:
                self.echo("pictures: " + "  ".join(pictures))
        (self.run_dir / "mission.json").write_text(json.dumps(res.to_json(), indent=2))
        return res


def run_demo(command: str = DEFAULT_COMMAND, goals: list | None = None, wav: str | None = None,
             **kw) -> MissionResult:
    """One mission; with `wav`, the command is spoken and the voice node hears it."""
    timeout_s = kw.pop("timeout_s", 300.0)
    with Mission(voice=wav is not None, **kw) as m:
        return m.run(None if wav else command, goals, timeout_s, wav=wav)
