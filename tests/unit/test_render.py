"""Pictures (sim/render.py): offscreen MuJoCo renders of a HomeSim through OSMesa, and the 2D map.

The renders run in a child process with MUJOCO_GL=osmesa, because MuJoCo picks its OpenGL backend
when it is first imported and other tests in this process import it first. They are skipped when
Debian's libosmesa6 is missing (apt-get install -y libosmesa6).

    .venv/bin/python -m pytest tests/unit/test_render.py -q
"""

from __future__ import annotations

import ctypes.util
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
from matplotlib.image import imread

from cloud_brain.domain.description import load_world
from sim.home_sim import HomeSim
from sim.render import RenderError, draw_map, render_scene

ROOT = Path(__file__).resolve().parents[2]
OFFICE = Path(__file__).parent / "office_world.yaml"

needs_osmesa = pytest.mark.skipif(ctypes.util.find_library("OSMesa") is None,
                                  reason="libOSMesa not found: apt-get install -y libosmesa6 (MuJoCo offscreen rendering)")


def _busy(png: Path, min_colours: int = 50) -> np.ndarray:
    """The image, after checking it is a real picture: not uniform, many distinct colours."""
    img = imread(png)[..., :3]
    assert img.std() > 0.05, f"{png.name} is nearly uniform"
    rgb = (img * 255).astype(np.uint32)
    packed = rgb[..., 0] << 16 | rgb[..., 1] << 8 | rgb[..., 2]  # one int per colour: a fast unique
    assert len(np.unique(packed)) >= min_colours, png.name
    return img


@needs_osmesa
def test_renders_of_a_homesim_are_real_pictures(tmp_path):
    script = textwrap.dedent(f"""
        from cloud_brain.domain.description import load_world
        from sim.home_sim import HomeSim
        from sim.render import render_scene
        for key, world in (("home", None), ("office", {str(OFFICE)!r})):
            sim = HomeSim(load_world(world))
            sim.set_base_twist(0.3, 0.0, 0.4)
            sim.step(1.0)
            for cam in ("overview", "robot"):
                render_scene(sim, {str(tmp_path)!r} + f"/{{key}}_{{cam}}.png", camera=cam, width=320, height=240)
    """)
    env = {**os.environ, "MUJOCO_GL": "osmesa"}
    r = subprocess.run([sys.executable, "-c", script], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr[-3000:]
    for key in ("home", "office"):
        over = _busy(tmp_path / f"{key}_overview.png")
        chase = _busy(tmp_path / f"{key}_robot.png")
        assert over.shape == chase.shape == (240, 320, 3)
        assert np.abs(over - chase).mean() > 0.05  # two different viewpoints


def test_render_rejects_unknown_cameras_and_oversized_frames(tmp_path):
    sim = HomeSim(load_world())
    with pytest.raises(RenderError, match="unknown camera"):
        render_scene(sim, tmp_path / "x.png", camera="ceiling")
    with pytest.raises(RenderError, match="offscreen buffer"):
        render_scene(sim, tmp_path / "x.png", width=4000, height=3000)
    assert not (tmp_path / "x.png").exists()


@pytest.mark.parametrize("world", [None, OFFICE], ids=["home", "office"])
def test_draw_map_writes_a_map_with_path_and_events(tmp_path, world):
    desc = load_world(world)
    x0, y0, _ = desc.robot_start
    path = [(x0 + 0.02 * i, y0 - 0.01 * i) for i in range(60)]
    events = [(x0, y0, "start"), (*path[30], "navigate(somewhere)"), (*path[-1], "pick(thing)"),
              (*path[-1], "say(done)")]  # the last two share a marker
    out = draw_map(desc, path, tmp_path / "maps" / "map.png", events=events)
    assert out == tmp_path / "maps" / "map.png"
    img = _busy(out)
    assert img.shape[0] > 400 and img.shape[1] > 400
    # an empty path and no events still draw the world
    _busy(draw_map(desc, [], tmp_path / "empty.png"))
