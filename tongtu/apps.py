"""Apps and their access tokens.

An app has an API key (public) and a secret key (shown once); the secret and every token
are stored as SHA-256 digests only. Both are random values of 140 bits and more, so a
plain digest is enough: there is nothing to brute-force that a slow hash would protect.

Keys are letters and digits, 24 and 32 of them, as Baidu's are: a key that starts with
`-` is read as an option by command-line tools (`--ak -Xy…`).

A token is signed, not stored: `24.<nonce>.<ttl>.<issued>.<app id>-<mac>`, the MAC keyed
by the app's secret digest. Issuing one writes nothing (a full disk must not stop a
sign-in); rotating the secret invalidates every token made with the old one, revoking the
app stops them all, and the expiry is inside what the MAC covers. Tokens stored by
earlier versions are still looked up.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import string
import time
from dataclasses import dataclass

from tongtu.errors import (
    InvalidAuthParam,
    InvalidParam,
    ItemNotFound,
    NoPermission,
    TokenExpired,
    TokenInvalid,
)
from tongtu.storage.base import AppRecord, LibraryRecord
from tongtu.storage.catalog import Catalog

__all__ = ["Apps", "NewApp", "Token"]


_ALPHANUMERIC = string.ascii_letters + string.digits
API_KEY_LENGTH = 24
SECRET_KEY_LENGTH = 32
THUMBNAIL_KEY_TTL = 900  # s: the console asks for a new one every 5 minutes


def _digest(value: str) -> str:
    return hashlib.sha256(value.encode("utf-8", "surrogatepass")).hexdigest()


def new_key(length: int) -> str:
    """A random key of letters and digits (5.95 bits a character)."""
    return "".join(secrets.choice(_ALPHANUMERIC) for _ in range(length))


def _mac(secret_hash: str, body: str) -> str:
    key = secret_hash.encode("ascii")
    return hmac.new(key, body.encode("ascii"), hashlib.sha256).hexdigest()[:32]


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
        api_key = new_key(API_KEY_LENGTH)
        secret_key = new_key(SECRET_KEY_LENGTH)
        app = self._catalog.create_app(name, api_key, _digest(secret_key), library_id, admin)
        return NewApp(app, secret_key)

    # what an app may use ----------------------------------------------------------

    def library(self, app: AppRecord, name: str) -> LibraryRecord:
        """The library named `name`, if this app may use it (granted, or an admin)."""
        lib = self._catalog.library_by_name(name)
        if lib is None:
            raise ItemNotFound(f"no library named {name!r}")
        if not app.admin and not self._catalog.is_granted(app.id, lib.id):
            raise NoPermission(f"this app may not use library {name!r}")
        return lib

    def libraries(self, app: AppRecord) -> list[LibraryRecord]:
        """The libraries this app may use: all of them for an admin."""
        return self._catalog.libraries() if app.admin else self._catalog.granted(app.id)

    def default_library(self, app: AppRecord) -> LibraryRecord:
        """The app's own library: the one the Baidu routes work on."""
        lib = self._catalog.library_by_id(app.library_id)
        if lib is None:
            raise NoPermission("the app has no library")
        return lib

    def grant(self, app: AppRecord, lib: LibraryRecord) -> None:
        self._catalog.grant(app.id, lib.id)

    # apps ---------------------------------------------------------------------------

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
        secret_key = new_key(SECRET_KEY_LENGTH)
        self._catalog.rotate_secret(app.id, _digest(secret_key))
        return NewApp(app, secret_key)

    def issue_token(self, api_key: str, secret_key: str) -> Token:
        """OAuth client_credentials. Raises UnknownClient / BadSecret for the two 401s."""
        if not api_key.isascii():
            raise UnknownClient("unknown client id")  # keys are ASCII: no lookup needed
        found = self._catalog.app_by_key(api_key)
        if found is None or found[0].revoked:
            raise UnknownClient("unknown client id")
        app, secret_hash = found
        # a secret that is not ASCII (a lone surrogate included) is a wrong secret
        if not secret_key.isascii() or not secrets.compare_digest(secret_hash, _digest(secret_key)):
            raise BadSecret("Client authentication failed")
        body = f"24.{secrets.token_hex(16)}.{self._ttl}.{int(time.time())}.{app.id}"
        return Token(f"{body}-{_mac(secret_hash, body)}", self._ttl)

    def authenticate(self, access_token: str | None) -> AppRecord:
        if access_token is None or access_token == "":
            raise InvalidAuthParam("access_token is missing")
        if not access_token.isascii():
            raise TokenInvalid()
        signed = self._signed(access_token)
        if signed is not None:
            return signed
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

    def thumbnail_key(self, app: AppRecord, library_id: int, ttl: int = THUMBNAIL_KEY_TTL) -> str:
        """A short-lived credential for one library's thumbnails only, for `<img src>`
        URLs, which cannot carry a header: the app's token stays out of them (and out of
        every access log that prints them)."""
        body = f"t{app.id}.{library_id}.{int(time.time()) + ttl}"
        return f"{body}.{_mac(self._secret_hash(app), body)}"

    def thumbnail_app(self, key: str, library: str) -> AppRecord:
        """The app behind a thumbnail key for the library named `library` (raising for
        any other)."""
        lib = self._catalog.library_by_name(library)
        if lib is None:
            raise ItemNotFound(f"no library named {library!r}")
        library_id = lib.id
        parts = key.split(".")
        if (
            len(parts) != 4
            or not parts[0][1:].isdigit()
            or not all(p.isdigit() and len(p) <= 18 for p in parts[1:3])
        ):
            raise TokenInvalid()
        if int(parts[1]) != library_id or len(parts[0]) > 19:
            raise TokenInvalid()
        return self._signed_by(int(parts[0][1:]), ".".join(parts[:3]), parts[3], int(parts[2]))

    def _signed(self, token: str) -> AppRecord | None:
        """The app of a signed token (raising for a bad or expired one), or None when the
        token is not of the signed form (one stored by an earlier version)."""
        body, dash, mac = token.rpartition("-")
        parts = body.split(".")
        if not dash or len(parts) != 5 or not all(p.isdigit() for p in parts[2:]):
            return None
        if len(parts[4]) > 18 or len(parts[2]) > 18 or len(parts[3]) > 18:
            raise TokenInvalid()
        return self._signed_by(int(parts[4]), body, mac, int(parts[3]) + int(parts[2]))

    def _signed_by(self, app_id: int, body: str, mac: str, expires_at: int) -> AppRecord:
        """The app whose secret signed `body` with `mac`, while it lives and before
        `expires_at` (a token's or a thumbnail key's check)."""
        app = self._catalog.app_by_id(app_id)
        if app is None or app.revoked:
            raise TokenInvalid()
        if not hmac.compare_digest(mac, _mac(self._secret_hash(app), body)):
            raise TokenInvalid()
        if expires_at <= time.time():
            raise TokenExpired()
        return app

    def _secret_hash(self, app: AppRecord) -> str:
        found = self._catalog.app_by_key(app.api_key)
        if found is None:
            raise TokenInvalid()
        return found[1]


class UnknownClient(InvalidAuthParam):
    """OAuth: no app with this API key."""


class BadSecret(InvalidAuthParam):
    """OAuth: the secret key does not match."""
