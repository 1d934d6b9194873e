"""`PointerAttention`: copy logits over the pointer tokens already in the context (Pointer
Networks, Vinyals et al. 2015; the copy distribution of pointer-generator networks, See et al.
2017).

Why: the planner names entities only through pointer tokens (`@k`) whose numbers are shuffled per
prompt, so writing the right one is copying a token from the context. An ordinary transformer has
to learn to carry a token's *identity* through attention's low-rank value path first; until it
does, the pointer loss sits on a plateau whose end varied from run to run by hundreds of steps
(planner README: the same recipe ended 83-93% on dev). Here one attention over the context's
pointer positions gives each pointer id the probability mass of the positions holding it, and
its log is added to that id's logit:

    logit_t[v] += log(ε + Σ_{j ≤ t, token_j = v} softmax_j(q_t · k_j / √d))     v a copy token
    q_t = W_q RMSNorm(h_t),  k_j = W_k RMSNorm(h_j)

with a learnable sink logit in the softmax (mass on "copy nothing") and ε = 1e-4, so the bias
lies in [log ε, 0]. Only the copy tokens' logits move: the trunk state, every other token's logit
and the MTP modules' input are those of the model without it (an earlier version added the
attended embedding to the trunk state, and the skill-head loss tripled: every position was
pulled towards some pointer). Copy tokens are the ids [lo, hi) (ModelArgs.pointer_tokens).

Shapes: B batch, T new tokens, S cached + new tokens, D model width, d = pointer_dim,
P = hi - lo copy tokens.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from cloud_brain.model.attention import RMSNorm, attention_probs, positions_of
from cloud_brain.model.config import ModelArgs
from cloud_brain.model.kv_cache import LayerKVCache

COPY_FLOOR = 1e-4  # ε: the bias of a copy token no position offers is log ε ≈ -9.2


def pointer_cache_fields(args: ModelArgs) -> dict[str, tuple[int, ...]]:
    """Per-token tensors the pointer head caches: its key and the token's one-hot over the copy
    tokens (all zero for any other token)."""
    lo, hi = args.pointer_tokens
    return {"k": (args.pointer_dim,), "onehot": (hi - lo,)}


class PointerAttention(nn.Module):
    def __init__(self, args: ModelArgs):
        super().__init__()
        self.copy_lo, self.copy_hi = args.pointer_tokens
        self.norm = RMSNorm(args.dim, args.norm_eps)
        self.wq = nn.Linear(args.dim, args.pointer_dim, bias=False)
        self.wk = nn.Linear(args.dim, args.pointer_dim, bias=False)
        self.sink = nn.Parameter(torch.zeros(1))
        self.scale = 1.0 / math.sqrt(args.pointer_dim)

    def forward(self, h: torch.Tensor, tokens: torch.Tensor, start_pos: int | torch.Tensor,
                cache: LayerKVCache | None = None) -> torch.Tensor:
        """h (B, T, D) the last block's output, tokens (B, T) -> copy bias (B, T, P) for the
        logits of the copy tokens [lo, hi)."""
        seqlen = h.shape[1]
        x = self.norm(h)
        q, k = self.wq(x), self.wk(x)  # (B, T, d) each
        rel = tokens - self.copy_lo
        is_copy = (rel >= 0) & (tokens < self.copy_hi)
        onehot = F.one_hot(rel.clamp(0, self.copy_hi - self.copy_lo - 1),
                           self.copy_hi - self.copy_lo).to(h.dtype) * is_copy[..., None]  # (B, T, P)
        q_pos = positions_of(start_pos, seqlen, h.device)  # (T,) or (B, T)
        if cache is None:
            k_pos, k_valid = q_pos, None
        else:
            kv, k_pos, k_valid = cache.update(start_pos, {"k": k, "onehot": onehot})
            k, onehot = kv["k"], kv["onehot"]  # (B, S, ...)
        scores = torch.einsum("btd,bsd->bts", q, k).float() * self.scale  # (B, T, S)
        scores = scores.masked_fill(onehot.sum(-1)[:, None, :] == 0, float("-inf"))
        probs = attention_probs(scores[:, None], q_pos, k_pos, k_valid, 0, self.sink)[:, 0]  # (B, T, S)
        mass = torch.einsum("bts,bsp->btp", probs, onehot.float())  # (B, T, P)
        return torch.log(mass + COPY_FLOOR).to(h.dtype)
