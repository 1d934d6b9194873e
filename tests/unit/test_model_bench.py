"""`brainstem bench mla` report: the issue's done-when thresholds, on the quick path.

    cd /work/main && .venv/bin/python -m pytest -q tests/unit/test_model_bench.py
"""

import json

import pytest

from cloud_brain.model.bench import run_mla_bench


pytestmark = pytest.mark.usefixtures("torch_one_thread")


def test_quick_bench_meets_done_when():
    report = run_mla_bench(quick=True)
    json.dumps(report)  # serialisable as one JSON object
    for cfg in ("v2_scale", "planner"):
        assert set(report["kv_bytes_per_token"][cfg]) >= {"mha", "gqa", "mla", "mla_hybrid"}
        assert cfg in report["kv_reduction_vs_mha"] and cfg in report["hybrid_reduction_at_4k"]
    assert report["kv_reduction_vs_mha"]["v2_scale"] >= 0.93
    assert report["hybrid_reduction_at_4k"]["v2_scale"] >= 5.0
    assert report["absorb_max_abs_diff"] < 1e-4
    assert all(report["done_when"].values())
    per = report["kv_bytes_per_token"]["planner"]
    assert per["mla_hybrid"] < per["mla"] < per["gqa"] < per["mha"]
