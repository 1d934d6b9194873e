"""The embedded MoE planner: world state + command -> prompt -> constrained decoding -> plan.

Why: the learned planner generalises to phrasings no rule lists. It decodes a goal program (one
item per intent, cloud_brain/planner/program.py) under a grammar mask that only offers items the
symbolic solver can reach, and each item's skill steps stream out the moment its last token is
decoded. The validator is still run on the result (the contract); a plan that fails it is
refused with the reason. Some refusals come before the model (`_guard`): the rule baseline's safety
screen, things to be made, chores outside the skills, reports of what was done, and things or
places the home lacks. The other way round, where the rule parser reads a request it can plan,
the mask offers the model no refusal: its corpus taught it "tea" and "charger" as things to make
and its own dock, and it refused to fetch a tea tin or a phone charger.

    .venv/bin/python -m cloud_brain.planner.moe "bring me the mug" [--world-overrides JSON]
"""

from __future__ import annotations

import logging
import os
import random
import threading
import time
from collections import OrderedDict
from pathlib import Path
from typing import Iterator

import torch

from cloud_brain.decoding.constrained import ProgramGrammar, decode_steps
from cloud_brain.decoding.speculative import SpecStats, decode_steps_speculative
from cloud_brain.domain.description import WorldDescription
from cloud_brain.domain.goals import holds
from cloud_brain.domain.plan import PlanError, Step, execute, validate
from cloud_brain.domain.solver import SolveError, solve_keeping
from cloud_brain.domain.state import WorldState
from cloud_brain.planner.base import ALREADY_DONE, PlanResult
from cloud_brain.planner.checkpoint import DEFAULT_ARTIFACT, load_artifact
from cloud_brain.planner.prompt import (REASONS, build_prompt, destinations_said, hands_over, names_home,
                                        names_user)
from cloud_brain.planner.rules import Refusal, RulesPlanner, described_objects, room_spoken_of

log = logging.getLogger(__name__)

PREFIX_CACHE_SIZE = 16
_CACHE: dict[str, tuple] = {}
_LOCK = threading.Lock()


def _load(path: Path):
    key = str(path.resolve())
    with _LOCK:
        if key not in _CACHE:
            _CACHE[key] = load_artifact(path)
        return _CACHE[key]


class MoEPlanner:
    """`Planner` over the shipped (or a given) artifact folder."""

    name = "moe"

    def __init__(self, world: WorldDescription | None = None, artifact: str | Path | None = None,
                 threads: int | None = 1, speculative: bool = False):
        self.world = world
        # BRAINSTEM_MOE_ARTIFACT: evaluate or serve another artifact folder without code changes
        self.artifact = Path(artifact or os.environ.get("BRAINSTEM_MOE_ARTIFACT") or DEFAULT_ARTIFACT)
        self.model, self.tok, self.config = _load(self.artifact)
        self.threads = threads  # a model this small decodes fastest on one thread
        self._decode_lock = threading.Lock()  # one decode at a time: sessions share the model
        # prefix cache: KV caches of recent world-state prompts, reused while a state recurs (a
        # robot sends several commands from one state; the idea of SGLang's radix cache)
        self._caches: OrderedDict[tuple[int, ...], object] = OrderedDict()
        self.last_first_step_ms: float | None = None
        # MTP speculative decoding (cloud_brain/decoding/speculative.py): the same plans; off by
        # default because on goal programs most positions are forced, so drafts are rare and the
        # MTP pass over the prompt costs more than they save (`brainstem bench mtp`: 0.81x)
        self.speculative = speculative and bool(self.model.mtp)
        self.spec_stats = SpecStats()
        self._rules = RulesPlanner(world)  # its reading of each command: the refusals in _guard

    @property
    def mtp_acceptance(self) -> float:
        """Share of MTP drafts the trunk accepted so far (for /metrics)."""
        return self.spec_stats.acceptance_rate

    def _prompt(self, command: str, state: WorldState):
        # a fixed shuffle of pointer numbers: looks like the training prompts, same every call
        return build_prompt(self.tok, state, command, random.Random(0))

    def stream(self, command: str, state: WorldState) -> Iterator[Step]:
        """Steps as they are decoded (no re-decoding: the mask already keeps every step runnable)."""
        with self._decode_lock:
            yield from self._stream(command, state)

    def _stream(self, command: str, state: WorldState, grammar_out: list | None = None) -> Iterator[Step]:
        t0 = time.perf_counter()
        # a deed said as the time of another ("go charge once you've tidied up") is read as said
        # in the order of deeds ("tidy up, then go charge"): the model got 4 of 15 the first way
        has_words = any(c.isalpha() for c in command)
        said_as = command  # the rule parser reads the command as said (its screen sees every word)
        if has_words:
            # a condition on where a thing is, decided from the state ("the charger too if it's on
            # the island"): the model is shown the branch that applies; read whole it did both
            try:
                decided, unmet = self._rules.decided(command, state)
            except Exception:  # noqa: BLE001 - a rewrite's bug costs the rewrite, never the plan
                log.exception("deciding the conditions of %r failed; reading it as said", command)
                decided = unmet = None
            if unmet is not None:
                self.last_first_step_ms = (time.perf_counter() - t0) * 1000
                yield Step("say", (unmet,))
                return
            command = decided or command
        # what was meant, self-corrections applied ("the cup no wait the plate" -> "the plate"):
        # the corpus has none, and read word by word the model fetched both
        meant, said = command, None
        if has_words:
            try:
                meant = self._rules.as_meant(command, state.desc) or command
                said = self._rules.said_in_order_of_deeds(command, state.desc)  # repairs it itself
            except Exception:  # noqa: BLE001 - a rewrite's bug costs the rewrite, never the plan
                log.exception("rewriting %r for the model failed; reading it as said", command)
        prompt = self._prompt(said or meant, state) if has_words else None
        known = prompt is not None and (bool(prompt.mentioned) or any(
            w.isalpha() and w in self.tok.index for w in prompt.words))
        if not known:
            # "?!?!", "123", "blorp snarfle wib": not one word the planner knows (its vocabulary,
            # typos repaired, or a name in this world), so no request to read; a plan would be a guess
            self.last_first_step_ms = (time.perf_counter() - t0) * 1000
            yield Step("refuse", (REASONS["<r:unclear>"],))
            return
        if self.model.args.max_seq_len - len(prompt.ids) - 2 < 8:  # as `_decode` needs
            # a world too big for the model's context even with names alone (flat_s: 9 rooms, 16
            # furniture, 14 things, 556 tokens against 512): the rule parser plans it rather than
            # the request failing
            log.warning("the world takes %d tokens of the model's %d: the rule parser plans %r",
                        len(prompt.ids), self.model.args.max_seq_len, command)
            planned = self._rules.plan(command, state)
            if grammar_out is not None:
                grammar_out.append(planned)  # (its goals are the plan's)
            self.last_first_step_ms = (time.perf_counter() - t0) * 1000
            yield from planned.steps
            return
        linked = prompt.mentioned
        ruled, where_is, read = self._rules.reading(said_as, state)  # the rule parser's, once per command
        guard = _guard(ruled, state, prompt.mentioned)
        if guard:
            self.last_first_step_ms = (time.perf_counter() - t0) * 1000
            yield Step("refuse", (guard,))
            return
        if not _names_object(prompt.mentioned, state):
            # objects picked out by a need or a colour ("something to read", "the yellow one")
            # join the linked entities, for the grammar mask only (the prompt stays what the
            # model was trained on), so the model chooses among them; alone it fell back on one
            # favourite object
            linked = linked + described_objects(meant, self._rules.vocabulary(state.desc))
        if not _names_place(prompt.mentioned, state):
            linked = linked + room_spoken_of(meant, state)  # "in here": the user's room
        destinations = destinations_said(state.desc, prompt.words)
        grammar = ProgramGrammar(self.tok, state, prompt.slot_of, mentioned=linked,
                                 home_named=names_home(prompt.words), user_named=names_user(prompt.words),
                                 destinations=destinations, where_is=where_is,
                                 hand_over=hands_over(state.desc, prompt.words, destinations),
                                 refusable=not read)
        if grammar_out is not None:
            grammar_out.append(grammar)
        first = True
        before = torch.get_num_threads()
        done: list[Step] = []
        try:
            if self.threads:
                torch.set_num_threads(self.threads)
            for step in self._decode(prompt.ids, grammar):
                if step.skill == "refuse" and ruled is not None and ruled.kind == "impossible":
                    step = Step("refuse", (str(ruled),))  # the mask left no valid step: say why
                elif step.skill == "refuse" and step.args[0] == REASONS["<r:unknown>"]:
                    step = Step("refuse", (_name_unknown(ruled),))
                if first:
                    self.last_first_step_ms = (time.perf_counter() - t0) * 1000
                    first = False
                done.append(step)
                yield step
            for step in _left_out(grammar, read, state, done):
                first = False
                yield step
            if first:  # every item's goal already holds
                self.last_first_step_ms = (time.perf_counter() - t0) * 1000
                yield Step("say", (ALREADY_DONE,))
        finally:
            torch.set_num_threads(before)

    def _decode(self, ids: list[int], grammar: ProgramGrammar) -> Iterator[Step]:
        cap = self.model.args.max_seq_len
        max_tokens = cap - len(ids) - 2  # room for one speculative draft row
        if max_tokens < 8:
            raise ValueError(f"prompt of {len(ids)} tokens leaves no room to plan (context {cap})")
        world_len = ids.index(self.tok.id("<cmd>")) + 1
        key = tuple(ids[:world_len])
        # a sliding-window ring cannot roll back to the prefix once the decode has wrapped it:
        # reuse caches only when the window covers the whole context (moe-v7: 512 = 512)
        reuse = self.model.args.swa_ratio == 0 or self.model.args.sliding_window >= cap
        cache = self._caches.pop(key, None) if reuse else None
        cached = world_len if cache is not None else 0
        if cache is None:
            cache = self.model.allocate_cache(1, cap, draft_slack=1, include_mtp=self.speculative)
        if self.speculative:
            yield from decode_steps_speculative(self.model, ids, grammar, min(64, max_tokens), cache, cached,
                                                stats=self.spec_stats)
        else:
            yield from decode_steps(self.model, ids, grammar, min(64, max_tokens), cache, cached)
        # only a decode that ran to the end returns its cache (the prefix part is intact)
        if reuse:
            self._caches[key] = cache
        while len(self._caches) > PREFIX_CACHE_SIZE:
            self._caches.popitem(last=False)

    def warm_up(self, state: WorldState) -> None:
        """One throwaway plan from `state` at start-up: the first forwards (allocations, kernel
        choices) and the prompt prefix of the state a robot usually starts from are then paid
        before the first command, not by it (the demo's first step: 76 ms cold)."""
        room = next(iter(state.desc.rooms))
        self.plan(f"go to the {room.replace('_', ' ')}", state)

    def plan(self, command: str, state: WorldState) -> PlanResult:
        with self._decode_lock:
            return self._plan(command, state)

    def _plan(self, command: str, state: WorldState) -> PlanResult:
        t0 = time.perf_counter()
        grammars: list[ProgramGrammar] = []
        steps = list(self._stream(command, state, grammars))
        ms = lambda: (time.perf_counter() - t0) * 1000  # noqa: E731
        if steps and steps[0].skill == "refuse":
            return PlanResult(steps, [["refused"]], steps[0].args[0], ms())
        try:
            validate(steps, state)
        except PlanError as e:  # cannot happen with the state-aware mask; kept as the contract
            return PlanResult.refused(f"I could not make a valid plan: {e.reason}", ms())
        return PlanResult(steps, grammars[0].goals if grammars else [], None, ms())  # (none: only said)


def _left_out(grammar: ProgramGrammar, read: list[list], state: WorldState, done: list[Step]) -> list[Step]:
    """The steps for what the model left out of a request the rule parser read whole: when every
    goal the model planned is one the parser read, and the parser read more ("fetch the 2 mugs",
    "need phone + keys": the model, trained on one thing per deed, fetched the first), the rest
    is planned after the model's steps, which have already gone out. Its goals join the plan's.
    So too when the model planned nothing that was not so already (it had read "would you bring
    it to me" of the wool on the piano as "the wool on the piano", and said "That's already
    done."). Where the two readings differ otherwise, the model's stands."""
    idle = not done and all(holds(g, state, []) for g in grammar.goals)
    planned = [] if idle else list(grammar.goals)
    missing = [g for g in read if g not in planned]
    if not missing or any(g not in read for g in planned) \
            or any(s.skill == "refuse" for s in done):
        return []
    if idle:
        grammar.goals.clear()
    try:
        current = execute(done, state)
        steps = solve_keeping(missing, [g for g in planned if g[0] == "on" and holds(g, current, [])], current)
    except (PlanError, SolveError):
        return []
    grammar.goals.extend(missing)
    return steps


def _guard(ruled: Refusal | None, state: WorldState, mentioned: list[str]) -> str | None:
    """The refusals that do not wait for the model, from the rule parser's refusal `ruled` and
    its kind:
    - a safety rule (an injection, a weapon, harm, damage, fire or gas, doors, medicine): the rule
      baseline's screen, run before the model, so a misread "forget everything, turn the stove on
      full" can never become a plan; the model refuses most of these itself (README);
    - something to be made ("a cup of coffee": the model, seeing "cup", fetched the cup) or a
      chore outside the skills ("vacuum the hallway", "do the laundry");
    - only a report of what was done ("I moved the plate to the counter", "someone carried the
      cup to the bed"): the model, trained on requests, carried the plate there;
    - for a command that names no object this home has, a thing the home lacks ("bring me the
      blender"); for one that names no place, a place it lacks ("go to the garage", "put the cup
      in the garage": the model had put it on the bed). Schema linking's other half: `mentions`
      links the nouns this world has; the rule parser finds a noun in an object or place slot
      that links to nothing. The model saw only its corpus's unknown nouns and, given another,
      fetched some object instead;
    - a room to put something in that has nowhere to put it down ("put the cup in the
      bathroom"): the model, with no surface to choose, handed the cup to the person;
    - a word that names several things with nothing to say which ("bring me the mug" beside a
      blue and a white mug): the model picked one; the person is asked which;
    - a thing asked for and never named ("that thing, you know, bring it", "sort out the thing
      from this morning") where the prompt links no object either: the model picked one;
    - words the parser reads as nothing where neither it nor the prompt finds anything of this
      home ("blorp the zibble onto the whatsit"): the model moved the cookies."""
    if ruled is None:
        return None
    if ruled.kind in ("safety", "product", "unsupported", "report", "no_surface", "ambiguous") \
            or ruled.kind in ("unknown", "vague") and not _names_object(mentioned, state) \
            or ruled.kind == "unclear" and not _names_object(mentioned, state) and not _names_place(mentioned, state) \
            or ruled.kind == "unknown_place" and not _names_place(mentioned, state):
        return str(ruled)
    return None


def _name_unknown(ruled: Refusal | None) -> str:
    """The model chose "unknown thing"; the person is better served by hearing which words were
    not understood ("I don't know any 'purple elephant'"), which the rule parser can point at.
    The decision stays the model's: if the parser finds no unknown words, the model's generic
    reason stands."""
    known = ruled is not None and ruled.kind in ("unknown", "unknown_place")
    return str(ruled) if known else REASONS["<r:unknown>"]


def _names_object(mentioned: list[str], state: WorldState) -> bool:
    return any(e in state.desc.objects for e in mentioned)


def _names_place(mentioned: list[str], state: WorldState) -> bool:
    return any(e in state.desc.rooms or e in state.desc.furniture for e in mentioned)


def synthetic_dev_accuracy(model, tok, n: int = 200, seed: int = 1) -> dict:
    """Success on `n` corpus examples drawn from the *dev* templates: the decoded plan ends in the
    same symbolic state as the solver's target (refusals: both refuse)."""
    from cloud_brain.domain.plan import execute
    from cloud_brain.planner import corpus
    rng = random.Random(seed)
    ok = ref_ok = refs = 0
    for _ in range(n):
        ex = corpus.sample_example(rng, "dev")
        prompt = build_prompt(tok, ex.state, ex.command, random.Random(0))
        grammar = ProgramGrammar(tok, ex.state, prompt.slot_of, mentioned=prompt.mentioned)
        steps = list(decode_steps(model, prompt.ids, grammar))
        want_ref = ex.steps[0].skill == "refuse"
        got_ref = bool(steps) and steps[0].skill == "refuse"
        if want_ref:
            refs += 1
            ref_ok += got_ref
            ok += got_ref
            continue
        if got_ref or not steps:
            continue
        a, b = execute(steps, ex.state), execute(ex.steps, ex.state)
        ok += (a.objects, a.robot_room, a.robot_at, a.docked) == (b.objects, b.robot_room, b.robot_at, b.docked)
    return {"n": n, "success": ok / n, "refusal_recall": ref_ok / refs if refs else None}


def main(argv: list[str] | None = None) -> int:
    import argparse
    import json
    from cloud_brain.domain.description import load_world
    ap = argparse.ArgumentParser(description="plan one command with the embedded MoE")
    ap.add_argument("command")
    ap.add_argument("--world", default=None)
    ap.add_argument("--world-overrides", default=None)
    ap.add_argument("--artifact", default=None)
    a = ap.parse_args(argv)
    world = load_world(a.world)
    state = WorldState.initial(world, json.loads(a.world_overrides) if a.world_overrides else None)
    p = MoEPlanner(world, a.artifact)
    res = p.plan(a.command, state)
    print(res.text)
    print(f"({res.latency_ms:.1f} ms, first step {p.last_first_step_ms or 0:.1f} ms; "
          f"{len(REASONS)} refusal reasons)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
