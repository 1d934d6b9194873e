"""`brainstem bench mla`: KV-cache bytes per token (MHA / GQA / MLA / MLA + hybrid SWA), the
absorbed-vs-naive logit difference, and decode tokens/s naive vs absorbed at 4k context.

Cache bytes are measured from the tensors `ModelCache.allocate` allocates (not computed from a
formula) for two configs: DeepSeek-V2's attention sizes (n_h 128, d_h 128, d_c 512, d_h^R 64,
window 128, 5:1 hybrid; bf16) and the shipped planner config. Per-token figures are per layer
(bytes / (tokens · layers)); `mla_hybrid` is measured on one 5:1 hybrid period at 4,096 tokens.
MHA/GQA baselines use head width d_h and GQA uses 8 kv heads (2 for the planner's 4 heads).

Decode speed: the planner model is prefilled with a real chunked prefill to 4,096 tokens; the
V2-scale single MLA layer (128 heads, D reduced to 1024) gets its 4,096-token cache written from
random hidden states projected through the layer (decode time does not depend on what the cache
holds), then `decode_steps` single-token steps are timed. Both run in fp32 on CPU.

    .venv/bin/python -c "import json; from cloud_brain.model.bench import run_mla_bench; print(json.dumps(run_mla_bench(), indent=2))"
"""

from __future__ import annotations

import logging
import time

import torch

from cloud_brain.model.config import ModelArgs
from cloud_brain.model.kv_cache import ModelCache
from cloud_brain.model.mla import MLA
from cloud_brain.model.transformer import Transformer

log = logging.getLogger(__name__)


def _per_token_per_layer(args: ModelArgs, tokens: int) -> float:
    cache = ModelCache.allocate(args, batch_size=1, max_len=tokens, include_mtp=False)
    return cache.trunk_nbytes / (tokens * args.n_layers)


def kv_bytes(args: ModelArgs, gqa_kv_heads: int, context: int = 4096) -> dict:
    """Measured cache bytes for the MHA/GQA baselines and MLA (all-global and hybrid) of `args`."""
    head = args.qk_nope_head_dim
    one_global = dict(n_layers=1, swa_ratio=0, n_dense_layers=1, mtp_depth=0)
    mha = args.replace(attn_type="gqa", n_kv_heads=args.n_heads, head_dim=head, **one_global)
    gqa = args.replace(attn_type="gqa", n_kv_heads=gqa_kv_heads, head_dim=head, **one_global)
    mla = args.replace(attn_type="mla", attn_impl="absorb", **one_global)
    mla_naive = mla.replace(attn_impl="naive")
    # the hybrid stack: the config's layers rounded down to whole S..S G periods (at least one)
    period = args.swa_ratio + 1
    n_hybrid = max(period, args.n_layers - args.n_layers % period)
    hybrid = args.replace(attn_type="mla", attn_impl="absorb", n_layers=n_hybrid,
                          n_dense_layers=n_hybrid, mtp_depth=0)
    all_global = hybrid.replace(swa_ratio=0)
    sample = 256  # tokens allocated for the flat (all-global, one-layer) baselines
    per_token = {
        "mha": _per_token_per_layer(mha, sample),
        "gqa": _per_token_per_layer(gqa, sample),
        "mla": _per_token_per_layer(mla, sample),
        "mla_hybrid": _per_token_per_layer(hybrid, context),
    }
    hybrid_bytes = ModelCache.allocate(hybrid, 1, context, include_mtp=False).trunk_nbytes
    global_bytes = ModelCache.allocate(all_global, 1, context, include_mtp=False).trunk_nbytes
    return {
        "dtype": args.dtype,
        "kv_bytes_per_token": per_token,
        "mla_naive_bytes_per_token": _per_token_per_layer(mla_naive, sample),
        "kv_reduction_vs_mha": 1.0 - per_token["mla"] / per_token["mha"],
        "kv_reduction_vs_mha_hybrid": 1.0 - per_token["mla_hybrid"] / per_token["mha"],
        "gqa_kv_heads": gqa_kv_heads,
        "hybrid_layers": n_hybrid,
        "hybrid_window": args.sliding_window,
        "hybrid_ratio": f"{args.swa_ratio}:1",
        "hybrid_reduction_at_4k": global_bytes / hybrid_bytes,
        "context": context,
    }


def absorb_max_abs_diff(args: ModelArgs, seq_len: int = 256, batch: int = 2, seed: int = 0) -> dict:
    """Max |logits_absorb − logits_naive| on the same weights, fp32: full forward and a cached
    prefill + decode (both longer than the sliding window)."""
    torch.manual_seed(seed)
    model = Transformer(args.replace(dtype="float32", mtp_depth=0)).eval()
    tokens = torch.randint(0, args.vocab_size, (batch, seq_len))
    out = {}
    with torch.inference_mode():
        for impl in ("naive", "absorb"):
            model.set_attn_impl(impl)
            full = model(tokens)
            cache = model.allocate_cache(batch, seq_len)
            split = seq_len - 16
            inc = [model(tokens[:, :split], 0, cache)]
            inc += [model(tokens[:, i:i + 1], i, cache) for i in range(split, seq_len)]
            out[impl] = (full, torch.cat(inc, dim=1))
    return {
        "absorb_max_abs_diff": float((out["absorb"][0] - out["naive"][0]).abs().max()),
        "absorb_max_abs_diff_cached": float((out["absorb"][1] - out["naive"][1]).abs().max()),
        "logits_abs_max": float(out["naive"][0].abs().max()),
        "seq_len": seq_len,
    }


def _time_decode(model: Transformer, cache: ModelCache, context: int, steps: int,
                 rounds: int = 3, warmup: int = 2) -> float:
    """Best-of-`rounds` tokens/s of single-token decode steps continuing from `context`
    (best, not mean: the CPU may be shared, and contention only ever slows a round down)."""
    tok = torch.zeros(1, 1, dtype=torch.long)
    pos = context
    best = 0.0
    with torch.inference_mode():
        for _ in range(warmup):
            model(tok, pos, cache)
            pos += 1
        for _ in range(rounds):
            t0 = time.perf_counter()
            for _ in range(steps):
                model(tok, pos, cache)
                pos += 1
            best = max(best, steps / (time.perf_counter() - t0))
    return best


def decode_speed_planner(args: ModelArgs, context: int = 4096, steps: int = 32,
                         chunk: int = 512, seed: int = 0) -> dict:
    """Tokens/s of single-token decode after a real chunked prefill of `context` tokens."""
    torch.manual_seed(seed)
    model = Transformer(args.replace(dtype="float32", max_seq_len=context + 128)).eval()
    prompt = torch.randint(0, args.vocab_size, (1, context))
    result = {}
    for impl in ("naive", "absorb"):
        model.set_attn_impl(impl)
        cache = model.allocate_cache(1, context + 3 * steps + 8, include_mtp=False)
        with torch.inference_mode():
            t0 = time.perf_counter()
            for s in range(0, context, chunk):
                model(prompt[:, s:s + chunk], s, cache, last_only=True)
            prefill_s = time.perf_counter() - t0
        result[impl] = {"decode_tok_s": _time_decode(model, cache, context, steps),
                        "prefill_tok_s": context / prefill_s,
                        "cache_bytes": cache.nbytes}
    result["absorb_speedup"] = result["absorb"]["decode_tok_s"] / result["naive"]["decode_tok_s"]
    return result


def decode_speed_v2_layer(context: int = 4096, steps: int = 8, dim: int = 1024, seed: int = 0) -> dict:
    """Tokens/s of single-token decode through one global V2-scale MLA layer (128 heads)."""
    torch.manual_seed(seed)
    args = ModelArgs.deepseek_v2_attention(dim=dim, n_layers=1, swa_ratio=0, n_dense_layers=1,
                                           dtype="float32", vocab_size=256, max_seq_len=context + 128)
    model = Transformer(args).eval()
    mla = model.layers[0].attn
    assert isinstance(mla, MLA)
    result = {"dim": dim, "n_heads": args.n_heads, "layers": 1}
    for impl in ("naive", "absorb"):
        model.set_attn_impl(impl)
        cache = model.allocate_cache(1, context + 3 * steps + 8, include_mtp=False)
        with torch.inference_mode():
            for s in range(0, context, 512):  # write the context's cache entries, no attention
                x = torch.randn(1, 512, dim)
                cache.layers[0].update(s, mla.cache_entries(x, model._rope(s, 512)))
        result[impl] = {"decode_tok_s": _time_decode(model, cache, context, steps),
                        "cache_bytes": cache.nbytes}
        del cache
    result["absorb_speedup"] = result["absorb"]["decode_tok_s"] / result["naive"]["decode_tok_s"]
    return result


def run_mla_bench(quick: bool = False, threads: int | None = None) -> dict:
    """The `brainstem bench mla` report (one JSON-serialisable dict). quick=True skips the
    decode-speed runs (a few seconds instead of about a minute); threads sets torch's intra-op
    threads for the run (default: leave torch's setting)."""
    previous = torch.get_num_threads()
    if threads:
        torch.set_num_threads(threads)
    try:
        return _run(quick)
    finally:
        torch.set_num_threads(previous)


def _run(quick: bool) -> dict:
    v2 = ModelArgs.deepseek_v2_attention()
    planner = ModelArgs.planner()
    log.info("bench mla: cache bytes (V2-scale attention, planner config)")
    v2_bytes = kv_bytes(v2, gqa_kv_heads=8)
    planner_bytes = kv_bytes(planner, gqa_kv_heads=2)
    report = {
        "kv_bytes_per_token": {"v2_scale": v2_bytes["kv_bytes_per_token"],
                               "planner": planner_bytes["kv_bytes_per_token"]},
        "kv_reduction_vs_mha": {"v2_scale": v2_bytes["kv_reduction_vs_mha"],
                                "planner": planner_bytes["kv_reduction_vs_mha"]},
        "hybrid_reduction_at_4k": {"v2_scale": v2_bytes["hybrid_reduction_at_4k"],
                                   "planner": planner_bytes["hybrid_reduction_at_4k"]},
        "cache_details": {"v2_scale": v2_bytes, "planner": planner_bytes},
        "units": "kv_bytes_per_token: bytes per token per layer, measured from allocated cache "
                 "tensors; mla_hybrid over one 5:1 hybrid period at 4096 tokens",
    }
    report.update(absorb_max_abs_diff(planner, seq_len=96 if quick else 256))
    if not quick:
        threads = torch.get_num_threads()
        log.info("bench mla: decode tokens/s at 4k context, naive vs absorbed (%d threads)", threads)
        report["decode_4k"] = {"threads": threads, "device": "cpu", "dtype": "float32",
                               "planner": decode_speed_planner(planner),
                               "v2_scale_layer": decode_speed_v2_layer()}
        report["decode_tok_s_4k"] = {
            "naive": report["decode_4k"]["planner"]["naive"]["decode_tok_s"],
            "absorb": report["decode_4k"]["planner"]["absorb"]["decode_tok_s"],
            "v2_scale_layer_naive": report["decode_4k"]["v2_scale_layer"]["naive"]["decode_tok_s"],
            "v2_scale_layer_absorb": report["decode_4k"]["v2_scale_layer"]["absorb"]["decode_tok_s"],
        }
    report["done_when"] = {
        "mla_vs_mha_ge_93pct": report["kv_reduction_vs_mha"]["v2_scale"] >= 0.93,
        "hybrid_ge_5x_at_4k": report["hybrid_reduction_at_4k"]["v2_scale"] >= 5.0,
        "absorb_diff_lt_1e-4": report["absorb_max_abs_diff"] < 1e-4,
    }
    return report


def summary_lines(report: dict) -> list[str]:
    """Human-readable lines for the CLI's non-JSON output."""
    lines = []
    for cfg in ("v2_scale", "planner"):
        per = report["kv_bytes_per_token"][cfg]
        lines.append(f"{cfg:9s} KV bytes/token/layer  mha {per['mha']:.0f}  gqa {per['gqa']:.0f}  "
                     f"mla {per['mla']:.0f}  mla+hybrid {per['mla_hybrid']:.0f}  |  mla vs mha "
                     f"-{100 * report['kv_reduction_vs_mha'][cfg]:.1f}%  hybrid@4k "
                     f"{report['hybrid_reduction_at_4k'][cfg]:.2f}x")
    lines.append(f"absorb vs naive max |dlogit| {report['absorb_max_abs_diff']:.2e} (fp32)")
    if "decode_tok_s_4k" in report:
        d = report["decode_tok_s_4k"]
        lines.append(f"decode tok/s @4k  planner naive {d['naive']:.1f}  absorb {d['absorb']:.1f}  |  "
                     f"V2-scale layer naive {d['v2_scale_layer_naive']:.2f}  absorb {d['v2_scale_layer_absorb']:.2f}")
    lines.append("done-when: " + ", ".join(f"{k} {'ok' if v else 'FAIL'}" for k, v in report["done_when"].items()))
    return lines
