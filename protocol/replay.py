"""Sliding replay window over sequence numbers (as in IPsec's anti-replay window).

A receiver accepts each sequence number once. Numbers may arrive a little out of
order (a durable outbox re-sends after a reboot), so a window of recent numbers is
remembered; anything older than the window is stale.
"""

NEW = "new"
DUPLICATE = "duplicate"
STALE = "stale"


class ReplayWindow:
    """Remembers the highest sequence number seen and which of the ``size`` below it were seen."""

    def __init__(self, size=1024, highest=-1, seen_bits=0):
        self.size = size
        self.highest = highest
        self.bits = seen_bits  # bit i set: highest - i was seen

    def check(self, seq):
        """Classify ``seq`` as ``NEW``, ``DUPLICATE`` or ``STALE`` without recording it."""
        if seq > self.highest:
            return NEW
        offset = self.highest - seq
        if offset >= self.size:
            return STALE
        return DUPLICATE if (self.bits >> offset) & 1 else NEW

    def accept(self, seq):
        """Record ``seq``; return what ``check`` would have said before."""
        verdict = self.check(seq)
        if verdict != NEW:
            return verdict
        if seq > self.highest:
            shift = seq - self.highest
            self.bits = (
                ((self.bits << shift) | 1) & ((1 << self.size) - 1) if shift < self.size else 1
            )
            self.highest = seq
        else:
            self.bits |= 1 << (self.highest - seq)
        return NEW
