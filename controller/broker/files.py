"""Write a station broker's whole configuration into one folder.

::

    DIR/ca.pem            station CA certificate (for the controller and test clients)
    DIR/ca.key            its private key (0600; needed only to make a new server cert)
    DIR/server.pem        the broker's certificate, for the host names / addresses given
    DIR/server.key        its private key (0600)
    DIR/passwords         Mosquitto password file: every device and the controller (0600)
    DIR/acl               topic ACL (acl.py)
    DIR/mosquitto.conf    the broker's configuration, naming the files above
    DIR/controller.json   the controller's login (0600; login.py)
    DIR/device-broker.json  the "broker" section of every device's config.json
    DIR/data/             the broker's persistence

Writing over an existing folder keeps its CA and the controller's password, so the
devices (which carry the CA) and a running controller keep working; the server
certificate, passwords and ACL are made afresh from the setup.
"""

from __future__ import annotations

import base64
import json
import os
import pwd
import secrets as random
from dataclasses import dataclass, field
from pathlib import Path

from controller.broker.acl import controller_rules, device_patterns
from controller.broker.login import BrokerLogin, LoginError, read_login
from controller.broker.mosquitto_conf import ConfPaths, mosquitto_conf
from controller.broker.passwd import password_line
from controller.broker.pki import PkiError, StationCA, cert_pem, key_pem
from controller.broker.secrets import write_private, write_public
from controller.station.setup import StationSetup
from protocol.broker_login import device_password

DEFAULT_PORT = 8883
DEFAULT_HOSTS = ("127.0.0.1", "localhost")


class BrokerConfigError(ValueError):
    """The broker configuration cannot be written; the message says why."""


def controller_username(station: str) -> str:
    """The controller's broker account: never a device id (a dot is not allowed in ids)."""
    return f"ctl.{station}"


@dataclass
class StationAccounts:
    """The broker accounts of one station: its devices (id -> key) and its controller."""

    station: str
    devices: dict[str, bytes] = field(default_factory=dict)
    controller_password: str = field(default_factory=lambda: random.token_urlsafe(32))

    @property
    def controller_username(self) -> str:
        """The controller's user name (and so its client id)."""
        return controller_username(self.station)

    def password_lines(self) -> str:
        """The password-file lines of every account of the station."""
        lines = [password_line(self.controller_username, self.controller_password)]
        for device, key in sorted(self.devices.items()):
            lines.append(password_line(device, device_password(key)))
        return "".join(lines)


def accounts_of(setup: StationSetup, controller_password: str | None = None) -> StationAccounts:
    """The accounts of a validated setup (a new random controller password unless given)."""
    accounts = StationAccounts(setup.station, {d.id: d.key for d in setup.devices})
    if controller_password is not None:
        accounts.controller_password = controller_password
    return accounts


def device_broker_section(host: str, port: int, ca: StationCA) -> dict[str, object]:
    """The ``broker`` object of a device's ``config.json`` (user name and password are
    the device's id and the password it derives from its key)."""
    return {"host": host, "port": port, "ca": base64.b64encode(ca.cert_der()).decode()}


@dataclass(frozen=True)
class BrokerFiles:
    """Where a written configuration lies."""

    directory: Path

    def path(self, name: str) -> Path:
        """A file of the configuration by name (``ca.pem``, ``mosquitto.conf``, ...)."""
        return self.directory / name

    @property
    def conf(self) -> Path:
        """``mosquitto.conf``."""
        return self.directory / "mosquitto.conf"

    @property
    def ca_file(self) -> Path:
        """The station CA certificate."""
        return self.directory / "ca.pem"

    def conf_paths(self, persistence: bool, log_file: Path | None = None) -> ConfPaths:
        """The paths ``mosquitto.conf`` names."""
        d = self.directory.resolve()
        return ConfPaths(
            cafile=d / "ca.pem",
            certfile=d / "server.pem",
            keyfile=d / "server.key",
            password_file=d / "passwords",
            acl_file=d / "acl",
            persistence_dir=d / "data" if persistence else None,
            log_file=log_file,
        )


def broker_user() -> str:
    """The account the broker runs as: ``mosquitto`` when this runs as root and that
    account exists (Mosquitto drops root to it), else whoever runs this."""
    if os.geteuid() == 0:
        try:
            return pwd.getpwnam("mosquitto").pw_name
        except KeyError:
            pass
    return pwd.getpwuid(os.geteuid()).pw_name


def hand_to_broker(files: BrokerFiles, user: str) -> None:
    """Give the files the broker reads after dropping root to ``user`` (only root may)."""
    if os.geteuid() != 0:
        return
    entry = pwd.getpwnam(user)
    for name in ("server.key", "passwords", "acl", "data"):
        path = files.path(name)
        if path.exists():
            os.chown(path, entry.pw_uid, entry.pw_gid)


def load_or_create_ca(directory: Path, station: str) -> StationCA:
    """The CA kept in ``directory``, or a new one written there."""
    key_path, cert_path = directory / "ca.key", directory / "ca.pem"
    if key_path.exists() or cert_path.exists():
        try:
            return StationCA.from_pem(key_path.read_bytes(), cert_path.read_bytes())
        except OSError as err:
            raise BrokerConfigError(f"cannot read the CA in {directory}: {err}") from None
        except PkiError as err:
            raise BrokerConfigError(f"{directory}: {err}") from None
    ca = StationCA.create(station)
    write_private(key_path, ca.key_pem())
    write_public(cert_path, ca.cert_pem())
    return ca


def write_server_certificate(files: BrokerFiles, ca: StationCA, hosts: list[str]) -> None:
    """A new server key and certificate for ``hosts``."""
    try:
        key, cert = ca.server_certificate(hosts)
    except PkiError as err:
        raise BrokerConfigError(str(err)) from None
    write_private(files.path("server.key"), key_pem(key))
    write_public(files.path("server.pem"), cert_pem(cert))


def write_accounts(
    files: BrokerFiles, stations: list[StationAccounts], extra_acl: str = ""
) -> None:
    """The password file and the ACL of every station the broker serves.

    ``extra_acl`` is appended to the ACL as it is (the test rig's observer accounts).
    """
    seen: dict[str, str] = {}
    for accounts in stations:
        for name in [accounts.controller_username, *accounts.devices]:
            if name in seen:
                raise BrokerConfigError(
                    f"broker account {name!r} of station {accounts.station} "
                    f"is already an account of station {seen[name]}"
                )
            seen[name] = accounts.station
    # Patterns first: Mosquitto applies them to every user wherever they stand, and a
    # reader sees them apart from the per-user blocks.
    acl = "# Written by `shailoo broker config`; do not edit.\n"
    acl += "".join(
        f"# Devices of station {a.station} (user name = device id): their own topics only.\n"
        + device_patterns(a.station)
        for a in stations
    )
    acl += "".join(
        f"\n# The controller of station {a.station}.\n"
        + controller_rules(a.station, a.controller_username)
        for a in stations
    )
    write_private(files.path("passwords"), "".join(a.password_lines() for a in stations).encode())
    write_public(files.path("acl"), (acl + extra_acl).encode())


def write_broker_config(
    setup: StationSetup,
    out: Path,
    hosts: list[str] | tuple[str, ...] = DEFAULT_HOSTS,
    port: int = DEFAULT_PORT,
    bind: str | None = None,
    persistence: bool = True,
    user: str | None = None,
) -> BrokerFiles:
    """Write the broker configuration of ``setup``'s station into ``out``; return its files.

    ``user`` is the account the broker runs as (``broker_user()`` by default).
    """
    if not 0 < port < 65536:
        raise BrokerConfigError(f"port {port} is not a TCP port")
    out.mkdir(parents=True, exist_ok=True)
    files = BrokerFiles(out)
    ca = load_or_create_ca(out, setup.station)
    write_server_certificate(files, ca, list(hosts))
    login_path = files.path("controller.json")
    password = None
    if login_path.exists():
        try:
            password = read_login(login_path).password
        except LoginError as err:
            raise BrokerConfigError(str(err)) from None
    accounts = accounts_of(setup, password)
    write_accounts(files, [accounts])
    BrokerLogin(accounts.controller_username, accounts.controller_password, files.ca_file).write(
        login_path
    )
    if persistence:
        (out / "data").mkdir(exist_ok=True)
    user = user or broker_user()
    try:
        hand_to_broker(files, user)
    except KeyError:
        raise BrokerConfigError(f"there is no account {user!r} for the broker to run as") from None
    conf = mosquitto_conf(files.conf_paths(persistence), port, bind, user)
    write_public(files.conf, conf.encode())
    section = device_broker_section(list(hosts)[0], port, ca)
    write_public(files.path("device-broker.json"), (json.dumps(section, indent=1) + "\n").encode())
    return files
