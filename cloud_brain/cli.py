"""`brainstem`: the command line for the whole system (cloud, edge, sim, evaluation).

    brainstem demo [--command TEXT] [--goal JSON] [--world FILE] [--world-overrides JSON]
    brainstem cloud serve --port 50051 [--planner rules]
    brainstem plan "bring me the red cup" [--backend rules] [--world-overrides JSON]
    brainstem eval planner --cases FILE.jsonl [--backend rules] [--json]
    brainstem bench mla [--json] [--quick]
"""

from __future__ import annotations

import argparse
import json
import logging
import sys

from cloud_brain import env


def _json_arg(text: str | None, what: str):
    if not text:
        return None
    try:
        return json.loads(text)
    except json.JSONDecodeError as e:
        raise SystemExit(f"brainstem: {what} is not valid JSON: {e}")


def cmd_demo(a) -> int:
    from edge_nerve.bringup.demo import run_demo

    res = run_demo(a.command, _json_arg(a.goal, "--goal"), world_file=a.world or "",
                   world_overrides=_json_arg(a.world_overrides, "--world-overrides"),
                   real_time_factor=a.real_time_factor, timeout_s=a.timeout, planner=a.planner,
                   run_dir=a.run_dir)
    print(f"\nmission {'PASSED' if res.ok else 'FAILED'} in {res.total_s:.1f}s "
          f"(first step after {res.first_step_ms} ms); record: {res.run_dir}/mission.json")
    return 0 if res.ok else 1


def cmd_cloud_serve(a) -> int:
    from cloud_brain.server import service

    logging.getLogger().setLevel(logging.INFO)  # a service logs its sessions and plans
    argv = ["--port", str(a.port), "--host", a.host, "--planner", a.planner]
    if a.world:
        argv += ["--world", a.world]
    return service.main(argv)


def cmd_plan(a) -> int:
    from cloud_brain.domain.description import load_world
    from cloud_brain.domain.state import WorldState
    from cloud_brain.planner.base import get_planner

    world = load_world(a.world or None)
    state = WorldState.initial(world, _json_arg(a.world_overrides, "--world-overrides"))
    res = get_planner(a.backend, world).plan(a.text, state)
    if a.json:
        print(json.dumps({"command": a.text, "plan": [str(s) for s in res.steps], "goals": res.goals,
                          "refusal": res.refusal, "latency_ms": res.latency_ms}))
    else:
        for s in res.steps:
            print(s)
    return 0


def cmd_eval_planner(a) -> int:
    from cloud_brain.evaluation import evaluate_planner, format_report

    try:
        report = evaluate_planner(a.cases, a.backend, a.world)
    except (OSError, ValueError) as e:
        print(f"brainstem eval planner: {e}", file=sys.stderr)
        return 2
    print(json.dumps(report) if a.json else format_report(report))
    return 0


def cmd_bench_mla(a) -> int:
    from cloud_brain.model.bench import run_mla_bench, summary_lines

    report = run_mla_bench(quick=a.quick, threads=a.threads)
    print(json.dumps(report) if a.json else "\n".join(summary_lines(report)))
    return 0


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="brainstem", description=__doc__.split("\n")[0])
    ap.add_argument("--log-level", default="WARNING")
    sub = ap.add_subparsers(dest="cmd", required=True)

    d = sub.add_parser("demo", help="run a mission end to end: cloud + edge nodes + MuJoCo sim")
    d.add_argument("--command", default="bring me the red cup")
    d.add_argument("--goal", help='goal predicates as JSON, e.g. [["delivered","red_cup"]] '
                                  "(default: what the plan promises)")
    d.add_argument("--world", help="world description YAML (default: the home)")
    d.add_argument("--world-overrides", help='JSON, e.g. {"user": "kitchen"}')
    d.add_argument("--planner", default="rules")
    d.add_argument("--real-time-factor", type=float, default=2.0)
    d.add_argument("--timeout", type=float, default=300.0, help="seconds for the mission")
    d.add_argument("--run-dir", help="where logs and the mission record go (default runs/<time>)")
    d.set_defaults(fn=cmd_demo)

    c = sub.add_parser("cloud", help="the cloud brain service")
    csub = c.add_subparsers(dest="cloud_cmd", required=True)
    s = csub.add_parser("serve", help="serve CloudBrain.Session over gRPC")
    s.add_argument("--port", type=int, default=50051)
    s.add_argument("--host", default="127.0.0.1")
    s.add_argument("--planner", default="rules")
    s.add_argument("--world")
    s.set_defaults(fn=cmd_cloud_serve)

    p = sub.add_parser("plan", help="plan one command (no robot)")
    p.add_argument("text")
    p.add_argument("--backend", default="rules")
    p.add_argument("--world")
    p.add_argument("--world-overrides")
    p.add_argument("--json", action="store_true")
    p.set_defaults(fn=cmd_plan)

    e = sub.add_parser("eval", help="evaluations")
    esub = e.add_subparsers(dest="eval_cmd", required=True)
    ep = esub.add_parser("planner", help="plan every case, execute symbolically, check the goal")
    ep.add_argument("--cases", required=True)
    ep.add_argument("--backend", default="rules")
    ep.add_argument("--world")
    ep.add_argument("--json", action="store_true")
    ep.set_defaults(fn=cmd_eval_planner)

    b = sub.add_parser("bench", help="benchmarks (percentiles, ratios against a same-run baseline)")
    bsub = b.add_subparsers(dest="bench_cmd", required=True)
    bm = bsub.add_parser("mla", help="KV-cache bytes (MHA/GQA/MLA/hybrid), absorb accuracy, decode speed")
    bm.add_argument("--json", action="store_true")
    bm.add_argument("--quick", action="store_true", help="skip the decode-speed runs")
    bm.add_argument("--threads", type=int)
    bm.set_defaults(fn=cmd_bench_mla)
    return ap


def main(argv: list[str] | None = None) -> int:
    env.bootstrap()  # no-op when the venv's .pth hook already set the environment
    a = build_parser().parse_args(argv)
    logging.basicConfig(level=a.log_level.upper(), format="%(asctime)s %(name)s %(levelname)s %(message)s")
    missing = env.check_built()
    if missing:
        print(f"brainstem: not built yet: {', '.join(missing)}; run `make setup`", file=sys.stderr)
        return 2
    return a.fn(a)


if __name__ == "__main__":
    sys.exit(main())
