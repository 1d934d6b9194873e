"""The launch files and their parameter files follow the one node graph (edge_nerve.bringup.graph).

`launch`/`launch_ros` are not on PyPI, so where they cannot be imported the launch files are
parsed (AST) instead of run; the parameter YAMLs are checked against the graph directly.
"""

import ast
import importlib.util
from pathlib import Path

import pytest
import yaml

from edge_nerve.bringup.graph import edge_graph

LAUNCH = Path(__file__).resolve().parents[2] / "launch"


def _graph_call(path: Path) -> dict:
    """The keyword arguments of the edge_graph(...) call in a launch file."""
    tree = ast.parse(path.read_text())
    calls = [n for n in ast.walk(tree) if isinstance(n, ast.Call) and getattr(n.func, "id", "") == "edge_graph"]
    assert len(calls) == 1, f"{path.name} must build its nodes from edge_graph() exactly once"
    return {k.arg: ast.literal_eval(k.value) for k in calls[0].keywords}


@pytest.mark.parametrize("launch_file, config, sim", [("robot.launch.py", "robot.yaml", False),
                                                      ("sim.launch.py", "sim.yaml", True)])
def test_launch_file_uses_the_graph_and_its_config_matches(launch_file, config, sim):
    assert _graph_call(LAUNCH / launch_file) == {"sim": sim}
    assert f'common_arguments("{config}")' in (LAUNCH / launch_file).read_text()
    params = yaml.safe_load((LAUNCH / "config" / config).read_text())
    nodes = {n.name: n for n in edge_graph(sim=sim)}
    assert set(params) == {f"/**/{name}" for name, n in nodes.items() if n.params}
    for name, n in nodes.items():
        if n.params:
            assert set(params[f"/**/{name}"]["ros__parameters"]) == set(n.params), name


def test_every_graph_module_exists_and_has_main():
    for n in edge_graph(sim=True, voice=False):
        spec = importlib.util.find_spec(n.module)
        assert spec is not None, n.module
        assert "def main(" in Path(spec.origin).read_text(), f"{n.module} has no main()"


@pytest.mark.skipif(importlib.util.find_spec("launch_ros") is None, reason="launch_ros is not installed here")
def test_launch_descriptions_build_under_launch_ros():
    for f in ("robot.launch.py", "sim.launch.py"):
        spec = importlib.util.spec_from_file_location(f.replace(".", "_"), LAUNCH / f)
        mod = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(mod)
        desc = mod.generate_launch_description()
        names = {getattr(e, "name", None) for e in desc.entities}
        assert {n.name for n in edge_graph(sim=f.startswith("sim"))} <= names
