"""The symbolic world state the planner reasons over and the edge checks each step against.

Why symbolic: a plan is a sequence of skills over named entities; its validity (preconditions,
effects, goals) is decided on this abstraction, which the cloud gets from the edge's world
snapshot and the edge derives from what its sensors report.

    python -c "from cloud_brain.domain.state import WorldState; print(WorldState.initial())"
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from cloud_brain.domain.description import WorldDescription, load_world

ROBOT = "robot"  # object location while held
USER = "user"  # object location once handed over; also a navigation target


@dataclass(frozen=True)
class WorldState:
    desc: WorldDescription = field(repr=False, compare=False)
    objects: tuple[tuple[str, str], ...]  # sorted (object, furniture | "robot" | "user")
    robot_room: str
    robot_at: str | None  # furniture name, "user", or None (somewhere in robot_room)
    user_room: str
    docked: bool = False

    # ---- construction --------------------------------------------------------------------
    @classmethod
    def initial(cls, desc: WorldDescription | None = None, overrides: dict | None = None) -> "WorldState":
        """The description's default state, with a case's `world` overrides applied."""
        desc = (desc or load_world()).with_overrides(overrides)
        robot_room = desc.robot_start_room()
        robot_at = None
        if overrides and overrides.get("robot") in desc.furniture:
            robot_at = overrides["robot"]
        return cls(desc, tuple(sorted((o.name, o.on) for o in desc.objects.values())),
                   robot_room, robot_at, desc.user_room, False)

    @classmethod
    def from_snapshot(cls, desc: WorldDescription, snap: dict) -> "WorldState":
        """From the wire form (the fields of brainstem.v1.WorldSnapshot as a dict)."""
        objects = dict((o.name, o.on) for o in desc.objects.values())
        objects.update(snap.get("object_locations") or {})
        robot_at = snap.get("robot_at") or None
        return cls(desc, tuple(sorted(objects.items())),
                   snap.get("robot_room") or desc.robot_start_room(), robot_at,
                   snap.get("user_room") or desc.user_room, bool(snap.get("docked", False)))

    def to_snapshot(self) -> dict:
        return {"world_name": self.desc.name, "object_locations": dict(self.objects),
                "robot_room": self.robot_room, "robot_at": self.robot_at or "",
                "holding": self.holding or "", "user_room": self.user_room,
                "docked": self.docked}

    # ---- queries -------------------------------------------------------------------------
    @property
    def object_map(self) -> dict[str, str]:
        return dict(self.objects)

    @property
    def holding(self) -> str | None:
        for o, where in self.objects:
            if where == ROBOT:
                return o
        return None

    def location_of(self, obj: str) -> str:
        return self.object_map[obj]

    def room_of_object(self, obj: str) -> str | None:
        where = self.location_of(obj)
        if where == ROBOT:
            return self.robot_room
        if where == USER:
            return self.user_room
        return self.desc.furniture[where].room

    # ---- updates -------------------------------------------------------------------------
    def with_object(self, obj: str, where: str) -> "WorldState":
        m = self.object_map
        m[obj] = where
        return replace(self, objects=tuple(sorted(m.items())))

    def moved_to(self, room: str, at: str | None) -> "WorldState":
        return replace(self, robot_room=room, robot_at=at, docked=False)
