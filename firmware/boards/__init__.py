"""Board profiles: what differs between the reference board and a virtual board.

A profile module defines ``Board(config)`` with:

* ``name``
* ``async start()``: bring up what the app needs before the network (Wi-Fi, watchdog)
* ``uart(name) -> (reader, writer)``: asyncio streams of a named UART from the config
* ``storage``: directory that holds the state files (journal, outbox, sequence numbers)
* ``feed()``: keep the watchdog from resetting the board
* ``reset(code)``: restart the board (the unix board exits with ``code``)
"""


def load(config):
    """Instantiate the board profile named in ``config['board']``."""
    name = config["board"]
    if name == "unix":
        from firmware.boards import unix as profile
    elif name == "esp32s3":
        from firmware.boards import esp32s3 as profile
    else:
        raise ValueError("unknown board %r" % (name,))
    return profile.Board(config)
