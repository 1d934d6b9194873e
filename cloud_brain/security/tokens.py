"""Per-robot bearer tokens: `bst1.<payload>.<signature>`, HMAC-SHA256 over a JSON payload that
names the robot and an expiry.

Why HMAC and not JWT: the cloud is both issuer and only verifier, so a shared secret (DIR/token.key,
made by `brainstem certs`) is enough; the format is 20 lines of standard library, with nothing to
negotiate (no `alg` header to downgrade) and a constant-time comparison. A token says which robot
it is for; the cloud holds the stream to that robot id (guard.py), so one robot's token is useless
to another robot.

    brainstem token --dir certs --robot robot-1 --ttl-s 3600
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import secrets
import time
from dataclasses import dataclass
from pathlib import Path

PREFIX = "bst1"
MAX_TOKEN_CHARS = 1024


class TokenError(ValueError):
    """A token that does not verify; `expired` tells an old token from a forged or broken one."""

    def __init__(self, message: str, expired: bool = False):
        super().__init__(message)
        self.expired = expired


@dataclass(frozen=True)
class Claims:
    robot_id: str
    expires_at: float  # unix seconds
    issued_at: float


def new_secret() -> bytes:
    """32 random bytes, hex: the content of token.key."""
    return secrets.token_hex(32).encode() + b"\n"


def load_secret(path: str | Path) -> bytes:
    """The HMAC key from a token.key file; refuses short or world-readable keys."""
    p = Path(path)
    data = p.read_bytes().strip()
    if len(data) < 32:
        raise ValueError(f"{p}: token key is {len(data)} bytes; need at least 32 (run `brainstem certs`)")
    if os.name == "posix" and p.stat().st_mode & 0o077:
        raise PermissionError(f"{p}: token key is readable by group/others; chmod 600 {p}")
    return data


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _sign(secret: bytes, payload: str) -> str:
    return _b64(hmac.new(secret, f"{PREFIX}.{payload}".encode(), hashlib.sha256).digest())


def issue(secret: bytes, robot_id: str, ttl_s: float = 30 * 86400.0, now: float | None = None) -> str:
    """A token for `robot_id`, valid for `ttl_s` seconds from `now` (default: the clock)."""
    if not robot_id:
        raise ValueError("robot_id must not be empty")
    iat = time.time() if now is None else now
    payload = _b64(json.dumps({"rid": robot_id, "iat": int(iat), "exp": int(iat + ttl_s)},
                              separators=(",", ":"), sort_keys=True).encode())
    return f"{PREFIX}.{payload}.{_sign(secret, payload)}"


def verify(secret: bytes, token: str, now: float | None = None) -> Claims:
    """The token's claims, or TokenError saying what is wrong with it."""
    if not token:
        raise TokenError("no token")
    if len(token) > MAX_TOKEN_CHARS:
        raise TokenError(f"token is {len(token)} characters (limit {MAX_TOKEN_CHARS})")
    parts = token.strip().split(".")
    if len(parts) != 3 or parts[0] != PREFIX:
        raise TokenError(f"not a brainstem token (expected '{PREFIX}.<payload>.<signature>')")
    _, payload, sig = parts
    if not hmac.compare_digest(sig, _sign(secret, payload)):
        raise TokenError("token signature does not verify (wrong token, or issued by another cloud)")
    try:
        body = json.loads(_unb64(payload))
        claims = Claims(str(body["rid"]), float(body["exp"]), float(body.get("iat", 0)))
    except (ValueError, KeyError, TypeError) as e:
        raise TokenError(f"token payload is malformed: {e}") from e
    now = time.time() if now is None else now
    if now >= claims.expires_at:
        raise TokenError(f"token for robot '{claims.robot_id}' expired {now - claims.expires_at:.0f} s ago "
                         f"(at {time.strftime('%Y-%m-%d %H:%M:%S UTC', time.gmtime(claims.expires_at))})",
                         expired=True)
    return claims
