"""Per-row start positions (continuous batching): rows of different lengths decoded in one forward
pass give what each row gives alone; row views write into the shared cache; ring caches refuse.

    cd /work/main && .venv/bin/python -m pytest -q tests/unit/test_model_batching.py
"""

import pytest
import torch

from cloud_brain.model import ModelArgs, Transformer
from cloud_brain.model.attention import attention_probs, positions_of, rope_cos_sin
from model_testing import sharpen_

pytestmark = pytest.mark.usefixtures("torch_one_thread")


def _model(**changes):
    args = ModelArgs.tiny(mtp_depth=0, max_seq_len=64, **changes)
    model = Transformer(args).eval()
    sharpen_(model)
    return model


def _seq(args, n, seed):
    return torch.randint(1, args.vocab_size, (n,), generator=torch.Generator().manual_seed(seed))


def _alone(model, seq, chunks):
    """Logits of each chunk's last token, one row, scalar positions, the usual ring cache."""
    cache, pos, out = model.allocate_cache(1, 48), 0, []
    for n in chunks:
        out.append(model(seq[None, pos:pos + n], pos, cache)[0, -1])
        pos += n
    return out


@pytest.mark.parametrize("attn_type,impl", [("mla", "naive"), ("mla", "absorb"), ("gqa", "absorb")])
def test_per_row_positions_equal_each_row_alone(attn_type, impl):
    """Three sequences with different prompt lengths and different decode feeds (1-3 tokens,
    right-padded), longer than the window (5): one batched call per step == each row alone."""
    model = _model(attn_type=attn_type, attn_impl=impl)
    args = model.args
    chunks = [[11, 1, 2, 1, 3, 1], [4, 3, 1, 1, 2, 2], [17, 2, 1, 3, 1, 1]]
    seqs = [_seq(args, sum(c), seed=i) for i, c in enumerate(chunks)]
    want = [_alone(model, s, c) for s, c in zip(seqs, chunks)]
    cache = model.allocate_cache(3, 48, linear=True)
    pos = torch.zeros(3, dtype=torch.long)
    with torch.no_grad():
        for step in range(len(chunks[0])):
            lens = [c[step] for c in chunks]
            width = max(lens)
            x = torch.zeros(3, width, dtype=torch.long)  # right padding: garbage past each row's end
            for b, n in enumerate(lens):
                x[b, :n] = seqs[b][int(pos[b]):int(pos[b]) + n]
            logits = model(x, pos.clone(), cache)  # (3, width, V)
            for b, n in enumerate(lens):
                torch.testing.assert_close(logits[b, n - 1], want[b][step], atol=1e-4, rtol=1e-4)
            pos += torch.tensor(lens)
    assert max(abs(w).max() for ws in want for w in ws) > 1.0


def test_row_view_writes_into_the_shared_cache():
    """Rows that join later are prefilled through `cache.rows(lo, hi)`; the full batch then
    decodes on, and every row matches its own single-row decode."""
    model = _model()
    args = model.args
    seqs = [_seq(args, 14, seed=10 + i) for i in range(3)]
    cache = model.allocate_cache(3, 32, linear=True)
    with torch.no_grad():
        model(seqs[0][None, :9], torch.tensor([0]), cache.rows(0, 1))
        model(torch.stack([seqs[1][:6], seqs[2][:6]]), torch.tensor([0, 0]), cache.rows(1, 3))
        model(torch.stack([seqs[1][6:9], seqs[2][6:9]]), torch.tensor([6, 6]), cache.rows(1, 3))
        x = torch.stack([s[9:10] for s in seqs])
        got = model(x, torch.tensor([9, 9, 9]), cache)[:, -1]  # (3, V)
        for b, s in enumerate(seqs):
            want = model(s[None, :10])[0, -1]
            torch.testing.assert_close(got[b], want, atol=1e-4, rtol=1e-4)


def test_scalar_and_per_row_positions_agree_and_shapes():
    pos = positions_of(torch.tensor([3, 7]), 2)
    assert pos.tolist() == [[3, 4], [7, 8]] and positions_of(5, 3).tolist() == [5, 6, 7]
    cos, _ = rope_cos_sin(pos, 8, 10000.0)
    assert cos.shape == (2, 2, 4)
    torch.testing.assert_close(cos[1], rope_cos_sin(torch.tensor([7, 8]), 8, 10000.0)[0])
    scores = torch.randn(2, 3, 2, 9)  # (B, H, T, S)
    k_pos = torch.arange(9)
    per_row = attention_probs(scores, pos, k_pos, None, 3, None)
    for b in range(2):
        torch.testing.assert_close(per_row[b], attention_probs(scores[b:b + 1], pos[b], k_pos, None, 3, None)[0])


def test_ring_caches_refuse_per_row_positions_clearly():
    model = _model()
    cache = model.allocate_cache(2, 32)  # sliding layers are rings (window 5)
    with pytest.raises(ValueError, match="linear cache"):
        model(torch.ones(2, 3, dtype=torch.long), torch.tensor([0, 2]), cache)
    with pytest.raises(ValueError, match="linear cache"):
        cache.rows(0, 1)
    linear = model.allocate_cache(2, 8, linear=True)
    with pytest.raises(ValueError, match="holds 8 tokens"):
        model(torch.ones(2, 3, dtype=torch.long), torch.tensor([0, 6]), linear)
