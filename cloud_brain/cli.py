"""`brainstem`: the command line for the whole system (cloud, edge, sim, evaluation).

    brainstem demo [--command TEXT] [--goal JSON] [--world FILE] [--world-overrides JSON]
    brainstem up [--sim] [--command TEXT] [--cloud-address HOST:PORT]
    brainstem cloud serve --port 50051 [--planner moe|rules] [--tls-dir DIR --require-client-cert --require-token]
    brainstem certs --out DIR --robot robot-1 [--robot ...] [--host cloud.example]
    brainstem token --dir DIR --robot robot-1 [--ttl-s 3600]
    brainstem plan "bring me the red cup" [--backend moe|rules|openai] [--world-overrides JSON]
    brainstem eval planner --cases FILE.jsonl [--backend moe|rules|openai] [--unpunctuated] [--json]
    brainstem eval planner --synthetic N [--seed S] ...  (corpus dev templates: unseen phrasings, random worlds)
        (--backend openai --base-url URL [--model M] [--api-key K]: any OpenAI-compatible server)
    brainstem serve openai --port 8000 [--backend moe|rules]   (OpenAI-compatible HTTP API, /metrics)
    brainstem cloud serve ... --metrics-port 9464              (Prometheus /metrics beside the gRPC port)
    brainstem eval voice [--json] [--utterances N]
    brainstem demo --wav FILE [--speaker DIR]      (the command spoken, heard by the voice node)
    brainstem voice prompts [--n 30] > prompts.txt   (speaker enrollment: what to read aloud)
    brainstem voice enroll --prompts prompts.txt --wav-dir DIR --out speakers/me   (or --espeak-voice V)
    brainstem bench mla [--json] [--quick]
    brainstem bench mtp [--json] [--n N] [--artifact DIR]
    brainstem bench edge [--json] [--seconds N] [--realtime-priority 50] [--pin]
    brainstem bench prefetch --rtt-ms 300 [--json] [--backend rules] [--missions 20]
    brainstem bench chaos [--json] [--missions 100] [--fuzz-cases 10000]   (drops, kill -9, restarts, fuzz)
    brainstem bench fleet --robots 32 [--json] [--seconds 60]   (batched vs unbatched moe, real gRPC)
    brainstem cloud serve --planner moe --batching [--max-batch 32 --max-queue 64]
    brainstem train planner --out DIR [--minutes M] [--seed S]
    brainstem distill --out DIR [--seed S] [--smoke]   (skill teachers -> ONNX student: BC + DAgger)
    brainstem eval skills [--episodes N] [--json]      (teacher / bc / dagger_fp32 / dagger_int8)
"""

from __future__ import annotations

import argparse
import json
import logging
import sys

from cloud_brain import env
from cloud_brain.planner.base import DEFAULT_BACKEND


def _json_arg(text: str | None, what: str):
    if not text:
        return None
    try:
        return json.loads(text)
    except json.JSONDecodeError as e:
        raise SystemExit(f"brainstem: {what} is not valid JSON: {e}")


def _add_openai_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--base-url", help="--backend openai: the server, e.g. http://127.0.0.1:8000/v1 "
                                      "(default $OPENAI_BASE_URL)")
    p.add_argument("--model", help="--backend openai: model id (default: the first the server lists)")
    p.add_argument("--api-key", help="--backend openai: API key (default $OPENAI_API_KEY, else none)")


def _apply_openai_options(a) -> None:
    """The openai backend reads its settings from the environment (also in child processes)."""
    import os

    for opt, var in (("base_url", "OPENAI_BASE_URL"), ("model", "BRAINSTEM_OPENAI_MODEL"),
                     ("api_key", "OPENAI_API_KEY")):
        if getattr(a, opt, None):
            os.environ[var] = getattr(a, opt)


def cmd_serve_openai(a) -> int:
    from cloud_brain.server import openai_api

    argv = ["--port", str(a.port), "--host", a.host, "--backend", a.backend, "--log-level", a.log_level]
    if a.world:
        argv += ["--world", a.world]
    if a.served_model_name:
        argv += ["--served-model-name", a.served_model_name]
    return openai_api.main(argv)


def cmd_demo(a) -> int:
    from edge_nerve.bringup.demo import run_demo
    from edge_nerve.voice.asr import VoiceError

    try:
        res = run_demo(a.command, _json_arg(a.goal, "--goal"), world_file=a.world or "",
                       world_overrides=_json_arg(a.world_overrides, "--world-overrides"),
                       real_time_factor=a.real_time_factor, timeout_s=a.timeout, planner=a.planner,
                       run_dir=a.run_dir, record=a.record, wav=a.wav, skills=a.skills,
                       **({"speaker": a.speaker} if a.speaker else {}))
    except VoiceError as e:
        print(f"brainstem demo: {e}", file=sys.stderr)
        return 2
    print(f"\nmission {'PASSED' if res.ok else 'FAILED'} in {res.total_s:.1f}s "
          f"(first step after {res.first_step_ms} ms); record: {res.run_dir}/mission.json")
    return 0 if res.ok else 1


def cmd_eval_voice(a) -> int:
    from edge_nerve.voice.evaluation import evaluate_voice

    try:
        report = evaluate_voice(a.utterances, a.world, seed=a.seed, threshold=a.threshold, planner=a.planner,
                                enrollment=a.enrollment, **({} if a.warps is None else {"warps": a.warps}))
    except RuntimeError as e:
        print(f"brainstem eval voice: {e}", file=sys.stderr)
        return 2
    if a.json:
        print(json.dumps(report))
    else:
        for name, c in report["conditions"].items():
            print(f"{name:>15}: WER {c['wer']:.1%}  command success {c['command_success']:.1%}  "
                  f"latency p50 {c['latency_ms']['p50']:.0f} ms p95 {c['latency_ms']['p95']:.0f} ms")
    return 0


def cmd_voice(a) -> int:
    from edge_nerve.voice.adapt import main

    return main(a.rest)


def cmd_up(a) -> int:
    from edge_nerve.bringup.up import up

    return up(sim=a.sim, command=a.command, cloud_address=a.cloud_address, world_file=a.world or "",
              world_overrides=_json_arg(a.world_overrides, "--world-overrides"),
              real_time_factor=a.real_time_factor, duration=a.duration, run_dir=a.run_dir, record=a.record,
              gazebo=a.gazebo)


def cmd_report(a) -> int:
    from pathlib import Path

    from edge_nerve.bringup.report import report

    report(a.mcap, a.out or Path(a.mcap).with_suffix("").as_posix() + "-report")  # prints the timeline
    return 0


def cmd_cloud_serve(a) -> int:
    from cloud_brain.server import service

    logging.getLogger().setLevel(logging.INFO)  # a service logs its sessions and plans
    argv = ["--port", str(a.port), "--host", a.host, "--planner", a.planner]
    if a.metrics_port is not None:
        argv += ["--metrics-port", str(a.metrics_port)]
    if a.world:
        argv += ["--world", a.world]
    if a.state_db:
        argv += ["--state-db", a.state_db]
    from cloud_brain.security.options import forward_server_args
    from cloud_brain.server.admission import forward_batching_args

    return service.main(argv + forward_server_args(a) + forward_batching_args(a))


def cmd_certs(a) -> int:
    from cloud_brain.security.certs import write_certs

    try:
        issued = write_certs(a.out, a.robot, a.host, days=a.days, token_days=a.token_days, force=a.force)
    except (ValueError, OSError) as e:
        print(f"brainstem certs: {e}", file=sys.stderr)
        return 2
    for f in issued.files:
        print(f)
    print(f"serve:  brainstem cloud serve --host 0.0.0.0 --tls-dir {a.out} --require-client-cert --require-token")
    for r in issued.robots[:1]:
        print(f"robot:  python -m edge_nerve.link.client --address HOST:50051 --tls-dir {a.out} "
              f"--robot-id {r} \"bring me the red cup\"")
    return 0


def cmd_token(a) -> int:
    from pathlib import Path

    from cloud_brain.security import tokens
    from cloud_brain.security.layout import CertPaths

    try:
        secret = tokens.load_secret(a.key or CertPaths(Path(a.dir)).token_key)
        print(tokens.issue(secret, a.robot, ttl_s=a.ttl_s))
    except (ValueError, OSError) as e:
        print(f"brainstem token: {e}", file=sys.stderr)
        return 2
    return 0


def cmd_plan(a) -> int:
    from cloud_brain.domain.description import load_world
    from cloud_brain.domain.state import WorldState
    from cloud_brain.planner.base import get_planner

    _apply_openai_options(a)
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
    from cloud_brain.evaluation import evaluate_planner, evaluate_synthetic, format_report

    _apply_openai_options(a)
    try:
        if a.synthetic is not None:
            if a.synthetic < 1 or a.world:
                raise ValueError("--synthetic takes a number of commands >= 1 and draws its own worlds (no --world)")
            report = evaluate_synthetic(a.synthetic, a.backend, a.seed, unpunctuated=a.unpunctuated)
        else:
            report = evaluate_planner(a.cases, a.backend, a.world, unpunctuated=a.unpunctuated)
    except (OSError, ValueError) as e:
        print(f"brainstem eval planner: {e}", file=sys.stderr)
        return 2
    print(json.dumps(report) if a.json else format_report(report))
    return 0


def cmd_bench_mtp(a) -> int:
    from cloud_brain.decoding.bench import run_mtp_bench

    report = run_mtp_bench(n=a.n, artifact=a.artifact, threads=a.threads)
    if a.json:
        print(json.dumps(report))
    else:
        print(f"MTP speculative vs greedy over {report['prompts']} dev prompts: identical={report['identical']} "
              f"acceptance={report['acceptance_rate']['depth_1']:.1%} "
              f"tokens/s {report['tokens_per_s']['greedy']:.0f} -> {report['tokens_per_s']['speculative']:.0f} "
              f"(x{report['speedup']:.2f})")
    return 0 if report["identical"] else 1


def cmd_bench_mla(a) -> int:
    from cloud_brain.model.bench import run_mla_bench, summary_lines

    report = run_mla_bench(quick=a.quick, threads=a.threads)
    print(json.dumps(report) if a.json else "\n".join(summary_lines(report)))
    return 0


def cmd_train_planner(a) -> int:
    from cloud_brain.planner.train import planner_args, train

    if a.init and a.copy_head:
        print("brainstem train planner: --init takes the artifact's shape; --copy-head cannot change it", file=sys.stderr)
        return 2
    rec = train(a.out, minutes=a.minutes, seed=a.seed, threads=a.threads, max_steps=a.steps or None,
                batch_size=a.batch_size, lr=a.lr, device=a.device, workers=a.workers, schedule=a.schedule,
                args=None if a.init else planner_args(copy_head=a.copy_head), init=a.init)
    print(json.dumps({k: v for k, v in rec.items() if k != "expert_load"}))
    return 0


def cmd_bench_edge(a) -> int:
    from edge_nerve.bench.loop import run_edge_bench

    report = run_edge_bench(a.seconds, executor=a.executor, realtime_priority=a.realtime_priority,
                            pin=a.pin, idle_latency_us=a.cpu_dma_latency_us)
    if a.json:
        print(json.dumps(report))
        return 0
    pu, loop, echo = report["policy_us"], report["ros_loop_ms"], report["ros_echo_ms"]
    for k, v in pu.items():
        print(f"policy {k:<12} p50 {v['p50']:8.1f} us  p99 {v['p99']:8.1f} us  max {v['max']:9.1f} us")
    for r, v in loop.items():
        print(f"ros loop {r:>4} Hz  p50 {v['p50']:.3f} ms  p99 {v['p99']:.3f} ms  misses {v['misses']}/{v['sent']} "
              f"(dropped {v['dropped']})")
    print(f"ros echo         p50 {echo['p50']:.3f} ms  p99 {echo['p99']:.3f} ms  dropped {echo['dropped']}")
    for label, v in {**report["scheduling"], **report["cpu_idle"]}.items():
        print(f"{label}: loop p99 {v['loop']['p99']:.3f} ms ({v['loop']['dropped']} dropped), "
              f"echo p99 {v['echo']['p99']:.3f} ms")
    print("targets: " + ", ".join(f"{k}={'yes' if ok else 'NO'}" for k, ok in report["targets"].items()))
    return 0


def cmd_bench_prefetch(a) -> int:
    from edge_nerve.bench.prefetch import run_prefetch_bench, summary_lines

    report = run_prefetch_bench(a.rtt_ms, a.jitter_ms, a.missions, a.backend, a.time_scale,
                                tuple(a.strategies.split(",")), a.fault_rate, a.seed)
    print(json.dumps(report) if a.json else "\n".join(summary_lines(report)))
    return 0


def cmd_bench_chaos(a) -> int:
    from edge_nerve.bench.chaos import run_chaos_bench, summary_lines

    report = run_chaos_bench(a.missions, a.rtt_ms, a.jitter_ms, a.time_scale, a.fuzz_cases, a.seed,
                             a.workdir, a.mission_timeout_s)
    print(json.dumps(report) if a.json else "\n".join(summary_lines(report)))
    return 0 if all(v for k, v in report["targets"].items()) else 1


def cmd_bench_fleet(a) -> int:
    from cloud_brain.server.fleet_bench import run_fleet_bench, summary_lines

    from cloud_brain.server.fleet_bench import DEFAULT_CASES

    report = run_fleet_bench(a.robots, a.seconds, a.rounds, a.cases or DEFAULT_CASES,
                             tuple(a.modes.split(",")), a.seed, a.artifact, a.engine_threads)
    print(json.dumps(report) if a.json else "\n".join(summary_lines(report)))
    return 0


def cmd_distill(a) -> int:
    from dataclasses import replace

    from edge_nerve.skills.distill import SMOKE, DistillConfig, distill, limit_threads

    limit_threads()
    cfg = replace(SMOKE if a.smoke else DistillConfig(), seed=a.seed)
    rec = distill(a.out, cfg, show_progress=not a.no_progress)
    print(json.dumps({k: rec[k] for k in ("train_time_s", "rounds", "bc")}))
    return 0


def cmd_eval_skills(a) -> int:
    from edge_nerve.skills.distill import evaluate, limit_threads

    limit_threads()
    kw = {"artifact_dir": a.artifact} if a.artifact else {}
    report = evaluate(a.episodes, a.seed, show_progress=not a.json and sys.stderr.isatty(), world=a.world,
                      policies=tuple(a.policies.split(",")), workers=a.workers, **kw)
    if a.json:
        print(json.dumps(report))
    else:
        for s, row in report["skills"].items():
            print(f"{s:<9} " + "  ".join(f"{p} {v['success_rate']:.0%} ({v['mean_time_s']} s)" for p, v in row.items()))
        print("done when: " + ", ".join(f"{k}={'yes' if v else 'NO'}" for k, v in report["done_when"].items()))
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
    d.add_argument("--planner", default=DEFAULT_BACKEND, help="planner backend: moe (the embedded MoE, default) or rules")
    d.add_argument("--real-time-factor", type=float, default=2.0)
    d.add_argument("--timeout", type=float, default=300.0, help="seconds for the mission")
    d.add_argument("--run-dir", help="where logs and the mission record go (default runs/<time>)")
    d.add_argument("--wav", help="speak the command: a WAV file the voice node listens to "
                                 "(--command is then ignored)")
    d.add_argument("--speaker", help="with --wav: an enrolled speaker folder (brainstem voice enroll)")
    d.add_argument("--record", action="store_true", help="write runs/<time>/mission.mcap (Foxglove)")
    d.add_argument("--skills", default="auto", choices=("auto", "student", "teacher"),
                   help="skill controllers: the distilled ONNX student (INT8), the privileged teachers, or "
                        "auto: the student in a world it was distilled in, else the teachers")
    d.set_defaults(fn=cmd_demo)

    r = sub.add_parser("report", help="a recorded run: the mission timeline and latency histograms")
    r.add_argument("mcap")
    r.add_argument("--out", help="where the PNGs go (default: next to the recording)")
    r.set_defaults(fn=cmd_report)

    u = sub.add_parser("up", help="start the node graph (as launch/*.launch.py) without ros2 launch")
    u.add_argument("--sim", action="store_true", help="with the MuJoCo home world and a local cloud")
    u.add_argument("--cloud-address", default="127.0.0.1:50051", help="the cloud, without --sim")
    u.add_argument("--gazebo", action="store_true",
                   help="edge nodes + gazebo_adapter (use_sim_time) for a Gazebo world behind ros_gz_bridge")
    u.add_argument("--command", help="run this command once everything is up (with --sim)")
    u.add_argument("--world")
    u.add_argument("--world-overrides")
    u.add_argument("--real-time-factor", type=float, default=1.0)
    u.add_argument("--duration", type=float, help="stop after this many seconds (default: Ctrl-C)")
    u.add_argument("--run-dir")
    u.add_argument("--record", action="store_true", help="write <run dir>/mission.mcap (Foxglove, brainstem report)")
    u.set_defaults(fn=cmd_up)

    c = sub.add_parser("cloud", help="the cloud brain service")
    csub = c.add_subparsers(dest="cloud_cmd", required=True)
    s = csub.add_parser("serve", help="serve CloudBrain.Session over gRPC")
    s.add_argument("--port", type=int, default=50051)
    s.add_argument("--host", default="127.0.0.1")
    s.add_argument("--planner", default=DEFAULT_BACKEND, help="planner backend: moe (the embedded MoE, default) or rules")
    s.add_argument("--world")
    s.add_argument("--metrics-port", type=int, help="serve Prometheus /metrics on this port (0: any)")
    s.add_argument("--state-db", help="SQLite file the sessions are written through to (a restarted "
                                      "cloud resumes them; default: a temp file of the process; ':memory:' keeps nothing)")
    from cloud_brain.security.options import add_server_args

    add_server_args(s)
    from cloud_brain.server.admission import add_batching_args

    add_batching_args(s)
    s.set_defaults(fn=cmd_cloud_serve)

    k = sub.add_parser("certs", help="make a CA, the cloud's TLS certificate, robot certificates and tokens")
    k.add_argument("--out", required=True, help="directory (created; private keys are written 0600)")
    k.add_argument("--robot", action="append", default=[], help="a robot id (repeat for several)")
    k.add_argument("--host", action="append", default=[],
                   help="a DNS name or IP robots dial the cloud at (localhost and 127.0.0.1 always)")
    k.add_argument("--days", type=int, default=825, help="validity of the cloud and robot certificates")
    k.add_argument("--token-days", type=float, default=30.0, help="validity of the robots' tokens")
    k.add_argument("--force", action="store_true", help="a new CA and token key (old certificates stop working)")
    k.set_defaults(fn=cmd_certs)

    tk = sub.add_parser("token", help="issue a robot token signed with a certs directory's token.key")
    tk.add_argument("--dir", default=".", help="the `brainstem certs` directory")
    tk.add_argument("--key", help="the token key file (default DIR/token.key)")
    tk.add_argument("--robot", required=True)
    tk.add_argument("--ttl-s", type=float, default=30 * 86400.0)
    tk.set_defaults(fn=cmd_token)

    so = sub.add_parser("serve", help="serve the planner over other APIs")
    sosub = so.add_subparsers(dest="serve_cmd", required=True)
    oa = sosub.add_parser("openai", help="an embedded planner behind an OpenAI-compatible HTTP API "
                                         "(/v1/models, /v1/chat/completions, /metrics)")
    oa.add_argument("--port", type=int, default=8000, help="0 picks a free port (printed)")
    oa.add_argument("--host", default="127.0.0.1")
    oa.add_argument("--backend", default=DEFAULT_BACKEND, help="the embedded planner: moe or rules")
    oa.add_argument("--world")
    oa.add_argument("--served-model-name", help="model id (default brainstem-<backend>)")
    oa.set_defaults(fn=cmd_serve_openai)

    p = sub.add_parser("plan", help="plan one command (no robot)")
    p.add_argument("text")
    p.add_argument("--backend", default=DEFAULT_BACKEND, help="moe (the embedded MoE, default), rules or openai")
    p.add_argument("--world")
    p.add_argument("--world-overrides")
    p.add_argument("--json", action="store_true")
    _add_openai_options(p)
    p.set_defaults(fn=cmd_plan)

    vo = sub.add_parser("voice", help="speaker enrollment: prompts to read, a transform from recordings",
                        add_help=False)
    vo.add_argument("rest", nargs=argparse.REMAINDER)
    vo.set_defaults(fn=cmd_voice)
    e = sub.add_parser("eval", help="evaluations")
    esub = e.add_subparsers(dest="eval_cmd", required=True)
    ep = esub.add_parser("planner", help="plan every case, execute symbolically, check the goal")
    src = ep.add_mutually_exclusive_group(required=True)
    src.add_argument("--cases", help="a JSONL case file")
    src.add_argument("--synthetic", type=int, metavar="N",
                     help="N commands from the corpus's dev templates (unseen phrasings, random worlds)")
    ep.add_argument("--seed", type=int, default=0, help="--synthetic: which commands")
    ep.add_argument("--backend", default=DEFAULT_BACKEND, help="moe (the embedded MoE, default), rules or openai")
    ep.add_argument("--world")
    ep.add_argument("--unpunctuated", action="store_true",
                    help="each command as speech recognition gives it: lower case, no punctuation")
    ep.add_argument("--json", action="store_true")
    _add_openai_options(ep)
    ep.set_defaults(fn=cmd_eval_planner)
    ev = esub.add_parser("voice", help="speech -> text -> plan on espeak-ng utterances, clean and noisy")
    ev.add_argument("--utterances", type=int, default=120)
    ev.add_argument("--world")
    ev.add_argument("--seed", type=int, default=0)
    ev.add_argument("--threshold", type=float, default=0.5, help="confidence threshold reported")
    ev.add_argument("--warps", type=lambda t: tuple(float(w) for w in t.split(",") if w.strip()), default=None,
                    help="vocal tract length normalisation: warp factors decoded, best path kept "
                         "(default 0.94,1,1.06,1.12; '1': none; each costs one more decode)")
    ev.add_argument("--planner", default=DEFAULT_BACKEND, help="planner backend: moe (default) or rules")
    ev.add_argument("--enrollment", type=int, default=30,
                    help="prompts each voice reads for speaker enrollment before the enrolled_* "
                         "conditions (0: speaker independent only)")
    ev.add_argument("--json", action="store_true")
    ev.set_defaults(fn=cmd_eval_voice)
    es = esub.add_parser("skills", help="teachers vs BC vs DAgger students (fp32, INT8) in MuJoCo")
    es.add_argument("--episodes", type=int, default=100, help="episodes per skill")
    es.add_argument("--seed", type=int, default=1000, help="start-state seed (training uses 0)")
    es.add_argument("--artifact", help="student folder (default edge_nerve/skills/artifacts/student-v4)")
    es.add_argument("--policies", default="teacher,bc,dagger_fp32,dagger_int8")
    es.add_argument("--workers", type=int, default=1, help="processes (skills split between them)")
    es.add_argument("--world")
    es.add_argument("--json", action="store_true")
    es.set_defaults(fn=cmd_eval_skills)

    b = sub.add_parser("bench", help="benchmarks (percentiles, ratios against a same-run baseline)")
    bsub = b.add_subparsers(dest="bench_cmd", required=True)
    bm = bsub.add_parser("mla", help="KV-cache bytes (MHA/GQA/MLA/hybrid), absorb accuracy, decode speed")
    bm.add_argument("--json", action="store_true")
    bm.add_argument("--quick", action="store_true", help="skip the decode-speed runs")
    bm.add_argument("--threads", type=int)
    bm.set_defaults(fn=cmd_bench_mla)
    bt = bsub.add_parser("mtp", help="MTP speculative decoding vs greedy on the planner (cloud_brain/decoding/bench.py)")
    bt.add_argument("--n", type=int, default=120, help="dev prompts (tests/data/dev_cases.jsonl, cycled)")
    bt.add_argument("--artifact", help="planner artifact folder (default: the shipped one)")
    bt.add_argument("--threads", type=int, default=1)
    bt.add_argument("--json", action="store_true")
    bt.set_defaults(fn=cmd_bench_mtp)
    be = bsub.add_parser("edge", help="policy latency, ROS 2 control loop vs bare echo, CPU (edge_nerve/bench/loop.py)")
    be.add_argument("--seconds", type=float, default=30.0, help="seconds per loop/echo run")
    be.add_argument("--executor", default="events", choices=("events", "single", "multi"))
    be.add_argument("--realtime-priority", type=int, default=50,
                    help="SCHED_FIFO priority of the control process and the probe, as ros2_control runs "
                         "its loop (0: the normal scheduler)")
    be.add_argument("--pin", action="store_true", help="pin the node and the probe to CPUs 1 and 0 (on this VM "
                                                       "pinning caused 50-80 ms stalls: off by default)")
    be.add_argument("--cpu-dma-latency-us", type=int, default=0,
                    help="CPU idle exit latency the control process holds while it runs (PM QoS, as cyclictest "
                         "does; 0: idle CPUs poll; -1: none); the top rate also runs without it (cpu_idle)")
    be.add_argument("--json", action="store_true")
    be.set_defaults(fn=cmd_bench_edge)
    bp = bsub.add_parser("prefetch", help="full_plan vs per_step vs prefetch over gRPC through a delay "
                                          "proxy (edge_nerve/bench/prefetch.py)")
    bp.add_argument("--rtt-ms", type=float, default=300.0, help="round trip the proxy injects")
    bp.add_argument("--jitter-ms", type=float, default=0.0, help="one-way delay spread (+- half)")
    bp.add_argument("--missions", type=int, default=20, help="multi-step missions from tests/cases")
    bp.add_argument("--backend", default="rules", help="planner backend of the cloud process")
    bp.add_argument("--time-scale", type=float, default=0.05, help="skill time = sim-measured time x this")
    bp.add_argument("--strategies", default="full_plan,per_step,prefetch")
    bp.add_argument("--fault-rate", type=float, default=0.0, help="share of missions with one injected fault")
    bp.add_argument("--seed", type=int, default=0)
    bp.add_argument("--json", action="store_true")
    bp.set_defaults(fn=cmd_bench_prefetch)
    bc = bsub.add_parser("chaos", help="missions through link drops, cloud kill -9 + restart, edge restarts, "
                                       "duplicated/reordered messages, then fuzz (edge_nerve/bench/chaos.py)")
    bc.add_argument("--missions", type=int, default=100)
    bc.add_argument("--fuzz-cases", type=int, default=10_000, help="hypothesis cases against the live cloud")
    bc.add_argument("--rtt-ms", type=float, default=40.0)
    bc.add_argument("--jitter-ms", type=float, default=20.0)
    bc.add_argument("--time-scale", type=float, default=0.02, help="skill time = sim-measured time x this")
    bc.add_argument("--mission-timeout-s", type=float, default=60.0)
    bc.add_argument("--workdir", help="where the state DB and edge journal go (default: a temp folder)")
    bc.add_argument("--seed", type=int, default=0)
    bc.add_argument("--json", action="store_true")
    bc.set_defaults(fn=cmd_bench_chaos)
    bf = bsub.add_parser("fleet", help="many robots on one cloud: batched vs unbatched moe over real gRPC "
                                       "(cloud_brain/server/fleet_bench.py)")
    bf.add_argument("--robots", type=int, default=32)
    bf.add_argument("--seconds", type=float, default=60.0, help="closed-loop duration per mode")
    bf.add_argument("--rounds", type=int, default=5, help="saturation rounds per mode")
    bf.add_argument("--cases", default=None, help="commands + world overrides (default: tests/data/dev_cases.jsonl)")
    bf.add_argument("--modes", default="unbatched,batched")
    bf.add_argument("--artifact", help="planner weights folder (default: shipped)")
    bf.add_argument("--engine-threads", type=int, help="torch threads of the batched engine")
    bf.add_argument("--seed", type=int, default=0)
    bf.add_argument("--json", action="store_true")
    bf.set_defaults(fn=cmd_bench_fleet)
    t = sub.add_parser("train", help="training")
    tsub = t.add_subparsers(dest="train_cmd", required=True)
    tp = tsub.add_parser("planner", help="train the MoE planner on the synthetic corpus (CPU)")
    tp.add_argument("--out", required=True, help="artifact folder (safetensors + config + tokenizer)")
    tp.add_argument("--minutes", type=float, default=90.0,
                    help="wall-clock cap (a safety stop; the schedule runs over --steps)")
    tp.add_argument("--seed", type=int, default=0)
    tp.add_argument("--threads", type=int, default=2, help="torch threads")
    tp.add_argument("--steps", type=int, default=4000,
                    help="optimizer steps; the learning-rate schedule runs over them (0: over --minutes)")
    tp.add_argument("--schedule", default="wsd", choices=["wsd", "cosine"])
    tp.add_argument("--batch-size", type=int, default=8)
    tp.add_argument("--lr", type=float, default=3e-3)
    tp.add_argument("--device", default="cpu", help="cpu, or cuda where there is a GPU (same recipe)")
    tp.add_argument("--workers", type=int, default=0, help="processes making batches ahead (for --device cuda)")
    tp.add_argument("--init", help="start from this artifact's weights (fine-tuning; its shape and tokenizer)")
    tp.add_argument("--copy-head", action="store_true",
                    help="add the pointer-copy logits (model/pointer.py; an experiment, off in the recipe)")
    tp.set_defaults(fn=cmd_train_planner)
    ds = sub.add_parser("distill", help="distil the skill teachers into the ONNX student (BC + DAgger, INT8)")
    ds.add_argument("--out", required=True, help="artifact folder (ONNX fp32/INT8, meta.json)")
    ds.add_argument("--seed", type=int, default=0)
    ds.add_argument("--smoke", action="store_true", help="a tiny run (tests)")
    ds.add_argument("--no-progress", action="store_true")
    ds.set_defaults(fn=cmd_distill)
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
