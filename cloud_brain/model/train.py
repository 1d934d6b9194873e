"""Training utilities the planner issue reuses: one optimiser step with aux-loss-free bias
balancing (`train_step`), an optimiser factory, and a skewed synthetic token stream for smoke runs
and the balancing test.

Order in one step (DeepSeek-V3): forward (routing counts accumulate in each MoE layer) →
loss = CE + λ·MTP + sequence-wise balance → backward → clip → optimiser step → gate biases
b_i += γ·sign(mean_load − load_i) from this step's load.

    .venv/bin/python -c "from cloud_brain.model.train import smoke_train; print(smoke_train(steps=5))"
"""

from __future__ import annotations

import torch

from cloud_brain.model.config import ModelArgs
from cloud_brain.model.moe import load_balance
from cloud_brain.model.transformer import Transformer


def make_optimizer(model: Transformer, lr: float = 3e-3, weight_decay: float = 0.1,
                   betas: tuple[float, float] = (0.9, 0.95)) -> torch.optim.AdamW:
    """AdamW with decay on matrices only (norms, sinks and 1-D weights are not decayed)."""
    decay = [p for p in model.parameters() if p.requires_grad and p.dim() >= 2]
    no_decay = [p for p in model.parameters() if p.requires_grad and p.dim() < 2]
    return torch.optim.AdamW([{"params": decay, "weight_decay": weight_decay},
                              {"params": no_decay, "weight_decay": 0.0}], lr=lr, betas=betas)


def train_step(model: Transformer, optimizer: torch.optim.Optimizer, tokens: torch.Tensor,
               gamma: float | None = None, grad_clip: float = 1.0,
               ignore_index: int | None = None) -> dict[str, float]:
    """One step on tokens (B, T + 1). gamma: bias update speed (None: args.bias_update_speed;
    0 disables balancing). Returns the losses and the step's expert-load max/mean (mean over
    MoE layers)."""
    model.train()
    optimizer.zero_grad(set_to_none=True)
    losses = model.loss(tokens, ignore_index=ignore_index)
    losses["loss"].backward()
    if grad_clip:
        torch.nn.utils.clip_grad_norm_(model.parameters(), grad_clip)
    optimizer.step()
    loads = model.update_expert_bias(gamma)
    stats = {k: float(v.detach()) for k, v in losses.items()}
    if loads:
        stats["max_over_mean"] = sum(load_balance(l)["max_over_mean"] for l in loads) / len(loads)
    return stats


def skewed_token_stream(vocab_size: int, batch_size: int, seq_len: int, zipf_s: float = 1.2,
                        generator: torch.Generator | None = None) -> torch.Tensor:
    """(B, seq_len + 1) tokens with Zipf(s) unigram frequencies and a deterministic successor
    rule half the time (so there is something to learn); frequent tokens dominate the routing."""
    ranks = torch.arange(1, vocab_size + 1, dtype=torch.float64)
    probs = ranks.pow(-zipf_s)
    probs = probs / probs.sum()
    toks = torch.multinomial(probs.float(), batch_size * (seq_len + 1), replacement=True,
                             generator=generator).view(batch_size, seq_len + 1)
    follow = torch.rand(batch_size, seq_len + 1, generator=generator) < 0.5
    succ = (toks[:, :-1] * 7 + 3) % vocab_size  # (B, seq_len)
    toks[:, 1:] = torch.where(follow[:, 1:], succ, toks[:, 1:])
    return toks


def smoke_train(args: ModelArgs | None = None, steps: int = 20, batch_size: int = 8,
                seq_len: int = 32, gamma: float | None = None, lr: float = 3e-3,
                seed: int = 0) -> dict:
    """Train `args` (default ModelArgs.tiny()) on the skewed stream; returns the last step's
    stats and the expert-load summary over the run."""
    torch.manual_seed(seed)
    args = args or ModelArgs.tiny()
    model = Transformer(args)
    opt = make_optimizer(model, lr=lr)
    gen = torch.Generator().manual_seed(seed)
    stats: dict = {}
    for _ in range(steps):
        stats = train_step(model, opt, skewed_token_stream(args.vocab_size, batch_size, seq_len,
                                                           generator=gen), gamma=gamma)
    return {"last": stats, "load": model.expert_load("total")}
