"""URL fetch against local servers that play the usual SSRF and slow-loris tricks."""

from __future__ import annotations

import ipaddress
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from tongtu.errors import UrlFormatError, UrlResponseInvalid, UrlSizeError, UrlTimeout
from tongtu.fetch import Fetcher, is_public

LOOPBACK = ("127.0.0.1/32",)


class Tricks(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        if self.path == "/ok":
            self._body(b"x" * 100)
        elif self.path == "/big":
            self._body(b"x" * 300_000)
        elif self.path == "/big-chunked":
            self.send_response(200)
            self.end_headers()
            for _ in range(30):
                self.wfile.write(b"x" * 10_000)
        elif self.path == "/drip":
            self.send_response(200)
            self.send_header("Content-Length", "1000")
            self.end_headers()
            for _ in range(1000):
                self.wfile.write(b"x")
                self.wfile.flush()
                time.sleep(0.05)
        elif self.path == "/header-drip":  # headers a byte at a time, never finished
            for byte in b"HTTP/1.1 200 OK\r\nX-Slow: " + b"y" * 200:
                self.wfile.write(bytes([byte]))
                self.wfile.flush()
                time.sleep(0.05)
        elif self.path.startswith("/to/"):
            self.send_response(302)
            self.send_header("Location", "http://" + self.path[4:])
            self.end_headers()
        elif self.path == "/loop":
            self.send_response(302)
            self.send_header("Location", "/loop")
            self.end_headers()
        else:
            self.send_error(404)

    def _body(self, data: bytes) -> None:
        self.send_response(200)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def site() -> Iterator[str]:
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Tricks)
    httpd.daemon_threads = True
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()


def test_allow_listed_loopback_is_fetched(site: str) -> None:
    assert Fetcher(allow=LOOPBACK).fetch(site + "/ok") == b"x" * 100


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1/",
        "http://127.1.2.3:8080/",
        "http://localhost/",
        "http://[::1]/",
        "http://10.1.2.3/",
        "http://172.16.0.1/",
        "http://192.168.1.1/",
        "http://169.254.169.254/latest/meta-data/",
        "http://[fc00::1]/",
        "http://[::ffff:127.0.0.1]/",
    ],
)
def test_private_loopback_and_link_local_addresses_are_refused(url: str) -> None:
    with pytest.raises(UrlFormatError):
        Fetcher().fetch(url)


@pytest.mark.parametrize("target", ["10.0.0.1/", "169.254.169.254/", "127.0.0.2/"])
def test_redirect_to_a_private_address_is_refused(site: str, target: str) -> None:
    with pytest.raises(UrlFormatError):
        Fetcher(allow=LOOPBACK).fetch(site + "/to/" + target)


def test_redirect_loop_stops_after_the_cap(site: str) -> None:
    with pytest.raises(UrlResponseInvalid):
        Fetcher(allow=LOOPBACK, max_redirects=3).fetch(site + "/loop")


@pytest.mark.parametrize("path", ["/big", "/big-chunked"])
def test_body_over_the_cap_is_refused(site: str, path: str) -> None:
    with pytest.raises(UrlSizeError):
        Fetcher(allow=LOOPBACK, max_bytes=200_000).fetch(site + path)


def test_slow_drip_server_hits_the_total_deadline(site: str) -> None:
    start = time.monotonic()
    with pytest.raises(UrlTimeout):
        Fetcher(allow=LOOPBACK, timeout=1.0).fetch(site + "/drip")
    assert time.monotonic() - start < 3.0


def test_headers_sent_a_byte_at_a_time_hit_the_total_deadline(site: str) -> None:
    """Each byte resets a socket's own timeout: only a deadline over the whole fetch
    stops a server that drips its status line and headers."""
    start = time.monotonic()
    with pytest.raises(UrlTimeout):
        Fetcher(allow=LOOPBACK, timeout=1.0).fetch(site + "/header-drip")
    assert time.monotonic() - start < 3.0


# Checked offline against the rule: nothing is sent to these addresses.
@pytest.mark.parametrize(
    "address",
    [
        "64:ff9b::a9fe:a9fe",  # NAT64 of the metadata address
        "64:ff9b::a00:1",  # NAT64 of 10.0.0.1
        "64:ff9b:1::808:808",  # local-use NAT64
        "2002:a9fe:a9fe::1",  # 6to4
        "2002:808:808::1",
        "::a9fe:a9fe",  # IPv4-compatible
        "::7f00:1",
        "::ffff:169.254.169.254",
        "::ffff:0:7f00:1",  # IPv4-translated 127.0.0.1 (RFC 2765)
        "::ffff:0:a9fe:a9fe",  # IPv4-translated metadata address
        "::ffff:0:a00:1",
        "fec0::1",  # site-local
        "100::1",  # discard
        "2001:db8::1",
        "2001::1",  # Teredo
        "240.0.0.1",
        "255.255.255.255",
        "192.0.0.8",
        "198.18.0.1",
        "198.19.255.255",
        "192.0.2.1",
        "198.51.100.1",
        "203.0.113.1",
        "0.1.2.3",
        "224.0.0.251",
        "ff02::1",
    ],
)
def test_addresses_that_are_not_globally_reachable_are_refused(address: str) -> None:
    assert not is_public(ipaddress.ip_address(address))


@pytest.mark.parametrize(
    "address",
    [
        "8.8.8.8",
        "1.1.1.1",
        "2606:4700:4700::1111",
        "::ffff:8.8.8.8",
        "64:ff9b::808:808",
        "::ffff:0:808:808",  # IPv4-translated 8.8.8.8
    ],
)
def test_public_addresses_are_allowed_by_the_rule(address: str) -> None:
    assert is_public(ipaddress.ip_address(address))


@pytest.mark.parametrize(
    "url",
    [
        "ftp://example.com/a.jpg",
        "file:///etc/passwd",
        "http://",
        "x" * 2000,
        "http://[::1/x",
        "http://ex\u2100ample.invalid/",
    ],
)
def test_malformed_urls_are_282111(url: str) -> None:
    with pytest.raises(UrlFormatError):
        Fetcher().fetch(url)


def test_not_found_and_refused_connection_are_282113(site: str) -> None:
    with pytest.raises(UrlResponseInvalid):
        Fetcher(allow=LOOPBACK).fetch(site + "/nothing-here")
    with pytest.raises(UrlResponseInvalid):
        Fetcher(allow=LOOPBACK).fetch("http://127.0.0.1:1/")
