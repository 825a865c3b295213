"""What is plugged in: serial ports and USB devices, the role Shailoo gives each, access.

Host only (CPython). Serial ports come from pyserial's port list, USB devices from
pyusb. Each becomes a ``Found`` with the role Shailoo recognises by USB vendor and
product id, USB strings and interface class:

* ``board``: a board that speaks USB itself (MicroPython's own ids, a Raspberry Pi
  RP2 running MicroPython or in its UF2 bootloader, Espressif's USB-serial/JTAG);
* ``uart-bridge``: a USB-UART bridge (CP210x, CH340, CH9102, FTDI). Behind one sits
  either a board or a fingerprint sensor: ZhianTec/Grow modules (R30x, R50x) speak
  UART and reach a host only through such a bridge. No USB id of their USB variants
  could be confirmed, so none is listed and no device is called a fingerprint sensor
  by its id alone;
* ``printer``: a USB printer-class interface (0x07), a known receipt printer, or a
  device of a receipt-printer maker;
* ``unknown``: anything else.

``access`` tells whether the current user may open the device node (``ok``,
``denied``, or ``unknown`` when there is no node to look at). A denied device gets
a ``hint`` with the udev rule that fixes it and where the shipped rules file is.

Nothing here opens a serial port: opening one raises DTR and RTS, which resets many
ESP32 boards. Access is decided from the node's permissions alone.
"""

from __future__ import annotations

import grp
import os
import pwd
import re
import stat
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

BOARD = "board"
UART_BRIDGE = "uart-bridge"
PRINTER = "printer"
UNKNOWN = "unknown"

ACCESS_OK = "ok"
ACCESS_DENIED = "denied"
ACCESS_UNKNOWN = "unknown"

USB_CLASS_PRINTER = 0x07
USB_CLASS_HUB = 0x09

RULES_NAME = "60-shailoo.rules"
RULES_FILE = Path(__file__).resolve().parent / "udev" / RULES_NAME
INSTALL = (
    f"sudo cp {RULES_FILE} /etc/udev/rules.d/ && sudo udevadm control --reload "
    "&& sudo udevadm trigger"
)
SERIAL_GROUP = "dialout"
USB_GROUP = "plugdev"

# (vid, pid, role, label). Ids confirmed from the vendors' drivers and tools: the Linux
# usb-serial tables (cp210x, ch341, ftdi_sio), MicroPython's board configurations,
# esptool, usb.ids and python-escpos's documentation.
KNOWN: tuple[tuple[int, int, str, str], ...] = (
    (0x10C4, 0xEA60, UART_BRIDGE, "Silicon Labs CP210x"),
    (0x1A86, 0x7523, UART_BRIDGE, "WCH CH340"),
    (0x1A86, 0x55D4, UART_BRIDGE, "WCH CH9102"),
    (0x0403, 0x6001, UART_BRIDGE, "FTDI FT232R"),
    (0x0403, 0x6010, UART_BRIDGE, "FTDI FT2232"),
    (0x0403, 0x6014, UART_BRIDGE, "FTDI FT232H"),
    (0x0403, 0x6015, UART_BRIDGE, "FTDI FT-X"),
    (0x303A, 0x1001, BOARD, "Espressif USB-serial/JTAG (ESP32-S3/C3 native USB)"),
    (0x2E8A, 0x0005, BOARD, "Raspberry Pi RP2 board running MicroPython"),
    (0x2E8A, 0x0003, BOARD, "Raspberry Pi RP2 in its UF2 bootloader (BOOTSEL)"),
    (0xF055, 0x9800, BOARD, "MicroPython board (serial + storage)"),
    (0xF055, 0x9801, BOARD, "MicroPython board (serial + HID)"),
    (0xF055, 0x9802, BOARD, "MicroPython board (serial)"),
    (0x04B8, 0x0202, PRINTER, "Epson TM receipt printer"),
    (0x04B8, 0x0E03, PRINTER, "Epson TM-T20 receipt printer"),
    (0x04B8, 0x0E15, PRINTER, "Epson TM-T20II receipt printer"),
    (0x1504, 0x0006, PRINTER, "Bixolon SRP-350plus receipt printer"),
    (0x0416, 0x5011, PRINTER, "POS-58 receipt printer (Winbond virtual COM port)"),
)

# Vendors that make receipt printers and little else a polling station would plug in.
PRINTER_VENDORS = {
    0x04B8: "Epson",
    0x0519: "Star Micronics",
    0x1504: "Bixolon",
    0x0DD4: "Custom Engineering",
}

LABELS = {
    BOARD: "board",
    UART_BRIDGE: "board or fingerprint sensor (UART bridge)",
    PRINTER: "thermal printer",
    UNKNOWN: "unknown device",
}


@dataclass(frozen=True)
class Found:
    """One attached device as ``shailoo devices list`` shows it."""

    kind: str  # "serial" or "usb"
    path: str | None
    vid: str | None  # four lower-case hex digits, as udev and lsusb write them
    pid: str | None
    manufacturer: str | None
    product: str | None
    serial_number: str | None
    role: str
    label: str
    access: str
    hint: str | None

    def to_json(self) -> dict[str, Any]:
        """The JSON object of ``--json``."""
        return asdict(self)


@dataclass(frozen=True)
class Listing:
    """Everything found, and why USB could not be listed (``usb_error``) if so."""

    devices: tuple[Found, ...]
    usb_error: str | None


def _hex(value: int | None) -> str | None:
    return None if value is None else "%04x" % value


def classify(
    vid: int | None,
    pid: int | None,
    manufacturer: str | None = None,
    product: str | None = None,
    interface_classes: Iterable[int] = (),
) -> tuple[str, str]:
    """``(role, label)`` for a device with these ids, strings and interface classes."""
    for known_vid, known_pid, role, name in KNOWN:
        if vid == known_vid and pid == known_pid:
            if role == UART_BRIDGE:
                return role, f"{LABELS[UART_BRIDGE]}: {name}"
            return role, name
    if USB_CLASS_PRINTER in set(interface_classes):
        maker = PRINTER_VENDORS.get(vid or -1)
        return PRINTER, f"{maker} printer" if maker else "USB printer (printer class)"
    if vid in PRINTER_VENDORS:
        return PRINTER, f"{PRINTER_VENDORS[vid]} device (a receipt-printer maker)"
    if manufacturer and manufacturer.strip().lower() == "micropython":
        return BOARD, f"MicroPython board ({product or 'USB'})"
    if vid is None:
        return UNKNOWN, "serial port without USB ids (on-board UART, RS-232 or virtual)"
    return UNKNOWN, LABELS[UNKNOWN]


# -- access ------------------------------------------------------------------------------------


def access_of(path: str | None) -> str:
    """``ok`` when this process may read and write ``path``, ``denied`` when not,
    ``unknown`` when there is no such node."""
    if not path:
        return ACCESS_UNKNOWN
    try:
        os.stat(path)
    except PermissionError:
        return ACCESS_DENIED  # a directory on the way is closed to us
    except OSError:
        return ACCESS_UNKNOWN
    effective = os.access in os.supports_effective_ids
    if os.access(path, os.R_OK | os.W_OK, effective_ids=effective):
        return ACCESS_OK
    return ACCESS_DENIED


def udev_rule(found: Found) -> str:
    """The udev rule that gives the local user and ``dialout``/``plugdev`` this device."""
    if found.kind == "usb":
        match = 'SUBSYSTEM=="usb", ENV{DEVTYPE}=="usb_device", '
        match += f'ATTR{{idVendor}}=="{found.vid}", ATTR{{idProduct}}=="{found.pid}"'
        group = USB_GROUP
    elif found.vid is not None:
        match = 'SUBSYSTEM=="tty", '
        match += f'ATTRS{{idVendor}}=="{found.vid}", ATTRS{{idProduct}}=="{found.pid}"'
        group = SERIAL_GROUP
    else:
        match = f'SUBSYSTEM=="tty", KERNEL=="{Path(found.path or "tty").name}"'
        group = SERIAL_GROUP
    return f'{match}, MODE="0660", GROUP="{group}", TAG+="uaccess"'


def rules_cover(found: Found, rules_file: Path = RULES_FILE) -> bool:
    """True when a rule of the shipped rules file names this device's ids."""
    if found.vid is None:
        return False
    subsystem = "tty" if found.kind == "serial" else "usb"
    try:
        text = rules_file.read_text(encoding="utf-8")
    except OSError:
        return False
    for line in text.splitlines():
        if line.startswith("#") or f'SUBSYSTEM=="{subsystem}"' not in line:
            continue
        ids = dict(re.findall(r'ATTRS?\{(idVendor|idProduct)\}=="([^"]*)"', line))
        if "idVendor" not in ids or found.vid not in ids["idVendor"].split("|"):
            continue
        if "idProduct" not in ids or found.pid in ids["idProduct"].split("|"):
            return True
    return False


def _node_group(path: str) -> tuple[str, bool] | None:
    """The node's group and whether that group may read and write it."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    try:
        group = grp.getgrgid(st.st_gid).gr_name
    except KeyError:
        group = str(st.st_gid)
    return group, (st.st_mode & 0o060) == 0o060


def _user() -> str:
    try:
        return pwd.getpwuid(os.geteuid()).pw_name
    except KeyError:
        return str(os.geteuid())


def permission_hint(found: Found) -> str:
    """What a technician does about a device this user may not open."""
    path = found.path or "?"
    node = _node_group(path)
    mode = ""
    if node is not None:
        st_mode = os.stat(path).st_mode
        mode = f" (group {node[0]}, mode {stat.filemode(st_mode)})"
    parts = [f"user {_user()} may not open {path}{mode}."]
    if rules_cover(found):
        parts.append(
            f"Install Shailoo's udev rules ({RULES_FILE}): {INSTALL}, then unplug and replug "
            "the device."
        )
    else:
        parts.append(
            f"Shailoo's udev rules ({RULES_FILE}) do not name this device: put the rule below in "
            "/etc/udev/rules.d/61-shailoo-local.rules, then sudo udevadm control --reload "
            "&& sudo udevadm trigger."
        )
    if node is not None and node[1] and node[0] != "root":
        parts.append(
            f"Or add yourself to group {node[0]} (sudo usermod -aG {node[0]} {_user()}, "
            "then log in again)."
        )
    parts.append(f"The rule for this device: {udev_rule(found)}")
    return " ".join(parts)


def _with_access(found: Found) -> Found:
    access = access_of(found.path)
    hint = permission_hint(found) if access == ACCESS_DENIED else None
    return Found(**{**asdict(found), "access": access, "hint": hint})


# -- serial ports ------------------------------------------------------------------------------


def describe_port(port: Any) -> Found:
    """A ``Found`` for one of pyserial's ``ListPortInfo`` objects."""
    role, label = classify(port.vid, port.pid, port.manufacturer, port.product)
    found = Found(
        kind="serial",
        path=port.device,
        vid=_hex(port.vid),
        pid=_hex(port.pid),
        manufacturer=port.manufacturer,
        product=port.product,
        serial_number=port.serial_number,
        role=role,
        label=label,
        access=ACCESS_UNKNOWN,
        hint=None,
    )
    return _with_access(found)


def list_serial() -> list[Found]:
    """Every serial port pyserial lists, described."""
    from serial.tools import list_ports

    return [describe_port(p) for p in sorted(list_ports.comports(), key=lambda p: p.device)]


# -- USB ------------------------------------------------------------------------------------


class UsbUnavailable(RuntimeError):
    """USB devices cannot be listed here (no libusb backend for pyusb)."""


def usb_backend(find_library: Callable[[str], str | None] | None = None) -> Any:
    """The first pyusb backend that loads (libusb 1.0, libusb 0.1, OpenUSB).

    Raises ``UsbUnavailable`` when none does: pyusb itself is there, but no library
    behind it. ``find_library`` is passed to pyusb's loaders (which library file to use).
    """
    try:
        from usb.backend import libusb0, libusb1, openusb
    except ImportError as err:
        raise UsbUnavailable(f"pyusb is not installed ({err})") from None
    for module in (libusb1, libusb0, openusb):
        backend = module.get_backend(find_library=find_library)
        if backend is not None:
            return backend
    raise UsbUnavailable(
        "no libusb library for pyusb (install libusb-1.0, e.g. apt-get install libusb-1.0-0)"
    )


def _sysfs_strings(dev: Any) -> dict[str, str] | None:
    """Manufacturer, product and serial from sysfs, readable without opening the device."""
    try:
        ports = dev.port_numbers
        name = f"{dev.bus}-{'.'.join(str(p) for p in ports)}" if ports else f"usb{dev.bus}"
    except Exception:  # noqa: BLE001 - any backend failure just means: no sysfs name
        return None
    base = Path("/sys/bus/usb/devices") / name
    if not base.is_dir():
        return None
    out = {}
    for key in ("manufacturer", "product", "serial"):
        try:
            out[key] = (base / key).read_text(encoding="utf-8", errors="replace").strip()
        except OSError:
            continue
    return out


def _usb_string(dev: Any, attribute: str) -> str | None:
    # pyusb opens the device to read a string descriptor: that fails without access.
    try:
        value = getattr(dev, attribute)
    except Exception:  # noqa: BLE001 - USBError, ValueError, NotImplementedError alike
        return None
    return value if isinstance(value, str) else None


def _interface_classes(dev: Any) -> set[int]:
    classes: set[int] = set()
    try:
        for config in dev:
            for interface in config:
                classes.add(int(interface.bInterfaceClass))
    except Exception:  # noqa: BLE001 - a device that cannot be walked has no classes to show
        pass
    return classes


def usb_node(dev: Any) -> str | None:
    """The device's node under ``/dev/bus/usb`` (what libusb opens)."""
    try:
        return "/dev/bus/usb/%03d/%03d" % (dev.bus, dev.address)
    except (TypeError, AttributeError):
        return None


def describe_usb(dev: Any) -> Found:
    """A ``Found`` for one pyusb ``Device``."""
    strings = _sysfs_strings(dev)
    if strings is None:
        strings = {
            "manufacturer": _usb_string(dev, "manufacturer"),
            "product": _usb_string(dev, "product"),
            "serial": _usb_string(dev, "serial_number"),
        }
    vid, pid = int(dev.idVendor), int(dev.idProduct)
    manufacturer, product = strings.get("manufacturer"), strings.get("product")
    role, label = classify(vid, pid, manufacturer, product, _interface_classes(dev))
    found = Found(
        kind="usb",
        path=usb_node(dev),
        vid=_hex(vid),
        pid=_hex(pid),
        manufacturer=manufacturer,
        product=product,
        serial_number=strings.get("serial"),
        role=role,
        label=label,
        access=ACCESS_UNKNOWN,
        hint=None,
    )
    return _with_access(found)


def list_usb(find_library: Callable[[str], str | None] | None = None) -> list[Found]:
    """Every USB device except hubs, described; ``UsbUnavailable`` without libusb."""
    import usb.core

    backend = usb_backend(find_library)
    try:
        devices = list(usb.core.find(find_all=True, backend=backend))
    except usb.core.USBError as err:
        raise UsbUnavailable(f"USB devices could not be listed: {err}") from None
    # Hubs (the root hubs included) are the bus itself, not something to plug in.
    kept = [d for d in devices if getattr(d, "bDeviceClass", 0) != USB_CLASS_HUB]
    return sorted((describe_usb(d) for d in kept), key=lambda f: f.path or "")


def discover(find_library: Callable[[str], str | None] | None = None) -> Listing:
    """Serial ports and USB devices; serial ports are listed even when USB cannot be."""
    devices = list_serial()
    usb_error = None
    try:
        devices += list_usb(find_library)
    except UsbUnavailable as err:
        usb_error = str(err)
    return Listing(tuple(devices), usb_error)
