"""tongtu's exceptions: one rooted tree, each error carrying its Baidu code.

    TongtuError                      282000 internal error
    ├── AuthError
    │   ├── InvalidAuthParam         100    Invalid parameter
    │   ├── TokenInvalid             110    Access token invalid or no longer valid
    │   ├── TokenExpired             111    Access token expired
    │   └── NoPermission             6      No permission to access data
    ├── RateLimited                          (HTTP 429 on the native API)
    │   ├── ServerBusy               4      Open api request limit reached
    │   ├── DailyLimit               17     Open api daily request limit reached
    │   └── QpsLimit                 18     Open api qps request limit reached
    ├── InvalidParam                 216100 invalid param
    ├── MissingParam                 216101 not enough param
    ├── ImageError
    │   ├── EmptyImage               216200 empty image
    │   ├── ImageFormatError         216201 image format error
    │   ├── ImageSizeError           216202 image size error
    │   └── ImageBase64Error         216203 image size error
    ├── ExtractionError              216630 recognize error
    ├── ItemExists                   216681 item has existed   (carries cont_sign)
    ├── ItemNotFound                 216682 item not exist
    ├── LibraryFull                  216100 invalid param (the library is at capacity)
    ├── LibraryInUse                 216100 invalid param (an app's default library)
    ├── NameTaken                    216100 invalid param (a library name in use)
    ├── UrlError
    │   ├── UrlFormatError           282111 url format illegal
    │   ├── UrlTimeout               282112 url download timeout
    │   ├── UrlResponseInvalid       282113 url response invalid
    │   └── UrlSizeError             282114 url size error
    ├── StoreUnavailable             2      Service temporarily unavailable (HTTP 503)
    │   └── StorageFull              2      (HTTP 507: the disk of the catalog is full)
    └── ConfigError                  (local misuse: wrong model for a library, ...)

The library raises these; only the edges (HTTP handlers, CLI) turn them into wire
errors or exit codes. ``code`` and ``baidu_msg`` are Baidu's numbers and messages;
``str(exc)`` is a human explanation of what exactly was wrong.
"""

from __future__ import annotations

__all__ = [
    "AuthError",
    "ConfigError",
    "DailyLimit",
    "EmptyImage",
    "ExtractionError",
    "ImageBase64Error",
    "ImageError",
    "ImageFormatError",
    "ImageSizeError",
    "InvalidAuthParam",
    "InvalidParam",
    "ItemExists",
    "ItemNotFound",
    "LibraryFull",
    "LibraryInUse",
    "MissingParam",
    "NameTaken",
    "NoPermission",
    "QpsLimit",
    "RateLimited",
    "ServerBusy",
    "StorageFull",
    "StoreUnavailable",
    "TokenExpired",
    "TokenInvalid",
    "TongtuError",
    "UrlError",
    "UrlFormatError",
    "UrlResponseInvalid",
    "UrlSizeError",
    "UrlTimeout",
]


class TongtuError(Exception):
    code = 282000
    baidu_msg = "internal error"
    http_status = 500

    def __init__(self, message: str | None = None) -> None:
        super().__init__(message or self.baidu_msg)

    @property
    def message(self) -> str:
        return str(self)


class AuthError(TongtuError):
    http_status = 401


class InvalidAuthParam(AuthError):
    code = 100
    baidu_msg = "Invalid parameter"


class TokenInvalid(AuthError):
    code = 110
    baidu_msg = "Access token invalid or no longer valid"


class TokenExpired(AuthError):
    code = 111
    baidu_msg = "Access token expired"


class NoPermission(AuthError):
    code = 6
    baidu_msg = "No permission to access data"
    http_status = 403


class RateLimited(TongtuError):
    http_status = 429


class ServerBusy(RateLimited):
    code = 4
    baidu_msg = "Open api request limit reached"


class DailyLimit(RateLimited):
    code = 17
    baidu_msg = "Open api daily request limit reached"


class QpsLimit(RateLimited):
    code = 18
    baidu_msg = "Open api qps request limit reached"


class InvalidParam(TongtuError):
    code = 216100
    baidu_msg = "invalid param"
    http_status = 400


class MissingParam(TongtuError):
    code = 216101
    baidu_msg = "not enough param"
    http_status = 400


class ImageError(TongtuError):
    http_status = 400


class EmptyImage(ImageError):
    code = 216200
    baidu_msg = "empty image"


class ImageFormatError(ImageError):
    code = 216201
    baidu_msg = "image format error"
    http_status = 415


class ImageSizeError(ImageError):
    code = 216202
    baidu_msg = "image size error"
    http_status = 413


class ImageBase64Error(ImageError):
    code = 216203
    baidu_msg = "image size error"


class ExtractionError(TongtuError):
    code = 216630
    baidu_msg = "recognize error"
    http_status = 422


class ItemExists(TongtuError):
    code = 216681
    baidu_msg = "item has existed"
    http_status = 409

    def __init__(self, cont_sign: str, message: str | None = None) -> None:
        super().__init__(message or f"an identical image is already in the library ({cont_sign})")
        self.cont_sign = cont_sign


class ItemNotFound(TongtuError):
    code = 216682
    baidu_msg = "item not exist"
    http_status = 404


class LibraryFull(TongtuError):
    # Baidu documents no code for a full library; 216100 is the nearest it has.
    code = 216100
    baidu_msg = "invalid param"
    http_status = 409


class LibraryInUse(TongtuError):
    code = 216100
    baidu_msg = "invalid param"
    http_status = 409


class NameTaken(TongtuError):
    code = 216100
    baidu_msg = "invalid param"
    http_status = 409


class UrlError(TongtuError):
    http_status = 400


class UrlFormatError(UrlError):
    code = 282111
    baidu_msg = "url format illegal"


class UrlTimeout(UrlError):
    code = 282112
    baidu_msg = "url download timeout"


class UrlResponseInvalid(UrlError):
    code = 282113
    baidu_msg = "url response invalid"


class UrlSizeError(UrlError):
    code = 282114
    baidu_msg = "url size error"
    http_status = 413


class StoreUnavailable(TongtuError):
    """A shared store (Milvus, PostgreSQL) does not answer; retrying later may work."""

    code = 2
    baidu_msg = "Service temporarily unavailable"
    http_status = 503

    def __init__(self, message: str | None = None, detail: str = "") -> None:
        super().__init__(message)
        # for the server's log only: the store's address and its driver's words
        self.detail = detail


class StorageFull(StoreUnavailable):
    """The catalog's disk is full: writes are refused, reads and searches go on, and
    nothing acknowledged is lost (the write that failed was rolled back)."""

    http_status = 507


class ConfigError(TongtuError):
    """A setting or a library's recorded state does not allow the operation."""

    http_status = 500
