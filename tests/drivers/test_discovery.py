"""``shailoo devices list``: roles by USB id, access to device nodes, the shipped udev rules.

Serial ports are real: a pseudo-terminal (pyserial does not list ptys, so its
``ListPortInfo`` is built for the pty's path, as pyserial builds it for a real port)
and whatever ``comports()`` finds on this machine. USB devices cannot exist on a test
machine: the role table is checked with stand-in objects that carry the attributes
pyusb's ``Device`` has (ids, bus, address, string properties, configurations of
interfaces), and the USB listing itself runs against the real libusb, which finds
no device here or whatever is plugged in.

Permissions are checked on real files. Root may open anything, so when the tests run
as root a forked child drops to the ``nobody`` user and group before deciding: the
kernel then denies it for real.
"""

from __future__ import annotations

import grp
import json
import os
import re
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from serial.tools import list_ports
from serial.tools.list_ports_linux import SysFS

from drivers import discovery
from hil.pty import PtyPair

NOBODY = 65534
JSON_KEYS = {
    "kind",
    "path",
    "vid",
    "pid",
    "manufacturer",
    "product",
    "serial_number",
    "role",
    "label",
    "access",
    "hint",
}


class StandInInterface:
    def __init__(self, cls: int) -> None:
        self.bInterfaceClass = cls


class StandInUsb:
    """The attributes of a pyusb ``Device`` that discovery reads."""

    def __init__(
        self,
        vid: int,
        pid: int,
        interfaces: tuple[int, ...] = (0xFF,),
        strings: dict[str, str] | None = None,
        device_class: int = 0,
    ) -> None:
        self.idVendor, self.idProduct = vid, pid
        self.bDeviceClass = device_class
        # Bus 250 has no sysfs folder, so the strings come from the device itself.
        self.bus, self.address, self.port_numbers = 250, 7, (3,)
        self._strings = strings
        self._configs = [[StandInInterface(c) for c in interfaces]]

    def __iter__(self) -> Any:
        return iter(self._configs)

    def _string(self, key: str) -> str | None:
        if self._strings is None:
            # What pyusb raises when the device node may not be opened.
            raise ValueError("The device has no langid (permission issue, no string descriptors)")
        return self._strings.get(key)

    manufacturer = property(lambda self: self._string("manufacturer"))
    product = property(lambda self: self._string("product"))
    serial_number = property(lambda self: self._string("serial"))


@pytest.mark.parametrize(("vid", "pid", "role", "label"), discovery.KNOWN)
def test_every_known_id_gets_its_role(vid: int, pid: int, role: str, label: str) -> None:
    found = discovery.describe_usb(StandInUsb(vid, pid))
    assert (found.role, found.vid, found.pid) == (role, "%04x" % vid, "%04x" % pid)
    assert label in found.label
    if role == discovery.UART_BRIDGE:
        assert found.label.startswith("board or fingerprint sensor (UART bridge)")


@pytest.mark.parametrize(
    ("device", "role", "words"),
    [
        (StandInUsb(0x1234, 0x0001, interfaces=(0x07,)), "printer", "printer class"),
        (StandInUsb(0x04B8, 0x0E28, interfaces=(0x07,)), "printer", "Epson printer"),
        (StandInUsb(0x0519, 0x0003), "printer", "Star Micronics"),
        (StandInUsb(0x303A, 0x4001, strings={"manufacturer": "MicroPython"}), "board", "MicroPy"),
        (StandInUsb(0x046D, 0xC077, interfaces=(0x03,)), "unknown", "unknown"),
        (StandInUsb(0x0416, 0x5011, strings=None), "printer", "POS-58"),
    ],
)
def test_roles_by_interface_class_vendor_and_strings(device: Any, role: str, words: str) -> None:
    found = discovery.describe_usb(device)
    assert found.role == role
    assert words in found.label


def test_usb_strings_and_node_without_permission() -> None:
    readable = discovery.describe_usb(
        StandInUsb(0x10C4, 0xEA60, strings={"manufacturer": "Silicon Labs", "serial": "0001"})
    )
    assert (readable.manufacturer, readable.serial_number) == ("Silicon Labs", "0001")
    closed = discovery.describe_usb(StandInUsb(0x10C4, 0xEA60, strings=None))
    assert closed.manufacturer is None and closed.role == discovery.UART_BRIDGE
    assert closed.path == "/dev/bus/usb/250/007"
    assert closed.access == discovery.ACCESS_UNKNOWN and closed.hint is None  # no such node


def test_a_pty_described_like_a_serial_port() -> None:
    with PtyPair("discovery") as pair:
        bare = discovery.describe_port(SysFS(pair.device_path))
        assert (bare.kind, bare.path, bare.vid, bare.role) == (
            "serial",
            pair.device_path,
            None,
            discovery.UNKNOWN,
        )
        assert bare.access == discovery.ACCESS_OK  # our own pty
        # The same port as the cp210x driver reports a bridge: pyserial fills these in.
        bridge = SysFS(pair.device_path)
        bridge.vid, bridge.pid = 0x10C4, 0xEA60
        bridge.manufacturer, bridge.product, bridge.serial_number = "Silicon Labs", "CP2102", "01"
        found = discovery.describe_port(bridge)
        assert found.role == discovery.UART_BRIDGE and "CP210x" in found.label
        assert set(found.to_json()) == JSON_KEYS
        rule = discovery.udev_rule(found)
        assert 'ATTRS{idVendor}=="10c4", ATTRS{idProduct}=="ea60"' in rule
        assert 'GROUP="dialout"' in rule and 'TAG+="uaccess"' in rule


def test_the_machines_own_ports_are_described() -> None:
    ports = sorted(list_ports.comports(), key=lambda p: p.device)
    found = discovery.list_serial()
    assert [f.path for f in found] == [p.device for p in ports]
    for item in found:
        assert item.access in ("ok", "denied", "unknown")
        assert (item.hint is not None) == (item.access == "denied")
        json.dumps(item.to_json())


# pyusb keeps a loaded libusb for the life of the process, so the machine without one
# is a fresh interpreter whose library lookups find nothing.
NO_LIBUSB = """
import json, sys
from drivers import discovery, discovery_cli
real = discovery.discover
discovery.discover = lambda: real(find_library=lambda name: None)
if sys.argv[1] == "api":
    try:
        discovery.list_usb(find_library=lambda name: None)
    except discovery.UsbUnavailable as err:
        raised = str(err)
    listing = discovery.discover()
    print(json.dumps({"raised": raised, "error": listing.usb_error,
                      "paths": [f.path for f in listing.devices]}))
else:
    discovery_cli.devices(["list", "--json"])
"""


def without_libusb(mode: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", NO_LIBUSB, mode],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=Path(__file__).resolve().parents[2],
    )


def test_no_libusb_still_lists_serial_ports() -> None:
    done = without_libusb("api")
    assert done.returncode == 0, done.stderr
    got = json.loads(done.stdout)
    assert "libusb" in got["raised"] and got["error"] == got["raised"]
    assert got["paths"] == [f.path for f in discovery.list_serial()]


def test_cli_without_libusb_says_so_and_lists_serial_ports() -> None:
    done = without_libusb("cli")
    assert done.returncode == 0, done.stderr
    assert "USB listing unavailable: no libusb library for pyusb" in done.stderr
    items = json.loads(done.stdout)
    assert [i["path"] for i in items] == [f.path for f in discovery.list_serial()]
    assert all(i["kind"] == "serial" for i in items)


def test_real_usb_listing_runs() -> None:
    try:
        found_all = discovery.list_usb()
    except discovery.UsbUnavailable as err:
        pytest.skip(f"this machine has no libusb: {err}")
    for found in found_all:
        assert found.kind == "usb" and re.fullmatch(r"[0-9a-f]{4}", found.vid or "")
        assert found.path and found.path.startswith("/dev/bus/usb/")


def test_cli_json_has_the_documented_keys() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "shailoo.cli", "devices", "list", "--json"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    items = json.loads(done.stdout)
    assert isinstance(items, list)
    assert [i["path"] for i in items if i["kind"] == "serial"] == [
        f.path for f in discovery.list_serial()
    ]
    for item in items:
        assert set(item) == JSON_KEYS
        assert item["kind"] in ("serial", "usb") and item["access"] in ("ok", "denied", "unknown")


# -- permissions ---------------------------------------------------------------------------


@pytest.fixture
def open_dir() -> Iterator[Path]:
    """A folder every user may enter (pytest's own temporary folders are the owner's only)."""
    path = Path(tempfile.mkdtemp(prefix="shailoo-discovery-", dir="/tmp"))
    path.chmod(0o755)
    yield path
    for inner in sorted(path.rglob("*"), reverse=True):
        if inner.is_dir():
            inner.chmod(0o700)
    shutil.rmtree(path)


def as_nobody(job: Callable[[], Any], timeout: float = 20.0) -> Any:
    """``job()`` run in a forked child with the user and group ``nobody``; its JSON result.

    Everything ``job`` needs must already be imported: ``nobody`` may not read the
    interpreter's own library folder.
    """
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: no pytest machinery from here on, only os._exit
        code = 1
        try:
            os.close(read_end)
            os.setgroups([])
            os.setgid(NOBODY)
            os.setuid(NOBODY)
            os.write(write_end, json.dumps(job()).encode())
            code = 0
        except BaseException as err:  # noqa: BLE001 - reported to the parent as text
            os.write(write_end, json.dumps({"child error": repr(err)}).encode())
        finally:
            os._exit(code)
    os.close(write_end)
    data = b""
    deadline = time.monotonic() + timeout
    try:
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError("the child running as nobody did not finish")
            ready, _, _ = select.select([read_end], [], [], left)
            if not ready:
                continue
            chunk = os.read(read_end, 65536)
            if not chunk:
                break
            data += chunk
    finally:
        os.close(read_end)
        if os.waitpid(pid, os.WNOHANG) == (0, 0):
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
    return json.loads(data)


def test_access_on_files_whose_mode_denies(open_dir: Path) -> None:
    tmp_path = open_dir
    closed = tmp_path / "closed"
    closed.write_bytes(b"")
    closed.chmod(0o600)
    shared = tmp_path / "shared"
    shared.write_bytes(b"")
    shared.chmod(0o666)
    locked_dir = tmp_path / "locked"
    locked_dir.mkdir()
    inside = locked_dir / "node"
    inside.write_bytes(b"")
    inside.chmod(0o666)
    locked_dir.chmod(0o700)
    paths = [str(closed), str(shared), str(inside), str(tmp_path / "missing")]
    if os.geteuid() == 0:
        answers = as_nobody(lambda: [discovery.access_of(p) for p in paths])
    else:
        closed.chmod(0o000)
        locked_dir.chmod(0o000)
        try:
            answers = [discovery.access_of(p) for p in paths]
        finally:
            locked_dir.chmod(0o700)
    assert answers == ["denied", "ok", "denied", "unknown"], answers


def denied_port(node: Path, vid: int | None, pid: int | None) -> dict[str, Any]:
    """``describe_port`` of ``node`` as a user who may not open it (``nobody`` under root)."""
    port = SysFS(str(node))
    port.vid, port.pid = vid, pid

    def describe() -> dict[str, Any]:
        return discovery.describe_port(port).to_json()

    if os.geteuid() == 0:
        return as_nobody(describe)
    node.chmod(node.stat().st_mode & 0o7707)  # the group's bits too: we may be in it
    return describe()


def test_denied_device_gets_the_rule_and_the_rules_file(open_dir: Path) -> None:
    node = open_dir / "ttyUSB9"
    node.write_bytes(b"")
    node.chmod(0o600)
    found = denied_port(node, 0x1A86, 0x7523)
    assert found["access"] == "denied" and found["role"] == "uart-bridge"
    hint = found["hint"]
    assert f"may not open {node}" in hint
    assert f"Install Shailoo's udev rules ({discovery.RULES_FILE})" in hint
    assert "sudo udevadm control --reload && sudo udevadm trigger" in hint
    assert (
        'SUBSYSTEM=="tty", ATTRS{idVendor}=="1a86", ATTRS{idProduct}=="7523", '
        'MODE="0660", GROUP="dialout", TAG+="uaccess"'
    ) in hint


def test_group_advice_names_the_nodes_own_group(open_dir: Path) -> None:
    node = open_dir / "ttyACM7"
    node.write_bytes(b"")
    if os.geteuid() == 0:
        try:
            os.chown(node, -1, grp.getgrnam("dialout").gr_gid)
        except KeyError:
            pytest.skip("this machine has no dialout group")
    node.chmod(0o660)
    group = grp.getgrgid(node.stat().st_gid).gr_name
    found = denied_port(node, 0x2E8A, 0x0005)
    assert found["role"] == "board" and found["access"] == "denied"
    if group == "root":
        assert "usermod" not in found["hint"]
    else:
        assert f"add yourself to group {group} (sudo usermod -aG {group} " in found["hint"]


def test_devices_the_rules_do_not_name_get_a_rule_of_their_own(open_dir: Path) -> None:
    node = open_dir / "ttyS7"
    node.write_bytes(b"")
    node.chmod(0o600)
    found = denied_port(node, None, None)
    assert f"Shailoo's udev rules ({discovery.RULES_FILE}) do not name this device" in found["hint"]
    assert 'SUBSYSTEM=="tty", KERNEL=="ttyS7", MODE="0660"' in found["hint"]
    unknown = discovery.describe_usb(StandInUsb(0x046D, 0xC077))
    assert not discovery.rules_cover(unknown)
    assert discovery.rules_cover(discovery.describe_usb(StandInUsb(0x04B8, 0x0E28)))
    assert not discovery.rules_cover(discovery.describe_usb(StandInUsb(0x10C4, 0xEA60)))


def test_cli_prints_the_fix_for_ports_this_user_may_not_open() -> None:
    """Runs the command as ``nobody`` on the machine's real ports (skipped if it has none
    that ``nobody`` is denied)."""
    if os.geteuid() != 0:
        pytest.skip("needs root to become nobody")
    from click.testing import CliRunner

    from drivers.discovery_cli import devices

    discovery.discover()  # load pyusb's backend and every module before dropping privileges

    def run() -> dict[str, Any]:
        listing = discovery.discover()
        result = CliRunner().invoke(devices, ["list"])
        return {
            "denied": [f.path for f in listing.devices if f.access == "denied"],
            "output": result.output,
            "code": result.exit_code,
        }

    got = as_nobody(run)
    if not got["denied"]:
        pytest.skip("no serial port or USB device here that nobody is denied")
    assert got["code"] == 0
    for path in got["denied"]:
        assert f"{path}: user nobody may not open {path}" in got["output"]
    assert discovery.RULES_NAME in got["output"]


# -- the shipped rules file ------------------------------------------------------------------

RULE_PART = re.compile(
    r'^(?P<key>[A-Z_]+(?:\{[A-Za-z_]+\})?)(?P<op>==|!=|\+=|:=|=)"(?P<value>[^"]*)"$'
)
MATCH_KEYS = {"ACTION", "SUBSYSTEM", "KERNEL", "ATTR", "ATTRS", "ENV", "DEVTYPE"}
ASSIGN_KEYS = {"MODE", "GROUP", "TAG", "SYMLINK", "GOTO", "LABEL"}


def rules() -> list[list[tuple[str, str, str]]]:
    parsed = []
    for number, line in enumerate(discovery.RULES_FILE.read_text().splitlines(), 1):
        if not line.strip() or line.startswith("#"):
            continue
        parts = []
        for part in line.split(", "):
            m = RULE_PART.match(part)
            assert m, f"line {number}: cannot parse {part!r}"
            key = m["key"].split("{")[0]
            assert key in MATCH_KEYS | ASSIGN_KEYS, f"line {number}: unknown key {key}"
            parts.append((m["key"], m["op"], m["value"]))
        parsed.append(parts)
    return parsed


def test_rules_file_says_how_to_install_it() -> None:
    head = discovery.RULES_FILE.read_text().split("\n\n")[0]
    assert "sudo cp drivers/udev/60-shailoo.rules /etc/udev/rules.d/" in head
    assert "sudo udevadm control --reload && sudo udevadm trigger" in head


def test_rules_cover_every_known_id_with_group_and_uaccess() -> None:
    parsed = rules()
    labels = {v for rule in parsed for k, op, v in rule if k == "LABEL"}
    gotos = {v for rule in parsed for k, op, v in rule if k == "GOTO"}
    assert gotos and gotos <= labels
    device_rules = [dict((k, v) for k, op, v in r) for r in parsed if len(r) > 1]
    for rule in device_rules:
        if "GOTO" in rule:
            continue
        assert rule.get("TAG") == "uaccess", rule
    for vid, pid, role, _ in discovery.KNOWN:
        v, p = "%04x" % vid, "%04x" % pid
        hits = [
            r
            for r in device_rules
            if v in (r.get("ATTRS{idVendor}"), r.get("ATTR{idVendor}"))
            and r.get("ATTRS{idProduct}", r.get("ATTR{idProduct}")) in (p, None)
        ]
        assert hits, f"{v}:{p} has no rule"
        for rule in hits:
            assert rule.get("GROUP") in ("dialout", "plugdev", "lp")
            if rule.get("SUBSYSTEM") == "tty":
                prefix = {"uart-bridge": "uart", "board": "board", "printer": "printer"}[role]
                assert rule["SYMLINK"] == f"shailoo-{prefix}-%k"
