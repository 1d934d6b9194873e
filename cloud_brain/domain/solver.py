"""A symbolic planner: goal predicates -> a short, valid sequence of skill steps.

Why: the rule-based baseline turns commands into goals and needs a plan reaching them; the
MoE planner's training corpus (command <-> plan pairs) is generated from this solver over
many worlds, so it works for any world in the description format and never hard-codes one.

    python -m cloud_brain.domain.solver '[["delivered", "red_cup"], ["docked"]]'

Strategy (greedy, goal by goal, each from the state the previous one leaves): a held object
no goal needs is first put down sensibly (its home, else a free surface nearby); object goals
(tidy expansions, then `on`/`delivered` in the order given) fetch and carry one object at a
time, clearing a full destination first; then `robot_at`/`robot_in`; `docked` last. Steps
already satisfied are skipped. The result is checked against every goal before returning.
"""

from __future__ import annotations

from cloud_brain.domain import skills
from cloud_brain.domain.goals import goal_error, holds, explain_unmet, untidy_objects
from cloud_brain.domain.plan import Step
from cloud_brain.domain.state import ROBOT, USER, WorldState

DEFAULT_REFUSAL = "I can't do that."
MAX_TIDY_PASSES = 3


class SolveError(ValueError):
    """The goals are malformed, conflicting, or cannot be reached from this state."""


class _PlanBuilder:
    """Accumulates steps while tracking the symbolic state they lead to."""

    def __init__(self, state: WorldState):
        self.state = state
        self.steps: list[Step] = []

    def do(self, skill: str, *args: str) -> None:
        step = Step(skill, tuple(args))
        problem = skills.check(step, self.state)
        if problem:  # a solver bug or an unreachable goal; never emit an invalid step
            raise SolveError(problem)
        self.state = skills.apply(step, self.state)
        self.steps.append(step)

    # ---- movement --------------------------------------------------------------------------
    def go(self, target: str) -> None:
        s = self.state
        if target in s.desc.rooms:
            if s.robot_room != target:
                self.do("navigate", target)
        elif s.robot_at != target:
            self.do("navigate", target)

    # ---- object handling -------------------------------------------------------------------
    def surface_for(self, obj: str, avoid: set[str]) -> str:
        """Where to put down `obj` that no goal needs: its home, else the nearest free surface."""
        s = self.state
        desc = s.desc
        home = desc.objects[obj].home
        surfaces = [f for f in desc.furniture.values() if f.surface and f.name not in avoid
                    and skills.free_slots(s, f.name) > 0]
        if any(f.name == home for f in surfaces):
            return home
        if not surfaces:
            raise SolveError(f"there is no free surface to put {obj} down on")
        here = s.robot_at if s.robot_at in desc.furniture else None
        surfaces.sort(key=lambda f: (f.name != here, f.room != s.robot_room))
        return surfaces[0].name

    def put_down_held(self, avoid: set[str]) -> None:
        held = self.state.holding
        if held:
            dest = self.surface_for(held, avoid)
            self.go(dest)
            self.do("place", held, dest)

    def make_room(self, furniture: str, keep: set[str]) -> None:
        """Free one slot on a full `furniture`, moving an object no goal keeps there."""
        s = self.state
        on_it = [o for o, where in s.objects if where == furniture and o not in keep]
        if not on_it:
            raise SolveError(f"{furniture} is full and everything on it has to stay")
        on_it.sort(key=lambda o: s.desc.objects[o].home == furniture)  # strays first
        victim = on_it[0]
        self.put_down_held(avoid={furniture})
        self.go(furniture)
        self.do("pick", victim)
        self.put_down_held(avoid={furniture})

    def move_object(self, obj: str, dest: str, keep: set[str]) -> None:
        """Bring `obj` to furniture `dest`, or to the user when dest == USER."""
        s = self.state
        where = s.location_of(obj)
        if where == dest:
            return
        if where == USER:
            raise SolveError(f"{obj} was already handed to the user; I can't take it back")
        if dest != USER and skills.free_slots(self.state, dest) <= 0:
            if self.state.holding == obj:
                self.put_down_held(avoid={dest})
            self.make_room(dest, keep | {obj})
        if self.state.holding != obj:
            self.put_down_held(avoid=set())
            self.go(self.state.location_of(obj))
            self.do("pick", obj)
        self.go(dest)
        self.do("give" if dest == USER else "place", obj, *(() if dest == USER else (dest,)))


def _object_goals(goals: list) -> list[tuple[str, str]]:
    out = []
    for g in goals:
        if g[0] == "delivered":
            out.append((g[1], USER))
        elif g[0] == "on":
            out.append((g[1], g[2]))
    return out


def _tidy(b: _PlanBuilder, rooms: list[str], keep: set[str]) -> None:
    for room in rooms:
        for _ in range(MAX_TIDY_PASSES):
            pending = [o for o in untidy_objects(b.state, room) if o not in keep]
            if not pending:
                break
            here = b.state.robot_at
            order = list(b.state.desc.furniture)
            pending.sort(key=lambda o: (b.state.location_of(o) not in (ROBOT, here),
                                        order.index(b.state.location_of(o))
                                        if b.state.location_of(o) in order else -1))
            for obj in pending:
                b.move_object(obj, b.state.desc.objects[obj].home, keep)


def solve(goals: list, state: WorldState, refusal: str = DEFAULT_REFUSAL) -> list[Step]:
    """A short valid plan from `state` after which every goal holds; raises SolveError."""
    if not isinstance(goals, list):
        raise SolveError(f"goals must be a list of predicates, got {goals!r}")
    for g in goals:
        bad = goal_error(g, state.desc)
        if bad:
            raise SolveError(bad)
    if any(g[0] == "refused" for g in goals):
        if len(goals) > 1:
            raise SolveError("a refusal cannot be combined with other goals")
        return [Step("refuse", (refusal,))]
    full = over_capacity(goals, state)
    if full:
        raise SolveError(full)
    b = _PlanBuilder(state)
    object_goals = _object_goals(goals)
    targets: dict[str, str] = {}
    for obj, dest in object_goals:
        if obj in targets and targets[obj] != dest:
            raise SolveError(f"conflicting goals for {obj}: {targets[obj]} and {dest}")
        targets[obj] = dest
    tidy_rooms = [g[1] for g in goals if g[0] == "tidy"]

    held = b.state.holding
    if held and held in targets:  # deliver what is already in hand first
        b.move_object(held, targets[held], set(targets))
    elif held:
        b.put_down_held(avoid=set())
    _tidy(b, tidy_rooms, set(targets))
    done: set[str] = set()
    for obj, dest in object_goals:
        b.move_object(obj, dest, set(targets) | done)
        done.add(obj)
    _tidy(b, tidy_rooms, set(targets))
    for g in goals:  # standing at a place also puts the robot in its room
        if g[0] == "robot_at":
            b.go(g[1])
    for g in goals:
        if g[0] == "robot_in":
            b.go(g[1])
    if any(g[0] == "docked" for g in goals) and not b.state.docked:
        dock = skills.dock_furniture(state.desc)
        if dock is None:
            raise SolveError("this world has no charging dock")
        b.go(dock)
        b.do("dock")
    unmet = [g for g in goals if not holds(g, b.state, b.steps)]
    if unmet:
        raise SolveError("the goals conflict: " + "; ".join(
            f"{g!r}: {explain_unmet(g, b.state, b.steps)}" for g in unmet))
    return b.steps


def over_capacity(goals: list, state: WorldState) -> str | None:
    """Why `goals` ask a furniture to hold more things than it has room for, or None: the arm
    sets things down in a row along the edge it reaches, so a bedside may take only one."""
    wanted: dict[str, set[str]] = {}
    for g in goals:
        if g[0] == "on" and len(g) == 3 and g[2] in state.desc.furniture:
            wanted.setdefault(g[2], set()).add(g[1])
    for name, objs in wanted.items():
        f = state.desc.furniture[name]
        room = len(f.slot_positions())
        if len(objs) > room:
            said = f.aliases[0] if f.aliases else name.replace("_", " ")
            said = said if "'s " in said + " " else "the " + said
            return f"there is room for only {room} thing{'s' if room != 1 else ''} on {said}"
    return None


def solve_keeping(goals: list, keep: list, state: WorldState) -> list[Step]:
    """A plan for `goals` that keeps the goals in `keep` true where it can (a thing already put
    somewhere stays there), else one for `goals` alone; raises SolveError. Never one that
    takes a kept thing off a furniture to make room there: that plan would undo what was just
    asked ("the sunnies and the keys on his bedside", room for one), so it is an error."""
    full = over_capacity(goals + keep, state)
    if full:
        raise SolveError(full)
    try:
        return solve(goals + keep, state)
    except SolveError:
        return solve(goals, state)


def main(argv: list[str] | None = None) -> int:
    import argparse
    import json
    from cloud_brain.domain.description import load_world
    from cloud_brain.domain.plan import format_plan
    ap = argparse.ArgumentParser(description="solve goal predicates symbolically")
    ap.add_argument("goals", help='JSON list, e.g. \'[["delivered", "red_cup"]]\'')
    ap.add_argument("--world", default=None)
    args = ap.parse_args(argv)
    state = WorldState.initial(load_world(args.world))
    try:
        print(format_plan(solve(json.loads(args.goals), state)))
    except (SolveError, json.JSONDecodeError) as e:
        print(f"cannot solve: {e}")
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
