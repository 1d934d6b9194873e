"""Feed-forward layers: the dense SwiGLU `MLP` and the DeepSeekMoE layer (DeepSeek-V3 §2.1.2).

`MoE` = always-on shared expert(s) + fine-grained routed experts, top-k per token. The `Gate`
computes sigmoid affinities s_i = σ(u·e_i); it *selects* the top-k of s_i + b_i but *weights* the
selected experts by their normalised affinities s_i / Σ_selected s_j, so the per-expert bias b
steers load without entering the output or the gradient. Aux-loss-free balancing: after each
optimiser step, b_i += γ·sign(mean_load − load_i) (`MoE.update_bias`), with load counted over
that step's tokens. An optional sequence-wise balance loss α·Σ_i f_i·P_i (V3 eq. 17–20) guards
against extreme imbalance within one sequence.

Shapes: B batch, T tokens, N = B·T flattened tokens, D model width, E routed experts, k active.

    .venv/bin/python -m pytest -q tests/unit/test_model_moe.py
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from cloud_brain.model.config import ModelArgs


class MLP(nn.Module):
    """SwiGLU feed-forward: w2(silu(w1 x) * w3 x). Used dense, as an expert, and as the shared expert."""

    def __init__(self, dim: int, inter_dim: int):
        super().__init__()
        self.w1 = nn.Linear(dim, inter_dim, bias=False)
        self.w2 = nn.Linear(inter_dim, dim, bias=False)
        self.w3 = nn.Linear(dim, inter_dim, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.w2(F.silu(self.w1(x)) * self.w3(x))


class Gate(nn.Module):
    """Sigmoid router with a selection-only bias (kept in fp32 whatever the model dtype)."""

    def __init__(self, args: ModelArgs):
        super().__init__()
        self.topk = args.n_activated_experts
        self.route_scale = args.route_scale
        self.weight = nn.Parameter(torch.empty(args.n_routed_experts, args.dim))
        nn.init.normal_(self.weight, std=0.02)
        self.register_buffer("bias", torch.zeros(args.n_routed_experts))

    def _apply(self, fn, recurse=True):
        # a bf16 cast would round γ-sized bias steps away: keep the bias fp32
        super()._apply(fn, recurse)
        self._buffers["bias"] = self._buffers["bias"].float()
        return self

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """x (N, D) -> weights (N, k), expert indices (N, k), affinities (N, E) in fp32."""
        scores = torch.sigmoid(F.linear(x.float(), self.weight.float()))  # (N, E)
        indices = torch.topk(scores + self.bias, self.topk, dim=-1).indices  # (N, k): bias selects only
        weights = scores.gather(1, indices)  # (N, k)
        weights = weights / weights.sum(dim=-1, keepdim=True) * self.route_scale
        return weights.to(x.dtype), indices, scores


class MoE(nn.Module):
    def __init__(self, args: ModelArgs):
        super().__init__()
        self.n_experts = args.n_routed_experts
        self.topk = args.n_activated_experts
        self.seq_aux_alpha = args.seq_aux_alpha
        self.gate = Gate(args)
        self.experts = nn.ModuleList(MLP(args.dim, args.moe_inter_dim) for _ in range(self.n_experts))
        self.shared_experts = (MLP(args.dim, args.n_shared_experts * args.moe_inter_dim)
                               if args.n_shared_experts else None)
        # routed-token counts: of the last forward, since the last bias update, since reset
        self.register_buffer("last_load", torch.zeros(self.n_experts, dtype=torch.long), persistent=False)
        self.register_buffer("step_load", torch.zeros(self.n_experts, dtype=torch.long), persistent=False)
        self.register_buffer("total_load", torch.zeros(self.n_experts, dtype=torch.long), persistent=False)
        self.aux_loss: torch.Tensor | None = None  # sequence-wise balance loss of the last training forward

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        bsz, seqlen, dim = x.shape
        x_flat = x.reshape(-1, dim)  # (N, D)
        weights, indices, scores = self.gate(x_flat)  # (N, k), (N, k), (N, E)
        counts = torch.bincount(indices.flatten(), minlength=self.n_experts)  # (E,)
        y = torch.zeros_like(x_flat)  # (N, D)
        for i in torch.nonzero(counts).flatten().tolist():
            rows, slot = torch.where(indices == i)  # tokens routed to expert i, and which of their k slots
            y.index_add_(0, rows, self.experts[i](x_flat[rows]) * weights[rows, slot, None])
        if self.shared_experts is not None:
            y = y + self.shared_experts(x_flat)
        with torch.no_grad():
            self.last_load.copy_(counts)
            if self.training:
                self.step_load += counts
                self.total_load += counts
        self.aux_loss = None
        if self.training and self.seq_aux_alpha > 0:
            self.aux_loss = self._sequence_balance_loss(scores.view(bsz, seqlen, -1),
                                                        indices.view(bsz, seqlen, -1))
        return y.view(bsz, seqlen, dim)

    def _sequence_balance_loss(self, scores: torch.Tensor, indices: torch.Tensor) -> torch.Tensor:
        """α·Σ_i f_i·P_i per sequence, averaged over the batch. scores (B, T, E), indices (B, T, k)."""
        seqlen = scores.shape[1]
        probs = scores / scores.sum(dim=-1, keepdim=True)  # (B, T, E) normalised affinities s'
        p = probs.mean(dim=1)  # (B, E)
        hits = F.one_hot(indices, self.n_experts).sum(dim=2).float()  # (B, T, E)
        f = hits.sum(dim=1) * self.n_experts / (self.topk * seqlen)  # (B, E)
        return self.seq_aux_alpha * (f * p).sum(dim=-1).mean()

    @torch.no_grad()
    def update_bias(self, gamma: float) -> torch.Tensor:
        """Aux-loss-free balancing step: b_i += γ·sign(mean_load − load_i) over the tokens routed
        since the last call; returns that load (E,) and starts a new count."""
        load = self.step_load.clone()
        if gamma and int(load.sum()) > 0:
            lf = load.float()
            self.gate.bias += gamma * torch.sign(lf.mean() - lf)
        self.step_load.zero_()
        return load

    def reset_load_stats(self) -> None:
        self.last_load.zero_()
        self.step_load.zero_()
        self.total_load.zero_()


def load_balance(load: torch.Tensor) -> dict[str, float]:
    """Summary of a per-expert token count (E,): max/mean (1.0 is perfect), min/mean, and the
    coefficient of variation."""
    lf = load.float()
    mean = lf.mean().clamp_min(1e-9)
    return {
        "max_over_mean": float(lf.max() / mean),
        "min_over_mean": float(lf.min() / mean),
        "cv": float(lf.std(unbiased=False) / mean),
        "tokens": int(load.sum()),
    }
