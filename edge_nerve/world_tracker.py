"""What the robot currently knows about the world, as a symbolic state.

Why: the plan executor checks every step against the robot's own view of the world, and the
cloud link sends that view with each command. Both build it from the same observations
(odometry, object states); this class keeps the latest of each and abstracts them.

    .venv/bin/python -m pytest tests/unit/test_execution.py -q
"""

from __future__ import annotations

from dataclasses import dataclass, field

from cloud_brain.domain.description import WorldDescription
from cloud_brain.domain.state import WorldState
from sim.world_model import symbolic_state


@dataclass
class WorldTracker:
    desc: WorldDescription  # with the run's overrides applied (user room, object homes)
    robot_pose: tuple[float, float, float] | None = None  # x, y, yaw from odometry
    object_poses: dict[str, tuple] = field(default_factory=dict)  # name -> (x, y, z, qw, qx, qy, qz)
    holding: str | None = None
    delivered: frozenset[str] = frozenset()
    docked: bool = False

    def update_odometry(self, x: float, y: float, yaw: float) -> None:
        self.robot_pose = (x, y, yaw)

    def update_objects(self, poses: dict[str, tuple], holding: str | None, delivered, docked: bool) -> None:
        self.object_poses = dict(poses)
        self.holding = holding or None
        self.delivered = frozenset(delivered)
        self.docked = bool(docked)

    @property
    def ready(self) -> bool:
        return self.robot_pose is not None and bool(self.object_poses)

    def state(self) -> WorldState | None:
        if not self.ready:
            return None
        return symbolic_state(self.desc, self.robot_pose, self.object_poses, self.holding,
                              set(self.delivered), self.docked)
