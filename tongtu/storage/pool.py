"""A bounded pool of database connections, held by a thread for one piece of work.

A thread takes a connection for a transaction, a statement or a named lock and gives it
back when done; a nested request on the same thread shares the one it holds. So a
process holds at most `size` connections however many threads it runs, and threads that
come and go (a server's idle workers exit, a bulk import's workers end) leave none behind.

A connection that failed (the server restarted, the network dropped) is closed, and so
are the idle ones beside it, which were opened to the same server: the next piece of work
connects afresh, so service is back as soon as the server is, with no stale connection
failing a request after it.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from tongtu.errors import StoreUnavailable

__all__ = ["ConnectionPool", "PoolFull", "PoolStats"]

log = logging.getLogger("tongtu.storage")


class PoolFull(StoreUnavailable):
    """Every connection of the pool stayed in use for the whole wait."""


@dataclass(frozen=True, slots=True)
class PoolStats:
    size: int  # the most connections the pool opens
    open: int  # connections open now, in use or idle
    in_use: int
    waits: int  # times a thread waited for a connection to be given back
    timeouts: int  # times it waited in vain (PoolFull)


class ConnectionPool[C]:
    """`connect()` opens one connection, `close(c)` closes it, `lost(c)` says whether
    one given back was lost (the server closed it, the network dropped), `stale(c)`
    whether an idle one was before it is handed out (a server restarted while it sat
    idle)."""

    def __init__(
        self,
        connect: Callable[[], C],
        close: Callable[[C], None],
        lost: Callable[[C], bool],
        stale: Callable[[C], bool],
        size: int,
        timeout: float,
        name: str,
    ) -> None:
        self._connect = connect
        self._close = close
        self._lost = lost
        self._stale = stale
        self.size = size
        self.timeout = timeout
        self.name = name
        self._slots = threading.BoundedSemaphore(size)
        self._lock = threading.Lock()
        self._idle: list[C] = []
        self._open = 0
        self._waits = 0
        self._timeouts = 0
        self._held = threading.local()
        self._down = False  # logged once an outage, once its end

    @contextmanager
    def hold(self) -> Iterator[C]:
        """The connection this thread holds, or one taken for the duration."""
        held: C | None = getattr(self._held, "conn", None)
        if held is not None:
            yield held
            return
        self._take_slot()
        try:
            conn = self._checkout()
            self._held.conn = conn
            try:
                yield conn
            finally:
                self._held.conn = None
                if self._lost(conn):
                    self._discard(conn)
                else:
                    self._give_back(conn)
        finally:
            self._slots.release()

    def _take_slot(self) -> None:
        if self._slots.acquire(blocking=False):
            return
        with self._lock:
            self._waits += 1
        if not self._slots.acquire(timeout=self.timeout):
            with self._lock:
                self._timeouts += 1
            raise PoolFull(
                f"the {self.name}'s connection pool is full ({self.size} connections in use "
                f"for {self.timeout:g} s); retry later or raise its size"
            )

    def _checkout(self) -> C:
        while True:
            with self._lock:
                if not self._idle:
                    break
                conn = self._idle.pop()
            if not self._stale(conn):
                return conn
            with self._lock:
                self._open -= 1
            self._close_quietly(conn)
        conn = self._connect()  # raises StoreUnavailable when the server does not answer
        with self._lock:
            self._open += 1
        return conn

    def _give_back(self, conn: C) -> None:
        with self._lock:
            self._idle.append(conn)
            came_back, self._down = self._down, False
        if came_back:
            log.warning("the %s answers again", self.name)

    def _discard(self, conn: C) -> None:
        """A connection that failed, and the idle ones opened to the same server."""
        with self._lock:
            stale, self._idle = [conn, *self._idle], []
            self._open -= len(stale)
            first, self._down = not self._down, True
        if first:
            log.warning("the %s stopped answering; its idle connections are closed", self.name)
        for c in stale:
            self._close_quietly(c)

    def _close_quietly(self, conn: C) -> None:
        with contextlib.suppress(Exception):  # closing a dead one may fail: gone either way
            self._close(conn)

    def failed_to_connect(self) -> None:
        """One log line per outage when connecting fails, not one per request."""
        with self._lock:
            first, self._down = not self._down, True
        if first:
            log.warning("the %s does not answer; requests fail until it does", self.name)

    def stats(self) -> PoolStats:
        with self._lock:
            idle = len(self._idle)
            return PoolStats(self.size, self._open, self._open - idle, self._waits, self._timeouts)

    def close(self) -> None:
        with self._lock:
            idle, self._idle = self._idle, []
            self._open -= len(idle)
        for c in idle:
            self._close(c)
