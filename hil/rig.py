"""The rig builder: a whole polling station on one machine, brought up from its description.

``StationRig`` is labgrid's environment and strategy in one object: a station
description (``hil.station``: which device has which peripherals on which UART, and
the target each runs on) says what to build, and ``start()`` walks it up::

    with StationRig(voters=30, seed=1) as rig:                  # hil/stations/training.json
        rig.url                                                 # dashboard
        outcomes = rig.run_voters(rig.voters)                   # simulated voters walk through
        results = rig.close_polls()
        rig.expected_contests(outcomes)                         # ground truth of what was cast

    StationRig(description=load_station("my-station.json"))     # any other station
    StationRig(terminals=4, scanners=2)                         # the demo's wiring, more devices

``start()`` brings the station up in the order a poll worker would: the broker
(Mosquitto when installed, else amqtt, unless one is passed in), the station files
in a work directory (the example election, a generated voter list, one random key
per device, the firmware hash the devices are allowed to run, a chair and a technician
with random PINs and TOTP secrets: ``rig.chair``, ``rig.technician``), the controller (a
``shailoo controller serve`` process by default; ``controller="inline"`` runs it
in this process, where tests can swap its ballot reader), then every device with
its peripherals (``hil.device.build_device``), and waits until the controller lists
each device online with its firmware hash. ``stop()`` (or leaving the ``with``) takes
everything down again and removes a work directory it created.

What the rig promises: every part that runs is the real one (firmware in
``micropython`` with its role's heap, real broker, real controller, real bytes on
every UART). What it does not: timing like the hardware's (ptys are as fast as the
machine) or paper physics (a sheet is an image).
"""

from __future__ import annotations

import json
import logging
import os
import queue
import shutil
import tempfile
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import httpx

from controller.integrity import station_key
from hil.broker import Broker, start_broker
from hil.controller import ControllerError, ControllerInline, ControllerProcess
from hil.device import DeviceUnit, build_device
from hil.history import History, wait_until
from hil.peripherals import Sheet
from hil.poll_workers import PollWorker, SessionClient, logged_in
from hil.station import DEFAULT_STATION, StationDescription, load_station, standard_station
from hil.targets import VirtualBoard
from hil.voters import (
    SimulatedVoter,
    Voter,
    VoterOutcome,
    expected_contests,
    ground_truth,
    grow_fingers,
    make_voters,
    write_voter_csv,
)

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE_ELECTION = ROOT / "examples" / "election.json"
STARTUP_TIMEOUT = 60.0

Progress = Callable[[str], None]
BallotMaker = Callable[[str, dict[str, list[str]], int], Sheet]


class RigError(RuntimeError):
    """The station could not be brought up; the message says which part and why."""


# ---- the station --------------------------------------------------------------------


class StationRig:
    """Broker + controller + terminals + scanners + simulated voters, started as one."""

    def __init__(
        self,
        terminals: int = 2,
        scanners: int = 1,
        voters: int = 30,
        seed: int = 1,
        http_port: int = 0,
        broker: Broker | None = None,
        broker_kind: str | None = None,
        election: Path | None = None,
        mode: str = "test",
        station: str | None = None,
        scan_dpi: int = 150,
        workdir: Path | None = None,
        controller: str = "process",
        reader: Any = None,
        election_loader: Any = None,
        ballot_maker: BallotMaker | None = None,
        blank_rate: float = 0.1,
        description: StationDescription | Path | None = None,
        progress: Progress | None = None,
    ) -> None:
        if description is None:
            # Without a description: the demo's station, with as many devices as asked.
            if (terminals, scanners) == (2, 1):
                description = load_station(DEFAULT_STATION)
            else:
                description = standard_station(terminals, scanners)
        elif not isinstance(description, StationDescription):
            description = load_station(description)
        if controller not in ("process", "inline"):
            raise ValueError("controller must be 'process' or 'inline'")
        if controller == "process" and (reader is not None or election_loader is not None):
            raise ValueError("a reader or election loader can only be swapped in inline")
        self.description = description
        self.n_voters = voters
        self.seed = seed
        self.http_port = http_port
        self.mode = mode
        self.station_id = station or description.station or f"s-{seed % 10000:04d}"
        self.scan_dpi = scan_dpi
        self.election_source = Path(election) if election else EXAMPLE_ELECTION
        self.controller_kind = controller
        self.blank_rate = blank_rate
        self._reader = reader
        self._election_loader = election_loader
        self._ballot_maker = ballot_maker
        self._progress = progress or (lambda text: None)
        self._broker_given = broker
        self._broker_kind = broker_kind
        self._own_workdir = workdir is None
        # Set to keep a work directory the rig created (e.g. to read the logs after a failure).
        self.keep_workdir = False
        self.workdir = Path(workdir) if workdir else Path(tempfile.mkdtemp(prefix="shailoo-"))
        self.broker: Broker | None = None
        self.controller: ControllerProcess | ControllerInline | None = None
        self.terminals: list[DeviceUnit] = []
        self.scanners: list[DeviceUnit] = []
        self.keys: dict[str, bytes] = {}
        self.election: Any = None
        self.voters: list[Voter] = []
        self.truth: dict[str, dict[str, list[str]]] = {}
        self.setup_path = self.workdir / "station.json"
        self.data_dir = self.workdir / "data"
        self.log_dir = self.workdir / "logs"
        # The chair closes the polls (logged in only then, so a trainee at the dashboard
        # can use the chair's current code); the technician watches the status.
        self.chair = PollWorker("chair-1", "Training chair", "chair")
        self.technician = PollWorker("tech-1", "Station technician", "technician")
        self._http: SessionClient | None = None
        self._chair_http: SessionClient | None = None
        self._blank: dict[str, tuple[Any, Any]] = {}
        self._render_lock = threading.Lock()

    # ---- lifecycle ---------------------------------------------------------------------

    def start(self) -> StationRig:
        """Bring the whole station up; ``RigError`` (after cleaning up) if a part fails."""
        try:
            self._start()
        except BaseException:
            self.stop()
            raise
        return self

    def _start(self) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.log_dir.mkdir(exist_ok=True)
        self._progress("starting the MQTT broker")
        self.broker = self._broker_given or start_broker(self._broker_kind)
        self._progress(f"broker: {self.broker.kind} on {self.broker.host}:{self.broker.port}")
        self._load_election()
        self.voters = make_voters(self.n_voters, self.seed, sorted(self.election.styles))
        # Growing the voters' fingers takes CPU; the start-up below mostly waits.
        grow_fingers(self.voters)
        self.truth = ground_truth(self.election, self.voters, self.seed, self.blank_rate)
        self._make_units()
        fw_hashes = set()
        for unit in self.units():
            self._progress(f"building the flash of {unit.name}")
            fw_hashes.add(unit.board.build())
        self._write_setup(sorted(fw_hashes))
        self.broker.add_station(self.station_id, dict(self.keys))
        self._progress("starting the station controller")
        self.controller = self._start_controller()
        self._http = logged_in(self.controller.url, self.technician)
        for unit in self.units():
            self._progress(f"powering on {unit.name} ({unit.board.heap} heap)")
            unit.board.start()
        self.wait_online()

    def _load_election(self) -> None:
        if not self.election_source.is_file():
            raise RigError(f"election file {self.election_source} not found")
        target = self.workdir / "election.json"
        shutil.copyfile(self.election_source, target)
        if self._election_loader is not None:
            self.election = self._election_loader(target)
        else:
            from controller.election.load import load_election

            self.election = load_election(target)

    def _make_units(self) -> None:
        assert self.broker is not None
        for wanted in self.description.devices:
            # One random key per device, written into its flash and the station setup.
            key = os.urandom(32)
            self.keys[wanted.id] = key
            unit = build_device(
                wanted,
                self.station_id,
                self.broker.host,
                self.broker.port,
                key,
                self.workdir / "flash" / wanted.id,
                log_dir=self.log_dir,
                broker_ca=self.broker.ca_der,
            )
            (self.terminals if unit.role == "idterminal" else self.scanners).append(unit)

    def _write_setup(self, fw_hashes: list[str]) -> None:
        write_voter_csv(self.voters, self.workdir / "voters.csv")
        setup = {
            "station": self.station_id,
            "mode": self.mode,
            "election": "election.json",
            "voters": "voters.csv",
            "devices": [
                {"id": u.name, "role": u.board.role, "key": self.keys[u.name].hex()}
                for u in self.units()
            ],
            "polls": "open",
            "firmware": fw_hashes,
            "workers": [self.chair.setup_entry(), self.technician.setup_entry()],
        }
        self.setup_path.write_text(json.dumps(setup, indent=1) + "\n", encoding="utf-8")
        key = self.workdir / station_key.DEFAULT_NAME
        if self.mode == "official" and not key.exists():
            # An official station starts only with a key made at its setup.
            station_key.generate(key)

    def _start_controller(self) -> ControllerProcess | ControllerInline:
        try:
            return self._controller()
        except ControllerError as err:
            raise RigError(str(err)) from None

    def _controller(self) -> ControllerProcess | ControllerInline:
        assert self.broker is not None
        if self.controller_kind == "inline":
            return ControllerInline(
                self.setup_path,
                self.data_dir,
                self.broker,
                self.http_port,
                self._reader,
                self._election_loader,
                login=self.broker.controller_login(self.station_id),
            )
        return ControllerProcess(
            self.setup_path,
            self.data_dir,
            self.broker,
            self.http_port,
            self.log_dir / "controller.log",
            login_file=self.broker.controller_login_file(self.station_id),
        )

    def units(self) -> list[DeviceUnit]:
        """Every device unit, terminals first."""
        return [*self.terminals, *self.scanners]

    def wait_online(self, timeout: float = STARTUP_TIMEOUT) -> dict[str, Any]:
        """Wait until the controller lists every device online with its firmware hash."""
        names = {u.name for u in self.units()}

        def ready() -> dict[str, Any] | None:
            for unit in self.units():
                if not unit.board.alive():
                    raise RigError(f"{unit.name} stopped:\n{unit.board.console_tail()}")
            status = self.status()
            online = {
                d["id"] for d in status["devices"] if d.get("online") and d.get("fw_hash")
            }
            return status if names <= online else None

        self._progress("waiting for every device to come online")
        return wait_until(ready, timeout, "every device online", interval=0.1)

    def stop(self) -> None:
        """Take everything down; safe to call more than once and after a failed start."""
        for unit in self.units():
            try:
                unit.close()
            except Exception:  # noqa: BLE001 - keep tearing down the rest
                logging.getLogger("shailoo.hil").exception("stopping %s", unit.name)
        self.terminals, self.scanners = [], []
        for client in (self._http, self._chair_http):
            if client is not None:
                client.close()
        self._http = self._chair_http = None
        if self.controller is not None:
            self.controller.stop()
            self.controller = None
        if self.broker is not None and self._broker_given is None:
            self.broker.stop()
        self.broker = None
        if self._own_workdir and not self.keep_workdir:
            shutil.rmtree(self.workdir, ignore_errors=True)

    def __enter__(self) -> StationRig:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ---- the controller's API ------------------------------------------------------------

    @property
    def url(self) -> str:
        """The dashboard and API base URL."""
        if self.controller is None:
            raise RigError("the station is not running")
        return self.controller.url

    def _request(
        self, method: str, path: str, chair: bool = False, **kw: Any
    ) -> httpx.Response:
        """A request in the technician's session, or the chair's; a session that ended
        (a long training day) is opened again once."""
        if self._http is None or self.controller is None:
            raise RigError("the station is not running")
        if chair and self._chair_http is None:
            self._chair_http = logged_in(self.controller.url, self.chair)
        client, worker = (
            (self._chair_http, self.chair) if chair else (self._http, self.technician)
        )
        assert client is not None
        response = client.request(method, path, **kw)
        if response.status_code == 401:
            worker.login(client)
            response = client.request(method, path, **kw)
        return response

    def status(self) -> dict[str, Any]:
        """``GET /api/status``."""
        response = self._request("GET", "/api/status")
        response.raise_for_status()
        return response.json()

    def close_polls(self, force: bool = False) -> dict[str, Any]:
        """``POST /api/polls/close``: the chair closes the polls; returns the results."""
        response = self._request("POST", "/api/polls/close", chair=True, params={"force": force})
        if response.status_code != 200:
            raise RigError(f"closing the polls failed ({response.status_code}): {response.text}")
        return response.json()

    def controller_log(self) -> History[str]:
        """The controller's log lines."""
        if self.controller is None:
            raise RigError("the station is not running")
        return self.controller.log

    # ---- ballots and voters ----------------------------------------------------------

    def make_ballot(self, style: str, choices: dict[str, list[str]], seed: int) -> Sheet:
        """The ballot of ``style`` as printed for this station, marked with ``choices``."""
        if self._ballot_maker is not None:
            return self._ballot_maker(style, choices, seed)
        from controller.ballots.render import render_ballot
        from hil.ballot_marking import mark_ballot

        with self._render_lock:
            if style not in self._blank:
                self._blank[style] = render_ballot(
                    self.election,
                    style,
                    dpi=self.scan_dpi,
                    mode=self.mode,
                    station=self.station_id,
                )
            image, layout = self._blank[style]
        marked = mark_ballot(image.copy(), layout, choices, seed)
        return Sheet(marked, self.scan_dpi)

    def simulated_voter(self, voter: Voter) -> SimulatedVoter:
        """The walk-through of ``voter`` with their ground-truth marks."""
        return SimulatedVoter(voter, self.truth[voter.voter_id], self.make_ballot, voter.row)

    def run_voters(
        self,
        voters: Sequence[Voter] | None = None,
        on_done: Callable[[VoterOutcome], None] | None = None,
        pace: float = 0.0,
    ) -> list[VoterOutcome]:
        """Walk ``voters`` (all by default) through the station, several at once.

        Voter i goes to terminal i mod T and scanner i mod S, queueing there behind
        whoever is using it, so every terminal and scanner is busy at the same time.
        ``pace`` spaces the voters' arrivals by that many seconds. ``on_done`` is
        called in the calling thread as each voter finishes. Returns the outcomes in
        the voters' order.
        """
        voters = list(self.voters if voters is None else voters)
        if not voters:
            return []
        jobs: queue.Queue[tuple[int, Voter] | None] = queue.Queue()
        done: queue.Queue[tuple[int, VoterOutcome]] = queue.Queue()

        def worker() -> None:
            while True:
                job = jobs.get()
                if job is None:
                    return
                i, voter = job
                outcome = VoterOutcome(voter)
                try:
                    self.simulated_voter(voter).vote(
                        self.terminals[i % len(self.terminals)],
                        self.scanners[i % len(self.scanners)],
                        outcome,
                    )
                except Exception as err:  # noqa: BLE001 - reported in the outcome
                    outcome.error = f"{type(err).__name__}: {err}"
                done.put((i, outcome))

        stop = threading.Event()
        workers = len(self.terminals) + len(self.scanners) + 1

        def arrivals() -> None:
            for i, voter in enumerate(voters):
                # Spacing arrivals is the scenario itself, not a wait for an event.
                if (pace and i and stop.wait(pace)) or stop.is_set():
                    break
                jobs.put((i, voter))
            for _ in range(workers):
                jobs.put(None)

        # Daemon threads: a Ctrl-C in the demo must not wait for voters stuck in a queue.
        threads = [
            threading.Thread(target=worker, name=f"voter-{n}", daemon=True) for n in range(workers)
        ]
        threads.append(threading.Thread(target=arrivals, name="arrivals", daemon=True))
        for thread in threads:
            thread.start()
        outcomes: dict[int, VoterOutcome] = {}
        try:
            while len(outcomes) < len(voters):
                i, outcome = done.get()
                outcomes[i] = outcome
                if on_done is not None:
                    on_done(outcome)
        finally:
            # On an interrupt: nobody new arrives, and waiting voters go home.
            stop.set()
            while True:
                try:
                    jobs.get_nowait()
                except queue.Empty:
                    break
            for _ in range(workers):
                jobs.put(None)
        return [outcomes[i] for i in range(len(voters))]

    def expected_contests(self, outcomes: Sequence[VoterOutcome]) -> dict[str, Any]:
        """The ``contests`` section the results must show for the ballots actually cast."""
        return expected_contests(
            self.election,
            [(o.voter.style, self.truth[o.voter.voter_id]) for o in outcomes if o.cast],
        )

    def ballots_in_boxes(self) -> int:
        """Sheets that physically went into a ballot box."""
        return sum(len(s.engine.box) for s in self.scanners)

    def describe(self) -> str:
        """One paragraph about what is running, for the demo and for failure messages."""
        lines = [
            f"station {self.station_id} ({self.mode.upper()} MODE), work directory {self.workdir}",
            f"broker {self.broker.kind if self.broker else '-'}"
            + (f" on {self.broker.host}:{self.broker.port}" if self.broker else ""),
        ]
        for unit in self.units():
            board = unit.board
            wiring = ", ".join(f"{uart}: {p.kind}" for uart, p in unit.peripherals.items())
            if isinstance(board, VirtualBoard):
                where = f"{' '.join(board.command[-3:])} pid {board.pid}"
            else:
                where = repr(board)
            lines.append(f"{unit.name}: {where} ({wiring})")
        return "\n".join(lines)


def wait_idle(rig: StationRig, timeout: float = 60.0) -> dict[str, Any]:
    """Wait until no sheet is pending at the controller and every box count is recorded."""

    def idle() -> dict[str, Any] | None:
        status = rig.status()
        if status["pending"] == 0 and status["cast"] == rig.ballots_in_boxes():
            return status
        return None

    return wait_until(idle, timeout, "the station to settle (no pending sheet)", interval=0.1)

