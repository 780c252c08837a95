"""Server-side URL fetch with SSRF protection (docs/security.md).

The host name is resolved once, every address is checked against the blocked networks
(unless allow-listed), and the connection goes to the checked address — so a DNS answer
that changes between check and use cannot slip through. Redirects are followed by hand
and each hop is checked the same way. Size and total time are capped; a server that
drips bytes slowly hits the deadline, not the worker's patience.
"""

from __future__ import annotations

import contextlib
import http.client
import ipaddress
import socket
import ssl
import threading
import time
from dataclasses import dataclass, field
from urllib.parse import urljoin, urlsplit

from tongtu.errors import UrlFormatError, UrlResponseInvalid, UrlSizeError, UrlTimeout

__all__ = ["BLOCKED_NETWORKS", "MAX_URL_BYTES", "Fetcher", "is_public"]

MAX_URL_BYTES = 1024
# Every address IANA's special-purpose registries mark as not globally reachable, and
# multicast: a fetch reaches only the public Internet unless TONGTU_URL_ALLOW says so.
BLOCKED_NETWORKS = tuple(
    ipaddress.ip_network(n)
    for n in (
        "0.0.0.0/8",  # "this network"
        "10.0.0.0/8",
        "100.64.0.0/10",  # carrier-grade NAT
        "127.0.0.0/8",
        "169.254.0.0/16",  # link-local, cloud metadata (169.254.169.254)
        "172.16.0.0/12",
        "192.0.0.0/24",  # IETF protocol assignments
        "192.0.2.0/24",  # TEST-NET-1
        "192.88.99.0/24",  # 6to4 relay anycast (deprecated)
        "192.168.0.0/16",
        "198.18.0.0/15",  # benchmarking
        "198.51.100.0/24",  # TEST-NET-2
        "203.0.113.0/24",  # TEST-NET-3
        "224.0.0.0/4",  # multicast
        "240.0.0.0/4",  # reserved, and 255.255.255.255 (broadcast) in it
        "::/96",  # unspecified, loopback and the deprecated IPv4-compatible addresses
        "::ffff:0:0/96",  # IPv4-mapped: checked as the IPv4 address it holds
        "64:ff9b:1::/48",  # local-use NAT64
        "100::/64",  # discard
        "2001::/23",  # IETF protocol assignments (Teredo, ORCHIDs, benchmarking, …)
        "2001:db8::/32",  # documentation
        "2002::/16",  # 6to4: reaches any IPv4 address through a relay
        "3fff::/20",  # documentation
        "5f00::/16",  # segment routing SIDs
        "fc00::/7",  # unique local
        "fe80::/10",  # link-local
        "fec0::/10",  # site-local (deprecated)
        "ff00::/8",  # multicast
    )
)
# NAT64's well-known prefix reaches the IPv4 address in its last 32 bits
# (64:ff9b::a9fe:a9fe is the metadata address): that address is checked instead.
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
_TRANSLATED = ipaddress.ip_network("::ffff:0:0:0/96")  # IPv4-translated (RFC 2765, SIIT)
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
                try:
                    url = urljoin(url, location)
                except ValueError as exc:
                    raise UrlResponseInvalid("redirect to a malformed Location") from exc
                continue
            if status != 200:
                raise UrlResponseInvalid(f"url answered HTTP {status}")
            return body
        raise UrlResponseInvalid(f"more than {self.max_redirects} redirects")

    # ---------------------------------------------------------------------------

    def _get(self, url: str, deadline: float) -> tuple[int, str | None, bytes]:
        try:
            parts = urlsplit(url)
            hostname = parts.hostname
        except ValueError as exc:  # "http://[::1/x", a netloc that NFKC changes, …
            raise UrlFormatError(f"url is malformed: {exc}") from exc
        if parts.scheme not in ("http", "https") or not hostname:
            raise UrlFormatError("url must be http:// or https:// with a host")
        try:
            port = parts.port or (443 if parts.scheme == "https" else 80)
        except ValueError as exc:
            raise UrlFormatError("url has an invalid port") from exc
        host = hostname
        address = self._resolve(host, port)
        path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        conn = _pinned_connection(parts.scheme, host, port, address, self._left(deadline))
        # Each byte received resets a socket's timeout, so a server sending its headers a
        # byte a second would hold the fetch for as long as it likes: at the deadline the
        # socket is shut, whatever the fetch is waiting for (connect, headers or body).
        expired = threading.Event()

        def expire() -> None:
            expired.set()
            if conn.sock is not None:
                with contextlib.suppress(OSError):
                    conn.sock.shutdown(socket.SHUT_RDWR)

        watchdog = threading.Timer(self._left(deadline), expire)
        watchdog.daemon = True
        watchdog.start()
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
                    if expired.is_set():
                        raise UrlTimeout("url download timed out")
                    break
                total += len(chunk)
                if total > self.max_bytes:
                    raise UrlSizeError(f"url body exceeds {self.max_bytes} bytes")
                chunks.append(chunk)
                self._left(deadline)
            return resp.status, None, b"".join(chunks)
        except TimeoutError as exc:
            raise UrlTimeout("url download timed out") from exc
        except (OSError, http.client.HTTPException, ValueError) as exc:
            if expired.is_set():
                raise UrlTimeout("url download timed out") from exc
            raise UrlResponseInvalid(f"url could not be read: {exc}") from exc
        finally:
            watchdog.cancel()
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
        for rule in self.allow:
            if rule == host:
                return False
            try:
                if addr in ipaddress.ip_network(rule, strict=False):
                    return False
            except ValueError:
                continue
        return not is_public(addr)


def is_public(addr: _Address) -> bool:
    """Whether a fetch may go to `addr`: a globally reachable unicast address, with the
    IPv4 address inside an IPv4-mapped, IPv4-translated or NAT64 IPv6 address checked in
    its place."""
    if isinstance(addr, ipaddress.IPv6Address):
        if addr.ipv4_mapped is not None:
            return is_public(addr.ipv4_mapped)
        if addr in _NAT64 or addr in _TRANSLATED:
            return is_public(ipaddress.IPv4Address(int(addr) & 0xFFFFFFFF))
    if any(addr in net for net in BLOCKED_NETWORKS if net.version == addr.version):
        return False
    return addr.is_global and not addr.is_multicast


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
