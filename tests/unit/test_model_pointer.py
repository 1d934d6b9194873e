"""The copy head (cloud_brain/model/pointer.py): cached decoding equals the full forward (rings
wrapping, rollback, per-row positions), and it moves only the logits of the copy tokens the
context holds.

    cd /work/main && .venv/bin/python -m pytest -q tests/unit/test_model_pointer.py
"""

import pytest
import torch

from cloud_brain.model import ModelArgs, Transformer
from model_testing import sharpen_

pytestmark = pytest.mark.usefixtures("torch_one_thread")

COPY = (10, 30)


def _model(**changes):
    torch.manual_seed(0)
    args = ModelArgs.tiny(pointer_dim=8, pointer_tokens=COPY, max_seq_len=64, **changes)
    model = Transformer(args).eval()
    sharpen_(model)
    return model


def _tokens(b, t, seed=0):
    return torch.randint(0, 97, (b, t), generator=torch.Generator().manual_seed(seed))


@pytest.mark.parametrize("impl", ["naive", "absorb"])
def test_cached_decoding_with_the_copy_head_equals_the_full_forward(impl):
    model = _model(attn_impl=impl)
    tokens = _tokens(2, 26)  # longer than the sliding window (5): the rings wrap
    with torch.no_grad():
        full = model(tokens)
        cache = model.allocate_cache(2, 32, draft_slack=3)
        assert len(cache.layers) == model.args.n_layers + 1  # the copy head's cache follows the blocks'
        outs, pos = [], 0
        for n in [9] + [1] * 8 + [4, 1, 1, 1, 1, 1]:
            outs.append(model(tokens[:, pos:pos + n], pos, cache))
            pos += n
        assert torch.allclose(torch.cat(outs, 1), full, atol=1e-5)
        # roll back three tokens and decode different ones: same as the full forward of that sequence
        other = tokens.clone()
        other[:, 23:] = torch.tensor([12, 3, 25])
        again = model(other[:, 23:], 23, cache)
        assert torch.allclose(again, model(other)[:, 23:], atol=1e-5)


def test_per_row_positions_with_the_copy_head_equal_each_row_alone():
    model = _model()
    a, b = _tokens(1, 14, seed=1), _tokens(1, 9, seed=2)
    with torch.no_grad():
        cache = model.allocate_cache(2, 20, linear=True)
        pad = torch.zeros(1, 5, dtype=torch.long)
        model(torch.cat([a[:, :9], b[:, :9]]), 0, cache)
        rows = model(torch.cat([a[:, 9:10], pad[:, :1]]), torch.tensor([9, 9]), cache)
        assert torch.allclose(rows[0, 0], model(a[:, :10])[0, -1], atol=1e-5)


def test_the_copy_head_moves_only_the_logits_of_the_copy_tokens_in_context():
    model = _model()
    ptr = model.pointer
    lo, hi = COPY
    with torch.no_grad():
        ptr.sink.fill_(-1e4)  # always copy something when there is something to copy
        tokens = torch.tensor([[1, 2, 17, 3, 22, 4]])  # copy tokens 17 (position 2) and 22 (position 4)
        h, copy = model.forward_trunk(tokens)
        assert copy.shape == (1, 6, hi - lo)
        floor = torch.log(torch.tensor(1e-4))
        assert torch.allclose(copy[0, :2], floor.expand(2, hi - lo))  # nothing to copy yet
        mass = copy.exp() - 1e-4  # the probability mass each copy token gets
        for t in (2, 3):  # only 17 is in context: it takes all the mass
            assert mass[0, t, 17 - lo] == pytest.approx(1.0, abs=1e-4)
        for t in (4, 5):  # 17 and 22 share it, nothing else gets any
            assert mass[0, t, [17 - lo, 22 - lo]].sum() == pytest.approx(1.0, abs=1e-4)
            others = [i for i in range(hi - lo) if i not in (17 - lo, 22 - lo)]
            assert mass[0, t, others].abs().max() < 1e-5
        # every other token's logit is the plain head's: the copy bias touches [lo, hi) only
        logits, plain = model.logits(h, copy), model.logits(h)
        assert torch.equal(logits[..., :lo], plain[..., :lo]) and torch.equal(logits[..., hi:], plain[..., hi:])
        assert torch.allclose(logits[..., lo:hi], plain[..., lo:hi] + copy)
        # a sink that takes everything: no copy token gets any mass
        ptr.sink.fill_(1e4)
        assert torch.allclose(model.forward_trunk(tokens)[1], floor.expand(1, 6, hi - lo))


def test_copy_token_range_is_checked():
    with pytest.raises(ValueError, match="pointer_tokens"):
        ModelArgs.tiny(pointer_dim=8, pointer_tokens=(30, 10))
    # a JSON round trip (lists) rebuilds the same config
    args = ModelArgs.tiny(pointer_dim=8, pointer_tokens=COPY)
    assert ModelArgs(**{**args.to_dict(), "pointer_tokens": list(COPY)}) == args
