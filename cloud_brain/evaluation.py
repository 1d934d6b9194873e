"""Planner evaluation: plan every case, execute it symbolically, check its goal predicates.

Why: planners are compared by outcome on held-out commands, not by matching reference plans;
this implements `brainstem eval planner --cases FILE.jsonl --backend NAME --json`
(ARCHITECTURE.md "Goal predicates and evaluation cases").

    python -m cloud_brain.evaluation --cases tests/cases/planner_dev.jsonl [--backend rules] --json
    brainstem eval planner --synthetic 600 [--seed S] [--unpunctuated]   (evaluate_synthetic: the
        corpus's dev templates in random worlds, goals from its solver: phrasings no file holds)

A case is one JSON line: {"command": "...", "goal": [[pred, arg...], ...], "world": {...}}
with optional `world` overrides of the default state ({"objects": {object: furniture},
"robot": room_or_furniture, "user": room}). A malformed line fails that case with a clear
error; it never stops the run.
"""

from __future__ import annotations

import json
import logging
import math
import time
from pathlib import Path

from cloud_brain.domain.description import WorldDescription, WorldError, load_world
from cloud_brain.domain.goals import check_goals
from cloud_brain.domain.state import WorldState
from cloud_brain.planner.base import DEFAULT_BACKEND, get_planner
from cloud_brain.planner.prompt import as_heard

log = logging.getLogger(__name__)


def percentile(values: list[float], q: float) -> float:
    """Linear-interpolated percentile (q in 0..100) of `values`; 0.0 for none."""
    if not values:
        return 0.0
    xs = sorted(values)
    pos = (len(xs) - 1) * q / 100.0
    lo, hi = math.floor(pos), math.ceil(pos)
    return xs[lo] + (xs[hi] - xs[lo]) * (pos - lo)


def parse_case(line: str) -> dict:
    """One case line -> {"command", "goal", "world"}; raises ValueError saying what is wrong."""
    try:
        case = json.loads(line)
    except json.JSONDecodeError as e:
        raise ValueError(f"not valid JSON: {e}") from None
    if not isinstance(case, dict):
        raise ValueError("a case must be a JSON object with 'command' and 'goal'")
    if not isinstance(case.get("command"), str):
        raise ValueError("case has no 'command' string")
    goal = case.get("goal")
    if not isinstance(goal, list) or not goal or not all(isinstance(g, list) and g for g in goal):
        raise ValueError("'goal' must be a non-empty list of predicates like [\"delivered\", \"red_cup\"]")
    world = case.get("world")
    if world is not None and not isinstance(world, dict):
        raise ValueError("'world' overrides must be an object")
    return {"command": case["command"], "goal": goal, "world": world}


def evaluate_planner(cases_path: str | Path, backend: str = DEFAULT_BACKEND,
                     world: WorldDescription | str | Path | None = None, unpunctuated: bool = False) -> dict:
    """Run every case of a JSONL file through planner `backend`; the report as a dict.
    `unpunctuated`: each command as heard (`as_heard`), as the voice front end passes it on."""
    desc = world if isinstance(world, WorldDescription) else load_world(world)
    planner = get_planner(backend, desc)
    lines = Path(cases_path).read_text(encoding="utf-8").splitlines()

    def cases():
        for lineno, line in enumerate(lines, 1):
            if not line.strip():
                continue
            try:
                case = parse_case(line)
            except ValueError as e:
                yield {"line": lineno, "error": f"malformed case on line {lineno}: {e}"}
                continue
            try:
                state = WorldState.initial(desc, case["world"])
            except (WorldError, TypeError, AttributeError) as e:
                yield {"line": lineno, "command": case["command"], "goal": case["goal"],
                       "error": f"bad world overrides on line {lineno}: {e}"}
                continue
            yield {"line": lineno, "command": case["command"], "goal": case["goal"], "state": state}

    report = _run(cases(), lambda _: planner, unpunctuated)
    return {"backend": backend, "cases_file": str(cases_path), "unpunctuated": unpunctuated,
            "world": desc.name, **report}


def evaluate_synthetic(n: int, backend: str = DEFAULT_BACKEND, seed: int = 0, unpunctuated: bool = False) -> dict:
    """`n` commands the corpus writes with its *dev* templates (phrasings the MoE never trained
    on) in the home, the office and random worlds with renamed rooms, furniture and objects, each
    in a random state; goals from the corpus's own solver. Written as the corpus writes them
    (typos and odd casing included, never as heard), or `unpunctuated`. A measure of the unseen,
    not of a hand-written file: the templates are the corpus's, so it cannot tell a phrasing the
    corpus lacks."""
    import random

    from cloud_brain.planner import corpus
    planners: dict[str, object] = {}

    skipped = 0

    def cases():
        # the corpus lists a command's goals in the order it said them; where a later deed undoes
        # an earlier one ("dock, then come see me") its own plan misses the goal read on the final
        # state, as every planner's would: such a draw is replaced, and counted
        nonlocal skipped
        rng = random.Random(seed)
        heard_share, corpus.AS_HEARD = corpus.AS_HEARD, 0.0  # written forms; as heard below
        try:
            i = 0
            while i < n:
                ex = corpus.sample_example(rng, "dev")
                if not check_goals(ex.goals, ex.state, ex.steps)[0]:
                    skipped += 1
                    continue
                i += 1
                yield {"line": i, "command": ex.command, "goal": ex.goals, "state": ex.state,
                       "world": world_kind(ex.state.desc)}
        finally:
            corpus.AS_HEARD = heard_share

    def planner_for(desc: WorldDescription):
        if desc.name not in planners:
            planners[desc.name] = get_planner(backend, desc)
        return planners[desc.name]

    report = _run(cases(), planner_for, unpunctuated)
    by_world: dict[str, dict] = {}
    for r in report["results"]:
        w = by_world.setdefault(r["world"], {"cases": 0, "succeeded": 0})
        w["cases"] += 1
        w["succeeded"] += r["ok"]
    return {"backend": backend, "cases_file": f"synthetic dev templates (n={n}, seed={seed})",
            "unpunctuated": unpunctuated, "world": "home, office and random worlds",
            "skipped_unreachable_references": skipped, "by_world": by_world, **report}


def world_kind(desc: WorldDescription) -> str:
    """The shipped worlds by name; the corpus's generated ones as "random"."""
    return desc.name if desc.name in ("home", "office") else "random"


def _run(cases, planner_for, unpunctuated: bool) -> dict:
    """Plan each case ({"line", "command", "goal", "state"} or one with an "error") with
    `planner_for(state.desc)`, check its goals; the report's counts, latencies and results."""
    results, latencies, first_steps = [], [], []
    t_start = time.perf_counter()
    for case in cases:
        entry = {"line": case["line"], **({"world": case["world"]} if "world" in case else {}),
                 "command": case.get("command"), "goal": case.get("goal"), "ok": False,
                 "plan": [], "goals_understood": [], "error": case.get("error"), "latency_ms": None,
                 "first_step_ms": None}
        results.append(entry)
        if entry["error"]:
            continue
        if unpunctuated:
            entry["command"] = as_heard(entry["command"])
        state = case["state"]
        planner = planner_for(state.desc)
        streams = hasattr(planner, "last_first_step_ms")  # it times its own first step
        if streams:
            planner.last_first_step_ms = None
        try:
            result = planner.plan(entry["command"], state)
        except Exception as e:  # a backend bug fails the case, not the run
            log.exception("planner crashed on line %d", case["line"])
            entry["error"] = f"planner crashed: {type(e).__name__}: {e}"
            continue
        latencies.append(result.latency_ms)
        # a planner that does not stream has its first step when the whole plan is made
        first = planner.last_first_step_ms if streams else None
        first_steps.append(result.latency_ms if first is None else first)
        entry["latency_ms"] = round(result.latency_ms, 3)
        entry["first_step_ms"] = round(first_steps[-1], 3)
        entry["refused"] = result.refusal is not None
        entry["plan"] = [str(s) for s in result.steps]
        entry["goals_understood"] = result.goals
        ok, reason = check_goals(entry["goal"], state, result.steps)
        entry["ok"], entry["error"] = ok, reason
    succeeded = sum(1 for r in results if r["ok"])
    refusal_cases = [r for r in results if r["goal"] == [["refused"]]]
    refused = sum(1 for r in refusal_cases if r["ok"])
    return {
        "cases": len(results),
        "succeeded": succeeded,
        "failed": len(results) - succeeded,
        "success_rate": succeeded / len(results) if results else 0.0,
        "latency_ms": {"p50": round(percentile(latencies, 50), 3),
                       "p95": round(percentile(latencies, 95), 3),
                       "max": round(max(latencies), 3) if latencies else 0.0},
        "first_step_ms": {"p50": round(percentile(first_steps, 50), 3),
                          "p95": round(percentile(first_steps, 95), 3)},
        # cases whose goal is a refusal, and how many were refused; other cases refused anyway
        "refusals": {"cases": len(refusal_cases), "refused": refused,
                     "rate": refused / len(refusal_cases) if refusal_cases else None},
        "false_refusals": sum(1 for r in results if r.get("refused") and r["goal"] != [["refused"]]),
        "wall_s": round(time.perf_counter() - t_start, 3),
        "results": results,
    }


def format_report(report: dict) -> str:
    """The human-readable report: each failed case, then the totals."""
    lines = [f"FAIL line {r['line']}: {r['command']!r}: {r['error']}\n     plan: {r['plan']}"
             for r in report["results"] if not r["ok"]]
    lines.append(f"{report['backend']}: {report['succeeded']}/{report['cases']} = {report['success_rate']:.3f}  "
                 f"latency p50 {report['latency_ms']['p50']} ms  p95 {report['latency_ms']['p95']} ms  "
                 f"first step p50 {report['first_step_ms']['p50']} ms  refusals "
                 f"{report['refusals']['refused']}/{report['refusals']['cases']}  "
                 f"false refusals {report['false_refusals']}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    import argparse
    ap = argparse.ArgumentParser(description="evaluate a planner backend on goal-checked cases")
    ap.add_argument("--cases", required=True, help="JSONL case file")
    ap.add_argument("--backend", default=DEFAULT_BACKEND)
    ap.add_argument("--world", default=None, help="world description YAML (default: the home)")
    ap.add_argument("--unpunctuated", action="store_true", help="each command as speech recognition gives it")
    ap.add_argument("--json", action="store_true", help="print the full report as one JSON object")
    args = ap.parse_args(argv)
    report = evaluate_planner(args.cases, args.backend, args.world, unpunctuated=args.unpunctuated)
    print(json.dumps(report) if args.json else format_report(report))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
