"""Continuous batching (cloud_brain/server/batching.py): batched plans == MoEPlanner's plans,
SeqDecoder == decode_steps, the shared prefix cache, admission control and backpressure
(Overloaded -> Error(OVERLOADED), the session lives on), abandoned streams.

A small randomly initialised model (sharpened so its plans are long and varied) stands in for the
artifact, which is being retrained: the tests check that batching changes nothing, not accuracy.

    cd /work/main && .venv/bin/python -m pytest -q tests/unit/test_batching.py
"""

import json
import random
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import torch

from cloud_brain.decoding.batched import SeqDecoder, contiguous_groups, decode_rows
from cloud_brain.decoding.constrained import ProgramGrammar, decode_steps
from cloud_brain.domain.description import load_world
from cloud_brain.domain.state import WorldState
from cloud_brain.model import ModelArgs, Transformer
from cloud_brain.planner import corpus
from cloud_brain.planner import prompt as P
from cloud_brain.planner.checkpoint import save_artifact
from cloud_brain.planner.moe import MoEPlanner
from cloud_brain.server.admission import Overloaded
from cloud_brain.server.batching import BatchConfig, BatchedPlanner
from cloud_brain.server.session import PlanSession
from cloud_brain.wire import PROTOCOL_VERSION, kind_of, pb
from model_testing import sharpen_

pytestmark = pytest.mark.usefixtures("torch_one_thread")

ROOT = Path(__file__).resolve().parents[2]
TOK = corpus.default_tokenizer()
HOME = load_world()


@pytest.fixture(scope="module")
def artifact(tmp_path_factory):
    torch.manual_seed(3)
    pointer_tokens = (TOK.id("@0"), TOK.id(f"@{P.MAX_SLOTS - 1}") + 1)  # with the planner's copy head
    model = Transformer(ModelArgs.tiny(vocab_size=len(TOK), max_seq_len=512, pointer_dim=8,
                                       pointer_tokens=pointer_tokens)).eval()
    sharpen_(model, gain=1.0, seed=3)
    return save_artifact(tmp_path_factory.mktemp("tiny") / "art", model, TOK, {"note": "test"})


def _requests(n: int = 14):
    """Dev-case commands in their worlds, plus random worlds and states from the corpus."""
    lines = (ROOT / "tests" / "data" / "dev_cases.jsonl").read_text().splitlines()
    cases = [json.loads(x) for x in lines[:n - 4]]
    out = [(c["command"], WorldState.initial(HOME, c.get("world"))) for c in cases]
    rng = random.Random(5)
    for _ in range(4):
        desc = corpus.random_world(rng)
        thing = rng.choice(sorted(desc.objects)).replace("_", " ")  # one this world has
        out.append((rng.choice([f"bring me the {thing}", "tidy up", "go charge", "put it away"]),
                    corpus.random_state(desc, rng)))
    return out


def test_batched_plans_equal_sequential_plans(artifact):
    reqs = _requests()
    planner = BatchedPlanner(HOME, artifact, BatchConfig(max_active=5, max_queue=32))
    try:
        with ThreadPoolExecutor(len(reqs)) as ex:  # every request in flight at once: rows join and leave
            got = list(ex.map(lambda r: planner.plan(*r), reqs))
        # a fresh MoEPlanner per request: its own prefix cache only suits windows >= the decode
        want = [MoEPlanner(HOME, artifact).plan(*r) for r in reqs]
        stats = planner.stats()
    finally:
        planner.close()
    assert [g.text for g in got] == [w.text for w in want]
    assert [g.refusal for g in got] == [w.refusal for w in want]
    assert [g.goals for g in got] == [w.goals for w in want]
    assert sum(len(w.steps) > 3 for w in want) >= len(reqs) // 3  # real plans, not all refusals
    assert stats["finished"] == len(reqs) and stats["failed"] == 0
    assert stats["max_active_seen"] == 5 and stats["mean_decode_batch"] > 1.5
    assert stats["prefix_hits"] > 0  # the dev cases share world states


def test_streamed_steps_equal_plan_and_prefix_hits(artifact):
    planner = BatchedPlanner(HOME, artifact, BatchConfig(max_active=4))
    state = WorldState.initial(HOME)
    try:
        a = planner.plan("bring me the red cup", state)
        streamed = list(planner.stream("bring me the red cup", state))
        planner.plan("go charge", state)
        stats = planner.stats()
    finally:
        planner.close()
    assert streamed == a.steps
    assert stats["prefix_lookups"] == 3 and stats["prefix_hits"] == 2
    assert planner.last_first_step_ms is not None


@pytest.mark.parametrize("cached", [False, True])
def test_seq_decoder_equals_decode_steps(artifact, cached):
    model = MoEPlanner(HOME, artifact).model
    state = WorldState.initial(HOME, {"user": "kitchen"})
    pr = P.build_prompt(TOK, state, "tidy the living room and bring me the remote", random.Random(0))
    want = list(decode_steps(model, pr.ids, ProgramGrammar(TOK, state, pr.slot_of), 64))
    cache = model.allocate_cache(1, 600, include_mtp=False, linear=True)
    world_len = pr.ids.index(TOK.id("<cmd>")) + 1
    if cached:
        model(torch.tensor([pr.ids[:world_len]]), 0, cache)
    dec = SeqDecoder(pr.ids, ProgramGrammar(TOK, state, pr.slot_of), 64, world_len if cached else 0)
    got = []
    while not dec.done:
        decode_rows(model, cache, [dec])
        got += dec.step()
    assert got == want and len(want) > 3


def test_contiguous_groups_bound_padding_and_capacity():
    assert contiguous_groups([1, 2, 1, 3], [10, 20, 30, 40], 100, 64) == [(0, 4)]
    assert contiguous_groups([1, 70, 2], [0, 0, 0], 500, 64) == [(0, 1), (1, 2), (2, 3)]
    assert contiguous_groups([5, 5, 5], [90, 10, 10], 100, 64) == [(0, 3)]
    assert contiguous_groups([5, 12, 5], [90, 10, 10], 100, 64) == [(0, 1), (1, 3)]  # 90 + 12 > 100


def test_admission_bound_refuses_with_a_clear_error_then_recovers(artifact):
    planner = BatchedPlanner(HOME, artifact, BatchConfig(max_active=2, max_queue=1), start=False)
    state = WorldState.initial(HOME)
    streams = [planner.stream("go charge", state) for _ in range(4)]
    try:
        with ThreadPoolExecutor(3) as ex:  # three fill the engine (2 rows + 1 queued) ...
            futures = [ex.submit(list, s) for s in streams[:3]]
            while planner.engine.load()["queued"] < 3:
                pass
            with pytest.raises(Overloaded, match=r"planner overloaded: 0 plans decoding and 3 queued "
                                                 r"\(limits: 2 decoding \+ 1 queued\); retry later"):
                next(streams[3])  # ... the fourth is refused at once, nothing decoded
            assert planner.stats()["rejected"] == 1
            planner.engine.start()
            plans = [f.result(timeout=60) for f in futures]
        assert all(p == plans[0] for p in plans)
        assert planner.plan("go charge", state).steps == plans[0]  # room again once drained
    finally:
        planner.close()


def test_session_answers_overloaded_and_lives_on(artifact):
    planner = BatchedPlanner(HOME, artifact, BatchConfig(max_active=1, max_queue=0), start=False)
    try:
        blocker = planner.stream("go charge", WorldState.initial(HOME))
        with ThreadPoolExecutor(1) as ex:
            fut = ex.submit(list, blocker)
            while planner.engine.load()["queued"] < 1:
                pass
            s = PlanSession(planner)
            hello = pb.EdgeMessage(hello=pb.Hello(protocol_version=PROTOCOL_VERSION, robot_id="r1"))
            cmd = pb.EdgeMessage(command=pb.Command(command_id="c1", text="bring me the red cup"))
            assert [kind_of(m) for m in s.handle(hello)] == ["welcome"]
            replies = list(s.handle(cmd))
            assert [kind_of(m) for m in replies] == ["error"]
            err = replies[0].error
            assert err.code == pb.Error.OVERLOADED and err.command_id == "c1"
            assert "planner overloaded" in err.message and "retry later" in err.message
            planner.engine.start()
            fut.result(timeout=60)
        again = [kind_of(m) for m in s.handle(pb.EdgeMessage(command=pb.Command(command_id="c2", text="go charge")))]
        assert again[-1] in ("done", "refusal") and "error" not in again
    finally:
        planner.close()


def test_abandoned_stream_frees_its_row(artifact):
    planner = BatchedPlanner(HOME, artifact, BatchConfig(max_active=2))
    state = WorldState.initial(HOME)
    try:
        gen = planner.stream("tidy up the living room", state)
        next(gen)  # the first step, then the reader goes away
        gen.close()
        assert planner.plan("go charge", state).steps
        stats = planner.stats()
        assert stats["active"] == 0 and stats["failed"] == 0
        assert stats["cancelled"] + stats["finished"] == 2
    finally:
        planner.close()


def test_a_returned_plan_has_already_left_the_batch(artifact, monkeypatch):
    """The caller hears "done" only after the engine freed the row, however slow the engine is
    (under load this once showed as active == 1 right after plan() returned)."""
    from cloud_brain.server.batching import BatchEngine
    compact = BatchEngine._compact

    def slow_compact(self, alive):
        time.sleep(0.05)
        compact(self, alive)

    monkeypatch.setattr(BatchEngine, "_compact", slow_compact)
    planner = BatchedPlanner(HOME, artifact, BatchConfig(max_active=2))
    try:
        for command in ("go charge", "bring me the red cup"):
            assert planner.plan(command, WorldState.initial(HOME)).steps
            assert planner.engine.load() == {"active": 0, "queued": 0}
    finally:
        planner.close()


def test_closed_engine_fails_waiting_requests_clearly(artifact):
    planner = BatchedPlanner(HOME, artifact, BatchConfig(max_active=1), start=False)
    gen = planner.stream("go charge", WorldState.initial(HOME))
    with ThreadPoolExecutor(1) as ex:
        fut = ex.submit(list, gen)
        while planner.engine.load()["queued"] < 1:
            pass
        planner.close()
        with pytest.raises(RuntimeError, match="stopped before this plan finished"):
            fut.result(timeout=10)
    with pytest.raises(RuntimeError, match="engine is stopped"):
        planner.plan("go charge", WorldState.initial(HOME))
