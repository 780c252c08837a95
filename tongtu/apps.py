"""Apps and their access tokens.

An app has an API key (public) and a secret key (shown once); the secret and every token
are stored as SHA-256 digests only. Both are 256-bit random values, so a plain digest is
enough: there is nothing to brute-force that a slow hash would protect.
"""

from __future__ import annotations

import hashlib
import secrets
import time
from dataclasses import dataclass

from tongtu.errors import (
    InvalidAuthParam,
    InvalidParam,
    ItemNotFound,
    TokenExpired,
    TokenInvalid,
)
from tongtu.storage.base import AppRecord, Catalog

__all__ = ["Apps", "NewApp", "Token"]


def _digest(value: str) -> str:
    return hashlib.sha256(value.encode("utf-8")).hexdigest()


@dataclass(frozen=True, slots=True)
class NewApp:
    app: AppRecord
    secret_key: str


@dataclass(frozen=True, slots=True)
class Token:
    access_token: str
    expires_in: int


class Apps:
    def __init__(self, catalog: Catalog, token_ttl: int) -> None:
        self._catalog = catalog
        self._ttl = token_ttl

    def create(self, name: str, library_id: int, admin: bool = False) -> NewApp:
        if not name or len(name) > 64 or not name.replace("-", "").replace("_", "").isalnum():
            raise InvalidParam("app name: 1-64 letters, digits, '-' or '_'")
        if self._catalog.app_by_name(name) is not None:
            raise InvalidParam(f"an app named {name!r} already exists")
        api_key = secrets.token_urlsafe(18)
        secret_key = secrets.token_urlsafe(24)
        app = self._catalog.create_app(name, api_key, _digest(secret_key), library_id, admin)
        return NewApp(app, secret_key)

    def by_name(self, name: str) -> AppRecord:
        app = self._catalog.app_by_name(name)
        if app is None:
            raise ItemNotFound(f"no app named {name!r}")
        return app

    def revoke(self, name: str) -> AppRecord:
        app = self.by_name(name)
        self._catalog.revoke_app(app.id)
        return app

    def rotate(self, name: str) -> NewApp:
        """A new secret key; the old one and every token issued with it stop working."""
        app = self.by_name(name)
        if app.revoked:
            raise InvalidParam(f"app {name!r} is revoked")
        secret_key = secrets.token_urlsafe(24)
        self._catalog.rotate_secret(app.id, _digest(secret_key))
        return NewApp(app, secret_key)

    def issue_token(self, api_key: str, secret_key: str) -> Token:
        """OAuth client_credentials. Raises UnknownClient / BadSecret for the two 401s."""
        found = self._catalog.app_by_key(api_key)
        if found is None or found[0].revoked:
            raise UnknownClient("unknown client id")
        app, secret_hash = found
        if not secrets.compare_digest(secret_hash, _digest(secret_key)):
            raise BadSecret("Client authentication failed")
        token = f"24.{secrets.token_hex(16)}.{self._ttl}.{int(time.time())}.{app.id}"
        self._catalog.store_token(_digest(token), app.id, time.time() + self._ttl)
        return Token(token, self._ttl)

    def authenticate(self, access_token: str | None) -> AppRecord:
        if access_token is None or access_token == "":
            raise InvalidAuthParam("access_token is missing")
        found = self._catalog.token(_digest(access_token))
        if found is None:
            raise TokenInvalid()
        app_id, expires_at = found
        if expires_at <= time.time():
            raise TokenExpired()
        app = self._catalog.app_by_id(app_id)
        if app is None or app.revoked:
            raise TokenInvalid()
        return app


class UnknownClient(InvalidAuthParam):
    """OAuth: no app with this API key."""


class BadSecret(InvalidAuthParam):
    """OAuth: the secret key does not match."""
