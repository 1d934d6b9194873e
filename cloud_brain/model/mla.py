"""Multi-head latent attention (DeepSeek-V2 §2.1), with a naive and an absorbed inference path.

Keys and values are jointly compressed into a latent c_KV = RMSNorm(W_DKV x) of width d_c; per-head
keys and values are its up-projections k_C = W_UK c_KV, v_C = W_UV c_KV. Position enters only
through a decoupled rotary key k_R = RoPE(W_KR x) of width d_h^R, shared by all heads, and a
per-head rotary query. Queries are low-rank too: c_Q = RMSNorm(W_DQ x), q = W_UQ c_Q.

  naive  : decompress K = [k_C ; k_R] and V per head; cache them (H·(d_h + d_h^R) + H·d_v per token).
  absorb : score_h = (q_C,h W_UK,h) · c_KV + q_R,h · k_R and out_h = W_UV,h (Σ p · c_KV), so
           W_UK folds into the query and W_UV into the output; the cache holds only c_KV and k_R
           (d_c + d_h^R per token). The rotary part cannot be absorbed (RoPE sits between the
           projections), which is why k_R is separate.

Both paths share weights (wkv_b is [W_UK ; W_UV] per head) and give the same result up to
rounding; `attn_impl` is a config field and `MLA.attn_impl` can be switched on a live model.

Shapes: B batch, T query tokens, S key tokens, H heads, n = d_h (no-pos width), r = d_h^R,
v = d_v, c = d_c, D model width.

    .venv/bin/python -m pytest -q tests/unit/test_model_mla.py
"""

from __future__ import annotations

import torch
from torch import nn

from cloud_brain.model.attention import RMSNorm, apply_rope, attention_probs, full_attention, positions_of
from cloud_brain.model.config import ModelArgs
from cloud_brain.model.kv_cache import LayerKVCache


class MLA(nn.Module):
    def __init__(self, args: ModelArgs, is_global: bool):
        super().__init__()
        self.n_heads = args.n_heads
        self.q_lora_rank = args.q_lora_rank
        self.kv_lora_rank = args.kv_lora_rank
        self.nope_dim = args.qk_nope_head_dim
        self.rope_dim = args.qk_rope_head_dim
        self.v_dim = args.v_head_dim
        self.qk_dim = args.qk_head_dim
        self.window = 0 if is_global else args.sliding_window
        self.attn_impl = args.attn_impl
        if self.q_lora_rank == 0:
            self.wq = nn.Linear(args.dim, self.n_heads * self.qk_dim, bias=False)
        else:
            self.wq_a = nn.Linear(args.dim, self.q_lora_rank, bias=False)  # W_DQ
            self.q_norm = RMSNorm(self.q_lora_rank, args.norm_eps)
            self.wq_b = nn.Linear(self.q_lora_rank, self.n_heads * self.qk_dim, bias=False)  # [W_UQ ; W_QR]
        self.wkv_a = nn.Linear(args.dim, self.kv_lora_rank + self.rope_dim, bias=False)  # [W_DKV ; W_KR]
        self.kv_norm = RMSNorm(self.kv_lora_rank, args.norm_eps)
        self.wkv_b = nn.Linear(self.kv_lora_rank, self.n_heads * (self.nope_dim + self.v_dim), bias=False)  # [W_UK ; W_UV]
        self.wo = nn.Linear(self.n_heads * self.v_dim, args.dim, bias=False)
        self.sink = nn.Parameter(torch.zeros(self.n_heads)) if (args.attn_sink and not is_global) else None
        self.scale = self.qk_dim ** -0.5

    def latent_kv(self, x: torch.Tensor, rope: tuple[torch.Tensor, torch.Tensor]
                  ) -> tuple[torch.Tensor, torch.Tensor]:
        """x (B, T, D) -> c_KV (B, T, c) and the rotated shared key k_R (B, T, r)."""
        kv, k_pe = torch.split(self.wkv_a(x), [self.kv_lora_rank, self.rope_dim], dim=-1)  # (B, T, c), (B, T, r)
        return self.kv_norm(kv), apply_rope(k_pe, *rope)

    def decompress_kv(self, kv: torch.Tensor, k_pe: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Naive path: c_KV (B, T, c), k_R (B, T, r) -> per-head K (B, T, H, n + r), V (B, T, H, v)."""
        bsz, seqlen, _ = kv.shape
        kv_up = self.wkv_b(kv).view(bsz, seqlen, self.n_heads, self.nope_dim + self.v_dim)  # (B, T, H, n + v)
        k_nope, v = torch.split(kv_up, [self.nope_dim, self.v_dim], dim=-1)  # (B, T, H, n), (B, T, H, v)
        k = torch.cat([k_nope, k_pe[:, :, None, :].expand(-1, -1, self.n_heads, -1)], dim=-1)  # (B, T, H, n + r)
        return k, v

    def cache_entries(self, x: torch.Tensor, rope: tuple[torch.Tensor, torch.Tensor]) -> dict[str, torch.Tensor]:
        """What this layer caches for tokens x (B, T, D) in the current attn_impl's layout."""
        kv, k_pe = self.latent_kv(x, rope)
        if self.attn_impl == "absorb":
            return {"kv": kv, "pe": k_pe}
        k, v = self.decompress_kv(kv, k_pe)
        return {"k": k, "v": v}

    def forward(self, x: torch.Tensor, start_pos: int | torch.Tensor,
                rope: tuple[torch.Tensor, torch.Tensor],
                cache: LayerKVCache | None = None) -> torch.Tensor:
        """start_pos: int (every row at the same position) or (B,) per-row start positions."""
        bsz, seqlen, _ = x.shape
        if self.q_lora_rank == 0:
            q = self.wq(x)
        else:
            q = self.wq_b(self.q_norm(self.wq_a(x)))
        q = q.view(bsz, seqlen, self.n_heads, self.qk_dim)  # (B, T, H, n + r)
        q_nope, q_pe = torch.split(q, [self.nope_dim, self.rope_dim], dim=-1)  # (B, T, H, n), (B, T, H, r)
        q_pe = apply_rope(q_pe, *rope)
        kv, k_pe = self.latent_kv(x, rope)  # c_KV, k_R
        q_pos = positions_of(start_pos, seqlen, x.device)  # (T,) or (B, T)

        if self.attn_impl == "naive":
            k, v = self.decompress_kv(kv, k_pe)  # (B, T, H, n + r), (B, T, H, v)
            if cache is None:
                k_pos, k_valid = q_pos, None
            else:
                held, k_pos, k_valid = cache.update(start_pos, {"k": k, "v": v})
                k, v = held["k"], held["v"]  # (B, S, H, n + r), (B, S, H, v)
            q = torch.cat([q_nope, q_pe], dim=-1)  # (B, T, H, n + r)
            if cache is None and not isinstance(start_pos, torch.Tensor):  # a whole sequence: fused
                out = full_attention(q, k, v, self.scale, self.window, self.sink)  # (B, T, H, v)
                return self.wo(out.reshape(bsz, seqlen, self.n_heads * self.v_dim))  # (B, T, D)
            scores = torch.einsum("bthd,bshd->bhts", q, k) * self.scale  # (B, H, T, S)
            probs = attention_probs(scores, q_pos, k_pos, k_valid, self.window, self.sink).to(x.dtype)
            out = torch.einsum("bhts,bshd->bthd", probs, v)  # (B, T, H, v)
        else:
            w = self.wkv_b.weight.view(self.n_heads, self.nope_dim + self.v_dim, self.kv_lora_rank)  # (H, n + v, c)
            w_uk, w_uv = w[:, :self.nope_dim], w[:, self.nope_dim:]  # (H, n, c), (H, v, c)
            if cache is None:
                k_pos, k_valid = q_pos, None
            else:
                held, k_pos, k_valid = cache.update(start_pos, {"kv": kv, "pe": k_pe})
                kv, k_pe = held["kv"], held["pe"]  # (B, S, c), (B, S, r)
            q_lat = torch.einsum("bthn,hnc->bthc", q_nope, w_uk)  # (B, T, H, c): W_UK absorbed
            scores = (torch.einsum("bthc,bsc->bhts", q_lat, kv)
                      + torch.einsum("bthr,bsr->bhts", q_pe, k_pe)) * self.scale  # (B, H, T, S)
            probs = attention_probs(scores, q_pos, k_pos, k_valid, self.window, self.sink).to(x.dtype)
            out_lat = torch.einsum("bhts,bsc->bthc", probs, kv)  # (B, T, H, c)
            out = torch.einsum("bthc,hvc->bthv", out_lat, w_uv)  # (B, T, H, v): W_UV absorbed
        return self.wo(out.reshape(bsz, seqlen, self.n_heads * self.v_dim))  # (B, T, D)
