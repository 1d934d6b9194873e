"""The world description: one YAML file that both the symbolic domain and the MuJoCo scene read.

Why one file: names and geometry can never drift between what the planner reasons about and
what the physics simulates. Any world in this format loads (more rooms, objects, other
layouts); nothing downstream may hard-code the default home.

    python -c "from cloud_brain.domain.description import load_world; print(load_world().summary())"
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass, field
from pathlib import Path

import yaml

DEFAULT_WORLD = Path(__file__).resolve().parents[2] / "sim" / "worlds" / "home.yaml"

SIDES = {"+x": (1.0, 0.0), "-x": (-1.0, 0.0), "+y": (0.0, 1.0), "-y": (0.0, -1.0)}
APPROACH_STANDOFF = 0.45  # robot centre to furniture edge, metres (base radius + margin)
REACH_TOP = 1.97  # m: the highest furniture top the arm picks from and places on (sim/mjcf.py RobotSpec)
SLOT_SPACING = 0.24  # between objects standing on one furniture, along its approach edge
SLOT_INSET = 0.15  # object centre from the approach edge, inside the top


class WorldError(ValueError):
    """A world description (or an override of it) that is inconsistent."""


@dataclass(frozen=True)
class Room:
    name: str
    rect: tuple[float, float, float, float]  # xmin, ymin, xmax, ymax
    user_spot: tuple[float, float]
    aliases: tuple[str, ...] = ()

    def contains(self, x: float, y: float, margin: float = 0.0) -> bool:
        x0, y0, x1, y1 = self.rect
        return x0 - margin <= x <= x1 + margin and y0 - margin <= y <= y1 + margin

    @property
    def center(self) -> tuple[float, float]:
        x0, y0, x1, y1 = self.rect
        return ((x0 + x1) / 2, (y0 + y1) / 2)


@dataclass(frozen=True)
class Door:
    between: tuple[str, str]
    at: tuple[float, float]
    width: float


@dataclass(frozen=True)
class Furniture:
    name: str
    room: str
    at: tuple[float, float]
    size: tuple[float, float, float]  # sx, sy, height
    surface: bool
    approach: str  # one of SIDES
    aliases: tuple[str, ...] = ()

    @property
    def height(self) -> float:
        return self.size[2]

    def approach_pose(self, lateral: float = 0.0) -> tuple[float, float, float]:
        """Where the robot stands to reach this furniture: (x, y, yaw facing it).

        `lateral` shifts the pose along the approach edge (to line up with one object)."""
        nx, ny = SIDES[self.approach]
        half = self.size[0] / 2 if nx else self.size[1] / 2
        d = half + APPROACH_STANDOFF
        tx, ty = -ny, nx  # tangent along the edge
        x = self.at[0] + nx * d + tx * lateral
        y = self.at[1] + ny * d + ty * lateral
        return (x, y, math.atan2(-ny, -nx))

    def slot_positions(self) -> list[tuple[float, float, float]]:
        """Object resting spots on the top (x, y, z of the top), nearest the approach edge."""
        if not self.surface:
            return []
        nx, ny = SIDES[self.approach]
        half_depth = self.size[0] / 2 if nx else self.size[1] / 2
        edge_len = self.size[1] if nx else self.size[0]
        n = max(1, int((edge_len - 0.1) // SLOT_SPACING))
        tx, ty = -ny, nx
        inset = min(SLOT_INSET, half_depth)
        out = []
        for i in range(n):
            s = (i - (n - 1) / 2) * SLOT_SPACING
            out.append((self.at[0] + nx * (half_depth - inset) + tx * s,
                        self.at[1] + ny * (half_depth - inset) + ty * s, self.height))
        return out

    def contains_xy(self, x: float, y: float, margin: float = 0.0) -> bool:
        return (abs(x - self.at[0]) <= self.size[0] / 2 + margin
                and abs(y - self.at[1]) <= self.size[1] / 2 + margin)


def volume(shape: str, size: tuple[float, ...]) -> float:
    """m^3 of an object's shape (the physics' mass, and "the bigger of the two books", go by it)."""
    if shape == "box":
        return size[0] * size[1] * size[2]
    if shape == "cylinder":
        return math.pi * size[0] ** 2 * size[1]
    return 4 / 3 * math.pi * size[0] ** 3


@dataclass(frozen=True)
class ObjectSpec:
    name: str
    shape: str  # box | cylinder | sphere
    size: tuple[float, ...]  # box: sx, sy, sz; cylinder: radius, height; sphere: radius
    color: str
    rgba: tuple[float, float, float, float]
    on: str
    home: str
    aliases: tuple[str, ...] = ()

    @property
    def volume(self) -> float:
        return volume(self.shape, self.size)

    @property
    def half_height(self) -> float:
        if self.shape == "box":
            return self.size[2] / 2
        if self.shape == "cylinder":
            return self.size[1] / 2
        return self.size[0]


@dataclass(frozen=True)
class Wall:
    start: tuple[float, float]
    end: tuple[float, float]


@dataclass
class WorldDescription:
    """The parsed, validated world. `objects[o].on` and `user_room` may be overridden per case."""

    name: str
    rooms: dict[str, Room]
    doors: list[Door]
    furniture: dict[str, Furniture]
    objects: dict[str, ObjectSpec]
    robot_start: tuple[float, float, float]  # x, y, yaw
    robot_radius: float
    user_room: str
    wall_height: float
    wall_thickness: float
    source: Path | None = None
    walls: list[Wall] = field(default_factory=list)
    reach_top: float = REACH_TOP  # m: tops higher than this are out of the arm's reach

    # ---- lookups -------------------------------------------------------------------------
    def room_at(self, x: float, y: float) -> str | None:
        for r in self.rooms.values():
            if r.contains(x, y):
                return r.name
        return None

    def user_position(self) -> tuple[float, float]:
        return self.rooms[self.user_room].user_spot

    def object_slots(self) -> dict[str, tuple[float, float, float]]:
        """Resting position (x, y, z of the surface) of every object, from the `on` relation."""
        taken: dict[str, int] = {}
        out = {}
        for o in self.objects.values():
            slots = self.furniture[o.on].slot_positions()
            i = taken.get(o.on, 0)
            if i >= len(slots):
                raise WorldError(f"furniture '{o.on}' has {len(slots)} slots; too many objects on it")
            taken[o.on] = i + 1
            out[o.name] = slots[i]
        return out

    def robot_start_room(self) -> str:
        room = self.room_at(*self.robot_start[:2])
        if room is None:
            raise WorldError("robot start pose is outside every room")
        return room

    def with_overrides(self, overrides: dict | None) -> "WorldDescription":
        """A copy with a case's `world` overrides applied (objects moved, robot, user elsewhere).

        Format (ARCHITECTURE.md): {"objects": {object: furniture}, "robot": room_or_furniture,
        "user": room}. Anything not named keeps its default."""
        if not overrides:
            return self
        unknown = set(overrides) - {"objects", "robot", "user"}
        if unknown:
            raise WorldError(f"unknown world override keys: {sorted(unknown)}")
        w = copy.copy(self)
        w.objects = dict(self.objects)
        for obj, furn in (overrides.get("objects") or {}).items():
            if obj not in w.objects:
                raise WorldError(f"override names unknown object '{obj}'")
            if furn not in w.furniture or not w.furniture[furn].surface:
                raise WorldError(f"override puts '{obj}' on '{furn}', which is not a surface")
            spec = w.objects[obj]
            w.objects[obj] = ObjectSpec(**{**spec.__dict__, "on": furn})
        if "user" in overrides:
            if overrides["user"] not in w.rooms:
                raise WorldError(f"override puts the user in unknown room '{overrides['user']}'")
            w.user_room = overrides["user"]
        if "robot" in overrides:
            where = overrides["robot"]
            if where in w.rooms:
                x, y = w.rooms[where].center
                w.robot_start = (x, y, 0.0)
            elif where in w.furniture:
                w.robot_start = w.furniture[where].approach_pose()
            else:
                raise WorldError(f"override puts the robot at unknown place '{where}'")
        w.object_slots()  # validates capacity
        return w

    def summary(self) -> str:
        return (f"world '{self.name}': {len(self.rooms)} rooms, {len(self.furniture)} furniture, "
                f"{len(self.objects)} objects, {len(self.walls)} wall segments")


# ---- loading ----------------------------------------------------------------------------------
def _pair(v, what) -> tuple[float, float]:
    if not (isinstance(v, (list, tuple)) and len(v) == 2):
        raise WorldError(f"{what}: expected [x, y], got {v!r}")
    return (float(v[0]), float(v[1]))


def load_world(path: str | Path | None = None) -> WorldDescription:
    path = Path(path) if path else DEFAULT_WORLD
    try:
        raw = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as e:
        raise WorldError(f"cannot read world description {path}: {e}") from e
    return parse_world(raw, source=path)


def parse_world(raw: dict, source: Path | None = None) -> WorldDescription:
    if not isinstance(raw, dict):
        raise WorldError("world description must be a mapping")
    rooms = {}
    for name, r in (raw.get("rooms") or {}).items():
        rect = tuple(float(v) for v in r["rect"])
        if len(rect) != 4 or rect[0] >= rect[2] or rect[1] >= rect[3]:
            raise WorldError(f"room '{name}': rect must be [xmin, ymin, xmax, ymax]")
        spot = _pair(r.get("user_spot", ((rect[0] + rect[2]) / 2, (rect[1] + rect[3]) / 2)),
                     f"room '{name}' user_spot")
        rooms[name] = Room(name, rect, spot, tuple(r.get("aliases") or ()))
    if not rooms:
        raise WorldError("world has no rooms")
    doors = []
    for d in raw.get("doors") or []:
        a, b = d["between"]
        for n in (a, b):
            if n not in rooms:
                raise WorldError(f"door between unknown room '{n}'")
        doors.append(Door((a, b), _pair(d["at"], "door at"), float(d.get("width", 1.0))))
    furniture = {}
    for name, f in (raw.get("furniture") or {}).items():
        if f["room"] not in rooms:
            raise WorldError(f"furniture '{name}' is in unknown room '{f['room']}'")
        side = f.get("approach", "+y")
        if side not in SIDES:
            raise WorldError(f"furniture '{name}': approach must be one of {sorted(SIDES)}")
        size = tuple(float(v) for v in f["size"])
        furniture[name] = Furniture(name, f["room"], _pair(f["at"], f"furniture '{name}' at"),
                                    size, bool(f.get("surface", True)), side,
                                    tuple(f.get("aliases") or ()))
        if not rooms[f["room"]].contains(*furniture[name].at):
            raise WorldError(f"furniture '{name}' is not inside room '{f['room']}'")
    objects = {}
    for name, o in (raw.get("objects") or {}).items():
        if True in o:  # YAML 1.1 reads a bare `on:` key as the boolean true
            raise WorldError(f"object '{name}': use `rests_on:`, not `on:` (YAML reads `on` as true)")
        for key in ("rests_on", "home"):
            if o.get(key) not in furniture or not furniture[o[key]].surface:
                raise WorldError(f"object '{name}': {key} '{o[key]}' is not a surface furniture")
        if o["shape"] not in ("box", "cylinder", "sphere"):
            raise WorldError(f"object '{name}': unknown shape '{o['shape']}'")
        objects[name] = ObjectSpec(name, o["shape"], tuple(float(v) for v in o["size"]),
                                   str(o.get("color", "")), tuple(float(v) for v in o.get("rgba", (0.5, 0.5, 0.5, 1))),
                                   o["rests_on"], o["home"], tuple(o.get("aliases") or ()))
    names = list(rooms) + list(furniture) + list(objects)
    dup = {n for n in names if names.count(n) > 1} | ({"user"} & set(names))
    if dup:
        raise WorldError(f"names must be unique and not 'user': {sorted(dup)}")
    robot = raw.get("robot") or {}
    start = robot.get("start") or {}
    x, y = _pair(start.get("at", rooms[next(iter(rooms))].center), "robot start")
    user_room = (raw.get("user") or {}).get("room", next(iter(rooms)))
    if user_room not in rooms:
        raise WorldError(f"user is in unknown room '{user_room}'")
    w = WorldDescription(
        name=str(raw.get("name", "world")), rooms=rooms, doors=doors, furniture=furniture,
        objects=objects, robot_start=(x, y, float(start.get("yaw", 0.0))),
        robot_radius=float(robot.get("radius", 0.25)), user_room=user_room,
        wall_height=float(raw.get("wall_height", 1.2)),
        wall_thickness=float(raw.get("wall_thickness", 0.1)), source=source,
        reach_top=float(robot.get("reach_top", REACH_TOP)))
    w.walls = _walls(rooms, doors)
    w.robot_start_room()
    w.object_slots()
    return w


def _walls(rooms: dict[str, Room], doors: list[Door]) -> list[Wall]:
    """Wall segments on every room edge, shared edges merged, door openings cut out."""
    lines: dict[tuple[str, float], list[list[float]]] = {}
    for r in rooms.values():
        x0, y0, x1, y1 = r.rect
        for key, a, b in ((("h", y0), x0, x1), (("h", y1), x0, x1),
                          (("v", x0), y0, y1), (("v", x1), y0, y1)):
            lines.setdefault((key[0], round(key[1], 6)), []).append([a, b])
    walls = []
    for (axis, c), spans in sorted(lines.items()):
        spans.sort()
        merged = [spans[0][:]]
        for a, b in spans[1:]:
            if a <= merged[-1][1] + 1e-9:
                merged[-1][1] = max(merged[-1][1], b)
            else:
                merged.append([a, b])
        cuts = []
        for d in doors:
            dc, along = (d.at[1], d.at[0]) if axis == "h" else (d.at[0], d.at[1])
            if abs(dc - c) < 1e-6:
                cuts.append((along - d.width / 2, along + d.width / 2))
        for a, b in merged:
            pieces = [(a, b)]
            for ca, cb in cuts:
                nxt = []
                for pa, pb in pieces:
                    if cb <= pa or ca >= pb:
                        nxt.append((pa, pb))
                        continue
                    if ca > pa:
                        nxt.append((pa, ca))
                    if cb < pb:
                        nxt.append((cb, pb))
                pieces = nxt
            for pa, pb in pieces:
                if pb - pa > 1e-6:
                    walls.append(Wall((pa, c), (pb, c)) if axis == "h" else Wall((c, pa), (c, pb)))
    return walls
