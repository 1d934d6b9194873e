"""Command-line flags for the cloud's TLS, tokens and input limits, shared by
`python -m cloud_brain.server.service` and `brainstem cloud serve`.

Why shared: both front ends must accept the same flags with the same meaning, and the checks
(mutual TLS needs a CA, required tokens need a key) live in one place.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from cloud_brain.security import tokens
from cloud_brain.security.guard import AuthPolicy, Limits
from cloud_brain.security.layout import CertPaths
from cloud_brain.security.tls import ServerTLS

_FLAGS = ("tls_dir", "cert", "key", "ca", "require_client_cert", "token_key", "require_token",
          "max_message_bytes", "max_command_chars", "command_rate", "command_burst",
          "message_rate", "message_burst")


def add_server_args(ap: argparse.ArgumentParser, max_command_chars: int = 2000) -> None:
    g = ap.add_argument_group("security (default: plaintext, no tokens; for loopback only)")
    g.add_argument("--tls-dir", help="a `brainstem certs` directory: serve TLS with its cloud.pem/"
                                     "cloud.key, trust its ca.pem for robots, verify tokens with token.key")
    g.add_argument("--cert", help="the cloud's certificate (PEM), instead of TLS_DIR/cloud.pem")
    g.add_argument("--key", help="the cloud's private key (PEM), instead of TLS_DIR/cloud.key")
    g.add_argument("--ca", help="CA that robots' client certificates chain to, instead of TLS_DIR/ca.pem")
    g.add_argument("--require-client-cert", action="store_true",
                   help="mutual TLS: refuse robots without a certificate from the CA; the Hello's "
                        "robot id must be the certificate's")
    g.add_argument("--token-key", help="HMAC key for robot tokens (default TLS_DIR/token.key if present)")
    g.add_argument("--require-token", action="store_true", help="refuse robots without a valid token")
    lim = Limits()
    g.add_argument("--max-message-bytes", type=int, default=lim.max_message_bytes)
    g.add_argument("--max-command-chars", type=int, default=max_command_chars)
    g.add_argument("--command-rate", type=float, default=lim.command_rate_per_s,
                   help="commands per second per robot, sustained")
    g.add_argument("--command-burst", type=int, default=lim.command_burst)
    g.add_argument("--message-rate", type=float, default=lim.message_rate_per_s,
                   help="messages per second per robot before its stream is closed")
    g.add_argument("--message-burst", type=int, default=lim.message_burst)


def forward_server_args(args: argparse.Namespace) -> list[str]:
    """The flags above as an argv again (for a front end that hands over to service.main)."""
    argv: list[str] = []
    for name in _FLAGS:
        value = getattr(args, name, None)
        flag = "--" + name.replace("_", "-")
        if value is True:
            argv.append(flag)
        elif value not in (None, False, ""):
            argv += [flag, str(value)]
    return argv


def server_security(args: argparse.Namespace) -> tuple[ServerTLS | None, AuthPolicy, Limits]:
    """(tls, auth, limits) from parsed flags; ValueError / FileNotFoundError say what is missing."""
    paths = CertPaths(Path(args.tls_dir)) if args.tls_dir else None
    cert = args.cert or (str(paths.cloud_cert) if paths else "")
    key = args.key or (str(paths.cloud_key) if paths else "")
    ca = args.ca or (str(paths.ca_cert) if paths else "")
    tls = None
    if cert or key:
        if not (cert and key):
            raise ValueError("TLS needs both --cert and --key (or --tls-dir)")
        tls = ServerTLS(cert, key, ca, args.require_client_cert)
    elif args.require_client_cert:
        raise ValueError("--require-client-cert needs TLS: --tls-dir, or --cert/--key/--ca")
    key_file = args.token_key or (str(paths.token_key) if paths and paths.token_key.exists() else "")
    secret = tokens.load_secret(key_file) if key_file else None
    if args.require_token and secret is None:
        raise ValueError("--require-token needs --token-key or a TLS_DIR with token.key")
    auth = AuthPolicy(secret, args.require_token, args.require_client_cert)
    limits = Limits(args.max_message_bytes, args.command_rate, args.command_burst,
                    args.message_rate, args.message_burst)
    return tls, auth, limits
