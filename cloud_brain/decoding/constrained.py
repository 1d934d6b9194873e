"""Constrained plan decoding: a token mask from the goal-program grammar, the world's entities
and the symbolic state, so every decoded plan parses *and* passes the validator.

Why state-aware: a mask from the grammar and entity names alone guarantees a program that
parses; the mask also only offers items the symbolic solver can reach from the state the earlier
items leave (`program.expand`), so the model only ever chooses among intents that can run.
Why mention-aware (`mentioned`, the prompt's schema linking): where the command names entities
of the kind an argument takes, the argument is one of those (plus "its home" and "the person",
never named as entities); only a command that names none ("something to drink", "come here") leaves the choice
among all entities of the kind to the model; and a named object no earlier item has acted on
comes before one already acted on (coverage, as in neural translation: "put the book and the
ball away" cannot put the book away twice). Items that would do nothing (the goal already
holds, or the item repeats an earlier one) are never offered. Each
completed item is expanded into skill steps at once, so steps stream while later items are still
being decoded. Forced tokens (one allowed choice) are appended without a model call and fed with
the next call ("jump-forward").

    grammar = ProgramGrammar(tok, state, prompt.slot_of); for step in decode_steps(model, prompt.ids, grammar): ...

Plan symbols (see cloud_brain/planner/prompt.py and program.py): a goal head (`<deliver>`,
`<put>`, `<go>`, `<dock>`, `<tidy>`), then its arguments as pointer tokens (`@k`), `<to_user>` or
`<home>`; `<refuse>` is only allowed first and takes one reason token; `<eos>` ends the plan.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Iterator

import torch

from cloud_brain.domain import skills
from cloud_brain.domain.plan import Step
from cloud_brain.domain.solver import SolveError
from cloud_brain.domain.state import USER, WorldState
from cloud_brain.planner import program as prog
from cloud_brain.planner.prompt import GOAL_TOKENS, REASONS, TOKEN_GOALS, Tokenizer

MAX_ITEMS = 12
# deeds whose one argument is where to go or what to tidy: said over a room the robot is already
# in or that is already tidy, they stay a choice with no steps (ProgramGrammar._completions)
ROOM_DEEDS = frozenset(("go", "tidy"))


@dataclass
class DecodeStats:
    """What one or more decodes did: for `bench mtp`, /metrics and tests."""

    tokens: int = 0  # tokens decoded (forced ones included)
    trunk_passes: int = 0  # trunk forward passes after the prefill
    prefill_s: float = 0.0
    decode_s: float = 0.0  # wall time after the prefill (grammar and expansion included)


def pick_allowed(logits: torch.Tensor, allowed: list[int]) -> int:
    """Greedy choice among the allowed tokens (ties: the first allowed); logits (V,)."""
    return allowed[int(torch.argmax(logits[torch.tensor(allowed)]))]


class ProgramGrammar:
    """The allowed next program tokens for one prompt, advanced token by token; tracks the
    symbolic state through each completed item's expansion."""

    def __init__(self, tok: Tokenizer, state: WorldState, slot_of: dict[str, int],
                 max_items: int = MAX_ITEMS, banned: set[tuple[int, tuple]] | None = None,
                 mentioned: list[str] | None = None, home_named: bool = True, user_named: bool = True,
                 destinations: set[str] | None = None, where_is: set[str] | None = None,
                 hand_over: bool = True, refusable: bool = True):
        self.tok = tok
        self.state = state
        self.slot_of = slot_of
        self.entity_of = {tok.id(f"@{v}"): k for k, v in slot_of.items()}
        self.entity_of[tok.id("<to_user>")] = USER
        self.entity_of[tok.id("<home>")] = prog.HOME
        self.max_items = max_items
        self.banned = banned or set()
        self.mentioned = set(mentioned or ())
        self.home_named = home_named  # False: the command never says "where it belongs" (prompt.names_home)
        self.user_named = user_named  # False: nothing said sends the robot to the person (prompt.names_user)
        self.hand_over = hand_over  # False: only puts are asked, nothing is handed over (prompt.hands_over)
        self.refusable = refusable  # False: the rule parser read a request it can plan; no refusal
        # places the command says something should go to (prompt.destinations_said): putting an
        # object there stays a choice when it already is there ("... and the clicker on the
        # shelf", where it is), unlike a place the model could only have copied from the state
        self.destinations = destinations or set()
        # places the command names only as where something is or was (the rule parser's
        # RulesPlanner.reading): never a put's destination
        self.where_is = where_is or set()
        self.items: list[tuple] = []  # completed program items
        self.goals: list[list] = []  # their goal predicates
        self.steps: list[Step] = []  # their expansion so far
        self.head: str | None = None  # the item being decoded
        self.args: list[str] = []
        self.reason: str | None = None
        self.done = False
        self.eos = tok.id("<eos>")
        self._reach: dict[tuple, list[Step] | None] = {}
        self._allowed: list[int] | None = None
        self._kind_named: dict[tuple[str, int], bool] = {}

    # ---- what may come next ----------------------------------------------------------------
    def _expansion(self, item: tuple, noop_ok: bool = False) -> list[Step] | None:
        """The item's steps from the current state, or None when it cannot be reached (or, unless
        `noop_ok`, when its goal already holds: no steps)."""
        key = (len(self.items), item)
        if key not in self._reach:
            if key in self.banned:
                self._reach[key] = None
            else:
                try:
                    part = prog.expand(item, self.state, prog.holding(self.goals, self.state))
                except (SolveError, KeyError, ValueError):
                    part = None
                # an item that repeats an earlier one is never what the person asked for
                self._reach[key] = part if part is not None and item not in self.items else None
        part = self._reach[key]
        # one whose goal already holds rarely is: the model, reading "take the plate from the bed
        # to the table", often copies the place the plate is now (see _completions)
        return part if part or (noop_ok and part is not None) else None

    def _completions(self, head: str, prefix: list[str], first_only: bool = False) -> set[str]:
        """Values of argument len(prefix) for which some reachable item exists (with
        `first_only`, stop at the first: enough to know whether any exists)."""
        n = len(prefix)
        cands = prog.candidates(head, n, self.state, prefix[0] if prefix else None)
        if head == "go" and not self.user_named:
            cands = [c for c in cands if c != USER]
        if head == "put" and n == 1 and self.where_is:
            cands = [c for c in cands if c == prog.HOME or not self._puts_where_it_is(prefix[0], c)]
        named = [c for c in cands if c in self.mentioned]
        if self._names_kind(head, n):
            # the command names entities of this kind: the argument is one of them, or one
            # never named as an entity ("back where it belongs", "to me"); none left (the named
            # cup is already with the person) means no such item, not any object at all
            cands = named + [c for c in cands if c == USER or c == prog.HOME and self.home_named]
            if n == 0 or n == 1 and head == "put":
                # coverage: an entity the command names and no earlier item has acted on comes
                # before one already acted on ("put the book and the ball away": the second
                # item is the ball; "tidy the bedroom, then go to the lounge": the lounge, even
                # when tidying already ended there); for a destination, a room an earlier item
                # only went to comes last ("go to the kitchen, then take the bottle to the
                # sofa": the sofa), since two objects often share one place ("... on the
                # cabinet, then the stapler on the cabinet too") and "go stand by the buffet,
                # then put the tablet on it" is one; unless none of those can be reached
                used = {a for item in self.items if n == 0 or item[0] == "go" and item[1] in self.state.desc.rooms
                        for a in item[1:]}
                fresh = [c for c in named if c not in used]
                if fresh and len(fresh) < len(named):
                    unnamed = [c for c in cands if c in (prog.HOME, USER)]  # never named: stay
                    got = self._reachable(head, prefix, fresh + unnamed, first_only)
                    if not got & set(fresh) and n + 1 == prog.ARITY[head]:
                        # "..., then go to the lounge" when already there: the lounge stays a
                        # choice (no steps), not only the person ("put the remote on the
                        # worktop, then go to the kitchen" is not "come to me")
                        got |= self._reachable(head, prefix, fresh, first_only, noop_ok=True)
                    if got:
                        return got
        got = self._reachable(head, prefix, cands, first_only)
        if named and n + 1 == prog.ARITY[head] and (head in ROOM_DEEDS or not got & set(named)):
            # every item over what the command names is already done ("go to the hallway" said
            # in the hallway, "put the apple on the counter" where it is): those stay choices,
            # with no steps, so the plan can be "that's already done" instead of another errand.
            # A room deed over a named room stays a choice even beside others: "tidy the
            # hallway (tidy already), then ... go to the lounge" had only the lounge to tidy;
            # not a room the command names to leave ("get out of the kitchen and go to ...")
            extra = named if not got & set(named) else [c for c in named if c not in self.where_is]
            got |= self._reachable(head, prefix, extra, first_only, noop_ok=True)
        return got

    def _puts_where_it_is(self, obj: str, dest: str) -> bool:
        """Would put(obj, dest) leave obj on a place the command names only as where something
        is or was? A room counts by the surface the put would use ("tidy the bedroom - the ball
        is on the bed": not the ball to the bedroom, which is onto the bed)."""
        goal = prog.goal_of(("put", obj, dest), self.state.desc)
        return dest in self.where_is or goal is not None and goal[2] in self.where_is

    def _names_kind(self, head: str, n: int) -> bool:
        """Does the command name an entity of the kind argument n of `head` takes? Fixed for the
        command, so asked of the world once per (head, n), not on every mask."""
        if (head, n) not in self._kind_named:
            self._kind_named[head, n] = any(c in self.mentioned for c in prog.argument_kind(head, n, self.state.desc))
        return self._kind_named[head, n]

    def _reachable(self, head: str, prefix: list[str], cands: list[str], first_only: bool,
                   noop_ok: bool = False) -> set[str]:
        """The candidates for argument len(prefix) that complete to a reachable item."""
        n = len(prefix)
        arity = prog.ARITY[head]
        out = set()
        for c in cands:
            args = [*prefix, c]
            if n + 1 < arity:
                ok = bool(self._completions(head, args, first_only=True))
            else:
                ok = self._expansion((head, *args), noop_ok or head == "put" and c in self.destinations) is not None
            if ok:
                out.add(c)
                if first_only:
                    break
        return out

    def _token(self, entity: str) -> int:
        tid = self.tok.id
        return tid("<to_user>") if entity == USER else tid("<home>") if entity == prog.HOME \
            else tid(f"@{self.slot_of[entity]}")

    def allowed(self) -> list[int]:
        if self._allowed is None:
            self._allowed = self._compute_allowed()
        return self._allowed

    def _compute_allowed(self) -> list[int]:
        if self.done:
            return []
        tid = self.tok.id
        if self.reason == "":  # after <refuse>: a reason
            return [tid(r) for r in REASONS]
        if self.head is None:
            if self.reason is not None or len(self.items) >= self.max_items:
                return [self.eos]
            out = [tid(GOAL_TOKENS[h]) for h in ("deliver", "put", "go", "dock", "tidy")
                   if (h != "deliver" or self.hand_over)
                   and (self._expansion((h,)) is not None if prog.ARITY[h] == 0
                       else self._completions(h, [], first_only=True))]
            if not self.items and (self.refusable or not out):
                out.append(tid(GOAL_TOKENS["refuse"]))
            if self.items or not out:
                out.append(self.eos)
            return out
        return sorted(self._token(e) for e in self._completions(self.head, self.args))

    # ---- advancing -------------------------------------------------------------------------
    def advance(self, token: int) -> list[Step]:
        """Consume an allowed token; the steps of the item it completes (often none)."""
        t = self.tok.vocab[token]
        if token not in self.allowed():
            raise ValueError(f"token {t!r} is not allowed here (allowed: "
                             f"{[self.tok.vocab[i] for i in self.allowed()]})")
        self._allowed = None
        if token == self.eos:
            self.done = True
            return []
        if self.reason == "":
            self.reason = t
            step = Step("refuse", (REASONS[t],))
            self.items.append(("refuse", t))
            self.steps.append(step)
            return [step]
        if self.head is None:
            head = TOKEN_GOALS[t]
            if head == "refuse":
                self.reason = ""
                return []
            self.head, self.args = head, []
        else:
            self.args.append(self.entity_of[token])
        if len(self.args) < prog.ARITY[self.head]:
            return []
        item = (self.head, *self.args)
        part = self._expansion(item, noop_ok=True)  # allowed, so reachable (maybe already done)
        self.goals.append(prog.goal_of(item, self.state.desc))
        for st in part:
            self.state = skills.apply(st, self.state)
        self.items.append(item)
        self.steps += part
        self.head, self.args = None, []
        self._reach = {}
        return part


@torch.inference_mode()
def decode_steps(model, prompt_ids: list[int], grammar: ProgramGrammar, max_tokens: int = 64,
                 cache=None, cached: int = 0, stats: DecodeStats | None = None,
                 jump_forward: bool = True) -> Iterator[Step]:
    """Greedy decoding under the grammar mask; yields each step as soon as it is complete.
    `jump_forward=False` is plain greedy decoding, one trunk pass per token whether or not the
    grammar forces it (the textbook baseline `bench mtp` also reports; same output).

    `cache` with `cached` > 0: the cache already holds prompt_ids[:cached] (a world-state prefix
    shared with an earlier call); only the rest of the prompt is prefilled and everything the
    earlier call wrote after the prefix is overwritten (see kv_cache.py: rollback by position).
    The cache must hold len(prompt_ids) + max_tokens positions without wrapping."""
    if cache is None:
        cache, cached = model.allocate_cache(1, len(prompt_ids) + max_tokens + 1, include_mtp=False), 0
    stats = stats if stats is not None else DecodeStats()
    cached = min(cached, len(prompt_ids) - 1)
    t0 = time.perf_counter()
    x = torch.tensor([prompt_ids[cached:]], dtype=torch.long)
    logits = model(x, cached, cache, last_only=True)[0, -1]  # (V,)
    t1 = time.perf_counter()
    stats.prefill_s += t1 - t0
    pos = len(prompt_ids)
    pending: list[int] = []  # forced tokens not yet fed to the model
    try:
        for _ in range(max_tokens):
            allowed = grammar.allowed()
            if not allowed:
                break
            if len(allowed) == 1 and jump_forward:
                choice = allowed[0]
            else:
                if pending:
                    logits = model(torch.tensor([pending], dtype=torch.long), pos, cache, last_only=True)[0, -1]
                    stats.trunk_passes += 1
                    pos += len(pending)
                    pending = []
                choice = pick_allowed(logits, allowed)
            pending.append(choice)
            stats.tokens += 1
            yield from grammar.advance(choice)
            if grammar.done:
                return
        if not grammar.done:  # token budget spent: end the plan where it stands
            grammar.done = True
    finally:
        stats.decode_s += time.perf_counter() - t1
