"""A TCP proxy that delays every byte by half a round-trip time in each direction (latency injection).

Why: the robot's link to the cloud is a 100-300 ms WAN link, and the point of step streaming and
plan prefetch is to hide that round trip. Loopback has none, so the benches and the tests put
this proxy between the edge's gRPC channel and the cloud's server: a real TCP hop (HTTP/2
frames, pings, window updates and all) whose one-way delay is `rtt_ms / 2`, plus optional jitter.

Each direction is a FIFO: a chunk read at time t is written at max(t + one_way_delay, the time
the previous chunk of that direction was written), so jitter never reorders bytes (TCP could
not either). Half-closes (EOF) travel with the same delay. Runs an asyncio loop on its own
thread, so it works from synchronous code and tests:

    with DelayProxy("127.0.0.1:50051", rtt_ms=300, jitter_ms=20) as proxy:
        client = CloudClient(proxy.address, ...)        # every message now takes ~150 ms

    python -m edge_nerve.link.delay_proxy --target 127.0.0.1:50051 --listen-port 50052 --rtt-ms 300
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import random
import socket
import threading
import time
from dataclasses import dataclass

log = logging.getLogger(__name__)

_CHUNK = 64 * 1024
_EOF = b""  # queued after the last chunk of a direction: half-close once it is due


def parse_address(address: str) -> tuple[str, int]:
    """'host:port' -> (host, port), with a clear error for anything else."""
    host, sep, port = address.rpartition(":")
    if not sep or not host or not port.isdigit():
        raise ValueError(f"address {address!r} is not 'host:port'")
    return host.strip("[]"), int(port)


@dataclass
class ProxyStats:
    """What went through the proxy (read it while running or after stop())."""

    connections: int = 0
    bytes_up: int = 0  # client -> target
    bytes_down: int = 0  # target -> client
    chunks_up: int = 0
    chunks_down: int = 0


class DelayProxy:
    """Listens on `listen_host:listen_port` (0: any free port) and forwards to `target`.

    rtt_ms: the round trip the proxy adds; each direction holds data for rtt_ms / 2.
    jitter_ms: each chunk's one-way delay is drawn uniformly from rtt_ms/2 +- jitter_ms/2
        (clipped at 0), so a round trip varies within rtt_ms +- jitter_ms; order is preserved.
    seed: for the jitter draws (reproducible runs).
    """

    def __init__(self, target: str, rtt_ms: float, jitter_ms: float = 0.0, *,
                 listen_host: str = "127.0.0.1", listen_port: int = 0, seed: int | None = None):
        if rtt_ms < 0 or jitter_ms < 0:
            raise ValueError(f"rtt_ms and jitter_ms must be >= 0 (got {rtt_ms}, {jitter_ms})")
        if jitter_ms > rtt_ms:
            raise ValueError(f"jitter_ms ({jitter_ms}) must not exceed rtt_ms ({rtt_ms}): "
                             "a one-way delay cannot be negative")
        self.target = parse_address(target)
        self.rtt_ms = float(rtt_ms)
        self.jitter_ms = float(jitter_ms)
        self.listen_host = listen_host
        self.port = listen_port
        self.stats = ProxyStats()
        self._rng = random.Random(seed)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._server: asyncio.base_events.Server | None = None
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()
        self._start_error: BaseException | None = None
        self._conns: set[asyncio.Task] = set()

    @property
    def address(self) -> str:
        """'host:port' the edge connects to instead of the target."""
        return f"{self.listen_host}:{self.port}"

    def one_way_delay_s(self) -> float:
        """One draw of the one-way delay, in seconds."""
        d = self.rtt_ms / 2.0
        if self.jitter_ms:
            d += self._rng.uniform(-self.jitter_ms / 2.0, self.jitter_ms / 2.0)
        return max(0.0, d) / 1e3

    # ---- lifecycle -----------------------------------------------------------------------
    def start(self, timeout_s: float = 5.0) -> "DelayProxy":
        if self._thread is not None:
            raise RuntimeError("DelayProxy.start() called twice")
        self._thread = threading.Thread(target=self._run, name=f"delay-proxy:{self.rtt_ms:g}ms",
                                        daemon=True)
        self._thread.start()
        if not self._ready.wait(timeout_s):
            raise TimeoutError(f"delay proxy did not start within {timeout_s} s")
        if self._start_error is not None:
            raise OSError(f"delay proxy cannot listen on {self.listen_host}:{self.port}: "
                          f"{self._start_error}") from self._start_error
        log.info("delay proxy %s -> %s:%d, rtt %.1f ms, jitter %.1f ms", self.address,
                 *self.target, self.rtt_ms, self.jitter_ms)
        return self

    def stop(self, timeout_s: float = 3.0) -> None:
        """Close the listener and every proxied connection (both sides see a reset/close)."""
        loop, thread = self._loop, self._thread
        if loop is None or thread is None:
            return
        if loop.is_running():
            asyncio.run_coroutine_threadsafe(self._shutdown(), loop)
        thread.join(timeout_s)
        self._loop = self._thread = None

    def drop_connections(self, timeout_s: float = 3.0) -> int:
        """Sever every proxied connection now (a link outage); new ones are still accepted.
        Returns how many were dropped."""
        loop = self._loop
        if loop is None or not loop.is_running():
            return 0

        async def drop() -> int:
            tasks = list(self._conns)
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            return len(tasks)

        return asyncio.run_coroutine_threadsafe(drop(), loop).result(timeout_s)

    def __enter__(self) -> "DelayProxy":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def _run(self) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        try:
            self._server = loop.run_until_complete(asyncio.start_server(
                self._accept, self.listen_host, self.port))
            self.port = self._server.sockets[0].getsockname()[1]
        except OSError as e:
            self._start_error = e
            self._ready.set()
            loop.close()
            return
        self._ready.set()
        try:
            loop.run_forever()
        finally:
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.close()

    async def _shutdown(self) -> None:
        self._server.close()
        for task in list(self._conns):
            task.cancel()
        await asyncio.gather(*self._conns, return_exceptions=True)
        await self._server.wait_closed()
        asyncio.get_running_loop().stop()

    # ---- one proxied connection ----------------------------------------------------------
    async def _accept(self, client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        self._conns.add(task)
        self.stats.connections += 1
        target_w = None
        try:
            try:
                target_r, target_w = await asyncio.open_connection(*self.target)
            except OSError as e:
                log.warning("delay proxy: target %s:%d unreachable: %s", *self.target, e)
                return
            for w in (client_w, target_w):
                sock = w.get_extra_info("socket")
                if sock is not None:
                    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            await asyncio.gather(self._direction(client_r, target_w, up=True),
                                 self._direction(target_r, client_w, up=False))
        except asyncio.CancelledError:
            pass
        finally:
            for w in (client_w, target_w):
                if w is not None:
                    w.close()
            self._conns.discard(task)

    async def _direction(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                         up: bool) -> None:
        """Pump one direction: a reader stamps each chunk with its due time, a writer sends it
        then. The two run concurrently, so a slow due time never stalls reading."""
        loop = asyncio.get_running_loop()
        fifo: asyncio.Queue = asyncio.Queue()

        async def read() -> None:
            last_due = 0.0
            while True:
                try:
                    data = await reader.read(_CHUNK)
                except (ConnectionError, OSError):
                    data = _EOF
                due = max(last_due, loop.time() + self.one_way_delay_s())
                last_due = due
                fifo.put_nowait((due, data))
                if not data:
                    return

        async def write() -> None:
            while True:
                due, data = await fifo.get()
                wait = due - loop.time()
                if wait > 0:
                    await asyncio.sleep(wait)
                if not data:
                    if writer.can_write_eof():
                        try:
                            writer.write_eof()
                        except (ConnectionError, OSError):
                            pass
                    return
                if up:
                    self.stats.bytes_up += len(data)
                    self.stats.chunks_up += 1
                else:
                    self.stats.bytes_down += len(data)
                    self.stats.chunks_down += 1
                try:
                    writer.write(data)
                    await writer.drain()
                except (ConnectionError, OSError):
                    return

        reader_task = asyncio.ensure_future(read())
        try:
            await write()
        finally:
            reader_task.cancel()
            await asyncio.gather(reader_task, return_exceptions=True)


def measure_rtt_ms(address: str, n: int = 10, payload: bytes = b"ping\n",
                   timeout_s: float = 5.0) -> list[float]:
    """Round trips of `payload` to a line-echo server at `address` (through a proxy or not)."""
    host, port = parse_address(address)
    out = []
    with socket.create_connection((host, port), timeout=timeout_s) as s:
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        for _ in range(n):
            t0 = time.perf_counter()
            s.sendall(payload)
            got = b""
            while len(got) < len(payload):
                chunk = s.recv(len(payload) - len(got))
                if not chunk:
                    raise ConnectionError("echo server closed the connection")
                got += chunk
            out.append((time.perf_counter() - t0) * 1e3)
            if got != payload:
                raise AssertionError(f"echo mismatch: sent {payload!r}, got {got!r}")
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--target", required=True, help="host:port of the real server")
    ap.add_argument("--listen-host", default="127.0.0.1")
    ap.add_argument("--listen-port", type=int, default=0)
    ap.add_argument("--rtt-ms", type=float, required=True)
    ap.add_argument("--jitter-ms", type=float, default=0.0)
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    proxy = DelayProxy(args.target, args.rtt_ms, args.jitter_ms, listen_host=args.listen_host,
                       listen_port=args.listen_port).start()
    print(f"delay proxy on {proxy.address} -> {args.target} (rtt {args.rtt_ms} ms, "
          f"jitter {args.jitter_ms} ms); Ctrl-C to stop", flush=True)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        pass
    proxy.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
