"""Device entry point (``main.py`` at the root of the flash directory).

Loads ``config.json``, picks the board profile and the app for the device's role
and runs it. A configuration problem is printed on the console and the board
stops with exit code 2 rather than run half-configured.
"""

import asyncio
import sys

from firmware import boards
from firmware.config import ConfigError, load


def main():
    """Load the config, build the device and run its app forever."""
    try:
        config = load("config.json")
    except ConfigError as err:
        print("[boot] configuration error:", err)
        sys.exit(2)
    board = boards.load(config)
    if config["role"] == "idterminal":
        from firmware.apps.idterminal import run
    else:
        from firmware.apps.scanner import run
    asyncio.run(_start(config, board, run))


async def _start(config, board, run):
    from firmware.runtime import Device

    try:
        await board.start()
        device = Device(config, board)
        device.start()
        await run(device)
    except Exception as err:  # noqa: BLE001 - last resort: say why, then restart the board
        print("[boot] fatal:", type(err).__name__, err)
        sys.print_exception(err) if hasattr(sys, "print_exception") else None
        board.reset(1)


if __name__ == "__main__":
    main()
