"""Verifies a Latch access token the way an API written for Python would
(docs/tokens.md): PyJWT's PyJWKClient fetches Latch's key set and picks the
key by kid; jwt.decode checks the signature, iss, aud and exp.

Usage: LATCH_URL=https://login.example.com AUDIENCE=... TOKEN=... python3 verify.py
Prints the verified claims as JSON; exits 1 when the token is refused.
Needs PyJWT >= 2.0 with cryptography (Debian: apt-get install python3-jwt).
"""
import json
import os
import sys

import jwt
from jwt import PyJWKClient

issuer = os.environ.get("ISSUER") or os.environ["LATCH_URL"]  # BASE_URL, no trailing slash
jwks = PyJWKClient(os.environ["LATCH_URL"] + "/.well-known/jwks.json")

token = os.environ["TOKEN"]
try:
    key = jwks.get_signing_key_from_jwt(token)
    if jwt.get_unverified_header(token).get("typ") != "at+jwt":
        raise jwt.InvalidTokenError("not an access token")
    claims = jwt.decode(
        token,
        key.key,
        algorithms=["RS256", "ES256"],  # never "none", never HS256
        issuer=issuer,
        audience=os.environ.get("AUDIENCE") or issuer,  # JWT_AUDIENCE
        leeway=30,
        options={"require": ["exp", "iat", "iss", "aud", "sub"]},
    )
except jwt.PyJWTError as err:
    print(f"refused: {type(err).__name__}: {err}", file=sys.stderr)
    sys.exit(1)
print(json.dumps(claims))
