"""ModelArgs: the one config dataclass of the cloud brain's MoE language model.

Every size, the attention mode (MLA naive/absorbed, or a GQA/MHA baseline), the hybrid
sliding-window layout, the MoE routing and balancing constants, the MTP depth and the dtype live
here, grouped by concern, so that a checkpoint that stores `asdict(args)` can rebuild its model.
Presets: `ModelArgs.planner()` (the shipped planner model, CPU-trainable), `ModelArgs.tiny()`
(unit tests), `ModelArgs.deepseek_v2_attention()` (DeepSeek-V2's attention sizes, for the
KV-cache benchmark).

    .venv/bin/python -c "from cloud_brain.model.config import ModelArgs; print(ModelArgs.planner())"
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Literal

import torch

_DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16}


@dataclass
class ModelArgs:
    # --- trunk ---
    vocab_size: int = 1024
    """Token vocabulary size."""
    dim: int = 256
    """Residual stream width D."""
    n_layers: int = 6
    """Number of transformer blocks in the main trunk (MTP blocks not included)."""
    max_seq_len: int = 4096
    """Longest sequence (prompt + generation) a cache is allocated for by default."""
    norm_eps: float = 1e-6
    """RMSNorm epsilon."""
    dtype: Literal["float32", "bfloat16"] = "float32"
    """Parameter and activation dtype (norms, softmax and the gate run in fp32 internally)."""
    tie_embeddings: bool = False
    """Share the embedding matrix with the output head."""

    # --- attention (shared) ---
    attn_type: Literal["mla", "gqa"] = "mla"
    """'mla' (DeepSeek-V2 multi-head latent attention) or 'gqa' (baseline; MHA when n_kv_heads == n_heads)."""
    n_heads: int = 4
    """Number of attention heads H."""
    rope_theta: float = 10000.0
    """RoPE base."""

    # --- MLA (DeepSeek-V2) ---
    attn_impl: Literal["naive", "absorb"] = "absorb"
    """'naive' decompresses and caches per-head K and V; 'absorb' folds W_UK into the query and
    W_UV into the output and caches only c_KV and the shared rotary key."""
    q_lora_rank: int = 0
    """Query compression rank d_c' (0: project queries directly from x)."""
    kv_lora_rank: int = 128
    """Joint KV compression rank d_c (the width of c_KV)."""
    qk_nope_head_dim: int = 64
    """Per-head query/key width without position, d_h."""
    qk_rope_head_dim: int = 32
    """Decoupled rotary query/key width d_h^R (the key part is shared by all heads)."""
    v_head_dim: int = 64
    """Per-head value width."""

    # --- GQA / MHA baseline ---
    n_kv_heads: int = 4
    """Key/value heads for attn_type='gqa' (n_heads for MHA)."""
    head_dim: int = 64
    """Per-head width for attn_type='gqa'."""

    # --- hybrid sliding-window / global attention (MiMo-V2-Flash) ---
    sliding_window: int = 64
    """Window w of sliding-window layers: a query sees itself and the w - 1 tokens before it."""
    swa_ratio: int = 5
    """Sliding-window layers per global layer (5 -> S S S S S G S S ...); 0: every layer global."""
    attn_sink: bool = True
    """Learnable per-head attention-sink logit on sliding-window layers."""
    mtp_sliding: bool = True
    """MTP blocks use sliding-window attention (when swa_ratio > 0) so their caches stay small."""

    # --- feed-forward / MoE (DeepSeekMoE, DeepSeek-V3) ---
    inter_dim: int = 512
    """Hidden width of the dense SwiGLU FFN used in the first n_dense_layers."""
    n_dense_layers: int = 1
    """Leading layers with a dense FFN instead of MoE."""
    moe_inter_dim: int = 128
    """Hidden width of one fine-grained expert."""
    n_routed_experts: int = 8
    """Routed experts per MoE layer E."""
    n_shared_experts: int = 1
    """Always-on shared experts per MoE layer (fused into one SwiGLU of n_shared * moe_inter_dim)."""
    n_activated_experts: int = 2
    """Routed experts per token k."""
    route_scale: float = 1.0
    """Scale on the normalised top-k weights."""
    bias_update_speed: float = 0.001
    """gamma of aux-loss-free balancing: bias_i += gamma * sign(mean_load - load_i) after each step."""
    seq_aux_alpha: float = 1e-4
    """Weight of the sequence-wise balance loss (0 disables it)."""

    # --- multi-token prediction (DeepSeek-V3) ---
    mtp_depth: int = 1
    """Number D of sequential MTP modules (0: none)."""
    mtp_lambda: float = 0.3
    """Weight lambda of the MTP loss (mean over depths)."""

    # --- pointer (copy) head (cloud_brain/model/pointer.py) ---
    pointer_dim: int = 0
    """Query/key width of the copy head over pointer tokens in the context (0: no copy head)."""
    pointer_tokens: tuple[int, int] = (0, 0)
    """Token ids [lo, hi) the copy head may copy (the planner's `@k` pointers)."""

    def __post_init__(self) -> None:
        if self.attn_type not in ("mla", "gqa"):
            raise ValueError(f"attn_type must be 'mla' or 'gqa', got {self.attn_type!r}")
        if self.attn_impl not in ("naive", "absorb"):
            raise ValueError(f"attn_impl must be 'naive' or 'absorb', got {self.attn_impl!r}")
        if self.dtype not in _DTYPES:
            raise ValueError(f"dtype must be one of {sorted(_DTYPES)}, got {self.dtype!r}")
        if self.attn_type == "gqa" and self.n_heads % self.n_kv_heads:
            raise ValueError("n_heads must be a multiple of n_kv_heads")
        if self.qk_rope_head_dim % 2 or self.head_dim % 2:
            raise ValueError("rotary widths must be even")
        if not 0 < self.n_activated_experts <= self.n_routed_experts:
            raise ValueError("need 0 < n_activated_experts <= n_routed_experts")
        if self.swa_ratio < 0 or self.sliding_window < 1:
            raise ValueError("swa_ratio must be >= 0 and sliding_window >= 1")
        if not 0 <= self.n_dense_layers <= self.n_layers:
            raise ValueError("n_dense_layers must be within [0, n_layers]")
        self.pointer_tokens = tuple(self.pointer_tokens)  # a list after a JSON round trip
        if self.pointer_dim and not 0 <= self.pointer_tokens[0] < self.pointer_tokens[1] <= self.vocab_size:
            raise ValueError(f"pointer_tokens must be a non-empty id range within the vocabulary, "
                             f"got {self.pointer_tokens}")

    # --- derived ---
    @property
    def torch_dtype(self) -> torch.dtype:
        return _DTYPES[self.dtype]

    @property
    def qk_head_dim(self) -> int:
        return self.qk_nope_head_dim + self.qk_rope_head_dim

    def layer_is_global(self, layer_id: int) -> bool:
        """Every (swa_ratio + 1)-th layer is global, the others slide: ratio 5 -> S S S S S G."""
        if self.swa_ratio == 0:
            return True
        return layer_id % (self.swa_ratio + 1) == self.swa_ratio

    def layer_uses_moe(self, layer_id: int) -> bool:
        return layer_id >= self.n_dense_layers

    def replace(self, **changes) -> "ModelArgs":
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    # --- presets ---
    @classmethod
    def planner(cls) -> "ModelArgs":
        """The shipped planner model: ~6M parameters, trains on 2 CPU cores (planner issue)."""
        return cls(
            vocab_size=1024, dim=256, n_layers=6, max_seq_len=4096,
            n_heads=4, q_lora_rank=0, kv_lora_rank=128, qk_nope_head_dim=64,
            qk_rope_head_dim=32, v_head_dim=64,
            sliding_window=64, swa_ratio=5, attn_sink=True,
            inter_dim=512, n_dense_layers=1, moe_inter_dim=128,
            n_routed_experts=8, n_shared_experts=1, n_activated_experts=2,
            bias_update_speed=0.001, seq_aux_alpha=1e-4,
            mtp_depth=1, mtp_lambda=0.3,
        )

    @classmethod
    def tiny(cls, **changes) -> "ModelArgs":
        """A few-thousand-parameter model for unit tests (two sliding layers, then a global one)."""
        base = cls(
            vocab_size=97, dim=32, n_layers=3, max_seq_len=128,
            n_heads=2, q_lora_rank=16, kv_lora_rank=16, qk_nope_head_dim=8,
            qk_rope_head_dim=4, v_head_dim=8, n_kv_heads=1, head_dim=8,
            sliding_window=5, swa_ratio=2, inter_dim=64, n_dense_layers=1, moe_inter_dim=16,
            n_routed_experts=4, n_shared_experts=1, n_activated_experts=2,
            mtp_depth=2,
        )
        return base.replace(**changes)

    @classmethod
    def deepseek_v2_attention(cls, **changes) -> "ModelArgs":
        """DeepSeek-V2's attention sizes (n_h 128, d_h 128, d_c 512, d_h^R 64, d_c' 1536, D 5120)
        with a MiMo-style 5:1 hybrid of window 128. Only its attention and caches are meant to be
        instantiated (its FFN sizes are placeholders)."""
        base = cls(
            vocab_size=1024, dim=5120, n_layers=6, max_seq_len=4096, dtype="bfloat16",
            n_heads=128, q_lora_rank=1536, kv_lora_rank=512, qk_nope_head_dim=128,
            qk_rope_head_dim=64, v_head_dim=128, n_kv_heads=128, head_dim=128,
            sliding_window=128, swa_ratio=5, n_dense_layers=6, inter_dim=64, mtp_depth=0,
        )
        return base.replace(**changes)
