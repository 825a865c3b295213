"""The boards' free heap as their firmware logs it: the bar every firmware change keeps.

Real firmware in ``micropython`` at the reference heaps (``hil.targets.virtual.heap_for``), a
real broker, a controller that accepts every sheet and answers every check-in. It prints:

* the terminal's free heap after boot (``[boot] heap free N bytes``) at 96 KB, a
  terminal with a document reader only, and at 128 KB, one with a fingerprint sensor
  and a slip printer;
* the 96 KB terminal's lowest free heap during each of ``--checkins`` check-ins
  (``[terminal] txn T: status, heap free N, low L``: sampled where a message is at its
  largest, uncollected garbage counted as used), against answers shaped like the
  controller's (long Cyrillic names, its reason texts): the margin a check-in keeps;
* the scanner's free heap after boot and at the start of each sheet (``[scanner]
  sheet S, heap free N``) at 128 KB, over ``--sheets`` full-size (1700 x 2400) sheets.

Each board runs ``--runs`` times (fresh flash each time); the figures are the lowest
and highest seen. A change to the firmware must not lower them.

``python bench/firmware_heap.py`` (``--sheets 3 --checkins 20 --runs 3`` by default).
"""

from __future__ import annotations

import argparse
import re
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np  # noqa: E402

from drivers import mrz_make  # noqa: E402
from hil.broker import start_broker  # noqa: E402
from hil.device import DeviceUnit, build_device  # noqa: E402
from hil.peripherals import Sheet  # noqa: E402
from hil.station import parse_device  # noqa: E402
from tests.firmware.fake_controller import (  # noqa: E402
    STATION,
    FakeController,
    checkin_answer,
    make_key,
)

BOOT = re.compile(r"\[boot\] heap free (\d+) bytes")
SHEET = re.compile(r"\[scanner\] sheet \S+, heap free (\d+)")
ANSWER = re.compile(r"\[terminal\] txn \S+: \w+, heap free (\d+), low (\d+)")


def _boot_free(board) -> int:
    line = board.wait_console("[boot] heap free", 60)
    return int(BOOT.search(line).group(1))


def _device(broker, flash: Path, name: str, role: str, uarts: dict[str, str]) -> DeviceUnit:
    """A device built as the rig builds it, on a board that stays off when it exits."""
    wanted = parse_device({"id": name, "role": role, "uarts": uarts})
    broker.add_device(STATION, name, make_key(name))
    return build_device(wanted, STATION, broker.host, broker.port, make_key(name),
                        flash / name, auto_restart=False, broker_ca=broker.ca_der)


def _sheet(width: int, height: int) -> Sheet:
    rows = np.arange(height, dtype=np.int64)[:, None] * 7 + np.arange(width, dtype=np.int64)
    return Sheet((rows & 0xFF).astype(np.uint8), 200, "heap bench")


def terminal(broker, flash: Path, name: str, equipped: bool,
             checkins: int = 0) -> tuple[int, list[int]]:
    """Boot one terminal and serve ``checkins`` voters; its free heap after boot and the
    lowest free heap of each check-in."""
    uarts = {"mrz": "mrz-reader", "display": "display"}
    if equipped:
        uarts.update(finger="fingerprint-sensor", printer="printer")
    unit = _device(broker, flash, name, "idterminal", uarts)
    ctl = FakeController(broker, [name])
    ctl.handlers["checkin.request"] = checkin_answer
    try:
        unit.board.start()
        free = _boot_free(unit.board)
        unit.display.wait_screen("ready", 60)
        ctl.wait("hello", 60)
        for n in range(1, checkins + 1):
            start = len(unit.display.screens)
            unit.reader.present(mrz_make.make_td1(
                "AN%07d" % n, "850214", "F", "310101", "KGZ", "VOTER", "NUMBER",
                personal_number="2140219850%04d" % n))
            shown = unit.display.wait_screen(("checkin", "error"), 60, start=start)
            if shown["screen"] != "checkin":
                console = "\n".join(unit.board.console.items()[-25:])
                raise RuntimeError(f"check-in {n} of {name} ended in {shown}:\n{console}")
        lows = [int(m.group(2)) for line in unit.board.console.items()
                if (m := ANSWER.search(line))]
        if len(lows) != checkins:
            raise RuntimeError(f"{len(lows)} answer heap lines for {checkins} check-ins")
        return free, lows
    finally:
        unit.close()
        ctl.stop()


def scanner(broker, flash: Path, name: str, sheets: int) -> tuple[int, list[int]]:
    """Boot one scanner and feed it ``sheets`` sheets; free heap after boot and per sheet."""
    unit = _device(broker, flash, name, "scanner", {"scan": "scan-engine", "display": "display"})
    board, display = unit.board, unit.display
    ctl = FakeController(broker, [name])
    try:
        board.start()
        boot = _boot_free(board)
        display.wait_screen("ready", 60, counter=0)
        ctl.wait("hello", 60)
        for n in range(1, sheets + 1):
            unit.engine.insert(_sheet(1700, 2400))
            display.wait_screen("ready", 120, start=len(display.screens), counter=n)
        frees = [int(m.group(1)) for line in board.console.items() if (m := SHEET.search(line))]
        if len(frees) != sheets:
            raise RuntimeError(f"{len(frees)} sheet heap lines for {sheets} sheets")
        return boot, frees
    finally:
        unit.close()
        ctl.stop()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sheets", type=int, default=3)
    parser.add_argument("--checkins", type=int, default=20)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument(
        "--link", choices=("tls", "clear", "both"), default="tls",
        help="tls: the station's Mosquitto (TLS, accounts); clear: the training broker "
        "(amqtt, no TLS), the figure TLS is compared with; both: one after the other",
    )
    args = parser.parse_args(argv)
    for link in ("tls", "clear") if args.link == "both" else (args.link,):
        print(f"-- link: {link}")
        measure(args, link)
    return 0


def measure(args: argparse.Namespace, link: str) -> None:
    """Run the boards on one kind of link and print the figures."""
    plain, plain_low, equipped, scan_boot, scan_sheet = [], [], [], [], []
    kind = "mosquitto" if link == "tls" else "amqtt"
    with start_broker(kind) as broker, tempfile.TemporaryDirectory(prefix="shailoo-heap-") as tmp:
        for run in range(args.runs):
            free, lows = terminal(broker, Path(tmp), f"heap-term-{run}", False, args.checkins)
            plain.append(free)
            plain_low.extend(lows)
            equipped.append(terminal(broker, Path(tmp), f"heap-termx-{run}", True)[0])
            boot, frees = scanner(broker, Path(tmp), f"heap-scan-{run}", args.sheets)
            scan_boot.append(boot)
            scan_sheet.extend(frees)
    print(f"terminal 96 KB (document reader), free after boot: min {min(plain)} max {max(plain)}")
    if plain_low:
        print(f"terminal 96 KB, lowest free during a check-in: min {min(plain_low)} "
              f"max {max(plain_low)} ({len(plain_low)} check-ins)")
    print(f"terminal 128 KB (sensor, printer), free after boot: "
          f"min {min(equipped)} max {max(equipped)}")
    print(f"scanner 128 KB, free after boot: min {min(scan_boot)} max {max(scan_boot)}")
    print(f"scanner 128 KB, free at the start of a sheet: min {min(scan_sheet)} "
          f"max {max(scan_sheet)} ({len(scan_sheet)} sheets)")


if __name__ == "__main__":
    sys.exit(main())
