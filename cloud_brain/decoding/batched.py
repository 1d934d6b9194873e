"""Batched constrained decoding: `decode_steps` as a per-sequence state machine, so many plans share
one forward pass per decode iteration (continuous batching: cloud_brain/server/batching.py).

Why a state machine: `decode_steps` is a generator that calls the model itself, one sequence at a
time. In a batch, the engine makes one call for every sequence that needs logits. `SeqDecoder`
does exactly what `decode_steps` does between two model calls — greedy choice under the grammar
mask, forced tokens (one allowed choice) appended without a model call and fed with the next one
(jump-forward) — and exposes what it must be fed next (`feed`, at `feed_pos`), so the plans are the
ones `decode_steps` decodes.

`forward_feeds` runs one forward pass over sequences of different lengths: each row right-padded
to the widest feed, every row at its own positions (per-row `start_pos`, linear cache); the
padding writes garbage past each row's end, which the causal mask hides and the row's next feed
overwrites.

Shapes: B rows, W widest feed, D model width, V vocabulary.

    dec = SeqDecoder(prompt.ids, grammar, 64); forward_feeds(model, cache.rows(0, 1), [dec]); steps = dec.step()
"""

from __future__ import annotations

from typing import Sequence

import torch

from cloud_brain.decoding.constrained import pick_allowed
from cloud_brain.domain.plan import Step

PAD_ID = 0  # <pad>: what padded slots hold (never attended to by a real query)


class SeqDecoder:
    """One sequence's decoding state (see the module docstring).

    prompt_ids: the whole prompt; `cached` of its tokens are already in the sequence's cache rows
    (a shared world-state prefix), the rest is the first feed."""

    def __init__(self, prompt_ids: Sequence[int], grammar, max_tokens: int, cached: int = 0):
        self.grammar = grammar
        self.max_tokens = max_tokens
        cached = min(cached, len(prompt_ids) - 1)  # at least one token to get logits from
        self.feed: list[int] = list(prompt_ids[cached:])  # tokens the next model call processes
        self.feed_pos = cached  # absolute position of feed[0]
        self.logits: torch.Tensor | None = None  # (V,) after the last fed token
        self.n_chosen = 0
        self.done = False

    @property
    def end(self) -> int:
        """Positions [0, end) of this sequence's cache rows are valid after its pending feed."""
        return self.feed_pos + len(self.feed)

    def fed(self, logits: torch.Tensor) -> None:
        """The model processed `feed`; logits (V,) are those of its last token."""
        self.feed_pos += len(self.feed)
        self.feed = []
        self.logits = logits

    def step(self) -> list[Step]:
        """Advance the grammar with the current logits until the next model call is needed (feed
        non-empty and a real choice to make) or the plan ends; the steps completed meanwhile."""
        out: list[Step] = []
        while not self.done:
            allowed = self.grammar.allowed() if self.n_chosen < self.max_tokens else []
            if not allowed:  # plan over, or token budget spent: end the plan where it stands
                self.grammar.done = True
                self.done = True
                break
            if len(allowed) == 1:
                choice = allowed[0]
            else:
                if self.feed:
                    return out  # forced tokens / the last choice must be fed first
                choice = pick_allowed(self.logits, allowed)
            self.feed.append(choice)
            self.n_chosen += 1
            out += self.grammar.advance(choice)
            if self.grammar.done:
                self.done = True
        return out


@torch.inference_mode()
def forward_feeds(model, cache, feeds: Sequence[Sequence[int]], starts: Sequence[int],
                  logits: bool = True) -> torch.Tensor | None:
    """One forward pass: row b of `cache` (a batch cache or a `rows(lo, hi)` view with
    len(feeds) rows) processes feeds[b] at positions [starts[b], starts[b] + len(feeds[b])).
    Returns the logits (B, V) of each row's last fed token (None with logits=False)."""
    lens = torch.tensor([len(f) for f in feeds])  # (B,)
    x = torch.full((len(feeds), int(lens.max())), PAD_ID, dtype=torch.long)  # (B, W)
    for b, f in enumerate(feeds):
        x[b, :len(f)] = torch.tensor(f, dtype=torch.long)
    h, copy = model.forward_trunk(x, torch.tensor(list(starts), dtype=torch.long), cache)  # (B, W, D)
    if not logits:
        return None
    rows = torch.arange(len(feeds))
    last = h[rows, lens - 1][:, None]  # (B, 1, D)
    return model.logits(last, None if copy is None else copy[rows, lens - 1][:, None])[:, 0]  # (B, V)


@torch.inference_mode()
def decode_rows(model, cache, decoders: Sequence[SeqDecoder]) -> None:
    """Feed every decoder (row b of `cache` <-> decoders[b]) in one forward pass."""
    out = forward_feeds(model, cache, [d.feed for d in decoders], [d.feed_pos for d in decoders])
    for b, d in enumerate(decoders):
        d.fed(out[b])


def contiguous_groups(widths: Sequence[int], starts: Sequence[int], capacity: int,
                      max_waste: int) -> list[tuple[int, int]]:
    """Split rows 0..n-1 into contiguous [lo, hi) ranges that each run as one padded forward:
    every row's padded end (its start + the range's widest feed) fits the cache `capacity`, and
    no row is padded by more than `max_waste` tokens. A single row always forms a range."""
    groups: list[tuple[int, int]] = []
    lo = 0
    while lo < len(widths):
        hi, wmax, wmin, smax = lo + 1, widths[lo], widths[lo], starts[lo]
        while hi < len(widths):
            nwmax, nwmin, nsmax = max(wmax, widths[hi]), min(wmin, widths[hi]), max(smax, starts[hi])
            if nsmax + nwmax > capacity or nwmax - nwmin > max_waste:
                break
            wmax, wmin, smax = nwmax, nwmin, nsmax
            hi += 1
        groups.append((lo, hi))
        lo = hi
    return groups
