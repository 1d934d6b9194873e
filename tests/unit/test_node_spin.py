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
