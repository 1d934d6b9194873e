"""The goal program: what the MoE planner decodes, and how each item becomes skill steps.

Why a goal program and not raw skill steps: the model's job is language — which intent, which
entity, which order — and a 1-3 M-parameter model trained for an hour on two CPU cores learns
that far better than it learns to also look up, in the prompt, the furniture each object stands
on, which surface a room offers or which objects of a room are out of place. Those lookups are
exact symbolic facts, so each decoded item is expanded by the domain's solver from the state the
previous items leave (a hierarchical plan: intents -> skills). The robot still receives a stream
of skill steps, and each item's steps leave the moment its last token is decoded.

Items (one per intent, in the order the person asked):

    ("deliver", obj)            -> delivered(obj)          "bring me the mug"
    ("put", obj, surface)       -> on(obj, surface)        "put the mug on the table"
    ("put", obj, room)          -> on(obj, a surface there: the object's home if it is in that room)
    ("put", obj, HOME)          -> on(obj, its home)        "put the toy away"
    ("go", room)                -> robot_in(room)           "go to the kitchen"
    ("go", furniture | USER)    -> robot_at(...)            "go to the sofa", "come here"
    ("dock",)                   -> docked                   "go charge"
    ("tidy", room)              -> tidy(room)               "tidy up the kitchen"
    ("refuse", reason_token)    -> refuse(reason)           only as the whole program
"""

from __future__ import annotations

from cloud_brain.domain.description import WorldDescription
from cloud_brain.domain.plan import Step
from cloud_brain.domain.solver import SolveError, solve
from cloud_brain.domain.state import USER, WorldState

HOME = "<home>"
ARITY = {"deliver": 1, "put": 2, "go": 1, "dock": 0, "tidy": 1, "refuse": 1}


def surface_in_room(desc: WorldDescription, obj: str, room: str) -> str | None:
    """Where "put X in ROOM" puts X: its home if that is in the room, else the room's first surface."""
    home = desc.objects[obj].home
    if desc.furniture[home].room == room:
        return home
    for f in desc.furniture.values():
        if f.room == room and f.surface:
            return f.name
    return None


def goal_of(item: tuple, desc: WorldDescription) -> list | None:
    """A program item -> its goal predicate (None: the item names no reachable goal here)."""
    head, args = item[0], item[1:]
    if head == "deliver":
        return ["delivered", args[0]]
    if head == "put":
        obj, dest = args
        if dest == HOME:
            return ["on", obj, desc.objects[obj].home]
        if dest in desc.rooms:
            f = surface_in_room(desc, obj, dest)
            return None if f is None else ["on", obj, f]
        return ["on", obj, dest]
    if head == "go":
        return ["robot_in", args[0]] if args[0] in desc.rooms else ["robot_at", args[0]]
    if head == "dock":
        return ["docked"]
    if head == "tidy":
        return ["tidy", args[0]]
    raise ValueError(f"no goal for program item {item!r}")


def expand(item: tuple, state: WorldState, keep: list | tuple = ()) -> list[Step]:
    """The skill steps that reach `item`'s goal from `state` (SolveError when none do).

    `keep`: `on` goals of earlier items of the program that hold in `state`. A deliver or put
    keeps them where it can, so making room on a full surface does not take away what an earlier
    item just put there ("put the ball on the table and the book on the table too" had carried
    the ball off to the shelf to make room for the book); a plan that keeps them all comes
    first, and without one the item is planned alone."""
    goal = goal_of(item, state.desc)
    if goal is None:
        raise SolveError(f"{item[0]}{item[1:]} names no reachable goal in this world")
    if item[0] in ("deliver", "put"):
        kept = [g for g in keep if g[0] == "on" and g[1] != goal[1]]
        if kept:
            try:
                return solve([*kept, goal], state)
            except SolveError:
                pass
    return solve([goal], state)


def holding(goals: list, state: WorldState) -> list:
    """The `on` goals among `goals` that hold in `state`: what a later item keeps (expand)."""
    return [g for g in goals if g is not None and g[0] == "on" and state.location_of(g[1]) == g[2]]


def candidates(head: str, position: int, state: WorldState, first_arg: str | None = None) -> list[str]:
    """The entities (or HOME / USER) that may fill argument `position` of `head` — by kind only;
    the grammar also checks that the completed item can be reached."""
    if is_object_argument(head, position):
        return [o for o, where in state.objects if where != USER]  # the movable ones
    return argument_kind(head, position, state.desc)


def is_object_argument(head: str, position: int) -> bool:
    return position == 0 and head in ("deliver", "put")


def argument_kind(head: str, position: int, d: WorldDescription) -> list[str]:
    """Every entity (or HOME / USER) of the kind argument `position` of `head` takes, whatever
    the state: what "the command names one of this kind" is judged against."""
    if is_object_argument(head, position):
        return list(d.objects)
    if head == "put":
        return [*[f for f, x in d.furniture.items() if x.surface], *d.rooms, HOME]
    if head == "go":
        return [*d.rooms, *d.furniture, USER]
    if head == "tidy":
        return list(d.rooms)
    return []


def item_of_goal(goal: list, desc: WorldDescription) -> tuple:
    """The program item for a goal predicate (the inverse of goal_of for explicit arguments)."""
    pred, args = goal[0], goal[1:]
    if pred == "delivered":
        return ("deliver", args[0])
    if pred == "on":
        return ("put", args[0], args[1])
    if pred in ("robot_in", "robot_at"):
        return ("go", args[0])
    if pred == "docked":
        return ("dock",)
    if pred == "tidy":
        return ("tidy", args[0])
    raise ValueError(f"no program item for goal {goal!r}")
