"""``shailoo broker config``: the files it writes, their modes, and a real Mosquitto taking them."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import tempfile
import threading
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from click.testing import CliRunner
from cryptography import x509

from controller.broker.login import BrokerLogin, LoginError, read_login
from controller.broker.passwd import hash_password, verify
from hil.broker import _wait_listening, free_port, mosquitto_path
from protocol.broker_login import device_password
from shailoo.cli import main
from tests.controller.helpers import DeviceKey, make_voters, write_station

DEVICES = [DeviceKey("term-1", "idterminal"), DeviceKey("scan-1", "scanner")]


def station_file(tmp_path: Path, devices: list[DeviceKey] = DEVICES) -> Path:
    return write_station(tmp_path / "st", "s-0417", devices, make_voters(2), "test", "open", None)


def generate(tmp_path: Path, *extra: str, setup: Path | None = None) -> tuple[int, str, Path]:
    out = tmp_path / "broker"
    args = ["broker", "config", "--setup", str(setup or station_file(tmp_path)), "--out", str(out)]
    result = CliRunner().invoke(main, args + list(extra))
    return result.exit_code, result.output, out


def connect(port: int, login: BrokerLogin, host: str = "127.0.0.1") -> str:
    """CONNECT over TLS; the broker's answer as paho names it."""
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="probe")
    login.configure(client)
    answered = threading.Event()
    answer: list[str] = []

    def on_connect(c, userdata, flags, reason_code, properties) -> None:  # noqa: ANN001
        answer.append(str(reason_code))
        answered.set()

    client.on_connect = on_connect
    try:
        client.connect(host, port, 10)
    except OSError as err:  # a TLS handshake the client refused
        return f"refused: {err}"
    client.loop_start()
    answered.wait(10)
    client.loop_stop()
    client.disconnect()
    return answer[0] if answer else "no answer"


def test_writes_every_file_with_private_keys_and_passwords_0600(tmp_path: Path) -> None:
    code, output, out = generate(tmp_path, "--host", "broker.station.lan", "--host", "10.0.0.5")
    assert code == 0, output
    for name in ("ca.key", "server.key", "passwords", "controller.json"):
        assert stat.S_IMODE(os.stat(out / name).st_mode) == 0o600, name
    conf = (out / "mosquitto.conf").read_text()
    assert "allow_anonymous false" in conf
    assert "1883" not in conf
    # A listener option before the first listener would open a plain default listener.
    assert conf.index("listener 8883") < conf.index("use_username_as_clientid true")
    cert = x509.load_pem_x509_certificate((out / "server.pem").read_bytes())
    sans = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert sans.get_values_for_type(x509.DNSName) == ["broker.station.lan"]
    assert [str(ip) for ip in sans.get_values_for_type(x509.IPAddress)] == ["10.0.0.5"]
    acl = (out / "acl").read_text()
    assert "pattern write shailoo/v1/s-0417/dev/%u/up\n" in acl
    assert "pattern read shailoo/v1/s-0417/ctl/%u\n" in acl
    assert "topic write shailoo/v1/s-0417/ctl/+\n" in acl
    section = json.loads((out / "device-broker.json").read_text())
    assert section["host"] == "broker.station.lan" and section["port"] == 8883
    login = read_login(out / "controller.json")
    assert login.username == "ctl.s-0417" and login.ca_file == (out / "ca.pem").resolve()


def test_password_hashes_match_mosquitto_passwd(tmp_path: Path) -> None:
    ours = hash_password("secret")
    assert verify(f"alice:{ours}", "alice", "secret")
    assert not verify(f"alice:{ours}", "alice", "Secret")
    theirs = tmp_path / "pw"
    theirs.touch()
    subprocess.run(["mosquitto_passwd", "-b", str(theirs), "alice", "secret"], check=True)
    assert verify(theirs.read_text(), "alice", "secret")
    assert not verify(theirs.read_text(), "alice", "secret2")
    assert not verify("alice:$6$broken", "alice", "secret")


def test_again_keeps_the_ca_and_the_controller_password(tmp_path: Path) -> None:
    assert generate(tmp_path)[0] == 0
    out = tmp_path / "broker"
    ca, login = (out / "ca.pem").read_bytes(), read_login(out / "controller.json")
    server = (out / "server.pem").read_bytes()
    assert generate(tmp_path)[0] == 0
    assert (out / "ca.pem").read_bytes() == ca
    assert read_login(out / "controller.json") == login
    assert (out / "server.pem").read_bytes() != server


def test_a_real_mosquitto_takes_the_generated_configuration() -> None:
    # Not pytest's tmp_path: its folders are 0700, and Mosquitto started as root reads
    # its files as the account it drops to.
    with tempfile.TemporaryDirectory() as tmp:
        os.chmod(tmp, 0o755)
        run_generated_broker(Path(tmp))


def run_generated_broker(tmp_path: Path) -> None:
    port = free_port()
    code, output, out = generate(tmp_path, "--port", str(port), "--bind", "127.0.0.1")
    assert code == 0, output
    # Test only: a per-test log file, so the broker's complaints show in a failure.
    log = open(tmp_path / "mosquitto.log", "wb")  # noqa: SIM115 - closed below
    binary = mosquitto_path()
    assert binary, "Mosquitto is not installed: `make deps` installs it"
    broker = subprocess.Popen([binary, "-c", str(out / "mosquitto.conf")],
                              stdout=log, stderr=subprocess.STDOUT)
    try:
        _wait_listening("127.0.0.1", port, 10)
        controller = read_login(out / "controller.json")
        assert connect(port, controller) == "Success"
        assert connect(port, controller, "localhost") == "Success"
        for dev in DEVICES:
            own = BrokerLogin(dev.id, device_password(dev.key), controller.ca_file)
            assert connect(port, own) == "Success"
            wrong = BrokerLogin(dev.id, device_password(bytes(32)), controller.ca_file)
            assert connect(port, wrong) == "Not authorized"
        assert connect(port, BrokerLogin("ctl.s-0417", "guess", controller.ca_file)) == (
            "Not authorized")
        # A CA the broker's certificate does not come from: the client refuses the broker.
        other = tmp_path / "other"
        assert generate(other, setup=station_file(other))[0] == 0
        foreign = BrokerLogin(controller.username, controller.password, other / "broker/ca.pem")
        assert connect(port, foreign).startswith("refused")
    finally:
        broker.terminate()
        broker.wait(5)
        log.close()
    logged = (tmp_path / "mosquitto.log").read_bytes()
    assert b": Error:" not in logged  # the configuration itself raised no complaint
    assert b"alert unknown ca" in logged  # the client with the foreign CA hung up


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda s: s["devices"][0].update(role="printer"), "role must be one of"),
        (lambda s: s["devices"][0].update(key="abc"), "key must be 32 bytes"),
        (lambda s: s["devices"][0].update(key="zz" * 32), "key must be 32 bytes"),
        (lambda s: s["devices"][1].update(id="term-1"), "appears twice"),
        (lambda s: s["devices"][0].update(id="ctl.s-0417"), "must match"),
        (lambda s: s.update(station="S 1"), "station"),
    ],
)
def test_malformed_setups_give_a_clear_error(tmp_path: Path, change, message: str) -> None:
    setup = station_file(tmp_path)
    data = json.loads(setup.read_text())
    change(data)
    setup.write_text(json.dumps(data))
    code, output, out = generate(tmp_path, setup=setup)
    assert code == 1 and message in output, output
    assert not (out / "passwords").exists()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--host", "not a host!"], "neither an IP address nor a host name"),
        (["--port", "0"], "not a TCP port"),
        (["--port", "70000"], "not a TCP port"),
    ],
)
def test_bad_options_give_a_clear_error(tmp_path: Path, args: list[str], message: str) -> None:
    code, output, _ = generate(tmp_path, *args)
    assert code == 1 and message in output, output


def test_broken_kept_files_are_reported_not_replaced(tmp_path: Path) -> None:
    assert generate(tmp_path)[0] == 0
    out = tmp_path / "broker"
    (out / "ca.key").write_text("-----BEGIN PRIVATE KEY-----\nbroken\n")
    code, output, _ = generate(tmp_path)
    assert code == 1 and "unreadable CA key" in output, output
    assert (out / "ca.key").read_text().endswith("broken\n")
    (out / "ca.key").unlink()
    (out / "ca.pem").unlink()
    assert generate(tmp_path)[0] == 0
    (out / "controller.json").write_text("{" * 5000)
    code, output, _ = generate(tmp_path)
    assert code == 1 and "controller.json" in output, output


@pytest.mark.parametrize(
    "text",
    ["", "[]", '{"username": "a"}', '{"username": "a", "password": 5}',
     '{"username": "a", "password": "b", "ca": "missing.pem"}',
     '{"username": "a", "password": "b", "extra": 1}', "x" * 5000],
)
def test_broken_login_files_are_refused(tmp_path: Path, text: str) -> None:
    path = tmp_path / "login.json"
    path.write_text(text)
    with pytest.raises(LoginError):
        read_login(path)
