"""The Gazebo twin (sim/gazebo/sdf.py): the SDF is valid for a real SDFormat parser (libsdformat's
`gz sdf` / `ign sdf` checker), and what that parser reads back matches the MuJoCo world built by
sim/mjcf.py (names, poses within 1 mm, sizes, colours) for the default home and another world;
the robot has the MJCF robot's links, joints and dimensions; bridge.yaml is a well-formed
ros_gz_bridge config whose Gazebo topics are the ones the SDF systems use (and every object's
pose publisher).

Needs the checker: apt-get install -y --no-install-recommends ignition-tools libsdformat-dev
(Debian bookworm: libsdformat12 12.3.0, `ign sdf`), or a Gazebo install's `gz sdf`.

    .venv/bin/python -m pytest tests/unit/test_gazebo_sdf.py -q
"""

from __future__ import annotations

import math
import shutil
import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path

import mujoco
import numpy as np
import pytest
import yaml

from cloud_brain.domain.description import load_world
from sim.gazebo import sdf as gzsdf
from sim.mjcf import ROBOT, build_mjcf

OFFICE = Path(__file__).parent / "office_world.yaml"
GENERATED = Path(__file__).resolve().parents[2] / "sim" / "gazebo" / "generated"
INSTALL = "apt-get install -y --no-install-recommends ignition-tools libsdformat-dev"
DIRECTIONS = {"GZ_TO_ROS", "ROS_TO_GZ", "BIDIRECTIONAL"}
# (ROS type, Gazebo type) pairs that ros_gz_bridge converts (its README's table), for the ones used
BRIDGEABLE = {("rosgraph_msgs/msg/Clock", "gz.msgs.Clock"), ("geometry_msgs/msg/Twist", "gz.msgs.Twist"),
              ("nav_msgs/msg/Odometry", "gz.msgs.Odometry"), ("tf2_msgs/msg/TFMessage", "gz.msgs.Pose_V"),
              ("sensor_msgs/msg/JointState", "gz.msgs.Model"), ("sensor_msgs/msg/LaserScan", "gz.msgs.LaserScan"),
              ("std_msgs/msg/Float64", "gz.msgs.Double"), ("geometry_msgs/msg/TransformStamped", "gz.msgs.Pose")}


def _sdf_tool() -> list[str] | None:
    """The libsdformat command line (`gz sdf` from Gazebo, else `ign sdf` from Debian), if installed."""
    for exe in ("gz", "ign"):
        if shutil.which(exe):
            r = subprocess.run([exe, "sdf", "--versions"], capture_output=True, text=True, timeout=60)
            if r.returncode == 0 and r.stdout.strip():
                return [exe, "sdf"]
    return None


TOOL = _sdf_tool()
needs_parser = pytest.mark.skipif(TOOL is None, reason=f"no SDFormat checker (gz/ign sdf); install: {INSTALL}")


@pytest.fixture(scope="module")
def parsed(tmp_path_factory):
    """{world: {"desc", "dir", "check": {file: output}, "print": {file: XML root}}} for both worlds,
    every parser call run at once (each is a separate ruby + libsdformat process)."""
    out, procs = {}, []
    for key, path in (("home", None), ("office", OFFICE)):
        d = tmp_path_factory.mktemp(key)
        desc = load_world(path)
        gzsdf.write_all(d, desc)
        out[key] = {"desc": desc, "dir": d, "check": {}, "print": {}}
        if TOOL is None:
            continue
        # the robot SDF differs between worlds only by the base radius: check and read it once
        for fname, mode in [("home.sdf", "-k"), ("home.sdf", "-p")] + (
                [("robot.sdf", "-k"), ("robot.sdf", "-p")] if key == "home" else []):
            procs.append((key, fname, mode, subprocess.Popen(TOOL + [mode, str(d / fname)], stdout=subprocess.PIPE,
                                                             stderr=subprocess.PIPE, text=True)))
    for key, fname, mode, p in procs:
        stdout, stderr = p.communicate(timeout=120)
        text = stdout + stderr
        assert p.returncode == 0, f"{mode} {key}/{fname}:\n{text}"
        assert "Error" not in text and "Warning" not in text, f"{mode} {key}/{fname}:\n{text}"
        if mode == "-k":
            out[key]["check"][fname] = stdout
        else:
            out[key]["print"][fname] = ET.fromstring(stdout)
    return out


# ---- reading the parser's output ----------------------------------------------------------------
def _rot(rpy) -> np.ndarray:
    """SDF rotation: fixed-axis roll, pitch, yaw = Rz(yaw) Ry(pitch) Rx(roll)."""
    r, p, y = rpy
    cr, sr, cp, sp, cy, sy = math.cos(r), math.sin(r), math.cos(p), math.sin(p), math.cos(y), math.sin(y)
    return np.array([[cy * cp, cy * sp * sr - sy * cr, cy * sp * cr + sy * sr],
                     [sy * cp, sy * sp * sr + cy * cr, sy * sp * cr - cy * sr],
                     [-sp, cp * sr, cp * cr]])


def _pose(el) -> tuple[np.ndarray, np.ndarray]:
    """(position, rotation) of an element's <pose>, relative to its parent (asserts no relative_to)."""
    p = el.find("pose")
    if p is None:
        return np.zeros(3), np.eye(3)
    assert not p.get("relative_to"), f"{el.get('name')}: pose relative_to {p.get('relative_to')}"
    v = [float(s) for s in p.text.split()]
    return np.array(v[:3]), _rot(v[3:])


def _compose(*poses):
    pos, rot = np.zeros(3), np.eye(3)
    for p, r in poses:
        pos, rot = pos + rot @ p, rot @ r
    return pos, rot


def _geometry(el) -> tuple[str, tuple[float, ...]]:
    """(shape, full dimensions) of a collision/visual's geometry, as sdf.py's shapes take them."""
    g = el.find("geometry")[0]
    if g.tag == "box":
        return "box", tuple(float(s) for s in g.findtext("size").split())
    if g.tag in ("cylinder", "capsule"):
        return g.tag, (float(g.findtext("radius")), float(g.findtext("length")))
    if g.tag == "sphere":
        return "sphere", (float(g.findtext("radius")),)
    return g.tag, tuple(float(s) for s in g.findtext("size").split())


def _world_shapes(world: ET.Element) -> dict[str, dict]:
    """Every collision (name G) and visual (name G_visual) of the world, keyed by G: world pose,
    shape, size, colour, and whether it collides."""
    shapes: dict[str, dict] = {}
    for model in world.findall("model"):
        mp = _pose(model)
        for link in model.findall("link"):
            lp = _pose(link)
            for kind in ("collision", "visual"):
                for el in link.findall(kind):
                    name = el.get("name").removesuffix("_visual")
                    pos, rot = _compose(mp, lp, _pose(el))
                    shape, size = _geometry(el)
                    s = shapes.setdefault(name, {"model": model.get("name"), "collides": False})
                    if kind == "collision":
                        s["collides"] = True
                    else:
                        s["rgba"] = [float(v) for v in el.findtext("material/diffuse").split()]
                    if "pos" in s:  # visual and collision of one geom agree
                        assert s["pos"] == pytest.approx(pos, abs=1e-9) and s["size"] == size
                    s.update(pos=pos, rot=rot, shape=shape, size=size)
    return shapes


def _mj_size(m, g) -> tuple[str, tuple[float, ...]]:
    t, s = int(m.geom_type[g]), m.geom_size[g]
    if t == mujoco.mjtGeom.mjGEOM_BOX:
        return "box", tuple(2 * s)
    if t == mujoco.mjtGeom.mjGEOM_CYLINDER:
        return "cylinder", (s[0], 2 * s[1])
    if t == mujoco.mjtGeom.mjGEOM_CAPSULE:
        return "capsule", (s[0], 2 * s[1])
    if t == mujoco.mjtGeom.mjGEOM_SPHERE:
        return "sphere", (s[0],)
    return "plane", (2 * s[0], 2 * s[1])


def _mujoco(desc, **qpos):
    m = mujoco.MjModel.from_xml_string(build_mjcf(desc))
    d = mujoco.MjData(m)
    for joint, value in qpos.items():
        d.qpos[m.jnt_qposadr[mujoco.mj_name2id(m, mujoco.mjtObj.mjOBJ_JOINT, joint)]] = value
    mujoco.mj_kinematics(m, d)
    return m, d


# ---- the world ----------------------------------------------------------------------------------
@needs_parser
@pytest.mark.parametrize("key", ["home", "office"])
def test_sdf_files_are_valid(parsed, key):
    for fname, out in parsed[key]["check"].items():
        assert out.strip().endswith("Valid."), f"{fname}: {out}"
    root = parsed[key]["print"]["home.sdf"]
    assert root.get("version") == gzsdf.SDF_VERSION and root.find("world").get("name") == parsed[key]["desc"].name


@needs_parser
@pytest.mark.parametrize("key", ["home", "office"])
def test_world_matches_the_mujoco_world(parsed, key):
    desc = parsed[key]["desc"]
    world = parsed[key]["print"]["home.sdf"].find("world")
    models = {m.get("name") for m in world.findall("model")}
    assert models == {"ground_plane", "walls", "user"} | set(desc.furniture) | set(desc.objects)
    assert {p.get("filename") for p in world.findall("plugin")} >= {
        "gz-sim-physics-system", "gz-sim-scene-broadcaster-system", "gz-sim-user-commands-system", "gz-sim-sensors-system"}
    assert world.find("light[@name='sun']").get("type") == "directional"
    shapes = _world_shapes(world)

    m, d = _mujoco(desc)
    robot = mujoco.mj_name2id(m, mujoco.mjtObj.mjOBJ_BODY, "robot")
    compared = set()
    for g in range(m.ngeom):
        name = mujoco.mj_id2name(m, mujoco.mjtObj.mjOBJ_GEOM, g)
        if m.body_rootid[m.geom_bodyid[g]] == robot:
            continue
        assert name in shapes, f"MuJoCo geom {name} has no SDF twin"
        s = shapes[name]
        shape, size = _mj_size(m, g)
        assert s["shape"] == shape and s["size"] == pytest.approx(size, abs=1e-6), name
        assert s["pos"] == pytest.approx(d.geom_xpos[g], abs=1e-3), name  # within 1 mm
        mj_rot = d.geom_xmat[g].reshape(3, 3)
        if shape in ("cylinder", "capsule", "plane"):  # symmetric about z (and its flip): the axis must agree
            assert abs(float(s["rot"][:, 2] @ mj_rot[:, 2])) == pytest.approx(1.0, abs=1e-6), name
        elif shape == "box":
            assert s["rot"] == pytest.approx(mj_rot, abs=1e-4), name
        if m.geom_matid[g] < 0:  # (the MJCF floor is a checker texture; Gazebo's is its mean colour)
            assert s["rgba"] == pytest.approx(m.geom_rgba[g], abs=1e-6), name
        assert s["collides"] == bool(m.geom_contype[g] or m.geom_conaffinity[g]), name
        compared.add(name)
    # every room's walls, every furniture and every object were compared, with its model's name
    assert {n for n in compared if n.startswith("wall_")} == {f"wall_{i}" for i in range(len(desc.walls))}
    for name in set(desc.furniture) | set(desc.objects):
        assert name in compared and shapes[name]["model"] == name
    # objects are dynamic and as heavy as in MuJoCo; the rest of the world is static
    for model in world.findall("model"):
        static = model.findtext("static") == "true"
        assert static == (model.get("name") not in desc.objects), model.get("name")
        if not static:
            mass = float(model.findtext("link/inertial/mass"))
            assert mass == pytest.approx(m.body(model.get("name")).mass[0], rel=1e-5)
    # the user's hand frame where the MJCF hand site is
    user = world.find("model[@name='user']")
    hand = [float(v) for v in user.find("frame[@name='user_hand']/pose").text.split()[:3]]
    assert _pose(user)[0] + np.array(hand) == pytest.approx(d.site("user_hand").xpos, abs=1e-3)


# ---- the robot ----------------------------------------------------------------------------------
@needs_parser
def test_robot_matches_the_mujoco_robot(parsed):
    desc = parsed["home"]["desc"]
    model = parsed["home"]["print"]["robot.sdf"].find("model")
    assert model.get("name") == gzsdf.ROBOT_MODEL
    links = {link.get("name"): link for link in model.findall("link")}
    assert set(links) == {"base_link", "lift_link", "arm_link", "finger_left_link", "finger_right_link"}
    joints = {j.get("name"): j for j in model.findall("joint")}
    assert set(joints) == set(gzsdf.ARM_JOINTS)

    q = {"lift": 0.73, "arm_extend": 0.31, "finger_left": 0.04, "finger_right": 0.06}
    m, d = _mujoco(desc, base_yaw=0.0, **q)
    parent = {}
    for name, j in joints.items():
        jid = mujoco.mj_name2id(m, mujoco.mjtObj.mjOBJ_JOINT, name)
        assert j.get("type") == "prismatic"
        axis = j.find("axis/xyz")
        assert axis.get("expressed_in") == "__model__"
        assert [float(v) for v in axis.text.split()] == pytest.approx(m.jnt_axis[jid])
        assert [float(j.findtext("axis/limit/lower")), float(j.findtext("axis/limit/upper"))] == pytest.approx(m.jnt_range[jid])
        parent[j.findtext("child")] = (j.findtext("parent"), name, np.array([float(v) for v in axis.text.split()]))

    def link_position(link: str) -> np.ndarray:
        """Model-frame origin of a link with the joints at q (no link is rotated: translations add)."""
        pos, rot = _pose(links[link])
        assert rot == pytest.approx(np.eye(3))
        while link in parent:
            link, joint, axis = parent[link]
            pos = pos + q[joint] * axis
        return pos

    robot_origin = d.body("robot").xpos
    root = mujoco.mj_name2id(m, mujoco.mjtObj.mjOBJ_BODY, "robot")
    seen = 0
    for lname, link in links.items():
        origin = link_position(lname)
        for el in link.findall("visual"):
            gname = el.get("name").removesuffix("_visual")
            gid = mujoco.mj_name2id(m, mujoco.mjtObj.mjOBJ_GEOM, gname)
            if gid < 0:  # Gazebo-only parts (the lidar puck)
                assert gname == "lidar"
                continue
            assert m.body_rootid[m.geom_bodyid[gid]] == root
            shape, size = _geometry(el)
            assert (shape, size) == (_mj_size(m, gid)[0], pytest.approx(_mj_size(m, gid)[1], abs=1e-6)), gname
            assert origin + _pose(el)[0] == pytest.approx(d.geom_xpos[gid] - robot_origin, abs=1e-3), gname
            collides = link.find(f"collision[@name='{gname}']") is not None
            assert collides == bool(m.geom_contype[gid] or m.geom_conaffinity[gid]), gname
            seen += 1
    robot_geoms = [g for g in range(m.ngeom) if m.body_rootid[m.geom_bodyid[g]] == root]
    assert seen == len(robot_geoms)
    # the grasp point (between the fingers) where MuJoCo's grasp site is
    frame = model.find("frame[@name='grasp']")
    assert frame.get("attached_to") == "arm_link"
    grasp = link_position("arm_link") + np.array([float(v) for v in frame.findtext("pose").split()[:3]])
    assert grasp == pytest.approx(d.site("grasp").xpos - robot_origin, abs=1e-3)
    # skids carry the base at MuJoCo's height: lowest collision point on the floor
    base = links["base_link"]
    skids = [c for c in base.findall("collision") if c.get("name").startswith("skid_")]
    assert len(skids) == 3 and all(_pose(c)[0][2] == pytest.approx(float(c.findtext("geometry/sphere/radius")))
                                   for c in skids)


@needs_parser
def test_robot_systems_and_sensor_use_the_bridged_topics(parsed):
    model = parsed["home"]["print"]["robot.sdf"].find("model")
    plugins = model.findall("plugin")
    by_file = {}
    for p in plugins:
        by_file.setdefault(p.get("filename"), []).append(p)
    assert by_file["gz-sim-velocity-control-system"][0].findtext("topic") == gzsdf.gz_topic("/cmd_vel")
    odom = by_file["gz-sim-odometry-publisher-system"][0]
    assert odom.findtext("odom_topic") == gzsdf.gz_topic("/odom") and odom.findtext("tf_topic") == gzsdf.gz_topic("/tf")
    assert odom.findtext("dimensions") == "2" and odom.findtext("robot_base_frame") == "base_link"
    js = by_file["gz-sim-joint-state-publisher-system"][0]
    assert js.findtext("topic") == gzsdf.gz_topic("/joint_states")
    assert [e.text for e in js.findall("joint_name")] == list(gzsdf.ARM_JOINTS)
    controllers = {p.findtext("joint_name"): p for p in by_file["gz-sim-joint-position-controller-system"]}
    assert set(controllers) == set(gzsdf.ARM_JOINTS)
    for joint, p in controllers.items():
        assert p.findtext("topic") == gzsdf.gz_topic(f"/arm/{joint}/cmd_pos")
    assert float(controllers["lift"].findtext("initial_position")) == pytest.approx(0.6)  # HomeSim's start
    sensors = model.findall("link/sensor")
    assert [(s.get("name"), s.get("type")) for s in sensors] == [("lidar", "gpu_lidar")]
    assert sensors[0].findtext("topic") == gzsdf.gz_topic("/scan")
    assert int(sensors[0].findtext("lidar/scan/horizontal/samples")) >= 180


def test_joint_commands_follow_the_arm_command_convention():
    cmd = gzsdf.joint_commands(0.7, 0.3, 0.5)
    assert cmd == pytest.approx({"lift": 0.7, "arm_extend": 0.3, "finger_left": 0.5 * ROBOT.finger_travel,
                                 "finger_right": 0.5 * ROBOT.finger_travel})
    clipped = gzsdf.joint_commands(5.0, -1.0, 2.0)
    assert clipped["lift"] == ROBOT.lift_range[1] and clipped["arm_extend"] == 0.0
    assert clipped["finger_left"] == ROBOT.finger_travel


# ---- the bridge and the committed files -----------------------------------------------------------
def test_bridge_yaml_is_a_flat_ros_gz_bridge_list(tmp_path):
    gzsdf.write_all(tmp_path, load_world())
    entries = yaml.safe_load((tmp_path / "bridge.yaml").read_text())
    assert isinstance(entries, list) and entries
    keys = {"ros_topic_name", "gz_topic_name", "ros_type_name", "gz_type_name", "direction"}
    for e in entries:
        assert set(e) == keys and all(isinstance(v, str) and v for v in e.values()), e
        assert e["direction"] in DIRECTIONS and (e["ros_type_name"], e["gz_type_name"]) in BRIDGEABLE, e
    by_ros = {e["ros_topic_name"]: e for e in entries}
    assert len(by_ros) == len(entries)
    assert {"/cmd_vel", "/odom", "/joint_states", "/clock", "/scan"} | {f"/arm/{j}/cmd_pos" for j in gzsdf.ARM_JOINTS} <= set(by_ros)
    assert by_ros["/cmd_vel"]["direction"] == "ROS_TO_GZ" and by_ros["/arm/lift/cmd_pos"]["direction"] == "ROS_TO_GZ"
    for t in ("/odom", "/joint_states", "/clock", "/scan"):
        assert by_ros[t]["direction"] == "GZ_TO_ROS"


def test_every_object_publishes_its_pose_on_a_bridged_topic(tmp_path):
    """The edge's object states come from each object model's pose publisher (the scene
    broadcaster's pose/info loses the names over the bridge): one bridged topic per object."""
    desc = load_world(OFFICE)
    gzsdf.write_all(tmp_path, desc)
    world = ET.parse(tmp_path / "home.sdf").getroot().find("world")
    by_ros = {e["ros_topic_name"]: e for e in yaml.safe_load((tmp_path / "bridge.yaml").read_text())}
    for name in desc.objects:
        plugins = world.findall(f"model[@name='{name}']/plugin")
        assert [p.get("filename") for p in plugins] == ["gz-sim-pose-publisher-system"], name
        p = plugins[0]
        assert (p.findtext("publish_model_pose"), p.findtext("publish_nested_model_pose"),
                p.findtext("publish_link_pose"), p.findtext("use_pose_vector_msg")) == ("true", "true", "false", "false")
        ros, gz = gzsdf.object_pose_topics(name)
        assert by_ros[ros] == {"ros_topic_name": ros, "gz_topic_name": gz,
                               "ros_type_name": "geometry_msgs/msg/TransformStamped",
                               "gz_type_name": "gz.msgs.Pose", "direction": "GZ_TO_ROS"}
        assert gz == f"/model/{name}/pose"  # the pose publisher's topic: the model's scoped name + /pose
    for model in world.findall("model"):  # nothing else publishes poses
        if model.get("name") not in desc.objects:
            assert model.find("plugin[@filename='gz-sim-pose-publisher-system']") is None


def test_bridge_subscriptions_match_the_brainstem_publishers_qos():
    """ros_gz_bridge subscribes reliably by default; the safety gate publishes /cmd_vel best effort
    (CONTROL_QOS), so the bridge is told to subscribe best effort there; the adapter's setpoints
    are published reliably."""
    from rclpy.qos import ReliabilityPolicy

    from edge_nerve.nodes.common import CONTROL_QOS
    from sim.gazebo.adapter_node import SETPOINT_QOS

    assert CONTROL_QOS.reliability == ReliabilityPolicy.BEST_EFFORT
    assert SETPOINT_QOS.reliability == ReliabilityPolicy.RELIABLE
    ros_to_gz = {ros for ros, _, _, _, d in gzsdf.BRIDGE_TOPICS if d == "ROS_TO_GZ"}
    assert ros_to_gz == {"/cmd_vel"} | {f"/arm/{j}/cmd_pos" for j in gzsdf.ARM_JOINTS}
    assert gzsdf.bridge_qos_overrides() == {"qos_overrides./cmd_vel.subscription.reliability": "best_effort"}


def test_committed_generated_files_are_up_to_date(tmp_path):
    gzsdf.write_all(tmp_path, load_world())
    for fname in ("home.sdf", "robot.sdf", "bridge.yaml"):
        assert (GENERATED / fname).read_text() == (tmp_path / fname).read_text(), (
            f"sim/gazebo/generated/{fname} is stale: run python -m sim.gazebo.sdf --out sim/gazebo/generated")


def test_cli_writes_the_three_files(tmp_path):
    assert gzsdf.main(["--out", str(tmp_path / "gz"), "--world", str(OFFICE)]) == 0
    assert sorted(p.name for p in (tmp_path / "gz").iterdir()) == ["bridge.yaml", "home.sdf", "robot.sdf"]
    assert "<world name=\"office\">" in (tmp_path / "gz" / "home.sdf").read_text()
