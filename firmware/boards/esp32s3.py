"""The reference board: an ESP32-S3 module on the Shailoo carrier board.

Runs only on the device: it needs ``machine.UART``, ``machine.WDT`` and
``network.WLAN``. Pin map of the reference carrier board (``config["uart"]``
entries may override it with ``{"id", "tx", "rx", "baud"}``). A board carries either
the document reader or the scan engine on its peripheral port, so they share UART 1:

| UART    | id | TX | RX | baud   | peripheral                         |
|---------|----|----|----|--------|------------------------------------|
| mrz     | 1  | 17 | 18 | 9600   | ID-document reader (MRZ lines)     |
| scan    | 1  | 17 | 18 | 921600 | scan engine (line sensor + feeder) |
| display | 2  | 15 | 16 | 115200 | display controller (line protocol) |

Storage is the littlefs root ``/`` that MicroPython mounts on the internal flash.
Wi-Fi credentials come from ``config["wifi"]``. A hardware watchdog (8 s) resets
the board if the event loop stops turning; the apps call ``feed()`` from their main
loops. Importable only on the device (``network`` exists there, not in the unix
port); not exercised by the tests here: there is no ESP32 in the rig yet.
"""

import asyncio
import time

import machine
import network

DEFAULT_UARTS = {
    "mrz": {"id": 1, "tx": 17, "rx": 18, "baud": 9600},
    "scan": {"id": 1, "tx": 17, "rx": 18, "baud": 921600},
    "display": {"id": 2, "tx": 15, "rx": 16, "baud": 115200},
}
WATCHDOG_MS = 8000


class Board:
    """Reference board profile."""

    name = "esp32s3"

    def __init__(self, config):
        self.config = config
        self.storage = "/"
        self.wdt = None

    async def start(self):
        """Start the watchdog and join the station's Wi-Fi."""
        self.wdt = machine.WDT(timeout=WATCHDOG_MS)
        wifi = self.config.get("wifi")
        if not wifi:
            raise ValueError("the esp32s3 board needs 'wifi' in config.json")
        wlan = network.WLAN(network.STA_IF)
        wlan.active(True)
        if not wlan.isconnected():
            wlan.connect(wifi["ssid"], wifi.get("password", ""))
            started = time.ticks_ms()
            while not wlan.isconnected():
                self.feed()
                if time.ticks_diff(time.ticks_ms(), started) > 30000:
                    print("[board] Wi-Fi %r not reachable; retrying" % wifi["ssid"])
                    started = time.ticks_ms()
                await asyncio.sleep_ms(200)
        print("[board] Wi-Fi up:", wlan.ifconfig()[0])

    def uart(self, name):
        """Open hardware UART ``name``; return ``(reader, writer)`` over it."""
        spec = dict(DEFAULT_UARTS.get(name, {}))
        override = self.config["uart"].get(name)
        if isinstance(override, dict):
            spec.update(override)
        if "id" not in spec:
            raise ValueError("UART %r has no pin description" % (name,))
        port = machine.UART(
            spec["id"], baudrate=spec["baud"], tx=spec["tx"], rx=spec["rx"], rxbuf=4096
        )
        return asyncio.StreamReader(port), asyncio.StreamWriter(port, {})

    def feed(self):
        """Feed the hardware watchdog."""
        if self.wdt is not None:
            self.wdt.feed()

    def reset(self, code=0):
        """Hard reset of the board."""
        machine.reset()
