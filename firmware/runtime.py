"""What every device app runs on: board, state files, sequence numbers, outbox, link.

``load`` and ``unload`` bring code that one step of an app needs into the heap and
take it out again (overlays): a 96 KB terminal cannot hold the fingerprint code and
the slip printer's code at once, and needs neither between voters.
"""

import asyncio
import gc
import sys

from firmware import store
from firmware.display import Display
from firmware.link import Link
from firmware.outbox import Outbox
from firmware.seqstore import SeqStore


def load(name):
    """Import module ``name`` and return it."""
    __import__(name)
    return sys.modules[name]


def unload(names):
    """Drop the modules ``names`` so that their code can leave the heap; collect; return
    the free heap."""
    for name in names:
        sys.modules.pop(name, None)
        package, _, attr = name.rpartition(".")
        parent = sys.modules.get(package)
        if parent is not None and hasattr(parent, attr):
            delattr(parent, attr)
    gc.collect()
    return gc.mem_free()


class Device:
    """The services an app uses: ``board``, ``config``, ``seq``, ``outbox``, ``link``,
    ``display``, ``fw``, ``scratch`` (the app's large buffer, allocated at boot, or
    None), and ``path(name)`` for its own state files. ``tls`` is the broker's TLS
    context when the boot made one (see ``firmware.link.Link``)."""

    def __init__(self, config, fw, board, scratch=None, tls=None):
        self.config = config
        self.board = board
        self.scratch = scratch
        self.root = board.storage
        self.fw = fw
        for problem in self.fw["problems"]:
            print("[fw]", problem)
        self.seq = SeqStore(self.path("seq.json"))
        self.boot = self.seq.boot
        self.outbox = Outbox(self.path("outbox"))
        self.link = Link(config, self.seq, self.outbox, self.fw, tls)
        self.display = None
        print("[fw] %s %s version %s hash %s boot %d, %d message(s) in the outbox" % (
            config["role"], config["device"], self.fw["version"], self.fw["fw_hash"][:16],
            self.boot, len(self.outbox)))

    def buffer(self, size):
        """The boot-time ``scratch`` buffer if it holds ``size`` bytes, else a new one."""
        if self.scratch is not None and len(self.scratch) >= size:
            return self.scratch
        return bytearray(size)

    def path(self, name):
        """Path of a state file on the board's storage."""
        return store.join(self.root, name)

    def open_display(self):
        """Open the ``display`` UART."""
        _, writer = self.board.uart("display")
        self.display = Display(writer)
        return self.display

    async def _watchdog(self):
        while True:
            self.board.feed()
            await asyncio.sleep(1)

    def start(self):
        """Start the link and the watchdog feeder as background tasks."""
        asyncio.create_task(self._watchdog())
        asyncio.create_task(self.link.run())
