"""Continuous batching for the embedded MoE planner: many robots' plans decoded together.

Why: `MoEPlanner` decodes one plan at a time (a lock per decode), so a fleet waits in line and
each tiny forward pass is mostly Python overhead. Here one engine thread runs one forward pass
per iteration over every active sequence — rows of one batch cache, each at its own position
(per-row `start_pos`, cloud_brain/model/kv_cache.py) — new requests join between iterations and
finished ones leave (their row is reused at once). Each sequence decodes exactly as
`decode_steps` would (cloud_brain/decoding/batched.py), and `BatchedPlanner` is a `MoEPlanner`
that only replaces its `_decode` (prompt, grammar and result are inherited), so the plans are
MoEPlanner's.

Prefix cache: the world-state part of the prompt (everything up to and including `<cmd>`) is the
same for every robot of one home in one state, and it is most of the prompt. Its KV is computed
once (for several new requests at once when they share it), kept in an LRU, and copied into each
new row; only the command part is prefilled per request (SGLang's radix cache, one level deep).

Admission control and backpressure: at most `max_active` sequences decode at once and up to
`max_queue` more wait for a row; beyond that `submit` raises `Overloaded` at once (the session
answers Error(OVERLOADED) and lives on) instead of letting every robot's latency grow.

One iteration: admit waiting requests (prefill of unseen world prefixes, then one padded prefill
of the new commands) -> advance every sequence's grammar with its fresh logits (steps stream
out; forced tokens need no model call) -> retire finished or abandoned sequences -> one decode
forward over all remaining rows.

    brainstem cloud serve --planner moe --batching [--max-batch 32] [--max-queue 64]
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections import OrderedDict, deque
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import torch

from cloud_brain.decoding.batched import SeqDecoder, contiguous_groups, decode_rows, forward_feeds
from cloud_brain.decoding.constrained import ProgramGrammar
from cloud_brain.domain.plan import Step
from cloud_brain.domain.state import WorldState
from cloud_brain.planner.base import PlanResult
from cloud_brain.planner.moe import MoEPlanner
from cloud_brain.server.admission import Overloaded

log = logging.getLogger(__name__)

_DONE = object()


@dataclass
class BatchConfig:
    max_active: int = 32
    """Sequences decoded together (rows of the batch cache)."""
    max_queue: int = 64
    """Requests that may wait for a row; one more is refused with Overloaded."""
    prefix_cache: int = 64
    """World-state prefixes whose KV is kept (LRU)."""
    pad_slack: int = 64
    """The batch cache's room past max_seq_len (padding past a row's end is written there)."""
    max_pad: int = 64
    """Most padding one row may carry in a padded forward (<= pad_slack): rows whose feeds differ
    more go in separate forwards (less wasted compute, more calls)."""
    threads: int | None = 1
    """torch threads for the engine (None or 0: leave torch's setting). One, as MoEPlanner: a
    model this small gains nothing from a second thread, and on a busy 2-core machine the
    spinning OpenMP workers cost far more than they give."""

    def __post_init__(self):
        if self.max_active < 1 or self.max_queue < 0 or self.prefix_cache < 0 or self.pad_slack < 1:
            raise ValueError("need max_active >= 1, max_queue >= 0, prefix_cache >= 0, pad_slack >= 1")
        if not 0 <= self.max_pad <= self.pad_slack:
            raise ValueError("need 0 <= max_pad <= pad_slack")


class PrefixCache:
    """LRU of world-state prefix KV: prefix ids -> per layer {field: tensor (L, ...)}."""

    def __init__(self, size: int):
        self.size = size
        self._entries: OrderedDict[tuple[int, ...], list[dict[str, torch.Tensor]]] = OrderedDict()

    def get(self, key: tuple[int, ...]):
        entry = self._entries.get(key)
        if entry is not None:
            self._entries.move_to_end(key)
        return entry

    def put(self, key: tuple[int, ...], entry) -> None:
        if self.size <= 0:
            return
        self._entries[key] = entry
        self._entries.move_to_end(key)
        while len(self._entries) > self.size:
            self._entries.popitem(last=False)

    def __len__(self) -> int:
        return len(self._entries)


class _Request:
    """One plan request: its prompt and grammar in, its steps out (a queue the caller reads)."""

    def __init__(self, ids: list[int], grammar: ProgramGrammar, max_tokens: int, world_len: int):
        self.ids, self.grammar, self.max_tokens, self.world_len = ids, grammar, max_tokens, world_len
        self.key = tuple(ids[:world_len])
        self.out: queue.SimpleQueue = queue.SimpleQueue()
        self.cancelled = False  # the reader went away: drop the sequence at the next iteration
        self.t_submit = time.perf_counter()
        self.first_step_ms: float | None = None

    def emit(self, step: Step) -> None:
        if self.first_step_ms is None:
            self.first_step_ms = (time.perf_counter() - self.t_submit) * 1000
        self.out.put(step)

    def steps(self) -> Iterator[Step]:
        """The plan's steps as the engine decodes them; raises what the engine failed with."""
        finished = False
        try:
            while True:
                item = self.out.get()
                if item is _DONE:
                    finished = True
                    return
                if isinstance(item, BaseException):
                    finished = True
                    raise item
                yield item
        finally:
            if not finished:
                self.cancelled = True


class _Seq:
    __slots__ = ("req", "dec")

    def __init__(self, req: _Request, dec: SeqDecoder):
        self.req, self.dec = req, dec


class BatchEngine:
    """The decode loop over a shared batch cache (see the module docstring); one thread."""

    def __init__(self, model, config: BatchConfig | None = None, start: bool = True):
        self.model = model
        self.config = cfg = config or BatchConfig()
        self.capacity = model.args.max_seq_len + cfg.pad_slack
        # rows of the batch cache: row i <-> self._active[i]; every layer linear (per-row positions)
        self.cache = model.allocate_cache(cfg.max_active, self.capacity, include_mtp=False, linear=True)
        self._scratch = None  # prefix prefill rows, allocated on first use
        self.prefix = PrefixCache(cfg.prefix_cache)
        self._active: list[_Seq] = []
        self._waiting: deque[_Request] = deque()
        self._cv = threading.Condition()
        self._stopping = False
        self.stats = {"submitted": 0, "rejected": 0, "finished": 0, "failed": 0, "cancelled": 0,
                      "prefix_lookups": 0, "prefix_hits": 0, "prefix_tokens_reused": 0,
                      "prefill_tokens": 0, "iterations": 0, "decode_forwards": 0, "decode_rows": 0,
                      "forward_s": 0.0, "grammar_s": 0.0, "max_active_seen": 0}
        self._thread = threading.Thread(target=self._run, name="batch-engine", daemon=True)
        if start:
            self._thread.start()

    def start(self) -> None:
        """Start decoding (an engine made with start=False only queues: tests fill it up)."""
        self._thread.start()

    # ---- client side -----------------------------------------------------------------------
    def submit(self, ids: list[int], grammar: ProgramGrammar, max_tokens: int, world_len: int) -> _Request:
        """Queue a plan; raises Overloaded when max_active + max_queue requests are already in."""
        req = _Request(ids, grammar, max_tokens, world_len)
        cfg = self.config
        with self._cv:
            if self._stopping:
                raise RuntimeError("the batch engine is stopped")
            active, queued = len(self._active), len(self._waiting)
            if active + queued >= cfg.max_active + cfg.max_queue:
                self.stats["rejected"] += 1
                raise Overloaded(active, queued, cfg.max_active, cfg.max_queue)
            self.stats["submitted"] += 1
            self._waiting.append(req)
            self._cv.notify()
        return req

    def load(self) -> dict:
        with self._cv:
            return {"active": len(self._active), "queued": len(self._waiting)}

    def close(self, timeout_s: float = 5.0) -> None:
        with self._cv:
            self._stopping = True
            self._cv.notify()
        if self._thread.is_alive():
            self._thread.join(timeout_s)
        with self._cv:
            for req in [*self._waiting, *(s.req for s in self._active)]:
                req.out.put(RuntimeError("the batch engine stopped before this plan finished"))
            self._waiting.clear()
            self._active.clear()

    # ---- the loop --------------------------------------------------------------------------
    def _run(self) -> None:
        if self.config.threads:
            torch.set_num_threads(self.config.threads)
        while True:
            with self._cv:
                while not (self._waiting or self._active or self._stopping):
                    self._cv.wait()
                if self._stopping:
                    return
                new: list[_Request] = []
                while self._waiting and len(self._active) + len(new) < self.config.max_active:
                    req = self._waiting.popleft()
                    if req.cancelled:
                        self.stats["cancelled"] += 1
                    else:
                        new.append(req)
            self.stats["iterations"] += 1
            if new:
                try:
                    self._admit(new)
                except Exception as e:  # a bad prompt must not take the engine down
                    log.exception("batch engine: prefill failed")
                    self._fail([_Seq(r, None) for r in new], e)
            self._advance()
            if self._active:
                try:
                    self._decode()
                except Exception as e:
                    log.exception("batch engine: decode forward failed")
                    self._fail(self._active, e)
                    with self._cv:
                        self._active = []

    def _fail(self, seqs: list[_Seq], e: Exception) -> None:
        for s in seqs:
            self.stats["failed"] += 1
            s.req.out.put(RuntimeError(f"batched decode failed: {type(e).__name__}: {e}"))

    def _prefix_entries(self, new: list[_Request]) -> dict[tuple[int, ...], list[dict]]:
        """KV of every new request's world prefix: from the LRU, or computed now (once per
        distinct prefix, all of them in padded forwards over scratch rows)."""
        entries, missing = {}, []
        for req in new:
            self.stats["prefix_lookups"] += 1
            if req.key in entries:
                self.stats["prefix_hits"] += 1  # shares a prefix computed for this admission
                continue
            hit = self.prefix.get(req.key)
            if hit is not None:
                self.stats["prefix_hits"] += 1
                entries[req.key] = hit
            else:
                entries[req.key] = None
                missing.append(req.key)
        if missing:
            if self._scratch is None or self._scratch.batch_size < len(missing):
                self._scratch = self.model.allocate_cache(max(len(missing), self.config.max_active),
                                                          self.capacity, include_mtp=False, linear=True)
            widths = [len(k) for k in missing]
            t0 = time.perf_counter()
            for lo, hi in contiguous_groups(widths, [0] * len(missing), self.capacity, self.config.max_pad):
                forward_feeds(self.model, self._scratch.rows(lo, hi), [list(k) for k in missing[lo:hi]],
                              [0] * (hi - lo), logits=False)
            self.stats["forward_s"] += time.perf_counter() - t0
            self.stats["prefill_tokens"] += sum(widths)
            for j, key in enumerate(missing):
                entry = [{name: t[j, :len(key)].clone() for name, t in layer.tensors.items()}
                         for layer in self._scratch.layers]
                entries[key] = entry
                self.prefix.put(key, entry)
        return entries

    def _admit(self, new: list[_Request]) -> None:
        entries = self._prefix_entries(new)
        new.sort(key=lambda r: len(r.ids) - r.world_len)  # similar widths share a padded forward
        base = len(self._active)
        seqs = []
        for i, req in enumerate(new):
            row = base + i
            for layer, saved in zip(self.cache.layers, entries[req.key]):
                for name, t in layer.tensors.items():
                    t[row, :req.world_len] = saved[name]
            seqs.append(_Seq(req, SeqDecoder(req.ids, req.grammar, req.max_tokens, cached=req.world_len)))
            self.stats["prefix_tokens_reused"] += req.world_len
        self.stats["prefill_tokens"] += sum(len(s.dec.feed) for s in seqs)
        t0 = time.perf_counter()
        self._forward(seqs, base)
        self.stats["forward_s"] += time.perf_counter() - t0
        with self._cv:
            self._active.extend(seqs)
            self.stats["max_active_seen"] = max(self.stats["max_active_seen"], len(self._active))

    def _forward(self, seqs: list[_Seq], base: int) -> None:
        """Feed seqs (rows base, base + 1, ...) in as few padded forwards as fit."""
        widths = [len(s.dec.feed) for s in seqs]
        starts = [s.dec.feed_pos for s in seqs]
        for lo, hi in contiguous_groups(widths, starts, self.capacity, self.config.max_pad):
            decode_rows(self.model, self.cache.rows(base + lo, base + hi), [s.dec for s in seqs[lo:hi]])

    def _advance(self) -> None:
        """Every sequence's grammar, with its fresh logits; steps out; finished rows freed."""
        t0 = time.perf_counter()
        alive, done = [], []
        for s in self._active:
            req = s.req
            if req.cancelled:
                self.stats["cancelled"] += 1
                alive.append(False)
                continue
            try:
                for step in s.dec.step():
                    req.emit(step)
            except Exception as e:  # e.g. the solver on a strange state: this plan only
                log.exception("batch engine: grammar failed")
                self._fail([s], e)
                alive.append(False)
                continue
            if s.dec.done:
                self.stats["finished"] += 1
                done.append(req)
                alive.append(False)
            else:
                alive.append(True)
        self.stats["grammar_s"] += time.perf_counter() - t0
        self._compact(alive)
        for req in done:  # after the row is freed: a caller that reads load() next sees it gone
            req.out.put(_DONE)

    def _compact(self, alive: list[bool]) -> None:
        """Move the last live rows into the freed ones, so rows 0..n-1 are the live sequences."""
        rows = list(self._active)
        lo, hi = 0, len(rows) - 1
        while True:
            while lo <= hi and alive[lo]:
                lo += 1
            while hi > lo and not alive[hi]:
                hi -= 1
            if lo >= hi:
                break
            end = rows[hi].dec.feed_pos  # positions [0, feed_pos) hold this sequence's KV
            for layer in self.cache.layers:
                for t in layer.tensors.values():
                    t[lo, :end] = t[hi, :end]
            rows[lo], alive[lo] = rows[hi], True
            alive[hi] = False
            hi -= 1
        with self._cv:
            self._active = [r for r, a in zip(rows, alive) if a]

    def _decode(self) -> None:
        t0 = time.perf_counter()
        self._forward(self._active, 0)
        self.stats["forward_s"] += time.perf_counter() - t0
        self.stats["decode_forwards"] += 1
        self.stats["decode_rows"] += len(self._active)


class BatchedPlanner(MoEPlanner):
    """`MoEPlanner` whose decodes run in the shared `BatchEngine`: its own prompt, grammar and
    result handling (inherited, so they stay the unbatched planner's), only `_decode` differs.
    Safe to call from many session threads at once (no per-planner decode lock)."""

    def __init__(self, world=None, artifact: str | Path | None = None,
                 config: BatchConfig | None = None, *, start: bool = True):
        super().__init__(world, artifact, threads=None)  # torch threads: the engine's own setting
        self.engine = BatchEngine(self.model, config, start)

    def stream(self, command: str, state: WorldState) -> Iterator[Step]:
        """Steps as the batch decodes them; raises Overloaded when the engine is full."""
        yield from self._stream(command, state)

    def plan(self, command: str, state: WorldState) -> PlanResult:
        return self._plan(command, state)

    def _decode(self, ids: list[int], grammar) -> Iterator[Step]:
        cap = self.model.args.max_seq_len
        room = cap - len(ids) - 2  # MoEPlanner's budget (it keeps a row for a speculative draft)
        if room < 8:
            raise ValueError(f"prompt of {len(ids)} tokens leaves no room to plan (context {cap})")
        world_len = ids.index(self.tok.id("<cmd>")) + 1
        yield from self.engine.submit(ids, grammar, min(64, room), world_len).steps()

    def stats(self) -> dict:
        s = dict(self.engine.stats)
        s.update(self.engine.load())
        s["prefix_hit_rate"] = s["prefix_hits"] / s["prefix_lookups"] if s["prefix_lookups"] else None
        s["mean_decode_batch"] = s["decode_rows"] / s["decode_forwards"] if s["decode_forwards"] else None
        return s

    def register_metrics(self, registry) -> None:
        """Engine gauges on a Prometheus registry (read at scrape time)."""
        registry.register(_EngineCollector(self))

    def close(self) -> None:
        self.engine.close()


class _EngineCollector:
    def __init__(self, planner: BatchedPlanner):
        self.planner = planner

    def collect(self):
        from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

        s = self.planner.stats()
        for key, help_ in (("active", "sequences decoding in the batch"),
                           ("queued", "plan requests waiting for a batch row")):
            g = GaugeMetricFamily(f"brainstem_batch_{key}", help_)
            g.add_metric([], float(s[key]))
            yield g
        for key, help_ in (("submitted", "plan requests admitted to the queue"),
                           ("rejected", "plan requests refused as Overloaded (backpressure)"),
                           ("prefix_lookups", "world-state prefix lookups (one per request)"),
                           ("prefix_hits", "lookups whose prefix KV was reused"),
                           ("decode_forwards", "decode forward passes"),
                           ("decode_rows", "sequences fed in decode forward passes"),
                           ("prefill_tokens", "prompt tokens prefilled (prefix misses + commands)"),
                           ("forward_s", "seconds in forward passes (engine busy with the model)"),
                           ("grammar_s", "seconds advancing grammars (engine busy with the mask)")):
            name = key[:-2] + "_seconds" if key.endswith("_s") else key
            c = CounterMetricFamily(f"brainstem_batch_{name}", help_)
            c.add_metric([], float(s[key]))
            yield c
