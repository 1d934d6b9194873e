"""Real-time scheduling of control processes (edge_nerve/runtime/realtime.py)."""

import os
import struct
import threading

import pytest

from edge_nerve.runtime import realtime
from edge_nerve.runtime.realtime import RealtimeConfig, apply_realtime, realtime_scope


def test_config_from_node_parameters():
    assert RealtimeConfig.from_params(50, "1", True) == RealtimeConfig(50, (1,), True)
    assert RealtimeConfig.from_params(0, " 0, 1 ", False).cpus == (0, 1)
    assert not RealtimeConfig.from_params(0, "", False).requested
    assert RealtimeConfig.from_params(0, "", False, 0) == RealtimeConfig(idle_latency_us=0)
    assert RealtimeConfig(idle_latency_us=0).requested
    with pytest.raises(ValueError, match="idle latency"):
        RealtimeConfig(idle_latency_us=-5)
    with pytest.raises(ValueError, match="1..99"):
        RealtimeConfig(priority=120)
    with pytest.raises(ValueError, match="comma list"):
        RealtimeConfig.from_params(10, "cpu1", False)


def test_a_refused_setting_is_reported_and_the_process_keeps_its_scheduler(monkeypatch):
    """Like ros2_control without rtprio: a warning naming why, never an exception."""
    def refuse(*_):
        raise PermissionError(1, "Operation not permitted")

    monkeypatch.setattr(realtime.os, "sched_setscheduler", refuse)
    rep = apply_realtime(RealtimeConfig(priority=50, cpus=(10_000,)))
    assert rep.policy == "SCHED_OTHER" and rep.priority == 0
    assert any("SCHED_FIFO 50 refused" in p and "CAP_SYS_NICE" in p for p in rep.problems)
    assert any("no CPU [10000]" in p for p in rep.problems)


@pytest.mark.skipif(not hasattr(os, "SCHED_FIFO"), reason="no POSIX real-time scheduling here")
def test_scope_applies_to_every_thread_and_restores_them():
    stop = threading.Event()
    worker = threading.Thread(target=stop.wait, daemon=True)
    worker.start()
    before = os.sched_getscheduler(0), os.sched_getaffinity(0)
    cpu = min(before[1])
    try:
        with realtime_scope(RealtimeConfig(priority=10, cpus=(cpu,))) as rep:
            if any("refused" in p for p in rep.problems):
                pytest.skip(f"this process may not use SCHED_FIFO: {rep.problems}")
            assert rep.policy == "SCHED_FIFO" and rep.priority == 10 and rep.cpus == (cpu,)
            assert rep.threads >= 2
            assert os.sched_getscheduler(worker.native_id) == os.SCHED_FIFO  # not only the caller
            assert os.sched_getaffinity(worker.native_id) == {cpu}
        assert (os.sched_getscheduler(0), os.sched_getaffinity(0)) == before
        assert os.sched_getscheduler(worker.native_id) == before[0]
    finally:
        stop.set()


def _held_idle_latency() -> int:
    fd = os.open(realtime.PM_QOS_DEVICE, os.O_RDONLY)
    try:
        return struct.unpack("i", os.read(fd, 4))[0]
    finally:
        os.close(fd)


@pytest.mark.skipif(not os.path.exists(realtime.PM_QOS_DEVICE), reason="no PM QoS device here")
def test_the_idle_latency_request_holds_inside_the_scope_and_ends_with_it():
    """The kernel's effective CPU idle exit latency is the smallest request held: 0 while the
    scope holds one (idle CPUs poll), and back to what it was after."""
    before = _held_idle_latency()
    with realtime_scope(RealtimeConfig(idle_latency_us=0)) as rep:
        if rep.problems:
            assert any("idle latency request refused" in p for p in rep.problems)
            pytest.skip(f"this process may not hold a PM QoS request: {rep.problems}")
        assert rep.idle_latency_us == 0 and "idle exit <= 0" in rep.summary()
        assert _held_idle_latency() == 0
    assert rep.idle_latency_us is None
    assert _held_idle_latency() == before


def test_a_refused_idle_latency_request_is_reported(monkeypatch):
    monkeypatch.setattr(realtime, "PM_QOS_DEVICE", "/nonexistent/cpu_dma_latency")
    rep = apply_realtime(RealtimeConfig(idle_latency_us=0))
    assert rep.idle_latency_us is None
    assert any("CPU idle latency request refused" in p for p in rep.problems)
