"""`bench edge` pools the interleaved slices of the loop and the echo into one figure each
(edge_nerve/bench/loop.py): what it reports must be the statistics of all the samples."""

import numpy as np

from edge_nerve.bench import loop
from edge_nerve.bench.loop import Scheduling, _summary


def _part(lat_ms, sent, late, cpu=(1.0, 10.0), load=(0.5, 0.6)):
    lat = np.asarray(lat_ms, dtype=np.float64) * 1e6
    return {"lat": lat.astype(np.int64), "sent": sent, "received": lat.size, "late": late, "period_ns": 2e6,
            "seconds": 10.0, "load": list(load), "cpu": cpu, "probe_wire": "cdr",
            "stages": {"in": lat.astype(np.int64) // 2, "node": lat.astype(np.int64) // 4,
                       "out": lat.astype(np.int64) // 4}}


def test_pooled_slices_report_the_percentiles_drops_and_cpu_of_all_their_samples():
    rng = np.random.default_rng(0)
    a, b = rng.uniform(0.2, 0.5, 5000), rng.uniform(0.3, 0.9, 5000)
    s = _summary([_part(a, 5002, 1, cpu=(1.0, 10.0), load=(0.1, 0.2)),
                  _part(b, 5000, 3, cpu=(3.0, 10.0), load=(0.3, 0.4))], Scheduling(), 8)
    both = np.concatenate([a, b])
    assert abs(s["p99"] - np.percentile(both, 99)) < 1e-3 and abs(s["p50"] - np.percentile(both, 50)) < 1e-3
    assert (s["sent"], s["received"], s["dropped"], s["late"], s["misses"]) == (10002, 10000, 2, 4, 6)
    assert s["segments"] == 2 and s["seconds"] == 20.0
    assert s["cpu_percent"] == 20.0  # 4 CPU s over 20 wall s
    assert s["loadavg_1m_before_after"] == [0.1, 0.4]
    assert abs(s["stages_ms"]["in"]["p99"] - np.percentile(both / 2, 99)) < 2e-3


def test_slices_alternate_so_neither_side_always_runs_first(monkeypatch):
    order = []

    def fake_pair(argv, rate, seconds, work, tag, env, sched=Scheduling(), depth=8, probe_wire="cdr"):
        order.append((argv[0], seconds))
        return _part([0.3], 1, 0)

    monkeypatch.setattr(loop, "_measure_pair", fake_pair)
    out = loop._interleaved({"loop": ["L"], "echo": ["E"]}, 500.0, 30.0, 3, None, "t", {})
    assert order == [("L", 10.0), ("E", 10.0), ("E", 10.0), ("L", 10.0), ("L", 10.0), ("E", 10.0)]
    assert out["loop"]["segments"] == out["echo"]["segments"] == 3 and out["loop"]["sent"] == 3
