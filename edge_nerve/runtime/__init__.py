"""Edge policy runtime: NPU-style onnxruntime execution of small control policies.

Only the runtime is imported here (onnxruntime + numpy, what the robot image carries); the
offline tools need torch / onnx and are imported explicitly:
`edge_nerve.runtime.export` (torch -> ONNX), `edge_nerve.runtime.quantize` (INT8 QDQ),
`edge_nerve.runtime.bench` (torch vs ORT fp32 / IO binding / INT8 latency).

    .venv/bin/python -m edge_nerve.runtime.bench --iterations 20000
"""

from edge_nerve.runtime.npu import (DEFAULT_PROVIDERS, ModelShapeError, PolicyRuntime,
                                    select_providers, session_options)

__all__ = ["DEFAULT_PROVIDERS", "ModelShapeError", "PolicyRuntime", "select_providers",
           "session_options"]
