"""MLA: absorbed == naive on the same weights, the absorbed cache holds only c_KV and k_R, and
the cache-size figures of the benchmark (DeepSeek-V2 attention sizes).

    cd /work/main && .venv/bin/python -m pytest -q tests/unit/test_model_mla.py
"""

import pytest
import torch

from cloud_brain.model import ModelArgs, Transformer
from cloud_brain.model.bench import kv_bytes
from model_testing import sharpen_

pytestmark = pytest.mark.usefixtures("torch_one_thread")


@pytest.mark.parametrize("q_lora_rank", [0, 16])
def test_absorbed_equals_naive(q_lora_rank):
    args = ModelArgs.tiny(q_lora_rank=q_lora_rank, mtp_depth=0, max_seq_len=64)
    model = Transformer(args).eval()
    sharpen_(model)
    tokens = torch.randint(0, args.vocab_size, (2, 30), generator=torch.Generator().manual_seed(3))
    out = {}
    with torch.no_grad():
        for impl in ("naive", "absorb"):
            model.set_attn_impl(impl)
            full = model(tokens)
            cache = model.allocate_cache(2, 64)
            inc = torch.cat([model(tokens[:, :20], 0, cache)]
                            + [model(tokens[:, i:i + 1], i, cache) for i in range(20, 30)], dim=1)
            out[impl] = (full, inc, cache)
    assert out["naive"][0].abs().max() > 1.0  # logits are not trivially small
    assert (out["absorb"][0] - out["naive"][0]).abs().max() < 1e-4
    assert (out["absorb"][1] - out["naive"][1]).abs().max() < 1e-4
    # the absorbed cache holds c_KV and k_R only; the naive one per-head K and V
    assert set(out["absorb"][2].layers[0].tensors) == {"kv", "pe"}
    assert set(out["naive"][2].layers[0].tensors) == {"k", "v"}
    assert out["absorb"][2].nbytes < out["naive"][2].nbytes


def test_absorbed_cache_bytes_per_token():
    args = ModelArgs.tiny(swa_ratio=0, mtp_depth=0)
    cache = Transformer(args).allocate_cache(1, 100)
    per_token_layer = cache.nbytes / (100 * args.n_layers)
    assert per_token_layer == (args.kv_lora_rank + args.qk_rope_head_dim) * 4  # fp32


def test_v2_scale_cache_reduction():
    r = kv_bytes(ModelArgs.deepseek_v2_attention(), gqa_kv_heads=8)
    per = r["kv_bytes_per_token"]
    assert per["mha"] == 2 * 128 * 128 * 2  # bf16 K and V, 128 heads of 128
    assert per["mla"] == (512 + 64) * 2  # c_KV + k_R: 576 elements (DeepSeek-V2 Table 1)
    assert per["gqa"] == 2 * 8 * 128 * 2
    assert r["kv_reduction_vs_mha"] >= 0.93
    assert r["hybrid_reduction_at_4k"] >= 5.0
    # one 5:1 period at 4096 tokens: 1 global layer x 4096 + 5 ring layers x 128
    assert r["hybrid_reduction_at_4k"] == pytest.approx(6 * 4096 / (4096 + 5 * 128))
