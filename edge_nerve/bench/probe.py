"""Bench probe: stands in for the sim node. Publishes `joint_states` at a fixed rate, stamped
with this host's wall clock, and records when each `skill/cmd_vel` command computed from it
arrives back (the stamp is carried through in the command's header).

Same message types and QoS as the sim node (JointState out on the sensor profile, the command
in on the control profile), so what it measures is what the sim would see. Sending runs on its
own thread (absolute-time sleeps, so a late tick does not shift the schedule); receiving runs
on an EventsExecutor. Writes an npz: sent stamps, received (stamp, arrival) pairs, the window.

`--wire cdr` (the default): the probe fills its JointState bytes in place after taking the
stamp and reads the command's stamp from the bytes it receives (edge_nerve/control_cdr.py), as a
driver in C++ would; `--wire objects` builds and reads rclpy message objects, which puts the
probe's own Python conversion (~50 µs at p50 each way on a 2-core VM, more at the tail) inside
the latency it reports, for both the loop and the echo.

    .venv/bin/python -m edge_nerve.bench.probe --rate 500 --seconds 10 --out /tmp/probe.npz
"""

from __future__ import annotations

import argparse
import os
import sys
import threading
import time

import numpy as np
import rclpy
from geometry_msgs.msg import TwistStamped
from rclpy.node import Node
from rclpy.serialization import deserialize_message
from sensor_msgs.msg import JointState

from edge_nerve.control_cdr import JointStateWriter, header_stamp
from edge_nerve.nodes.common import CONTROL_READER_DEPTH, SENSOR_QOS, control_reader_qos, Topics, make_executor, spin

JOINTS = 12  # a 12-dof robot: 12 positions, velocities, efforts per message
WIRES = ("cdr", "objects")


class Probe(Node):
    def __init__(self, capacity: int, control_depth: int = CONTROL_READER_DEPTH, wire: str = "cdr"):
        super().__init__("bench_probe")
        if wire not in WIRES:
            raise ValueError(f"wire must be one of {WIRES}, not {wire!r}")
        self.wire = wire
        self.pub = self.create_publisher(JointState, Topics.JOINT_STATES, SENSOR_QOS)
        raw = wire == "cdr"
        self.create_subscription(TwistStamped, Topics.SKILL_CMD_VEL, self.command_bytes_callback if raw
                                 else self.command_callback, control_reader_qos(control_depth), raw=raw)
        self.rx = np.zeros((2, capacity), dtype=np.int64)  # (stamp, arrival) wall ns
        self.n_rx = 0
        self.recording = False

    def command_callback(self, msg: TwistStamped) -> None:
        arrival = time.time_ns()
        s = msg.header.stamp
        self._record(s.sec, s.nanosec, arrival)

    def command_bytes_callback(self, data: bytes) -> None:
        arrival = time.time_ns()
        stamp = header_stamp(data)
        if stamp is None:  # not plain little-endian CDR: rclpy reads it
            stamp = deserialize_message(data, TwistStamped).header.stamp
            stamp = stamp.sec, stamp.nanosec
        self._record(*stamp, arrival)

    def _record(self, sec: int, nanosec: int, arrival: int) -> None:
        if self.recording and self.n_rx < self.rx.shape[1]:
            self.rx[0, self.n_rx] = sec * 1_000_000_000 + nanosec
            self.rx[1, self.n_rx] = arrival
            self.n_rx += 1


def send(probe: Probe, rate: float, warmup_s: float, seconds: float, sent: np.ndarray, out: dict) -> None:
    msg = JointState()
    msg.name = [f"j{i}" for i in range(JOINTS)]
    writer = JointStateWriter(msg.name) if probe.wire == "cdr" else None
    rng = np.random.default_rng(0)
    period = 1.0 / rate
    n_warm, n_meas = int(warmup_s * rate), int(seconds * rate)
    t_next = time.monotonic()
    n_sent = 0
    for i in range(n_warm + n_meas):
        if i == n_warm:
            out["window_start_ns"] = time.time_ns()
            probe.recording = True
        pos = rng.standard_normal(3 * JOINTS)  # values vary like a robot's would
        if writer is None:
            msg.position, msg.velocity, msg.effort = pos[:JOINTS].tolist(), pos[JOINTS:2 * JOINTS].tolist(), \
                pos[2 * JOINTS:].tolist()
        t_next += period
        delay = t_next - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        now = time.time_ns()
        sec, nanosec = divmod(now, 1_000_000_000)
        if writer is None:
            msg.header.stamp.sec, msg.header.stamp.nanosec = sec, nanosec
            probe.pub.publish(msg)
        else:
            probe.pub.publish(writer.fill(sec, nanosec, pos[:JOINTS], pos[JOINTS:2 * JOINTS], pos[2 * JOINTS:]))
        if i >= n_warm:
            sent[n_sent] = now
            n_sent += 1
    out["n_sent"] = n_sent
    time.sleep(0.1)  # the last commands' way back
    probe.recording = False
    out["window_end_ns"] = time.time_ns()


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rate", type=float, default=500.0)
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--warmup", type=float, default=2.0)
    ap.add_argument("--ready-timeout", type=float, default=30.0)
    ap.add_argument("--executor", default="events")
    ap.add_argument("--out", required=True)
    ap.add_argument("--realtime-priority", type=int, default=0,
                    help="SCHED_FIFO priority, as the sim or a hardware driver would run (0 = off)")
    ap.add_argument("--control-depth", type=int, default=CONTROL_READER_DEPTH,
                    help="command reader depth (best effort), as the sim's")
    ap.add_argument("--cpus", default="", help="CPU affinity, a comma list")
    ap.add_argument("--wire", default="cdr", choices=WIRES,
                    help="cdr: fill and read message bytes in place (a C++ driver's cost); objects: rclpy messages")
    a = ap.parse_args(argv)
    rclpy.init()
    n = int(a.rate * a.seconds) + 16
    probe = Probe(n + int(a.rate * 2), a.control_depth, a.wire)
    executor = make_executor(a.executor)
    executor.add_node(probe)
    if a.realtime_priority or a.cpus:  # every thread so far (DDS, executor); the sender inherits
        from edge_nerve.runtime.realtime import RealtimeConfig, apply_realtime
        rep = apply_realtime(RealtimeConfig.from_params(a.realtime_priority, a.cpus, a.realtime_priority > 0))
        print(f"probe scheduling: {rep.summary()}", flush=True)
    # The executor spins on the main thread; the sender thread does the rest and ends the process.
    threading.Thread(target=run, args=(probe, a, n), daemon=True).start()
    spin(executor)


def run(probe: Probe, a, n: int) -> None:
    deadline = time.monotonic() + a.ready_timeout
    while (probe.count_subscribers(Topics.JOINT_STATES) < 1 or probe.count_publishers(Topics.SKILL_CMD_VEL) < 1):
        if time.monotonic() > deadline:
            print("probe: the node under test never connected", flush=True)
            os._exit(1)
        time.sleep(0.05)
    time.sleep(0.5)  # discovery settles both ways
    sent = np.zeros(n, dtype=np.int64)
    out: dict = {}
    send(probe, a.rate, a.warmup, a.seconds, sent, out)
    np.savez(a.out, sent=sent[:out["n_sent"]], rx=probe.rx[:, :probe.n_rx], rate=a.rate,
             window=np.array([out["window_start_ns"], out["window_end_ns"]]))
    # EventsExecutor.shutdown() from a thread other than the spinning one hangs in rclpy 9.1.2
    # (and the process then ignores SIGTERM): the results are on disk, so leave at once.
    sys.stdout.flush()
    os._exit(0)


if __name__ == "__main__":
    main()
