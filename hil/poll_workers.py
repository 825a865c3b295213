"""Poll workers the rig plays: known PINs and TOTP secrets, and a login over HTTP.

The rig writes each worker into the station's setup (PIN as its scrypt hash) and
computes the current TOTP code as an authenticator app would. A code is accepted once,
so a worker who logs in twice within 30 s uses the next step's code, still inside the
controller's window, and waits for the step after that if even that one is used.
"""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass, field
from typing import Any

import httpx

from controller.workers.roster import TOTP_STEP, code_at, hash_pin, new_secret

CSRF_HEADER = "X-CSRF-Token"


class SessionClient(httpx.Client):
    """An ``httpx.Client`` that may be used in ``with`` after it has logged in (a plain
    client refuses to be entered once it has sent a request)."""

    def __enter__(self) -> SessionClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class LoginError(RuntimeError):
    """The controller refused a login the rig expected to succeed."""


@dataclass
class PollWorker:
    """A poll worker with their PIN and TOTP secret in clear (the rig's side of a login)."""

    id: str
    name: str
    role: str
    pin: str = field(default_factory=lambda: f"{secrets.randbelow(10**8):08d}")
    secret: str = field(default_factory=new_secret)
    last_step: int = -1
    _hash: str | None = field(default=None, repr=False)

    def setup_entry(self) -> dict[str, str]:
        """The worker as the station setup lists them (the PIN hashed once, then kept)."""
        if self._hash is None:
            self._hash = hash_pin(self.pin)
        return {
            "id": self.id, "name": self.name, "role": self.role, "pin": self._hash,
            "totp": self.secret,
        }

    def next_code(self) -> tuple[int, str]:
        """A time step not used yet, within the controller's window, and its code."""
        step = max(int(time.time() // TOTP_STEP), self.last_step + 1)
        # Both usable steps spent: the controller takes ``step`` once the clock is in the
        # step before it, a moment known in advance (within 30 s).
        time.sleep(max(0.0, (step - 1) * TOTP_STEP - time.time()))
        return step, code_at(self.secret, step)

    def login(self, client: httpx.Client) -> dict[str, Any]:
        """Log ``client`` in: its cookie jar gets the session, its headers the CSRF token.
        Returns the session document."""
        step, code = self.next_code()
        response = client.post(
            "/api/login", json={"worker": self.id, "pin": self.pin, "code": code}
        )
        if response.status_code != 200:
            raise LoginError(
                f"login of {self.id} refused ({response.status_code}): {response.text}"
            )
        self.last_step = step
        session = response.json()
        client.headers[CSRF_HEADER] = session["csrf"]
        return session


def logged_in(base_url: str, worker: PollWorker, timeout: float = 60) -> SessionClient:
    """An HTTP client for ``base_url`` logged in as ``worker``."""
    client = SessionClient(base_url=base_url, timeout=timeout)
    try:
        worker.login(client)
    except BaseException:
        client.close()
        raise
    return client
