"""`brainstem bench mtp`: MTP speculative decoding against greedy decoding (the planner's, with
jump-forward, and the textbook one pass per token), same model, same prompts, same run.

Why this shape: the claim is "as fast or faster, never different", so every prompt is decoded
every way back to back (rotating which goes first, so drift in a shared machine's load hits
all), the outputs are compared, and the figures are decode-phase throughput (tokens after the
prefill, forced tokens included, over the time after the prefill: the prefill is the same pass
for both) with percentiles of the per-plan decode time. Prompts: the hand-written dev cases
(tests/data/dev_cases.jsonl, world overrides applied), cycled to `n`.

Two baselines: `greedy` is the planner's own decoder, greedy with jump-forward (a token the
grammar forces is appended without a pass and fed with the next one); `speedup` is against it.
`plain_greedy` is the textbook baseline, one trunk pass per token (`jump_forward=False`);
`speedup_over_plain_greedy` shows how much of the gap to it the grammar closes without any
drafter (greedy / plain_greedy) and what the MTP adds on top.

Structural bound (`pass_bound`): the prefill's logits decide the first program token; every later
undecided token (the grammar allows several) needs trunk logits from a pass after the prefill,
and an exact decoder cannot skip the check of the last one. So a plan whose greedy decode made
any trunk pass needs at least one pass whatever the drafter (a perfect one with unlimited depth
verifies everything in that pass), and greedy passes / that minimum bounds the speedup in trunk
passes. `decode_time_bound` turns it into a decode-time bound: greedy's grammar time (replayed
alone) plus one greedy-average pass per such plan, free drafts, and a pass that carries every
remaining token costing no more than greedy's average pass (on this MoE model it costs more: each
extra token routes to more experts) — so the true bound is lower.

    brainstem bench mtp --json [--n 120] [--artifact DIR]
"""

from __future__ import annotations

import json
import statistics
import time
from pathlib import Path

import torch

from cloud_brain.decoding.constrained import DecodeStats, ProgramGrammar, decode_steps
from cloud_brain.decoding import speculative as spec
from cloud_brain.decoding.speculative import SpecStats, decode_steps_speculative

DEV_CASES = Path(__file__).resolve().parents[2] / "tests" / "data" / "dev_cases.jsonl"
KINDS = ["greedy", "speculative", "plain_greedy"]


def _pct(xs: list[float], q: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(q * (len(xs) - 1))))] if xs else 0.0


def load_prompts(n: int, cases: Path = DEV_CASES):
    """(command, state) for the first `n` dev cases (cycled when there are fewer)."""
    from cloud_brain.domain.description import load_world
    from cloud_brain.domain.state import WorldState
    world = load_world()
    rows = [json.loads(line) for line in cases.read_text().splitlines() if line.strip()]
    out = []
    for i in range(n):
        r = rows[i % len(rows)]
        out.append((r["command"], WorldState.initial(world, r.get("world"))))
    return out


class _Recording(ProgramGrammar):
    """A grammar that keeps the tokens it advanced over (for the grammar-time replay)."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.tokens: list[int] = []

    def advance(self, token: int):
        self.tokens.append(token)
        return super().advance(token)


def _grammar_time(tok, state, pr, steps, items, tokens: list[int]) -> float:
    """Seconds a fresh grammar takes to walk the same program tokens (allowed() and advance(),
    as the decoders call them): the decode time no trunk pass saving can remove."""
    grammar = ProgramGrammar(tok, state, pr.slot_of, mentioned=pr.mentioned)
    t0 = time.perf_counter()
    for t in tokens:
        grammar.allowed()
        grammar.advance(t)
    return time.perf_counter() - t0


def run_mtp_bench(n: int = 120, artifact: str | Path | None = None, threads: int = 1) -> dict:
    import random

    from cloud_brain.planner.checkpoint import DEFAULT_ARTIFACT, load_artifact
    from cloud_brain.planner.prompt import build_prompt
    torch.set_num_threads(threads)
    model, tok, cfg = load_artifact(Path(artifact) if artifact else DEFAULT_ARTIFACT)
    model.eval()
    prompts = load_prompts(n)
    g_stats, s_stats, p_stats = DecodeStats(), SpecStats(), DecodeStats()
    g_times, s_times, p_times = [], [], []
    identical = True
    mismatches = []
    min_passes = 0  # plans that need a trunk pass after the prefill (see pass_bound)
    grammar_s = 0.0  # greedy's grammar work alone (its outputs replayed)

    def run(kind: str, ids, state, slot_of, mentioned):
        grammar = _Recording(tok, state, slot_of, mentioned=mentioned)
        st = SpecStats() if kind == "speculative" else DecodeStats()
        if kind != "speculative":
            steps = list(decode_steps(model, ids, grammar, stats=st, jump_forward=kind == "greedy"))
        else:
            steps = list(decode_steps_speculative(model, ids, grammar, stats=st))
        return steps, grammar.items, st, grammar.tokens

    for _ in range(2):  # warm-up: first calls pay allocator and dispatch costs
        cmd, state = prompts[0]
        pr = build_prompt(tok, state, cmd, random.Random(0))
        for kind in KINDS:
            run(kind, pr.ids, state, pr.slot_of, pr.mentioned)
    t0 = time.perf_counter()
    for i, (cmd, state) in enumerate(prompts):
        pr = build_prompt(tok, state, cmd, random.Random(0))
        res = {}
        for kind in KINDS[i % 3:] + KINDS[:i % 3]:
            res[kind] = run(kind, pr.ids, state, pr.slot_of, pr.mentioned)
        (g_steps, g_items, g, _), (s_steps, s_items, s, _) = res["greedy"], res["speculative"]
        p_steps, p_items, p, _ = res["plain_greedy"]
        if not (g_steps, g_items) == (s_steps, s_items) == (p_steps, p_items):
            identical = False
            mismatches.append({"command": cmd, **{k: [str(x) for x in res[k][1]] for k in KINDS}})
        for f in ("tokens", "trunk_passes", "prefill_s", "decode_s"):
            setattr(p_stats, f, getattr(p_stats, f) + getattr(p, f))
        p_times.append(p.decode_s * 1000)
        for f in ("tokens", "trunk_passes", "prefill_s", "decode_s"):
            setattr(g_stats, f, getattr(g_stats, f) + getattr(g, f))
        s_stats.merge(s)
        min_passes += min(1, g.trunk_passes)
        grammar_s += _grammar_time(tok, state, pr, g_steps, g_items, res["greedy"][3])
        g_times.append(g.decode_s * 1000)
        s_times.append(s.decode_s * 1000)
    tps = {k: st.tokens / st.decode_s if st.decode_s else 0.0
           for k, st in (("greedy", g_stats), ("speculative", s_stats), ("plain_greedy", p_stats))}
    model_passes = s_stats.trunk_passes
    g_pass_s = (g_stats.decode_s - grammar_s) / g_stats.trunk_passes if g_stats.trunk_passes else 0.0
    ideal_s = grammar_s + min_passes * g_pass_s
    return {
        "bench": "mtp",
        "prompts": n,
        "artifact": str(Path(artifact) if artifact else DEFAULT_ARTIFACT),
        "mtp_depth": model.args.mtp_depth,
        "draft_depth_used": spec.DRAFT_DEPTH,
        "drafting": {"draft_depth": spec.DRAFT_DEPTH, "max_recursion": spec.MAX_RECURSION,
                     "boundary_drafts": False, "min_prob": spec.MIN_PROB},
        "threads": threads,
        "identical": identical,
        "mismatches": mismatches[:5],
        "acceptance_rate": {"depth_1": 0.0, **s_stats.depth_acceptance()},  # per depth: accepted / verified
        "drafted": s_stats.drafted,
        "accepted": s_stats.accepted,
        "drafts_by_depth": {f"depth_{k + 1}": {"verified": r, "accepted": a} for k, (r, a)
                            in enumerate(zip(s_stats.depth_reached, s_stats.depth_accepted))},
        "mtp_calls": {"prefill": n, "decode": s_stats.mtp_calls - n},
        # tokens the model decided per trunk pass when drafting: 1 + accepted drafts per pass
        "mean_accepted_length": round((model_passes + s_stats.accepted) / model_passes, 3) if model_passes else 0.0,
        "trunk_passes": {"greedy": g_stats.trunk_passes, "speculative": s_stats.trunk_passes,
                         "plain_greedy": p_stats.trunk_passes},
        # the structural bound (module docstring): no exact decoder needs fewer than `min` passes
        "pass_bound": {
            "greedy_per_plan": round(g_stats.trunk_passes / n, 3),
            "speculative_per_plan": round(s_stats.trunk_passes / n, 3),
            "min_per_plan": round(min_passes / n, 3),
            "min": min_passes,
            "max_speedup_in_passes": round(g_stats.trunk_passes / min_passes, 3) if min_passes else 0.0,
            "speculative_speedup_in_passes": round(g_stats.trunk_passes / s_stats.trunk_passes, 3)
            if s_stats.trunk_passes else 0.0,
        },
        "decode_time_bound": {
            "greedy_grammar_ms_per_plan": round(1000 * grammar_s / n, 3),
            "greedy_pass_ms": round(1000 * g_pass_s, 3),
            "max_speedup": round(g_stats.decode_s / ideal_s, 3) if ideal_s > 0 else 0.0,
        },
        "tokens": {"greedy": g_stats.tokens, "speculative": s_stats.tokens, "plain_greedy": p_stats.tokens},
        "tokens_per_s": {k: round(v, 1) for k, v in tps.items()},
        "decode_ms": {"greedy": {"p50": round(statistics.median(g_times), 3), "p95": round(_pct(g_times, 0.95), 3)},
                      "speculative": {"p50": round(statistics.median(s_times), 3),
                                      "p95": round(_pct(s_times, 0.95), 3)},
                      "plain_greedy": {"p50": round(statistics.median(p_times), 3),
                                       "p95": round(_pct(p_times, 0.95), 3)}},
        "prefill_ms_mean": round(1000 * g_stats.prefill_s / n, 3),
        "baselines": {"greedy": "greedy with jump-forward: the planner's decoder (speedup is against it)",
                      "plain_greedy": "one trunk pass per token, forced tokens included"},
        "speedup": round(tps["speculative"] / tps["greedy"], 3) if tps["greedy"] else 0.0,
        "speedup_over_plain_greedy": {k: round(tps[k] / tps["plain_greedy"], 3) if tps["plain_greedy"] else 0.0
                                      for k in ("greedy", "speculative")},
        "wall_s": round(time.perf_counter() - t0, 1),
    }
