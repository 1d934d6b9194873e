"""`brainstem bench chaos`: missions through link drops, cloud kill -9, edge restarts and message
chaos, then a fuzz run against the same live cloud.

Why: exactly-once and "the robot stays safe" are claims about failures, so this bench causes
them, for real: the cloud is its own process (`python -m cloud_brain.server.service` with a
SQLite state DB) and is killed with SIGKILL and started again on the same DB and port; the link
is real gRPC through edge_nerve/link/delay_proxy.py (delay + jitter) whose TCP connections are
cut (`drop_connections`); the edge (edge_nerve/bench/timed_robot.py: the real CloudClient and
PlanExecutor, skills timed from the MuJoCo measurements x --time-scale) is stopped mid-step and
started again on its step journal; cloud messages reaching the edge are duplicated and delayed
(so reordered), outcomes and commands going up are duplicated; skills fail or end with the wrong
outcome. Scenarios rotate over the missions (SCENARIOS).

Counted per mission, from both ends:
  goals_reached     the mission's goal holds in the robot's world at the end
  safe_failures     the mission ended without its goal but clearly (a refusal, e.g. "gave up
                    after N replans"), with the robot still
  lost_steps        steps the edge ran successfully that the cloud's state DB has no acked outcome
                    for, plus (for finished plans) plan indexes no step ever succeeded at
  duplicated_steps  step ids started more than once (over every robot incarnation)
  unsafe_events     motion without a live lease (a step started while the cloud's lease had run
                    out, or still running past its step lease with the link down)
  unclear           missions that neither reached the goal nor ended clearly (time-outs)
and a hypothesis fuzz run (edge_nerve/bench/fuzz.py) against the cloud: fuzz_cases, fuzz_crashes.

    brainstem bench chaos --json                    # 100 missions + 10k fuzz cases
    brainstem bench chaos --missions 12 --fuzz-cases 300 --json
"""

from __future__ import annotations

import logging
import os
import random
import signal
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path

import grpc

from cloud_brain.domain.description import load_world
from cloud_brain.domain.goals import holds
from cloud_brain.domain.state import WorldState
from edge_nerve.bench import skill_durations
from cloud_brain.localproc import free_port, stop_process
from edge_nerve.bench.prefetch import load_missions, plan_faults
from edge_nerve.bench.timed_robot import Fault, MissionRecord, TimedRobot
from edge_nerve.link.client import ClientConfig
from edge_nerve.link.delay_proxy import DelayProxy

log = logging.getLogger(__name__)

ROOT = Path(__file__).resolve().parents[2]
SCENARIOS = ("link_drop", "cloud_kill", "edge_restart", "dup_reorder", "skill_fault+link_drop",
             "cloud_kill+dup_reorder", "edge_restart+skill_fault", "clean")
ROBOT_ID = "chaos-robot"


class ChaosCloud:
    """The cloud as a process on a fixed port and state DB, so it can be SIGKILLed and restarted."""

    def __init__(self, state_db: str, lease_s: float, step_lease_s: float, backend: str = "rules"):
        self.port = free_port()
        self.state_db = state_db
        self.args = [sys.executable, "-m", "cloud_brain.server.service", "--port", str(self.port),
                     "--planner", backend, "--log-level", "WARNING", "--state-db", state_db,
                     "--lease-s", str(lease_s), "--step-lease-s", str(step_lease_s),
                     "--command-rate", "1000", "--command-burst", "100000",
                     "--message-rate", "100000", "--message-burst", "1000000"]
        self.proc: subprocess.Popen | None = None
        self.kills = 0
        self.restart_s: list[float] = []
        self.start()

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def start(self, timeout_s: float = 60.0) -> None:
        t0 = time.monotonic()
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(
            [str(ROOT), *filter(None, [os.environ.get("PYTHONPATH")])])}
        self.proc = subprocess.Popen(self.args, cwd=ROOT, env=env, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL)
        with grpc.insecure_channel(self.address) as ch:
            ready = grpc.channel_ready_future(ch)
            while not ready.done():
                if self.proc.poll() is not None:
                    raise RuntimeError(f"cloud process exited ({self.proc.returncode}) at start: "
                                       f"{' '.join(self.args)}")
                if time.monotonic() - t0 > timeout_s:
                    raise TimeoutError(f"cloud process not serving within {timeout_s:.0f} s")
                time.sleep(0.02)
        self.restart_s.append(time.monotonic() - t0)

    def kill9(self) -> None:
        """SIGKILL: no clean shutdown, no flush; only what the state DB committed survives."""
        if self.alive():
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)
            self.kills += 1

    def close(self) -> None:
        stop_process(self.proc)


class ChaosRobot(TimedRobot):
    """A TimedRobot whose cloud messages may arrive twice or late (reordered), and whose outcomes
    may go up twice. `chaos` switches it on; counts what it injected."""

    DELIVER_KINDS = ("step", "commit", "done", "rollback", "heartbeat_ack")

    def __init__(self, *args, rng: random.Random, p_dup: float = 0.15, p_delay: float = 0.15,
                 max_delay_s: float = 0.15, **kwargs):
        super().__init__(*args, **kwargs)
        self.rng, self.p_dup, self.p_delay, self.max_delay_s = rng, p_dup, p_delay, max_delay_s
        self.chaos = False
        self.injected: Counter = Counter()

    def _inbox_put(self, msg) -> None:
        kind = msg.WhichOneof("kind")
        if not self.chaos or kind not in self.DELIVER_KINDS:
            return super()._inbox_put(msg)
        r = self.rng.random()
        if r < self.p_dup:
            self.injected["duplicated_down"] += 1
            super()._inbox_put(msg)
            super()._inbox_put(msg)
        elif r < self.p_dup + self.p_delay:
            self.injected["delayed_down"] += 1  # later messages overtake it: reordered
            t = threading.Timer(self.rng.uniform(0.01, self.max_delay_s), super()._inbox_put, (msg,))
            t.daemon = True
            t.start()
        else:
            super()._inbox_put(msg)

    def _report(self, o) -> None:
        super()._report(o)
        if self.chaos and self.rng.random() < self.p_dup:
            self.injected["duplicated_up"] += 1
            self.client.send_outcome(o.step_id, o.plan_id, o.index, o.success, o.message,
                                     self.world.to_snapshot(), o.duration_s, rejected=o.rejected)


def _acked(db_path: str, command_id: str) -> tuple[dict, list[tuple]]:
    """From the cloud's state DB (read while it runs: WAL): the plan rows of a command and
    {step_id: success} of its acked outcomes, and (step_id, index) of its steps."""
    db = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True, timeout=10)
    try:
        plans = db.execute("SELECT plan_id, num_steps, closed FROM plans WHERE command_id=?",
                           (command_id,)).fetchall()
        acked, steps = {}, []
        for pid, _, _ in plans:
            acked.update({s: bool(ok) for s, ok in db.execute(
                "SELECT step_id, success FROM outcomes WHERE plan_id=?", (pid,))})
            steps += db.execute("SELECT step_id, idx FROM steps WHERE plan_id=?", (pid,)).fetchall()
        return {"plans": plans, "acked": acked}, steps
    finally:
        db.close()


def run_chaos_bench(missions: int = 100, rtt_ms: float = 40.0, jitter_ms: float = 20.0,
                    time_scale: float = 0.02, fuzz_cases: int = 10_000, seed: int = 0,
                    workdir: str | None = None, mission_timeout_s: float = 60.0,
                    lease_s: float = 2.0, step_lease_s: float = 0.6, backend: str = "rules") -> dict:
    """Run the chaos missions and the fuzz run; one JSON-able report (module docstring)."""
    if missions < 1:
        raise ValueError("missions must be >= 1")
    rng = random.Random(seed)
    desc = load_world()
    pool = load_missions(min(missions, 40), desc=desc)
    skill_faults = plan_faults(pool, 1.0, seed)  # one fault per mission, used where a scenario asks
    durations = skill_durations.load()["durations_s"]
    tmp = None
    if workdir is None:
        tmp = tempfile.TemporaryDirectory(prefix="brainstem-chaos-")
        workdir = tmp.name
    Path(workdir).mkdir(parents=True, exist_ok=True)
    state_db = str(Path(workdir) / "cloud-state.db")
    journal = str(Path(workdir) / "edge-journal.db")
    for f in (state_db, journal):
        for suffix in ("", "-wal", "-shm"):
            Path(f + suffix).unlink(missing_ok=True)
    config = ClientConfig(connect_timeout_s=2.0, heartbeat_s=0.25, backoff_initial_s=0.05,
                          backoff_max_s=0.5)
    t0 = time.monotonic()
    load0 = os.getloadavg()[0]
    cloud = ChaosCloud(state_db, lease_s, step_lease_s, backend)
    counts = Counter()
    injected = Counter()
    examples: dict[str, list[str]] = {}
    all_started: list[str] = []
    unsafe: list[str] = []
    world = WorldState.initial(desc)

    def new_robot(w: WorldState) -> ChaosRobot:
        r = ChaosRobot(proxy.address, w, durations, time_scale=time_scale, robot_id=ROBOT_ID,
                       config=config, journal_path=journal, rng=rng)
        r.start(timeout_s=30.0)
        return r

    def note(kind: str, text: str) -> None:
        examples.setdefault(kind, [])
        if len(examples[kind]) < 3:
            examples[kind].append(text)

    try:
        with DelayProxy(cloud.address, rtt_ms, jitter_ms, seed=seed) as proxy:
            robot = new_robot(world)
            for i in range(missions):
                m = pool[i % len(pool)]
                scenario = SCENARIOS[i % len(SCENARIOS)]
                robot.chaos = "dup_reorder" in scenario
                robot.faults = ([Fault(f.skill, f.args, f.kind, f.times) for f in skill_faults[i % len(pool)]]
                                if "skill_fault" in scenario else [])
                start_world = WorldState.initial(desc, m.world)
                robot.client.wait_connected(15.0)  # a mission starts on a live link (the user's command)
                box: dict = {}
                previous = robot._mission
                th = threading.Thread(target=lambda r=robot: box.setdefault("rec", r.run_mission(
                    m.text, "prefetch", timeout_s=mission_timeout_s, world=start_world)), daemon=True)
                th.start()
                # inject once the mission's first skill runs (mid-mission), at a random moment of it
                deadline = time.monotonic() + 10
                while time.monotonic() < deadline and th.is_alive() and not (
                        robot._mission is not None and robot._mission is not previous
                        and robot._mission.runs):
                    time.sleep(0.005)
                time.sleep(rng.uniform(0.0, 0.3) * time_scale / 0.02)
                records: list[MissionRecord] = []
                if "link_drop" in scenario:
                    for _ in range(rng.randint(1, 2)):
                        injected["link_drops"] += proxy.drop_connections() > 0
                        time.sleep(rng.uniform(0.05, 0.3))
                if "cloud_kill" in scenario:
                    cloud.kill9()
                    injected["cloud_kills"] += 1
                    time.sleep(rng.uniform(0.0, 0.3))
                    cloud.start()
                if "dup_reorder" in scenario and robot._mission is not None and robot._mission.command_id:
                    try:  # the same command id again, up the link
                        robot.client.send_command(m.text, command_id=robot._mission.command_id)
                        injected["duplicated_commands"] += 1
                    except ConnectionError:
                        pass  # the link is down right now (a kill in the same scenario)
                if "edge_restart" in scenario and th.is_alive():
                    cid = robot._mission.command_id if robot._mission is not None else ""
                    robot.stop()  # cut short mid-step: its effect never happens
                    th.join(10)
                    records.append(box.get("rec"))
                    all_started += robot.started_step_ids
                    unsafe += robot.unsafe_events
                    injected.update(robot.injected)
                    injected["edge_restarts"] += 1
                    world = robot.world
                    robot = new_robot(world)
                    if cid:
                        records.append(robot.adopt_mission(m.text, cid, timeout_s=mission_timeout_s))
                else:
                    th.join(mission_timeout_s + 15)
                    records.append(box.get("rec"))
                records = [r for r in records if r is not None]
                final = records[-1] if records else None
                # wait until the cloud has answered every outcome (what it has acked is durable)
                wait = time.monotonic() + 10
                while robot.client._unanswered and time.monotonic() < wait:
                    time.sleep(0.02)
                world = robot.world
                runs = [x for r in records for x in r.runs]
                reached = bool(final) and final.final_world is not None and all(
                    holds(g, robot.world, [x.step for x in runs]) for g in m.goal)
                cid = next((r.command_id for r in records if r.command_id), "")
                store, steps = _acked(state_db, cid) if cid else ({"plans": [], "acked": {}}, [])
                ran_ok = {x.step_id for x in runs if x.success}
                lost = sorted(ran_ok - {s for s, ok in store["acked"].items() if ok})
                if reached:  # every index of the finished plan succeeded at some revision
                    for _pid, num_steps, _closed in store["plans"]:
                        ok_idx = {idx for sid, idx in steps if store["acked"].get(sid)}
                        lost += [f"index {k} of {cid}" for k in range(num_steps or 0) if k not in ok_idx]
                counts["lost_steps"] += len(lost)
                for s in lost:
                    note("lost_steps", s)
                counts["trials"] += 1
                if reached:
                    counts["goals_reached"] += 1
                elif final is not None and (final.refusal is not None or final.errors) and not final.timed_out:
                    counts["safe_failures"] += 1
                    note("safe_failures", f"{scenario}: {m.text!r}: {final.refusal or final.errors[0]}")
                else:
                    counts["unclear"] += 1
                    ex = robot.executor
                    note("unclear", f"{scenario}: {m.text!r}: timed_out={final.timed_out if final else None} "
                                    f"finished={final.finished if final else None} runs={len(runs)} "
                                    f"received={[len(r.received) for r in records]} cid={cid} "
                                    f"plan={ex.plan} queue={sorted(ex.queue)} running={ex.running} "
                                    f"link={robot.client.connected} cloud_plans={store['plans']}")
                counts["rollbacks"] += sum(r.rollbacks for r in records)
                counts[f"scenario:{scenario}"] += 1
                log.info("chaos %d/%d %s %r: reached=%s lost=%d", i + 1, missions, scenario, m.text,
                         reached, len(lost))
            all_started += robot.started_step_ids
            unsafe += robot.unsafe_events
            injected.update(robot.injected)
            robot.stop()
            t_missions = time.monotonic() - t0
            fuzz = {"fuzz_cases": 0, "fuzz_crashes": 0}
            if fuzz_cases > 0:
                from edge_nerve.bench.fuzz import run_fuzz

                fuzz = run_fuzz(cloud.address, cases=fuzz_cases, seed=seed, alive=cloud.alive)
                fuzz["fuzz_crashes"] += 0 if cloud.alive() else 1
    finally:
        cloud.close()
        if tmp is not None:
            tmp.cleanup()
    dup = [s for s, n in Counter(all_started).items() if n > 1]
    for s in dup:
        note("duplicated_steps", s)
    for u in unsafe:
        note("unsafe_events", u)
    report = {
        "bench": "chaos",
        "trials": counts["trials"],
        "goals_reached": counts["goals_reached"],
        "safe_failures": counts["safe_failures"],
        "unclear": counts["unclear"],
        "lost_steps": counts["lost_steps"],
        "duplicated_steps": len(dup),
        "unsafe_events": len(unsafe),
        "fuzz_cases": fuzz["fuzz_cases"],
        "fuzz_crashes": fuzz["fuzz_crashes"],
        "steps_started": len(all_started),
        "rollbacks": counts["rollbacks"],
        "injected": dict(injected),
        "scenarios": {k.split(":", 1)[1]: v for k, v in counts.items() if k.startswith("scenario:")},
        "cloud_restart_s": {"n": len(cloud.restart_s) - 1,
                            "max": round(max(cloud.restart_s[1:], default=0.0), 2)},
        "fuzz": {k: v for k, v in fuzz.items() if k not in ("fuzz_cases", "fuzz_crashes")},
        "examples": examples,
        "setup": {"rtt_ms": rtt_ms, "jitter_ms": jitter_ms, "time_scale": time_scale,
                  "lease_s": lease_s, "step_lease_s": step_lease_s, "backend": backend, "seed": seed,
                  "cloud": "own process, SQLite WAL state DB, SIGKILL + restart on the same DB/port",
                  "edge": "timed robot stand-in (real CloudClient + PlanExecutor + step journal), "
                          "skill durations measured in the MuJoCo sim x time_scale",
                  "link": "real gRPC through edge_nerve/link/delay_proxy.py"},
        "missions_s": round(t_missions, 1),
        "wall_s": round(time.monotonic() - t0, 1),
        "load_avg_1m": {"start": round(load0, 2), "end": round(os.getloadavg()[0], 2),
                        "cpus": os.cpu_count()},
    }
    report["targets"] = {
        "zero_lost": report["lost_steps"] == 0, "zero_duplicated": report["duplicated_steps"] == 0,
        "zero_unsafe": report["unsafe_events"] == 0,
        "every_mission_goal_or_safe_failure": report["unclear"] == 0,
        "fuzz_zero_crashes": report["fuzz_crashes"] == 0,
        "trials_ge_100": report["trials"] >= 100, "fuzz_cases_ge_10k": report["fuzz_cases"] >= 10_000}
    return report


def summary_lines(report: dict) -> list[str]:
    return [f"bench chaos: {report['trials']} missions ({report['missions_s']} s), "
            f"goal {report['goals_reached']}, safe failures {report['safe_failures']}, "
            f"unclear {report['unclear']} | lost {report['lost_steps']} duplicated "
            f"{report['duplicated_steps']} unsafe {report['unsafe_events']} | fuzz "
            f"{report['fuzz_cases']} cases, {report['fuzz_crashes']} crashes | injected {report['injected']}",
            "targets: " + ", ".join(f"{k}={'yes' if v else 'NO'}" for k, v in report["targets"].items())]
