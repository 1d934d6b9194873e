"""`Block`: one pre-norm transformer block, x + Attn(RMSNorm(x)) then x + FFN(RMSNorm(x)).

Attention is MLA (or the GQA baseline), global or sliding-window by layer position (MiMo-V2-Flash's
hybrid layout, `ModelArgs.layer_is_global`); the FFN is dense in the first `n_dense_layers` layers
and DeepSeekMoE after (DeepSeek-V3). Used by the trunk and by each MTP module.

Shapes: B batch, T tokens, D model width.

    .venv/bin/python -m pytest -q tests/unit/test_model_transformer.py
"""

from __future__ import annotations

import torch
from torch import nn

from cloud_brain.model.attention import GQA, RMSNorm
from cloud_brain.model.config import ModelArgs
from cloud_brain.model.kv_cache import LayerKVCache
from cloud_brain.model.mla import MLA
from cloud_brain.model.moe import MLP, MoE


class Block(nn.Module):
    def __init__(self, args: ModelArgs, is_global: bool, use_moe: bool):
        super().__init__()
        self.is_global = is_global
        self.attn_norm = RMSNorm(args.dim, args.norm_eps)
        self.attn = MLA(args, is_global) if args.attn_type == "mla" else GQA(args, is_global)
        self.ffn_norm = RMSNorm(args.dim, args.norm_eps)
        self.ffn = MoE(args) if use_moe else MLP(args.dim, args.inter_dim)

    def forward(self, x: torch.Tensor, start_pos: int | torch.Tensor, rope: tuple[torch.Tensor, torch.Tensor],
                cache: LayerKVCache | None = None) -> torch.Tensor:
        x = x + self.attn(self.attn_norm(x), start_pos, rope, cache)  # (B, T, D)
        return x + self.ffn(self.ffn_norm(x))  # (B, T, D)
