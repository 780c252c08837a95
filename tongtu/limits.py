"""Request limits: per app (QPS, requests a day) and for the whole server (QPS).

Token buckets in this process: a bucket holds one second's worth of requests and refills
continuously, so an app at its limit is answered at exactly that rate. With several
worker processes each one enforces the limits on its own share of the traffic.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass

from tongtu.errors import DailyLimit, QpsLimit, ServerBusy
from tongtu.storage.base import AppRecord

__all__ = ["Limiter"]


@dataclass(slots=True)
class _Bucket:
    tokens: float
    stamp: float

    def take(self, rate: float, now: float) -> bool:
        self.tokens = min(max(rate, 1.0), self.tokens + (now - self.stamp) * rate)
        self.stamp = now
        if self.tokens >= 1.0:
            self.tokens -= 1.0
            return True
        return False


class Limiter:
    def __init__(self, qps: float, daily: int, server_qps: float) -> None:
        self._qps = qps
        self._daily = daily
        self._server_qps = server_qps
        self._lock = threading.Lock()
        self._buckets: dict[int, _Bucket] = {}
        self._server = _Bucket(max(server_qps, 1.0), time.monotonic())
        self._day = ""
        self._counts: dict[int, int] = {}

    def check(self, app: AppRecord) -> None:
        """Count one request of `app`, or raise the limit it would break."""
        qps = self._qps if app.qps_limit is None else app.qps_limit
        daily = self._daily if app.daily_limit is None else app.daily_limit
        now = time.monotonic()
        today = time.strftime("%Y-%m-%d", time.gmtime())
        with self._lock:
            if self._server_qps > 0 and not self._server.take(self._server_qps, now):
                raise ServerBusy("the server is at its request limit; retry shortly")
            if qps > 0:
                bucket = self._buckets.setdefault(app.id, _Bucket(max(qps, 1.0), now))
                if not bucket.take(qps, now):
                    raise QpsLimit(f"more than {qps:g} requests per second")
            if today != self._day:
                self._day, self._counts = today, {}
            used = self._counts.get(app.id, 0)
            if daily > 0 and used >= daily:
                raise DailyLimit(f"the app's {daily} requests for today (UTC) are used up")
            self._counts[app.id] = used + 1
