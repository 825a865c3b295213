"""The station controller assembled: store, registry, intake, MQTT bridge, web server.

In-process use (tests, the HIL rig)::

    station = Station("station.json", "data/", broker_host, broker_port).start()
    station.url          # http://127.0.0.1:<port>
    station.status()
    station.stop()

With ``printer=PrintSettings(...)`` (``controller.printing.config``) the station prints
the results protocol when the polls close, in the background, and prints it again
on ``print_results()``; ``printer_status()`` says whether the printer is ready, out
of paper or open, and how the last print job ended.

The dashboard and API need a poll worker's login (``controller.workers``):
``session_limits`` sets how long a session lives, ``api_docs`` serves the OpenAPI
document to logged-in workers.

A station refuses to start on a data directory that belongs to another station,
or whose election or voter list changed after ballots were issued: the records
of a day are never silently mixed with another setup.
"""

from __future__ import annotations

import logging
import socket
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import uvicorn

from controller.checkin import check_in
from controller.checkin.finger_references import (
    FingerReferenceError,
    load_references,
    references_digest,
    store_references,
)
from controller.checkin.voter_list import VoterListError, digest, load_voters, store_voters
from controller.dashboard.api import create_app
from controller.intake.decision import Reader
from controller.intake.sheets import Intake
from controller.integrity import seals, station_key
from controller.integrity.verify import Report, check
from controller.polls.closing import close_polls
from controller.polls.results import get_results, has_results
from controller.polls.scrub import scrub_after_close
from controller.polls.state import CLOSED, OPEN, SETUP, PollsError, open_polls, polls_state
from controller.station.bridge import Bridge
from controller.station.dispatch import Dispatcher
from controller.station.events import EventHub
from controller.station.registry import Registry
from controller.station.setup import StationSetup, load_setup
from controller.store import audit
from controller.store.database import Store, get_meta, set_meta

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from controller.broker.login import BrokerLogin
    from controller.printing.config import PrintSettings
    from controller.printing.service import PrintJob, ProtocolPrinter
    from controller.workers.sessions import SessionLimits

log = logging.getLogger("shailoo.controller")

ElectionLoader = Callable[[Path], Any]


class StationError(RuntimeError):
    """The station cannot start with this setup and data directory."""


def _default_loader(path: Path) -> Any:
    from controller.election.load import load_election

    election = load_election(path)
    for warning in election.warnings:
        # What was filled in reading a definition from another tool: said at every start.
        log.warning("election definition %s: %s", path, warning)
    return election


def _default_reader() -> Reader:
    from controller.ballots.read import read_ballot

    return read_ballot


class Station:
    """One station controller: ``start()``, ``stop()``, and what the API serves."""

    def __init__(
        self,
        setup: str | Path | StationSetup,
        data_dir: str | Path,
        broker_host: str = "127.0.0.1",
        broker_port: int = 1883,
        http_host: str = "127.0.0.1",
        http_port: int = 0,
        reader: Reader | None = None,
        election_loader: ElectionLoader | None = None,
        printer: PrintSettings | None = None,
        session_limits: SessionLimits | None = None,
        api_docs: bool = False,
        broker_login: BrokerLogin | None = None,
    ) -> None:
        self.setup = setup if isinstance(setup, StationSetup) else load_setup(setup)
        self.data_dir = Path(data_dir)
        self.broker_host = broker_host
        self.broker_port = broker_port
        self.broker_login = broker_login
        self.http_host = http_host
        self.http_port = http_port
        self._reader = reader
        self._loader = election_loader or _default_loader
        self.hub = EventHub()
        self.store: Store | None = None
        self.election: Any = None
        self.registry = Registry(self.setup)
        self.dispatcher: Dispatcher | None = None
        self.bridge: Bridge | None = None
        self._server: uvicorn.Server | None = None
        self._http_thread: threading.Thread | None = None
        self._close_lock = threading.Lock()
        self._session_limits = session_limits
        self._api_docs = api_docs
        self.signing_key: Ed25519PrivateKey | None = None
        self.printer: ProtocolPrinter | None = None
        if printer is not None:
            from controller.printing.service import ProtocolPrinter

            self.printer = ProtocolPrinter(
                printer,
                on_change=lambda: self.hub.publish("printer"),
                on_finished=self._print_finished,
            )

    @property
    def station(self) -> str:
        """The station id."""
        return self.setup.station

    @property
    def mode(self) -> str:
        """``test`` or ``official``."""
        return self.setup.mode

    @property
    def url(self) -> str:
        """Base URL of the API and dashboard."""
        return f"http://{self.http_host}:{self.http_port}"

    # -- lifecycle ----------------------------------------------------------------

    def start(self, http: bool = True, mqtt: bool = True) -> Station:
        """Open the store, load the setup, connect to the broker, serve HTTP."""
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.election = self._loader(self.setup.election_path)
        try:
            voters = load_voters(self.setup.voters_path, styles=set(self.election.styles))
        except VoterListError as err:
            raise StationError(str(err)) from None
        fingers: dict[int, bytes] = {}
        if self.setup.fingers_path is not None:
            try:
                fingers = load_references(self.setup.fingers_path, voters)
            except FingerReferenceError as err:
                raise StationError(str(err)) from None
        self._load_key()
        self.store = Store(self.data_dir / "station.db")
        seals.attach(self.store.path, self.signing_key)
        try:
            self._initialise(voters, fingers)
        except BaseException:
            seals.detach(self.store.path)
            self.store.close()
            raise
        scrub_after_close(self.store)  # a crash may have come between closing and scrubbing
        intake = Intake(
            self.store,
            self.election,
            self._reader or _default_reader(),
            self.mode,
            self.station,
            keep_images=True,
            return_marginal=self.setup.return_marginal,
        )
        self.dispatcher = Dispatcher(self.store, self.station, self.registry, intake)
        self.dispatcher.listeners.append(self.hub.publish)
        try:
            if http:
                self._start_http()
            if mqtt:
                self.bridge = Bridge(
                    self.station,
                    self.broker_host,
                    self.broker_port,
                    self.dispatcher.on_message,
                    login=self.broker_login,
                )
                self.dispatcher.publish = self.bridge.publish
                self.bridge.start()
        except BaseException:
            self.stop()
            raise
        if not self.setup.workers:
            log.warning("the setup lists no poll workers: nobody can log in to the dashboard")
        log.info("station %s (%s mode) running at %s", self.station, self.mode, self.url)
        return self

    def _initialise(self, voters: list[Any], fingers: dict[int, bytes]) -> None:
        assert self.store is not None
        with self.store.tx() as conn:
            stored_station = get_meta(conn, "station")
            if stored_station not in (None, self.station):
                raise StationError(
                    f"{self.data_dir} holds the data of station {stored_station}, "
                    f"not {self.station}"
                )
            issued = conn.execute("SELECT COUNT(*) FROM issuances").fetchone()[0]
            started = polls_state(conn) != SETUP or issued > 0
            try:
                station_key.record(conn, self.signing_key, started)
            except station_key.StationKeyError as err:
                raise StationError(str(err)) from None
            for key, value in (
                ("mode", self.mode),
                ("election_hash", self.election.hash),
                ("voters_sha256", digest(voters)),
                ("fingers_sha256", references_digest(fingers)),
            ):
                old = get_meta(conn, key)
                if old not in (None, value) and started:
                    raise StationError(
                        f"the {key.split('_')[0]} changed since polls opened: "
                        f"refusing to mix records of two setups in {self.data_dir}"
                    )
            if get_meta(conn, "voters_sha256") != digest(voters):
                count = store_voters(conn, voters)
                log.info("voter list imported: %d voters", count)
            if get_meta(conn, "fingers_sha256") != references_digest(fingers):
                count = store_references(conn, fingers)
                log.info("finger references imported: %d voters enrolled", count)
            set_meta(conn, "station", self.station)
            set_meta(conn, "mode", self.mode)
            set_meta(conn, "election_hash", self.election.hash)
            set_meta(conn, "election_id", self.election.id)
            set_meta(conn, "voters_sha256", digest(voters))
            set_meta(conn, "fingers_sha256", references_digest(fingers))
            self.registry.sync(conn)
            audit.append(
                conn,
                "station.started",
                None,
                mode=self.mode,
                election_hash=self.election.hash,
                voters=len(voters),
                enrolled=len(fingers),
            )
        if self.setup.polls == OPEN:
            with self.store.read() as conn:
                fresh = polls_state(conn) == SETUP
            if fresh:
                open_polls(self.store)

    def _load_key(self) -> None:
        path = self.setup.signing_key_path or self.setup.path.parent / station_key.DEFAULT_NAME
        try:
            self.signing_key, made = station_key.for_station(
                path, self.mode, self.setup.public_key
            )
        except station_key.StationKeyError as err:
            raise StationError(str(err)) from None
        if made:
            public = station_key.public_hex(self.signing_key.public_key())
            log.warning("test station: made a signing key at %s (public key %s)", path, public)

    def _start_http(self) -> None:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((self.http_host, self.http_port))
        self.http_port = sock.getsockname()[1]
        config = uvicorn.Config(
            create_app(self, self._session_limits, self._api_docs),
            log_level="warning",
            timeout_graceful_shutdown=3,
            lifespan="off",
        )
        self._server = uvicorn.Server(config)
        self._http_thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": [sock]}, name="http", daemon=True
        )
        self._http_thread.start()
        # uvicorn offers no callback for "listening", only a flag set from its loop.
        deadline = time.monotonic() + 15
        while not self._server.started:
            if not self._http_thread.is_alive() or time.monotonic() > deadline:
                raise StationError(f"the web server did not start on {self.url}")
            time.sleep(0.02)

    def stop(self) -> None:
        """Stop serving and disconnect; the store stays consistent at any point."""
        self.hub.close()
        if self.bridge is not None:
            self.bridge.stop()
            self.bridge = None
        if self._server is not None:
            self._server.should_exit = True
            if self._http_thread is not None:
                self._http_thread.join(10)
            self._server = None
        if self.store is not None:
            seals.detach(self.store.path)
            self.store.close()
            self.store = None

    def __enter__(self) -> Station:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- what the API serves ---------------------------------------------------------

    def _store(self) -> Store:
        if self.store is None:
            raise RuntimeError("the station is not running")
        return self.store

    def status(self) -> dict[str, Any]:
        """The ``/api/status`` document."""
        with self._store().read() as conn:

            def count(sql: str) -> int:
                return conn.execute(sql).fetchone()[0]

            doc = {
                "station": self.station,
                "mode": self.mode,
                "polls": polls_state(conn),
                "devices": self.registry.devices(conn),
                "voters": count("SELECT COUNT(*) FROM voters"),
                "checked_in": count("SELECT COUNT(*) FROM issuances"),
                "held_for_chair": count("SELECT COUNT(*) FROM checkin_holds WHERE state = 'held'"),
                "cast": count("SELECT COUNT(*) FROM sheets WHERE state = 'cast'"),
                "pending": count("SELECT COUNT(*) FROM sheets WHERE state = 'pending'"),
            }
            if doc["polls"] == CLOSED:
                # Only once closed: a count that rose while voters fed the scanner would
                # say whose ballot had an unclear mark.
                from controller.polls.adjudication import summary

                doc["adjudication"] = summary(conn)
                doc["results_final"] = has_results(conn)
        if self.printer is not None:
            # The last known state only: a status call must not wait for the printer.
            doc["printer"] = self.printer.status(refresh=False)
        return doc

    def open_polls(self) -> str:
        """Open the polls."""
        state = open_polls(self._store())
        self.hub.publish("polls")
        return state

    def close_polls(self, force: bool = False) -> dict[str, Any]:
        """Close the polls and return the results; with a printer, start printing them.

        ``AwaitingAdjudication`` (polls closed all the same) while a flagged ballot has
        an undecided mark: called again once all are decided, it produces the results.
        """
        with self._close_lock:
            with self._store().read() as conn:
                produced_before = has_results(conn)
            try:
                results = close_polls(
                    self._store(), self.station, self.election, self.mode, force
                )
            finally:
                self.hub.publish("polls")
        if not produced_before and self.printer is not None:
            self.printer.submit(results, self.election, seal=self.paper_code())
        return results

    def flagged_ballots(self) -> dict[str, Any]:
        """The ballots flagged for the commission and the protocol's counts of them;
        ``AdjudicationError`` (409) while polls are not closed."""
        from controller.polls.adjudication import AdjudicationError, flagged, summary

        with self._store().read() as conn:
            if polls_state(conn) != CLOSED:
                raise AdjudicationError(
                    "flagged ballots are listed once polls are closed, never while voters vote",
                    409,
                )
            return {
                "summary": summary(conn),
                "final": has_results(conn),
                "ballots": [b.to_json() for b in flagged(conn)],
            }

    def adjudicate(self, record: str, body: Any) -> dict[str, Any]:
        """Record the commission's decision on a flagged ballot's marks
        (``controller.polls.adjudication.decide``)."""
        from controller.polls.adjudication import decide

        with self._store().tx() as conn:
            ballot = decide(conn, record, body, polls_state(conn))
        self.hub.publish("adjudication")
        return ballot

    def flagged_image(self, record: str) -> bytes | None:
        """The kept image (PNG) of a flagged ballot, once polls are closed; None otherwise."""
        from controller.intake import images
        from controller.polls.adjudication import RECORD_ID, flagged

        if not isinstance(record, str) or not RECORD_ID.match(record):
            return None
        with self._store().read() as conn:
            if polls_state(conn) != CLOSED or record not in {b.record for b in flagged(conn)}:
                return None
            return images.load(conn, record)

    def print_results(self, copies: int | None = None) -> dict[str, Any]:
        """Print the results protocol (again): the job document, printing in the background.

        ``PollsError`` while polls are not closed, or when no printer is configured.
        """
        from controller.printing.config import MAX_COPIES

        if self.printer is None:
            raise PollsError("no printer is configured for this station", 409)
        if copies is not None and not 1 <= copies <= MAX_COPIES:
            raise PollsError(f"copies must be 1..{MAX_COPIES}", 422)
        job = self.printer.submit(self.results(), self.election, copies, self.paper_code())
        return job.to_json()

    def printer_status(self, refresh: bool = True) -> dict[str, Any]:
        """The printer's status document (``{"configured": false}`` without a printer);
        ``refresh`` asks the printer now unless it is printing."""
        if self.printer is None:
            return {"configured": False}
        return self.printer.status(refresh)

    def _print_finished(self, job: PrintJob) -> None:
        store = self.store
        if store is None:
            return
        kind = "results.printed" if job.state == "printed" else "results.print_failed"
        with store.tx() as conn:
            audit.append(
                conn,
                kind,
                None,
                job=job.id,
                copies=job.copies,
                results_sha256=job.sha256,
                code=job.code,
                sections=job.sections,
            )

    def held_checkins(self) -> list[dict[str, Any]]:
        """Check-ins whose finger did not match, waiting for the chair."""
        with self._store().read() as conn:
            return check_in.held(conn)

    def override_checkin(self, txn: str, reason: str) -> dict[str, Any]:
        """The chair issues the ballot of a held check-in (``check_in.OverrideError``)."""
        with self._store().tx() as conn:
            result = check_in.override(conn, txn, reason, polls_state(conn))
        self.hub.publish("checkin")
        return result

    def results(self) -> dict[str, Any]:
        """The stored results (``PollsError`` while polls are not closed)."""
        return get_results(self._store())

    def verify_audit(self) -> Report:
        """Check the audit chain, its seals and the records against each other with the
        station's public key (``controller.integrity.verify``)."""
        assert self.signing_key is not None  # loaded before the store opens
        with self._store().read() as conn:
            return check(conn, self.signing_key.public_key(), self.election)

    def paper_code(self) -> str | None:
        """The closing seal's code that the results protocol prints (None before it)."""
        with self._store().read() as conn:
            close = seals.closing(conn)
        return seals.paper_code(close) if close is not None else None
