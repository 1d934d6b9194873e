"""Attention pieces shared by MLA and the GQA/MHA baseline: RMSNorm, rotary embeddings, the
masked softmax with sliding window and a learnable per-head attention sink (MiMo-V2-Flash;
the sink is an extra logit in each head's softmax denominator, as in gpt-oss / StreamingLLM),
and `GQA`, the grouped-query baseline (MHA when n_kv_heads == n_heads) that the KV-cache
benchmark compares MLA against.

Shapes: B batch, T query tokens, S key tokens (cached + new), H query heads, G kv heads,
d head width, D model width.

    .venv/bin/python -m pytest -q tests/unit/test_model_attention.py
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from cloud_brain.model.config import ModelArgs
from cloud_brain.model.kv_cache import LayerKVCache


class RMSNorm(nn.Module):
    def __init__(self, dim: int, eps: float = 1e-6):
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # normalise in fp32 so bf16 activations keep their scale
        xf = x.float()
        xf = xf * torch.rsqrt(xf.pow(2).mean(-1, keepdim=True) + self.eps)
        return (xf * self.weight.float()).to(x.dtype)


def positions_of(start_pos: int | torch.Tensor, seqlen: int, device=None) -> torch.Tensor:
    """Absolute positions of T new tokens: (T,) from an int start, or (B, T) from per-row starts
    (B,) (a continuous batch: every sequence at its own position)."""
    if isinstance(start_pos, torch.Tensor):
        return start_pos.to(device)[:, None] + torch.arange(seqlen, device=device)[None, :]  # (B, T)
    return torch.arange(start_pos, start_pos + seqlen, device=device)  # (T,)


def rope_cos_sin(positions: torch.Tensor, dim: int, theta: float) -> tuple[torch.Tensor, torch.Tensor]:
    """cos and sin tables (T, dim/2) — or (B, T, dim/2) for per-row positions (B, T) — fp32,
    computed from positions (not a buffer, so a bf16 cast of the model never rounds them)."""
    inv_freq = 1.0 / (theta ** (torch.arange(0, dim, 2, dtype=torch.float32,
                                             device=positions.device) / dim))  # (dim/2,)
    angles = positions.float()[..., None] * inv_freq  # (T, dim/2) or (B, T, dim/2)
    return angles.cos(), angles.sin()


def apply_rope(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """Rotate the halves of the last dim of x (B, T, d) or (B, T, H, d); cos/sin (T, d/2) or
    per-row (B, T, d/2)."""
    if x.dim() == 4:
        cos, sin = cos.unsqueeze(-2), sin.unsqueeze(-2)  # (T, 1, d/2) or (B, T, 1, d/2)
    xf = x.float()
    half = xf.shape[-1] // 2
    x1, x2 = xf[..., :half], xf[..., half:]
    return torch.cat([x1 * cos - x2 * sin, x1 * sin + x2 * cos], dim=-1).to(x.dtype)


def attention_probs(scores: torch.Tensor, q_pos: torch.Tensor, k_pos: torch.Tensor,
                    k_valid: torch.Tensor | None, window: int,
                    sink: torch.Tensor | None) -> torch.Tensor:
    """Softmax of scores (B, H, T, S) over the keys each query may see: causal by absolute
    position, within `window` (a query sees itself and window - 1 earlier tokens; 0: no limit),
    cached slots that are valid. With `sink` (H,), each head's softmax gets one extra logit
    whose probability mass is dropped, so a head can attend to "nothing". Computed in fp32.
    Positions are shared by the batch — q_pos (T,), k_pos and k_valid (S,) — or per row:
    q_pos (B, T) (a continuous batch), k_pos / k_valid (S,) or (B, S)."""
    rel = q_pos[..., :, None] - k_pos[..., None, :]  # (T, S) or (B, T, S)
    allowed = rel >= 0
    if window:
        allowed &= rel < window
    if k_valid is not None:
        allowed &= k_valid[..., None, :]
    if allowed.dim() == 3:
        allowed = allowed[:, None]  # (B, 1, T, S): per row, every head
    scores = scores.float().masked_fill(~allowed, float("-inf"))  # (B, H, T, S)
    if sink is None:
        return F.softmax(scores, dim=-1)
    bsz, n_heads, seqlen, _ = scores.shape
    sink_logit = sink.float().view(1, n_heads, 1, 1).expand(bsz, n_heads, seqlen, 1)  # (B, H, T, 1)
    probs = F.softmax(torch.cat([scores, sink_logit], dim=-1), dim=-1)  # (B, H, T, S + 1)
    return probs[..., :-1]


def full_attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, scale: float, window: int,
                   sink: torch.Tensor | None) -> torch.Tensor:
    """`attention_probs` + the weighted sum of values in one fused kernel, for a whole sequence
    with no cache (training, and a prefill from position 0): q (B, T, H, d), k (B, T, H, d),
    v (B, T, H, v) -> (B, T, H, v). PyTorch's flash kernel never materialises the (T, T) scores:
    3x faster than the masked softmax per layer (forward + backward) at T = 500 on CPU. The sink
    is one extra key that every query sees, with a zero value: an extra feature 1 on the
    queries, 0 on the real keys and sink/scale on the sink key gives it the logit `sink`."""
    bsz, seqlen, n_heads, _ = q.shape
    v_dim = v.shape[-1]
    q, k, v = q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2)  # (B, H, T, ·)
    limited = 0 < window < seqlen
    if sink is None and not limited:
        out = F.scaled_dot_product_attention(q, k, _pad_to(v, q), is_causal=True, scale=scale)  # (B, H, T, d)
        return out[..., :v_dim].transpose(1, 2)
    pos = torch.arange(seqlen, device=q.device)
    rel = pos[:, None] - pos[None, :]  # (T, T)
    allowed = (rel >= 0) & (rel < window) if limited else rel >= 0
    if sink is not None:
        ones = q.new_ones(bsz, n_heads, seqlen, 1)
        q = torch.cat([q, ones], dim=-1)  # (B, H, T, d + 1)
        sink_key = torch.cat([q.new_zeros(n_heads, k.shape[-1]), (sink.to(q.dtype) / scale)[:, None]], dim=-1)
        k = torch.cat([torch.cat([k, ones.new_zeros(bsz, n_heads, seqlen, 1)], dim=-1),
                       sink_key[None, :, None, :].expand(bsz, -1, -1, -1)], dim=2)  # (B, H, T + 1, d + 1)
        v = torch.cat([v, v.new_zeros(bsz, n_heads, 1, v.shape[-1])], dim=2)  # (B, H, T + 1, v)
        allowed = torch.cat([allowed, allowed.new_ones(seqlen, 1)], dim=1)  # (T, T + 1)
    out = F.scaled_dot_product_attention(q, k, _pad_to(v, q), attn_mask=allowed, scale=scale)  # (B, H, T, ·)
    return out[..., :v_dim].transpose(1, 2)


def _pad_to(v: torch.Tensor, q: torch.Tensor) -> torch.Tensor:
    """v zero-padded to q's head width: the CPU flash kernel needs one head size for q, k and v
    (else PyTorch falls back to the math kernel, which materialises the scores)."""
    return F.pad(v, (0, q.shape[-1] - v.shape[-1])) if v.shape[-1] < q.shape[-1] else v


class GQA(nn.Module):
    """Grouped-query attention with RoPE (MHA when n_kv_heads == n_heads); the baseline cache."""

    def __init__(self, args: ModelArgs, is_global: bool):
        super().__init__()
        self.n_heads, self.n_kv_heads, self.head_dim = args.n_heads, args.n_kv_heads, args.head_dim
        self.window = 0 if is_global else args.sliding_window
        self.wq = nn.Linear(args.dim, self.n_heads * self.head_dim, bias=False)
        self.wk = nn.Linear(args.dim, self.n_kv_heads * self.head_dim, bias=False)
        self.wv = nn.Linear(args.dim, self.n_kv_heads * self.head_dim, bias=False)
        self.wo = nn.Linear(self.n_heads * self.head_dim, args.dim, bias=False)
        self.sink = nn.Parameter(torch.zeros(self.n_heads)) if (args.attn_sink and not is_global) else None
        self.scale = 1.0 / math.sqrt(self.head_dim)

    def forward(self, x: torch.Tensor, start_pos: int | torch.Tensor,
                rope: tuple[torch.Tensor, torch.Tensor],
                cache: LayerKVCache | None = None) -> torch.Tensor:
        bsz, seqlen, _ = x.shape
        q = self.wq(x).view(bsz, seqlen, self.n_heads, self.head_dim)  # (B, T, H, d)
        k = self.wk(x).view(bsz, seqlen, self.n_kv_heads, self.head_dim)  # (B, T, G, d)
        v = self.wv(x).view(bsz, seqlen, self.n_kv_heads, self.head_dim)  # (B, T, G, d)
        q, k = apply_rope(q, *rope), apply_rope(k, *rope)
        q_pos = positions_of(start_pos, seqlen, x.device)  # (T,) or (B, T)
        if cache is None:
            k_pos, k_valid = q_pos, None
        else:
            kv, k_pos, k_valid = cache.update(start_pos, {"k": k, "v": v})
            k, v = kv["k"], kv["v"]  # (B, S, G, d)
        rep = self.n_heads // self.n_kv_heads
        k = k.repeat_interleave(rep, dim=2)  # (B, S, H, d)
        v = v.repeat_interleave(rep, dim=2)  # (B, S, H, d)
        if cache is None and not isinstance(start_pos, torch.Tensor):
            out = full_attention(q, k, v, self.scale, self.window, self.sink)  # (B, T, H, d)
            return self.wo(out.reshape(bsz, seqlen, self.n_heads * self.head_dim))
        scores = torch.einsum("bthd,bshd->bhts", q, k) * self.scale  # (B, H, T, S)
        probs = attention_probs(scores, q_pos, k_pos, k_valid, self.window, self.sink).to(x.dtype)
        out = torch.einsum("bhts,bshd->bthd", probs, v)  # (B, T, H, d)
        return self.wo(out.reshape(bsz, seqlen, self.n_heads * self.head_dim))  # (B, T, D)
