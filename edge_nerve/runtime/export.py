"""Policy MLP, a short synthetic training run, and torch -> ONNX export with static shapes.

Why: the NPU-style runtime (npu.py) accepts only models whose every input and output dimension
is fixed, batch included, so the export pins batch = 1 and declares no dynamic axes. The
synthetic regression target gives the weights realistic structure (trained, not random), which
is what makes INT8 calibration in quantize.py meaningful.

Shapes: B = batch (fixed at 1 on the robot), O = observation dim, A = action dim.

    .venv/bin/python -c "from edge_nerve.runtime.export import *; export_onnx(train_synthetic(PolicyMLP()), '/tmp/p.onnx')"
"""

from __future__ import annotations

import io
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

INPUT_NAME = "obs"
OUTPUT_NAME = "action"
OPSET = 17


@dataclass(frozen=True)
class PolicyArgs:
    obs_dim: int = 64  # O: observation features
    hidden: tuple[int, ...] = (256, 256)  # hidden widths, ReLU between layers
    act_dim: int = 12  # A: action features (e.g. 12 joint targets)


class PolicyMLP(nn.Module):
    """O -> hidden... -> A with ReLU; ReLU (not ELU/tanh) because it fuses into int8 MatMul+Add."""

    def __init__(self, args: PolicyArgs = PolicyArgs()):
        super().__init__()
        self.args = args
        dims = (args.obs_dim, *args.hidden, args.act_dim)
        layers: list[nn.Module] = []
        for i, (d_in, d_out) in enumerate(zip(dims[:-1], dims[1:])):
            layers.append(nn.Linear(d_in, d_out))
            if i < len(dims) - 2:
                layers.append(nn.ReLU())
        self.net = nn.Sequential(*layers)

    def forward(self, obs: torch.Tensor) -> torch.Tensor:  # (B, O) -> (B, A)
        return self.net(obs)


def synthetic_observations(n: int, obs_dim: int = 64, seed: int = 0) -> np.ndarray:
    """Observations drawn from the distribution the synthetic policy is trained on: (n, O) float32."""
    return np.random.default_rng(seed).standard_normal((n, obs_dim), dtype=np.float32)


def _teacher(obs_dim: int, act_dim: int, seed: int) -> nn.Module:
    """A fixed random smooth map O -> A: the regression target (stands in for a real teacher)."""
    g = torch.Generator().manual_seed(seed)
    w1 = torch.randn(obs_dim, 64, generator=g) / obs_dim**0.5
    w2 = torch.randn(64, act_dim, generator=g) / 8.0

    class Teacher(nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return torch.tanh(x @ w1) @ w2

    return Teacher()


def train_synthetic(model: PolicyMLP, steps: int = 300, batch: int = 256, lr: float = 2e-3,
                    seed: int = 0) -> PolicyMLP:
    """Fit `model` briefly to the synthetic teacher (a few s on one core); returns it in eval mode.

    The fit's quality is reported as `model.fit_mse` (held-out MSE) so a benchmark can say what
    it quantised.
    """
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny batches: extra threads only fight the control loop for cores
    try:
        return _fit(model, steps, batch, lr, seed)
    finally:
        torch.set_num_threads(threads)


def _fit(model: PolicyMLP, steps: int, batch: int, lr: float, seed: int) -> PolicyMLP:
    torch.manual_seed(seed)
    a = model.args
    teacher = _teacher(a.obs_dim, a.act_dim, seed + 1)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    g = torch.Generator().manual_seed(seed + 2)
    model.train()
    for _ in range(steps):
        x = torch.randn(batch, a.obs_dim, generator=g)
        loss = nn.functional.mse_loss(model(x), teacher(x))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    model.eval()
    with torch.no_grad():
        x = torch.randn(4096, a.obs_dim, generator=g)
        y = teacher(x)
        model.fit_mse = float(nn.functional.mse_loss(model(x), y))
        model.target_var = float(y.var())
    return model


def export_onnx(model: nn.Module, path: str | Path, obs_dim: int | None = None,
                opset: int = OPSET) -> Path:
    """Export with batch fixed at 1 and no dynamic axes, so every tensor shape is static.

    Uses the TorchScript exporter (dynamo=False): the dynamo exporter needs `onnxscript`, which
    the robot image does not carry, and an MLP has no control flow that would need it.
    """
    if opset < 17:
        raise ValueError(f"opset {opset} < 17")
    obs_dim = obs_dim or model.args.obs_dim
    path = Path(path)
    model.eval()
    example = torch.zeros(1, obs_dim)  # (1, O): the only shape the runtime will ever see
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # "legacy TorchScript-based export"
        buf = io.BytesIO()
        torch.onnx.export(model, (example,), buf, opset_version=opset, dynamo=False,
                          input_names=[INPUT_NAME], output_names=[OUTPUT_NAME],
                          dynamic_axes=None, do_constant_folding=True)
    path.write_bytes(buf.getvalue())
    return path
