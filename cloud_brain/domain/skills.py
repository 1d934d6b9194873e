"""The robot's skills in the symbolic domain: their signatures, preconditions and effects.

Why here: the plan validator (cloud), the solver, the goal checker and the edge feasibility
check all decide "can this step run now, and what does it change?" with these functions, so
there is exactly one definition of every skill's semantics.

    python -c "from cloud_brain.domain.skills import SKILLS; print(sorted(SKILLS))"

Skills (ARCHITECTURE.md "Skills"): navigate(target) with target a room, a furniture or
"user"; pick(object); place(object, furniture); give(object); dock(); say(text);
refuse(reason). `check` explains in words why a step cannot run; `apply` returns the state
after it. `refuse` being the only step of a plan is a plan-level rule (see plan.py).
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass, replace
from types import MappingProxyType
from typing import Protocol

from cloud_brain.domain.description import WorldDescription
from cloud_brain.domain.state import ROBOT, USER, WorldState


class StepLike(Protocol):
    skill: str
    args: tuple[str, ...]


class SkillError(ValueError):
    """A step applied in a state where its preconditions do not hold."""


# Argument kinds: what a parameter may name.
TARGET = "target"  # room | furniture | "user"
OBJECT = "object"
FURNITURE = "furniture"
TEXT = "text"  # free text (say, refuse)


@dataclass(frozen=True)
class SkillSpec:
    name: str
    params: tuple[tuple[str, str], ...]  # (parameter name, kind)
    summary: str

    @property
    def arity(self) -> int:
        return len(self.params)

    def signature(self) -> str:
        return f"{self.name}({', '.join(p for p, _ in self.params)})"


SKILLS = MappingProxyType({
    "navigate": SkillSpec("navigate", (("target", TARGET),),
                          "drive to a room, to a furniture, or to the user"),
    "pick": SkillSpec("pick", (("object", OBJECT),),
                      "pick an object up from the furniture the robot is at"),
    "place": SkillSpec("place", (("object", OBJECT), ("furniture", FURNITURE)),
                       "put the held object on the surface the robot is at"),
    "give": SkillSpec("give", (("object", OBJECT),), "hand the held object to the user"),
    "dock": SkillSpec("dock", (), "connect to the charging dock the robot is at"),
    "say": SkillSpec("say", (("text", TEXT),), "speak to the user"),
    "refuse": SkillSpec("refuse", (("reason", TEXT),),
                        "decline a command that is impossible, unknown or unsafe"),
})
TEXT_SKILLS = frozenset(n for n, s in SKILLS.items() if any(k == TEXT for _, k in s.params))


# ---- world queries the skills need ---------------------------------------------------------
def dock_furniture(desc: WorldDescription) -> str | None:
    """The charging dock: the non-surface furniture whose name or aliases contain "dock"."""
    for f in desc.furniture.values():
        if not f.surface and any("dock" in n.lower() for n in (f.name, *f.aliases)):
            return f.name
    return None


def free_slots(state: WorldState, furniture: str) -> int:
    """How many more objects fit on a furniture (its slot count minus what stands on it)."""
    f = state.desc.furniture[furniture]
    used = sum(1 for _, where in state.objects if where == furniture)
    return len(f.slot_positions()) - used


def entity_kind(desc: WorldDescription, name: str) -> str | None:
    if name == USER:
        return "user"
    if name in desc.rooms:
        return "room"
    if name in desc.furniture:
        return "furniture"
    if name in desc.objects:
        return "object"
    return None


def _names_of_kind(desc: WorldDescription, kind: str) -> list[str]:
    if kind == OBJECT:
        return list(desc.objects)
    if kind == FURNITURE:
        return list(desc.furniture)
    if kind == TARGET:
        return [*desc.rooms, *desc.furniture, USER]
    return []


def suggest(name: str, candidates: list[str]) -> str:
    """' (did you mean 'x'?)' for the closest candidate, or ''."""
    close = difflib.get_close_matches(name, candidates, n=1, cutoff=0.5)
    return f" (did you mean '{close[0]}'?)" if close else ""


def _where(state: WorldState) -> str:
    if state.robot_at == USER:
        return f"with the user in {state.robot_room}"
    if state.robot_at:
        return f"at {state.robot_at}"
    return f"in {state.robot_room}, not at any furniture"


def _location_words(obj: str, where: str) -> str:
    if where == ROBOT:
        return f"{obj} is in the robot's gripper"
    if where == USER:
        return f"{obj} was already handed to the user"
    return f"{obj} is on {where}"


# ---- checks --------------------------------------------------------------------------------
def check_args(step: StepLike, desc: WorldDescription) -> str | None:
    """Arity and entity kinds of a step's arguments; None when they fit the skill."""
    spec = SKILLS.get(step.skill)
    if spec is None:
        return f"unknown skill '{step.skill}'{suggest(step.skill, list(SKILLS))}; " \
               f"known skills: {', '.join(SKILLS)}"
    if len(step.args) != spec.arity:
        return (f"{spec.name} takes {spec.arity} argument{'s' if spec.arity != 1 else ''} "
                f"({spec.signature()}), got {len(step.args)}")
    for (param, kind), value in zip(spec.params, step.args):
        if kind == TEXT:
            if not isinstance(value, str):
                return f"{spec.name}: {param} must be text"
            continue
        actual = entity_kind(desc, value)
        wanted = {TARGET: ("room", "furniture", "user"), OBJECT: ("object",),
                  FURNITURE: ("furniture",)}[kind]
        if actual in wanted:
            continue
        if actual is None:
            what = {TARGET: "room, furniture or 'user'", OBJECT: "object",
                    FURNITURE: "furniture"}[kind]
            return f"unknown {what} '{value}'{suggest(value, _names_of_kind(desc, kind))}"
        return f"{spec.name}: {param} '{value}' is a {actual}, not a {' or '.join(wanted)}"
    return None


def _out_of_reach(label: str, desc: WorldDescription, furn: str) -> str | None:
    h = desc.furniture[furn].height
    if h > desc.reach_top:
        return f"{label}: the top of the {furn} is {h:.2f} m high, above the arm's reach ({desc.reach_top:.2f} m)"
    return None


def check(step: StepLike, state: WorldState) -> str | None:
    """Why `step` cannot run in `state` (arguments or preconditions), or None when it can."""
    bad = check_args(step, state.desc)
    if bad:
        return bad
    s, a = step.skill, step.args
    label = f"{s}({', '.join(a)})"
    held = state.holding
    if s == "pick":
        obj = a[0]
        where = state.location_of(obj)
        if where == ROBOT:
            return f"{label}: the robot is already holding {obj}"
        if held:
            return f"{label}: the robot's hand is full (holding {held})"
        if where == USER:
            return f"{label}: {obj} was already handed to the user"
        if state.robot_at != where:
            return f"{label}: the robot is {_where(state)}, but {obj} is on {where}"
        return _out_of_reach(label, state.desc, where)
    if s == "place":
        obj, furn = a
        if not state.desc.furniture[furn].surface:
            return f"{label}: {furn} is not a surface objects can stand on"
        if held != obj:
            return f"{label}: the robot is not holding {obj} " \
                   f"({'holding ' + held if held else 'its hand is empty'}; " \
                   f"{_location_words(obj, state.location_of(obj))})"
        if state.robot_at != furn:
            return f"{label}: the robot is {_where(state)}, not at {furn}"
        if free_slots(state, furn) <= 0:
            return f"{label}: {furn} is full"
        return _out_of_reach(label, state.desc, furn)
    if s == "give":
        obj = a[0]
        if held != obj:
            return f"{label}: the robot is not holding {obj} " \
                   f"({'holding ' + held if held else 'its hand is empty'}; " \
                   f"{_location_words(obj, state.location_of(obj))})"
        if state.robot_at != USER:
            return f"{label}: the robot is {_where(state)}, not with the user " \
                   f"(the user is in {state.user_room})"
        return None
    if s == "dock":
        dock = dock_furniture(state.desc)
        if dock is None:
            return "dock(): this world has no charging dock"
        if state.docked:
            return "dock(): the robot is already docked"
        if state.robot_at != dock:
            return f"dock(): the robot is {_where(state)}, not at {dock}"
        return None
    return None  # navigate, say, refuse: always possible once the arguments are valid


def apply(step: StepLike, state: WorldState) -> WorldState:
    """The state after `step`; raises SkillError when `check` finds a problem."""
    problem = check(step, state)
    if problem:
        raise SkillError(problem)
    s, a = step.skill, step.args
    if s == "navigate":
        target = a[0]
        if target == USER:
            return state.moved_to(state.user_room, USER)
        if target in state.desc.rooms:
            return state.moved_to(target, None)
        return state.moved_to(state.desc.furniture[target].room, target)
    if s == "pick":
        return state.with_object(a[0], ROBOT)
    if s == "place":
        return state.with_object(a[0], a[1])
    if s == "give":
        return state.with_object(a[0], USER)
    if s == "dock":
        return replace(state, docked=True)
    return state  # say, refuse
