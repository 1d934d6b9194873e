"""Authenticated cloud <-> edge links: certificates, robot tokens, TLS credentials, the server's
auth and rate-limit interceptor (see certs.py, tokens.py, tls.py, guard.py)."""
