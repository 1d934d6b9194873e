"""Train the MoE planner on the synthetic corpus, on CPU, within a step budget.

Why a step budget: the same steps give the same model on any machine as far as floating point
allows, while a wall-clock budget gave fewer steps on a loaded machine. The learning-rate
schedule (warm-up, stable, linear decay over the last 20%) runs over the steps; `--minutes`
stays as a safety stop (and, with `--steps 0`, as the budget the schedule runs over).
The corpus is an endless seeded stream (`corpus.sample_example`), so nothing is memorised and a
fixed seed gives the same data order. The loss is next-token cross-entropy on the *plan* tokens
only (prompt and padding are masked) + λ·MTP on the same tokens + the sequence-wise balance
loss; gate biases follow the aux-loss-free rule after each step. Progress: a rich bar; every
`log_every` steps a JSON line (losses, tokens/s, expert load max/mean per layer) in train_log.jsonl.

    brainstem train planner --out runs/planner            # 2000 steps, seed 0: the shipped recipe
"""

from __future__ import annotations

import json
import math
import random
import time
from pathlib import Path

import torch
import torch.nn.functional as F

from cloud_brain.model import ModelArgs, Transformer
from cloud_brain.model.moe import load_balance
from cloud_brain.model.train import make_optimizer
from cloud_brain.planner import corpus
from cloud_brain.planner.checkpoint import save_artifact
from cloud_brain.planner.prompt import MAX_SLOTS, SPECIALS, Tokenizer

IGNORE = -100
MAX_LEN = 500  # world prompt + packed (command, program) pairs; a pair that would overflow is dropped


def planner_args(vocab_size: int = 1024, copy_head: bool = False) -> ModelArgs:
    """ModelArgs.planner() shrunk to what a shared 2-core CPU trains in under an hour: 4 layers of
    width 128 (3 sliding + 1 global; window 512 >= a packed training row, so every layer sees the
    whole world state — the hybrid layout only matters for long served sessions), MLA with a 64-wide
    latent, 8 routed experts (width 64) top-2 + 1 shared, MTP depth 1. The bias update speed is
    10x DeepSeek-V3's 0.001: a run of ~1000 steps must still balance its experts. Tied input and
    output embeddings: writing a pointer is copying one from `<ment>` or the world part, and with
    tied embeddings a head that attends to a pointer token already points at its output logit.
    `copy_head`: add the pointer-copy logits over the `@k` ids (model/pointer.py). It ends the
    pointer-loss plateau within ~100 steps, but in two 1000-step CPU runs the item-head loss
    stayed 4x higher and dev success fell to 80-83% (README), so the recipe leaves it off."""
    pointer = {}
    if copy_head:
        first_slot = len(SPECIALS)  # Tokenizer.build: the specials, then the pointer tokens @0 … @63
        pointer = {"pointer_dim": 32, "pointer_tokens": (first_slot, first_slot + MAX_SLOTS)}
    return ModelArgs.planner().replace(vocab_size=vocab_size, dim=128, n_layers=4, max_seq_len=512,
                                       sliding_window=512, swa_ratio=3, inter_dim=256, n_heads=4,
                                       kv_lora_rank=64, qk_nope_head_dim=32, qk_rope_head_dim=16,
                                       v_head_dim=32, moe_inter_dim=64,
                                       bias_update_speed=0.01, tie_embeddings=True, **pointer)


def step_batch(seed: int, step: int, batch_size: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The batch of training step `step`: its own seeded stream, so the data does not depend on
    how many processes make batches (or on which machine)."""
    global _TOK
    if _TOK is None:
        _TOK = corpus.default_tokenizer()
    return make_batch(_TOK, random.Random(corpus.example_seed(seed, step)), batch_size)


_TOK: Tokenizer | None = None


def _batches(seed: int, batch_size: int, workers: int, start: int = 0):
    """Step batches in order; with `workers` > 0 made ahead by a process pool (a GPU step is
    faster than making its batch in Python)."""
    if workers <= 0:
        step = start
        while True:
            yield step_batch(seed, step, batch_size)
            step += 1
    import multiprocessing as mp
    from collections import deque
    from concurrent.futures import ProcessPoolExecutor
    # spawn: the parent may hold a CUDA context. (multiprocessing.Pool's terminate, run when the
    # generator closes with batches still in flight, failed now and then with "Cannot have cache
    # with result_hander not alive"; the executor cancels what has not started and waits.)
    with ProcessPoolExecutor(workers, mp_context=mp.get_context("spawn")) as pool:
        ahead: deque = deque()
        step = start
        try:
            while True:
                while len(ahead) < 2 * workers:
                    ahead.append(pool.submit(step_batch, seed, step, batch_size))
                    step += 1
                yield ahead.popleft().result()
        finally:
            for f in ahead:
                f.cancel()


def make_batch(tok: Tokenizer, rng: random.Random, batch_size: int, split: str = "train",
               pack: int = 16) -> tuple[torch.Tensor, torch.Tensor]:
    """(tokens (B, T), targets (B, T-1)) with targets IGNORE outside the plans; each row is one
    world prompt with up to `pack` (command, plan) pairs (`corpus.encode_packed`)."""
    seqs = [corpus.encode_packed(tok, rng, split, k=rng.randint(4, pack), max_len=MAX_LEN)
            for _ in range(batch_size)]
    T = max(len(s) for s, _ in seqs)
    pad = tok.id("<pad>")
    tokens = torch.full((batch_size, T), pad, dtype=torch.long)
    targets = torch.full((batch_size, T - 1), IGNORE, dtype=torch.long)
    for b, (ids, spans) in enumerate(seqs):
        tokens[b, :len(ids)] = torch.tensor(ids)
        for start, end in spans:  # position i predicts ids[i + 1]
            targets[b, start - 1:end - 1] = torch.tensor(ids[start:end])
    return tokens, targets


def plan_loss(model: Transformer, tokens: torch.Tensor, targets: torch.Tensor) -> dict[str, torch.Tensor]:
    """Transformer.loss with a target mask: tokens (B, T), targets (B, T-1) aligned with
    tokens[:, :-1]. MTP module k predicts targets shifted by k."""
    for m in model.moe_layers():
        m.aux_loss = None
    x = tokens[:, :-1]
    seqlen = x.shape[1]
    h, copy = model.forward_trunk(x)  # (B, T, D), (B, T, P) or None
    # the output head only where a plan token is the target (~9% of the positions): the
    # (B, T, V) logits of the prompt were a fifth of a CPU step and were never used
    planned = targets != IGNORE  # (B, T-1)
    main = F.cross_entropy(model.logits(h[planned], None if copy is None else copy[planned]).float(),
                           targets[planned])
    mtp_losses = []
    for k, module in enumerate(model.mtp, start=1):
        n = seqlen - k
        if n <= 0:
            break
        emb = model.embed(tokens[:, k:k + n])  # (B, n, D)
        hk = module(h[:, :n], emb, 0, model._rope(0, n))
        sel = planned[:, k:k + n]  # (B, n)
        if sel.any():
            mtp_losses.append(F.cross_entropy(model.head(module.norm(hk[sel])).float(), targets[:, k:k + n][sel]))
        h = hk
    zero = main.new_zeros(())
    mtp = torch.stack(mtp_losses).mean() if mtp_losses else zero
    aux = sum((m.aux_loss for m in model.moe_layers() if m.aux_loss is not None), zero)
    return {"loss": main + model.args.mtp_lambda * mtp + aux, "main": main, "mtp": mtp, "aux": aux}


def lr_at(frac: float, base: float, warmup: float = 0.03, schedule: str = "cosine") -> float:
    """Warm-up, then cosine to 10% ("cosine"), or constant until 80% of the run and a linear
    cool-down to 10% ("wsd": warm-up, stable, decay)."""
    if frac < warmup:
        return base * max(frac / warmup, 0.02)
    if schedule == "wsd":
        return base if frac < 0.8 else base * (1.0 - 0.9 * min(1.0, (frac - 0.8) / 0.2))
    p = min(1.0, (frac - warmup) / (1 - warmup))
    return base * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * p)))


def train(out: str | Path, minutes: float = 90.0, seed: int = 0, batch_size: int = 16,
          lr: float = 3e-3, threads: int = 2, log_every: int = 25, max_steps: int | None = None,
          args: ModelArgs | None = None, checkpoint_every_s: float = 300.0, quiet: bool = False,
          dev_eval: int = 200, device: str = "cpu", workers: int = 0, schedule: str = "wsd",
          init: str | Path | None = None) -> dict:
    """Train and write the artifact to `out`; returns the training record. With `max_steps` the
    learning-rate schedule runs over the steps (the same run on any machine), else over
    `minutes`; training stops at whichever comes first. `device` "cuda" trains on a GPU (the
    same recipe; `workers` processes then make the batches). `init`: start from that artifact's
    weights, shape and tokenizer (fine-tuning a shipped model on a changed corpus costs a
    fraction of a new run and keeps what it learned)."""
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

    torch.set_num_threads(threads)
    torch.manual_seed(seed)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    tok = corpus.default_tokenizer()
    start = None
    if init is not None:
        from cloud_brain.planner.checkpoint import load_artifact
        start, init_tok, _ = load_artifact(init)
        if init_tok.vocab != tok.vocab:
            raise ValueError(f"{init}: its tokenizer is not the corpus's ({len(init_tok)} vs {len(tok)} tokens)")
        if args is not None and args.to_dict() != start.args.to_dict():
            raise ValueError(f"{init}: its model shape differs from the one asked for")
        args = start.args
    args = args or planner_args()
    if args.pointer_dim and tuple(args.pointer_tokens) != (tok.id("@0"), tok.id(f"@{MAX_SLOTS - 1}") + 1):
        raise ValueError(f"pointer_tokens {args.pointer_tokens} are not this tokenizer's pointer ids")
    model = (start if start is not None else Transformer(args)).to(device)
    serve_impl = args.attn_impl
    model.set_attn_impl("naive")  # cheaper for full-sequence training at this width; same weights
    opt = make_optimizer(model, lr=lr)
    budget = minutes * 60.0
    log_path = out / "train_log.jsonl"
    log_f = log_path.open("w")
    record = {"seed": seed, "minutes": minutes, "max_steps": max_steps, "batch_size": batch_size, "lr": lr,
              "threads": threads, "device": device, "schedule": schedule,
              "params": model.num_params(), "active_params": model.num_params(active=True),
              "vocab": len(tok), "corpus": "cloud_brain.planner.corpus (template split train/dev)",
              **({"init": str(init)} if init is not None else {})}
    t0 = time.perf_counter()
    last_ckpt = t0
    step, n_tokens, n_plan = 0, 0, 0
    ema = None
    meta = lambda: {"train": {**record, "steps": step, "tokens": n_tokens, "plan_tokens": n_plan,  # noqa: E731
                              "wall_s": round(time.perf_counter() - t0, 1),
                              "loss_ema": ema, "expert_load": model.expert_load("total")}}
    batches = _batches(seed, batch_size, workers)
    with Progress(TextColumn("[bold]train planner"), BarColumn(), TextColumn("{task.percentage:>3.0f}%"),
                  TextColumn("step {task.fields[step]} loss {task.fields[loss]} "
                             "{task.fields[tps]} tok/s max/mean {task.fields[bal]}"),
                  TimeElapsedColumn(), TimeRemainingColumn(), disable=quiet) as bar:
        task = bar.add_task("train", total=budget, step=0, loss="-", tps="-", bal="-")
        while True:
            elapsed = time.perf_counter() - t0
            if elapsed >= budget or (max_steps is not None and step >= max_steps):
                break
            frac = elapsed / budget if max_steps is None else step / max_steps
            for g in opt.param_groups:
                g["lr"] = lr_at(frac, lr, schedule=schedule)
            tokens, targets = (t.to(device) for t in next(batches))
            model.train()
            opt.zero_grad(set_to_none=True)
            losses = plan_loss(model, tokens, targets)
            losses["loss"].backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            opt.step()
            loads = model.update_expert_bias()
            step += 1
            n_tokens += tokens.numel()
            n_plan += int((targets != IGNORE).sum())
            main = float(losses["main"].detach())
            ema = main if ema is None else 0.95 * ema + 0.05 * main
            now = time.perf_counter()
            bal = sum(load_balance(l)["max_over_mean"] for l in loads) / max(1, len(loads))
            bar.update(task, completed=min(budget, now - t0) if max_steps is None else budget * step / max_steps,
                       step=step, loss=f"{ema:.3f}", tps=f"{n_tokens / (now - t0):.0f}", bal=f"{bal:.2f}")
            if step % log_every == 0 or step == 1:
                log_f.write(json.dumps({"step": step, "t": round(now - t0, 1), "lr": opt.param_groups[0]["lr"],
                                        **{k: round(float(v.detach()), 4) for k, v in losses.items()},
                                        "loss_ema": round(ema, 4), "tokens_per_s": round(n_tokens / (now - t0)),
                                        "expert_max_over_mean": [round(load_balance(l)["max_over_mean"], 3)
                                                                 for l in loads]}) + "\n")
                log_f.flush()
            if now - last_ckpt > checkpoint_every_s:
                _save(out, model, tok, meta(), serve_impl)
                last_ckpt = now
    batches.close()
    log_f.close()
    model.cpu()
    m = meta()
    _save(out, model, tok, m, serve_impl)
    if dev_eval:
        from cloud_brain.planner.moe import synthetic_dev_accuracy
        model.set_attn_impl(serve_impl)
        model.eval()
        m["train"]["synthetic_dev"] = synthetic_dev_accuracy(model, tok, n=dev_eval, seed=seed + 1)
        _save(out, model, tok, m, serve_impl)
    return m["train"]


def _save(out: Path, model: Transformer, tok: Tokenizer, meta: dict, serve_impl: str) -> None:
    """Write the artifact with the serving attention mode recorded in its config."""
    train_impl = model.args.attn_impl
    model.args = model.args.replace(attn_impl=serve_impl)
    save_artifact(out, model, tok, meta)
    model.args = model.args.replace(attn_impl=train_impl)
