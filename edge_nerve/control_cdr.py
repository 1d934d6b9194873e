"""The control loop's two messages as CDR bytes: JointState read in place, TwistStamped written
into a fixed buffer, so a 500 Hz tick does not pay rclpy's conversion to and from Python objects.

Why: with the policy call at ~10 µs, most of a tick's own time was rclpy turning the incoming
JointState (a header, 12 name strings, three float arrays) into Python objects and the outgoing
TwistStamped back into C: 12 + 5 µs back to back, and ~38 + 26 µs at p50 (~140 + 75 at p99)
when called once per 2 ms as the loop calls them, on colder caches (`python -m
edge_nerve.control_cdr` times both ways). A raw subscription hands the callback the serialized
bytes; the float arrays are read as numpy views of them, and the command is published as bytes
(rclpy's publish of a `bytes` message). Nothing is guessed about the wire: the reader walks the
CDR layout (plain CDR, little endian, the encapsulation rmw_fastrtps uses) and hands back None
for anything else, and the writer's buffer is a message rclpy serialized itself, checked at
construction by rclpy reading it back. The callers fall back to rclpy's own (de)serialisation
where either says no.

    .venv/bin/python -m pytest tests/unit/test_control_cdr.py -q
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

import numpy as np

CDR_LE = b"\x00\x01"  # encapsulation id: plain CDR, little endian (the options bytes follow)
_U32 = struct.Struct("<I")
_STAMP = struct.Struct("<iI")


@dataclass(slots=True)
class JointStateView:
    """One JointState's stamp and float arrays, as views into the message bytes (no copy).

    `rows`: positions, velocities and efforts; one (3, n) array (a strided view of the bytes:
    CDR puts the three arrays 8 bytes apart when they are equally long) or three 1-D arrays."""

    sec: int
    nanosec: int
    rows: np.ndarray | tuple[np.ndarray, np.ndarray, np.ndarray]

    @property
    def stamp_ns(self) -> int:
        return self.sec * 1_000_000_000 + self.nanosec

    @property
    def position(self) -> np.ndarray:
        return self.rows[0]

    @property
    def velocity(self) -> np.ndarray:
        return self.rows[1]

    @property
    def effort(self) -> np.ndarray:
        return self.rows[2]

    @classmethod
    def of(cls, msg) -> "JointStateView":
        """The same view of a JointState message object (the fallback path)."""
        f = np.float64
        return cls(msg.header.stamp.sec, msg.header.stamp.nanosec, (np.asarray(msg.position, f),
                   np.asarray(msg.velocity, f), np.asarray(msg.effort, f)))


class JointStateReader:
    """Reads sensor_msgs/JointState CDR bytes: the header stamp and the three float64 arrays.

    A robot's joint_states keeps its names and frame from one message to the next, so the
    offsets of the arrays are kept and reused while the bytes that decide them (frame id,
    names, array lengths) are the same; otherwise the layout is walked again."""

    def __init__(self):
        self._size = -1  # length of the message the offsets are for
        # bytes [12, _end) masked to those that decide the layout (_walk's `fixed`) must equal _key
        self._end, self._mask, self._key = 12, 0, 0
        self._arrays: tuple[tuple[int, int], ...] = ()  # (offset, length) of each array's values
        self._block: tuple | None = None  # (shape, offset, strides) of the (3, n) view, if equally long

    def read(self, data: bytes) -> JointStateView | None:
        """The stamp and arrays of `data`; None when it is not plain little-endian CDR of a
        JointState (the caller then deserialises it with rclpy)."""
        # Called once per control tick: few Python operations (each costs ~1 µs on a cold core),
        # so the layout is checked as one masked comparison of the bytes as an integer.
        if not (len(data) == self._size and data.startswith(CDR_LE)
                and int.from_bytes(data[12:self._end], "little") & self._mask == self._key) \
                and not self._learn(data):
            return None
        sec, nanosec = _STAMP.unpack_from(data, 4)
        if self._block is not None:  # one call: a (3, n) view whose rows are 8 * (n + 1) bytes apart
            shape, at, strides = self._block
            return JointStateView(sec, nanosec, np.ndarray(shape, np.float64, data, at, strides))
        return JointStateView(sec, nanosec, tuple(np.frombuffer(data, np.float64, n, at) for at, n in self._arrays))

    def _learn(self, data: bytes) -> bool:
        """Walk `data`'s layout and keep its offsets; False if it is not a JointState in plain
        little-endian CDR."""
        if len(data) < 12 or not data.startswith(CDR_LE):
            return False
        try:
            fixed, arrays = self._walk(data)
        except (struct.error, ValueError):
            return False
        (_, p_at, n), (_, v_at, nv), (e_cnt, e_at, ne) = arrays
        self._size, self._end = len(data), e_cnt + 4
        mask = bytearray(self._end - 12)
        for a, b in fixed:
            mask[a - 12:b - 12] = b"\xff" * (b - a)
        self._mask = int.from_bytes(mask, "little")
        self._key = int.from_bytes(data[12:self._end], "little") & self._mask
        self._arrays = tuple((at, k) for _, at, k in arrays)
        uniform = n and n == nv == ne and v_at == p_at + 8 * n + 8 and e_at == v_at + 8 * n + 8
        self._block = ((3, n), p_at, (8 * (n + 1), 8)) if uniform else None
        return True

    @staticmethod
    def _walk(data: bytes) -> tuple[list[tuple[int, int]], tuple[tuple[int, int, int], ...]]:
        """Offsets, per CDR rules (alignment counted from the end of the 4-byte encapsulation):
        the byte ranges that decide the layout (the frame id and the names with their lengths,
        the array counts; not the padding, whose bytes are whatever the writer's buffer held),
        and (count offset, first value offset, count) of each array."""
        end = len(data)
        fixed: list[tuple[int, int]] = []

        def align(at: int, n: int) -> int:
            return 4 + (-(-(at - 4) // n)) * n

        def string_end(at: int) -> int:  # at: aligned offset of the string's length
            n = _U32.unpack_from(data, at)[0]
            if n == 0 or at + 4 + n > end:
                raise ValueError("string runs past the message")
            fixed.append((at, at + 4 + n))
            return at + 4 + n

        at = string_end(12)  # header.frame_id, after stamp (sec, nanosec)
        at = align(at, 4)
        count = _U32.unpack_from(data, at)[0]
        fixed.append((at, at + 4))
        at += 4
        if count > end:
            raise ValueError("name count past the message")
        for _ in range(count):
            at = string_end(align(at, 4))
        arrays = []
        for _ in range(3):  # position, velocity, effort
            at = align(at, 4)
            n = _U32.unpack_from(data, at)[0]
            fixed.append((at, at + 4))
            first = align(at + 4, 8)
            if n and first + 8 * n > end:
                raise ValueError("array runs past the message")
            arrays.append((at, first if n else at + 4, n))
            at = first + 8 * n if n else at + 4
        return fixed, tuple(arrays)


def header_stamp(data: bytes) -> tuple[int, int] | None:
    """(sec, nanosec) of any message that starts with a std_msgs/Header, from its CDR bytes;
    None unless plain little-endian CDR."""
    if len(data) < 12 or data[:2] != CDR_LE:
        return None
    return _STAMP.unpack_from(data, 4)


class JointStateWriter:
    """Fills sensor_msgs/JointState CDR bytes for a fixed frame, names and joint count: the
    stamp and the three arrays are written into a message rclpy serialised (offsets found by
    JointStateReader's walk), as a driver in C++ would fill its message in place."""

    def __init__(self, names: list[str], frame_id: str = ""):
        from rclpy.serialization import serialize_message
        from sensor_msgs.msg import JointState

        m = JointState()
        m.header.frame_id, m.name = frame_id, list(names)
        m.position = m.velocity = m.effort = [0.0] * len(names)
        self._buf = bytearray(serialize_message(m))
        if self._buf[:2] != CDR_LE:
            raise ValueError("rclpy did not serialise JointState as plain little-endian CDR")
        _, arrays = JointStateReader._walk(bytes(self._buf))
        self._sec = np.frombuffer(self._buf, np.int32, 1, 4)
        self._nanosec = np.frombuffer(self._buf, np.uint32, 1, 8)
        self._arrays = [np.frombuffer(self._buf, np.float64, n, at) for _, at, n in arrays]

    def fill(self, sec: int, nanosec: int, position, velocity, effort) -> bytes:
        """The message's bytes with this stamp and these values (each as long as the names)."""
        self._sec[0], self._nanosec[0] = sec, nanosec
        p, v, e = self._arrays
        p[:], v[:], e[:] = position, velocity, effort
        return bytes(self._buf)


class TwistStampedWriter:
    """Fills geometry_msgs/TwistStamped CDR bytes: a fixed frame id, a stamp and the twist.

    The buffer is the serialization rclpy itself made of a TwistStamped with that frame id;
    the stamp and the six doubles are found in it by value at construction, and the result
    is read back by rclpy to prove the offsets. `ok` is False if anything did not check out
    (then publish the message object instead)."""

    def __init__(self, frame_id: str = "base_link"):
        from geometry_msgs.msg import TwistStamped
        from rclpy.serialization import deserialize_message, serialize_message

        probe = TwistStamped()
        probe.header.frame_id = frame_id
        probe.header.stamp.sec, probe.header.stamp.nanosec = 0x5EC0_0001, 0x0A05_0002
        values = (1.25, -2.5, 3.75, -4.125, 5.0625, -6.03125)
        t = probe.twist
        t.linear.x, t.linear.y, t.linear.z, t.angular.x, t.angular.y, t.angular.z = values
        self._buf = bytearray(serialize_message(probe))
        self.ok = False
        stamp_at = self._buf.find(_STAMP.pack(0x5EC0_0001, 0x0A05_0002))
        twist_at = self._buf.find(np.asarray(values, np.float64).tobytes())
        if self._buf[:2] != CDR_LE or stamp_at != 4 or twist_at < 0 or twist_at % 8 != 4:
            return
        self._sec = np.frombuffer(self._buf, np.int32, 1, stamp_at)
        self._nanosec = np.frombuffer(self._buf, np.uint32, 1, stamp_at + 4)
        self._twist = np.frombuffer(self._buf, np.float64, 6, twist_at)  # linear xyz, angular xyz
        self._twist[:] = 0.0
        back = deserialize_message(self.fill(-7, 123_456_789, 0.5, -0.25, 0.125), TwistStamped)
        b = back.twist
        self.ok = (back.header.frame_id == frame_id and
                   (back.header.stamp.sec, back.header.stamp.nanosec) == (-7, 123_456_789) and
                   (b.linear.x, b.linear.y, b.linear.z, b.angular.x, b.angular.y, b.angular.z) ==
                   (0.5, -0.25, 0.0, 0.0, 0.0, 0.125))

    def fill(self, sec: int, nanosec: int, vx: float, vy: float, wz: float) -> bytes:
        """The message's bytes with this stamp and base twist (vx, vy, wz)."""
        self._sec[0], self._nanosec[0] = sec, nanosec
        t = self._twist
        t[0], t[1], t[5] = vx, vy, wz
        return bytes(self._buf)


class ControlWire:
    """The control loop's sensor input and command output as bytes: the reader and writer above,
    with rclpy's own conversion where they cannot be used (another encapsulation, a failed check)."""

    def __init__(self, frame_id: str = "base_link"):
        from geometry_msgs.msg import TwistStamped

        self.reader, self.writer = JointStateReader(), TwistStampedWriter(frame_id)
        self._msg = TwistStamped()
        self._msg.header.frame_id = frame_id
        self.fallbacks = 0  # messages that took rclpy's path

    def joint_state(self, data: bytes) -> JointStateView:
        view = self.reader.read(data)
        if view is None:
            from rclpy.serialization import deserialize_message
            from sensor_msgs.msg import JointState

            self.fallbacks += 1
            view = JointStateView.of(deserialize_message(data, JointState))
        return view

    def command(self, sec: int, nanosec: int, vx: float, vy: float, wz: float):
        """What to publish on the TwistStamped topic: bytes, or the message object."""
        if self.writer.ok:
            return self.writer.fill(sec, nanosec, vx, vy, wz)
        m = self._msg
        m.header.stamp.sec, m.header.stamp.nanosec = sec, nanosec
        t = m.twist
        t.linear.x, t.linear.y, t.angular.z = vx, vy, wz
        return m


def _time_both_ways(n: int = 2000) -> None:
    """rclpy's conversion against these, back to back and once per 2 ms (the loop's pace)."""
    import time

    from geometry_msgs.msg import TwistStamped
    from rclpy.serialization import deserialize_message, serialize_message
    from sensor_msgs.msg import JointState

    js = JointState()
    js.header.frame_id = "base_link"
    js.name = [f"joint_{i}" for i in range(12)]
    r = np.random.default_rng(0).standard_normal(36)
    js.position, js.velocity, js.effort = r[:12].tolist(), r[12:24].tolist(), r[24:].tolist()
    raw = serialize_message(js)
    tw = TwistStamped()
    tw.header.frame_id = "base_link"
    reader, writer = JointStateReader(), TwistStampedWriter()
    cases = {"JointState, rclpy": lambda: deserialize_message(raw, JointState),
             "JointState, reader": lambda: reader.read(raw),
             "TwistStamped, rclpy": lambda: serialize_message(tw),
             "TwistStamped, writer": lambda: writer.fill(1, 2, 0.1, 0.2, 0.3)}
    for pace, gap in (("back to back", 0.0), ("once per 2 ms", 0.002)):
        for name, f in cases.items():
            ts = np.empty(n)
            for i in range(n):
                if gap:
                    time.sleep(gap)
                t0 = time.perf_counter_ns()
                f()
                ts[i] = (time.perf_counter_ns() - t0) / 1e3
            print(f"{pace:14s} {name:22s} p50 {np.percentile(ts, 50):6.1f} µs  p99 {np.percentile(ts, 99):6.1f} µs")


if __name__ == "__main__":
    _time_both_ways()
