"""What an MQTT client needs to log in to the station's broker, and how paho uses it.

A login file is JSON, mode 0600::

    {"username": "ctl.s-0417", "password": "...", "ca": "ca.pem"}

``ca`` is the station CA's certificate, relative to the login file. A login without
``ca`` connects in clear: only the demo's in-process broker on a machine without
Mosquitto is reached that way.
"""

from __future__ import annotations

import json
import ssl
from dataclasses import dataclass
from pathlib import Path

import paho.mqtt.client as mqtt

from controller.broker.secrets import write_private

MAX_LOGIN_FILE = 4096


class LoginError(ValueError):
    """A login file that is missing, unreadable or malformed; the message says which."""


@dataclass(frozen=True)
class BrokerLogin:
    """User name, password and the CA file that vouches for the broker (None: no TLS)."""

    username: str
    password: str
    ca_file: Path | None

    def configure(self, client: mqtt.Client) -> None:
        """Give a paho client the credentials and, with a CA, TLS that checks the broker.

        A login without a password is the training broker's, which takes anyone and
        is given no credentials.
        """
        if self.password:
            client.username_pw_set(self.username, self.password)
        if self.ca_file is not None:
            # CERT_REQUIRED and host-name checking: a machine on the station's network
            # that answers on the broker's address cannot pose as the broker.
            client.tls_set(
                ca_certs=str(self.ca_file),
                cert_reqs=ssl.CERT_REQUIRED,
                tls_version=ssl.PROTOCOL_TLS_CLIENT,
            )

    def write(self, path: Path) -> None:
        """Write the login file (0600); ``ca`` is stored relative to its folder when inside it."""
        data: dict[str, str] = {"username": self.username, "password": self.password}
        if self.ca_file is not None:
            ca = Path(self.ca_file).resolve()
            try:
                data["ca"] = str(ca.relative_to(path.resolve().parent))
            except ValueError:
                data["ca"] = str(ca)
        write_private(path, (json.dumps(data, indent=1) + "\n").encode())


def read_login(path: str | Path) -> BrokerLogin:
    """Read and check a login file; raise ``LoginError`` saying what is wrong."""
    path = Path(path)
    try:
        raw = path.read_bytes()[: MAX_LOGIN_FILE + 1]
    except OSError as err:
        raise LoginError(f"cannot read broker login {path}: {err.strerror}") from None
    if len(raw) > MAX_LOGIN_FILE:
        raise LoginError(f"{path}: a broker login is under {MAX_LOGIN_FILE} bytes")
    try:
        data = json.loads(raw)
    except (ValueError, UnicodeError):
        raise LoginError(f"{path}: not valid JSON") from None
    if not isinstance(data, dict) or set(data) - {"username", "password", "ca"}:
        raise LoginError(f"{path}: expected an object with username, password and ca")
    for name in ("username", "password"):
        if not isinstance(data.get(name), str) or not data[name]:
            raise LoginError(f"{path}: {name} must be a non-empty string")
    ca = data.get("ca")
    ca_file = None
    if ca is not None:
        if not isinstance(ca, str) or not ca:
            raise LoginError(f"{path}: ca must be the path of the station CA certificate")
        ca_file = (path.resolve().parent / ca).resolve()
        if not ca_file.is_file():
            raise LoginError(f"{path}: CA certificate {ca_file} does not exist")
    return BrokerLogin(data["username"], data["password"], ca_file)
