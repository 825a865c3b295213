"""Device entry point (``main.py`` at the root of the flash directory).

Loads ``config.json``, hashes the firmware files, picks the board profile and the
app for the device's role and runs it. A configuration problem is printed on the
console and the board stops with exit code 2 rather than run half-configured.

The modules needed only at boot (config checks, firmware hashing) are dropped
from ``sys.modules`` before the app is imported: on a 96 KB terminal their
bytecode is heap the app needs.

An app's overlays (code it loads for one step and drops again, see
``firmware.runtime``) are loaded and dropped once at boot, before anything else:
that interns their names while the heap is still in one piece. The table of
interned names grows by one large block, which a heap fragmented by a day's work
could no longer give.
"""

import asyncio
import gc
import sys

GC_THRESHOLD = 8192
# Each app's one large buffer (the scanner's image chunk, an equipped terminal's finger
# chunk or slip line), allocated first of all: later the heap has no hole that big left.
# Each must hold the app's own buffer size (firmware.apps.scanner.CHUNK_BYTES, ...).
SCRATCH = {"scanner": 4 * 1700, "finger": 4096, "printer": 4096}
# The overlay each optional UART brings (a terminal's fingerprint sensor and printer).
OVERLAYS = {"finger": "firmware.finger", "printer": "firmware.slipprint"}
# Modules the resident code needs only while it starts.
BOOT_ONLY = ("protocol.messages", "protocol.topics", "firmware.boards")


def _scratch(config):
    sizes = [SCRATCH[name] for name in ("finger", "printer") if name in config["uart"]]
    if config["role"] == "scanner":
        sizes.append(SCRATCH["scanner"])
    return bytearray(max(sizes)) if sizes else None


def _boot():
    from firmware import fwinfo
    from firmware.config import ConfigError, load

    try:
        config = load("config.json")
    except ConfigError as err:
        print("[boot] configuration error:", err)
        sys.exit(2)
    fw = fwinfo.info(".")
    import firmware

    for name in ("config", "fwinfo"):
        sys.modules.pop("firmware." + name, None)
        if hasattr(firmware, name):
            delattr(firmware, name)
    return config, fw


def _broker(config):
    """Complete the broker login and make the TLS context, at boot while the heap is
    whole: Mbed TLS allocates the context as one block of about 2.5 KB (in the unix
    port's heap; on the ESP32 in ESP-IDF's), which a running terminal no longer has.

    The password, unless the configuration names one, is derived from the key
    (``protocol.broker_login``); the modules that do this are dropped again.
    """
    import binascii

    broker = config["broker"]
    if "username" not in broker:
        broker["username"] = config["device"]
    if "password" not in broker:
        from protocol.broker_login import device_password

        broker["password"] = device_password(binascii.unhexlify(config["key"]))
    # Popped: the context holds the parsed certificate, the text would only take heap.
    ca = broker.pop("ca", None)
    tls = None
    if ca is not None:
        from firmware.broker_tls import client_context

        tls = client_context(binascii.a2b_base64(ca))
    # firmware.broker_tls stays when there is TLS: its stream carries the connection.
    for name in ("protocol.broker_login",) if tls else ("protocol.broker_login",
                                                           "firmware.broker_tls"):
        package, _, attr = name.partition(".")
        sys.modules.pop(name, None)
        if hasattr(sys.modules.get(package), attr):
            delattr(sys.modules[package], attr)
    return tls


def _warm(names):
    if not names:
        return
    from firmware import runtime

    for name in names:
        module = runtime.load(name)
        dropped = module.MODULES
        module = None
        runtime.unload(dropped)


def _board(config):
    from firmware import boards

    return boards.load(config)


def main():
    """Load the config, build the device and run its app forever."""
    config, fw = _boot()
    gc.collect()
    scratch = _scratch(config)
    tls = _broker(config)
    gc.collect()  # the CA's text and DER are garbage now: free them before more code loads
    _warm([OVERLAYS[name] for name in OVERLAYS if name in config["uart"]])
    board = _board(config)
    if config["role"] == "idterminal":
        from firmware.apps.idterminal import run
    else:
        from firmware.apps.scanner import run
    asyncio.run(_start(config, fw, board, run, scratch, tls))


async def _start(config, fw, board, run, scratch, tls):
    from firmware.runtime import Device, unload

    try:
        await board.start()
        device = Device(config, fw, board, scratch, tls)
        # Each module took the message type names it uses, the link has made its
        # topics and the board profile is loaded: the modules that name every type,
        # build topics and choose a profile would only hold heap from here on.
        unload(BOOT_ONLY)
        device.start()
        gc.collect()
        print("[boot] heap free %d bytes" % gc.mem_free())
        # Collect early and often: on a small heap, garbage left to pile up until an
        # allocation fails leaves holes that a 1 KB request no longer fits into.
        gc.threshold(GC_THRESHOLD)
        await run(device)
    except Exception as err:  # noqa: BLE001 - last resort: say why, then restart the board
        print("[boot] fatal:", type(err).__name__, err)
        if hasattr(sys, "print_exception"):
            sys.print_exception(err)
        board.reset(1)


if __name__ == "__main__":
    main()
