"""The cloud brain's language model: MLA (absorbed latent cache) + DeepSeekMoE with aux-loss-free
balancing + hybrid sliding-window/global attention with sinks + MTP, in plain PyTorch.

    .venv/bin/python -m pytest -q tests/unit/test_model*.py
"""

from cloud_brain.model.config import ModelArgs
from cloud_brain.model.kv_cache import LayerKVCache, ModelCache
from cloud_brain.model.transformer import Transformer, sample_next

__all__ = ["ModelArgs", "ModelCache", "LayerKVCache", "Transformer", "sample_next"]
