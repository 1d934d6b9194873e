"""The latency-injecting TCP proxy (edge_nerve/link/delay_proxy.py) against a real echo server.

Bounds are one-sided where the machine's load can only add delay: a round trip through the
proxy is never shorter than the configured RTT, and its median is not much longer.

    python -m pytest -q tests/unit/test_delay_proxy.py
"""

from __future__ import annotations

import socket
import statistics
import threading

import pytest

from edge_nerve.link.delay_proxy import DelayProxy, measure_rtt_ms, parse_address


class EchoServer:
    """Echoes every byte back on each accepted connection (one thread per connection)."""

    def __init__(self):
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.address = f"127.0.0.1:{self.sock.getsockname()[1]}"
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            threading.Thread(target=self._echo, args=(conn,), daemon=True).start()

    @staticmethod
    def _echo(conn):
        with conn:
            while data := conn.recv(65536):
                conn.sendall(data)

    def close(self):
        self.sock.close()


@pytest.fixture
def echo():
    srv = EchoServer()
    yield srv
    srv.close()


def test_direct_round_trip_is_fast(echo):
    assert statistics.median(measure_rtt_ms(echo.address, n=5)) < 50.0


@pytest.mark.parametrize("rtt_ms", [40.0, 120.0])
def test_round_trip_through_the_proxy_matches_the_configured_rtt(echo, rtt_ms):
    with DelayProxy(echo.address, rtt_ms=rtt_ms) as proxy:
        rtts = measure_rtt_ms(proxy.address, n=6)
    assert min(rtts) >= rtt_ms - 1.0, rtts  # never faster than the injected delay
    assert statistics.median(rtts) < rtt_ms + 40.0, rtts  # and not much slower
    assert proxy.stats.connections == 1 and proxy.stats.bytes_up == proxy.stats.bytes_down


def test_jitter_spreads_round_trips_but_keeps_byte_order(echo):
    rtt, jitter = 60.0, 40.0
    with DelayProxy(echo.address, rtt_ms=rtt, jitter_ms=jitter, seed=1) as proxy:
        rtts = measure_rtt_ms(proxy.address, n=12)
        # a burst of numbered chunks, each its own TCP write: jitter must not reorder them
        host, port = parse_address(proxy.address)
        with socket.create_connection((host, port), timeout=5.0) as s:
            s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            sent = b"".join(b"%04d," % i for i in range(200))
            for i in range(200):
                s.sendall(b"%04d," % i)
            got = b""
            while len(got) < len(sent):
                got += s.recv(65536)
    assert got == sent
    assert min(rtts) >= rtt - jitter - 1.0, rtts
    assert statistics.median(rtts) < rtt + jitter + 40.0, rtts
    assert max(rtts) - min(rtts) > 1.0, rtts  # the draws did vary


def test_half_close_reaches_the_other_side_after_the_delay(echo):
    with DelayProxy(echo.address, rtt_ms=30.0) as proxy:
        host, port = parse_address(proxy.address)
        with socket.create_connection((host, port), timeout=5.0) as s:
            s.sendall(b"last words")
            s.shutdown(socket.SHUT_WR)  # the echo server sees EOF, finishes, closes
            got = b""
            while chunk := s.recv(1024):
                got += chunk
    assert got == b"last words"


def test_unreachable_target_closes_the_client_connection():
    free = socket.socket()
    free.bind(("127.0.0.1", 0))
    port = free.getsockname()[1]
    free.close()  # nothing listens there now
    with DelayProxy(f"127.0.0.1:{port}", rtt_ms=10.0) as proxy:
        host, pport = parse_address(proxy.address)
        with socket.create_connection((host, pport), timeout=5.0) as s:
            assert s.recv(10) == b""


def test_bad_arguments_are_clear_errors():
    with pytest.raises(ValueError, match="host:port"):
        DelayProxy("nowhere", rtt_ms=10)
    with pytest.raises(ValueError, match=">= 0"):
        DelayProxy("127.0.0.1:1", rtt_ms=-1)
    with pytest.raises(ValueError, match="must not exceed"):
        DelayProxy("127.0.0.1:1", rtt_ms=10, jitter_ms=30)
