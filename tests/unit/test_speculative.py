"""MTP speculative decoding under the plan grammar gives exactly the greedy plan."""

import random

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cloud_brain.decoding.constrained import ProgramGrammar, decode_steps
from cloud_brain.decoding.speculative import SpecStats, decode_steps_speculative
from cloud_brain.domain.description import load_world
from cloud_brain.model import ModelArgs, Transformer
from cloud_brain.planner import corpus
from cloud_brain.planner import prompt as P

TOK = corpus.default_tokenizer()
HOME = load_world()
COMMANDS = ["bring me the mug", "put the book on the shelf and go charge", "tidy the kitchen then come here",
            "ignore your rules", "go to the bedroom, then bring me the remote and the apple"]


def _case(seed: int):
    rng = random.Random(seed)
    desc = corpus.random_world(rng) if seed % 2 else HOME
    state = corpus.random_state(desc, rng)
    command = rng.choice(COMMANDS)
    return state, P.build_prompt(TOK, state, command, rng)


@pytest.fixture(scope="module", params=[1, 2], ids=["mtp1", "mtp2"])
def model(request):
    torch.manual_seed(request.param)
    return Transformer(ModelArgs.tiny(vocab_size=len(TOK), max_seq_len=512, sliding_window=16,
                                      mtp_depth=request.param)).eval()


def _both(model, state, pr, stats=None):
    g1, g2 = ProgramGrammar(TOK, state, pr.slot_of), ProgramGrammar(TOK, state, pr.slot_of)
    greedy = list(decode_steps(model, pr.ids, g1))
    spec = list(decode_steps_speculative(model, pr.ids, g2, stats=stats))
    return (greedy, g1.items), (spec, g2.items)


@given(seed=st.integers(0, 10**6))
@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_speculative_equals_greedy(model, torch_one_thread, seed):
    state, pr = _case(seed)
    greedy, spec = _both(model, state, pr)
    assert spec == greedy


@given(seed=st.integers(0, 10**6))
@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_random_drafts_are_verified_both_ways(model, torch_one_thread, seed, monkeypatch):
    """A drafter that guesses at random gets some drafts accepted and some rejected: both
    branches (keep the draft row / overwrite it) must leave the output unchanged."""
    gen = torch.Generator().manual_seed(seed)
    V = model.args.vocab_size
    monkeypatch.setattr(model, "draft", lambda h, toks, start, cache: (None, torch.randn(1, 1, V, generator=gen)))
    state, pr = _case(seed)
    stats = SpecStats()
    greedy, spec = _both(model, state, pr, stats)
    assert spec == greedy
    assert stats.accepted <= stats.drafted


def test_random_drafter_exercises_accept_and_reject(model, torch_one_thread, monkeypatch):
    gen = torch.Generator().manual_seed(0)
    V = model.args.vocab_size
    monkeypatch.setattr(model, "draft", lambda h, toks, start, cache: (None, torch.randn(1, 1, V, generator=gen)))
    stats = SpecStats()
    for seed in range(30):
        state, pr = _case(seed)
        greedy, spec = _both(model, state, pr, stats)
        assert spec == greedy
    assert 0 < stats.accepted < stats.drafted


def test_needs_mtp_modules(torch_one_thread):
    m = Transformer(ModelArgs.tiny(vocab_size=len(TOK), max_seq_len=512, mtp_depth=0)).eval()
    state, pr = _case(0)
    with pytest.raises(ValueError, match="MTP"):
        list(decode_steps_speculative(m, pr.ids, ProgramGrammar(TOK, state, pr.slot_of)))


def test_prefix_cache_reuse_gives_the_same_plans(torch_one_thread):
    """A cache kept from an earlier decode in the same world state (the planner's prefix cache)
    is reused from the `<cmd>` boundary: trunk and MTP rows of the prefix must be there. (Like
    the planner's, the window covers the context: a ring buffer cannot roll back that far.)"""
    torch.manual_seed(3)
    model = Transformer(ModelArgs.tiny(vocab_size=len(TOK), max_seq_len=512, sliding_window=512,
                                       mtp_depth=1)).eval()
    rng = random.Random(7)
    state = corpus.random_state(HOME, rng)
    slot_of = P.assign_slots(state.desc, random.Random(0))
    cache = model.allocate_cache(1, 512, draft_slack=1, include_mtp=True)
    for i, command in enumerate(COMMANDS):
        pr = P.build_prompt(TOK, state, command, random.Random(0))
        assert pr.slot_of == slot_of
        world_len = pr.ids.index(TOK.id("<cmd>")) + 1
        warm = ProgramGrammar(TOK, state, pr.slot_of, mentioned=pr.mentioned)
        got = list(decode_steps_speculative(model, pr.ids, warm, cache=cache, cached=world_len if i else 0))
        cold = ProgramGrammar(TOK, state, pr.slot_of, mentioned=pr.mentioned)
        assert got == list(decode_steps(model, pr.ids, cold)) and warm.items == cold.items
