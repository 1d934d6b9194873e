"""`brainstem up`: the launcher for machines without `ros2 launch`.

Starts the same node graph as launch/*.launch.py (edge_nerve.bringup.graph), each node its own
process: with `--sim`, the MuJoCo home world and a local cloud service too, and it waits until
the whole system is ready; without, only the edge nodes of a real robot, talking to the cloud at
`--cloud-address` (with `--gazebo`, plus the gazebo_adapter and use_sim_time, for a Gazebo world
behind ros_gz_bridge: launch/gazebo.launch.py's nodes). It then runs an optional command and stays
up until Ctrl-C or `--duration`.
With `--record`, the recorder node writes the run's topics to <run dir>/mission.mcap (Foxglove,
`brainstem report`), finished when the graph stops.

    .venv/bin/brainstem up --sim --command "go to the kitchen" --record
"""

from __future__ import annotations

import signal
import sys
import time
from dataclasses import replace
from pathlib import Path

from edge_nerve.bringup.demo import ROOT, Mission
from edge_nerve.bringup.graph import ProcessGroup, edge_graph, write_params


def _wait(duration: float | None, check_alive) -> None:
    stop = {"now": False}
    signal.signal(signal.SIGTERM, lambda *_: stop.update(now=True))
    deadline = None if duration is None else time.monotonic() + duration
    try:
        while not stop["now"] and (deadline is None or time.monotonic() < deadline):
            check_alive()
            time.sleep(0.2)
    except KeyboardInterrupt:
        pass


def up(*, sim: bool, command: str | None = None, cloud_address: str = "127.0.0.1:50051",
       world_file: str = "", world_overrides: dict | None = None, real_time_factor: float = 1.0,
       duration: float | None = None, run_dir: str | None = None, echo=print, record: bool = False,
       gazebo: bool = False) -> int:
    if sim and gazebo:
        print("--sim (the MuJoCo world) and --gazebo (a Gazebo world) exclude each other", file=sys.stderr)
        return 2
    run_dir = Path(run_dir or ROOT / "runs" / time.strftime("up-%Y%m%d-%H%M%S"))
    if sim:
        with Mission(world_file=world_file, world_overrides=world_overrides, real_time_factor=real_time_factor,
                     run_dir=run_dir, echo=echo, record=record) as m:
            for name, p in m.procs.procs.items():
                echo(f"  {name:<14} pid {p.pid}")
            ok = True
            if command:
                ok = m.run(command).ok
            echo("up; Ctrl-C to stop" if duration is None else f"up for {duration:.0f} s")
            _wait(duration, m._check_alive)
        return 0 if ok else 1
    mcap = run_dir / "mission.mcap"
    nodes = edge_graph(world_file=world_file, world_overrides=world_overrides, cloud_address=cloud_address,
                       sim=False, record=str(mcap) if record else "", gazebo=gazebo)
    if gazebo:  # Gazebo's /clock (bridged) is the time base, as launch/gazebo.launch.py sets it
        nodes = [replace(n, params={**n.params, "use_sim_time": True}) for n in nodes]
    with ProcessGroup(run_dir / "logs") as procs:
        procs.start_nodes(nodes, write_params(nodes, run_dir / "params.yaml"))
        for n in nodes:
            echo(f"  {n.name:<14} pid {procs.procs[n.name].pid}  {n.role}")
        echo(f"edge nodes up, cloud at {cloud_address}; logs in {run_dir / 'logs'}")

        def check_alive():
            dead = procs.dead()
            if dead:
                name, rc = next(iter(dead.items()))
                raise RuntimeError(f"node '{name}' exited with code {rc}:\n{procs.log_tail(name)}")

        try:
            _wait(duration, check_alive)
        except RuntimeError as e:
            print(e, file=sys.stderr)
            return 1
    if record and mcap.exists():  # the recorder finished its file on the group's SIGINT
        echo(f"recording: {mcap}  (brainstem report {mcap})")
    return 0
