"""The one place that imports the generated gRPC modules, plus domain <-> wire converters.

Why one place: the protobuf/gRPC modules are generated into build/gen by `make setup` and never
committed; importing them here gives every caller the same clear error when they are missing,
and keeps the mapping between the domain's plain dicts/dataclasses and the typed messages of
brainstem.v1 (protos/brainstem/v1/session.proto) in a single, tested spot.

    python -c "from cloud_brain.wire import pb, snapshot_to_proto; print(snapshot_to_proto({'world_name': 'home'}))"
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

GEN_DIR = Path(__file__).resolve().parents[1] / "build" / "gen"
SERVICE_NAME = "brainstem.v1.CloudBrain"
SESSION_METHOD = f"/{SERVICE_NAME}/Session"


def _import_generated():
    try:
        from brainstem.v1 import session_pb2, session_pb2_grpc
        return session_pb2, session_pb2_grpc
    except ImportError:
        pass
    if GEN_DIR.is_dir() and str(GEN_DIR) not in sys.path:
        sys.path.append(str(GEN_DIR))  # a plain interpreter without the venv's .pth hook
    try:
        from brainstem.v1 import session_pb2, session_pb2_grpc
    except ImportError as e:
        raise ImportError(
            f"the generated gRPC modules brainstem.v1.session_pb2(_grpc) are missing from {GEN_DIR} "
            f"({e}); run `make setup` (it runs grpc_tools.protoc on protos/brainstem/v1/session.proto)"
        ) from e
    return session_pb2, session_pb2_grpc


pb, pb_grpc = _import_generated()

PROTOCOL_VERSION = pb.PROTOCOL_VERSION_CURRENT

# the fields of WorldState.to_snapshot() that WorldSnapshot carries as plain strings
_SNAPSHOT_STR_FIELDS = ("world_name", "robot_room", "robot_at", "holding", "user_room")


# ---- world snapshots ---------------------------------------------------------------------------
def snapshot_to_proto(snap: dict | None) -> "pb.WorldSnapshot":
    """A WorldState.to_snapshot() dict -> WorldSnapshot. Missing keys stay at proto defaults."""
    msg = pb.WorldSnapshot()
    if not snap:
        return msg
    for key in _SNAPSHOT_STR_FIELDS:
        value = snap.get(key)
        if value:
            setattr(msg, key, str(value))
    for obj, where in (snap.get("object_locations") or {}).items():
        msg.object_locations[str(obj)] = str(where)
    msg.docked = bool(snap.get("docked", False))
    return msg


def snapshot_from_proto(msg: "pb.WorldSnapshot") -> dict:
    """WorldSnapshot -> the dict form WorldState.from_snapshot() reads ("" where unset)."""
    snap: dict[str, Any] = {key: getattr(msg, key) for key in _SNAPSHOT_STR_FIELDS}
    snap["object_locations"] = dict(msg.object_locations)
    snap["docked"] = bool(msg.docked)
    return snap


def snapshot_is_empty(msg: "pb.WorldSnapshot") -> bool:
    """True for a snapshot that says nothing (the sender left it out or sent all defaults)."""
    return msg.ByteSize() == 0


# ---- skills ------------------------------------------------------------------------------------
def step_to_proto(step: Any) -> "pb.Skill":
    """A plan step (cloud_brain.domain.plan.Step, or anything with .skill and .args) -> Skill."""
    return pb.Skill(name=str(step.skill), args=[str(a) for a in step.args])


def step_from_proto(msg: "pb.Skill"):
    """Skill -> cloud_brain.domain.plan.Step."""
    from cloud_brain.domain.plan import Step  # lazy: the domain must not depend on the wire

    return Step(msg.name, tuple(msg.args))


# ---- small helpers -----------------------------------------------------------------------------
def kind_of(msg) -> str | None:
    """Which member of the `kind` oneof an EdgeMessage / CloudMessage carries (None if unset)."""
    return msg.WhichOneof("kind")


def error_message(code: int, message: str, command_id: str = "") -> "pb.CloudMessage":
    return pb.CloudMessage(error=pb.Error(code=code, message=message, command_id=command_id))
