"""`brainstem bench mtp` reports both baselines and checks every decoder's output."""

import torch

from cloud_brain.decoding.bench import run_mtp_bench


def test_bench_mtp_reports_both_baselines_on_the_shipped_model():
    n, threads = 6, torch.get_num_threads()
    try:
        report = run_mtp_bench(n=n)
    finally:
        torch.set_num_threads(threads)  # the bench pins one thread
    assert report["identical"] and not report["mismatches"]
    passes, tokens = report["trunk_passes"], report["tokens"]
    assert tokens["greedy"] == tokens["speculative"] == tokens["plain_greedy"]
    # plain greedy: one pass per token after the first of each plan; the others need fewer
    assert passes["plain_greedy"] == tokens["plain_greedy"] - n
    assert passes["speculative"] <= passes["greedy"] < passes["plain_greedy"]
    assert set(report["speedup_over_plain_greedy"]) == {"greedy", "speculative"}
    assert all(v > 0 for v in report["tokens_per_s"].values())
    assert report["pass_bound"]["min"] <= passes["speculative"]
