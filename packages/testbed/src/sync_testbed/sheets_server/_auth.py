"""Google's OAuth token endpoint, as far as Sheets clients use it: service-account JWTs and refresh tokens.

A service account is a generated RSA key; its JWT assertion is verified (RS256, issuer, audience, lifetime) the
way Google does before an access token is handed out. Revoking an account refuses new grants and invalidates its
tokens, so a running client sees 401, refreshes, and gets `invalid_grant`.
"""

from __future__ import annotations

import base64
import secrets
import threading
import time
from dataclasses import dataclass
from typing import Any

import orjson
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from ._model import ApiError

JWT_GRANT = "urn:ietf:params:oauth:grant-type:jwt-bearer"
GOOGLE_TOKEN_AUDIENCE = "https://oauth2.googleapis.com/token"
"""google-auth always puts Google's token endpoint in `aud`, whatever `token_uri` the key names."""
SHEETS_SCOPE = "https://www.googleapis.com/auth/spreadsheets"


def generate_private_key() -> rsa.RSAPrivateKey:
    """A fresh RSA key for a test service account (≈ 50 ms; share one per session)."""
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


class TokenError(Exception):
    """An OAuth error answer: status and `{"error", "error_description"}`."""

    def __init__(self, status: int, error: str, description: str) -> None:
        super().__init__(description)
        self.status = status
        self.body = {"error": error, "error_description": description}


@dataclass
class _Principal:
    email: str
    public_key: rsa.RSAPublicKey | None = None
    client_secret: str | None = None
    refresh_token: str | None = None
    revoked: bool = False


def _b64decode(part: str) -> bytes:
    return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))


class Auth:
    """Principals (service accounts, OAuth clients), the tokens handed out, and revocation."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._principals: dict[str, _Principal] = {}
        self._clients: dict[str, _Principal] = {}
        self._tokens: dict[str, tuple[str, float]] = {}
        self.grants = 0

    def service_account(
        self, token_uri: str, key: rsa.RSAPrivateKey | None = None, email: str = "sync@fake.iam.gserviceaccount.com"
    ) -> dict[str, Any]:
        """Register a service account and return its key file's content (`token_uri` pointed at this fake)."""
        key = key or generate_private_key()
        pem = key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        ).decode()
        with self._lock:
            self._principals[email] = _Principal(email, public_key=key.public_key())
        return {
            "type": "service_account",
            "project_id": "fake-project",
            "private_key_id": secrets.token_hex(20),
            "private_key": pem,
            "client_email": email,
            "client_id": str(secrets.randbelow(10**20)),
            "auth_uri": "https://accounts.google.com/o/oauth2/auth",
            "token_uri": token_uri,
        }

    def oauth_client(self, email: str = "person@example.com") -> dict[str, str]:
        """Register an OAuth client with a user's refresh token; returns client_id, client_secret, refresh_token."""
        principal = _Principal(
            email,
            client_secret="GOCSPX-" + secrets.token_urlsafe(20),
            refresh_token="1//" + secrets.token_urlsafe(40),
        )
        client_id = f"{secrets.randbelow(10**12)}-fake.apps.googleusercontent.com"
        with self._lock:
            self._principals[email] = principal
            self._clients[client_id] = principal
        assert principal.client_secret and principal.refresh_token
        secret, refresh = principal.client_secret, principal.refresh_token
        return {"client_id": client_id, "client_secret": secret, "refresh_token": refresh}

    def revoke(self, email: str) -> None:
        """Refuse the principal from now on: its tokens stop working and no new grant is given."""
        with self._lock:
            self._principals[email].revoked = True
            self._tokens = {t: v for t, v in self._tokens.items() if v[0] != email}

    def grant(self, form: dict[str, str]) -> dict[str, Any]:
        """Answer a token request or raise `TokenError`."""
        kind = form.get("grant_type", "")
        if kind == JWT_GRANT:
            principal = self._verify_assertion(form.get("assertion", ""))
        elif kind == "refresh_token":
            principal = self._verify_refresh(form)
        else:
            raise TokenError(400, "unsupported_grant_type", f"Invalid grant_type: {kind}")
        token = "ya29.fake-" + secrets.token_urlsafe(32)
        with self._lock:
            self._tokens[token] = (principal.email, time.time() + 3599)
            self.grants += 1
        return {"access_token": token, "expires_in": 3599, "token_type": "Bearer", "scope": SHEETS_SCOPE}

    def _verify_assertion(self, assertion: str) -> _Principal:
        try:
            header_b64, payload_b64, signature_b64 = assertion.split(".")
            header = orjson.loads(_b64decode(header_b64))
            payload = orjson.loads(_b64decode(payload_b64))
            signature = _b64decode(signature_b64)
        except (ValueError, orjson.JSONDecodeError):
            raise TokenError(400, "invalid_grant", "Invalid JWT: malformed assertion.") from None
        principal = self._principals.get(payload.get("iss", ""))
        if principal is None or principal.public_key is None or principal.revoked:
            raise TokenError(400, "invalid_grant", "Invalid grant: account not found")
        if header.get("alg") != "RS256":
            raise TokenError(400, "invalid_grant", "Invalid JWT Signature.")
        try:
            principal.public_key.verify(
                signature, f"{header_b64}.{payload_b64}".encode(), padding.PKCS1v15(), hashes.SHA256()
            )
        except InvalidSignature:
            raise TokenError(400, "invalid_grant", "Invalid JWT Signature.") from None
        now = time.time()
        if payload.get("aud") != GOOGLE_TOKEN_AUDIENCE:
            raise TokenError(400, "invalid_grant", "Invalid JWT: Failed audience check.")
        issued, expires = payload.get("iat", 0), payload.get("exp", 0)
        if not (issued - 300 <= now <= expires + 300) or expires - issued > 3600:
            raise TokenError(
                400,
                "invalid_grant",
                "Invalid JWT: Token must be a short-lived token (60 minutes) and in a reasonable timeframe.",
            )
        return principal

    def _verify_refresh(self, form: dict[str, str]) -> _Principal:
        principal = self._clients.get(form.get("client_id", ""))
        if principal is None or principal.client_secret != form.get("client_secret"):
            raise TokenError(401, "invalid_client", "The OAuth client was not found.")
        if principal.revoked or principal.refresh_token != form.get("refresh_token"):
            raise TokenError(400, "invalid_grant", "Token has been expired or revoked.")
        return principal

    def principal_of(self, authorization: str | None) -> str:
        """The email behind a `Bearer` header, or the API's 401."""
        token = authorization[7:] if authorization and authorization.startswith("Bearer ") else ""
        with self._lock:
            found = self._tokens.get(token)
        if found is None or found[1] < time.time():
            raise ApiError(
                401,
                "Request had invalid authentication credentials. Expected OAuth 2 access token, login cookie or "
                "other valid authentication credential. See "
                "https://developers.google.com/identity/sign-in/web/devconsole-project.",
                "UNAUTHENTICATED",
            )
        return found[0]
