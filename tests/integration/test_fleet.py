"""A fleet on one batched cloud over real gRPC: a few robots (real CloudClient sessions, each its
own channel) in a short closed loop and a saturation round, the prefix cache hit over /metrics,
and backpressure on the wire (Error(OVERLOADED), the session lives on and plans afterwards).

A small randomly initialised model stands in for the artifact (being retrained); the full
measurement is `brainstem bench fleet --robots 32 --json`.

    .venv/bin/python -m pytest -q tests/integration/test_fleet.py
"""

from __future__ import annotations

import math
import threading
import time
import urllib.request

import pytest
import torch

from cloud_brain.model import ModelArgs, Transformer
from cloud_brain.planner import corpus
from cloud_brain.planner.checkpoint import save_artifact
from cloud_brain.server.batching import BatchConfig, BatchedPlanner
from cloud_brain.server.fleet_bench import Robot, closed_loop, load_cases, saturation
from cloud_brain.server.service import serve

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def artifact(tmp_path_factory):
    tok = corpus.default_tokenizer()
    torch.manual_seed(3)
    model = Transformer(ModelArgs.tiny(vocab_size=len(tok), max_seq_len=512)).eval()
    g = torch.Generator().manual_seed(3)
    with torch.no_grad():  # O(1) activations: long, varied plans from a random model
        for p in model.parameters():
            if p.dim() >= 2:
                p.copy_(torch.randn(p.shape, generator=g) / math.sqrt(p.shape[-1]))
    return save_artifact(tmp_path_factory.mktemp("tiny") / "art", model, tok, {"note": "test"})


def _fleet(address: str, n: int) -> list[Robot]:
    robots = [Robot(address, f"robot-{i}") for i in range(n)]
    for r in robots:
        assert r.start(), "robot could not connect"
    return robots


def test_fleet_smoke_batched_over_grpc(artifact):
    server, port = serve(0, "moe", batching=BatchConfig(max_active=4, max_queue=8), artifact=artifact,
                         metrics_port=0)
    robots = _fleet(f"127.0.0.1:{port}", 3)
    try:
        cases = load_cases()[:30]
        loop = closed_loop(robots, cases, seconds=3.0, think_s=(0.1, 0.4))
        sat = saturation(robots, cases, rounds=2)
        metrics = urllib.request.urlopen(f"http://127.0.0.1:{server.metrics.port}/metrics",
                                         timeout=10).read().decode()
        stats = server.batched.stats()
    finally:
        for r in robots:
            r.stop()
        server.stop()
    assert loop["plans"] >= 3 and set(loop["outcomes"]) <= {"plan", "refusal"}, loop
    assert sat["plans"] == 6 and set(sat["outcomes"]) <= {"plan", "refusal"}, sat
    assert loop["first_step_ms"]["p50"] is not None and sat["saturation_plans_per_s"] > 0
    assert stats["prefix_hits"] > 0 and stats["failed"] == 0
    assert "brainstem_batch_prefix_hits_total" in metrics and "brainstem_batch_active" in metrics


def test_overloaded_on_the_wire_then_the_session_plans_again(artifact):
    planner = BatchedPlanner(None, artifact, BatchConfig(max_active=1, max_queue=0), start=False)
    server, port = serve(0, "moe", planner=planner)
    robots = _fleet(f"127.0.0.1:{port}", 2)
    cases = load_cases()[:2]
    try:
        first: list = []
        t = threading.Thread(target=lambda: first.append(robots[0].command(cases[0])), daemon=True)
        t.start()  # takes the only place (the engine is paused)
        deadline = time.monotonic() + 10
        while planner.engine.load()["queued"] < 1 and time.monotonic() < deadline:
            time.sleep(0.01)
        refused = robots[1].command(cases[1], timeout_s=10)
        planner.engine.start()
        t.join(60)
        retried = robots[1].command(cases[1])
    finally:
        for r in robots:
            r.stop()
        server.stop()
        planner.close()
    assert refused.outcome == "error:OVERLOADED" and refused.end_s < 5
    assert first[0].outcome in ("plan", "refusal")
    assert retried.outcome in ("plan", "refusal")
