"""The ballot's code: what the QR symbol on a ballot says, and nothing that names a voter.

Text form, all in QR's compact alphanumeric mode (digits, upper-case letters, ``:``)::

    SH2:<first 16 hex of the election hash>:<style number>:<T|O>:<A|L>:<station tag or *>

No id of the definition travels in the code. Definitions come from other tools, whose
ids have any length and form (``contest-mayor--selection-x/1``); the code carries the
election hash and compact numbers instead, so no id can make it too long or unreadable:

* the style is its place in the definition's list of styles, counted from 0. That list
  is part of the hashed definition, so the number means one style for every station
  that loaded a definition with this hash;
* the station is a tag: the first 10 hex digits of the SHA-256 of its id, ``*`` for a
  ballot valid at any station of the election. A station checks a ballot by computing
  its own tag; two stations of one election share a tag once in some 10¹² pairs.

``T``/``O`` is test or official; ``A``/``L`` the paper (A4, letter). 64 bits of the
election hash are far more than enough to tell one loaded definition from another.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

MAGIC = "SH2"
HASH_CHARS = 16
STATION_CHARS = 10
MAX_STYLE_DIGITS = 4  # room for every style a definition may hold (MAX_STYLES)
MAX_TEXT = 128  # longer text in a symbol is not a ballot code
MODES = {"test": "T", "official": "O"}
PAPER_CODES = {"A4": "A", "letter": "L"}
_HEX = frozenset("0123456789abcdef")
_DIGITS = frozenset("0123456789")


class CodeError(ValueError):
    """Text that is not a Shailoo ballot code, or a code that cannot be made."""


def station_tag(station_id: str) -> str:
    """The tag that stands for a station in the code: 10 hex digits of SHA-256 of its id."""
    return hashlib.sha256(station_id.encode("utf-8")).hexdigest()[:STATION_CHARS]


@dataclass(frozen=True)
class BallotCode:
    """The fields of a ballot code (``for_ballot`` makes one for a style of an election)."""

    election_hash: str
    style_index: int
    mode: str
    paper: str = "A4"
    station_tag: str | None = None

    def __post_init__(self) -> None:
        if len(self.election_hash) < HASH_CHARS or not set(self.election_hash) <= _HEX:
            raise CodeError(f"election hash {self.election_hash!r} is not lower-case hex")
        index = self.style_index
        if not isinstance(index, int) or isinstance(index, bool) or not 0 <= index < 10 ** 4:
            raise CodeError(f"style number {index!r} is not a whole number from 0 to 9999")
        if self.mode not in MODES:
            raise CodeError(f"mode {self.mode!r} is not test or official")
        if self.paper not in PAPER_CODES:
            raise CodeError(f"paper {self.paper!r} is not one of {', '.join(PAPER_CODES)}")
        tag = self.station_tag
        if tag is not None and (len(tag) != STATION_CHARS or not set(tag) <= _HEX):
            raise CodeError(f"station tag {tag!r} is not {STATION_CHARS} lower-case hex digits")

    @classmethod
    def for_ballot(
        cls,
        election: Any,
        style_id: str,
        mode: str,
        paper: str = "A4",
        station: str | None = None,
    ) -> BallotCode:
        """The code of a ballot of ``style_id`` (``station`` None: valid at any station)."""
        styles = list(election.styles)
        if style_id not in styles:
            raise CodeError(f"election {election.id!r} has no ballot style {style_id!r}")
        tag = None if station is None else station_tag(station)
        return cls(election.hash, styles.index(style_id), mode, paper, tag)

    @property
    def hash_prefix(self) -> str:
        """The part of the election hash the code carries."""
        return self.election_hash[:HASH_CHARS]

    def matches(self, election_hash: str) -> bool:
        """True when the code was made for the election with this full hash."""
        return election_hash.lower().startswith(self.hash_prefix)

    def style_id(self, election: Any) -> str | None:
        """The id of the style the code names in ``election``; None when it names none."""
        styles = list(election.styles)
        return styles[self.style_index] if self.style_index < len(styles) else None

    def is_for_station(self, station: str) -> bool:
        """True when a ballot with this code may be cast at ``station``."""
        return self.station_tag is None or self.station_tag == station_tag(station)

    def encode(self) -> str:
        """The text put into the QR symbol."""
        return ":".join(
            (
                MAGIC,
                self.hash_prefix,
                str(self.style_index),
                MODES[self.mode],
                PAPER_CODES[self.paper],
                self.station_tag or "*",
            )
        ).upper()

    @classmethod
    def decode(cls, text: str) -> BallotCode:
        """Parse the text of a QR symbol; ``CodeError`` when it is not a ballot code."""
        if not isinstance(text, str) or len(text) > MAX_TEXT:
            raise CodeError("not a ballot code")
        parts = text.split(":")
        if len(parts) != 6 or parts[0] != MAGIC:
            raise CodeError("not a ballot code")
        _, digest, style, mode, paper, station = parts
        if len(digest) != HASH_CHARS or not set(digest) <= set("0123456789ABCDEF"):
            raise CodeError("the election hash in the code is not 16 upper-case hex digits")
        if (
            not 0 < len(style) <= MAX_STYLE_DIGITS
            or not set(style) <= _DIGITS
            or (style.startswith("0") and style != "0")
        ):
            # One spelling per number: the code of a ballot is exactly one text.
            raise CodeError(f"style number {style!r} in the code is not a plain whole number")
        modes = {v: k for k, v in MODES.items()}
        papers = {v: k for k, v in PAPER_CODES.items()}
        if mode not in modes:
            raise CodeError(f"mode {mode!r} in the code is not T or O")
        if paper not in papers:
            raise CodeError(f"paper {paper!r} in the code is not known")
        if station != "*" and (
            len(station) != STATION_CHARS or not set(station) <= set("0123456789ABCDEF")
        ):
            raise CodeError("the station in the code is neither * nor a tag of 10 hex digits")
        return cls(
            digest.lower(),
            int(style),
            modes[mode],
            papers[paper],
            None if station == "*" else station.lower(),
        )
