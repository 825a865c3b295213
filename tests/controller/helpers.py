"""Test helpers for the controller: station files, a wire-speaking test device, waits."""

from __future__ import annotations

import hashlib
import json
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from controller.broker.login import BrokerLogin
from drivers.mrz_make import make_td1, make_td3
from hil.broker import Broker
from hil.history import wait_until as rig_wait_until
from hil.poll_workers import PollWorker, SessionClient
from protocol import envelope, topics
from protocol.blob import BlobSender

DEFAULT_TIMEOUT = 15.0


def wait_until(
    predicate: Callable[[], Any], timeout: float = DEFAULT_TIMEOUT, what: str = ""
) -> Any:
    """Poll ``predicate`` until it returns something truthy; fail after ``timeout`` s."""
    return rig_wait_until(predicate, timeout, what, interval=0.02)


def station_id(prefix: str = "st") -> str:
    """A fresh station id: the broker keeps a persistent session per controller id."""
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


# -- a small election (the project's JSON form) -------------------------------------------------

ELECTION_DOC: dict[str, Any] = {
    "format": "shailoo-election/1",
    "id": "e-2026-test",
    "title": {"ky": "Сыноо шайлоосу", "ru": "Тестовые выборы", "en": "Test election"},
    "date": "2026-11-29",
    "contests": [
        {
            "id": "mayor",
            "title": {"ky": "Мэр", "ru": "Мэр", "en": "Mayor"},
            "vote_for": 1,
            "options": [
                {"id": "m-asel", "name": "Asel"},
                {"id": "m-bakyt", "name": "Bakyt"},
                {"id": "m-chyngyz", "name": "Chyngyz"},
            ],
        },
        {
            "id": "council",
            "title": {"ky": "Кеңеш", "ru": "Совет", "en": "Council"},
            "vote_for": 2,
            "options": [
                {"id": "c-1", "name": "Aida"},
                {"id": "c-2", "name": "Bolot"},
                {"id": "c-3", "name": "Cholpon"},
            ],
        },
    ],
    "styles": [
        {"id": "s1", "contests": ["mayor", "council"]},
        {"id": "s2", "contests": ["mayor"]},
    ],
}


def load_test_election(path: Path) -> Any:
    """The real loader (kept as a seam: tests pass it explicitly)."""
    from controller.election.load import load_election

    return load_election(path)


# -- real ballots, rendered and marked like a voter would ------------------------------------

_BLANKS: dict[tuple[str, str, str, int, str | None], tuple[Any, dict[str, Any]]] = {}


def marked_ballot(
    election: Any,
    style: str,
    votes: dict[str, list[str]],
    mode: str = "test",
    dpi: int = 100,
    station: str | None = None,
) -> np.ndarray:
    """A rendered ballot of ``style`` with the ovals of ``votes`` filled in, as grey rows."""
    from PIL import ImageDraw

    from controller.ballots.render import render_ballot

    key = (election.hash, style, mode, dpi, station)
    if key not in _BLANKS:
        _BLANKS[key] = render_ballot(election, style, dpi=dpi, mode=mode, station=station)
    blank, layout = _BLANKS[key]
    image = blank.copy()
    draw = ImageDraw.Draw(image)
    wanted = {(c, o) for c, options in votes.items() for o in options}
    for t in layout["targets"]:
        if (t["contest"], t["option"]) in wanted:
            draw.ellipse([t["x"], t["y"], t["x"] + t["w"], t["y"] + t["h"]], fill=20)
    return np.asarray(image, dtype=np.uint8)


# -- poll workers ------------------------------------------------------------------------

# One of each role, the same in every test station of a run (their PINs are hashed once).
WORKERS: dict[str, PollWorker] = {
    role: PollWorker(f"{role}-1", name, role)
    for role, name in (
        ("chair", "Aida Chair"),
        ("secretary", "Bolot Secretary"),
        ("member", "Cholpon Member"),
        ("technician", "Daniyar Technician"),
    )
}
# A TOTP code is taken once per station: the last step used, per (station URL, worker).
_USED_STEPS: dict[tuple[str, str], int] = {}


def worker_entries() -> list[dict[str, str]]:
    """The test workers as a setup file lists them."""
    return [w.setup_entry() for w in WORKERS.values()]


def sign_in(client: httpx.Client, role: str = "chair") -> dict[str, Any]:
    """Log ``client`` (its ``base_url`` a station) in as the worker of ``role``; it then
    sends the session's CSRF token with every request. Returns the session document."""
    template = WORKERS[role]
    key = (str(client.base_url).rstrip("/"), template.id)
    worker = PollWorker(
        template.id, template.name, role, template.pin, template.secret,
        last_step=_USED_STEPS.get(key, -1),
    )
    try:
        return worker.login(client)
    finally:
        _USED_STEPS[key] = worker.last_step


def code_for(url: str, role: str = "chair") -> str:
    """A TOTP code of the worker of ``role`` that the station at ``url`` has not taken
    yet (for a login typed in a browser); it counts as used from now on."""
    template = WORKERS[role]
    key = (url.rstrip("/"), template.id)
    worker = PollWorker(template.id, template.name, role, template.pin, template.secret,
                        last_step=_USED_STEPS.get(key, -1))
    step, code = worker.next_code()
    _USED_STEPS[key] = step
    return code


def login(url: str, role: str = "chair") -> SessionClient:
    """An HTTP client for the station at ``url``, logged in as its worker of ``role``."""
    client = SessionClient(base_url=url, timeout=60)
    try:
        sign_in(client, role)
    except BaseException:
        client.close()
        raise
    return client


# -- station files ---------------------------------------------------------------------


@dataclass
class SimVoter:
    row: int
    voter_id: str
    surname: str
    given_names: str
    birth_date: str
    sex: str
    document_type: str
    document_number: str
    personal_number: str
    style: str

    def mrz(self) -> list[str]:
        """The MRZ of this voter's document."""
        birth = self.birth_date[2:4] + self.birth_date[5:7] + self.birth_date[8:10]
        make = make_td1 if self.document_type == "ID" else make_td3
        return make(
            self.document_number,
            birth,
            self.sex,
            "320101",
            "KGZ",
            self.surname,
            self.given_names,
            personal_number=self.personal_number,
        )


def make_voters(count: int) -> list[SimVoter]:
    """``count`` voters with ID cards (every fifth with a passport), styles s1/s2."""
    out = []
    for n in range(1, count + 1):
        birth = date(1960, 1, 1) + timedelta(days=97 * n)
        passport = n % 5 == 0
        out.append(
            SimVoter(
                row=n,
                voter_id=f"v{n:05d}",
                surname=f"SURNAME{chr(65 + n % 26)}",
                given_names=f"GIVEN{chr(65 + (n * 7) % 26)}",
                birth_date=birth.isoformat(),
                sex="F" if n % 2 else "M",
                document_type="P" if passport else "ID",
                document_number=(f"AC{n:07d}" if passport else f"ID{n:07d}"),
                personal_number=f"{20000000000000 + n}",
                style="s2" if n % 4 == 0 else "s1",
            )
        )
    return out


def voters_csv(voters: list[SimVoter]) -> str:
    header = (
        "row,voter_id,surname,given_names,birth_date,sex,document_type,document_number,"
        "personal_number,style"
    )
    lines = [header] + [",".join(str(getattr(v, f)) for f in header.split(",")) for v in voters]
    return "\n".join(lines) + "\n"


@dataclass
class DeviceKey:
    id: str
    role: str
    key: bytes = field(default_factory=lambda: uuid.uuid4().bytes * 2)


def write_station(
    folder: Path,
    station: str,
    devices: list[DeviceKey],
    voters: list[SimVoter],
    mode: str = "test",
    polls: str = "open",
    firmware: list[str] | None = None,
    workers: list[dict[str, str]] | None = None,
) -> Path:
    """Write station.json, election.json and voters.csv into ``folder``; return the setup path.
    The poll workers are ``WORKERS`` unless others are given."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "election.json").write_text(json.dumps(ELECTION_DOC, indent=1))
    (folder / "voters.csv").write_text(voters_csv(voters))
    setup: dict[str, Any] = {
        "station": station,
        "mode": mode,
        "election": "election.json",
        "voters": "voters.csv",
        "devices": [{"id": d.id, "role": d.role, "key": d.key.hex()} for d in devices],
        "polls": polls,
        "workers": worker_entries() if workers is None else workers,
    }
    if firmware is not None:
        setup["firmware"] = firmware
    path = folder / "station.json"
    path.write_text(json.dumps(setup, indent=1))
    return path


def station_login(broker: Broker, setup: Path) -> BrokerLogin:
    """Give the station of ``setup`` (its controller and devices) accounts on ``broker``;
    return the controller's login."""
    data = json.loads(setup.read_text())
    return broker.add_station(
        data["station"], {d["id"]: bytes.fromhex(d["key"]) for d in data.get("devices", [])}
    )


# -- a device that speaks the wire contract (stands in for firmware in controller tests) ---


class WireDevice:
    """An MQTT client that seals messages like a device and collects verified replies."""

    def __init__(
        self, broker: Broker, station: str, device: str, key: bytes,
        login: BrokerLogin | None = None,
    ) -> None:
        """Log in as ``device`` (its own broker account unless ``login`` names another)
        and seal with ``key``."""
        self.station = station
        self.device = device
        self.key = key
        self.seq = 0
        self.status_counter = 0
        self.replies: list[envelope.Message] = []
        self.raw_replies: list[bytes] = []
        self._cond = threading.Condition()
        self._subscribed = threading.Event()
        self.client = mqtt.Client(
            CallbackAPIVersion.VERSION2,
            client_id=f"{device}-{uuid.uuid4().hex[:6]}",
            protocol=mqtt.MQTTv311,
        )
        (login or broker.device_login(device, key)).configure(self.client)
        self.client.on_connect = self._on_connect
        self.client.on_subscribe = lambda *a: self._subscribed.set()
        self.client.on_message = self._on_message
        self.client.connect(broker.host, broker.port, 30)
        self.client.loop_start()
        if not self._subscribed.wait(DEFAULT_TIMEOUT):
            raise AssertionError("test device did not subscribe")

    def _on_connect(self, client, userdata, flags, reason_code, properties) -> None:
        client.subscribe(topics.down(self.station, self.device), qos=1)

    def _on_message(self, client, userdata, message) -> None:
        payload = bytes(message.payload)
        msg = envelope.parse(payload)
        msg.verify(self.key)
        assert msg.dir == "down" and msg.dev == self.device
        with self._cond:
            self.replies.append(msg)
            self.raw_replies.append(payload)
            self._cond.notify_all()

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()

    # sending

    def publish(self, payload: bytes, topic: str | None = None, retain: bool = False) -> None:
        info = self.client.publish(
            topic or topics.up(self.station, self.device), payload, qos=1, retain=retain
        )
        info.wait_for_publish(DEFAULT_TIMEOUT)

    def status(
        self, state: str = "online", counter: int | None = None, key: bytes | None = None,
        **body: Any,
    ) -> int:
        """Publish a retained signed status (``counter`` default: one above the last)."""
        if counter is None:
            self.status_counter += 1
            counter = self.status_counter
        payload = envelope.seal(key or self.key, self.device, "up", counter, "status",
                                {"state": state, **body})
        self.publish(payload, topics.status(self.station, self.device), retain=True)
        return counter

    def seal(
        self,
        mtype: str,
        body: dict,
        attachment: bytes = b"",
        seq: int | None = None,
        key: bytes | None = None,
        dev: str | None = None,
        direction: str = "up",
    ) -> tuple[int, bytes]:
        if seq is None:
            self.seq += 1
            seq = self.seq
        payload = envelope.seal(
            key or self.key, dev or self.device, direction, seq, mtype, body, attachment=attachment
        )
        return seq, payload

    def send(self, mtype: str, body: dict, attachment: bytes = b"", **kw: Any) -> int:
        seq, payload = self.seal(mtype, body, attachment, **kw)
        self.publish(payload)
        return seq

    def reply_to(self, seq: int, timeout: float = DEFAULT_TIMEOUT) -> envelope.Message:
        """Wait for the reply whose ``re`` is ``seq``."""
        with self._cond:
            ok = self._cond.wait_for(lambda: any(r.re == seq for r in self.replies), timeout)
            if not ok:
                raise AssertionError(f"{self.device}: no reply to seq {seq}")
            return next(r for r in self.replies if r.re == seq)

    def replies_to(self, seq: int) -> list[envelope.Message]:
        with self._cond:
            return [r for r in self.replies if r.re == seq]

    def request(
        self, mtype: str, body: dict, attachment: bytes = b"", **kw: Any
    ) -> envelope.Message:
        return self.reply_to(self.send(mtype, body, attachment, **kw))

    def hello(self, fw_hash: str = "ab" * 32, role: str = "scanner") -> dict:
        """Say hello; its answer also proves that everything sent before was handled."""
        return self.request(
            "hello", {"role": role, "fw": "0.1.0", "fw_hash": fw_hash, "boot": 1}
        ).body

    def upload(
        self,
        sheet: str,
        gray: np.ndarray,
        rows_per_chunk: int = 0,
        skip: set[int] | None = None,
        corrupt_hash: bool = False,
        dpi: int = 100,
    ) -> int:
        """Send a sheet image as blob.begin/chunks/end; return the seq of blob.end."""
        height, width = gray.shape
        rows_per_chunk = rows_per_chunk or max(1, 30000 // width)
        sender = BlobSender(sheet)
        self.send(
            "blob.begin",
            sender.begin("ballot-image", {"width": width, "height": height, "dpi": dpi, "bpp": 8}),
        )
        for i, start in enumerate(range(0, height, rows_per_chunk)):
            part = gray[start : start + rows_per_chunk].tobytes()
            body = sender.chunk(part)
            if skip and i in skip:
                continue
            self.send("blob.chunk", body, part)
        end = sender.end()
        if corrupt_hash:
            end["sha256"] = hashlib.sha256(b"something else").hexdigest()
        return self.send("blob.end", end)
