"""Navigation for the holonomic base: occupancy grid, A*, path shortcutting, path following.

Why here: the navigate/dock teachers (and the ROS skill runner when it runs a teacher directly)
need collision-free paths through the rooms and doors of any world in the description format.
The grid is built from the description's geometry (walls, furniture footprints, the user),
inflated by the robot radius plus a margin, so the base centre may go wherever a cell is free.

    /tmp/probe/v/bin/python -c "from edge_nerve.skills.navigation import *; from cloud_brain.domain.description import load_world; d=load_world(); g=OccupancyGrid(d); print(g.plan(d.robot_start[:2], goal_pose(d, g, 'kitchen_counter', d.robot_start[:2])[:2]))"
"""

from __future__ import annotations

import heapq
import math
from collections import deque
from typing import Sequence

import numpy as np

from cloud_brain.domain.description import WorldDescription
from cloud_brain.domain.state import USER
from sim.world_model import AT_RADIUS, USER_BODY_RADIUS, USER_STANDOFF, robot_at_of, user_facing, wrap

Point = tuple[float, float]

NAV_MARGIN = 0.05  # m: clearance kept beyond the robot radius
MAX_LIN_VEL = 0.8  # m/s
MAX_ANG_VEL = 1.5  # rad/s
MAX_DECEL = 0.6  # m/s^2 used to shape the approach speed
LOOKAHEAD = 0.4  # m
POS_TOL = 0.03  # m
YAW_TOL = 0.05  # rad
ROOM_GOAL_AWAY = AT_RADIUS + 0.1  # m: a room's goal keeps this far from being "at" anything


class OccupancyGrid:
    """A 2-D grid over the world's rooms. clearance[iy, ix]: metres from the cell centre to the
    nearest obstacle (0 outside every room); a cell is free when clearance >= inflation."""

    def __init__(self, desc: WorldDescription, resolution: float = 0.05,
                 inflation: float | None = None, include_user: bool = True):
        self.desc = desc
        self.res = resolution
        self.inflation = desc.robot_radius + NAV_MARGIN if inflation is None else inflation
        xs = [v for r in desc.rooms.values() for v in (r.rect[0], r.rect[2])]
        ys = [v for r in desc.rooms.values() for v in (r.rect[1], r.rect[3])]
        self.x0, self.y0 = min(xs) - 0.2, min(ys) - 0.2
        self.nx = int(math.ceil((max(xs) + 0.2 - self.x0) / resolution))
        self.ny = int(math.ceil((max(ys) + 0.2 - self.y0) / resolution))
        cx = self.x0 + (np.arange(self.nx) + 0.5) * resolution  # (nx,) cell centres, m
        cy = self.y0 + (np.arange(self.ny) + 0.5) * resolution  # (ny,)
        X, Y = np.meshgrid(cx, cy)  # (ny, nx)
        clear = np.full(X.shape, np.inf)
        t = desc.wall_thickness / 2
        rects = []  # (centre x, centre y, half x, half y)
        for w in desc.walls:
            (ax, ay), (bx, by) = w.start, w.end
            horizontal = abs(by - ay) < 1e-9
            rects.append(((ax + bx) / 2, (ay + by) / 2,
                          abs(bx - ax) / 2 if horizontal else t, t if horizontal else abs(by - ay) / 2))
        for f in desc.furniture.values():
            rects.append((f.at[0], f.at[1], f.size[0] / 2, f.size[1] / 2))
        for rx, ry, hx, hy in rects:
            d = np.hypot(np.maximum(np.abs(X - rx) - hx, 0.0), np.maximum(np.abs(Y - ry) - hy, 0.0))
            np.minimum(clear, d, out=clear)
        if include_user:
            ux, uy = desc.user_position()
            np.minimum(clear, np.maximum(np.hypot(X - ux, Y - uy) - USER_BODY_RADIUS, 0.0), out=clear)
        inside = np.zeros(X.shape, dtype=bool)
        for r in desc.rooms.values():
            inside |= (X >= r.rect[0]) & (X <= r.rect[2]) & (Y >= r.rect[1]) & (Y <= r.rect[3])
        clear[~inside] = 0.0
        self.clearance = clear  # (ny, nx) m
        self.free = clear >= self.inflation  # (ny, nx) bool

    # ---- coordinates --------------------------------------------------------------------
    def cell(self, x: float, y: float) -> tuple[int, int]:
        """(ix, iy) of the cell containing (x, y), clamped to the grid."""
        ix = int((x - self.x0) / self.res)
        iy = int((y - self.y0) / self.res)
        return (min(max(ix, 0), self.nx - 1), min(max(iy, 0), self.ny - 1))

    def center(self, ix: int, iy: int) -> Point:
        return (self.x0 + (ix + 0.5) * self.res, self.y0 + (iy + 0.5) * self.res)

    def is_free(self, x: float, y: float) -> bool:
        ix, iy = self.cell(x, y)
        return bool(self.free[iy, ix])

    def clearance_at(self, x: float, y: float) -> float:
        ix, iy = self.cell(x, y)
        return float(self.clearance[iy, ix])

    def segment_clearance(self, a: Point, b: Point) -> float:
        """Smallest clearance of the cells along the segment a-b (sampled every half cell)."""
        n = max(2, int(math.hypot(b[0] - a[0], b[1] - a[1]) / (self.res / 2)) + 1)
        xs = np.linspace(a[0], b[0], n)
        ys = np.linspace(a[1], b[1], n)
        ix = np.clip(((xs - self.x0) / self.res).astype(int), 0, self.nx - 1)
        iy = np.clip(((ys - self.y0) / self.res).astype(int), 0, self.ny - 1)
        return float(self.clearance[iy, ix].min())

    # ---- search -------------------------------------------------------------------------
    def nearest_free(self, x: float, y: float, mask: np.ndarray | None = None) -> Point | None:
        """Centre of the free cell (within `mask` if given) nearest to (x, y); None if none."""
        ok = self.free if mask is None else (self.free & mask)
        iy, ix = np.nonzero(ok)
        if len(ix) == 0:
            return None
        cx = self.x0 + (ix + 0.5) * self.res
        cy = self.y0 + (iy + 0.5) * self.res
        k = int(np.argmin((cx - x) ** 2 + (cy - y) ** 2))
        return (float(cx[k]), float(cy[k]))

    def reachable(self, start: Point) -> np.ndarray:
        """(ny, nx) bool: free cells connected (8-neighbourhood) to the free cell nearest start."""
        out = np.zeros_like(self.free)
        s = start if self.is_free(*start) else self.nearest_free(*start)
        if s is None:
            return out
        ix, iy = self.cell(*s)
        free = self.free
        out[iy, ix] = True
        q = deque([(ix, iy)])
        nx, ny = self.nx, self.ny
        while q:
            x, y = q.popleft()
            for dx in (-1, 0, 1):
                for dy in (-1, 0, 1):
                    a, b = x + dx, y + dy
                    if 0 <= a < nx and 0 <= b < ny and free[b, a] and not out[b, a]:
                        out[b, a] = True
                        q.append((a, b))
        return out

    def astar(self, start: Point, goal: Point) -> list[Point] | None:
        """8-connected A* between the cells of start and goal (both snapped to the nearest free
        cell if inside an obstacle's inflation). Cost: length x (1 + 2 x closeness to obstacles),
        so paths keep to the middle of doors and corridors. None if unreachable."""
        s = start if self.is_free(*start) else self.nearest_free(*start)
        g = goal if self.is_free(*goal) else self.nearest_free(*goal)
        if s is None or g is None:
            return None
        sx, sy = self.cell(*s)
        gx, gy = self.cell(*g)
        nx = self.nx
        free = self.free.ravel().tolist()
        pref = self.inflation + 0.30
        penalty = (1.0 + 2.0 * np.clip((pref - self.clearance) / 0.30, 0.0, 1.0)).ravel().tolist()
        start_i, goal_i = sy * nx + sx, gy * nx + gx
        moves = [(dx, dy, math.hypot(dx, dy)) for dx in (-1, 0, 1) for dy in (-1, 0, 1) if dx or dy]
        best = {start_i: 0.0}
        parent = {start_i: -1}
        heap = [(math.hypot(gx - sx, gy - sy), 0.0, start_i)]
        closed = set()
        while heap:
            _, cost, i = heapq.heappop(heap)
            if i == goal_i:
                break
            if i in closed:
                continue
            closed.add(i)
            x, y = i % nx, i // nx
            for dx, dy, step in moves:
                a, b = x + dx, y + dy
                if not (0 <= a < nx and 0 <= b < self.ny):
                    continue
                j = b * nx + a
                if not free[j] or j in closed:
                    continue
                if dx and dy and not (free[y * nx + a] and free[b * nx + x]):
                    continue  # no corner cutting
                c = cost + step * 0.5 * (penalty[i] + penalty[j])
                if c < best.get(j, math.inf):
                    best[j] = c
                    parent[j] = i
                    heapq.heappush(heap, (c + math.hypot(gx - a, gy - b), c, j))
        if goal_i not in parent:
            return None
        cells = []
        i = goal_i
        while i != -1:
            cells.append(self.center(i % nx, i // nx))
            i = parent[i]
        cells.reverse()
        return cells

    def plan(self, start: Point, goal: Point) -> list[Point] | None:
        """A smoothed path [start, ..., goal] (metres), or None if the goal is unreachable."""
        cells = self.astar(start, goal)
        if cells is None:
            return None
        pts = [tuple(start)] + cells[1:-1] + [tuple(goal)] if len(cells) > 1 else [tuple(start), tuple(goal)]
        return shortcut(self, pts)


def shortcut(grid: OccupancyGrid, pts: list[Point]) -> list[Point]:
    """Greedy line-of-sight shortcutting: from each kept point jump to the farthest later point
    whose straight segment keeps at least the clearance the original path had there (capped at
    inflation + 0.1 m), so shortcuts never hug walls closer than the search did."""
    if len(pts) <= 2:
        return list(pts)
    clear = [grid.clearance_at(*p) for p in pts]
    out = [pts[0]]
    i = 0
    while i < len(pts) - 1:
        j = len(pts) - 1
        while j > i + 1:
            need = min(grid.inflation + 0.10, min(clear[i:j + 1])) - 1e-6
            if grid.segment_clearance(pts[i], pts[j]) >= need:
                break
            j -= 1
        out.append(pts[j])
        i = j
    return out


def path_length(path: Sequence[Point]) -> float:
    return sum(math.hypot(b[0] - a[0], b[1] - a[1]) for a, b in zip(path, path[1:]))


# ---- goals ----------------------------------------------------------------------------------
def user_goal_pose(desc: WorldDescription, grid: OccupancyGrid,
                   reach: np.ndarray | None = None) -> tuple[float, float, float] | None:
    """A pose facing the user, ~USER_STANDOFF (0.6-1.0 m) from the user's position, preferring
    the direction the user faces, on a free (and, with `reach`, reachable) cell where the robot
    counts as with the user (`robot_at_of`), not at a furniture beside them: a pose by the
    kitchen counter had the hand-over refused ("robot_at 'kitchen_counter', predicted 'user'")."""
    ux, uy = desc.user_position()
    fx, fy = user_facing(desc)
    base = math.atan2(fy, fx)
    for k in range(0, 19):  # 0, +10, -10, +20, ... degrees
        ang = base + math.radians(10 * ((k + 1) // 2) * (1 if k % 2 else -1))
        for d in np.arange(USER_STANDOFF - 0.1, 1.05, 0.05):
            x, y = ux + d * math.cos(ang), uy + d * math.sin(ang)
            if not grid.is_free(x, y) or grid.clearance_at(x, y) < grid.inflation + 0.01:
                continue
            ix, iy = grid.cell(x, y)
            if reach is not None and not reach[iy, ix]:
                continue
            if robot_at_of(desc, x, y) != USER:
                continue
            return (float(x), float(y), math.atan2(uy - y, ux - x))
    return None


def goal_pose(desc: WorldDescription, grid: OccupancyGrid, target: str,
              start: Point | None = None) -> tuple[float, float, float | None] | None:
    """(x, y, yaw) the base should reach for a navigate target: a furniture -> its approach pose;
    "user" -> user_goal_pose; a room -> its centre, or the free cell nearest it inside the room.
    yaw is None for rooms (any heading). With `start`, goals are moved to cells reachable from it.
    None if the target is unknown or cannot be reached."""
    reach = grid.reachable(start) if start is not None else None
    if target in desc.furniture:
        x, y, yaw = desc.furniture[target].approach_pose()
        ix, iy = grid.cell(x, y)
        if grid.free[iy, ix] and (reach is None or reach[iy, ix]):
            return (x, y, yaw)
        p = grid.nearest_free(x, y, reach)
        if p is None or math.hypot(p[0] - x, p[1] - y) > 0.3:
            return None
        return (p[0], p[1], yaw)
    if target == USER:
        return user_goal_pose(desc, grid, reach)
    if target in desc.rooms:
        # the centre, or the nearest roomy free cell inside the room; in either case not "at" a
        # furniture or the user, so the symbolic state after navigate(room) is robot_at None
        r = desc.rooms[target]
        cx, cy = r.center
        ix, iy = grid.cell(cx, cy)
        if (grid.clearance[iy, ix] >= grid.inflation + 0.1 and (reach is None or reach[iy, ix])
                and robot_at_of(desc, cx, cy, ROOM_GOAL_AWAY) is None):
            return (cx, cy, None)
        X = grid.x0 + (np.arange(grid.nx) + 0.5) * grid.res
        Y = grid.y0 + (np.arange(grid.ny) + 0.5) * grid.res
        in_room = ((X[None, :] > r.rect[0]) & (X[None, :] < r.rect[2])
                   & (Y[:, None] > r.rect[1]) & (Y[:, None] < r.rect[3]))
        if reach is not None:
            in_room &= reach
        roomy = in_room & (grid.clearance >= grid.inflation + 0.1)
        for mask in (roomy, in_room):
            iy_, ix_ = np.nonzero(mask & grid.free)
            order = np.argsort((X[ix_] - cx) ** 2 + (Y[iy_] - cy) ** 2)
            for k in order[:4000]:
                x, y = float(X[ix_[k]]), float(Y[iy_[k]])
                if robot_at_of(desc, x, y, ROOM_GOAL_AWAY) is None:
                    return (x, y, None)
        return None
    return None


# ---- following ------------------------------------------------------------------------------
class PathFollower:
    """Pure-pursuit-style follower for a holonomic base.

    Velocity points at a lookahead point LOOKAHEAD ahead along the path (world frame), speed
    limited by MAX_LIN_VEL, a deceleration profile to the goal and sharp turns ahead; heading
    follows the travel direction, then turns to the goal yaw over the last metre. step() returns
    a body-frame twist (vx, vy, wz) [m/s, m/s, rad/s] and whether the goal pose is reached."""

    def __init__(self, path: Sequence[Point], goal_yaw: float | None, max_v: float = MAX_LIN_VEL,
                 max_w: float = MAX_ANG_VEL, pos_tol: float = POS_TOL, yaw_tol: float = YAW_TOL,
                 lookahead: float = LOOKAHEAD):
        if len(path) < 1:
            raise ValueError("empty path")
        self.path = [tuple(map(float, p)) for p in path]
        if len(self.path) == 1:
            self.path = self.path * 2
        self.goal_yaw = goal_yaw
        self.max_v, self.max_w = max_v, max_w
        self.pos_tol, self.yaw_tol = pos_tol, yaw_tol
        self.lookahead = lookahead
        self._seg = 0  # index of the current path segment (monotonic)
        self.remaining = path_length(self.path)  # m along the path from the projection to the goal

    def _project(self, x: float, y: float) -> tuple[int, float]:
        """(segment, fraction) of the closest point on segments seg..seg+2 (no going back)."""
        best = (self._seg, 0.0, math.inf)
        for i in range(self._seg, min(self._seg + 3, len(self.path) - 1)):
            (ax, ay), (bx, by) = self.path[i], self.path[i + 1]
            dx, dy = bx - ax, by - ay
            L2 = dx * dx + dy * dy
            t = 0.0 if L2 < 1e-12 else max(0.0, min(1.0, ((x - ax) * dx + (y - ay) * dy) / L2))
            d = math.hypot(ax + t * dx - x, ay + t * dy - y)
            if d < best[2] - 1e-9:
                best = (i, t, d)
        return best[0], best[1]

    def _point_along(self, seg: int, t: float, dist: float) -> tuple[Point, float]:
        """The point `dist` metres along the path from (seg, t), and the turn angle [rad] of the
        path between here and there (0 for straight)."""
        (ax, ay), (bx, by) = self.path[seg], self.path[seg + 1]
        px, py = ax + t * (bx - ax), ay + t * (by - ay)
        heading0 = math.atan2(by - ay, bx - ax)
        turn = 0.0
        i = seg
        while True:
            bx, by = self.path[i + 1]
            L = math.hypot(bx - px, by - py)
            if dist <= L or i + 2 >= len(self.path):
                if dist >= L:
                    return (bx, by), turn
                f = dist / L if L > 1e-12 else 0.0
                return (px + f * (bx - px), py + f * (by - py)), turn
            dist -= L
            px, py = bx, by
            i += 1
            nx_, ny_ = self.path[i + 1]
            turn = max(turn, abs(wrap(math.atan2(ny_ - py, nx_ - px) - heading0)))

    def step(self, pose: Sequence[float]) -> tuple[tuple[float, float, float], bool]:
        x, y, yaw = pose[:3]
        gx, gy = self.path[-1]
        self._seg, t = self._project(x, y)
        (ax, ay), (bx, by) = self.path[self._seg], self.path[self._seg + 1]
        self.remaining = (math.hypot(bx - (ax + t * (bx - ax)), by - (ay + t * (by - ay)))
                          + path_length(self.path[self._seg + 1:]))
        dist_goal = math.hypot(gx - x, gy - y)
        yaw_err = wrap(self.goal_yaw - yaw) if self.goal_yaw is not None else 0.0
        if dist_goal <= self.pos_tol and abs(yaw_err) <= self.yaw_tol:
            return (0.0, 0.0, 0.0), True
        (lx, ly), turn = self._point_along(self._seg, t, self.lookahead)
        if dist_goal < self.lookahead or self.remaining < self.lookahead:
            lx, ly = gx, gy
        dx, dy = lx - x, ly - y
        n = math.hypot(dx, dy)
        rem = max(self.remaining, dist_goal)
        speed = min(self.max_v, math.sqrt(2 * MAX_DECEL * rem), 1.5 * dist_goal + 0.02)
        speed *= 0.35 + 0.65 * max(0.0, math.cos(min(turn, math.pi / 2)))
        if dist_goal <= self.pos_tol:
            speed = 0.0
        vx_w, vy_w = (dx / n * speed, dy / n * speed) if n > 1e-9 else (0.0, 0.0)
        # heading: travel direction while far, goal yaw over the last metre
        if self.goal_yaw is not None and rem < 1.0:
            target_yaw = self.goal_yaw
        elif rem > 0.3 and n > 1e-9:
            target_yaw = math.atan2(dy, dx)
        else:
            target_yaw = yaw if self.goal_yaw is None else self.goal_yaw
        e = wrap(target_yaw - yaw)
        wz = max(-self.max_w, min(self.max_w, 2.5 * e))
        c, s = math.cos(yaw), math.sin(yaw)
        return (c * vx_w + s * vy_w, -s * vx_w + c * vy_w, wz), False


def pose_controller(pose: Sequence[float], goal: Sequence[float], max_v: float = 0.25,
                    max_w: float = 0.8, k: float = 2.0, kw: float = 3.0) -> tuple[float, float, float]:
    """Body-frame twist (vx, vy, wz) driving the base straight to a nearby goal (x, y, yaw):
    proportional, saturated; for the fine alignments of the manipulation skills."""
    x, y, yaw = pose[:3]
    dx, dy = goal[0] - x, goal[1] - y
    d = math.hypot(dx, dy)
    v = min(max_v, k * d)
    vx_w, vy_w = (dx / d * v, dy / d * v) if d > 1e-9 else (0.0, 0.0)
    wz = max(-max_w, min(max_w, kw * wrap(goal[2] - yaw)))
    c, s = math.cos(yaw), math.sin(yaw)
    return (c * vx_w + s * vy_w, -s * vx_w + c * vy_w, wz)
