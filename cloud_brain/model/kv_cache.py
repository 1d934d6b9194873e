"""KV caches for incremental decoding: a linear cache for global layers, a ring buffer for
sliding-window layers, and `ModelCache`, which allocates one per layer from `ModelArgs` alone and
reports the bytes it holds (the KV-cache benchmark measures these allocated tensors).

What a layer caches depends on its attention (see `attention_cache_fields`):
  MLA absorbed : c_KV (d_c) and the shared rotary key k_R (d_h^R) per token  (DeepSeek-V2 §2.1)
  MLA naive    : decompressed K (H x (d_h + d_h^R)) and V (H x d_v) per token
  GQA / MHA    : K and V (n_kv_heads x head_dim each) per token

Positions: both caches are addressed by absolute token position, and `update(start, ...)` treats
every cached entry at a position >= start as stale. Rolling back (speculative decoding) is
therefore just calling the model again with a smaller `start_pos`. A ring buffer only keeps
`window + draft_slack` tokens, so it can roll back at most `draft_slack` tokens; asking for more
raises instead of silently attending to a hole.

Shapes: B batch, T new tokens, S cached + new tokens, C capacity.

    .venv/bin/python -c "from cloud_brain.model.config import ModelArgs; from cloud_brain.model.kv_cache import ModelCache; print(ModelCache.allocate(ModelArgs.planner(), 1).nbytes)"
"""

from __future__ import annotations

import torch

from cloud_brain.model.config import ModelArgs


def attention_cache_fields(args: ModelArgs) -> dict[str, tuple[int, ...]]:
    """Per-token shape of each tensor an attention layer of `args` caches."""
    if args.attn_type == "gqa":
        return {"k": (args.n_kv_heads, args.head_dim), "v": (args.n_kv_heads, args.head_dim)}
    if args.attn_impl == "absorb":
        return {"kv": (args.kv_lora_rank,), "pe": (args.qk_rope_head_dim,)}
    return {"k": (args.n_heads, args.qk_head_dim), "v": (args.n_heads, args.v_head_dim)}


class LayerKVCache:
    """One layer's cache. window == 0: linear (global layer); window > 0: ring buffer."""

    def __init__(self, fields: dict[str, tuple[int, ...]], batch_size: int, capacity: int,
                 window: int = 0, dtype: torch.dtype = torch.float32,
                 device: torch.device | str | None = None):
        self.capacity = capacity
        self.window = window
        self.tensors = {
            name: torch.zeros(batch_size, capacity, *shape, dtype=dtype, device=device)  # (B, C, ...)
            for name, shape in fields.items()
        }
        # absolute position held by each ring slot, -1 when empty (a linear cache needs none)
        self.pos = torch.full((capacity,), -1, dtype=torch.long, device=device) if window else None

    @property
    def is_ring(self) -> bool:
        return self.window > 0

    @property
    def nbytes(self) -> int:
        """Bytes of the cached K/V (or latent) tensors."""
        return sum(t.numel() * t.element_size() for t in self.tensors.values())

    @property
    def bookkeeping_nbytes(self) -> int:
        """Bytes of the ring's slot-position table (per layer, not per token)."""
        return 0 if self.pos is None else self.pos.numel() * self.pos.element_size()

    def update(self, start: int, new: dict[str, torch.Tensor]
               ) -> tuple[dict[str, torch.Tensor], torch.Tensor, torch.Tensor | None]:
        """Store the T new tokens at positions [start, start + T) and return what they attend to:
        (tensors (B, S, ...), key positions (S,), key validity (S,) or None when all valid)."""
        first = next(iter(new.values()))
        bsz, seqlen = first.shape[0], first.shape[1]
        end = start + seqlen
        device = first.device
        if not self.is_ring:
            if end > self.capacity:
                raise ValueError(f"cache holds {self.capacity} tokens, asked to write up to {end}")
            for name, t in new.items():
                self.tensors[name][:bsz, start:end] = t
            keys = {name: t[:bsz, :end] for name, t in self.tensors.items()}  # (B, S=end, ...)
            return keys, torch.arange(end, device=device), None

        self._check_covers(start)
        # attend to the ring as it is (stale slots masked) plus the new tokens, then write
        keys = {name: torch.cat([self.tensors[name][:bsz], new[name]], dim=1)  # (B, S=C+T, ...)
                for name in new}
        new_pos = torch.arange(start, end, device=device)
        k_pos = torch.cat([self.pos, new_pos])  # (S,)
        k_valid = torch.cat([(self.pos >= 0) & (self.pos < start),
                             torch.ones(seqlen, dtype=torch.bool, device=device)])  # (S,)
        keep = min(seqlen, self.capacity)
        slots = new_pos[-keep:] % self.capacity
        for name, t in new.items():
            self.tensors[name][:bsz, slots] = t[:, -keep:]
        self.pos[slots] = new_pos[-keep:]
        return keys, k_pos, k_valid

    def _check_covers(self, start: int) -> None:
        """A query at `start` needs keys at positions (start - window, start); all must be held."""
        lo = max(0, start - self.window + 1)
        if start <= lo:
            return
        held = int(((self.pos >= lo) & (self.pos < start)).sum())
        if held != start - lo:
            raise RuntimeError(
                f"sliding-window cache lost positions in [{lo}, {start}): rolled back further than "
                f"its draft_slack ({self.capacity - self.window}) or skipped positions")


class ModelCache:
    """Every layer's cache (main trunk, then MTP modules), allocated from ModelArgs up front."""

    def __init__(self, layers: list[LayerKVCache], mtp: list[LayerKVCache]):
        self.layers = layers
        self.mtp = mtp

    @classmethod
    def allocate(cls, args: ModelArgs, batch_size: int, max_len: int | None = None,
                 draft_slack: int = 0, device: torch.device | str | None = None,
                 include_mtp: bool = True) -> "ModelCache":
        """Allocate caches for `batch_size` sequences of up to `max_len` tokens. Sliding-window
        layers keep window + draft_slack tokens (draft_slack: how far speculative decoding may
        roll back)."""
        max_len = max_len or args.max_seq_len
        fields = attention_cache_fields(args)

        def make(is_global: bool) -> LayerKVCache:
            if is_global:
                return LayerKVCache(fields, batch_size, max_len, 0, args.torch_dtype, device)
            capacity = min(args.sliding_window + draft_slack, max_len)
            return LayerKVCache(fields, batch_size, capacity, args.sliding_window,
                                args.torch_dtype, device)

        layers = [make(args.layer_is_global(i)) for i in range(args.n_layers)]
        mtp_global = args.swa_ratio == 0 or not args.mtp_sliding
        mtp = [make(mtp_global) for _ in range(args.mtp_depth)] if include_mtp else []
        return cls(layers, mtp)

    @property
    def nbytes(self) -> int:
        """Bytes of all cached K/V (or latent) tensors, trunk and MTP."""
        return sum(c.nbytes for c in self.layers + self.mtp)

    @property
    def trunk_nbytes(self) -> int:
        return sum(c.nbytes for c in self.layers)

    def summary(self) -> dict:
        return {
            "nbytes": self.nbytes,
            "trunk_nbytes": self.trunk_nbytes,
            "mtp_nbytes": self.nbytes - self.trunk_nbytes,
            "bookkeeping_nbytes": sum(c.bookkeeping_nbytes for c in self.layers + self.mtp),
            "layers": [{"ring": c.is_ring, "capacity": c.capacity, "nbytes": c.nbytes}
                       for c in self.layers],
        }
