"""The planner artifact: a versioned folder with safetensors weights, config and tokenizer.

Why a folder: the weights (model.safetensors, stored in float16 to halve the size; loaded back
as the config's dtype), the model arguments and training record (config.json) and the
vocabulary (tokenizer.json) travel together and load with no network access.

    .venv/bin/python -c "from cloud_brain.planner.checkpoint import load_artifact; m, t, c = load_artifact(); print(c['train'])"
"""

from __future__ import annotations

import json
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

from cloud_brain.model import ModelArgs, Transformer
from cloud_brain.planner.prompt import Tokenizer

ARTIFACTS = Path(__file__).resolve().parent / "artifacts"
DEFAULT_ARTIFACT = ARTIFACTS / "moe-v7"


def save_artifact(out: str | Path, model: Transformer, tok: Tokenizer, meta: dict) -> Path:
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().to(torch.float16).contiguous().clone() if v.is_floating_point() else v.contiguous()
             for k, v in model.state_dict().items()}
    save_file(state, str(out / "model.safetensors"), metadata={"format": "brainstem-planner"})
    (out / "model.safetensors").chmod(0o644)
    (out / "config.json").write_text(json.dumps({"model_args": model.args.to_dict(), **meta}, indent=1))
    tok.save(out / "tokenizer.json")
    return out


def load_artifact(path: str | Path | None = None) -> tuple[Transformer, Tokenizer, dict]:
    """(model in eval mode, tokenizer, config dict) from an artifact folder (default: moe-v7)."""
    path = Path(path) if path else DEFAULT_ARTIFACT
    if not (path / "model.safetensors").exists():
        raise FileNotFoundError(f"no planner weights in {path} (train with `brainstem train planner --out DIR`)")
    cfg = json.loads((path / "config.json").read_text())
    model = Transformer(ModelArgs(**cfg["model_args"]))
    state = load_file(str(path / "model.safetensors"))
    own = model.state_dict()
    missing = set(own) - set(state)
    if missing:
        raise ValueError(f"{path}: weights missing for {sorted(missing)[:5]}")
    model.load_state_dict({k: v.to(own[k].dtype) for k, v in state.items()}, strict=False)
    model.eval()
    return model, Tokenizer.load(path / "tokenizer.json"), cfg
