"""TLS settings of the link, for both ends, as gRPC's own credentials objects.

Why gRPC's credentials (not a TLS proxy): the handshake, certificate checks and ALPN stay in
gRPC's BoringSSL, and the server sees the verified peer certificate in `context.auth_context()`,
which is where guard.py reads the robot id from. Plaintext stays the default on loopback so the
demo and the tests need no certificates; `brainstem certs` makes everything these need.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import grpc

from cloud_brain.security.layout import CertPaths


def _read(path: str | Path, what: str) -> bytes:
    try:
        return Path(path).read_bytes()
    except OSError as e:
        raise FileNotFoundError(f"{what} {path}: {e.strerror or e} (make one with `brainstem certs`)") from e


@dataclass(frozen=True)
class ServerTLS:
    """The cloud's certificate and key; with `require_client_cert`, the CA that robots' client
    certificates must chain to (mutual TLS: a robot without one fails the handshake)."""

    cert_file: str
    key_file: str
    ca_file: str = ""
    require_client_cert: bool = False

    def __post_init__(self):
        if self.require_client_cert and not self.ca_file:
            raise ValueError("require_client_cert needs ca_file: the CA that signed the robots' certificates")

    @classmethod
    def from_dir(cls, tls_dir: str | Path, require_client_cert: bool = False) -> "ServerTLS":
        p = CertPaths(Path(tls_dir))
        return cls(str(p.cloud_cert), str(p.cloud_key), str(p.ca_cert), require_client_cert)

    def credentials(self) -> grpc.ServerCredentials:
        root = _read(self.ca_file, "CA certificate") if self.require_client_cert else None
        return grpc.ssl_server_credentials(
            [(_read(self.key_file, "cloud key"), _read(self.cert_file, "cloud certificate"))],
            root_certificates=root, require_client_auth=self.require_client_cert)


@dataclass(frozen=True)
class ClientTLS:
    """What a robot needs to dial a TLS cloud: the CA to check the cloud against, optionally its
    own certificate + key (mutual TLS), and `server_name` when the address is not a name in the
    cloud certificate's SANs (e.g. an IP the certificate was not made for)."""

    ca_file: str
    cert_file: str = ""
    key_file: str = ""
    server_name: str = ""

    def __post_init__(self):
        if bool(self.cert_file) != bool(self.key_file):
            raise ValueError("give both cert_file and key_file (mutual TLS) or neither")

    @classmethod
    def from_dir(cls, tls_dir: str | Path, robot_id: str = "", server_name: str = "") -> "ClientTLS":
        """DIR/ca.pem, and DIR/robots/<robot_id>.pem/.key when they exist."""
        p = CertPaths(Path(tls_dir))
        cert = key = ""
        if robot_id and p.robot_cert(robot_id).exists():
            cert, key = str(p.robot_cert(robot_id)), str(p.robot_key(robot_id))
        return cls(str(p.ca_cert), cert, key, server_name)

    def credentials(self) -> grpc.ChannelCredentials:
        return grpc.ssl_channel_credentials(
            root_certificates=_read(self.ca_file, "CA certificate"),
            private_key=_read(self.key_file, "robot key") if self.key_file else None,
            certificate_chain=_read(self.cert_file, "robot certificate") if self.cert_file else None)

    def channel_options(self) -> list[tuple[str, str]]:
        return [("grpc.ssl_target_name_override", self.server_name)] if self.server_name else []


def secure_channel(address: str, tls: ClientTLS | None, options: list | None = None) -> grpc.Channel:
    """A plaintext channel when `tls` is None, else a TLS one (the robot's side of the link)."""
    options = list(options or [])
    if tls is None:
        return grpc.insecure_channel(address, options=options)
    return grpc.secure_channel(address, tls.credentials(), options=options + tls.channel_options())


def read_token(value: str) -> str:
    """A token given as text, or as @FILE (a robots/<id>.token file)."""
    if value.startswith("@"):
        return _read(value[1:], "token file").decode().strip()
    return value.strip()


def robot_credentials(tls_dir: str | Path, robot_id: str, server_name: str = "") -> tuple[ClientTLS, str]:
    """A robot's TLS settings and token from a `brainstem certs` directory (token "" if none)."""
    p = CertPaths(Path(tls_dir))
    token_file = p.robot_token(robot_id)
    token = token_file.read_text().strip() if token_file.exists() else ""
    return ClientTLS.from_dir(tls_dir, robot_id, server_name), token
