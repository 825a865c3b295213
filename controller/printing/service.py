"""The station's protocol printer: print jobs in the background, status for the dashboard.

``ProtocolPrinter.submit(results, election)`` starts a job on its own thread (one job
at a time; the next waits for the printer) and returns a ``PrintJob`` at once, so
closing the polls never waits for paper. ``status(refresh=True)`` asks the printer
(``DLE EOT``) unless a job is using it, and keeps the answer; ``status(refresh=False)``
returns the last answer without touching the printer.

Status document (``to_json``)::

    {"configured": true, "target": "serial:/dev/ttyUSB0:9600", "paper_mm": 80,
     "state": "ready" | "paper-near-end" | "paper-out" | "cover-open" | "error" |
              "offline" | "no-answer" | "bad-answer" | "unreachable" | "write-only" |
              "printing" | "unknown",
     "message": "printer is out of paper", "checked_at": "2026-11-29T20:05:00Z",
     "job": null | {"id": 1, "what": "results-protocol", "state": "queued" | "printing" |
                    "printed" | "failed", "copies": 1, "sha256": "...", "code": null,
                    "error": null, "warnings": [], "sections": 7, "started_at": "...",
                    "finished_at": "...", "printed_at": "2026-11-29 20:05 UTC"}}
"""

from __future__ import annotations

import itertools
import logging
import threading
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

from controller.printing import device
from controller.printing.config import PrintSettings
from controller.printing.device import PrinterLink, open_printer, state_of
from controller.printing.job import Printed, PrintFailed, print_protocol
from controller.printing.protocol_layout import results_sha256
from drivers import escpos

log = logging.getLogger("shailoo.printing")

QUEUED = "queued"
PRINTING = "printing"
PRINTED = "printed"
FAILED = "failed"


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class PrintJob:
    """One request to print the protocol; ``wait()`` until it is printed or failed."""

    def __init__(self, job_id: int, copies: int, sha256: str) -> None:
        self.id = job_id
        self.what = "results-protocol"
        self.copies = copies
        self.sha256 = sha256
        self.state = QUEUED
        self.code: str | None = None
        self.error: str | None = None
        self.warnings: list[str] = []
        self.sections = 0
        self.started_at: str | None = None
        self.finished_at: str | None = None
        self.printed_at: str | None = None  # the time stamped on the paper
        self._done = threading.Event()

    @property
    def finished(self) -> bool:
        """True once printed or failed."""
        return self._done.is_set()

    def wait(self, timeout: float | None = None) -> bool:
        """Wait until the job is finished; False if ``timeout`` passed first."""
        return self._done.wait(timeout)

    def to_json(self) -> dict[str, Any]:
        """The job as the dashboard shows it."""
        return {
            "id": self.id,
            "what": self.what,
            "state": self.state,
            "copies": self.copies,
            "sha256": self.sha256,
            "code": self.code,
            "error": self.error,
            "warnings": list(self.warnings),
            "sections": self.sections,
            "started_at": self.started_at,
            "finished_at": self.finished_at,
            "printed_at": self.printed_at,
        }


class ProtocolPrinter:
    """The configured printer of one station."""

    def __init__(
        self,
        settings: PrintSettings,
        opener: Callable[[PrintSettings], PrinterLink] = open_printer,
        on_change: Callable[[], None] | None = None,
        on_finished: Callable[[PrintJob], None] | None = None,
    ) -> None:
        self.settings = settings
        self._opener = opener
        self._on_change = on_change
        self._on_finished = on_finished
        self._device_lock = threading.Lock()  # one conversation with the printer at a time
        self._lock = threading.Lock()
        self._ids = itertools.count(1)
        self._state = "unknown"
        self._message = "not checked yet"
        self._checked_at: str | None = None
        self.last_job: PrintJob | None = None

    # -- status -----------------------------------------------------------------------------

    def _record(self, state: str, message: str) -> None:
        with self._lock:
            changed = (state, message) != (self._state, self._message)
            self._state, self._message, self._checked_at = state, message, _now()
        if changed and self._on_change is not None:
            self._on_change()

    def _ask(self) -> None:
        if not self.settings.target.can_read:
            self._record(device.WRITE_ONLY, "the link is write-only: paper and cover unknown")
            return
        try:
            with self._opener(self.settings) as link:
                flags = link.status()
        except escpos.PrinterError as err:
            self._record(device.CODE_STATES.get(err.code, device.FAULT), str(err))
            return
        self._record(state_of(flags), escpos.describe(flags))

    def status(self, refresh: bool = True) -> dict[str, Any]:
        """The status document; with ``refresh`` the printer is asked first (if free)."""
        if refresh and self._device_lock.acquire(blocking=False):
            try:
                self._ask()
            finally:
                self._device_lock.release()
        with self._lock:
            job = self.last_job
            busy = job is not None and job.state == PRINTING
            return {
                "configured": True,
                "target": str(self.settings.target),
                "paper_mm": self.settings.paper_mm,
                "state": device.PRINTING if busy else self._state,
                "message": self._message,
                "checked_at": self._checked_at,
                "job": job.to_json() if job is not None else None,
            }

    # -- jobs -------------------------------------------------------------------------------

    def submit(
        self,
        results: Mapping[str, Any],
        election: Any,
        copies: int | None = None,
        seal: str | None = None,
    ) -> PrintJob:
        """Start printing the protocol in the background; the job is returned at once.
        ``seal`` is the closing seal's code, printed under the protocol's hash."""
        count = copies or self.settings.copies
        job = PrintJob(next(self._ids), count, results_sha256(results))
        with self._lock:
            self.last_job = job
        thread = threading.Thread(
            target=self._run, args=(job, dict(results), election, seal), name=f"print-{job.id}"
        )
        thread.daemon = True
        thread.start()
        return job

    def _run(
        self, job: PrintJob, results: dict[str, Any], election: Any, seal: str | None
    ) -> None:
        with self._device_lock:
            job.state, job.started_at = PRINTING, _now()
            if self._on_change is not None:
                self._on_change()
            try:
                done: Printed = print_protocol(
                    self.settings, results, election, self._opener, job.copies, seal=seal
                )
            except PrintFailed as err:
                job.state, job.code, job.error = FAILED, err.code, str(err)
                job.sections = err.done
                self._record(err.state, err.detail)
                log.warning("results protocol not printed: %s", err)
            except Exception as err:  # noqa: BLE001 - a job must end as failed, never hang
                job.state, job.code, job.error = FAILED, "error", f"printing failed: {err!r}"
                self._record(device.FAULT, job.error)
                log.exception("results protocol not printed")
            else:
                job.state, job.sections, job.warnings = PRINTED, done.sections, done.warnings
                job.printed_at = done.printed_at
                if done.checked:
                    state = device.NEAR_END if done.warnings else device.READY
                    self._record(state, ", ".join(done.warnings) or "ready")
                log.info("results protocol printed (%d copies)", job.copies)
            job.finished_at = _now()
        if self._on_finished is not None:
            try:
                self._on_finished(job)
            except Exception:  # noqa: BLE001 - the job is done whatever a listener does
                log.exception("print job listener failed")
        job._done.set()
        if self._on_change is not None:
            self._on_change()
