"""An MQTT broker for a station on one machine: Mosquitto when installed, else amqtt.

``MosquittoBroker`` runs the production configuration that ``shailoo broker config``
writes (``controller/broker/``): TLS with a station CA, one account per device and
one per controller, the topic ACL, no anonymous access. One broker may serve several
stations at once (a test module starts one broker for many tests); each station's
accounts and ACL are what its own generated configuration would hold, and adding a
station or device rewrites the files and has Mosquitto reload them (SIGHUP).
Clients get what they need from the broker: ``ca_file``/``ca_der``, a controller's
``controller_login(station)`` (and its login file), ``device_login(device)``, and
``client_login(name, read, write)`` for a test's observer with exactly the topics it
names (an account a station never has: the one addition to the production ACL).

The in-process amqtt broker lets ``make demo`` run on a machine with nothing
installed. It is not the production broker (no TLS, no accounts, no ACL), says so
when it starts, and the tests never use it.
"""

from __future__ import annotations

import asyncio
import logging
import os
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from controller.broker.files import (
    BrokerFiles,
    StationAccounts,
    broker_user,
    hand_to_broker,
    write_accounts,
    write_server_certificate,
)
from controller.broker.login import BrokerLogin
from controller.broker.mosquitto_conf import mosquitto_conf
from controller.broker.passwd import check_username, password_line
from controller.broker.pki import StationCA
from controller.broker.secrets import write_private, write_public
from firmware.mqtt import connect_packet
from hil.history import RigTimeout, wait_until
from protocol.broker_login import device_password

MOSQUITTO_PATHS = ("/usr/sbin/mosquitto", "/usr/local/sbin/mosquitto")
RELOAD_TIMEOUT = 10.0


def free_port(host: str = "127.0.0.1") -> int:
    """Return a TCP port on ``host`` that nobody listens on right now."""
    with socket.socket() as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def mosquitto_path() -> str | None:
    """Path of the Mosquitto binary, or None when it is not installed."""
    found = shutil.which("mosquitto")
    if found:
        return found
    for path in MOSQUITTO_PATHS:
        if Path(path).exists():
            return path
    return None


def _wait_listening(host: str, port: int, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            with socket.create_connection((host, port), timeout=0.5):
                return
        except OSError:
            if time.monotonic() > deadline:
                raise RuntimeError(f"MQTT broker did not listen on {host}:{port}") from None
            time.sleep(0.05)


class Broker:
    """A running broker: ``host``, ``port``, ``kind`` ("mosquitto" or "amqtt"); ``stop()`` it.

    ``ca_der`` is None for a broker without TLS.
    """

    ca_der: bytes | None = None
    ca_file: Path | None = None

    def __init__(self, host: str, port: int, kind: str) -> None:
        self.host = host
        self.port = port
        self.kind = kind

    def add_station(self, station: str, devices: dict[str, bytes]) -> BrokerLogin:
        """Give ``station``'s controller and ``devices`` (id -> key) their accounts;
        return the controller's login."""
        return BrokerLogin(f"ctl.{station}", "", None)

    def add_device(self, station: str, device: str, key: bytes) -> BrokerLogin:
        """Give one more device of ``station`` its account; return the device's login."""
        return self.device_login(device, key)

    def device_login(self, device: str, key: bytes) -> BrokerLogin:
        """The login a device with ``key`` uses (user name = id, password from the key)."""
        return BrokerLogin(device, device_password(key), self.ca_file)

    def controller_login(self, station: str) -> BrokerLogin:
        """The login of ``station``'s controller."""
        return BrokerLogin(f"ctl.{station}", "", None)

    def controller_login_file(self, station: str) -> Path | None:
        """The controller's login file (None: the broker takes anyone)."""
        return None

    def client_login(
        self, name: str, read: tuple[str, ...] = (), write: tuple[str, ...] = ()
    ) -> BrokerLogin:
        """A test client's account that may read and write exactly the topic filters given."""
        return BrokerLogin(name, "", None)

    def stop(self) -> None:
        """Stop the broker; dropping every connection, as a broker crash would."""

    def __enter__(self) -> Broker:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


class MosquittoBroker(Broker):
    """Mosquitto in a child process running the generated station configuration.

    ``like`` is a broker stopped before: the new one has its CA and every account, so
    devices and controllers configured for the first reach the second (a broker
    restart); persistence is off, so it forgets sessions and retained messages.
    """

    def __init__(self, host: str, port: int, binary: str, like: MosquittoBroker | None = None
                 ) -> None:
        super().__init__(host, port, "mosquitto")
        self._dir = tempfile.TemporaryDirectory(prefix="shailoo-mosquitto-")
        self.files = BrokerFiles(Path(self._dir.name))
        # Mosquitto started as root reads its files as the account it drops to.
        os.chmod(self._dir.name, 0o755)
        self.ca = like.ca if like is not None else StationCA.create("test")
        self.ca_der = self.ca.cert_der()
        self.ca_file = self.files.ca_file
        self._stations: dict[str, StationAccounts] = (
            {k: StationAccounts(v.station, dict(v.devices), v.controller_password)
             for k, v in like._stations.items()} if like is not None else {}
        )
        self._clients: dict[str, tuple[str, tuple[str, ...], tuple[str, ...]]] = (
            dict(like._clients) if like is not None else {}
        )
        self._lock = threading.Lock()
        write_private(self.files.path("ca.key"), self.ca.key_pem())
        write_public(self.files.ca_file, self.ca.cert_pem())
        write_server_certificate(self.files, self.ca, sorted({host, "127.0.0.1", "localhost"}))
        self._write_accounts()
        user = broker_user()
        hand_to_broker(self.files, user)
        self.log_path = self.files.path("mosquitto.log")
        conf = mosquitto_conf(self.files.conf_paths(persistence=False), port, host, user)
        write_public(self.files.conf, conf.encode())
        self._log = open(self.log_path, "wb")  # noqa: SIM115 - closed in stop()
        self.process = subprocess.Popen(
            [binary, "-c", str(self.files.conf)], stdout=self._log, stderr=subprocess.STDOUT
        )
        try:
            _wait_listening(host, port, 10)
        except RuntimeError:
            tail = self.log_tail()
            self.stop()
            raise RuntimeError(f"Mosquitto did not start: {tail}") from None
        for station in self._stations:
            self._write_login_file(station)

    def log_tail(self, lines: int = 20) -> str:
        """The last lines Mosquitto logged."""
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    # -- accounts -----------------------------------------------------------------

    def _write_accounts(self) -> None:
        extra = "".join(
            f"\n# Test client {name} (no station has this account).\nuser {name}\n"
            + "".join(f"topic read {t}\n" for t in read)
            + "".join(f"topic write {t}\n" for t in write)
            for name, (_, read, write) in sorted(self._clients.items())
        )
        write_accounts(self.files, list(self._stations.values()), extra)
        if self._clients:
            with open(self.files.path("passwords"), "a", encoding="utf-8") as f:
                for name, (password, _, _) in sorted(self._clients.items()):
                    f.write(password_line(name, password))
        hand_to_broker(self.files, broker_user())

    def _reload(self, probe: BrokerLogin) -> None:
        self._write_accounts()
        self.process.send_signal(signal.SIGHUP)
        # A reload says nothing when it is done: the new account logging in is the sign.
        try:
            wait_until(lambda: self._accepts(probe), RELOAD_TIMEOUT, "the new accounts")
        except RigTimeout:
            raise RuntimeError(
                f"Mosquitto did not take the new accounts: {self.log_tail()}"
            ) from None

    def _accepts(self, login: BrokerLogin) -> bool:
        """True when the broker takes ``login`` (a clean-session CONNECT over TLS)."""
        ctx = ssl.create_default_context(cadata=self.ca.cert_pem().decode())
        packet = connect_packet("", 5, clean=True, username=login.username,
                                password=login.password)
        try:
            with socket.create_connection((self.host, self.port), timeout=2) as raw, \
                    ctx.wrap_socket(raw, server_hostname=self.host) as s:
                s.sendall(packet)
                connack = s.recv(4)
                if len(connack) == 4 and connack[3] == 0:
                    s.sendall(b"\xe0\x00")
                    return True
        except OSError:
            pass
        return False

    def _claim(self, station: str, devices: dict[str, bytes]) -> StationAccounts:
        """The accounts of ``station``, now holding ``devices``.

        A device id another station named before moves to this one: the tests of a
        module run their stations one after another on one broker, with the same ids.
        """
        for other in self._stations.values():
            if other.station != station:
                for device in devices:
                    other.devices.pop(device, None)
        accounts = self._stations.get(station)
        if accounts is None:
            accounts = self._stations[station] = StationAccounts(station)
        accounts.devices.update(devices)
        return accounts

    def add_station(self, station: str, devices: dict[str, bytes]) -> BrokerLogin:
        with self._lock:
            self._claim(station, devices)
            login = self.controller_login(station)
            self._reload(login)
            self._write_login_file(station)
        return login

    def add_device(self, station: str, device: str, key: bytes) -> BrokerLogin:
        with self._lock:
            self._claim(station, {device: key})
            login = self.device_login(device, key)
            self._reload(login)
            self._write_login_file(station)
        return login

    def controller_login(self, station: str) -> BrokerLogin:
        accounts = self._stations[station]
        return BrokerLogin(accounts.controller_username, accounts.controller_password,
                           self.ca_file)

    def controller_login_file(self, station: str) -> Path:
        return self.files.path(f"controller-{station}.json")

    def _write_login_file(self, station: str) -> None:
        self.controller_login(station).write(self.controller_login_file(station))

    def client_login(
        self, name: str, read: tuple[str, ...] = (), write: tuple[str, ...] = ()
    ) -> BrokerLogin:
        check_username(name)
        with self._lock:
            password = self._clients[name][0] if name in self._clients else os.urandom(16).hex()
            self._clients[name] = (password, tuple(read), tuple(write))
            login = BrokerLogin(name, password, self.ca_file)
            self._reload(login)
        return login

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self._log.close()
        self._dir.cleanup()


class AmqttBroker(Broker):
    """The amqtt broker on an event loop of its own in a daemon thread.

    Not the production broker: no TLS, anyone may connect and read or write any topic.
    """

    def __init__(self, host: str, port: int) -> None:
        super().__init__(host, port, "amqtt")
        from amqtt.broker import Broker as _AmqttBroker

        print(
            "WARNING: the in-process amqtt broker stands in for Mosquitto. It has no TLS, "
            "no accounts and no ACL: it is NOT the production broker "
            "(apt-get install mosquitto).",
            file=sys.stderr,
        )
        # amqtt logs every half-open probe connection as an error; keep the demo readable.
        logging.getLogger("amqtt").setLevel(logging.CRITICAL)

        config = {
            "listeners": {"default": {"type": "tcp", "bind": f"{host}:{port}"}},
            "sys_interval": 0,
            "auth": {"allow-anonymous": True, "plugins": ["auth_anonymous"]},
            "topic-check": {"enabled": False},
        }
        self._loop = asyncio.new_event_loop()
        self._broker = _AmqttBroker(config, loop=self._loop)
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True, name="amqtt")
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._broker.start(), self._loop).result(15)
        _wait_listening(host, port, 10)

    def stop(self) -> None:
        if self._loop.is_closed():
            return
        try:
            asyncio.run_coroutine_threadsafe(self._broker.shutdown(), self._loop).result(10)
        finally:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(5)


def start_broker(
    prefer: str | None = None,
    port: int | None = None,
    host: str = "127.0.0.1",
    like: Broker | None = None,
) -> Broker:
    """Start a broker on ``host:port`` (a free port by default).

    ``prefer`` is "mosquitto", "amqtt" or None (Mosquitto when installed).
    Asking for Mosquitto when it is not installed is an error, not a silent fallback.
    ``like``: a stopped Mosquitto broker whose CA and accounts the new one takes over.
    """
    port = port or free_port(host)
    binary = mosquitto_path()
    if prefer == "mosquitto" and binary is None:
        raise RuntimeError("Mosquitto is not installed (apt-get install mosquitto)")
    if prefer != "amqtt" and binary is not None:
        return MosquittoBroker(
            host, port, binary, like if isinstance(like, MosquittoBroker) else None
        )
    return AmqttBroker(host, port)
