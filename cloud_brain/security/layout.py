"""Names shared by both ends: the files of a `brainstem certs` directory and the robot identity
in a certificate. Why a module of its own: the robot's side needs these without importing
`cryptography` (only the machine that makes certificates needs it).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

ROBOT_URI_PREFIX = "urn:brainstem:robot:"
CLOUD_URI = "urn:brainstem:cloud"
_ROBOT_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$")


def check_robot_id(robot_id: str) -> str:
    """Robot ids become file names, CNs and URIs: keep them to a safe alphabet."""
    if not _ROBOT_ID.match(robot_id or ""):
        raise ValueError(f"robot id {robot_id!r} must be 1-63 characters of letters, digits, '.', '_' "
                         "or '-', starting with a letter or digit")
    return robot_id


@dataclass(frozen=True)
class CertPaths:
    """Where `write_certs` puts things (and where `--tls-dir` looks for them)."""

    root: Path

    @property
    def ca_cert(self) -> Path: return self.root / "ca.pem"
    @property
    def ca_key(self) -> Path: return self.root / "ca.key"
    @property
    def cloud_cert(self) -> Path: return self.root / "cloud.pem"
    @property
    def cloud_key(self) -> Path: return self.root / "cloud.key"
    @property
    def token_key(self) -> Path: return self.root / "token.key"

    def robot_cert(self, robot_id: str) -> Path:
        return self.root / "robots" / f"{check_robot_id(robot_id)}.pem"

    def robot_key(self, robot_id: str) -> Path:
        return self.root / "robots" / f"{check_robot_id(robot_id)}.key"

    def robot_token(self, robot_id: str) -> Path:
        return self.root / "robots" / f"{check_robot_id(robot_id)}.token"
