"""Static INT8 quantisation (QDQ) of a float policy, calibrated on recorded observations.

Why: NPUs (QNN/HTP, OpenVINO NPU, Ascend) run integer kernels; QDQ is the ONNX form they all
ingest (QuantizeLinear/DequantizeLinear pairs around each op, which each execution provider
fuses into its own int8 kernels), and the CPU provider fuses it too, so one artifact serves every
target. Calibration observations fix the activation ranges (MinMax), so they must come from the
robot's real observation distribution: ranges from the wrong data clip real inputs.
Follows onnxruntime.quantization `quantize_static` (docs: "Quantize ONNX models").

    .venv/bin/python -c "import numpy as np; from edge_nerve.runtime.quantize import quantize_int8; \
quantize_int8('/tmp/p.onnx', '/tmp/p.int8.onnx', np.random.randn(512, 64).astype('float32'))"
"""

from __future__ import annotations

import logging
import tempfile
from typing import Sequence
from pathlib import Path

import numpy as np
import onnxruntime as ort
from onnxruntime.quantization import (CalibrationDataReader, CalibrationMethod, QuantFormat,
                                      QuantType, quantize_static)
from onnxruntime.quantization.shape_inference import quant_pre_process

log = logging.getLogger(__name__)


class ObservationReader(CalibrationDataReader):
    """Feeds calibration observations one batch-1 row at a time, the shape the model was exported with."""

    def __init__(self, input_name: str, observations: np.ndarray, input_shape: tuple[int, ...]):
        self.input_name = input_name
        self.rows = np.ascontiguousarray(observations, dtype=np.float32).reshape((-1, *input_shape))
        self._i = 0

    def get_next(self) -> dict[str, np.ndarray] | None:
        if self._i >= len(self.rows):
            return None
        row = self.rows[self._i]
        self._i += 1
        return {self.input_name: row}

    def rewind(self) -> None:
        self._i = 0


def quantize_int8(fp32_path: str | Path, int8_path: str | Path, calibration: np.ndarray, *,
                  per_channel: bool = True,
                  reduce_range: bool = True,
                  activation_type: QuantType = QuantType.QUInt8,
                  weight_type: QuantType = QuantType.QInt8,
                  op_types: Sequence[str] | None = None,
                  float_outputs: Sequence[str] = ()) -> Path:
    """Write an INT8 QDQ copy of `fp32_path`, activation ranges from `calibration` (N, *obs) rows.

    Defaults: per-channel symmetric int8 weights (one scale per output neuron keeps small
    neurons from being flattened), uint8 asymmetric activations (ReLU outputs are >= 0, so the
    full 0..255 range is used), MinMax ranges. Those are the "U8S8" QDQ settings
    onnxruntime recommends for CPU; NPU providers accept them too.

    `reduce_range` stores weights in 7 bits. On x86 CPUs without VNNI (AVX2 only, like the dev
    machines) the u8 x s8 kernel sums pairs of products in int16 and saturates with full 8-bit
    weights; measured on the 64-256-256-12 policy, 7-bit weights cut the INT8-vs-fp32 error
    about 4x (max abs on calibration inputs 0.16 -> 0.04). Pass False for NPUs and VNNI CPUs.
    """
    fp32_path, int8_path = Path(fp32_path), Path(int8_path)
    calibration = np.asarray(calibration, dtype=np.float32)
    if calibration.ndim < 2 or len(calibration) == 0:
        raise ValueError(f"calibration must be (N, *obs_shape) with N >= 1, got {calibration.shape}")
    if not np.isfinite(calibration).all():
        raise ValueError("calibration observations contain NaN/inf")
    sess = ort.InferenceSession(str(fp32_path), providers=["CPUExecutionProvider"])
    (inp,) = sess.get_inputs()
    shape = tuple(inp.shape)
    if not all(isinstance(d, int) for d in shape):
        raise ValueError(f"{fp32_path}: input {inp.name!r} has dynamic shape {list(shape)}; export static shapes")
    n_feat = int(np.prod(shape))
    if calibration[0].size != n_feat:
        raise ValueError(f"calibration rows have {calibration[0].size} values, input {inp.name!r} "
                         f"expects shape {list(shape)} ({n_feat} values)")
    del sess
    reader = ObservationReader(inp.name, calibration, shape)
    with tempfile.TemporaryDirectory() as tmp:
        # Shape inference + constant folding first, as onnxruntime's quantiser asks; the
        # symbolic pass (needs sympy) is only for dynamic shapes, which we do not allow.
        pre = Path(tmp) / "pre.onnx"
        quant_pre_process(str(fp32_path), str(pre), skip_symbolic_shape=True)
        quantize_static(str(pre), str(int8_path), reader, quant_format=QuantFormat.QDQ,
                        per_channel=per_channel, reduce_range=reduce_range,
                        activation_type=activation_type, weight_type=weight_type,
                        calibrate_method=CalibrationMethod.MinMax,
                        op_types_to_quantize=list(op_types) if op_types else None,
                        extra_options={"OpTypesToExcludeOutputQuantization": list(float_outputs)})
    log.info("quantised %s -> %s (QDQ, %d calibration rows, %s-bit weights)", fp32_path, int8_path,
             len(calibration), 7 if reduce_range else 8)
    return int8_path
