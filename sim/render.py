"""Pictures of a run: offscreen MuJoCo renders of the home (an overview from above at an angle, a
chase camera behind the robot) and a top-down 2D map of the world with the robot's path.

Why: a demo or a failed test is understood at a glance from a picture of where the robot went and
what the scene looked like; these need no display (MuJoCo renders through OSMesa, software
OpenGL; the map is matplotlib's Agg canvas) so they run on CI and headless servers.

MuJoCo picks its OpenGL backend when `mujoco` is first imported, from MUJOCO_GL. This module
defaults it to "osmesa" (Debian package libosmesa6) when it is imported before mujoco; a process
that imported mujoco first must set MUJOCO_GL=osmesa (or egl) in its environment itself.

    MUJOCO_GL=osmesa python -m sim.render --out /tmp/pics [--world tests/unit/office_world.yaml]
"""

from __future__ import annotations

import os

os.environ.setdefault("MUJOCO_GL", "osmesa")  # before the first `import mujoco` (see the docstring)

import argparse  # noqa: E402
import logging  # noqa: E402
import math  # noqa: E402
import sys  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Sequence  # noqa: E402

import mujoco  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.collections import LineCollection  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from matplotlib.image import imsave  # noqa: E402
from matplotlib.patches import Circle, Rectangle  # noqa: E402

from cloud_brain.domain.description import WorldDescription, load_world  # noqa: E402
from sim.home_sim import HomeSim  # noqa: E402
from sim.mjcf import _rgba_for  # noqa: E402

log = logging.getLogger(__name__)

CAMERAS = {"overview": "overview", "robot": "chase"}  # render_scene's names -> MJCF camera names
# lighting of the pictures only (the renderer's scene, not the model): some ambient light and a
# slanted sun, so that walls' sides are shaded rather than black and the floor is not washed out
LIGHT_AMBIENT = 0.12
SUN_DIR = tuple(np.array([0.25, 0.4, -0.88]) / np.linalg.norm([0.25, 0.4, -0.88]))
USER_RGB = (0.25, 0.45, 0.65)  # the MJCF user's shirt
LABEL_CHAR_M, LABEL_HEIGHT_M = 0.16, 0.3  # about the size of a room label's letter, in metres on the map
EVENT_MERGE_M = 0.3  # events closer than this share one marker
ROOM_COLOURS = ("#f3e9d2", "#dbe8f1", "#e6f0dc", "#f1dfe6", "#ece6f5", "#f5efd9", "#dff0ee", "#f0e2d6")


class RenderError(RuntimeError):
    """Offscreen rendering is not available (no OpenGL backend) or the request is invalid."""


def render_scene(sim: HomeSim, path: str | Path, camera: str = "overview", width: int = 960,
                 height: int = 720) -> Path:
    """Write a PNG of the sim's current physics state seen from `camera`: "overview" (the whole
    home from above at an angle), "robot" (a chase camera behind the robot, turning with it) or any
    camera named in the MJCF. Returns the path."""
    name = CAMERAS.get(camera, camera)
    if mujoco.mj_name2id(sim.model, mujoco.mjtObj.mjOBJ_CAMERA, name) < 0:
        raise RenderError(f"unknown camera {camera!r}; known: {sorted(CAMERAS)}")
    vis = sim.model.vis.global_
    if width > vis.offwidth or height > vis.offheight:
        raise RenderError(f"{width}x{height} exceeds the offscreen buffer {vis.offwidth}x{vis.offheight}")
    try:
        renderer = mujoco.Renderer(sim.model, height=height, width=width)
    except Exception as e:  # no GL backend: say which variable and package fix it
        raise RenderError(f"cannot create an offscreen MuJoCo renderer (MUJOCO_GL={os.environ.get('MUJOCO_GL')!r}; "
                          f"install libosmesa6 and set MUJOCO_GL=osmesa before importing mujoco): {e}") from e
    try:
        renderer.update_scene(sim.data, camera=name)
        scene = renderer.scene
        for light in scene.lights[:scene.nlight]:
            light.ambient = np.maximum(light.ambient, LIGHT_AMBIENT)
            if not light.headlight:  # the MJCF sun shines straight down: slant it so walls' sides show
                light.dir = SUN_DIR
        if name == CAMERAS["robot"]:  # close up, the shadow map's texels show as saw teeth on the robot
            scene.flags[mujoco.mjtRndFlag.mjRND_SHADOW] = False
        pixels = renderer.render()  # (H, W, 3) uint8
    finally:
        renderer.close()  # frees the GL context now, not whenever the garbage collector runs
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    imsave(path, pixels)
    return path


# ---- the 2D map ----------------------------------------------------------------------------------
def _label_spot(desc: WorldDescription, rect, w: float, h: float):
    """Anchor ((x, y), ha, va) for a w x h label inside a room: the first corner or edge middle
    where it overlaps no furniture (the upper-left corner if none is free)."""
    x0, y0, x1, y1 = rect
    pad = 0.15
    cands = [((x0 + pad, y1 - pad), "left", "top"), ((x1 - pad, y1 - pad), "right", "top"),
             (((x0 + x1) / 2, y1 - pad), "center", "top"), ((x0 + pad, y0 + pad), "left", "bottom"),
             ((x1 - pad, y0 + pad), "right", "bottom"), (((x0 + x1) / 2, y0 + pad), "center", "bottom")]
    for (x, y), ha, va in cands:
        lx0 = x if ha == "left" else x - w if ha == "right" else x - w / 2
        ly0 = y - h if va == "top" else y
        if lx0 < x0 or lx0 + w > x1:
            continue
        if not any(abs(lx0 + w / 2 - f.at[0]) < (w + f.size[0]) / 2 and abs(ly0 + h / 2 - f.at[1]) < (h + f.size[1]) / 2
                   for f in desc.furniture.values()):
            return (x, y), ha, va
    return cands[0]


def _rgb(rgba: str | Sequence[float]) -> tuple[float, float, float]:
    vals = [float(v) for v in rgba.split()] if isinstance(rgba, str) else list(rgba)
    return tuple(vals[:3])


def draw_map(desc: WorldDescription, path_xy: Sequence[tuple[float, float]], out_png: str | Path,
             events: Sequence[tuple[float, float, str]] = (), object_xy: dict[str, Sequence[float]] | None = None,
             title: str | None = None, dpi: int = 110) -> Path:
    """A top-down map PNG: rooms (named), walls with their door gaps, furniture, objects (at their
    described places, or at `object_xy` {name: (x, y, ...)}), the user, the robot's path coloured
    by time (start and end marked) and numbered event labels [(x, y, label)]. Returns the path."""
    xs = [v for r in desc.rooms.values() for v in (r.rect[0], r.rect[2])]
    ys = [v for r in desc.rooms.values() for v in (r.rect[1], r.rect[3])]
    x0, x1, y0, y1 = min(xs), max(xs), min(ys), max(ys)
    margin = 0.6
    scale = 9.0 / max(x1 - x0, y1 - y0)  # inches per metre: the long side about 9 in
    fig = Figure(figsize=((x1 - x0 + 2 * margin) * scale + 1.6, (y1 - y0 + 2 * margin) * scale + 0.6))
    ax = fig.add_subplot(1, 1, 1)
    ax.set_aspect("equal")
    ax.set_xlim(x0 - margin, x1 + margin)
    ax.set_ylim(y0 - margin, y1 + margin)
    ax.set_xlabel("x [m] (east)")
    ax.set_ylabel("y [m] (north)")
    ax.set_title(title or f"{desc.name}: {len(desc.rooms)} rooms, robot path")
    ax.set_facecolor("#d9d9d9")

    # rooms, each named in the first corner (or edge middle) where the label misses the furniture
    for i, room in enumerate(desc.rooms.values()):
        rx0, ry0, rx1, ry1 = room.rect
        ax.add_patch(Rectangle((rx0, ry0), rx1 - rx0, ry1 - ry0, facecolor=ROOM_COLOURS[i % len(ROOM_COLOURS)],
                               edgecolor="none", zorder=0))
        text = room.name.replace("_", " ")
        (lx, ly), ha, va = _label_spot(desc, room.rect, LABEL_CHAR_M * len(text), LABEL_HEIGHT_M)
        ax.text(lx, ly, text, ha=ha, va=va, fontsize=11, fontweight="bold", color="#444444", zorder=6)
    # walls as their real thickness; doors as the gaps between them, marked by a swing arc
    t = desc.wall_thickness
    for wall in desc.walls:
        (wx0, wy0), (wx1, wy1) = wall.start, wall.end
        ax.add_patch(Rectangle((min(wx0, wx1) - t / 2, min(wy0, wy1) - t / 2), abs(wx1 - wx0) + t,
                               abs(wy1 - wy0) + t, facecolor="#3b3b3b", edgecolor="none", zorder=2))
    for door in desc.doors:
        dx, dy = door.at
        horizontal = any(abs(w.start[1] - dy) < 1e-6 and abs(w.end[1] - dy) < 1e-6 for w in desc.walls)
        half = door.width / 2
        if horizontal:
            seg = ([dx - half, dx + half], [dy, dy])
        else:
            seg = ([dx, dx], [dy - half, dy + half])
        ax.plot(*seg, color="#a0522d", lw=2.0, ls=(0, (2, 2)), zorder=3)
    # furniture
    for f in desc.furniture.values():
        sx, sy, _ = f.size
        ax.add_patch(Rectangle((f.at[0] - sx / 2, f.at[1] - sy / 2), sx, sy, facecolor=_rgb(_rgba_for(f.name)),
                               edgecolor="#222222", lw=1.0, zorder=3))
        label_y = f.at[1] + (sy / 2 + 0.12 if f.at[1] < (y0 + y1) / 2 else -sy / 2 - 0.12)
        ax.text(f.at[0], label_y, f.name.replace("_", " "), ha="center", va="bottom" if label_y > f.at[1] else "top",
                fontsize=8, color="#222222", zorder=6,
                bbox=dict(boxstyle="round,pad=0.15", facecolor="white", alpha=0.7, edgecolor="none"))
    # objects, at the given or described places
    slots = desc.object_slots()
    for o in desc.objects.values():
        x, y = (object_xy[o.name][:2] if object_xy and o.name in object_xy else slots[o.name][:2])
        r = max(0.07, o.size[0] if o.shape != "box" else max(o.size[:2]) / 2)
        ax.add_patch(Circle((x, y), r, facecolor=_rgb(o.rgba), edgecolor="black", lw=0.8, zorder=5))
    # the user
    ux, uy = desc.user_position()
    ax.add_patch(Circle((ux, uy), 0.17, facecolor=USER_RGB, edgecolor="black", lw=1.0, zorder=5))
    ax.text(ux, uy, "user", ha="center", va="center", fontsize=7, color="white", fontweight="bold", zorder=6)

    # the robot's path, coloured by time; where it started and where it is now
    pts = np.asarray(path_xy, dtype=float).reshape(-1, 2)
    handles, labels = [], []
    if len(pts) >= 2:
        segs = np.stack([pts[:-1], pts[1:]], axis=1)  # (N-1, 2, 2): one segment per pair of samples
        lc = LineCollection(segs, cmap="plasma", linewidths=3.0, zorder=7)
        lc.set_array(np.linspace(0.0, 1.0, len(segs)))
        ax.add_collection(lc)
        cbar = fig.colorbar(lc, ax=ax, fraction=0.04, pad=0.12, location="bottom", aspect=40)
        cbar.set_label("robot path, coloured by time")
        cbar.set_ticks([0.0, 1.0], labels=["start", "end"])
    if len(pts):
        handles.append(ax.add_patch(Circle(tuple(pts[0]), desc.robot_radius, facecolor="none", edgecolor="#0d0887",
                                           lw=2.0, ls="--", zorder=8)))
        labels.append("robot at the start")
        handles.append(ax.add_patch(Circle(tuple(pts[-1]), desc.robot_radius, facecolor="#f0f921", edgecolor="black",
                                           lw=1.5, alpha=0.85, zorder=8)))
        labels.append("robot at the end")
    handles.append(Circle((0, 0), 0.1, facecolor=USER_RGB, edgecolor="black"))
    labels.append("user")
    for o in desc.objects.values():  # colours alone do not say which object is which
        handles.append(Circle((0, 0), 0.1, facecolor=_rgb(o.rgba), edgecolor="black"))
        labels.append(o.name.replace("_", " "))
    ax.legend(handles, labels, loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8, frameon=False)
    # numbered events (skill steps); events at one spot share a marker ("4,5") and a label box
    groups: list[tuple[float, float, list[int], list[str]]] = []
    for i, (ex, ey, label) in enumerate(events, start=1):
        if groups and math.hypot(ex - groups[-1][0], ey - groups[-1][1]) < EVENT_MERGE_M:
            groups[-1][2].append(i)
            groups[-1][3].append(f"{i}. {label}")
        else:
            groups.append((float(ex), float(ey), [i], [f"{i}. {label}"]))
    for k, (ex, ey, ids, texts) in enumerate(groups):
        tag = ",".join(str(i) for i in ids)
        ax.plot([ex], [ey], marker="o", ms=9 + 5 * len(tag), mfc="white", mec="black", zorder=10)
        ax.text(ex, ey, tag, ha="center", va="center", fontsize=8, fontweight="bold", zorder=11)
        right = k % 2 == 0  # alternate up-right / up-left, so that neighbouring labels do not overlap
        ax.annotate("\n".join(texts), (ex, ey), xytext=(14 if right else -14, 14), ha="left" if right else "right",
                    textcoords="offset points", fontsize=8, zorder=11,
                    bbox=dict(boxstyle="round,pad=0.25", facecolor="#fffbe6", alpha=0.75),
                    arrowprops=dict(arrowstyle="-", color="#555555", lw=0.8))
    out = Path(out_png)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=dpi, bbox_inches="tight")  # "tight": keeps the legend beside the axes
    return out


# ---- a runnable sample ---------------------------------------------------------------------------
def main(argv: list[str] | None = None) -> int:
    """Drive the robot a little with a scripted twist and write overview.png, robot.png, map.png."""
    ap = argparse.ArgumentParser(prog="python -m sim.render", description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", required=True, help="output folder (created)")
    ap.add_argument("--world", default=None, help="world description YAML (default: the home)")
    ap.add_argument("--seconds", type=float, default=3.0, help="seconds of scripted driving before the renders")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    desc = load_world(args.world)
    sim = HomeSim(desc)
    path = [sim.robot_pose()[:2]]
    sim.set_base_twist(0.3, 0.0, 0.25)  # a gentle left curve from the start pose
    for _ in range(max(1, int(args.seconds / 0.1))):
        sim.step(0.1)
        path.append(sim.robot_pose()[:2])
    sim.set_base_twist(0.0, 0.0, 0.0)
    sim.step(0.5)
    out = Path(args.out)
    for cam in CAMERAS:
        log.info("wrote %s", render_scene(sim, out / f"{cam}.png", camera=cam))
    events = [(*path[0], "start"), (*path[-1], f"after {args.seconds:g} s")]
    log.info("wrote %s", draw_map(desc, path, out / "map.png", events=events,
                                  object_xy={o: p[:2] for o, p in sim.object_poses().items()}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
