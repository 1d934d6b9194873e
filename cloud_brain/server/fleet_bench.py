"""`brainstem bench fleet`: many robots on one cloud, the embedded MoE planner batched vs unbatched.

Why: one cloud serving a fleet is limited by how many plans it decodes at once. This runs real
gRPC sessions (one `CloudClient` per robot, each its own channel) against a cloud process per
mode — `unbatched` (`MoEPlanner`: one decode at a time) and `batched` (`--batching`: continuous
batching with the shared world-prefix cache, cloud_brain/server/batching.py) — in the same run,
on the same machine, with the same commands. Both clouds stay up and each phase runs on one mode
right after the other, so a shift in the machine's load hits both alike (the report carries the
load average):

  closed loop  each robot sends a command, waits for its plan (PlanDone or Refusal), waits
               1-3 s (uniform), sends the next, for `seconds`: first_step_ms {p50, p95}
               (command sent -> first PlanStep or Refusal), plan_ms, plans_per_s;
  saturation   every robot sends a command at the same moment, all plans awaited, `rounds`
               times: saturation_plans_per_s (plans / summed round wall time).

Commands and their world states are drawn from a cases file (tests/data/dev_cases.jsonl: the
command and its `world` overrides, sent as Command.world). The batched cloud's prefix-cache
hit rate per phase is read from its Prometheus /metrics (brainstem_batch_prefix_*). Each cloud
runs with a high per-robot command rate limit so the guard does not throttle the measurement.

    brainstem bench fleet --robots 32 --json [--seconds 60] [--rounds 5] [--cases FILE]
"""

from __future__ import annotations

import json
import logging
import os
import random
import re
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from cloud_brain.domain.description import load_world
from cloud_brain.domain.state import WorldState
from cloud_brain.localproc import free_port, stop_process
from cloud_brain.wire import kind_of

log = logging.getLogger(__name__)

ROOT = Path(__file__).resolve().parents[2]
DEFAULT_CASES = ROOT / "tests" / "data" / "dev_cases.jsonl"
MODES = ("unbatched", "batched")


@dataclass
class Case:
    command: str
    snapshot: dict


def load_cases(path: str | Path = DEFAULT_CASES) -> list[Case]:
    """(command, world snapshot) of every case line; the snapshot applies the case's overrides."""
    desc = load_world()
    out = []
    for line in Path(path).read_text().splitlines():
        if line.strip():
            case = json.loads(line)
            out.append(Case(case["command"], WorldState.initial(desc, case.get("world")).to_snapshot()))
    if not out:
        raise ValueError(f"{path}: no cases")
    return out


@dataclass
class _Pending:
    t_sent: float
    done: threading.Event = field(default_factory=threading.Event)
    first_s: float | None = None
    end_s: float | None = None
    outcome: str = ""  # plan | refusal | error:<CODE>


class Robot:
    """One robot's Session (a real CloudClient), timing every command it sends."""

    def __init__(self, address: str, robot_id: str):
        from edge_nerve.link.client import ClientConfig, CloudClient

        self._lock = threading.Lock()
        self._pending: dict[str, _Pending] = {}
        self.client = CloudClient(address, robot_id, lambda: None, self._on_message,
                                  config=ClientConfig(connect_timeout_s=30.0))

    def start(self) -> bool:
        return self.client.start()

    def stop(self) -> None:
        self.client.stop()

    def _on_message(self, msg) -> None:
        kind = kind_of(msg)
        if kind not in ("step", "done", "refusal", "error"):
            return
        cid = getattr(msg, kind).command_id
        with self._lock:
            p = self._pending.get(cid)
        if p is None:
            return
        now = time.perf_counter()
        if p.first_s is None and kind in ("step", "refusal", "error"):
            p.first_s = now - p.t_sent
        if kind in ("done", "refusal", "error"):
            p.end_s = now - p.t_sent
            p.outcome = {"done": "plan", "refusal": "refusal"}.get(kind) or \
                f"error:{msg.error.Code.Name(msg.error.code)}"
            if p.first_s is None:  # an empty plan: known when it is done
                p.first_s = p.end_s
            p.done.set()

    def command(self, case: Case, timeout_s: float = 60.0) -> _Pending:
        """Send one command and wait for its plan (or refusal / error)."""
        cid = f"{self.client.robot_id}-{time.monotonic_ns()}"
        p = _Pending(time.perf_counter())
        with self._lock:
            self._pending[cid] = p
        try:
            self.client.send_command(case.command, case.snapshot, command_id=cid)
        except ConnectionError:
            p.outcome, p.end_s = "error:LINK_DOWN", 0.0
            p.done.set()
        if not p.done.wait(timeout_s):
            p.outcome = "timeout"
        with self._lock:
            self._pending.pop(cid, None)
        return p


def _pct(values: list[float], q: float) -> float | None:
    if not values:
        return None
    values = sorted(values)
    k = (len(values) - 1) * q
    lo, hi = int(k), min(int(k) + 1, len(values) - 1)
    return values[lo] + (values[hi] - values[lo]) * (k - lo)


def _latency(records: list[_Pending], attr: str) -> dict:
    ms = [getattr(r, attr) * 1000 for r in records if r.outcome in ("plan", "refusal")]
    return {"p50": _round(_pct(ms, 0.5)), "p95": _round(_pct(ms, 0.95)), "max": _round(max(ms, default=None)),
            "mean": _round(statistics.fmean(ms) if ms else None)}


def _round(x, nd: int = 1):
    return None if x is None else round(x, nd)


def _outcomes(records: list[_Pending]) -> dict:
    out: dict[str, int] = {}
    for r in records:
        out[r.outcome] = out.get(r.outcome, 0) + 1
    return out


def closed_loop(robots: list[Robot], cases: list[Case], seconds: float, seed: int = 0,
                think_s: tuple[float, float] = (1.0, 3.0)) -> dict:
    """Every robot: command, wait for the plan, think 1-3 s, repeat, until `seconds` are up
    (robots start staggered over the first think interval)."""
    records: list[_Pending] = []
    lock = threading.Lock()
    t0 = time.perf_counter()
    deadline = t0 + seconds

    def run(i: int, robot: Robot) -> None:
        rng = random.Random(seed * 1000 + i)
        time.sleep(rng.uniform(0.0, think_s[1]))
        while time.perf_counter() < deadline:
            p = robot.command(rng.choice(cases))
            with lock:
                records.append(p)
            time.sleep(rng.uniform(*think_s))

    threads = [threading.Thread(target=run, args=(i, r), daemon=True) for i, r in enumerate(robots)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - t0
    plans = sum(r.outcome in ("plan", "refusal") for r in records)
    return {"seconds": round(wall, 1), "plans": plans, "plans_per_s": round(plans / wall, 2),
            "first_step_ms": _latency(records, "first_s"), "plan_ms": _latency(records, "end_s"),
            "outcomes": _outcomes(records)}


def saturation(robots: list[Robot], cases: list[Case], rounds: int, seed: int = 0) -> dict:
    """All robots send at the same moment; the round ends when every plan is in; `rounds` times."""
    rng = random.Random(seed + 7)
    records: list[_Pending] = []
    round_s = []
    for _ in range(rounds):
        picks = [rng.choice(cases) for _ in robots]
        barrier = threading.Barrier(len(robots) + 1)
        got: list[_Pending | None] = [None] * len(robots)

        def run(i: int) -> None:
            barrier.wait()
            got[i] = robots[i].command(picks[i])

        threads = [threading.Thread(target=run, args=(i,), daemon=True) for i in range(len(robots))]
        for t in threads:
            t.start()
        barrier.wait()
        t0 = time.perf_counter()
        for t in threads:
            t.join()
        round_s.append(time.perf_counter() - t0)
        records += [g for g in got if g is not None]
    plans = sum(r.outcome in ("plan", "refusal") for r in records)
    total = sum(round_s)
    return {"rounds": rounds, "plans": plans, "saturation_plans_per_s": round(plans / total, 2),
            "round_s": [round(s, 2) for s in round_s], "first_step_ms": _latency(records, "first_s"),
            "plan_ms": _latency(records, "end_s"), "outcomes": _outcomes(records)}


# ---- the cloud processes ------------------------------------------------------------------------
class FleetCloud:
    """`python -m cloud_brain.server.service --planner moe [--batching ...]` with /metrics, ready
    once its gRPC channel is (the planner is loaded before the port opens)."""

    def __init__(self, batched: bool, robots: int, artifact: str | None = None,
                 engine_threads: int | None = None, startup_s: float = 180.0):
        import grpc

        self.port, self.metrics_port = free_port(), free_port()
        argv = [sys.executable, "-m", "cloud_brain.server.service", "--port", str(self.port),
                "--planner", "moe", "--log-level", "ERROR", "--metrics-port", str(self.metrics_port),
                "--command-rate", "1000", "--command-burst", "1000"]
        if artifact:
            argv += ["--artifact", str(artifact)]
        if batched:
            argv += ["--batching", "--max-batch", str(robots), "--max-queue", str(2 * robots)]
            if engine_threads is not None:
                argv += ["--engine-threads", str(engine_threads)]
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(
            [str(ROOT), *filter(None, [os.environ.get("PYTHONPATH")])])}
        self.log = tempfile.TemporaryFile(mode="w+")  # a pipe nobody reads would block the cloud
        self.proc = subprocess.Popen(argv, cwd=ROOT, env=env, stdout=subprocess.DEVNULL,
                                     stderr=self.log, text=True)
        deadline = time.monotonic() + startup_s
        with grpc.insecure_channel(self.address) as ch:
            ready = grpc.channel_ready_future(ch)
            while not ready.done():
                if self.proc.poll() is not None:
                    self.log.seek(0)
                    raise RuntimeError(f"cloud process exited ({self.proc.returncode}):\n"
                                       f"{self.log.read()[-3000:]}")
                if time.monotonic() > deadline:
                    self.close()
                    raise TimeoutError(f"cloud process not serving within {startup_s:.0f} s")
                time.sleep(0.05)

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def scrape(self) -> dict[str, float]:
        """The cloud's brainstem_batch_* samples (empty for the unbatched cloud)."""
        text = urllib.request.urlopen(f"http://127.0.0.1:{self.metrics_port}/metrics", timeout=10).read().decode()
        out = {}
        for m in re.finditer(r"^(brainstem_batch_\w+) ([0-9.eE+-]+)$", text, re.M):
            out[m.group(1)] = float(m.group(2))
        return out

    def close(self) -> None:
        stop_process(self.proc, grace_s=15)
        self.log.close()


def _hit_rate(before: dict, after: dict) -> dict | None:
    if "brainstem_batch_prefix_lookups_total" not in after:
        return None
    d = {k: after.get(k, 0.0) - before.get(k, 0.0) for k in after}
    lookups = d["brainstem_batch_prefix_lookups_total"]
    forwards = d.get("brainstem_batch_decode_forwards_total", 0.0)
    return {"lookups": int(lookups), "hits": int(d["brainstem_batch_prefix_hits_total"]),
            "hit_rate": round(d["brainstem_batch_prefix_hits_total"] / lookups, 3) if lookups else None,
            "mean_decode_batch": round(d.get("brainstem_batch_decode_rows_total", 0.0) / forwards, 2)
            if forwards else None,
            "rejected": int(d.get("brainstem_batch_rejected_total", 0.0)),
            "engine_forward_s": round(d.get("brainstem_batch_forward_seconds_total", 0.0), 2),
            "engine_grammar_s": round(d.get("brainstem_batch_grammar_seconds_total", 0.0), 2)}


class _Mode:
    """One cloud process and its fleet of `robots` sessions."""

    def __init__(self, batched: bool, robots: int, artifact: str | None, engine_threads: int | None):
        self.cloud = FleetCloud(batched, robots, artifact, engine_threads)
        self.fleet = [Robot(self.cloud.address, f"robot-{i}") for i in range(robots)]
        for r in self.fleet:
            if not r.start():
                raise RuntimeError(f"robot {r.client.robot_id} could not connect to {self.cloud.address}")

    def close(self) -> None:
        for r in self.fleet:
            r.stop()
        self.cloud.close()


def _load() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


def run_fleet_bench(robots: int = 32, seconds: float = 60.0, rounds: int = 5,
                    cases: str | Path = DEFAULT_CASES, modes: tuple[str, ...] = MODES, seed: int = 0,
                    artifact: str | None = None, engine_threads: int | None = None) -> dict:
    """Both clouds stay up; each phase (warm-up, closed loop, saturation) runs on one mode after
    the other, so a change in the machine's load falls on both modes alike."""
    for m in modes:
        if m not in MODES:
            raise ValueError(f"unknown mode {m!r}; modes are {', '.join(MODES)}")
    loaded = load_cases(cases)
    report: dict = {"robots": robots, "seconds": seconds, "rounds": rounds, "cases": str(cases),
                    "n_cases": len(loaded), "cpus": os.cpu_count(), "artifact": artifact or "shipped",
                    "engine_threads": 1 if engine_threads is None else engine_threads,  # None: the server default
                    "load_avg": {"start": _load()}}
    running: dict[str, _Mode] = {}
    try:
        for m in modes:
            running[m] = _Mode(m == "batched", robots, artifact, engine_threads)
        for m in modes:  # warm-up: first forwards, first prefixes
            saturation(running[m].fleet, loaded, 1, seed=seed + 99)
        loops, sats = {}, {}
        for m in modes:
            before = running[m].cloud.scrape()
            loops[m] = closed_loop(running[m].fleet, loaded, seconds, seed)
            loops[m]["prefix_cache"] = _hit_rate(before, running[m].cloud.scrape())
            loops[m]["load_avg_1m"] = _load()[0]
        for m in modes:
            before = running[m].cloud.scrape()
            sats[m] = saturation(running[m].fleet, loaded, rounds, seed)
            sats[m]["prefix_cache"] = _hit_rate(before, running[m].cloud.scrape())
            sats[m]["load_avg_1m"] = _load()[0]
    finally:
        for mode in running.values():
            mode.close()
    for m in modes:
        loop, sat = loops[m], sats[m]
        report[m] = {"first_step_ms": loop["first_step_ms"], "plans_per_s": loop["plans_per_s"],
                     "saturation_plans_per_s": sat["saturation_plans_per_s"],
                     "prefix_hit_rate": (loop["prefix_cache"] or {}).get("hit_rate"),
                     "closed_loop": loop, "saturation": sat}
    report["load_avg"]["end"] = _load()
    if "batched" in report and "unbatched" in report:
        b, u = report["batched"], report["unbatched"]
        speedup = b["saturation_plans_per_s"] / u["saturation_plans_per_s"] if u["saturation_plans_per_s"] else None
        report["saturation_speedup"] = _round(speedup, 2)
        p95 = b["first_step_ms"]["p95"]
        report["targets"] = {"closed_loop_p95_first_step_under_500ms": p95 is not None and p95 < 500,
                             "saturation_batched_at_least_3x": speedup is not None and speedup >= 3}
    return report


def summary_lines(report: dict) -> list[str]:
    lines = [f"fleet of {report['robots']} robots, {report['n_cases']} cases, closed loop "
             f"{report['seconds']:.0f} s, saturation {report['rounds']} rounds"]
    for m in MODES:
        if m not in report:
            continue
        r = report[m]
        fs = r["first_step_ms"]
        hit = r["prefix_hit_rate"]
        lines.append(f"{m:<10} first step p50 {fs['p50']} ms p95 {fs['p95']} ms  plans/s {r['plans_per_s']}  "
                     f"saturation plans/s {r['saturation_plans_per_s']}"
                     + (f"  prefix hits {hit:.0%}" if hit is not None else ""))
    if "targets" in report:
        lines.append(f"saturation speedup {report['saturation_speedup']}x; targets: " + ", ".join(
            f"{k}={'yes' if ok else 'NO'}" for k, ok in report["targets"].items()))
    return lines
