"""Hybrid attention: the masked softmax with window and sink against a loop reference, the
sliding-window ring buffer against masked full attention with sink, and rollback limits.

    cd /work/main && .venv/bin/python -m pytest -q tests/unit/test_model_attention.py
"""

import math

import pytest
import torch

from cloud_brain.model.attention import GQA, attention_probs, full_attention, rope_cos_sin
from cloud_brain.model.config import ModelArgs
from cloud_brain.model.kv_cache import LayerKVCache, ModelCache, attention_cache_fields
from cloud_brain.model.mla import MLA
from model_testing import sharpen_

pytestmark = pytest.mark.usefixtures("torch_one_thread")


def test_attention_probs_matches_loop_reference():
    torch.manual_seed(0)
    b, h, window = 2, 3, 3
    q_pos, k_pos = torch.arange(4, 10), torch.arange(10)
    scores = torch.randn(b, h, len(q_pos), len(k_pos))
    sink = torch.randn(h)
    probs = attention_probs(scores, q_pos, k_pos, None, window, sink)
    ref = torch.zeros_like(probs)
    sc, sk = scores.tolist(), sink.tolist()
    for bi in range(b):
        for hi in range(h):
            for ti, qp in enumerate(q_pos.tolist()):
                keys = [s for s, kp in enumerate(k_pos.tolist()) if qp - window < kp <= qp]
                denom = sum(math.exp(sc[bi][hi][ti][s]) for s in keys) + math.exp(sk[hi])
                for s in keys:
                    ref[bi, hi, ti, s] = math.exp(sc[bi][hi][ti][s]) / denom
    torch.testing.assert_close(probs, ref, atol=1e-6, rtol=1e-5)
    assert (probs.sum(-1) < 1).all()  # the sink absorbs some mass
    plain = attention_probs(scores, q_pos, k_pos, None, 0, None)
    torch.testing.assert_close(plain.sum(-1), torch.ones(b, h, len(q_pos)))
    assert plain[0, 0, 0, 5:].sum() == 0  # causal: query at 4 never sees keys 5..9


@pytest.mark.parametrize("window,with_sink", [(0, False), (0, True), (4, True), (4, False), (64, True)])
def test_fused_full_attention_matches_masked_softmax_and_its_gradients(window, with_sink):
    """The training path (one fused kernel) computes what the cached decoding path computes:
    same outputs and same gradients for q, k, v and the sink."""
    torch.manual_seed(3)
    b, t, h, d, dv = 2, 11, 3, 8, 5
    q, k, v = (torch.randn(b, t, h, n, requires_grad=True) for n in (d, d, dv))
    sink = torch.randn(h, requires_grad=True) if with_sink else None
    scale = d ** -0.5
    fused = full_attention(q, k, v, scale, window, sink)  # (B, T, H, v)
    pos = torch.arange(t)
    probs = attention_probs(torch.einsum("bthd,bshd->bhts", q, k) * scale, pos, pos, None, window, sink)
    ref = torch.einsum("bhts,bshd->bthd", probs, v)
    torch.testing.assert_close(fused, ref, atol=1e-5, rtol=1e-4)
    w = torch.randn_like(ref)
    leaves = [x for x in (q, k, v, sink) if x is not None]
    g_fused = torch.autograd.grad((fused * w).sum(), leaves)
    g_ref = torch.autograd.grad((ref * w).sum(), leaves)
    for a, r in zip(g_fused, g_ref):
        torch.testing.assert_close(a, r, atol=1e-5, rtol=1e-4)


def _layer(kind: str, args: ModelArgs) -> torch.nn.Module:
    if kind == "gqa":
        return GQA(args.replace(attn_type="gqa"), is_global=False)
    return MLA(args.replace(attn_impl=kind), is_global=False)


@pytest.mark.parametrize("kind", ["naive", "absorb", "gqa"])
def test_ring_buffer_equals_masked_full_attention_with_sink(kind):
    args = ModelArgs.tiny(sliding_window=5, n_kv_heads=2)
    layer = _layer(kind, args).eval()
    sharpen_(layer, gain=2.0, sink_scale=2.0)
    assert layer.sink is not None and layer.window == 5
    torch.manual_seed(1)
    seqlen = 40
    x = torch.randn(2, seqlen, args.dim)
    rope_dim = args.head_dim if kind == "gqa" else args.qk_rope_head_dim

    def rope(s, n):
        return rope_cos_sin(torch.arange(s, s + n), rope_dim, args.rope_theta)

    with torch.no_grad():
        full = layer(x, 0, rope(0, seqlen))  # no cache: masked full attention
        fields = attention_cache_fields(args.replace(attn_type="gqa") if kind == "gqa"
                                        else args.replace(attn_impl=kind))
        cache = LayerKVCache(fields, 2, capacity=5, window=5)
        outs, pos = [], 0
        for n in [3, 1, 1, 7, 1, 2, 9, 1, 1, 1, 13]:  # chunks shorter and longer than the ring
            outs.append(layer(x[:, pos:pos + n], pos, rope(pos, n), cache))
            pos += n
        assert pos == seqlen
    torch.testing.assert_close(torch.cat(outs, 1), full, atol=1e-5, rtol=1e-4)
    assert sorted(cache.pos.tolist()) == list(range(seqlen - 5, seqlen))  # only the last w tokens


def test_ring_buffer_differs_from_global_attention():
    """The window matters: the same layer as a global layer gives different outputs."""
    args = ModelArgs.tiny(sliding_window=4, attn_sink=False)
    swa, glob = MLA(args, is_global=False), MLA(args, is_global=True)
    sharpen_(swa, gain=2.0, sink_scale=2.0)
    glob.load_state_dict(swa.state_dict())
    x = torch.randn(1, 12, args.dim)
    rope = rope_cos_sin(torch.arange(12), args.qk_rope_head_dim, args.rope_theta)
    with torch.no_grad():
        a, b = swa(x, 0, rope), glob(x, 0, rope)
    torch.testing.assert_close(a[:, :4], b[:, :4], atol=1e-6, rtol=1e-5)  # within the window
    assert (a[:, 4:] - b[:, 4:]).abs().max() > 1e-2


def test_ring_rollback_within_slack_and_refusal_beyond():
    fields = {"kv": (2,)}
    cache = LayerKVCache(fields, 1, capacity=6, window=4)  # draft_slack 2
    for p in range(10):
        cache.update(p, {"kv": torch.full((1, 1, 2), float(p))})
    # roll back 2 tokens: positions 6..7 still needed for a query at 8 (window 4: 5,6,7,8)
    keys, k_pos, valid = cache.update(8, {"kv": torch.full((1, 1, 2), 80.0)})
    held = sorted(k_pos[valid].tolist())
    assert held == [4, 5, 6, 7, 8]  # stale 8, 9 masked; 4 is dropped later by the window mask
    new_val = keys["kv"][0][(k_pos == 8) & valid]
    assert new_val.shape[0] == 1 and new_val[0, 0] == 80.0  # the rewritten token, not the stale one
    with pytest.raises(RuntimeError, match="draft_slack"):
        cache.update(3, {"kv": torch.zeros(1, 1, 2)})


def test_model_cache_sizes_follow_layout():
    args = ModelArgs.planner()
    cache = ModelCache.allocate(args, batch_size=1, max_len=1024, include_mtp=False)
    rings = [c for c in cache.layers if c.is_ring]
    assert len(rings) == 5 and all(c.capacity == 64 for c in rings)
    per_token = (args.kv_lora_rank + args.qk_rope_head_dim) * 4
    assert cache.trunk_nbytes == per_token * (1024 + 5 * 64)
    slack = ModelCache.allocate(args, 1, 1024, draft_slack=4, include_mtp=False)
    assert all(c.capacity == 68 for c in slack.layers if c.is_ring)
