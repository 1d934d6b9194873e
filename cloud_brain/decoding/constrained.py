"""Constrained plan decoding: a token mask from the plan grammar, the world's entities and the
symbolic state, so every decoded plan parses *and* passes the validator.

Why state-aware: a mask from the grammar and entity names alone guarantees a plan that parses;
tracking the symbolic state as steps complete (`skills.check` / `skills.apply`) also removes
steps whose preconditions fail (picking what is not there, giving with an empty hand), so the
model only ever chooses among steps that can run. Forced tokens (one allowed choice) are
appended without a model call and fed with the next call ("jump-forward").

    grammar = PlanGrammar(tok, state, prompt.slot_of); for step in decode_steps(model, prompt.ids, grammar): ...

Plan symbols (see cloud_brain/planner/prompt.py): a skill token, then its arguments as pointer
tokens (`@k`) or `<to_user>`; `<refuse>` is only allowed first and takes one reason token;
`<eos>` ends the plan.
"""

from __future__ import annotations

from typing import Iterator

import torch

from cloud_brain.domain import skills
from cloud_brain.domain.plan import Step
from cloud_brain.domain.state import USER, WorldState
from cloud_brain.planner.prompt import REASONS, SKILL_TOKENS, TOKEN_SKILLS, Tokenizer

MAX_STEPS = 32


class PlanGrammar:
    """The allowed next plan tokens for one prompt, advanced token by token."""

    def __init__(self, tok: Tokenizer, state: WorldState, slot_of: dict[str, int],
                 max_steps: int = MAX_STEPS, banned: set[tuple[int, Step]] | None = None):
        self.tok = tok
        self.state = state
        self.slot_of = slot_of
        self.entity_of = {tok.id(f"@{v}"): k for k, v in slot_of.items()}
        self.entity_of[tok.id("<to_user>")] = USER
        self.max_steps = max_steps
        self.banned = banned or set()
        self.steps: list[Step] = []
        self.skill: str | None = None  # the skill being decoded
        self.args: list[str] = []
        self.reason: str | None = None
        self.done = False
        self.eos = tok.id("<eos>")

    # ---- what may come next ----------------------------------------------------------------
    def _ok(self, step: Step) -> bool:
        if (len(self.steps), step) in self.banned:
            return False
        if skills.check(step, self.state) is not None:
            return False
        if step.skill == "navigate":  # no-op moves are never useful (the solver never makes them)
            t, s = step.args[0], self.state
            if t in s.desc.rooms:
                return s.robot_room != t
            return s.robot_at != t
        return True

    def _complete_steps(self, skill: str) -> list[Step]:
        """Every runnable instantiation of `skill` in the current state."""
        s = self.state
        d = s.desc
        if skill == "navigate":
            cands = [Step("navigate", (t,)) for t in [*d.rooms, *d.furniture, USER]]
        elif skill in ("pick", "give"):
            cands = [Step(skill, (o,)) for o in d.objects]
        elif skill == "place":
            held = s.holding
            cands = [Step("place", (held, f)) for f in d.furniture] if held else []
        elif skill == "dock":
            cands = [Step("dock", ())]
        else:
            cands = []
        return [c for c in cands if self._ok(c)]

    def allowed(self) -> list[int]:
        if self.done:
            return []
        tid = self.tok.id
        if self.reason == "":  # after <refuse>: a reason
            return [tid(r) for r in REASONS]
        if self.skill is None:
            if self.reason is not None or len(self.steps) >= self.max_steps:
                return [self.eos]
            out = [tid(SKILL_TOKENS[k]) for k in ("navigate", "pick", "place", "give", "dock")
                   if self._complete_steps(k)]
            if not self.steps:
                out.append(tid(SKILL_TOKENS["refuse"]))
            if self.steps or not out:
                out.append(self.eos)
            return out
        n = len(self.args)
        nxt = {c.args[n] for c in self._complete_steps(self.skill) if list(c.args[:n]) == self.args}
        return sorted(tid("<to_user>") if e == USER else tid(f"@{self.slot_of[e]}") for e in nxt)

    # ---- advancing -------------------------------------------------------------------------
    def advance(self, token: int) -> Step | None:
        """Consume an allowed token; the step it completes, if any."""
        t = self.tok.vocab[token]
        if token not in self.allowed():
            raise ValueError(f"token {t!r} is not allowed here (allowed: "
                             f"{[self.tok.vocab[i] for i in self.allowed()]})")
        if token == self.eos:
            self.done = True
            return None
        if self.reason == "":
            self.reason = t
            step = Step("refuse", (REASONS[t],))
            self.steps.append(step)
            return step
        if self.skill is None:
            skill = TOKEN_SKILLS[t]
            if skill == "refuse":
                self.reason = ""
                return None
            self.skill, self.args = skill, []
        else:
            self.args.append(self.entity_of[token])
        if len(self.args) == skills.SKILLS[self.skill].arity:
            step = Step(self.skill, tuple(self.args))
            self.state = skills.apply(step, self.state)
            self.steps.append(step)
            self.skill, self.args = None, []
            return step
        return None


@torch.inference_mode()
def decode_steps(model, prompt_ids: list[int], grammar: PlanGrammar, max_tokens: int = 128,
                 cache=None, cached: int = 0) -> Iterator[Step]:
    """Greedy decoding under the grammar mask; yields each step as soon as it is complete.

    `cache` with `cached` > 0: the cache already holds prompt_ids[:cached] (a world-state prefix
    shared with an earlier call); only the rest of the prompt is prefilled and everything the
    earlier call wrote after the prefix is overwritten (see kv_cache.py: rollback by position).
    The cache must hold len(prompt_ids) + max_tokens positions without wrapping."""
    if cache is None:
        cache, cached = model.allocate_cache(1, len(prompt_ids) + max_tokens + 1, include_mtp=False), 0
    cached = min(cached, len(prompt_ids) - 1)
    x = torch.tensor([prompt_ids[cached:]], dtype=torch.long)
    logits = model(x, cached, cache, last_only=True)[0, -1]  # (V,)
    pos = len(prompt_ids)
    pending: list[int] = []  # forced tokens not yet fed to the model
    for _ in range(max_tokens):
        allowed = grammar.allowed()
        if not allowed:
            break
        if len(allowed) == 1:
            choice = allowed[0]
        else:
            if pending:
                logits = model(torch.tensor([pending], dtype=torch.long), pos, cache, last_only=True)[0, -1]
                pos += len(pending)
                pending = []
            ids = torch.tensor(allowed)
            choice = allowed[int(torch.argmax(logits[ids]))]
        pending.append(choice)
        step = grammar.advance(choice)
        if step is not None:
            yield step
        if grammar.done:
            return
    if not grammar.done:  # token budget spent: end the plan where it stands
        grammar.done = True
