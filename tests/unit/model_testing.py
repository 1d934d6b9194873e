"""Helpers for the model tests: weights that make masking and caching errors visible."""

import math

import torch


def sharpen_(module: torch.nn.Module, gain: float = 1.5, sink_scale: float = 1.0, seed: int = 0) -> None:
    """Re-initialise with O(1) activations and peaky attention, so masking errors show."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in module.named_parameters():
            if p.dim() >= 2:
                p.copy_(torch.randn(p.shape, generator=g) * gain / math.sqrt(p.shape[-1]))
            elif name.endswith("sink"):
                p.copy_(torch.randn(p.shape, generator=g) * sink_scale)
