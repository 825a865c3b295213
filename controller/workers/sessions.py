"""Logged-in sessions of poll workers, and the brake on guessing PINs and codes.

A login needs the worker's id, PIN and the current TOTP code; a code is taken once
(RFC 6238 section 5.2), so a code seen over someone's shoulder is worth nothing after
its owner used it. A session ends on logout, after ``idle_s`` without a request, and
``absolute_s`` after login whatever happens. Five failed logins of one worker id, or
from one address, lock that id or address for a minute, doubling with every further
lock up to an hour; a success clears the count.

Sessions live in the controller's memory: a restarted controller asks everyone to log
in again, which is the safe side for a station.
"""

from __future__ import annotations

import hmac
import re
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from controller.workers.roster import Worker, burn_pin_time

TOKEN = re.compile(r"[A-Za-z0-9_-]{43}\Z")
MAX_FAILURES = 5
LOCK_S = 60.0
MAX_LOCK_S = 3600.0
MAX_SESSIONS = 64


class LoginRefused(Exception):
    """A login was refused: ``status`` (401 wrong credentials, 429 locked), a message
    safe to show, and the reason kept for the audit log (a 429 needs no entry: the
    failure that set the lock has one, and a guesser must not fill the log)."""

    def __init__(self, status: int, message: str, reason: str, retry_after: int = 0) -> None:
        super().__init__(message)
        self.status = status
        self.reason = reason
        self.retry_after = retry_after


@dataclass(frozen=True)
class SessionLimits:
    """How long a session lives: ``idle_s`` without a request, ``absolute_s`` in all."""

    idle_s: float = 15 * 60.0
    absolute_s: float = 12 * 3600.0


@dataclass
class Session:
    """One logged-in worker: the cookie's token, the CSRF token bound to it, the times."""

    token: str
    csrf: str
    worker: Worker
    created: float
    last_seen: float

    def check_csrf(self, presented: object) -> bool:
        """True when ``presented`` is this session's CSRF token."""
        return isinstance(presented, str) and hmac.compare_digest(
            presented.encode("utf-8", "replace"), self.csrf.encode()
        )


@dataclass
class _Failures:
    count: int = 0
    locks: int = 0
    locked_until: float = 0.0


@dataclass
class Sessions:
    """The station's sessions and login brake (thread-safe)."""

    workers: tuple[Worker, ...]
    limits: SessionLimits = field(default_factory=SessionLimits)
    clock: Callable[[], float] = time.monotonic
    wall: Callable[[], float] = time.time

    def __post_init__(self) -> None:
        self._by_id = {w.id: w for w in self.workers}
        self._sessions: dict[str, Session] = {}
        self._failures: dict[str, _Failures] = {}
        self._last_step: dict[str, int] = {}
        self._lock = threading.Lock()

    def worker(self, worker_id: object) -> Worker | None:
        """The worker with that id, if the setup lists one."""
        return self._by_id.get(worker_id) if isinstance(worker_id, str) else None

    # -- logging in ----------------------------------------------------------------------

    def _locked(self, key: str, now: float) -> int:
        entry = self._failures.get(key)
        if entry is None or entry.locked_until <= now:
            return 0
        return max(1, int(entry.locked_until - now + 0.999))

    def _fail(self, key: str, now: float) -> bool:
        """Count a failure of ``key``; True when it locks ``key`` now."""
        entry = self._failures.setdefault(key, _Failures())
        entry.count += 1
        if entry.count >= MAX_FAILURES:
            entry.locked_until = now + min(MAX_LOCK_S, LOCK_S * 2**entry.locks)
            entry.locks += 1
            entry.count = 0
            return True
        return False

    def login(self, worker_id: object, pin: object, code: object, address: str) -> Session:
        """A new session for the worker whose PIN and current code these are, or
        ``LoginRefused``."""
        now = self.clock()
        worker = self.worker(worker_id)
        keys = [f"address:{address}"] + ([f"worker:{worker.id}"] if worker else [])
        with self._lock:
            wait = max(self._locked(key, now) for key in keys)
        if wait:
            raise LoginRefused(
                429, f"too many failed logins: try again in {wait} s", "locked", wait
            )
        # The slow part runs outside the lock: one login does not hold up the others.
        if worker is None:
            burn_pin_time(pin)
            pin_ok, step = False, None
        else:
            pin_ok = worker.check_pin(pin)
            step = worker.code_step(code, self.wall()) if pin_ok else None
        with self._lock:
            reason = None
            if worker is None:
                reason = "unknown worker"
            elif not pin_ok:
                reason = "wrong PIN"
            elif step is None:
                reason = "wrong or expired code"
            elif step <= self._last_step.get(worker.id, -1):
                reason = "code already used"
            if reason is not None:
                locks = [key.split(":")[0] for key in keys if self._fail(key, now)]
                if locks:
                    reason += f"; {' and '.join(locks)} now locked"
                raise LoginRefused(
                    401,
                    "login refused: the worker id, PIN or code is wrong, or the code was "
                    "already used (wait for the next one)",
                    reason,
                )
            assert worker is not None and step is not None
            self._last_step[worker.id] = step
            for key in keys:
                self._failures.pop(key, None)
            self._expire(now)
            if len(self._sessions) >= MAX_SESSIONS:
                oldest = min(self._sessions.values(), key=lambda s: s.last_seen)
                del self._sessions[oldest.token]
            session = Session(
                secrets.token_urlsafe(32), secrets.token_urlsafe(32), worker, now, now
            )
            self._sessions[session.token] = session
            return session

    # -- using a session ----------------------------------------------------------------------

    def _expired(self, session: Session, now: float) -> bool:
        return (
            now - session.last_seen > self.limits.idle_s
            or now - session.created > self.limits.absolute_s
        )

    def _expire(self, now: float) -> None:
        for token in [t for t, s in self._sessions.items() if self._expired(s, now)]:
            del self._sessions[token]

    def lookup(self, token: object, touch: bool = True) -> tuple[Session | None, str]:
        """The live session of a cookie's token, or None and why not; ``touch`` counts
        the request as activity (the live event stream does not)."""
        if not isinstance(token, str) or not token:
            return None, "log in first"
        if not TOKEN.match(token):
            return None, "the session cookie is malformed: log in again"
        now = self.clock()
        with self._lock:
            session = self._sessions.get(token)
            if session is None:
                return None, "no such session (logged out or expired): log in again"
            if self._expired(session, now):
                del self._sessions[token]
                return None, "the session expired: log in again"
            if touch:
                session.last_seen = now
            return session, ""

    def alive(self, session: Session) -> bool:
        """True while ``session`` is neither ended nor expired (nothing is touched)."""
        with self._lock:
            return (
                self._sessions.get(session.token) is session
                and not self._expired(session, self.clock())
            )

    def logout(self, session: Session) -> None:
        """End ``session``."""
        with self._lock:
            self._sessions.pop(session.token, None)
