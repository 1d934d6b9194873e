"""Process environment for brainstem: where the built ROS interfaces and gRPC code live.

Why: the ROS 2 wheels, the cmake-built `brainstem_interfaces` and the generated gRPC modules
need PYTHONPATH, LD_LIBRARY_PATH and AMENT_PREFIX_PATH set *before* the interpreter starts
(the dynamic loader reads LD_LIBRARY_PATH once). `make setup` installs a `.pth` hook into the
venv that calls `bootstrap()` at every interpreter start, so every entry point (the CLI,
pytest, `python -m ...`, subprocesses) gets the right environment and nobody sources anything.

    .venv/bin/python -m cloud_brain.env     # prints the environment as shell exports
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BUILD = ROOT / "build"
GEN = BUILD / "gen"  # generated gRPC/protobuf modules
ROS_PREFIX = BUILD / "ros" / "install"  # brainstem_interfaces install prefix
_GUARD = "_BRAINSTEM_ENV"
_PY = f"python{sys.version_info.major}.{sys.version_info.minor}"


def _join(*parts: str | Path, existing: str = "") -> str:
    out: list[str] = []
    for p in [*map(str, parts), *existing.split(os.pathsep)]:
        if p and p not in out:
            out.append(p)
    return os.pathsep.join(out)


def required_env(environ: dict[str, str] | None = None) -> dict[str, str]:
    """The variables brainstem needs, merged with `environ` (default: os.environ)."""
    env = dict(os.environ if environ is None else environ)
    site = Path(sys.prefix) / "lib" / _PY / "site-packages"
    ros_libs = sorted(str(p) for p in site.glob("ros_*.libs"))
    env["PYTHONPATH"] = _join(ROOT, GEN, ROS_PREFIX / "lib" / _PY / "site-packages",
                              existing=env.get("PYTHONPATH", ""))
    env["LD_LIBRARY_PATH"] = _join(ROS_PREFIX / "lib", Path(sys.prefix) / "lib", *ros_libs,
                                   existing=env.get("LD_LIBRARY_PATH", ""))
    env["AMENT_PREFIX_PATH"] = _join(ROS_PREFIX, sys.prefix, existing=env.get("AMENT_PREFIX_PATH", ""))
    env.setdefault("RMW_IMPLEMENTATION", "rmw_fastrtps_cpp")
    env.setdefault("ROS_AUTOMATIC_DISCOVERY_RANGE", "LOCALHOST")  # DDS traffic stays on this host
    env.setdefault("PYTHONUNBUFFERED", "1")
    env["_ROS_WHEELS_BOOTSTRAP_COMPLETE"] = "1"  # the wheels' own re-exec is covered by ours
    env[_GUARD] = "1"
    return env


def bootstrap() -> None:
    """Re-execute this interpreter once with the required environment (called from the .pth)."""
    if os.environ.get(_GUARD) == "1" or not getattr(sys, "orig_argv", None):
        _extend_sys_path()
        return
    env = required_env()
    try:
        os.execve(sys.executable, sys.orig_argv, env)
    except OSError as e:  # fall back to what can be fixed in-process
        sys.stderr.write(f"brainstem: could not re-execute with its environment: {e}\n")
        os.environ.update(env)
        _extend_sys_path()


def _extend_sys_path() -> None:
    for p in (str(GEN), str(ROS_PREFIX / "lib" / _PY / "site-packages")):
        if p not in sys.path:
            sys.path.append(p)


def check_built() -> list[str]:
    """What `make setup` has not built yet (empty when ready)."""
    missing = []
    if not (GEN / "brainstem" / "v1" / "session_pb2.py").exists():
        missing.append("gRPC code (build/gen)")
    if not (ROS_PREFIX / "share" / "brainstem_interfaces").exists():
        missing.append("ROS interfaces (build/ros/install)")
    return missing


if __name__ == "__main__":
    want = required_env({})
    for k in ("PYTHONPATH", "LD_LIBRARY_PATH", "AMENT_PREFIX_PATH", "RMW_IMPLEMENTATION",
              "ROS_AUTOMATIC_DISCOVERY_RANGE"):
        print(f"export {k}={want[k]}")
