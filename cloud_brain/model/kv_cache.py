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

Continuous batching (cloud_brain/server/batching.py): `update` also takes per-row start
positions (B,), so sequences of different lengths share one forward pass. Only a linear cache
supports that (a ring's slot table is shared by its rows), so `allocate(..., linear=True)` makes
every layer linear: a sliding-window layer then keeps all positions and its window is applied by
the attention mask alone (same result, more memory). `rows(lo, hi)` is a view of a contiguous
range of rows (same storage), for a forward pass over only the sequences that just joined.

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

    def rows(self, lo: int, hi: int) -> "LayerKVCache":
        """A view of rows [lo, hi): writes through it land in this cache (linear caches only)."""
        if self.is_ring:
            raise ValueError("a row view needs a linear cache (ring slot tables are shared by rows)")
        view = LayerKVCache.__new__(LayerKVCache)
        view.capacity, view.window, view.pos = self.capacity, 0, None
        view.tensors = {name: t[lo:hi] for name, t in self.tensors.items()}  # (hi - lo, C, ...)
        return view

    def update(self, start: int | torch.Tensor, new: dict[str, torch.Tensor]
               ) -> tuple[dict[str, torch.Tensor], torch.Tensor, torch.Tensor | None]:
        """Store the T new tokens at positions [start, start + T) and return what they attend to:
        (tensors (B, S, ...), key positions (S,), key validity (S,) or None when all valid).
        `start` may be per row (B,): row b's tokens go to [start[b], start[b] + T); keys are then
        every position up to the largest end, and the causal mask hides each row's later slots."""
        first = next(iter(new.values()))
        bsz, seqlen = first.shape[0], first.shape[1]
        device = first.device
        if isinstance(start, torch.Tensor):
            return self._update_rows(start, new, bsz, seqlen)
        end = start + seqlen
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

    def _update_rows(self, start: torch.Tensor, new: dict[str, torch.Tensor], bsz: int, seqlen: int
                     ) -> tuple[dict[str, torch.Tensor], torch.Tensor, None]:
        if self.is_ring:
            raise ValueError("per-row start positions need a linear cache "
                             "(allocate_cache(..., linear=True)): a ring's slot table is shared by its rows")
        if start.shape != (bsz,):
            raise ValueError(f"per-row start positions must have shape ({bsz},), got {tuple(start.shape)}")
        device = next(iter(new.values())).device
        pos = start.to(device)[:, None] + torch.arange(seqlen, device=device)  # (B, T)
        end = int(pos.max()) + 1
        if int(start.min()) < 0 or end > self.capacity:
            raise ValueError(f"cache holds {self.capacity} tokens, asked to write positions "
                             f"[{int(start.min())}, {end})")
        rows = torch.arange(bsz, device=device)[:, None]  # (B, 1)
        for name, t in new.items():
            self.tensors[name][rows, pos] = t
        keys = {name: t[:bsz, :end] for name, t in self.tensors.items()}  # (B, S=end, ...)
        return keys, torch.arange(end, device=device), None

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
    """Every layer's cache (main trunk, then MTP modules), allocated from ModelArgs up front.
    `layers` holds one cache per trunk block, then the copy head's (always linear) when the
    model has one (ModelArgs.pointer_dim), so code that copies or moves a sequence's trunk
    cache moves all of it."""

    def __init__(self, layers: list[LayerKVCache], mtp: list[LayerKVCache]):
        self.layers = layers
        self.mtp = mtp

    @classmethod
    def allocate(cls, args: ModelArgs, batch_size: int, max_len: int | None = None,
                 draft_slack: int = 0, device: torch.device | str | None = None,
                 include_mtp: bool = True, linear: bool = False) -> "ModelCache":
        """Allocate caches for `batch_size` sequences of up to `max_len` tokens. Sliding-window
        layers keep window + draft_slack tokens (draft_slack: how far speculative decoding may
        roll back); with `linear`, every layer keeps all max_len (needed for per-row positions)."""
        max_len = max_len or args.max_seq_len
        fields = attention_cache_fields(args)

        def make(is_global: bool) -> LayerKVCache:
            if is_global or linear:
                return LayerKVCache(fields, batch_size, max_len, 0, args.torch_dtype, device)
            capacity = min(args.sliding_window + draft_slack, max_len)
            return LayerKVCache(fields, batch_size, capacity, args.sliding_window,
                                args.torch_dtype, device)

        layers = [make(args.layer_is_global(i)) for i in range(args.n_layers)]
        if args.pointer_dim:
            from cloud_brain.model.pointer import pointer_cache_fields
            layers.append(LayerKVCache(pointer_cache_fields(args), batch_size, max_len, 0,
                                       args.torch_dtype, device))
        mtp_global = args.swa_ratio == 0 or not args.mtp_sliding
        mtp = [make(mtp_global) for _ in range(args.mtp_depth)] if include_mtp else []
        return cls(layers, mtp)

    def rows(self, lo: int, hi: int) -> "ModelCache":
        """A view of rows [lo, hi) of every layer (linear caches only; same storage)."""
        return ModelCache([c.rows(lo, hi) for c in self.layers], [c.rows(lo, hi) for c in self.mtp])

    @property
    def batch_size(self) -> int:
        return next(iter(self.layers[0].tensors.values())).shape[0]

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
