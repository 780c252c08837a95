"""Server-side URL fetch with SSRF protection (DESIGN.md §4).

The host name is resolved once, every address is checked against the blocked networks
(unless allow-listed), and the connection goes to the checked address — so a DNS answer
that changes between check and use cannot slip through. Redirects are followed by hand
and each hop is checked the same way. Size and total time are capped; a server that
drips bytes slowly hits the deadline, not the worker's patience.
"""

from __future__ import annotations

import http.client
import ipaddress
import socket
import ssl
import time
from dataclasses import dataclass, field
from urllib.parse import urljoin, urlsplit

from tongtu.errors import UrlFormatError, UrlResponseInvalid, UrlSizeError, UrlTimeout

__all__ = ["BLOCKED_NETWORKS", "MAX_URL_BYTES", "Fetcher"]

MAX_URL_BYTES = 1024
BLOCKED_NETWORKS = tuple(
    ipaddress.ip_network(n)
    for n in (
        "0.0.0.0/8",
        "127.0.0.0/8",
        "10.0.0.0/8",
        "172.16.0.0/12",
        "192.168.0.0/16",
        "169.254.0.0/16",  # link-local, cloud metadata (169.254.169.254)
        "100.64.0.0/10",  # carrier-grade NAT
        "224.0.0.0/4",
        "::1/128",
        "::/128",
        "fc00::/7",
        "fe80::/10",
        "ff00::/8",
    )
)
_Address = ipaddress.IPv4Address | ipaddress.IPv6Address


@dataclass(frozen=True)
class Fetcher:
    timeout: float = 10.0
    max_bytes: int = 10 * 1024 * 1024
    max_redirects: int = 3
    allow: tuple[str, ...] = field(default=())

    def fetch(self, url: str) -> bytes:
        if len(url.encode("utf-8", "surrogatepass")) > MAX_URL_BYTES:
            raise UrlFormatError(f"url is longer than {MAX_URL_BYTES} bytes")
        deadline = time.monotonic() + self.timeout
        for _ in range(self.max_redirects + 1):
            status, location, body = self._get(url, deadline)
            if status in (301, 302, 303, 307, 308):
                if not location:
                    raise UrlResponseInvalid("redirect without a Location")
                url = urljoin(url, location)
                continue
            if status != 200:
                raise UrlResponseInvalid(f"url answered HTTP {status}")
            return body
        raise UrlResponseInvalid(f"more than {self.max_redirects} redirects")

    # ---------------------------------------------------------------------------

    def _get(self, url: str, deadline: float) -> tuple[int, str | None, bytes]:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise UrlFormatError("url must be http:// or https:// with a host")
        try:
            port = parts.port or (443 if parts.scheme == "https" else 80)
        except ValueError as exc:
            raise UrlFormatError("url has an invalid port") from exc
        host = parts.hostname
        address = self._resolve(host, port)
        path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        conn = _pinned_connection(parts.scheme, host, port, address, self._left(deadline))
        try:
            conn.request("GET", path, headers={"User-Agent": "tongtu", "Accept": "image/*"})
            resp = conn.getresponse()
            if resp.status in (301, 302, 303, 307, 308):
                return resp.status, resp.getheader("Location"), b""
            length = resp.getheader("Content-Length")
            if length and length.isdigit() and int(length) > self.max_bytes:
                raise UrlSizeError(f"url body is {length} bytes; the limit is {self.max_bytes}")
            chunks: list[bytes] = []
            total = 0
            while True:
                if conn.sock is not None:
                    conn.sock.settimeout(self._left(deadline))
                chunk = resp.read1(65536)
                if not chunk:
                    break
                total += len(chunk)
                if total > self.max_bytes:
                    raise UrlSizeError(f"url body exceeds {self.max_bytes} bytes")
                chunks.append(chunk)
                self._left(deadline)
            return resp.status, None, b"".join(chunks)
        except TimeoutError as exc:
            raise UrlTimeout("url download timed out") from exc
        except (OSError, http.client.HTTPException) as exc:
            raise UrlResponseInvalid(f"url could not be read: {exc}") from exc
        finally:
            conn.close()

    def _left(self, deadline: float) -> float:
        left = deadline - time.monotonic()
        if left <= 0:
            raise UrlTimeout("url download timed out")
        return left

    def _resolve(self, host: str, port: int) -> str:
        try:
            infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except (socket.gaierror, UnicodeError) as exc:
            raise UrlResponseInvalid(f"host {host!r} could not be resolved") from exc
        addresses = [ipaddress.ip_address(info[4][0]) for info in infos]
        if not addresses:
            raise UrlResponseInvalid(f"host {host!r} has no address")
        for addr in addresses:
            if self._blocked(host, addr):
                raise UrlFormatError(f"url host {host!r} resolves to a non-public address")
        return str(addresses[0])

    def _blocked(self, host: str, addr: _Address) -> bool:
        if isinstance(addr, ipaddress.IPv6Address) and addr.ipv4_mapped is not None:
            addr = addr.ipv4_mapped
        for rule in self.allow:
            if rule == host:
                return False
            try:
                if addr in ipaddress.ip_network(rule, strict=False):
                    return False
            except ValueError:
                continue
        return any(addr in net for net in BLOCKED_NETWORKS if net.version == addr.version)


def _pinned_connection(
    scheme: str, host: str, port: int, address: str, timeout: float
) -> http.client.HTTPConnection:
    """An HTTP(S) connection to `address` that still speaks to `host` (Host, SNI)."""

    if scheme == "https":

        class _Https(http.client.HTTPSConnection):
            def connect(self) -> None:
                raw = socket.create_connection((address, port), timeout)
                ctx = ssl.create_default_context()
                self.sock = ctx.wrap_socket(raw, server_hostname=host)

        return _Https(host, port, timeout=timeout)

    class _Http(http.client.HTTPConnection):
        def connect(self) -> None:
            self.sock = socket.create_connection((address, port), timeout)

    return _Http(host, port, timeout=timeout)
