"""Goal predicates: what a command asks for, checked on the state a plan leads to.

Why: planners are judged by outcome, not by matching a reference plan. An evaluation case
names goals (ARCHITECTURE.md "Goal predicates and evaluation cases"); the plan is executed
symbolically and every goal must hold in the final state.

    python -c "from cloud_brain.domain.goals import check_goals; from cloud_brain.domain.state import WorldState; print(check_goals([['docked']], WorldState.initial(), []))"

Predicates (contract): ["robot_in", room], ["delivered", object], ["on", object, furniture],
["docked"], ["tidy", room], ["refused"]. Extension: ["robot_at", furniture | "user"] (the
robot stands at that furniture / with the user), used for "go to the sofa".
"""

from __future__ import annotations

from cloud_brain.domain.description import WorldDescription
from cloud_brain.domain.plan import PlanError, Step, execute
from cloud_brain.domain.skills import suggest
from cloud_brain.domain.state import ROBOT, USER, WorldState

# predicate -> kinds of its arguments
PREDICATES = {
    "robot_in": ("room",),
    "delivered": ("object",),
    "on": ("object", "furniture"),
    "docked": (),
    "tidy": ("room",),
    "refused": (),
    "robot_at": ("place",),  # extension: furniture | "user"
}


def goal_error(goal, desc: WorldDescription) -> str | None:
    """Why `goal` is not a well-formed predicate over this world, or None."""
    if not isinstance(goal, (list, tuple)) or not goal or not isinstance(goal[0], str):
        return f"goal must be a list [predicate, arg...], got {goal!r}"
    pred, args = goal[0], list(goal[1:])
    if pred not in PREDICATES:
        return f"unknown predicate '{pred}'{suggest(pred, list(PREDICATES))}; " \
               f"known: {', '.join(PREDICATES)}"
    kinds = PREDICATES[pred]
    if len(args) != len(kinds):
        return f"{pred} takes {len(kinds)} argument(s), got {len(args)}: {goal!r}"
    for kind, a in zip(kinds, args):
        if not isinstance(a, str):
            return f"{pred}: argument {a!r} must be a name"
        names = {"room": list(desc.rooms), "object": list(desc.objects),
                 "furniture": list(desc.furniture),
                 "place": [*desc.furniture, USER]}[kind]
        if a not in names:
            return f"{pred}: unknown {kind} '{a}'{suggest(a, names)}"
    if pred == "on" and not desc.furniture[args[1]].surface:
        return f"on: {args[1]} is not a surface"
    return None


def objects_in_room(state: WorldState, room: str) -> list[str]:
    """Objects standing on furniture of `room`, or held by the robot while it is there.

    Objects handed to the user belong to the user and are not counted."""
    out = []
    for obj, where in state.objects:
        if where == ROBOT:
            if state.robot_room == room:
                out.append(obj)
        elif where != USER and state.desc.furniture[where].room == room:
            out.append(obj)
    return out


def untidy_objects(state: WorldState, room: str) -> list[str]:
    return [o for o in objects_in_room(state, room) if state.location_of(o) != state.desc.objects[o].home]


def is_refusal(steps: list[Step]) -> bool:
    return len(steps) == 1 and steps[0].skill == "refuse"


def _same_world(a: WorldState, b: WorldState) -> bool:
    return (a.objects, a.robot_room, a.robot_at, a.user_room, a.docked) == \
           (b.objects, b.robot_room, b.robot_at, b.user_room, b.docked)


def holds(goal, state: WorldState, plan_steps: list[Step], initial: WorldState | None = None) -> bool:
    """Whether `goal` holds in `state` (the state after `plan_steps`).

    `refused` needs the plan to be a single refuse step and, when `initial` is given, the
    world unchanged (a lone refuse step changes nothing by construction)."""
    pred, args = goal[0], goal[1:]
    if pred == "robot_in":
        return state.robot_room == args[0]
    if pred == "delivered":
        return state.location_of(args[0]) == USER
    if pred == "on":
        return state.location_of(args[0]) == args[1]
    if pred == "docked":
        return state.docked
    if pred == "tidy":
        return not untidy_objects(state, args[0])
    if pred == "refused":
        return is_refusal(plan_steps) and (initial is None or _same_world(initial, state))
    if pred == "robot_at":
        return state.robot_at == args[0]
    raise ValueError(f"unknown predicate '{pred}'")


def explain_unmet(goal, state: WorldState, plan_steps: list[Step]) -> str:
    pred, args = goal[0], goal[1:]
    if pred == "robot_in":
        return f"the robot ends in {state.robot_room}, not {args[0]}"
    if pred in ("delivered", "on"):
        where = state.location_of(args[0])
        words = {ROBOT: "in the robot's gripper", USER: "with the user"}.get(where, f"on {where}")
        return f"{args[0]} ends {words}"
    if pred == "docked":
        return f"the robot is not docked (it is in {state.robot_room}" + \
               (f", at {state.robot_at})" if state.robot_at else ")")
    if pred == "tidy":
        return "not tidy: " + ", ".join(f"{o} is {'held' if state.location_of(o) == ROBOT else 'on ' + state.location_of(o)}"
                                       f", belongs on {state.desc.objects[o].home}"
                                       for o in untidy_objects(state, args[0]))
    if pred == "refused":
        return "the plan is not a single refuse step" if not is_refusal(plan_steps) else "the world changed"
    if pred == "robot_at":
        return f"the robot ends at {state.robot_at or 'no furniture'} in {state.robot_room}"
    return "unknown predicate"


def check_goals(goals: list, initial_state: WorldState, steps: list[Step]) -> tuple[bool, str | None]:
    """Execute `steps` from `initial_state` and check every goal. (ok, reason-if-not)."""
    if not isinstance(goals, list) or not goals:
        return False, f"goal must be a non-empty list of predicates, got {goals!r}"
    for g in goals:
        bad = goal_error(g, initial_state.desc)
        if bad:
            return False, f"bad goal: {bad}"
    try:
        final = execute(steps, initial_state)
    except PlanError as e:
        return False, f"invalid plan: {e}"
    wants_refusal = any(g[0] == "refused" for g in goals)
    if is_refusal(steps) and not wants_refusal:
        return False, f"the plan refused ({steps[0].args[0] if steps[0].args else ''}) " \
                      f"but the goal was {goals!r}"
    for g in goals:
        if not holds(g, final, steps, initial_state):
            return False, f"goal {g!r} not met: {explain_unmet(g, final, steps)}"
    return True, None
