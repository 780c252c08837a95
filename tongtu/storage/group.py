"""Group commit: the writes of concurrent requests share one transaction.

A writer that finds no transaction in progress becomes the leader: it takes every write
queued so far (its own among them), commits them together and wakes their writers;
writes that arrive meanwhile queue for the next leader. Nobody waits for a timer, and
nothing is acknowledged before the transaction that holds it has committed — a writer
returns only once its own write is in a committed transaction (or raises that
transaction's error: none of its writes were made).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass

__all__ = ["GroupCommit"]


@dataclass(eq=False, slots=True)
class _Pending[W, R]:
    write: W
    done: bool = False
    outcome: R | None = None
    error: BaseException | None = None


class GroupCommit[W, R]:
    """`commit(writes) -> outcomes` (one transaction, outcomes in order) for every group
    of writes that meet in time; `after()` runs once per group before its writers are
    answered (the vector store catching up with the catalog)."""

    def __init__(
        self,
        commit: Callable[[Sequence[W]], Sequence[R]],
        after: Callable[[], None] = lambda: None,
    ) -> None:
        self._commit = commit
        self._after = after
        self._cond = threading.Condition()
        self._queue: list[_Pending[W, R]] = []
        self._leading = False
        self.transactions = 0  # how many groups were committed (bench, tests)
        self.writes = 0

    @property
    def waiting(self) -> int:
        """Writes queued for the next transaction."""
        with self._cond:
            return len(self._queue)

    def __call__(self, write: W) -> R:
        mine: _Pending[W, R] = _Pending(write)
        with self._cond:
            self._queue.append(mine)
            while self._leading and not mine.done:
                self._cond.wait()
            if not mine.done:  # no transaction in progress: lead the next one
                self._leading = True
                group, self._queue = self._queue, []
        if not mine.done:
            self._lead(group)
        if mine.error is not None:
            raise mine.error
        return mine.outcome  # type: ignore[return-value]

    def _lead(self, group: list[_Pending[W, R]]) -> None:
        try:
            outcomes = self._commit([p.write for p in group])
            for p, outcome in zip(group, outcomes, strict=True):
                p.outcome = outcome
            self._after()
        except BaseException as exc:  # the transaction failed: every write in it did
            for p in group:
                p.error = exc
        finally:
            with self._cond:
                for p in group:
                    p.done = True
                self.transactions += 1
                self.writes += len(group)
                self._leading = False
                self._cond.notify_all()
