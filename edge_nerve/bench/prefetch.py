"""`brainstem bench prefetch`: what the network round trip costs a mission under three strategies.

Why: the cloud plans, the robot acts, and between them is a 100-300 ms link. This bench runs the
same multi-step missions (from the project's planner case files, each with its world) over real
gRPC through a latency-injecting TCP proxy (edge_nerve/link/delay_proxy.py), once per plan
delivery strategy, in one run:

  full_plan  the cloud sends nothing until the whole plan is decoded; steps are final
  per_step   one step at a time: each outcome asks for the next step (a round trip per step)
  prefetch   steps stream out as decoded; later steps pre-sent as speculative with their
             predicted precondition; the edge starts one the moment the previous step ends
             if its own state matches the prediction (else the cloud rolls back and replans)

Skills are executed by a timed stand-in (edge_nerve/bench/timed_robot.py) whose per-skill
durations were measured in the MuJoCo sim (edge_nerve/bench/skill_durations.json), scaled by
--time-scale so the run stays short; first-action and idle-gap figures are network and protocol
time and do not depend on the scale; mission_s does (it is reported at the run's scale). The
cloud runs as its own process (`python -m cloud_brain.server.service`), so its threads do not
share an interpreter with the robot's.

    brainstem bench prefetch --rtt-ms 300 --json
    brainstem bench prefetch --rtt-ms 300 --fault-rate 0.3 --json     # with injected faults
"""

from __future__ import annotations

import json
import logging
import os
import random
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from cloud_brain.domain.description import WorldDescription, load_world
from cloud_brain.domain.goals import holds
from cloud_brain.domain.state import WorldState
from cloud_brain.localproc import free_port, stop_process
from edge_nerve.bench import skill_durations
from edge_nerve.bench.timed_robot import Fault, MissionRecord, TimedRobot
from edge_nerve.link.client import ClientConfig
from edge_nerve.link.delay_proxy import DelayProxy

log = logging.getLogger(__name__)

ROOT = Path(__file__).resolve().parents[2]
STRATEGIES = ("full_plan", "per_step", "prefetch")
CASE_FILES = ("tests/cases/smoke.jsonl", "tests/cases/planner_dev.jsonl",
              "tests/cases/phenomena.jsonl")


@dataclass
class Mission:
    text: str
    goal: list
    world: dict | None  # the case's world overrides
    plan: list  # the rules planner's plan from that world (the reference, for fault placement)


def load_missions(n: int, min_steps: int = 2, desc: WorldDescription | None = None) -> list[Mission]:
    """The first `n` cases of CASE_FILES whose rules plan has >= min_steps steps (no refusals)."""
    from cloud_brain.planner.base import get_planner

    desc = desc or load_world()
    planner = get_planner("rules", desc)
    out: list[Mission] = []
    seen: set[str] = set()
    for rel in CASE_FILES:
        for line in (ROOT / rel).read_text().splitlines():
            if not line.strip():
                continue
            case = json.loads(line)
            text = case["command"]
            if text.lower() in seen or any(g[0] == "refused" for g in case["goal"]):
                continue
            state = WorldState.initial(desc, case.get("world"))
            result = planner.plan(text, state)
            if result.refusal or len(result.steps) < min_steps:
                continue
            seen.add(text.lower())
            out.append(Mission(text, case["goal"], case.get("world"), list(result.steps)))
            if len(out) == n:
                return out
    raise ValueError(f"only {len(out)} multi-step missions in {', '.join(CASE_FILES)}; asked for {n}")


def plan_faults(missions: list[Mission], rate: float, seed: int) -> list[list[Fault]]:
    """Per mission, the injected faults (the same for every strategy): with probability `rate`
    one step (never the last) fails or ends with the wrong outcome, alternately."""
    rng = random.Random(seed)
    out, kind = [], 0
    for m in missions:
        faults = []
        if rate > 0 and rng.random() < rate:
            step = m.plan[rng.randrange(len(m.plan) - 1)]
            faults.append(Fault(step.skill, tuple(step.args), ("fail", "wrong_outcome")[kind % 2]))
            kind += 1
        out.append(faults)
    return out


def _pct(values: list[float], q: float) -> float | None:
    return round(float(np.percentile(values, q)), 2) if values else None


def summarize(records: list[MissionRecord], missions: list[Mission], duplicates: list[str],
              time_scale: float = 1.0) -> dict:
    """Percentiles over the missions of one strategy. mission_s is at the run's time scale;
    mission_s_sim_speed puts the skills back at their measured (simulated) durations and keeps
    the measured link and protocol time: what the mission would take on the robot."""
    first = [r.first_action_ms for r in records if r.first_action_ms is not None]
    gaps = [g for r in records for g in r.idle_gaps_ms]
    plain = [g for r in records for g in r.idle_gaps_same_revision_ms]
    mission_s = [r.mission_s for r in records if r.mission_s is not None]
    at_speed = [r.mission_s + sum(x.end - x.start for x in r.runs if x.end is not None)
                * (1.0 / time_scale - 1.0) for r in records if r.mission_s is not None]
    reached = sum(1 for r, m in zip(records, missions) if r.ok and r.final_world is not None
                  and all(holds(g, r.final_world, [x.step for x in r.runs]) for g in m.goal))
    return {
        "first_action_ms": {"p50": _pct(first, 50), "p95": _pct(first, 95), "max": _pct(first, 100)},
        "idle_gap_ms": {"p50": _pct(gaps, 50), "p95": _pct(gaps, 95), "max": _pct(gaps, 100),
                        "n": len(gaps)},
        "idle_gap_ms_without_replan": {"p50": _pct(plain, 50), "p95": _pct(plain, 95),
                                       "max": _pct(plain, 100), "n": len(plain)},
        "mission_s": {"p50": _pct(mission_s, 50), "p95": _pct(mission_s, 95)},
        "mission_s_sim_speed": {"p50": _pct(at_speed, 50), "p95": _pct(at_speed, 95)},
        "rollbacks": sum(r.rollbacks for r in records),
        "wasted_steps": sum(r.wasted_steps for r in records),
        "rejected_steps": sum(len(r.rejected) for r in records),
        "steps_run": sum(len(r.runs) for r in records),
        "goal_reached": reached,
        "missions": len(records),
        "timed_out": sum(1 for r in records if r.timed_out),
        "refused": sum(1 for r in records if r.refusal is not None),
        "errors": sum(1 for r in records if r.errors),
        "error_examples": sorted({e for r in records for e in r.errors})[:3],
        "duplicate_step_starts": len(duplicates),
    }


class CloudProcess:
    """`python -m cloud_brain.server.service` on a free port, ready once its health says so."""

    def __init__(self, backend: str, startup_s: float = 120.0):
        import grpc

        self.port = free_port()
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(
            [str(ROOT), *filter(None, [os.environ.get("PYTHONPATH")])])}
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "cloud_brain.server.service", "--port", str(self.port),
             "--planner", backend, "--log-level", "WARNING"],
            cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        deadline = time.monotonic() + startup_s
        with grpc.insecure_channel(f"127.0.0.1:{self.port}") as ch:
            ready = grpc.channel_ready_future(ch)
            while not ready.done():
                if self.proc.poll() is not None:
                    raise RuntimeError(f"cloud process exited ({self.proc.returncode}):\n"
                                       f"{self.proc.stderr.read()[-3000:]}")
                if time.monotonic() > deadline:
                    self.close()
                    raise TimeoutError(f"cloud process not serving within {startup_s:.0f} s")
                time.sleep(0.05)

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def close(self) -> None:
        stop_process(self.proc)


def run_prefetch_bench(rtt_ms: float = 300.0, jitter_ms: float = 0.0, missions: int = 20,
                       backend: str = "rules", time_scale: float = 0.05,
                       strategies: tuple[str, ...] = STRATEGIES, fault_rate: float = 0.0,
                       seed: int = 0, cloud_address: str | None = None,
                       mission_timeout_s: float = 60.0, give_up_after: int = 3) -> dict:
    """Run every mission under every strategy; one JSON-able report (see the module docstring).

    cloud_address: an already running cloud (default: start one as a process).
    give_up_after: a strategy whose first this-many missions all time out is abandoned (a hung
    planner would otherwise cost every remaining mission its full timeout)."""
    bad = [s for s in strategies if s not in STRATEGIES]
    if bad:
        raise ValueError(f"unknown strategies {bad}; known: {', '.join(STRATEGIES)}")
    desc = load_world()
    chosen = load_missions(missions, desc=desc)
    faults = plan_faults(chosen, fault_rate, seed)
    durations = skill_durations.load()
    cloud = None if cloud_address else CloudProcess(backend)
    address = cloud_address or cloud.address
    config = ClientConfig(connect_timeout_s=10.0, heartbeat_s=1.0)
    report: dict = {
        "bench": "prefetch", "rtt_ms": rtt_ms, "jitter_ms": jitter_ms, "backend": backend,
        "missions": len(chosen), "fault_rate": fault_rate, "seed": seed,
        "link": "real gRPC (HTTP/2 over TCP) through edge_nerve/link/delay_proxy.py: each direction "
                "held rtt/2 (+- jitter/2); cloud as its own process" if cloud else
                "real gRPC through edge_nerve/link/delay_proxy.py to the given cloud",
        "skills": {"executed_by": "timed stand-in (edge_nerve/bench/timed_robot.py): real CloudClient "
                                  "+ PlanExecutor, symbolic effects, durations measured in the MuJoCo sim",
                   "durations_source": durations.get("source", ""),
                   "durations_command": durations.get("command", ""),
                   "durations_s": durations["durations_s"], "time_scale": time_scale},
        "strategies": {},
    }
    t0 = time.monotonic()
    report["load_avg_1m"] = {"start": round(os.getloadavg()[0], 2), "cpus": os.cpu_count()}
    try:
        with DelayProxy(address, rtt_ms, jitter_ms, seed=seed) as proxy:
            for strategy in strategies:
                records = []
                robot = TimedRobot(proxy.address, WorldState.initial(desc), durations["durations_s"],
                                   time_scale=time_scale, robot_id=f"bench-{strategy}", config=config)
                with robot:
                    for m, f in zip(chosen, faults):
                        robot.faults = [Fault(x.skill, x.args, x.kind, x.times) for x in f]
                        rec = robot.run_mission(m.text, strategy, timeout_s=mission_timeout_s,
                                                world=WorldState.initial(desc, m.world))
                        records.append(rec)
                        if len(records) == give_up_after and all(r.timed_out for r in records):
                            log.error("%s: the first %d missions timed out; strategy abandoned",
                                      strategy, give_up_after)
                            break
                        log.info("%s %r: ok=%s first %.1f ms (step received after %.1f ms) gaps %s",
                                 strategy, m.text, rec.ok, rec.first_action_ms or -1,
                                 ((rec.t_first_step_rx or rec.t_command) - rec.t_command) * 1e3,
                                 [round(g, 1) for g in rec.idle_gaps_ms])
                report["strategies"][strategy] = summarize(records, chosen[:len(records)],
                                                                    robot.duplicate_starts, time_scale)
    finally:
        if cloud is not None:
            cloud.close()
    report["wall_s"] = round(time.monotonic() - t0, 1)
    report["load_avg_1m"]["end"] = round(os.getloadavg()[0], 2)
    s = report["strategies"]
    targets = {}
    if "prefetch" in s and s["prefetch"]["idle_gap_ms"]["p95"] is not None:
        targets["prefetch_idle_gap_p95_lt_5ms"] = s["prefetch"]["idle_gap_ms"]["p95"] < 5.0
        targets["prefetch_first_action_p95_le_rtt_plus_100ms"] = \
            s["prefetch"]["first_action_ms"]["p95"] <= rtt_ms + 100.0
    if "per_step" in s and s["per_step"]["idle_gap_ms"]["p95"] is not None:
        targets["per_step_idle_gap_p95_ge_rtt"] = s["per_step"]["idle_gap_ms"]["p95"] >= rtt_ms
    report["targets"] = targets
    return report


def _num(x, fmt: str) -> str:
    return "-" if x is None else format(x, fmt)


def summary_lines(report: dict) -> list[str]:
    lines = [f"bench prefetch: rtt {report['rtt_ms']:g} ms (jitter {report['jitter_ms']:g}), "
             f"{report['missions']} missions, backend {report['backend']}, "
             f"skills x{report['skills']['time_scale']:g} of sim durations, {report['wall_s']} s, "
             f"load {report['load_avg_1m']['start']}-{report['load_avg_1m']['end']} on "
             f"{report['load_avg_1m']['cpus']} cpus"]
    for name, s in report["strategies"].items():
        fa, gap = s["first_action_ms"], s["idle_gap_ms"]
        lines.append(f"  {name:<10} first action p50 {_num(fa['p50'], '7.1f')} p95 {_num(fa['p95'], '7.1f')} ms"
                     f" | idle gap p50 {_num(gap['p50'], '7.1f')} p95 {_num(gap['p95'], '7.1f')} ms"
                     f" | mission p50 {_num(s['mission_s']['p50'], '.2f')} s"
                     f" ({_num(s['mission_s_sim_speed']['p50'], '.1f')} s at sim speed)"
                     f" | rollbacks {s['rollbacks']} wasted {s['wasted_steps']} goal {s['goal_reached']}/{s['missions']}"
                     + (f" | errors {s['errors']} timed out {s['timed_out']}: {s['error_examples'][:1]}"
                        if s["errors"] or s["timed_out"] else ""))
    lines.append("targets: " + ", ".join(f"{k}={'yes' if v else 'NO'}" for k, v in report["targets"].items()))
    return lines
