"""MTP speculative decoding under the plan grammar: the MTP module drafts the next undecided
tokens, the trunk verifies them in the forward pass it needs anyway, and the output is exactly
what greedy constrained decoding (`constrained.decode_steps`) gives.

Why: a planner round trip is a handful of sequential forward passes; on a CPU a pass costs about
the same whether it carries one token or a few, so every accepted draft that reaches the next
undecided position removes one pass (DeepSeek-V3 §2.2 / MiMo-V2-Flash use their MTP heads the
same way; the recursion past known tokens is EAGLE's). The grammar mask is applied to every draft,
so a draft is never a token the grammar would refuse.

A trunk pass is needed at position P (an undecided token: the grammar allows several) when the
last pass did not leave logits for it. The unfed tail `seq[fed:P]` is [chosen, forced, ...]
(jump-forward: forced tokens never need the model). One iteration:
    MTP      catch up on the trunk rows it has not read (row i: h_i, Emb(t_{i+1}) -> t_{i+2}), then
             recurse over the rest of the tail: row j reads (g_{j-1}, Emb(t_{j+1})), g being the
             MTP's own output in place of the trunk state it has not got -> a draft d for P
    grammar  a fork of the grammar takes d and the tokens it then forces, up to the next undecided
             position P' (no draft when d ends the plan: nothing after it needs logits); with
             draft_depth > 1 the MTP recurses over that tail and drafts P' the same way, ...
    verify   feed [tail, d, forced..., d', ...] -> trunk -> logits at every fed row
    accept   the decode goes on token by token as greedy does: a decision at a fed row's position
             is the masked argmax of the row before it; where it differs from the fed token, the
             rows from there on are dropped (the next pass overwrites them)
MTP cache rows written from drafted or MTP-approximated inputs sit at positions >= `mtp_done`, the
first trunk row the MTP has not read; the next catch-up rewrites them from the true trunk rows.

Drafting policy (`boundary_drafts`): a decision where the plan may end (`<eos>` allowed) is not
drafted unless asked: the draft only pays when the plan goes on after it, on the dev prompts most
plans end at their first such point, and the MTP calls it costs (one per tail token) would be
spent for nothing.

Structural bound (see bench.py `pass_bound`): an exact decoder needs one trunk pass after the
prefill for every plan that has an undecided position past the prefill's (the prefill's logits
decide only the first), so trunk passes can at best fall to that count.

Greedy only: with sampling, the standard rejection rule would replace the argmax test.

    stats = SpecStats(); steps = list(decode_steps_speculative(model, ids, grammar, stats=stats))
"""

from __future__ import annotations

import copy
import time
from dataclasses import dataclass, field
from typing import Iterator

import torch

from cloud_brain.decoding.constrained import DecodeStats, ProgramGrammar, pick_allowed as _pick
from cloud_brain.domain.plan import Step

DRAFT_DEPTH = 1  # undecided positions drafted ahead per trunk pass (2 measured no faster: chains stop at item ends)
MAX_RECURSION = 8  # known tokens the MTP may recurse over (its own output standing in for the trunk's)
MIN_PROB = 0.0  # feed a draft only if the MTP gives it at least this probability among the allowed tokens
SPEC_SLACK = 8  # draft_slack of a cache this module allocates (the most rows it writes past the verified ones)


@dataclass
class SpecStats(DecodeStats):
    """DecodeStats plus what the drafts did."""

    drafted: int = 0  # drafts fed to the trunk
    accepted: int = 0  # drafts the trunk agreed with
    mtp_calls: int = 0  # MTP forward calls (catch-up and recursion)
    # per draft depth k (index k - 1): drafts whose verification was reached (the draft before it
    # in the same pass accepted) and those accepted; depth_1 reached == depth-1 drafts fed
    depth_reached: list[int] = field(default_factory=list)
    depth_accepted: list[int] = field(default_factory=list)

    @property
    def acceptance_rate(self) -> float:
        return self.accepted / self.drafted if self.drafted else 0.0

    def depth_acceptance(self) -> dict[str, float]:
        return {f"depth_{k + 1}": round(a / r, 4) if r else 0.0
                for k, (r, a) in enumerate(zip(self.depth_reached, self.depth_accepted))}

    def _count(self, depth: int, accepted: bool) -> None:
        while len(self.depth_reached) < depth:
            self.depth_reached.append(0)
            self.depth_accepted.append(0)
        self.depth_reached[depth - 1] += 1
        self.depth_accepted[depth - 1] += int(accepted)
        self.accepted += int(accepted)

    def merge(self, other: "SpecStats") -> None:
        """Add another decode's counts (bench totals)."""
        for f in ("tokens", "trunk_passes", "prefill_s", "decode_s", "drafted", "accepted", "mtp_calls"):
            setattr(self, f, getattr(self, f) + getattr(other, f))
        for k, (r, a) in enumerate(zip(other.depth_reached, other.depth_accepted)):
            if k == len(self.depth_reached):
                self.depth_reached.append(0)
                self.depth_accepted.append(0)
            self.depth_reached[k] += r
            self.depth_accepted[k] += a


def _mtp(model, h_prev: torch.Tensor, tokens: list[int], start: int, cache) -> tuple[torch.Tensor, torch.Tensor]:
    """MTP module 1 over rows [start, start + T): h_prev (1, T, D) (trunk rows, or the MTP's own
    output where the trunk row is not known yet), tokens t_{i+1} for each row i. Writes the MTP
    cache rows; returns the last row's output g (1, 1, D) and its logits (V,) for t_{start+T+1}."""
    module = model.mtp[0]
    n = len(tokens)
    g = module(h_prev, model.embed(torch.tensor([tokens], dtype=torch.long)), start, model._rope(start, n),
               cache.mtp[0])  # (1, T, D)
    return g[:, -1:], model.head(module.norm(g[0, -1]))


def _fork(grammar: ProgramGrammar) -> ProgramGrammar:
    """A copy of the grammar to advance over drafts. Containers the grammar mutates in place are
    copied; the expansion memo (`_reach`, keyed by item count and item, replaced — never cleared —
    when an item completes) is shared, so the fork's solver calls also serve the real grammar."""
    fork = copy.copy(grammar)
    for name, value in vars(grammar).items():
        if name != "_reach" and isinstance(value, (list, dict, set)):
            setattr(fork, name, copy.copy(value))
    return fork


def _room(cache, end: int) -> float:
    """How many rows past a position may be written and that position still be rewritten later
    (a ring keeps window + draft_slack rows); unlimited where no ring wraps below `end` (the
    planner's cache: window = context = capacity)."""
    room = float("inf")
    for c in cache.layers + cache.mtp:
        if c.is_ring and c.capacity < end:
            room = min(room, c.capacity - c.window + 1)
    return room


@torch.inference_mode()
def decode_steps_speculative(model, prompt_ids: list[int], grammar: ProgramGrammar, max_tokens: int = 64,
                             cache=None, cached: int = 0, stats: SpecStats | None = None,
                             draft_depth: int = DRAFT_DEPTH, boundary_drafts: bool = False,
                             max_recursion: int = MAX_RECURSION, min_prob: float = MIN_PROB) -> Iterator[Step]:
    """Like `decode_steps` (same arguments, same steps) with MTP drafts verified by the trunk.
    `cache` must include the MTP layer caches (allocate_cache(..., include_mtp=True)); with
    `cached` > 0 the trunk and MTP caches already hold prompt_ids[:cached] (an earlier
    speculative decode of a prompt with the same prefix wrote both). Drafts are limited to what
    the cache can roll back (its draft_slack, where a sliding-window ring would wrap)."""
    if not model.mtp:
        raise ValueError("speculative decoding needs a model with MTP modules (mtp_depth >= 1)")
    stats = stats if stats is not None else SpecStats()
    if cache is None:
        cache, cached = model.allocate_cache(1, len(prompt_ids) + max_tokens + SPEC_SLACK + 1,
                                             draft_slack=SPEC_SLACK, include_mtp=True), 0
    # rows are written below `limit` (a linear layer's capacity, or the token budget plus drafts)
    linear = [c.capacity for c in cache.layers + cache.mtp if not c.is_ring]
    limit = min(linear + [len(prompt_ids) + max_tokens + SPEC_SLACK + 1])
    room = _room(cache, limit)
    cached = min(cached, len(prompt_ids) - 1)
    seq = list(prompt_ids)  # every token decided so far
    t0 = time.perf_counter()
    h, copy = model.forward_trunk(torch.tensor([seq[cached:]], dtype=torch.long), cached, cache)  # (1, T, D)
    fed = len(seq)  # the trunk cache holds rows [0, fed); rows >= len(seq) are drafted, unverified
    fed_toks: dict[int, int] = {}  # position -> token fed there, for positions >= len(seq) at the pass
    draft_at: dict[int, int] = {}  # position -> depth of the draft fed there
    lg, lg_base = model.logits(h[:, -1:], _rows(copy, -1))[0], fed - 1  # logits of rows [lg_base, fed) (row i: position i + 1)
    # the MTP reads the prompt rows now (all but the last, whose next token is not decided yet),
    # so a cache reused for a shared prefix (`cached`) always holds the MTP rows of that prefix
    if len(seq) - 1 > cached:
        _mtp(model, h[:, :-1], seq[cached + 1:], cached, cache)
        stats.mtp_calls += 1
    h_rows, mtp_done = h[:, -1:], len(seq) - 1  # trunk rows [mtp_done, fed) the MTP has not read yet
    t1 = time.perf_counter()
    stats.prefill_s += t1 - t0
    try:
        for _ in range(max_tokens):
            allowed = grammar.allowed()
            if not allowed:
                break
            p = len(seq)
            if len(allowed) == 1:  # forced: no model needed
                choice = allowed[0]
            elif lg_base <= p - 1 < fed:  # a pass already gave the logits for this position
                choice = _pick(lg[p - 1 - lg_base], allowed)
            else:  # a pass: the unfed tail seq[fed:] plus drafts
                spec = _drafts(model, grammar, seq, fed, h_rows, mtp_done, cache, allowed, stats,
                               draft_depth, boundary_drafts, min(room, limit - p), max_recursion, min_prob)
                if spec is not None:
                    mtp_done, h_rows = fed, h_rows[:, :0]
                    spec_toks, depths = spec
                else:
                    spec_toks, depths = [], []
                unfed = seq[fed:]
                h, copy = model.forward_trunk(torch.tensor([unfed + spec_toks], dtype=torch.long), fed, cache)
                stats.trunk_passes += 1
                lg, lg_base = model.logits(h[:, len(unfed) - 1:], _rows(copy, len(unfed) - 1))[0], p - 1  # (1 + drafted, V): rows p - 1 on
                h_rows = torch.cat([h_rows, h], dim=1)
                fed += h.shape[1]
                fed_toks = {p + i: t for i, t in enumerate(spec_toks)}
                draft_at = {p + i: k for i, k in enumerate(depths) if k}
                stats.drafted += len(draft_at)
                choice = _pick(lg[p - 1 - lg_base], allowed)
            if p < fed:  # this position was fed as a draft (or a token forced after one)
                ok = fed_toks.get(p) == choice
                if p in draft_at:
                    stats._count(draft_at.pop(p), ok)
                if not ok:  # rows from p on hold a wrong prefix: drop them (the next pass rewrites)
                    h_rows = h_rows[:, :p - mtp_done]
                    fed = p
                    draft_at.clear()
            seq.append(choice)
            stats.tokens += 1
            yield from grammar.advance(choice)
            if grammar.done:
                return
        if not grammar.done:  # token budget spent: end the plan where it stands
            grammar.done = True
    finally:
        stats.decode_s += time.perf_counter() - t1


def _rows(copy: torch.Tensor | None, start: int) -> torch.Tensor | None:
    """The copy bias (1, T, P) of rows [start, T) (forward_trunk; None without a copy head)."""
    return None if copy is None else copy[:, start:]


def _drafts(model, grammar: ProgramGrammar, seq: list[int], fed: int, h_rows: torch.Tensor, mtp_done: int,
            cache, allowed: list[int], stats: SpecStats, depth: int, boundary_drafts: bool, room: float,
            max_recursion: int, min_prob: float) -> tuple[list[int], list[int]] | None:
    """Draft up to `depth` undecided positions from p = len(seq), each followed by the tokens the
    grammar then forces. Returns (tokens to feed after the tail, draft depth per token (0: forced)),
    or None when the MTP was not run (nothing worth drafting; its catch-up then waits)."""
    p = len(seq)
    eos = grammar.eos
    tail = seq[fed:]
    if depth < 1 or (eos in allowed and not boundary_drafts) or len(tail) + 1 > room \
            or len(tail) - 1 > max_recursion:
        return None
    g, d_logits = _mtp(model, h_rows, seq[mtp_done + 1:fed + 1], mtp_done, cache)  # -> t_{fed+1}
    stats.mtp_calls += 1
    for j in range(fed + 1, p):  # recurse over the known tail: row j - 1 reads (g, Emb(t_j))
        g, d_logits = _mtp(model, g, [seq[j]], j - 1, cache)
        stats.mtp_calls += 1
    toks: list[int] = []
    depths: list[int] = []
    fork = None
    pos = p  # position of the next draft
    for k in range(1, depth + 1):
        d = _pick(d_logits, allowed)
        if min_prob > 0 and float(torch.softmax(d_logits[torch.tensor(allowed)], 0).max()) < min_prob:
            break
        fork = fork or _fork(grammar)
        fork.advance(d)
        link = [d]
        while not fork.done and len(fork.allowed()) == 1:
            link.append(fork.allowed()[0])
            fork.advance(link[-1])
        # a draft pays only if an undecided position follows it (its logits come with this pass)
        # (and MTP rows [fed, ...) and trunk rows [p, pos + len(link)) must stay rewritable)
        if fork.done or not fork.allowed() or pos + len(link) - fed > room:
            break
        toks += link
        depths += [k] + [0] * (len(link) - 1)
        allowed = fork.allowed()
        if k == depth or (eos in allowed and not boundary_drafts) or len(link) > max_recursion:
            break
        for i, t in enumerate(link):  # recurse over the link: the MTP's guess for the next undecided position
            g, d_logits = _mtp(model, g, [t], pos - 1 + i, cache)
            stats.mtp_calls += 1
        pos += len(link)
    return toks, depths
