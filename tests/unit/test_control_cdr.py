"""The control loop reads JointState and writes TwistStamped as CDR bytes (edge_nerve/control_cdr.py):
what it reads and writes must be exactly what rclpy's own serialisation says, for any message."""

import struct

import numpy as np
import pytest
from geometry_msgs.msg import TwistStamped
from hypothesis import given, settings
from hypothesis import strategies as st
from rclpy.serialization import deserialize_message, serialize_message
from sensor_msgs.msg import JointState

from edge_nerve.control_cdr import ControlWire, JointStateReader, JointStateWriter, TwistStampedWriter, header_stamp

floats = st.floats(allow_nan=True, allow_infinity=True, width=64)
text = st.text(st.characters(codec="utf-8", exclude_characters="\x00"), max_size=12)


def joint_state(sec, nanosec, frame, names, position, velocity, effort) -> JointState:
    m = JointState()
    m.header.stamp.sec, m.header.stamp.nanosec = sec, nanosec
    m.header.frame_id = frame
    m.name, m.position, m.velocity, m.effort = names, position, velocity, effort
    return m


def same(a: np.ndarray, b) -> bool:
    return np.array_equal(a, np.asarray(b, np.float64), equal_nan=True)


@settings(max_examples=300, deadline=None)
@given(st.integers(-2**31, 2**31 - 1), st.integers(0, 2**32 - 1), text, st.lists(text, max_size=14),
       st.lists(floats, max_size=14), st.lists(floats, max_size=14), st.lists(floats, max_size=14))
def test_the_reader_gives_what_rclpy_serialised(sec, nanosec, frame, names, position, velocity, effort):
    data = serialize_message(joint_state(sec, nanosec, frame, names, position, velocity, effort))
    view = JointStateReader().read(data)
    assert view is not None
    assert (view.sec, view.nanosec) == (sec, nanosec)
    assert same(view.position, position) and same(view.velocity, velocity) and same(view.effort, effort)


def test_one_reader_follows_a_message_whose_layout_changes_at_the_same_length():
    """The offsets are kept between messages: names of the same total length but other words,
    or arrays that trade lengths, must not be read at the old offsets."""
    r = JointStateReader()
    msgs = [joint_state(1, 2, "base", ["a", "bb"], [1.0, 2.0], [3.0, 4.0], []),
            joint_state(3, 4, "base", ["a", "bb"], [1.5, 2.5], [], [5.0, 6.0]),  # same size, effort not velocity
            joint_state(5, 6, "base", ["bb", "a"], [7.0, 8.0], [], [9.0, 10.0]),
            joint_state(7, 8, "odom", ["abc"], [1.0], [2.0], [3.0]),
            joint_state(9, 10, "base", ["a", "bb"], [1.0, 2.0], [3.0, 4.0], []),
            # 52 bytes each; the second has uint32s 1, 0, 0 where the first has its array counts,
            # so only the names tell them apart
            joint_state(1, 1, "", ["a"], [0.5], [], []),
            joint_state(1, 1, "", ["a", ""], [], [], []),
            # the same length and counts where the counts were: only a name's length tells
            joint_state(1, 1, "base", ["a"], [], [], [20.0]),
            joint_state(1, 1, "base", ["abcd"], [], [10.0], [])]
    assert len(serialize_message(msgs[-3])) == len(serialize_message(msgs[-4]))
    assert len(serialize_message(msgs[-1])) == len(serialize_message(msgs[-2]))
    # Another writer may pad a message differently: the same length with one effort fewer
    a = serialize_message(joint_state(1, 1, "b", ["a"], [1.0], [2.0], [3.0]))
    b = serialize_message(joint_state(1, 1, "b", ["a"], [1.0], [2.0], []))
    b_same_length = b[:len(b) - 8] + bytes(len(a) - len(b) + 8)  # its trailing slack, then zeros
    assert len(b_same_length) == len(a) and deserialize_message(b_same_length, JointState).effort.tolist() == []
    r2 = JointStateReader()
    assert r2.read(a).effort.tolist() == [3.0] and r2.read(b_same_length).effort.tolist() == []
    for m in msgs * 2:
        data = serialize_message(m)
        v = r.read(data)
        assert (v.sec, v.nanosec) == (m.header.stamp.sec, m.header.stamp.nanosec)
        assert same(v.position, m.position) and same(v.velocity, m.velocity) and same(v.effort, m.effort)


def test_padding_bytes_do_not_decide_the_layout(monkeypatch):
    """rclpy leaves CDR padding as whatever its buffer held, so two messages of one layout differ
    there: the reader keeps its offsets (no walk per tick) and still reads the values right."""
    m = joint_state(1, 2, "b", ["j0", "j11"], [1.0, 2.0], [3.0, 4.0], [5.0, 6.0])
    a = serialize_message(m)
    r = JointStateReader()
    r.read(a)
    fixed, _ = JointStateReader._walk(a)
    layout = set()
    for lo, hi in fixed:
        layout.update(range(lo, hi))
    values = set()
    for _, at, n in JointStateReader._walk(a)[1]:
        values.update(range(at, at + 8 * n))
    pads = [i for i in range(12, len(a)) if i not in layout and i not in values]
    assert pads  # "b\0" and "j0\0" leave padding before the next length
    b = bytearray(a)
    for i in pads:
        b[i] ^= 0xA5
    monkeypatch.setattr(r, "_learn", lambda data: pytest.fail("walked again for other padding"))
    v = r.read(bytes(b))
    assert v.rows.tolist() == [[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]] and (v.sec, v.nanosec) == (1, 2)


def test_equally_long_arrays_come_as_one_view_of_the_bytes():
    m = joint_state(1, 2, "base", [f"j{i}" for i in range(12)], list(range(12)), list(range(12, 24)),
                    list(range(24, 36)))
    v = JointStateReader().read(serialize_message(m))
    assert isinstance(v.rows, np.ndarray) and v.rows.shape == (3, 12) and not v.rows.flags.owndata
    assert v.rows.tolist() == [list(map(float, range(k, k + 12))) for k in (0, 12, 24)]


def test_bytes_it_cannot_read_are_refused_not_misread():
    good = serialize_message(joint_state(1, 2, "base", ["j0", "j1"], [1.0, 2.0], [3.0, 4.0], [5.0, 6.0]))
    r = JointStateReader()
    assert r.read(b"") is None
    assert r.read(b"\x00\x00" + good[2:]) is None  # big-endian CDR: another encapsulation
    assert r.read(b"\x00\x07" + good[2:]) is None  # XCDR2
    for cut in (8, 16, 30, len(good) - 60, len(good) - 9):
        assert r.read(good[:cut]) is None, cut
    # a name count far past the message
    bad = bytearray(good)
    names_at = 4 + 8 + 4 + len(b"base\x00")
    names_at += (-names_at) % 4
    struct.pack_into("<I", bad, names_at, 10_000)
    assert r.read(bytes(bad)) is None


def test_the_wire_falls_back_to_rclpy_for_other_encapsulations():
    """The wire always answers: bytes the reader refuses are read by rclpy."""
    wire = ControlWire()
    m = joint_state(4, 5, "base", ["j0"], [1.0], [2.0], [3.0])
    data = serialize_message(m)
    # same content, declared big endian: rclpy reads it (the reader would refuse it)
    be = bytearray(b"\x00\x00\x00\x00")
    be += struct.pack(">iII", 4, 5, 5) + b"base\x00" + b"\x00" * 3
    be += struct.pack(">II", 1, 3) + b"j0\x00" + b"\x00"
    for arr in ([1.0], [2.0], [3.0]):
        be += struct.pack(">I", 1)
        be += b"\x00" * ((-(len(be) - 4)) % 8)
        be += struct.pack(">d", arr[0])
    assert deserialize_message(bytes(be), JointState).effort.tolist() == [3.0]  # rclpy reads it
    v = wire.joint_state(bytes(be))
    assert wire.fallbacks == 1 and (v.sec, v.nanosec) == (4, 5) and same(v.effort, [3.0])
    v = wire.joint_state(data)
    assert wire.fallbacks == 1 and same(v.position, [1.0])


@settings(max_examples=200, deadline=None)
@given(st.integers(-2**31, 2**31 - 1), st.integers(0, 2**32 - 1), floats, floats, floats)
def test_the_writer_gives_what_rclpy_reads(sec, nanosec, vx, vy, wz):
    w = TwistStampedWriter("base_link")
    assert w.ok
    m = deserialize_message(w.fill(sec, nanosec, vx, vy, wz), TwistStamped)
    assert (m.header.stamp.sec, m.header.stamp.nanosec, m.header.frame_id) == (sec, nanosec, "base_link")
    t = m.twist
    assert same(np.array([t.linear.x, t.linear.y, t.linear.z, t.angular.x, t.angular.y, t.angular.z]),
                [vx, vy, 0.0, 0.0, 0.0, wz])


def test_the_writer_bytes_are_rclpys_own_for_the_same_message():
    w = TwistStampedWriter("odom")
    m = TwistStamped()
    m.header.frame_id = "odom"
    m.header.stamp.sec, m.header.stamp.nanosec = 12, 34
    m.twist.linear.x, m.twist.linear.y, m.twist.angular.z = 0.5, -0.5, 0.25
    ours, theirs = w.fill(12, 34, 0.5, -0.5, 0.25), serialize_message(m)
    assert len(ours) == len(theirs)
    pad = slice(4 + 8 + 4 + len("odom") + 1, 4 + 8 + 4 + len("odom") + 1 + (-(8 + 4 + 5)) % 8)
    assert ours[:pad.start] == theirs[:pad.start] and ours[pad.stop:] == theirs[pad.stop:]  # padding is free


@settings(max_examples=100, deadline=None)
@given(st.lists(text, min_size=0, max_size=14), text, st.integers(-2**31, 2**31 - 1), st.integers(0, 2**32 - 1),
       st.data())
def test_a_joint_state_filled_in_place_is_what_rclpy_reads(names, frame, sec, nanosec, data):
    """The bench probe's sensor messages (a C++ driver's way: the stamp and values written into
    the bytes): rclpy, as the node under test, reads exactly those values and that stamp."""
    n = len(names)
    values = [data.draw(st.lists(floats, min_size=n, max_size=n)) for _ in range(3)]
    m = deserialize_message(JointStateWriter(names, frame).fill(sec, nanosec, *values), JointState)
    assert (m.header.stamp.sec, m.header.stamp.nanosec, m.header.frame_id, list(m.name)) == (sec, nanosec, frame, names)
    assert same(m.position, values[0]) and same(m.velocity, values[1]) and same(m.effort, values[2])


def test_the_stamp_of_a_stamped_message_is_read_from_its_bytes():
    t = TwistStamped()
    t.header.stamp.sec, t.header.stamp.nanosec, t.header.frame_id = -3, 999_999_999, "base_link"
    assert header_stamp(serialize_message(t)) == (-3, 999_999_999)
    j = joint_state(7, 8, "x", ["a"], [1.0], [], [])
    assert header_stamp(serialize_message(j)) == (7, 8)
    assert header_stamp(b"\x00\x00" + serialize_message(t)[2:]) is None and header_stamp(b"\x00\x01") is None
