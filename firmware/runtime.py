"""What every device app runs on: board, state files, sequence numbers, outbox, link."""

import asyncio

from firmware import store
from firmware.display import Display
from firmware.link import Link
from firmware.outbox import Outbox
from firmware.seqstore import SeqStore


class Device:
    """The services an app uses: ``board``, ``config``, ``seq``, ``outbox``, ``link``,
    ``display``, ``fw``, and ``path(name)`` for its own state files."""

    def __init__(self, config, fw, board):
        self.config = config
        self.board = board
        self.root = board.storage
        self.fw = fw
        for problem in self.fw["problems"]:
            print("[fw]", problem)
        self.seq = SeqStore(self.path("seq.json"))
        self.boot = self.seq.boot
        self.outbox = Outbox(self.path("outbox"))
        self.link = Link(config, self.seq, self.outbox, self.fw)
        self.display = None
        print("[fw] %s %s version %s hash %s boot %d, %d message(s) in the outbox" % (
            config["role"], config["device"], self.fw["version"], self.fw["fw_hash"][:16],
            self.boot, len(self.outbox)))

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
