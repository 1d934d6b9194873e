"""Security building blocks without a server: robot tokens, the certificates `brainstem certs`
makes, the token bucket, the serve flags, and an audit of the source tree for code that runs
data (pickle, eval, exec, torch.load without weights_only).

    python -m pytest -q tests/unit/test_security.py
"""

from __future__ import annotations

import argparse
import ast
import stat
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from cloud_brain.cli import main as brainstem
from cloud_brain.security import tokens
from cloud_brain.security.certs import write_certs
from cloud_brain.security.guard import Limits, TokenBucket
from cloud_brain.security.layout import ROBOT_URI_PREFIX, CertPaths, check_robot_id
from cloud_brain.security.options import add_server_args, forward_server_args, server_security

ROOT = Path(__file__).resolve().parents[2]
SECRET = b"k" * 64


# ---- tokens -----------------------------------------------------------------------------------------
def test_token_round_trip():
    claims = tokens.verify(SECRET, tokens.issue(SECRET, "robot-1", ttl_s=60, now=1000.0), now=1030.0)
    assert (claims.robot_id, claims.expires_at, claims.issued_at) == ("robot-1", 1060.0, 1000.0)


def test_token_expiry_is_reported_as_such():
    tok = tokens.issue(SECRET, "robot-1", ttl_s=60, now=1000.0)
    with pytest.raises(tokens.TokenError, match="expired 40 s ago") as e:
        tokens.verify(SECRET, tok, now=1100.0)
    assert e.value.expired


@pytest.mark.parametrize("mangle", [
    lambda t: t[:-2] + ("AA" if not t.endswith("AA") else "BB"),          # signature changed
    lambda t: ".".join([t.split(".")[0], tokens._b64(b'{"rid":"robot-2","exp":9999999999}'),
                        t.split(".")[2]]),                                  # payload swapped
    lambda t: "bst2" + t[4:],                                               # unknown version
    lambda t: "",
    lambda t: "x" * 5000,
])
def test_tampered_tokens_do_not_verify(mangle):
    tok = tokens.issue(SECRET, "robot-1", ttl_s=60)
    with pytest.raises(tokens.TokenError) as e:
        tokens.verify(SECRET, mangle(tok))
    assert not e.value.expired


def test_token_from_another_key_does_not_verify():
    with pytest.raises(tokens.TokenError, match="signature"):
        tokens.verify(SECRET, tokens.issue(b"o" * 64, "robot-1"))


def test_token_key_must_be_private_and_long(tmp_path):
    key = tmp_path / "token.key"
    key.write_bytes(b"short")
    key.chmod(0o600)
    with pytest.raises(ValueError, match="at least 32"):
        tokens.load_secret(key)
    key.write_bytes(tokens.new_secret())
    key.chmod(0o644)
    with pytest.raises(PermissionError, match="chmod 600"):
        tokens.load_secret(key)


# ---- certificates -------------------------------------------------------------------------------------
def test_certs_layout_identity_and_chain(tmp_path):
    issued = write_certs(tmp_path / "c", ["robot-1"], ["cloud.example", "10.0.0.5"])
    p = issued.paths
    ca = x509.load_pem_x509_certificate(p.ca_cert.read_bytes())
    cloud = x509.load_pem_x509_certificate(p.cloud_cert.read_bytes())
    rob = x509.load_pem_x509_certificate(p.robot_cert("robot-1").read_bytes())
    for leaf in (cloud, rob):
        leaf.verify_directly_issued_by(ca)
    assert ca.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    assert rob.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "robot-1"
    san = rob.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.UniformResourceIdentifier) == [ROBOT_URI_PREFIX + "robot-1"]
    assert ExtendedKeyUsageOID.CLIENT_AUTH in rob.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    csan = cloud.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert {"localhost", "cloud.example"} <= set(csan.get_values_for_type(x509.DNSName))
    assert {"127.0.0.1", "10.0.0.5"} <= {str(ip) for ip in csan.get_values_for_type(x509.IPAddress)}
    for private in (p.ca_key, p.cloud_key, p.token_key, p.robot_key("robot-1"), p.robot_token("robot-1")):
        assert stat.S_IMODE(private.stat().st_mode) == 0o600, private
    secret = tokens.load_secret(p.token_key)
    assert tokens.verify(secret, p.robot_token("robot-1").read_text().strip()).robot_id == "robot-1"


def test_adding_a_robot_keeps_the_ca(tmp_path):
    write_certs(tmp_path, ["robot-1"])
    ca = (tmp_path / "ca.pem").read_bytes()
    write_certs(tmp_path, ["robot-2"])
    assert (tmp_path / "ca.pem").read_bytes() == ca
    rob2 = x509.load_pem_x509_certificate(CertPaths(tmp_path).robot_cert("robot-2").read_bytes())
    rob2.verify_directly_issued_by(x509.load_pem_x509_certificate(ca))


@pytest.mark.parametrize("bad", ["", "../etc", "robot 1", "-x", "a" * 64])
def test_robot_ids_are_checked(bad):
    with pytest.raises(ValueError, match="robot id"):
        check_robot_id(bad)


def test_brainstem_certs_and_token_commands(tmp_path, capsys):
    assert brainstem(["certs", "--out", str(tmp_path), "--robot", "robot-9"]) == 0
    assert (tmp_path / "robots" / "robot-9.pem").exists()
    capsys.readouterr()
    assert brainstem(["token", "--dir", str(tmp_path), "--robot", "robot-9", "--ttl-s", "5"]) == 0
    tok = capsys.readouterr().out.strip()
    assert tokens.verify(tokens.load_secret(tmp_path / "token.key"), tok).robot_id == "robot-9"
    assert brainstem(["certs", "--out", str(tmp_path), "--robot", "../x"]) == 2


# ---- limits and flags ---------------------------------------------------------------------------------
def test_token_bucket_burst_then_rate():
    now = [0.0]
    b = TokenBucket(2.0, 3, clock=lambda: now[0])
    assert [b.take() for _ in range(4)] == [True, True, True, False]
    now[0] += 0.5  # one token back at 2/s
    assert [b.take(), b.take()] == [True, False]
    now[0] += 100.0
    assert sum(b.take() for _ in range(10)) == 3  # never more than the burst
    assert not b.full()


def _flags(argv):
    ap = argparse.ArgumentParser()
    add_server_args(ap)
    return ap.parse_args(argv)


def test_serve_flags(tmp_path):
    write_certs(tmp_path, ["robot-1"])
    tls, auth, limits = server_security(_flags(["--tls-dir", str(tmp_path), "--require-client-cert",
                                                "--require-token", "--command-rate", "1"]))
    assert tls.require_client_cert and tls.ca_file.endswith("ca.pem")
    assert auth.require_token and auth.token_secret and auth.require_client_cert
    assert limits.command_rate_per_s == 1.0
    tls, auth, _ = server_security(_flags([]))
    assert tls is None and not auth.required and auth.token_secret is None
    with pytest.raises(ValueError, match="needs TLS"):
        server_security(_flags(["--require-client-cert"]))
    with pytest.raises(ValueError, match="needs --token-key"):
        server_security(_flags(["--require-token"]))
    argv = forward_server_args(_flags(["--tls-dir", "D", "--require-token", "--message-burst", "9"]))
    assert argv[:4] == ["--tls-dir", "D", "--require-token", "--max-message-bytes"]
    assert _flags(argv).message_burst == 9


def test_limits_are_checked():
    with pytest.raises(ValueError):
        Limits(command_rate_per_s=0)
    assert Limits(max_message_bytes=4096).server_options() == [("grpc.max_receive_message_length", 4096)]


# ---- audit: nothing that runs data ----------------------------------------------------------------------
_BANNED_MODULES = {"pickle", "cPickle", "_pickle", "dill", "cloudpickle", "joblib", "marshal", "shelve"}
_BANNED_BUILTINS = {"eval", "exec"}
_SCAN = ("cloud_brain", "edge_nerve", "sim", "tests", "launch", "scripts", "tools")
_ARTIFACT_SUFFIXES = {".json", ".jsonl", ".safetensors", ".onnx", ".txt", ".md", ".yaml"}


def _kw(call: ast.Call, name: str):
    for k in call.keywords:
        if k.arg == name:
            return k.value
    return None


def _is_true(node) -> bool:
    return isinstance(node, ast.Constant) and node.value is True


def unsafe_calls(source: str) -> list[tuple[int, str]]:
    """(line, what) for each import of a pickle-family module, call of eval/exec, torch.load
    without weights_only=True, yaml.load without a safe Loader, np.load(allow_pickle=True)."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else [node.module or ""]
            found += [(node.lineno, f"import {n}") for n in names if n.split(".")[0] in _BANNED_MODULES]
        elif isinstance(node, ast.Call):
            f = node.func
            if isinstance(f, ast.Name) and f.id in _BANNED_BUILTINS:
                found.append((node.lineno, f"{f.id}()"))
            elif isinstance(f, ast.Attribute) and isinstance(f.value, ast.Name):
                mod, attr = f.value.id, f.attr
                if mod == "torch" and attr == "load" and not _is_true(_kw(node, "weights_only")):
                    found.append((node.lineno, "torch.load without weights_only=True"))
                elif mod == "yaml" and attr in ("load", "unsafe_load", "full_load", "load_all"):
                    loader = _kw(node, "Loader")
                    if attr != "load" or not (isinstance(loader, ast.Attribute) and "Safe" in loader.attr):
                        found.append((node.lineno, f"yaml.{attr} without SafeLoader"))
                elif mod in ("np", "numpy") and attr == "load" and _is_true(_kw(node, "allow_pickle")):
                    found.append((node.lineno, "np.load(allow_pickle=True)"))
                elif attr in ("read_pickle", "to_pickle"):
                    found.append((node.lineno, f"{mod}.{attr}"))
    return found


def test_the_audit_catches_what_it_should():
    bad = ("import pickle\nfrom dill import loads\neval('1')\nexec('x=1')\ntorch.load('m.pt')\n"
           "torch.load('m.pt', weights_only=False)\nyaml.load(s)\nnp.load(f, allow_pickle=True)\n")
    assert len(unsafe_calls(bad)) == 8
    ok = ("model.eval()\nre.compile('x')\ntorch.load('m.pt', weights_only=True)\n"
          "yaml.load(s, Loader=yaml.SafeLoader)\nyaml.safe_load(s)\nnp.load(f)\n")
    assert unsafe_calls(ok) == []


def test_no_pickle_eval_exec_or_unsafe_torch_load_in_the_source_tree():
    """Nothing on the wire or in an artifact is ever executed: protobuf, safetensors, ONNX and
    JSON only. Every Python file of the project is parsed and checked (allowing none)."""
    files = [p for d in _SCAN for p in (ROOT / d).rglob("*.py") if "__pycache__" not in p.parts]
    files += [p for p in ROOT.glob("*.py")]
    assert len(files) > 50
    problems = [f"{p.relative_to(ROOT)}:{line}: {what}"
                for p in files for line, what in unsafe_calls(p.read_text(encoding="utf-8"))]
    assert problems == [], "code that runs data:\n" + "\n".join(problems)


def test_artifacts_are_data_formats_only():
    """Model artifacts are safetensors / ONNX / JSON, never pickles (.pt, .pkl, .bin, ...)."""
    artifacts = [p for p in (ROOT / "cloud_brain").rglob("artifacts/**/*") if p.is_file()]
    bad = [str(p.relative_to(ROOT)) for p in artifacts if p.suffix not in _ARTIFACT_SUFFIXES]
    assert bad == [], f"artifact files in a format that may hold code: {bad}"
    pickles = [str(p.relative_to(ROOT)) for d in _SCAN if (ROOT / d).is_dir()
               for p in (ROOT / d).rglob("*") if p.suffix in {".pkl", ".pickle", ".pt", ".pth", ".ckpt", ".joblib"}]
    assert pickles == [], pickles
