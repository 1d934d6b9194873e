"""MTP speculative decoding under the plan grammar: the MTP module drafts the token after the one
just chosen, the trunk verifies it in the same forward pass that it needs anyway, and the output
is exactly what greedy constrained decoding (`constrained.decode_steps`) gives.

Why: a planner round trip is a handful of sequential one-token forward passes; on a CPU each
costs the same whether it carries one token or two, so every accepted draft removes one pass
(DeepSeek-V3 §2.2 / MiMo-V2-Flash use their MTP heads the same way). The grammar mask is applied
to the draft too, so a draft is never a token the grammar would refuse.

One iteration, with `last` the token just chosen at position p (not yet fed to the trunk) and
h_{p-1} the trunk's hidden state before it:
    draft    d   = argmax_allowed MTP(h_{p-1}, Emb(last))            (position p + 1)
    verify   [last, d] -> trunk -> logits at p (for p + 1) and p + 1 (for p + 2)
    accept   if argmax_allowed(logits_p) == d: two tokens for one pass
    reject   else take argmax_allowed(logits_p); the cache slot p + 1 is overwritten next pass
Forced tokens (one allowed choice) never need the model; they ride along with the next pass
(no draft then: the MTP needs the hidden state right before the token it drafts after).
Greedy only: with sampling, the standard rejection rule would replace the argmax test.

    stats = SpecStats(); steps = list(decode_steps_speculative(model, ids, grammar, stats=stats))
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Iterator

import torch

from cloud_brain.decoding.constrained import DecodeStats, ProgramGrammar, pick_allowed as _pick
from cloud_brain.domain.plan import Step


@dataclass
class SpecStats(DecodeStats):
    """DecodeStats plus what the drafts did."""

    drafted: int = 0  # drafts proposed to the trunk
    accepted: int = 0  # drafts the trunk agreed with

    @property
    def acceptance_rate(self) -> float:
        return self.accepted / self.drafted if self.drafted else 0.0


@torch.inference_mode()
def decode_steps_speculative(model, prompt_ids: list[int], grammar: ProgramGrammar, max_tokens: int = 64,
                             cache=None, cached: int = 0, stats: SpecStats | None = None) -> Iterator[Step]:
    """Like `decode_steps` (same arguments, same steps) with MTP drafts verified by the trunk.
    `cache` must include the MTP layer caches (allocate_cache(..., include_mtp=True)); with
    `cached` > 0 the trunk and MTP caches already hold prompt_ids[:cached] (an earlier
    speculative decode of a prompt with the same prefix wrote both)."""
    if not model.mtp:
        raise ValueError("speculative decoding needs a model with MTP modules (mtp_depth >= 1)")
    stats = stats if stats is not None else SpecStats()
    if cache is None:
        cache, cached = model.allocate_cache(1, len(prompt_ids) + max_tokens + 2, draft_slack=1,
                                             include_mtp=True), 0
    cached = min(cached, len(prompt_ids) - 1)
    seq = list(prompt_ids)  # every token decided so far
    t0 = time.perf_counter()
    h = model.forward_hidden(torch.tensor([seq[cached:]], dtype=torch.long), cached, cache)  # (1, T, D)
    fed = len(seq)  # the trunk cache holds positions [0, fed) correctly
    next_logits = model.logits(h[:, -1:])[0, -1]  # (V,) for position fed, valid while fed == len(seq)
    # the MTP reads the prompt rows now (all but the last, whose next token is not decided yet),
    # so a cache reused for a shared prefix (`cached`) always holds the MTP rows of that prefix
    if len(seq) - 1 > cached:
        model.draft(h[:, :-1], torch.tensor([seq[cached + 1:]]), cached, cache)
    h_rows, mtp_done = h[:, -1:], len(seq) - 1  # trunk rows [mtp_done, fed) the MTP has not read yet
    t1 = time.perf_counter()
    stats.prefill_s += t1 - t0
    try:
        for _ in range(max_tokens):
            allowed = grammar.allowed()
            if not allowed:
                break
            if len(allowed) == 1:  # forced: no model needed
                choice = allowed[0]
            elif fed == len(seq):  # the last pass already predicted this position
                choice = _pick(next_logits, allowed)
            else:
                unfed = seq[fed:]
                draft = None
                if len(unfed) == 1:  # MTP: rows [mtp_done, fed) with their next tokens -> a draft for len(seq)
                    _, d_logits = model.draft(h_rows, torch.tensor([seq[mtp_done + 1:fed + 1]]), mtp_done, cache)
                    draft = _pick(d_logits[0, 0], allowed)
                    mtp_done, h_rows = fed, h_rows[:, :0]
                    stats.drafted += 1
                feed = unfed + ([draft] if draft is not None else [])
                h = model.forward_hidden(torch.tensor([feed], dtype=torch.long), fed, cache)  # (1, F, D)
                lg = model.logits(h)[0]  # (F, V)
                stats.trunk_passes += 1
                choice = _pick(lg[len(unfed) - 1], allowed)
                if draft is not None and choice == draft:  # accepted: the draft row is right too
                    stats.accepted += 1
                    h_rows = torch.cat([h_rows, h], dim=1)
                    fed += len(feed)
                    next_logits = lg[-1]
                else:  # rejected (or no draft): the draft row, if any, is overwritten by the next pass
                    h_rows = torch.cat([h_rows, h[:, :len(unfed)]], dim=1)
                    fed += len(unfed)
            seq.append(choice)
            stats.tokens += 1
            yield from grammar.advance(choice)
            if grammar.done:
                return
        if not grammar.done:  # token budget spent: end the plan where it stands
            grammar.done = True
    finally:
        stats.decode_s += time.perf_counter() - t1
