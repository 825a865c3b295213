"""Thread-safe records that a test or scenario waits on, always with a bound.

The rig never sleeps for a fixed time hoping something happened: it waits for the
event itself, and a wait that runs out raises ``RigTimeout`` naming what it waited
for and the last things that did happen.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from typing import Any, Generic, TypeVar

T = TypeVar("T")
# The bound of a wait that names none: long enough for a board on a loaded machine.
DEFAULT_TIMEOUT = 20.0


class RigTimeout(AssertionError):
    """A bounded wait ran out. An ``AssertionError``, so pytest reports it as a failure."""


class History(Generic[T]):
    """An append-only list that wakes waiters on every append."""

    def __init__(self, name: str = "history") -> None:
        self.name = name
        self._items: list[T] = []
        self._cond = threading.Condition()

    def append(self, item: T) -> None:
        """Add ``item`` and wake every waiter."""
        with self._cond:
            self._items.append(item)
            self._cond.notify_all()

    def items(self, start: int = 0) -> list[T]:
        """A copy of the items from index ``start`` on."""
        with self._cond:
            return list(self._items[start:])

    def mark(self) -> int:
        """The current length: pass it as ``start`` to wait only for what comes later."""
        with self._cond:
            return len(self._items)

    def __len__(self) -> int:
        return self.mark()

    def __iter__(self) -> Iterator[T]:
        return iter(self.items())

    def last(self) -> T | None:
        """The newest item, or None."""
        with self._cond:
            return self._items[-1] if self._items else None

    def wait_for(
        self,
        predicate: Callable[[T], bool],
        timeout: float = DEFAULT_TIMEOUT,
        start: int = 0,
        what: str = "",
    ) -> T:
        """Return the first item from index ``start`` on that satisfies ``predicate``.

        Raises ``RigTimeout`` after ``timeout`` seconds.
        """
        deadline = time.monotonic() + timeout
        index = start
        with self._cond:
            while True:
                while index < len(self._items):
                    item = self._items[index]
                    index += 1
                    if predicate(item):
                        return item
                left = deadline - time.monotonic()
                if left <= 0:
                    tail = self._items[-6:]
                    raise RigTimeout(
                        f"{self.name}: no {what or 'matching item'} within {timeout:g} s; "
                        f"last: {tail!r}"
                    )
                self._cond.wait(left)


def wait_until(
    predicate: Callable[[], Any], timeout: float, what: str = "", interval: float = 0.05
) -> Any:
    """Poll ``predicate`` until it returns something truthy, which is returned.

    For state that has no event to wait on (an HTTP status, a file); raises
    ``RigTimeout`` after ``timeout`` seconds.
    """
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise RigTimeout(f"timed out after {timeout:g} s waiting for {what or predicate}")
        time.sleep(interval)
