"""`brainstem bench edge`, a short run on real processes: the policy timing, the skill runner's
500 Hz loop and its bare echo run interleaved, and every sample is accounted for, with the probe
on either wire (message bytes filled and read in place, or rclpy message objects)."""

import pytest

from edge_nerve.bench.loop import run_edge_bench

pytestmark = pytest.mark.integration


def test_bench_edge_small_run(tmp_path):
    r = run_edge_bench(2.0, rates=(500.0,), compare_executors=(), reader_depths=(), policy_iterations=2000,
                       realtime_priority=0, segments=2, workdir=tmp_path, compare_seconds=1.0)
    for name in ("torch_eager", "ort_fp32", "ort_int8"):
        assert 0 < r["policy_us"][name]["p50"] <= r["policy_us"][name]["p99"]
    loop, echo = r["ros_loop_ms"]["500"], r["ros_echo_ms"]
    for side in (loop, echo):
        assert side["sent"] == 1000  # two slices of 1 s at 500 Hz
        assert 0 < side["p50"] <= side["p99"] <= side["max"]
        assert side["dropped"] <= side["sent"] // 20, side  # a loaded box may drop a few, not the stream
    assert r["reader_depth"]["8"]["loop"]["segments"] == 2
    assert set(r["stages_ms"]["loop"]["500"]) == {"in", "node", "out"}
    assert set(r["targets"]) >= {"loop_p99_within_0.3ms_of_echo", "no_dropped_commands"}
    assert r["meta"]["top_rate_loop_and_echo"].startswith("interleaved, 2 slices")
    # how busy the machine was meanwhile: at least the pair's own work, never more than all of it
    for side in ("echo", "loop500"):
        assert 0 < r["meta"]["machine_busy_percent"][side] <= 100
        assert 0 <= r["meta"]["steal_percent"][side] < 100
    # the top rate again with the kernel's own choice of CPU idle states, beside the main runs
    assert len(r["cpu_idle"]) == 2 and any("idle exit <= 0 us" in label for label in r["cpu_idle"])
    for side in next(v for k, v in r["cpu_idle"].items() if "idle exit" not in k).values():
        assert side["seconds"] == 2.0 and side["dropped"] <= 50, side
    for wire in ("cdr", "objects"):  # every sample sent on either wire comes back with its own stamp
        for side in r["probe_wire"][wire].values():
            assert side["segments"] == 2 and side["dropped"] <= 50, (wire, side)
            assert 0 < side["p50"] <= side["p99"] <= side["max"] < 1000, (wire, side)
