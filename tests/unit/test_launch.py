"""The launch files and their parameter files follow the one node graph (edge_nerve.bringup.graph).

`launch`/`launch_ros` are not on PyPI, so where they cannot be imported the launch files are
parsed (AST) and run against recording stand-ins of the launch API instead; the parameter YAMLs
are checked against the graph directly.
"""

import ast
import importlib.util
import sys
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


def test_gazebo_launch_file_uses_the_graph_bridge_and_generated_world():
    """Gazebo is not installed here: parse gazebo.launch.py. Its edge nodes are the graph's (with
    the gazebo_adapter, no MuJoCo sim), its parameters gazebo.yaml, and it starts gz sim on the
    generated world, spawns the robot and runs ros_gz_bridge on the generated bridge.yaml."""
    path = LAUNCH / "gazebo.launch.py"
    assert _graph_call(path) == {"sim": False, "gazebo": True}
    text = path.read_text()
    assert 'common_arguments("gazebo.yaml", use_sim_time="true")' in text
    names = [n.name for n in edge_graph(sim=False, gazebo=True)]
    assert "gazebo_adapter" in names and "sim" not in names
    params = yaml.safe_load((LAUNCH / "config" / "gazebo.yaml").read_text())
    assert set(params) == {f"/**/{n.name}" for n in edge_graph(sim=False, gazebo=True) if n.params}
    for n in edge_graph(sim=False, gazebo=True):
        assert set(params[f"/**/{n.name}"]["ros__parameters"]) == set(n.params), n.name
    tree = ast.parse(text)
    nodes = {}  # launch_ros Node(package=..., executable=...) calls
    for c in ast.walk(tree):
        if isinstance(c, ast.Call) and getattr(c.func, "id", "") == "Node":
            kw = {k.arg: k.value for k in c.keywords}
            nodes[ast.literal_eval(kw["package"])] = ast.literal_eval(kw["executable"])
    assert nodes == {"ros_gz_sim": "create", "ros_gz_bridge": "parameter_bridge"}
    for fname in ("home.sdf", "robot.sdf", "bridge.yaml"):
        assert f'[gz_dir, "{fname}"]' in text
    assert '"gz", "sim", "-r"' in text and "bridge_qos_overrides()" in text
    default_dir = next(c for c in ast.walk(tree) if isinstance(c, ast.Call) and getattr(c.func, "id", "") ==
                       "DeclareLaunchArgument" and ast.literal_eval(c.args[0]) == "gz_dir")
    assert "generated" in ast.unparse(default_dir)
    assert (LAUNCH.parent / "sim" / "gazebo" / "generated" / "bridge.yaml").exists()


def test_every_graph_module_exists_and_has_main():
    for n in edge_graph(sim=True, voice=False) + edge_graph(sim=False, gazebo=True):
        spec = importlib.util.find_spec(n.module)
        assert spec is not None, n.module
        assert "def main(" in Path(spec.origin).read_text(), f"{n.module} has no main()"


class _Recorded:
    """Stand-in for a launch / launch_ros class: keeps its arguments."""

    def __init__(self, *args, **kwargs):
        self.args, self.kwargs = args, kwargs

    @property
    def name(self):
        return self.kwargs.get("name")


def _stub_launch(monkeypatch) -> None:
    """Recording stand-ins for the launch / launch_ros API the launch files use, so that their
    generate_launch_description() runs here (launch is not on PyPI)."""
    import types

    classes = {"launch": ["LaunchDescription"], "launch.actions": ["DeclareLaunchArgument", "ExecuteProcess"],
               "launch.conditions": ["IfCondition", "UnlessCondition"],
               "launch.substitutions": ["LaunchConfiguration", "PathJoinSubstitution"],
               "launch_ros": [], "launch_ros.actions": ["Node"]}
    for mod, names in classes.items():
        m = types.ModuleType(mod)
        for n in names:
            setattr(m, n, type(n, (_Recorded,), {}))
        monkeypatch.setitem(sys.modules, mod, m)
    monkeypatch.delitem(sys.modules, "_graph", raising=False)  # re-import it against the stand-ins


def _run_launch_file(monkeypatch, fname: str) -> list:
    _stub_launch(monkeypatch)
    spec = importlib.util.spec_from_file_location(fname.replace(".", "_") + "_stubbed", LAUNCH / fname)
    mod = importlib.util.module_from_spec(spec)
    try:
        spec.loader.exec_module(mod)
        return mod.generate_launch_description().args[0]
    finally:
        sys.modules.pop("_graph", None)  # built on the stand-ins: never leave it for a real launch


@pytest.mark.parametrize("fname, graph", [("robot.launch.py", {"sim": False}), ("sim.launch.py", {"sim": True}),
                                          ("gazebo.launch.py", {"sim": False, "gazebo": True})])
def test_launch_files_run_against_stand_ins_and_start_the_graph(monkeypatch, fname, graph):
    entities = _run_launch_file(monkeypatch, fname)
    procs = {e.name: e.kwargs["cmd"] for e in entities if type(e).__name__ == "ExecuteProcess"}
    for n in edge_graph(**graph):
        cmd = procs[n.name]
        assert cmd[1:3] == ["-m", n.module] and f"__node:={n.name}" in cmd, n.name
    declared = [e.args[0] for e in entities if type(e).__name__ == "DeclareLaunchArgument"]
    assert {"namespace", "params_file", "use_sim_time"} <= set(declared) and len(declared) == len(set(declared))


def test_gazebo_launch_bridge_and_spawn_arguments(monkeypatch):
    from cloud_brain.domain.description import load_world
    from sim.gazebo.sdf import ROBOT_MODEL, bridge_qos_overrides, spawn_pose

    entities = _run_launch_file(monkeypatch, "gazebo.launch.py")
    args = {e.args[0]: e.kwargs["default_value"] for e in entities if type(e).__name__ == "DeclareLaunchArgument"}
    pose = spawn_pose(load_world())
    assert (args["x"], args["y"], args["yaw"]) == (pose["x"], pose["y"], pose["Y"])
    assert args["use_sim_time"] == "true" and args["world_name"] == load_world().name
    assert Path(args["params_file"]).name == "gazebo.yaml" and Path(args["gz_dir"], "home.sdf").exists()
    nodes = {e.kwargs["package"]: e for e in entities if type(e).__name__ == "Node"}
    bridge = nodes["ros_gz_bridge"].kwargs["parameters"][0]
    assert bridge["config_file"].args[0][1] == "bridge.yaml"
    assert {k: bridge[k] for k in bridge_qos_overrides()} == bridge_qos_overrides()
    spawn = nodes["ros_gz_sim"].kwargs["arguments"]
    assert spawn[spawn.index("-name") + 1] == ROBOT_MODEL and spawn[spawn.index("-file") + 1].args[0][1] == "robot.sdf"
    gz = [e for e in entities if e.name == "gazebo"]
    assert len(gz) == 2 and {type(e.kwargs["condition"]).__name__ for e in gz} == {"IfCondition", "UnlessCondition"}


@pytest.mark.skipif(importlib.util.find_spec("launch_ros") is None, reason="launch_ros is not installed here")
def test_launch_descriptions_build_under_launch_ros():
    for f, graph in (("robot.launch.py", {"sim": False}), ("sim.launch.py", {"sim": True}),
                     ("gazebo.launch.py", {"sim": False, "gazebo": True})):
        spec = importlib.util.spec_from_file_location(f.replace(".", "_"), LAUNCH / f)
        mod = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(mod)
        desc = mod.generate_launch_description()
        names = {getattr(e, "name", None) for e in desc.entities}
        assert {n.name for n in edge_graph(**graph)} <= names
