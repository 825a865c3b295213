"""Change notifications from the controller's threads to the dashboard's event streams.

Producers (the MQTT thread, API handlers) call ``publish`` from any thread; each
server-sent-event stream holds a ``Subscription`` on the web server's event loop.
Notifications coalesce: a stream that is slower than the changes sends one fresh
snapshot for many changes instead of falling behind.
"""

from __future__ import annotations

import asyncio
import threading


class Subscription:
    """One listener on one event loop."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.changes: set[str] = set()
        self._event = asyncio.Event()
        self.closed = False

    def _wake(self, what: str | None) -> None:
        if what is None:
            self.closed = True
        else:
            self.changes.add(what)
        self._event.set()

    async def wait(self, timeout: float) -> set[str]:
        """The changes since the last call (empty after ``timeout`` seconds of quiet)."""
        if not self.changes and not self.closed:
            try:
                await asyncio.wait_for(self._event.wait(), timeout)
            except TimeoutError:
                pass
        self._event.clear()
        changes, self.changes = self.changes, set()
        return changes


class EventHub:
    """Fan-out of change names (``devices``, ``checkin``, ``ballots``, ``polls``)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._subs: list[Subscription] = []
        self.closed = False

    def subscribe(self) -> Subscription:
        """Register a listener on the running event loop."""
        sub = Subscription(asyncio.get_running_loop())
        with self._lock:
            if self.closed:
                sub.closed = True
            self._subs.append(sub)
        return sub

    def unsubscribe(self, sub: Subscription) -> None:
        """Forget a listener."""
        with self._lock:
            if sub in self._subs:
                self._subs.remove(sub)

    def publish(self, what: str) -> None:
        """Tell every listener that ``what`` changed; callable from any thread."""
        self._send(what)

    def close(self) -> None:
        """End every stream (the server is stopping)."""
        with self._lock:
            self.closed = True
        self._send(None)

    def _send(self, what: str | None) -> None:
        with self._lock:
            subs = list(self._subs)
        for sub in subs:
            try:
                sub.loop.call_soon_threadsafe(sub._wake, what)
            except RuntimeError:
                self.unsubscribe(sub)  # its loop is gone

    @property
    def listeners(self) -> int:
        """How many streams are open."""
        with self._lock:
            return len(self._subs)
