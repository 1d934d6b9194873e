"""`Transformer`: the cloud brain's MoE language model (embedding → Blocks → RMSNorm → head, plus
MTP modules), with KV-cached incremental decoding, `generate`, the training loss (next token +
λ·MTP + sequence-wise balance) and the MTP draft API.

Decoding protocol: `forward(tokens, start_pos, cache)` processes tokens at absolute positions
[start_pos, start_pos + T) against a `ModelCache` (from `allocate_cache`) and writes them into
it; a batched prefill is one call with the whole prompt, each decode step a call with T = 1.
Calling again with a smaller start_pos rolls the cache back (see kv_cache.py).
Continuous batching: `start_pos` may also be a (B,) tensor, each row at its own position (rows of
different prompt lengths decode together; needs a linear cache: `allocate_cache(..., linear=True)`,
and `cache.rows(lo, hi)` runs a forward on a contiguous subset of the cache's rows).

Shapes: B batch, T tokens, D model width, V vocabulary, K = mtp_depth.

    .venv/bin/python -c "from cloud_brain.model import ModelArgs, Transformer; import torch; m = Transformer(ModelArgs.tiny()); print(m.generate(torch.zeros(1, 4, dtype=torch.long), 8))"
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from cloud_brain.model.attention import RMSNorm, positions_of, rope_cos_sin
from cloud_brain.model.block import Block
from cloud_brain.model.config import ModelArgs
from cloud_brain.model.kv_cache import ModelCache
from cloud_brain.model.mla import MLA
from cloud_brain.model.moe import MoE, load_balance
from cloud_brain.model.mtp import MTPModule
from cloud_brain.model.pointer import PointerAttention


def sample_next(logits: torch.Tensor, temperature: float = 0.0, top_k: int | None = None,
                generator: torch.Generator | None = None) -> torch.Tensor:
    """logits (B, V) -> token ids (B,): greedy at temperature 0, else (top-k) sampling."""
    if temperature <= 0:
        return logits.argmax(dim=-1)
    logits = logits.float() / temperature
    if top_k is not None:
        kth = torch.topk(logits, min(top_k, logits.shape[-1]), dim=-1).values[:, -1:]  # (B, 1)
        logits = logits.masked_fill(logits < kth, float("-inf"))
    return torch.multinomial(F.softmax(logits, dim=-1), 1, generator=generator).squeeze(-1)


class Transformer(nn.Module):
    def __init__(self, args: ModelArgs):
        super().__init__()
        self.args = args
        self.embed = nn.Embedding(args.vocab_size, args.dim)
        self.layers = nn.ModuleList(
            Block(args, args.layer_is_global(i), args.layer_uses_moe(i)) for i in range(args.n_layers))
        self.pointer = PointerAttention(args) if args.pointer_dim else None
        self.norm = RMSNorm(args.dim, args.norm_eps)
        self.head = nn.Linear(args.dim, args.vocab_size, bias=False)
        if args.tie_embeddings:
            self.head.weight = self.embed.weight
        self.mtp = nn.ModuleList(MTPModule(args) for _ in range(args.mtp_depth))
        self.apply(self._init_weights)
        # scale the residual-branch output projections (GPT-2): keeps the stream's variance flat
        for name, p in self.named_parameters():
            if name.endswith(("wo.weight", "w2.weight")):
                nn.init.normal_(p, std=0.02 / math.sqrt(2 * (args.n_layers + args.mtp_depth)))
        self.to(args.torch_dtype)

    @staticmethod
    def _init_weights(module: nn.Module) -> None:
        if isinstance(module, (nn.Linear, nn.Embedding)):
            nn.init.normal_(module.weight, std=0.02)

    # --- caches and modes ---
    def allocate_cache(self, batch_size: int, max_len: int | None = None, draft_slack: int = 0,
                       include_mtp: bool = True, linear: bool = False) -> ModelCache:
        device = self.embed.weight.device
        return ModelCache.allocate(self.args, batch_size, max_len, draft_slack, device, include_mtp,
                                   linear)

    def set_attn_impl(self, attn_impl: str) -> None:
        """Switch every MLA layer between 'naive' and 'absorb' (same weights; caches must be
        allocated after the switch, their layout differs)."""
        self.args = self.args.replace(attn_impl=attn_impl)
        for m in self.modules():
            if isinstance(m, MLA):
                m.attn_impl = attn_impl

    def _rope(self, start_pos: int | torch.Tensor, seqlen: int) -> tuple[torch.Tensor, torch.Tensor]:
        dim = self.args.qk_rope_head_dim if self.args.attn_type == "mla" else self.args.head_dim
        positions = positions_of(start_pos, seqlen, self.embed.weight.device)  # (T,) or (B, T)
        return rope_cos_sin(positions, dim, self.args.rope_theta)  # (T, dim/2) or (B, T, dim/2) each

    # --- forward ---
    def forward_trunk(self, tokens: torch.Tensor, start_pos: int | torch.Tensor = 0,
                      cache: ModelCache | None = None) -> tuple[torch.Tensor, torch.Tensor | None]:
        """tokens (B, T) -> (h (B, T, D), the last hidden state before the final norm (the MTP
        input); copy bias (B, T, P) for the pointer tokens' logits, or None without a copy head).
        start_pos: int, or (B,) per-row start positions."""
        seqlen = tokens.shape[1]
        rope = self._rope(start_pos, seqlen)
        h = self.embed(tokens)  # (B, T, D)
        for i, layer in enumerate(self.layers):
            h = layer(h, start_pos, rope, None if cache is None else cache.layers[i])
        copy = None
        if self.pointer is not None:  # the copy head's cache follows the blocks' (kv_cache.py)
            copy = self.pointer(h, tokens, start_pos, None if cache is None else cache.layers[len(self.layers)])
        return h, copy

    def forward_hidden(self, tokens: torch.Tensor, start_pos: int | torch.Tensor = 0,
                       cache: ModelCache | None = None) -> torch.Tensor:
        """forward_trunk's h alone (B, T, D), for callers that need no logits."""
        return self.forward_trunk(tokens, start_pos, cache)[0]

    def logits(self, h: torch.Tensor, copy: torch.Tensor | None = None) -> torch.Tensor:
        """h (B, T, D), copy (B, T, P) from forward_trunk -> logits (B, T, V)."""
        logits = self.head(self.norm(h))  # (B, T, V)
        if copy is None:
            return logits
        lo, hi = self.pointer.copy_lo, self.pointer.copy_hi
        return torch.cat([logits[..., :lo], logits[..., lo:hi] + copy.to(logits.dtype), logits[..., hi:]], dim=-1)

    def forward(self, tokens: torch.Tensor, start_pos: int | torch.Tensor = 0,
                cache: ModelCache | None = None, last_only: bool = False) -> torch.Tensor:
        """tokens (B, T) at positions [start_pos, start_pos + T) -> logits (B, T, V), or (B, 1, V)
        with last_only (a prefill only needs the last position's logits)."""
        h, copy = self.forward_trunk(tokens, start_pos, cache)
        if last_only:
            h, copy = h[:, -1:], None if copy is None else copy[:, -1:]
        return self.logits(h, copy)

    # --- training ---
    def moe_layers(self) -> list[MoE]:
        return [m for m in self.modules() if isinstance(m, MoE)]

    def loss(self, tokens: torch.Tensor, ignore_index: int | None = None) -> dict[str, torch.Tensor]:
        """tokens (B, T + 1): inputs tokens[:, :-1], next-token targets tokens[:, 1:]. Returns
        {'loss' (to backprop), 'main', 'mtp', 'aux'}; MTP module k predicts tokens[:, k+1:]."""
        ig = -100 if ignore_index is None else ignore_index
        for m in self.moe_layers():
            m.aux_loss = None  # a module skipped below must not contribute a stale loss
        x = tokens[:, :-1]
        seqlen = x.shape[1]
        h, copy = self.forward_trunk(x)  # (B, T, D), (B, T, P) or None
        vocab = self.args.vocab_size

        def ce(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
            return F.cross_entropy(logits.float().reshape(-1, vocab), target.reshape(-1), ignore_index=ig)

        main = ce(self.logits(h, copy), tokens[:, 1:])
        mtp_losses = []
        for k, module in enumerate(self.mtp, start=1):
            n = seqlen - k  # rows i whose target t_{i+k+1} exists
            if n <= 0:
                break
            emb = self.embed(tokens[:, k:k + n])  # (B, n, D): Emb(t_{i+k})
            h = module(h[:, :n], emb, 0, self._rope(0, n))  # (B, n, D): h^k
            mtp_losses.append(ce(self.head(module.norm(h)), tokens[:, k + 1:k + 1 + n]))
        zero = main.new_zeros(())
        mtp = torch.stack(mtp_losses).mean() if mtp_losses else zero
        aux = sum((m.aux_loss for m in self.moe_layers() if m.aux_loss is not None), zero)
        return {"loss": main + self.args.mtp_lambda * mtp + aux, "main": main, "mtp": mtp, "aux": aux}

    def update_expert_bias(self, gamma: float | None = None) -> list[torch.Tensor]:
        """Aux-loss-free balancing after an optimiser step, every MoE layer (trunk and MTP);
        gamma defaults to args.bias_update_speed. Returns each layer's load over the step."""
        gamma = self.args.bias_update_speed if gamma is None else gamma
        return [m.update_bias(gamma) for m in self.moe_layers()]

    def expert_load(self, which: str = "total") -> dict:
        """Per-MoE-layer routed-token counts ('last' forward, 'step' since the bias update, or
        'total' since reset) with max/mean summaries, and the gate biases."""
        layers = []
        for m in self.moe_layers():
            load = getattr(m, f"{which}_load")
            layers.append({"load": load.tolist(), "bias": m.gate.bias.tolist(), **load_balance(load)})
        return {"which": which, "layers": layers}

    def reset_load_stats(self) -> None:
        for m in self.moe_layers():
            m.reset_load_stats()

    # --- inference ---
    @torch.inference_mode()
    def generate(self, prompt: torch.Tensor, max_new_tokens: int, temperature: float = 0.0,
                 top_k: int | None = None, generator: torch.Generator | None = None,
                 cache: ModelCache | None = None) -> torch.Tensor:
        """prompt (B, T) -> (B, T + max_new_tokens): one batched prefill, then one cached step
        per token."""
        bsz, seqlen = prompt.shape
        if cache is None:
            cache = self.allocate_cache(bsz, seqlen + max_new_tokens, include_mtp=False)
        logits = self.forward(prompt, 0, cache, last_only=True)[:, -1]  # (B, V)
        out = [prompt]
        for step in range(max_new_tokens):
            nxt = sample_next(logits, temperature, top_k, generator)  # (B,)
            out.append(nxt[:, None])
            if step + 1 < max_new_tokens:
                logits = self.forward(nxt[:, None], seqlen + step, cache)[:, -1]
        return torch.cat(out, dim=1)

    @torch.inference_mode()
    def draft(self, hidden: torch.Tensor, next_tokens: torch.Tensor, start_pos: int,
              cache: ModelCache | None = None, temperature: float = 0.0,
              generator: torch.Generator | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """Draft K = mtp_depth tokens with the MTP modules.

        hidden (B, T, D): the trunk's `forward_hidden` output at positions [start_pos, start_pos + T)
        (every position since the last draft call, so the MTP caches stay complete);
        next_tokens (B, T): the token that follows each of those positions (the last one is the
        token just sampled from the trunk). Returns drafts (B, K) — draft j predicts the token at
        position start_pos + T + j — and their logits (B, K, V) (the q of speculative sampling).
        Module k's rows near the end use earlier drafts as inputs; after a rejection, call again
        from an earlier start_pos to overwrite those rows."""
        h, toks = hidden, next_tokens
        rope = self._rope(start_pos, hidden.shape[1])
        drafts, logits_all = [], []
        for k, module in enumerate(self.mtp):
            if k > 0:  # module k+1 reads t_{i+k+1}: shift by one, the newest draft enters at the end
                toks = torch.cat([toks[:, 1:], drafts[-1][:, None]], dim=1)  # (B, T)
            h = module(h, self.embed(toks), start_pos, rope,
                       None if cache is None else cache.mtp[k])  # (B, T, D)
            logits = self.head(module.norm(h[:, -1]))  # (B, V)
            drafts.append(sample_next(logits, temperature, None, generator))
            logits_all.append(logits)
        if not drafts:
            raise ValueError("model has mtp_depth = 0: nothing to draft with")
        return torch.stack(drafts, dim=1), torch.stack(logits_all, dim=1)

    def num_params(self, active: bool = False) -> int:
        """Parameters (embedding and MTP included); with active=True, those one token uses
        (shared + k of E routed experts per MoE layer)."""
        total = sum(p.numel() for p in self.parameters())
        if not active:
            return total
        a = self.args
        idle = 0
        for m in self.moe_layers():
            per_expert = sum(p.numel() for p in m.experts[0].parameters())
            idle += per_expert * (a.n_routed_experts - a.n_activated_experts)
        return total - idle
