"""The policy runtime: onnxruntime held to the rules an NPU target imposes.

Why: the control loop runs the policy at 100-500 Hz on one core with a p99 budget well under
1 ms (ARCHITECTURE.md, "The edge timing budget"). An NPU compiles one graph for one set of
shapes and rejects anything else, so this runtime does the same on every target, CPU included:

- every input/output dimension fixed and checked at load (a model that would need a graph
  rebuild per call, or that does not match the caller's expected shapes, is refused);
- input and output buffers preallocated once and bound with IO binding, so a tick copies the
  observation into the bound buffer, runs, and returns a view of the bound output: no arrays
  allocated, no Python objects retained (tests/unit/test_runtime.py checks it with tracemalloc);
- one intra-op thread, one inter-op thread, no spinning (a spinning pool burns the core that
  ROS 2 callbacks need), all graph optimisations, warm-up calls at load;
- execution providers taken from a configurable preference list (QNN / OpenVINO / CANN when the
  installed onnxruntime has them, CPU otherwise); the chosen one is logged;
- each call timed against a deadline: calls, misses, a latency histogram and percentiles;
- non-finite observations or actions are never passed on silently: the call is counted in
  `nonfinite`, `last_ok` is False and the returned action is all-NaN, which the command
  watchdog (edge_nerve/safety.py) already turns into a stop.

    .venv/bin/python -m pytest tests/unit/test_runtime.py -q
"""

from __future__ import annotations

import bisect
import logging
import time
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import onnxruntime as ort

log = logging.getLogger(__name__)

# Preference order: NPU providers first, CPU last (always present in onnxruntime builds).
DEFAULT_PROVIDERS: tuple[str, ...] = (
    "QNNExecutionProvider",  # Qualcomm Hexagon HTP
    "OpenVINOExecutionProvider",  # Intel NPU / iGPU / CPU
    "CANNExecutionProvider",  # Huawei Ascend
    "CPUExecutionProvider",
)

# Histogram bucket upper edges in µs (last bucket is everything above the last edge).
HIST_EDGES_US: tuple[int, ...] = (5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10000)

ProviderSpec = str | tuple[str, dict[str, Any]]


class ModelShapeError(ValueError):
    """The model's tensors are not what the NPU-style runtime can run (dynamic, wrong, or wrong type)."""


def select_providers(preferred: Sequence[ProviderSpec] | None = None) -> list[ProviderSpec]:
    """Keep the preferred providers that this onnxruntime build offers, in preference order."""
    preferred = list(DEFAULT_PROVIDERS if preferred is None else preferred)
    available = set(ort.get_available_providers())
    chosen = [p for p in preferred if (p if isinstance(p, str) else p[0]) in available]
    if not chosen:
        names = [p if isinstance(p, str) else p[0] for p in preferred]
        raise RuntimeError(f"none of the requested execution providers {names} is available; "
                           f"this onnxruntime offers {sorted(available)}")
    return chosen


def session_options(*, allow_cpu_fallback: bool = True) -> ort.SessionOptions:
    """Latency settings for one small model on a shared core."""
    so = ort.SessionOptions()
    so.intra_op_num_threads = 1
    so.inter_op_num_threads = 1
    so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    # A spinning thread pool would keep the core busy between ticks, stealing it from ROS 2.
    so.add_session_config_entry("session.intra_op.allow_spinning", "0")
    so.add_session_config_entry("session.inter_op.allow_spinning", "0")
    # Denormals are 10-100x slower on x86 and NPUs flush them anyway.
    so.add_session_config_entry("session.set_denormal_as_zero", "1")
    if not allow_cpu_fallback:
        # On a real NPU, ops silently falling back to the CPU are a latency bug: fail at load.
        so.add_session_config_entry("session.disable_cpu_ep_fallback", "1")
    return so


def _check_tensor(kind: str, arg: Any, expected: tuple[int, ...] | None) -> tuple[int, ...]:
    """Static float32 shape of a session input/output, or ModelShapeError naming the tensor."""
    shape = list(arg.shape)
    want = f"expected shape {list(expected)}" if expected is not None else "expected fixed positive dims"
    dynamic = [d for d in shape if not (isinstance(d, int) and d > 0)]
    if dynamic:
        raise ModelShapeError(
            f"{kind} {arg.name!r} has dynamic shape {shape} (dims {dynamic} are not fixed); the NPU "
            f"runtime needs static shapes, {want}: re-export without dynamic_axes, batch fixed to 1")
    if expected is not None and tuple(shape) != tuple(expected):
        raise ModelShapeError(f"{kind} {arg.name!r} has shape {shape}, {want}")
    if arg.type != "tensor(float)":
        raise ModelShapeError(f"{kind} {arg.name!r} has type {arg.type}, expected tensor(float) "
                              "(an INT8 QDQ model still takes and returns float32)")
    return tuple(shape)


class PolicyRuntime:
    """One policy, one fixed-shape input, one fixed-shape output, IO-bound and deadline-timed.

    `run(obs)` returns a view of the preallocated output buffer: it is overwritten by the next
    call, so copy it if it must outlive the tick. Not thread-safe (one control loop owns it).
    """

    def __init__(self, model_path: str | Path | bytes, *,
                 providers: Sequence[ProviderSpec] | None = None,
                 deadline_us: float = 1000,
                 warmup: int = 50,
                 expected_input_shape: Sequence[int] | None = None,
                 expected_output_shape: Sequence[int] | None = None,
                 allow_cpu_fallback: bool = True,
                 check_finite: bool = True,
                 window: int = 65536):
        self.model_name = "<bytes>" if isinstance(model_path, bytes) else str(model_path)
        chosen = select_providers(providers)
        model = model_path if isinstance(model_path, bytes) else str(model_path)
        self.session = ort.InferenceSession(model, sess_options=session_options(
            allow_cpu_fallback=allow_cpu_fallback), providers=chosen)
        self.provider: str = self.session.get_providers()[0]

        inputs, outputs = self.session.get_inputs(), self.session.get_outputs()
        if len(inputs) != 1 or len(outputs) != 1:
            raise ModelShapeError(
                f"{self.model_name}: a policy has one input and one output, this model has inputs "
                f"{[i.name for i in inputs]} and outputs {[o.name for o in outputs]}")
        exp_in = tuple(expected_input_shape) if expected_input_shape is not None else None
        exp_out = tuple(expected_output_shape) if expected_output_shape is not None else None
        self.input_name, self.output_name = inputs[0].name, outputs[0].name
        self.input_shape = _check_tensor("input", inputs[0], exp_in)
        self.output_shape = _check_tensor("output", outputs[0], exp_out)
        # Also accept the observation without its batch-1 axis, e.g. (64,) for a (1, 64) input.
        self._obs_shape_unbatched = self.input_shape[1:] if self.input_shape[0] == 1 else None

        # Buffers live as long as the runtime; the OrtValues wrap their memory (no copy), so the
        # session reads the observation from `_in` and writes the action straight into `_out`.
        # Both are views of one block (output at a 64-byte boundary) so that a single isfinite
        # pass checks observation and action together: each numpy call costs ~1 µs per tick.
        n_in, n_out = int(np.prod(self.input_shape)), int(np.prod(self.output_shape))
        out_at = -(-n_in // 16) * 16
        self._io = np.zeros(out_at + n_out, dtype=np.float32)
        self._io_ok = np.empty(self._io.shape, dtype=np.bool_)
        self._in = self._io[:n_in].reshape(self.input_shape)
        self._out = self._io[out_at:].reshape(self.output_shape)
        self._io_size = self._io.size
        self._in_ort = ort.OrtValue.ortvalue_from_numpy(self._in)
        self._out_ort = ort.OrtValue.ortvalue_from_numpy(self._out)
        self._binding = self.session.io_binding()
        self._binding.bind_ortvalue_input(self.input_name, self._in_ort)
        self._binding.bind_ortvalue_output(self.output_name, self._out_ort)
        # The raw C++ objects: calling them directly skips per-call Python wrapper work.
        self._sess_c = self.session._sess
        self._binding_c = self._binding._iobinding
        self._run_options = ort.RunOptions()

        self.check_finite = check_finite
        self.deadline_us = float(deadline_us)
        self._deadline_ns = int(deadline_us * 1000)
        self._hist_edges_ns = [e * 1000 for e in HIST_EDGES_US]
        self._window = int(window)
        self._lat_ns = np.zeros(self._window, dtype=np.int64)  # ring buffer of recent latencies
        self._lat_ns.fill(0)  # touch every page now, not as page faults during the first ticks
        self.reset_stats()

        for _ in range(int(warmup)):  # first runs allocate arenas and pick kernels
            self._sess_c.run_with_iobinding(self._binding_c, self._run_options)
        self._out.fill(0.0)
        log.info("policy runtime: %s on %s (of %s), input %s %s -> output %s %s, deadline %.0f µs, "
                 "%d warm-up calls", self.model_name, self.provider, [p if isinstance(p, str) else p[0]
                 for p in chosen], self.input_name, list(self.input_shape), self.output_name,
                 list(self.output_shape), self.deadline_us, warmup)

    def run(self, obs: np.ndarray) -> np.ndarray:
        """One tick: copy `obs` into the bound input, run, return the bound output (a view)."""
        t0 = time.perf_counter_ns()
        shape = obs.shape
        if shape != self.input_shape and shape != self._obs_shape_unbatched:
            raise ValueError(f"observation shape {shape} != model input {self.input_name!r} shape "
                             f"{self.input_shape}")
        np.copyto(self._in, obs)  # casting="same_kind": float64 in, float32 bound
        # Run even on a non-finite observation (an early exit would make bad ticks look fast),
        # then poison the action if anything in or out is NaN/inf: int8 QuantizeLinear of NaN is
        # undefined, so a NaN observation can come out as a plausible-looking action.
        self._sess_c.run_with_iobinding(self._binding_c, self._run_options)
        ok = True
        if self.check_finite:
            np.isfinite(self._io, out=self._io_ok)
            ok = np.count_nonzero(self._io_ok) == self._io_size  # .all() would allocate ~1 KB
            if not ok:
                self._out.fill(np.nan)  # downstream finiteness checks (safety.py) stop the robot
                self.nonfinite += 1
        self.last_ok = ok
        dt = time.perf_counter_ns() - t0
        self._lat_ns[self.calls % self._window] = dt
        self.calls += 1
        self._hist[bisect.bisect_left(self._hist_edges_ns, dt)] += 1
        if dt > self._deadline_ns:
            self.misses += 1
        if dt > self.max_ns:
            self.max_ns = dt
        return self._out

    def reset_stats(self) -> None:
        self.calls = 0
        self.misses = 0
        self.nonfinite = 0
        self.max_ns = 0
        self.last_ok = True
        self._hist = [0] * (len(HIST_EDGES_US) + 1)

    def stats(self) -> dict[str, Any]:
        """Deadline accounting since load (or the last reset_stats); percentiles over the last
        `window` calls, histogram and max over all of them. Allocates: call it off the hot path."""
        n = min(self.calls, self._lat_ns.shape[0])
        lat_us = self._lat_ns[:n] / 1000.0
        pct = (lambda q: round(float(np.percentile(lat_us, q)), 2)) if n else (lambda q: None)
        labels = [f"<={e}" for e in HIST_EDGES_US] + [f">{HIST_EDGES_US[-1]}"]
        return {
            "provider": self.provider,
            "input_shape": list(self.input_shape),
            "output_shape": list(self.output_shape),
            "deadline_us": self.deadline_us,
            "calls": self.calls,
            "misses": self.misses,
            "miss_rate": self.misses / self.calls if self.calls else 0.0,
            "nonfinite": self.nonfinite,
            "latency_us": {"p50": pct(50), "p90": pct(90), "p99": pct(99), "p999": pct(99.9),
                           "max": round(self.max_ns / 1000.0, 2),
                           "mean": round(float(lat_us.mean()), 2) if n else None,
                           "window": int(n)},
            "histogram_us": dict(zip(labels, self._hist)),
        }
