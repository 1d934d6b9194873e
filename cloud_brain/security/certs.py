"""`brainstem certs`: a private CA, the cloud's server certificate and one client certificate per
robot, plus the robots' tokens, written into one directory.

Why our own CA: a cloud must let in only its own robots, so the cloud trusts exactly the CA that
signed its robots' certificates (mutual TLS), and robots trust exactly the CA that signed the
cloud's. A robot's id is its certificate's CN and a URI SAN `urn:brainstem:robot:<id>`; the cloud
reads it from the TLS peer and holds the robot to it (cloud_brain/security/guard.py).

Layout of DIR (private keys are written 0600; ca.key never needs to leave the machine that ran
this command):

    ca.pem  ca.key               the CA (10 years by default)
    cloud.pem  cloud.key         server certificate: SAN DNS localhost + --host names, IP 127.0.0.1, ::1
    token.key                    HMAC secret for robot tokens (the cloud keeps it)
    robots/<id>.pem  <id>.key    client certificate of robot <id>
    robots/<id>.token            its token (tokens.py), valid --token-days

    brainstem certs --out certs --robot robot-1 --robot robot-2 --host cloud.example
    brainstem cloud serve --tls-dir certs --require-client-cert --require-token
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
from dataclasses import dataclass, field
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from cloud_brain.security import tokens
from cloud_brain.security.layout import CLOUD_URI, ROBOT_URI_PREFIX, CertPaths, check_robot_id

@dataclass
class Issued:
    """What `write_certs` wrote."""

    paths: CertPaths
    robots: list[str]
    hosts: list[str]
    files: list[Path] = field(default_factory=list)


def _now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


def _key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())  # small, fast, supported by gRPC's BoringSSL


def _name(cn: str, unit: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "brainstem"),
                      x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, unit),
                      x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def make_ca(days: int = 3650, name: str = "brainstem CA"):
    """A self-signed CA that may sign leaf certificates only (path length 0)."""
    key = _key()
    subject = _name(name, "ca")
    now = _now()
    cert = (x509.CertificateBuilder().subject_name(subject).issuer_name(subject)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5)).not_valid_after(now + dt.timedelta(days=days))
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True,
                                         content_commitment=False, key_encipherment=False,
                                         data_encipherment=False, key_agreement=False,
                                         encipher_only=False, decipher_only=False), critical=True)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
            .sign(key, hashes.SHA256()))
    return cert, key


def _leaf(ca_cert, ca_key, cn: str, unit: str, sans: list, usage, days: int):
    key = _key()
    now = _now()
    cert = (x509.CertificateBuilder().subject_name(_name(cn, unit)).issuer_name(ca_cert.subject)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5)).not_valid_after(now + dt.timedelta(days=days))
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.KeyUsage(digital_signature=True, key_agreement=True,
                                         key_cert_sign=False, crl_sign=False, content_commitment=False,
                                         key_encipherment=False, data_encipherment=False,
                                         encipher_only=False, decipher_only=False), critical=True)
            .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
            .add_extension(x509.SubjectAlternativeName(sans), critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
                           critical=False)
            .sign(ca_key, hashes.SHA256()))
    return cert, key


def make_server_cert(ca_cert, ca_key, hosts: list[str], days: int = 825):
    """The cloud's certificate: serverAuth, SANs for every name/IP robots dial."""
    sans: list = [x509.UniformResourceIdentifier(CLOUD_URI)]
    for h in dict.fromkeys(["localhost", "127.0.0.1", "::1", *hosts]):
        try:
            sans.append(x509.IPAddress(ipaddress.ip_address(h)))
        except ValueError:
            sans.append(x509.DNSName(h))
    return _leaf(ca_cert, ca_key, "brainstem-cloud", "cloud", sans, ExtendedKeyUsageOID.SERVER_AUTH, days)


def make_robot_cert(ca_cert, ca_key, robot_id: str, days: int = 825):
    """A robot's client certificate: clientAuth, CN and URI SAN carry the robot id."""
    check_robot_id(robot_id)
    sans = [x509.UniformResourceIdentifier(ROBOT_URI_PREFIX + robot_id)]
    return _leaf(ca_cert, ca_key, robot_id, "robot", sans, ExtendedKeyUsageOID.CLIENT_AUTH, days)


def _pem_cert(cert) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


def _pem_key(key) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def _write(path: Path, data: bytes, private: bool, files: list[Path]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600 if private else 0o644)
    with os.fdopen(fd, "wb") as f:
        f.write(data)
    os.replace(tmp, path)
    files.append(path)


def load_ca(paths: CertPaths):
    """The CA of an existing directory (to add robots to it)."""
    cert = x509.load_pem_x509_certificate(paths.ca_cert.read_bytes())
    key = serialization.load_pem_private_key(paths.ca_key.read_bytes(), password=None)
    return cert, key


def write_certs(out: str | Path, robots: list[str], hosts: list[str] | None = None, *,
                days: int = 825, token_days: float = 30.0, force: bool = False) -> Issued:
    """Create DIR's CA, cloud certificate and token key if missing (all new with `force`), and a
    certificate + token for every robot in `robots` (re-issued when asked again)."""
    paths = CertPaths(Path(out))
    hosts = list(hosts or [])
    robots = [check_robot_id(r) for r in robots]
    issued = Issued(paths, robots, hosts)
    fresh = force or not (paths.ca_cert.exists() and paths.ca_key.exists())
    if fresh:
        ca_cert, ca_key = make_ca()
        _write(paths.ca_key, _pem_key(ca_key), True, issued.files)
        _write(paths.ca_cert, _pem_cert(ca_cert), False, issued.files)
    else:
        ca_cert, ca_key = load_ca(paths)
    if fresh or hosts or not paths.cloud_cert.exists():
        cert, key = make_server_cert(ca_cert, ca_key, hosts, days)
        _write(paths.cloud_key, _pem_key(key), True, issued.files)
        _write(paths.cloud_cert, _pem_cert(cert), False, issued.files)
    if fresh or not paths.token_key.exists():
        _write(paths.token_key, tokens.new_secret(), True, issued.files)
    secret = tokens.load_secret(paths.token_key)
    for robot_id in robots:
        cert, key = make_robot_cert(ca_cert, ca_key, robot_id, days)
        _write(paths.robot_key(robot_id), _pem_key(key), True, issued.files)
        _write(paths.robot_cert(robot_id), _pem_cert(cert), False, issued.files)
        tok = tokens.issue(secret, robot_id, ttl_s=token_days * 86400.0)
        _write(paths.robot_token(robot_id), (tok + "\n").encode(), True, issued.files)
    return issued
