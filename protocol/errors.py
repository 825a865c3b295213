"""The one exception type of the wire contract, with a machine-readable code."""


class ProtocolError(Exception):
    """A message that breaks the contract: malformed, forged, replayed or too large.

    ``code`` is a short stable word (``malformed``, ``too_large``, ``bad_tag``,
    ``unknown_device``, ``replayed``, ``stale``, ``bad_chunk``, ``bad_hash``) that
    logs and tests can match; ``str(err)`` is the human explanation.
    """

    def __init__(self, code, message):
        super().__init__(message)
        self.code = code
        self.message = message

    def __str__(self):
        return self.code + ": " + self.message
