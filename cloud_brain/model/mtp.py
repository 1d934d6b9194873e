"""Multi-token prediction modules (DeepSeek-V3 §2.2).

Module k (k = 1..D) at position i combines the previous depth's representation h^{k-1}_i (the
trunk's last hidden state for k = 1) with the embedding of token t_{i+k}:
    h'_i = W_k [RMSNorm(h^{k-1}_i) ; RMSNorm(Emb(t_{i+k}))],   h^k_i = Block_k(h'_i),
and predicts t_{i+k+1} with the trunk's shared output head (after the module's own final norm).
The embedding and head are the trunk's (shared, not copied). Training loss: λ · mean_k CE_k
(`Transformer.loss`). Inference: the modules draft D tokens in one sequential pass
(`Transformer.draft`), which the speculative-decoding issue verifies with the trunk.

Shapes: B batch, T positions, D model width.

    .venv/bin/python -m pytest -q tests/unit/test_model_transformer.py -k mtp
"""

from __future__ import annotations

import torch
from torch import nn

from cloud_brain.model.attention import RMSNorm
from cloud_brain.model.block import Block
from cloud_brain.model.config import ModelArgs
from cloud_brain.model.kv_cache import LayerKVCache


class MTPModule(nn.Module):
    def __init__(self, args: ModelArgs):
        super().__init__()
        self.hnorm = RMSNorm(args.dim, args.norm_eps)
        self.enorm = RMSNorm(args.dim, args.norm_eps)
        self.proj = nn.Linear(2 * args.dim, args.dim, bias=False)
        is_global = args.swa_ratio == 0 or not args.mtp_sliding
        self.block = Block(args, is_global=is_global, use_moe=args.n_layers > args.n_dense_layers)
        self.norm = RMSNorm(args.dim, args.norm_eps)  # applied before the shared head

    def forward(self, h_prev: torch.Tensor, next_emb: torch.Tensor, start_pos: int,
                rope: tuple[torch.Tensor, torch.Tensor],
                cache: LayerKVCache | None = None) -> torch.Tensor:
        """h_prev (B, T, D) = h^{k-1} at positions [start_pos, start_pos + T); next_emb (B, T, D) =
        Emb(t_{i+k}) for the same rows. Returns h^k (B, T, D), before the final norm."""
        h = self.proj(torch.cat([self.hnorm(h_prev), self.enorm(next_emb)], dim=-1))  # (B, T, 2D) -> (B, T, D)
        return self.block(h, start_pos, rope, cache)
