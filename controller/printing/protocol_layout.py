"""The results protocol laid out for a thermal printer: sections of lines, nothing sent.

``protocol_sections(results, election, settings)`` turns the results document
(``controller.polls.results``) into ``Section``s: the header (station, election, when polls
closed; a TEST MODE banner in test mode), the control figures, one section per
contest with the count of every option, the control checks, a signature line for
every commission member, and the protocol's SHA-256 (as text and as a QR code). The
printer checks paper and cover between sections, so a fault is caught close to
where it happened.

Every line is wrapped to fit the paper twice over: in characters of the printer's
own 12-dot font (32 on 58 mm, 48 on 80 mm) and in dots of the rasteriser's font,
which draws lines with Kyrgyz ң ө ү. Texts from the election and the settings have
their control characters replaced, so no name can smuggle a command to the printer.

The hash is the SHA-256 of the results' canonical JSON, the same value the audit log
records as ``results_sha256`` when polls close. ``seal``, when given, is the short code
of the station's closing seal (``controller.integrity.seals.paper_code``), which signs
the audit log's end, the cast vote records and these results: printed under the hash,
it ties the paper the commission signs to the signed records.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import segno

from controller.printing.config import PrintSettings
from controller.printing.texts import words
from drivers import escpos
from drivers.escpos_host import measure
from protocol.canonical import dumps

FONT_A_DOTS = 12  # width of one character of the printer's standard font
QR_SCALE = 5
LEADER = "."
MIN_LEADER = 3  # fewer dots than this and the eye loses which value is whose


class LayoutError(ValueError):
    """The results document lacks something the protocol must show."""


@dataclass(frozen=True)
class Line:
    """One printed line: text, or a 1-bit image when ``image`` is set."""

    text: str = ""
    bold: bool = False
    size: int = 1
    align: int = escpos.LEFT
    image: tuple[int, int, bytes] | None = None  # (width_bytes, height, data)


@dataclass(frozen=True)
class Section:
    """Lines printed together; the printer's status is checked after each section."""

    name: str
    lines: tuple[Line, ...]


def results_sha256(results: Mapping[str, Any]) -> str:
    """SHA-256 hex of the results' canonical JSON (as in the audit log)."""
    return hashlib.sha256(dumps(dict(results))).hexdigest()


def printable(text: object) -> str:
    """``text`` as a string with control characters replaced by ``?``."""
    return "".join(c if c.isprintable() else "?" for c in str(text))


class Paper:
    """What fits on one line of a paper ``dots`` wide."""

    def __init__(self, dots: int) -> None:
        self.dots = dots
        self.columns = dots // FONT_A_DOTS

    def fits(self, text: str, bold: bool = False, size: int = 1) -> bool:
        """True when ``text`` fits both as printer text and as a raster line."""
        return len(text) * size <= self.columns and measure(text, bold) * size <= self.dots

    def wrap(self, text: str, bold: bool = False, size: int = 1) -> list[str]:
        """``text`` cut at spaces (inside a word only when the word alone is too long)."""
        lines: list[str] = []
        current = ""
        for word in printable(text).split():
            candidate = f"{current} {word}" if current else word
            if self.fits(candidate, bold, size):
                current = candidate
                continue
            if current:
                lines.append(current)
            current = ""
            for ch in word:
                if current and not self.fits(current + ch, bold, size):
                    lines.append(current)
                    current = ""
                current += ch
        if current or not lines:
            lines.append(current)
        return lines

    def leader(self, left: str, right: str, bold: bool = False) -> list[str]:
        """``left`` and ``right`` on one line joined by dots; ``left`` wraps above if long."""
        right = printable(right)
        head = self.wrap(left, bold)
        last = head.pop()
        words = last.split()
        # Move words of the last line down until they fit beside the value; if even
        # one word does not, the value gets a line of its own.
        for keep in range(len(words) + 1):
            below = " ".join(words[keep:])
            line = self._dotted(below, right, bold)
            if line is not None:
                above = " ".join(words[:keep])
                return head + ([above] if above else []) + [line]
        return head + [last, self._dotted("", right, bold) or self.wrap(right, bold)[0]]

    def _dotted(self, left: str, right: str, bold: bool) -> str | None:
        start = f"{left} " if left else ""
        dots = self.columns - len(start) - len(right) - 1
        while dots >= MIN_LEADER:
            line = f"{start}{LEADER * dots} {right}"
            if self.fits(line, bold):
                return line
            dots -= 1
        return None

    def fill(self, label: str, ch: str = "_") -> list[str]:
        """``label`` followed by ``ch`` up to the end of the line (a place to write in)."""
        head = self.wrap(label)
        last = head.pop()
        count = self.columns - len(last) - 1
        while count > 1 and not self.fits(f"{last} {ch * count}"):
            count -= 1
        if count < 4:  # no room left: the line to write on goes below
            head.append(last)
            last, count = "", self.columns
            while count > 1 and not self.fits(ch * count):
                count -= 1
            return head + [ch * count]
        return head + [f"{last} {ch * count}"]


def qr_image(content: str, paper_dots: int) -> tuple[int, int, bytes]:
    """A QR code of ``content`` as a raster image, as large as fits up to ``QR_SCALE``."""
    qr = segno.make(content, error="m", micro=False)
    modules = qr.symbol_size(scale=1, border=4)[0]
    scale = max(1, min(QR_SCALE, paper_dots // modules))
    rows = list(qr.matrix_iter(scale=scale, border=4))
    width = len(rows[0])
    width_bytes = (width + 7) // 8
    data = bytearray(width_bytes * len(rows))
    for y, row in enumerate(rows):
        for x, dark in enumerate(row):
            if dark:
                data[y * width_bytes + (x >> 3)] |= 0x80 >> (x & 7)
    return width_bytes, len(rows), bytes(data)


def _need(results: Mapping[str, Any], key: str, kind: type | tuple[type, ...]) -> Any:
    value = results.get(key)
    if not isinstance(value, kind) or isinstance(value, bool):
        raise LayoutError(f"results: {key!r} is missing or not a {getattr(kind, '__name__', kind)}")
    return value


def _count(value: object, where: str) -> str:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise LayoutError(f"results: {where} must be a count, not {value!r}")
    return str(value)


def _when(stamp: object) -> str:
    """``2026-11-29T20:00:00Z`` as ``2026-11-29 20:00 UTC``; anything else as given."""
    text = printable(stamp)
    if len(text) == 20 and text[10] == "T" and text.endswith("Z"):
        return f"{text[:10]} {text[11:16]} UTC"
    return text


def _name(text: Any, language: str, fallback: str) -> str:
    if isinstance(text, Mapping):
        return printable(text.get(language) or fallback)
    return printable(text or fallback)


class _Builder:
    def __init__(self, settings: PrintSettings) -> None:
        self.paper = Paper(settings.paper_dots)
        self.lines: list[Line] = []

    def text(self, text: str, bold: bool = False, size: int = 1, align: int = escpos.LEFT) -> None:
        for part in self.paper.wrap(text, bold, size):
            self.lines.append(Line(part, bold, size, align))

    def pair(self, left: str, right: object, bold: bool = False) -> None:
        for part in self.paper.leader(left, str(right), bold):
            self.lines.append(Line(part, bold))

    def fill(self, label: str) -> None:
        for part in self.paper.fill(label):
            self.lines.append(Line(part))

    def blank(self) -> None:
        self.lines.append(Line(""))

    def image(self, image: tuple[int, int, bytes]) -> None:
        self.lines.append(Line(align=escpos.CENTER, image=image))

    def section(self, name: str) -> Section:
        done = Section(name, tuple(self.lines))
        self.lines = []
        return done


def protocol_sections(
    results: Mapping[str, Any],
    election: Any,
    settings: PrintSettings,
    copy: int = 1,
    copies: int = 1,
    printed_at: str = "",
    seal: str | None = None,
) -> list[Section]:
    """The protocol as sections of lines for ``settings.paper_dots`` wide paper."""
    if not isinstance(results, Mapping):
        raise LayoutError("results must be a JSON object")
    lang = settings.language
    t = words(lang)
    b = _Builder(settings)
    station = printable(_need(results, "station", str))
    contests = _need(results, "contests", dict)
    checks = _need(results, "checks", dict)
    counters = results.get("scanner_counters") or {}
    if not isinstance(counters, dict):
        raise LayoutError("results: 'scanner_counters' must be an object")

    if results.get("mode") != "official":
        b.text(t["test_mode"], bold=True, align=escpos.CENTER)
        b.blank()
    b.text(t["title"], bold=True, size=2, align=escpos.CENTER)
    b.text(t["subtitle"], align=escpos.CENTER)
    b.blank()
    b.text(_name(getattr(election, "title", None), lang, str(results.get("election", ""))), True)
    if getattr(election, "date", None):
        b.pair(t["date"], election.date)
    b.pair(t["station"], station)
    b.pair(t["closed_at"], _when(results.get("closed_at", "")))
    sections = [b.section("header")]

    b.blank()
    b.text(t["control"], bold=True)
    b.pair(t["checked_in"], _count(results.get("ballots_issued"), "ballots_issued"))
    b.pair(t["cast"], _count(results.get("ballots_cast"), "ballots_cast"))
    for device, counter in sorted(counters.items()):
        b.pair(f"{t['scanner']} {device}", _count(counter, f"scanner_counters.{device}"))
    flagged = results.get("adjudication")
    if isinstance(flagged, Mapping):
        # Ballots with a mark the reader was unsure of, and what the commission made of them.
        b.pair(t["adj_flagged"], _count(flagged.get("flagged"), "adjudication.flagged"))
        b.pair(t["adj_adjudicated"],
               _count(flagged.get("adjudicated"), "adjudication.adjudicated"))
        counted = _count(flagged.get("marks_counted"), "adjudication.marks_counted")
        b.pair(t["adj_marks_counted"],
               f"{counted} / {_count(flagged.get('marks'), 'adjudication.marks')}")
    sections.append(b.section("control"))

    known = {c.id: c for c in getattr(election, "contests", ())}
    order = [cid for cid in known if cid in contests] + sorted(set(contests) - set(known))
    for cid in order:
        counted = contests[cid]
        if not isinstance(counted, dict) or not isinstance(counted.get("options"), dict):
            raise LayoutError(f"results: contest {cid!r} has no option counts")
        contest = known.get(cid)
        b.blank()
        b.text(_name(getattr(contest, "title", None), lang, cid), bold=True)
        if contest is not None and contest.district:
            try:
                b.text(_name(election.district(contest.district).name, lang, contest.district))
            except KeyError:
                b.text(printable(contest.district))
        options = [o.id for o in contest.options] if contest is not None else []
        options = [o for o in options if o in counted["options"]]
        options += sorted(set(counted["options"]) - set(options))
        for oid in options:
            option = None
            if contest is not None:
                try:
                    option = contest.option(oid)
                except KeyError:
                    option = None
            label = _name(option.names if option is not None else None, lang, oid)
            b.pair(label, _count(counted["options"][oid], f"{cid}.{oid}"))
        for key in ("undervotes", "overvotes", "blank"):
            if key in counted:
                b.pair(t[key], _count(counted[key], f"{cid}.{key}"))
        sections.append(b.section(f"contest {cid}"))

    b.blank()
    b.text(t["checks"], bold=True)
    for name, held in sorted(checks.items()):
        label = t.get(f"check_{name}", printable(name))
        if held is True:
            b.pair(label, t["check_ok"])
        else:
            b.pair(label, t["check_failed"], bold=True)  # a failed check must stand out
    sections.append(b.section("checks"))

    b.blank()
    b.text(t["commission"], bold=True)
    for member in settings.signers:
        b.blank()
        if member.name:
            b.text(f"{t[member.role]}: {printable(member.name)}")
        else:
            b.fill(f"{t[member.role]}:")
        b.blank()
        b.fill(f"{t['signature']}:")
    sections.append(b.section("signatures"))

    digest = results_sha256(results)
    b.blank()
    b.text(t["hash"], bold=True)
    groups = [digest[i : i + 8] for i in range(0, len(digest), 8)]
    per_line = max(1, (b.paper.columns + 1) // 9)
    for i in range(0, len(groups), per_line):
        b.text(" ".join(groups[i : i + per_line]))
    if settings.qr:
        b.image(qr_image(f"sha256:{digest}", settings.paper_dots))
    if seal:
        b.text(t["seal"], bold=True)
        b.text(printable(seal))
    if copies > 1:
        b.text(t["copy"] % (copy, copies), align=escpos.CENTER)
    if printed_at:
        b.pair(t["printed_at"], printable(printed_at))
    sections.append(b.section("hash"))
    return sections
