"""The nodes' spin loop: a message rclpy cannot take costs that message, not the node."""

from __future__ import annotations

import pytest

rclpy = pytest.importorskip("rclpy")
from rclpy.executors import SingleThreadedExecutor  # noqa: E402

from edge_nerve.bringup.graph import reserve_ros_domain  # noqa: E402
from edge_nerve.nodes.common import TAKE_FAILURE, spin  # noqa: E402


class _FailingTakes(SingleThreadedExecutor):
    """A real executor whose first `fail` turns raise what rclpy raises when a take fails
    (`Subscription.take_message`, seen once under load in the plan_executor)."""

    def __init__(self, context, fail: int, message: str):
        super().__init__(context=context)
        self.fail, self.message = fail, message

    def spin_once(self, timeout_sec=None):
        if self.fail:
            self.fail -= 1
            raise RuntimeError(self.message)
        super().spin_once(timeout_sec)


class _Log:
    def __init__(self):
        self.errors = []

    def error(self, text):
        self.errors.append(text)


def _run(fail: int, message: str):
    ctx = rclpy.Context()
    domain, lock = reserve_ros_domain()
    with lock:
        rclpy.init(context=ctx, domain_id=domain)
        try:
            node = rclpy.create_node("spin_test", context=ctx)
            ticks = []

            def tick():
                ticks.append(1)
                if len(ticks) == 5:
                    ctx.try_shutdown()
            node.create_timer(0.01, tick)
            ex = _FailingTakes(ctx, fail, message)
            ex.add_node(node)
            log = _Log()
            try:
                dropped = spin(ex, log)
            finally:
                ex.shutdown()
                node.destroy_node()
            return dropped, len(ticks), log.errors
        finally:
            ctx.try_shutdown()


def test_a_failed_take_is_logged_and_the_node_keeps_running():
    msg = f"{TAKE_FAILURE} '0' to Python object (#define PYBIND11_DETAILED_ERROR_MESSAGES ...)"
    dropped, ticks, errors = _run(2, msg)
    assert dropped == 2 and ticks == 5  # the timer kept firing after both failures
    assert len(errors) == 2 and "spinning on" in errors[-1]


def test_other_errors_are_not_swallowed():
    with pytest.raises(RuntimeError, match="a bug in a callback"):
        _run(1, "a bug in a callback")


def test_a_node_whose_callback_fails_exits_at_once_with_its_traceback():
    """A failure inside spin ends the process with code 1 and the traceback in its log, so
    the launcher reports the dead node instead of waiting on a live-looking one."""
    import os
    import subprocess
    import sys
    import time

    code = """
from rclpy.node import Node
from edge_nerve.nodes.common import spin_node

class Broken(Node):
    def __init__(self):
        super().__init__("broken")
        self.create_timer(0.02, self.tick)

    def tick(self):
        raise ValueError("the policy file is corrupt")

spin_node(Broken)
"""
    domain, lock = reserve_ros_domain()
    with lock:
        env = dict(os.environ, ROS_DOMAIN_ID=str(domain), ROS_AUTOMATIC_DISCOVERY_RANGE="LOCALHOST")
        t0 = time.monotonic()
        proc = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 1
    assert "ValueError: the policy file is corrupt" in proc.stderr
    assert time.monotonic() - t0 < 30
