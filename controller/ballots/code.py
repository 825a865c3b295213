"""The ballot's code: what the QR symbol on a ballot says, and nothing that names a voter.

Text form, every field upper case so the symbol can use QR's compact alphanumeric mode
(ids are lower case by definition, so the case change loses nothing)::

    SH1:<first 16 hex of the election hash>:<style>:<T|O>:<A|L>:<station or *>

``T``/``O`` is test or official; ``A``/``L`` is the paper (A4, letter); ``*`` means the
ballot is valid at any station of the election. 64 bits of the election hash are far
more than enough to tell one loaded definition from another, and keep the symbol small
enough to read reliably at 150 dpi.
"""

from __future__ import annotations

from dataclasses import dataclass

from controller.election import is_id

MAGIC = "SH1"
HASH_CHARS = 16
MODES = {"test": "T", "official": "O"}
PAPER_CODES = {"A4": "A", "letter": "L"}
_HEX = frozenset("0123456789abcdef")


class CodeError(ValueError):
    """Text that is not a Shailoo ballot code."""


@dataclass(frozen=True)
class BallotCode:
    """The fields of a ballot code."""

    election_hash: str
    style: str
    mode: str
    paper: str = "A4"
    station: str | None = None

    def __post_init__(self) -> None:
        if len(self.election_hash) < HASH_CHARS or not set(self.election_hash) <= _HEX:
            raise CodeError(f"election hash {self.election_hash!r} is not lower-case hex")
        if not is_id(self.style):
            raise CodeError(f"style {self.style!r} is not an id")
        if self.mode not in MODES:
            raise CodeError(f"mode {self.mode!r} is not test or official")
        if self.paper not in PAPER_CODES:
            raise CodeError(f"paper {self.paper!r} is not one of {', '.join(PAPER_CODES)}")
        if self.station is not None and not is_id(self.station):
            raise CodeError(f"station {self.station!r} is not an id")

    @property
    def hash_prefix(self) -> str:
        """The part of the election hash the code carries."""
        return self.election_hash[:HASH_CHARS]

    def matches(self, election_hash: str) -> bool:
        """True when the code was made for the election with this full hash."""
        return election_hash.lower().startswith(self.hash_prefix)

    def encode(self) -> str:
        """The text put into the QR symbol."""
        return ":".join(
            (
                MAGIC,
                self.hash_prefix,
                self.style,
                MODES[self.mode],
                PAPER_CODES[self.paper],
                self.station or "*",
            )
        ).upper()

    @classmethod
    def decode(cls, text: str) -> BallotCode:
        """Parse the text of a QR symbol; ``CodeError`` when it is not a ballot code."""
        if not isinstance(text, str) or len(text) > 128:
            raise CodeError("not a ballot code")
        parts = text.split(":")
        if len(parts) != 6 or parts[0] != MAGIC:
            raise CodeError("not a ballot code")
        _, digest, style, mode, paper, station = parts
        if len(digest) != HASH_CHARS:
            raise CodeError("the election hash in the code has the wrong length")
        if style.lower().upper() != style or station.lower().upper() != station:
            raise CodeError("ids in the code are not upper case")
        modes = {v: k for k, v in MODES.items()}
        papers = {v: k for k, v in PAPER_CODES.items()}
        if mode not in modes:
            raise CodeError(f"mode {mode!r} in the code is not T or O")
        if paper not in papers:
            raise CodeError(f"paper {paper!r} in the code is not known")
        return cls(
            digest.lower(),
            style.lower(),
            modes[mode],
            papers[paper],
            None if station == "*" else station.lower(),
        )
