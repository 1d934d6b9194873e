"""Plans: the step type, the compact plan text grammar, validation and symbolic execution.

Why: every planner backend (rules, the embedded MoE, an OpenAI-compatible server) emits plan
text in one compact grammar; this module turns that text into `Step`s, says precisely what is
wrong with a plan (which step, why), and runs it symbolically so goals can be checked.

    python -m cloud_brain.domain.plan 'navigate(kitchen_counter); pick(red_cup); navigate(user); give(red_cup)'

Grammar, one step per line (a `;` outside quotes also separates steps):
    step  := skill "(" [arg ("," arg)*] ")"
    arg   := entity_name | "quoted text"          (say/refuse take one text argument)
Leading list markers ("1.", "2)", "-") and blank lines are tolerated.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

from cloud_brain.domain import skills
from cloud_brain.domain.description import WorldDescription
from cloud_brain.domain.state import WorldState


@dataclass(frozen=True)
class Step:
    skill: str
    args: tuple[str, ...] = ()

    def __str__(self) -> str:
        if self.skill in skills.TEXT_SKILLS:
            return f"{self.skill}({', '.join(json.dumps(a, ensure_ascii=False) for a in self.args)})"
        return f"{self.skill}({', '.join(self.args)})"

    @classmethod
    def parse(cls, text: str) -> "Step":
        steps = parse_plan(text)
        if len(steps) != 1:
            raise PlanError(0, f"expected exactly one step, got {len(steps)}")
        return steps[0]


class PlanError(ValueError):
    """A plan that cannot be parsed or run. `step_index` is 0-based (-1: the plan as a whole)."""

    def __init__(self, step_index: int, reason: str):
        self.step_index = step_index
        self.reason = reason
        where = f"step {step_index + 1}" if step_index >= 0 else "plan"
        super().__init__(f"{where}: {reason}")


_STEP_RE = re.compile(r"^(?:\d+\s*[.):]\s*|[-*•]\s*)?([A-Za-z_][A-Za-z0-9_]*)\s*(?:\((.*)\))?\s*[.;,]?$",
                      re.DOTALL)


def _split_steps(text: str) -> list[str]:
    """Split on newlines and on `;` that are outside quotes."""
    out, cur, quote, escaped = [], [], None, False
    for ch in text:
        if quote:
            cur.append(ch)
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == quote:
                quote = None
            continue
        if ch in "\"'" and (not cur or not cur[-1].isalnum()):
            quote = ch
            cur.append(ch)
        elif ch in ";\n":
            out.append("".join(cur))
            cur = []
        else:
            cur.append(ch)
    out.append("".join(cur))
    return [s.strip() for s in out if s.strip()]


def _unquote(tok: str) -> str:
    tok = tok.strip()
    if len(tok) >= 2 and tok[0] == tok[-1] == '"':
        try:
            return json.loads(tok)
        except json.JSONDecodeError:
            return tok[1:-1]
    if len(tok) >= 2 and tok[0] == tok[-1] == "'":
        return tok[1:-1].replace("\\'", "'")
    return tok


def _split_args(inner: str) -> list[str]:
    out, cur, quote, escaped = [], [], None, False
    for ch in inner:
        if quote:
            cur.append(ch)
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == quote:
                quote = None
        elif ch in "\"'" and not "".join(cur).strip():
            quote = ch
            cur.append(ch)
        elif ch == ",":
            out.append("".join(cur))
            cur = []
        else:
            cur.append(ch)
    out.append("".join(cur))
    args = [_unquote(a) for a in out]
    if args == [""]:
        return []
    return args


def parse_step(text: str, index: int = 0) -> Step:
    m = _STEP_RE.match(text.strip())
    if not m:
        raise PlanError(index, f"cannot parse '{text.strip()[:80]}': expected skill(arg, ...)")
    skill, inner = m.group(1), m.group(2)
    if skill not in skills.SKILLS:
        raise PlanError(index, f"unknown skill '{skill}'{skills.suggest(skill, list(skills.SKILLS))}; "
                               f"known skills: {', '.join(skills.SKILLS)}")
    inner = inner or ""
    if skill in skills.TEXT_SKILLS:
        stripped = inner.strip()
        if not stripped:
            return Step(skill, ())  # arity error reported by check_args
        parts = _split_args(stripped)
        quoted_single = stripped[0] in "\"'" and len(parts) == 1
        return Step(skill, (parts[0] if quoted_single else _unquote(stripped),))
    return Step(skill, tuple(a.strip() for a in _split_args(inner)))


def parse_plan(text: str, world: WorldDescription | None = None) -> list[Step]:
    """Plan text -> steps. With `world`, also checks arity and entity names (with suggestions)."""
    if not isinstance(text, str):
        raise PlanError(-1, f"plan text must be a string, got {type(text).__name__}")
    steps = [parse_step(line, i) for i, line in enumerate(_split_steps(text))]
    for i, step in enumerate(steps):
        if world is not None:
            bad = skills.check_args(step, world)
        else:
            spec = skills.SKILLS[step.skill]
            bad = None if len(step.args) == spec.arity else \
                f"{spec.name} takes {spec.arity} argument{'s' if spec.arity != 1 else ''} " \
                f"({spec.signature()}), got {len(step.args)}"
        if bad:
            raise PlanError(i, bad)
    return steps


def format_plan(steps: list[Step]) -> str:
    return "\n".join(str(s) for s in steps)


def trace(steps: list[Step], state: WorldState) -> list[WorldState]:
    """States before every step and after the last (len(steps) + 1); raises PlanError."""
    refusals = [i for i, s in enumerate(steps) if s.skill == "refuse"]
    if refusals and len(steps) > 1:
        raise PlanError(refusals[0], "refuse(...) must be the only step of a plan")
    states = [state]
    for i, step in enumerate(steps):
        problem = skills.check(step, state)
        if problem:
            raise PlanError(i, problem)
        state = skills.apply(step, state)
        states.append(state)
    return states


def execute(steps: list[Step], state: WorldState) -> WorldState:
    """Run the plan symbolically; the final state. Raises PlanError on the first bad step."""
    return trace(steps, state)[-1]


def validate(steps: list[Step], state: WorldState) -> None:
    """Raise PlanError (with step index and reason) on the first problem; None when valid."""
    trace(steps, state)


def main(argv: list[str] | None = None) -> int:
    import argparse
    ap = argparse.ArgumentParser(description="parse, validate and execute a plan symbolically")
    ap.add_argument("plan", help="plan text, steps separated by ';' or newlines")
    ap.add_argument("--world", default=None, help="world description YAML")
    args = ap.parse_args(argv)
    from cloud_brain.domain.description import load_world
    state = WorldState.initial(load_world(args.world))
    try:
        steps = parse_plan(args.plan, state.desc)
        final = execute(steps, state)
    except PlanError as e:
        print(f"invalid: {e}")
        return 1
    print(format_plan(steps))
    print(final)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
