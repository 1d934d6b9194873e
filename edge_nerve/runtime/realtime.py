"""Real-time scheduling for a control process: SCHED_FIFO priority, CPU affinity, locked memory.

Why: under the default time-sharing scheduler a 500 Hz loop waits behind whatever else the
kernel decides to run, and the tail of the sensor-to-command latency is the scheduler's, not the
loop's (edge_nerve/bench/loop.py showed the stages' p50 at 0.3 ms and their p99 at 4-5 ms on a
loaded machine). A real robot runs its controller the way ros2_control's controller_manager does:
SCHED_FIFO at a fixed priority (50 there), memory locked so no page fault lands in the loop, and,
where the cores allow, pinned to its own CPU. Like ros2_control, a process that may not do this
(no CAP_SYS_NICE / rtprio limit) keeps running under the normal scheduler and says so once.

A control process may also hold a CPU idle-state latency request (PM QoS, /dev/cpu_dma_latency,
as cyclictest does): while it is held the kernel keeps idle CPUs in states they leave within that
many microseconds (0: they poll instead of halting). On this project's VMs a halted virtual CPU
woke late and cold: the paced INT8 call took 63-108 µs at p50 against 39-54 µs with the request,
and the 500 Hz loop's p50 fell from 0.29-0.36 to 0.20-0.25 ms (README). The price is a CPU that
spins when idle (power, and the host's time on a shared VM), so it is off unless asked for.

Every thread of the process is moved (the DDS and executor threads already exist when a node's
parameters are read); threads created afterwards inherit the policy from their creator. The
kernel's RT throttling (sched_rt_runtime_us, 95% by default) still leaves time for the rest.

    .venv/bin/python -m edge_nerve.runtime.realtime --priority 50 --cpus 1   # what this process may do
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
import os
import struct
from contextlib import contextmanager
from dataclasses import dataclass, field

log = logging.getLogger(__name__)

MCL_CURRENT, MCL_FUTURE = 1, 2  # <sys/mman.h>
PM_QOS_DEVICE = "/dev/cpu_dma_latency"


@dataclass(frozen=True)
class RealtimeConfig:
    priority: int = 0  # SCHED_FIFO priority 1..99; 0 leaves the normal scheduler (SCHED_OTHER)
    cpus: tuple[int, ...] = ()  # CPU affinity; () leaves it as inherited
    lock_memory: bool = False  # mlockall(MCL_CURRENT | MCL_FUTURE)
    idle_latency_us: int = -1  # PM QoS CPU idle exit latency to hold (0: poll); -1 leaves it to the kernel

    def __post_init__(self):
        if not 0 <= self.priority <= 99:
            raise ValueError(f"realtime priority must be 0 (off) or 1..99, not {self.priority}")
        if self.idle_latency_us < -1:
            raise ValueError(f"idle latency must be -1 (leave it) or >= 0 µs, not {self.idle_latency_us}")
        bad = [c for c in self.cpus if c < 0]
        if bad:
            raise ValueError(f"CPU numbers must be >= 0, not {bad}")

    @classmethod
    def from_params(cls, priority: int, cpus: str, lock_memory: bool, idle_latency_us: int = -1) -> "RealtimeConfig":
        """From node parameters: `cpus` is a comma list ("1" or "0,1"; "" = leave as is)."""
        try:
            cpu_list = tuple(int(c) for c in cpus.replace(" ", "").split(",") if c)
        except ValueError:
            raise ValueError(f"cpu_affinity must be a comma list of CPU numbers, not {cpus!r}") from None
        return cls(int(priority), cpu_list, bool(lock_memory), int(idle_latency_us))

    @property
    def requested(self) -> bool:
        return bool(self.priority or self.cpus or self.lock_memory or self.idle_latency_us >= 0)


@dataclass
class RealtimeReport:
    """What was applied; `problems` names what was asked for and refused (and why)."""

    policy: str = "SCHED_OTHER"
    priority: int = 0
    cpus: tuple[int, ...] = ()
    memory_locked: bool = False
    threads: int = 0
    problems: list[str] = field(default_factory=list)
    idle_latency_us: int | None = None  # the PM QoS request held (None: none)
    _pm_qos_fd: int | None = field(default=None, repr=False)  # the request lasts while this is open

    def as_dict(self) -> dict:
        return {"policy": self.policy, "priority": self.priority, "cpus": list(self.cpus),
                "memory_locked": self.memory_locked, "threads": self.threads,
                "idle_latency_us": self.idle_latency_us, "problems": list(self.problems)}

    def release_idle_latency(self) -> None:
        """Drop the PM QoS request: the kernel chooses idle states as before."""
        if self._pm_qos_fd is not None:
            os.close(self._pm_qos_fd)
            self._pm_qos_fd, self.idle_latency_us = None, None

    def summary(self) -> str:
        s = f"{self.policy}"
        if self.priority:
            s += f" priority {self.priority}"
        s += f", CPUs {','.join(map(str, self.cpus))}, memory {'locked' if self.memory_locked else 'not locked'}"
        if self.idle_latency_us is not None:
            s += f", CPU idle exit <= {self.idle_latency_us} µs"
        return s + (f" ({'; '.join(self.problems)})" if self.problems else "")


def _libc() -> ctypes.CDLL:
    return ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)


def _thread_ids() -> list[int]:
    try:
        return sorted(int(t) for t in os.listdir("/proc/self/task"))
    except OSError:  # not Linux: the calling thread only
        return [0]


def _policy_of(tid: int = 0) -> tuple[str, int]:
    pol = os.sched_getscheduler(tid)
    names = {os.SCHED_OTHER: "SCHED_OTHER", os.SCHED_FIFO: "SCHED_FIFO", os.SCHED_RR: "SCHED_RR"}
    return names.get(pol, str(pol)), os.sched_getparam(tid).sched_priority


def apply_realtime(cfg: RealtimeConfig) -> RealtimeReport:
    """Apply `cfg` to every thread of this process; never raises for a refusal (see problems)."""
    rep = RealtimeReport()
    tids = _thread_ids()
    rep.threads = len(tids)
    if cfg.cpus:
        usable = os.sched_getaffinity(0) | set(range(os.cpu_count() or 1))
        missing = [c for c in cfg.cpus if c not in usable]
        if missing:
            rep.problems.append(f"no CPU {missing} on this machine ({os.cpu_count()} CPUs)")
        else:
            try:
                for t in tids:
                    os.sched_setaffinity(t, set(cfg.cpus))
            except OSError as e:
                rep.problems.append(f"CPU affinity refused: {e.strerror}")
    if cfg.priority:
        try:
            for t in tids:
                os.sched_setscheduler(t, os.SCHED_FIFO, os.sched_param(cfg.priority))
        except (OSError, AttributeError) as e:
            why = getattr(e, "strerror", None) or str(e)
            rep.problems.append(f"SCHED_FIFO {cfg.priority} refused ({why}: needs CAP_SYS_NICE or an "
                                "rtprio limit, e.g. in /etc/security/limits.conf)")
    if cfg.lock_memory:
        if _libc().mlockall(MCL_CURRENT | MCL_FUTURE) != 0:
            rep.problems.append(f"mlockall refused: {os.strerror(ctypes.get_errno())} (needs CAP_IPC_LOCK "
                                "or a memlock limit)")
        else:
            rep.memory_locked = True
    if cfg.idle_latency_us >= 0:
        try:  # the request stands while the file is open (the process's life, or the scope's)
            fd = os.open(PM_QOS_DEVICE, os.O_WRONLY)
            os.write(fd, struct.pack("i", cfg.idle_latency_us))
            rep._pm_qos_fd, rep.idle_latency_us = fd, cfg.idle_latency_us
        except OSError as e:
            rep.problems.append(f"CPU idle latency request refused ({PM_QOS_DEVICE}: {e.strerror}; needs root "
                                "or write access to it)")
    rep.policy, rep.priority = _policy_of()
    rep.cpus = tuple(sorted(os.sched_getaffinity(0)))
    if rep.problems:
        log.warning("real-time settings not fully applied: %s", "; ".join(rep.problems))
    return rep


@contextmanager
def realtime_scope(cfg: RealtimeConfig):
    """`apply_realtime(cfg)` for the body of a with-block, then the threads' earlier policy,
    priority and affinity back (and memory unlocked), e.g. to time a policy in-process as the
    control process would run it."""
    tids = _thread_ids()
    before = {}
    for t in tids:
        try:
            before[t] = (os.sched_getscheduler(t), os.sched_getparam(t).sched_priority, os.sched_getaffinity(t))
        except OSError:
            pass
    rep = apply_realtime(cfg) if cfg.requested else RealtimeReport(*_policy_of(), tuple(sorted(os.sched_getaffinity(0))))
    try:
        yield rep
    finally:
        for t, (pol, prio, cpus) in before.items():
            try:
                os.sched_setscheduler(t, pol, os.sched_param(prio))
                os.sched_setaffinity(t, cpus)
            except OSError:
                pass  # the thread has ended
        if rep.memory_locked:
            _libc().munlockall()
        rep.release_idle_latency()


def main(argv: list[str] | None = None) -> int:
    import argparse
    import json

    ap = argparse.ArgumentParser(description="try the real-time settings on this process and print what held")
    ap.add_argument("--priority", type=int, default=50)
    ap.add_argument("--cpus", default="")
    ap.add_argument("--lock-memory", action="store_true")
    ap.add_argument("--idle-latency-us", type=int, default=-1, help="PM QoS CPU idle exit latency (-1: leave)")
    a = ap.parse_args(argv)
    print(json.dumps(apply_realtime(RealtimeConfig.from_params(a.priority, a.cpus, a.lock_memory,
                                                               a.idle_latency_us)).as_dict()))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
