"""The election definition: contests, options, ballot styles (the project's JSON form).

``Election.from_dict(d)`` (and ``controller.election.load``) checks a definition completely and
raise ``ElectionError`` listing every problem found, each with the place it was found
(``contests[1].options[3].id: ...``), when a ballot cannot be printed or counted from it.
What was only filled in (a text missing in a language, a contest on no ballot style) is
accepted and named in ``Election.warnings``. The form is documented in ``docs/election.md``.
Files are read, in this form or as a NIST SP 1500-100 election report, by
``controller.election.load``.

``Election.hash`` is the SHA-256 of the canonical JSON (``protocol.canonical``) of the
definition's normal form (``normal_form``: defaults written out, nothing else changed).
The ballot's code carries a prefix of it, so a ballot is read only against the very
definition it was printed from: one changed letter in an option's name is another
election, while writing a default out or leaving it implicit is not.
"""

from __future__ import annotations

import datetime
import hashlib
import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from protocol import canonical
from protocol.errors import ProtocolError

FORMAT = "shailoo-election/1"
LANGUAGES = ("ky", "ru", "en")
KINDS = ("party_list", "candidate", "ballot_measure")
# What the scanner may warn a voter about before the ballot goes into the box, where the
# election's rules let the voter take it back for a new one: a contest with more marks
# than allowed, a contest with fewer, a ballot with no vote at all. In this order.
WARNINGS = ("overvote", "undervote", "blank")
# Area types of NIST SP 1500-100 (ReportingUnitType), for the election's scope.
SCOPE_TYPES = (
    "ballot-batch", "ballot-style-area", "borough", "city", "city-council",
    "combined-precinct", "congressional", "country", "county", "county-council",
    "drop-box", "judicial", "municipality", "other", "polling-place", "precinct",
    "school", "special", "split-precinct", "state", "state-house", "state-senate",
    "town", "township", "utility", "village", "vote-center", "ward", "water",
)  # fmt: skip
MAX_ID = 32
# Definition ids come from other tools too: any text, but bounded, printable and without
# spaces at either end (a voter list's cells are trimmed, so such an id could never match).
MAX_DEFINITION_ID = 1000
MAX_TEXT = 1000
PRINTED_TEXT = 200  # longer texts are accepted, but a ballot line shows only what fits
MAX_CONTESTS = 64
MAX_OPTIONS = 60
MAX_STYLES = 512
MAX_DISTRICTS = 512
MAX_STATIONS = 4096
_ID_FIRST = frozenset("abcdefghijklmnopqrstuvwxyz0123456789")
_ID_REST = _ID_FIRST | {"-"}


class ElectionError(ValueError):
    """An election definition that cannot be used; ``problems`` lists every reason.

    ``warnings`` lists what would only have been filled in, had nothing been wrong.
    """

    def __init__(
        self, problems: list[str], source: str = "election", warnings: list[str] | None = None
    ) -> None:
        self.problems = list(problems)
        self.source = source
        self.warnings = list(warnings or [])
        shown = "; ".join(self.problems[:12])
        more = len(self.problems) - 12
        if more > 0:
            shown += f"; and {more} more"
        super().__init__(f"{source}: {shown}")


# Which present language stands in for a missing one: Kyrgyz and Russian for each other
# (both are printed, and a text given once is then printed once), English last.
FALLBACK = {"ky": ("ru", "en"), "ru": ("ky", "en"), "en": ("ru", "ky")}


class Text(dict):
    """A text in every language of the election (``{"ky": ..., "ru": ..., "en": ...}``).

    ``str()`` gives the Kyrgyz text, so a page that just prints a title shows the
    state language; ``text["ru"]`` or ``text.get(lang)`` picks another.
    """

    def __str__(self) -> str:
        return self.get(LANGUAGES[0], "")


@dataclass(frozen=True)
class Option:
    """One choice in a contest: a party, a candidate, or "against all"."""

    id: str
    name: str
    names: Text = field(compare=False)
    against_all: bool = False


@dataclass(frozen=True)
class District:
    """An electoral district (a single-member constituency)."""

    id: str
    name: Text = field(compare=False)


@dataclass(frozen=True)
class PollingStation:
    """A polling station named by the definition, and so able to hold ballot styles."""

    id: str
    name: Text = field(compare=False)


@dataclass(frozen=True)
class Scope:
    """The area the whole election covers (a country, a city); ``type`` as in NIST."""

    id: str
    name: Text = field(compare=False)
    type: str = "country"


@dataclass(frozen=True)
class Contest:
    """A contest: pick at most ``vote_for`` of its options.

    ``kind`` is ``candidate``, ``party_list`` or ``ballot_measure`` (a question whose
    options are the answers).
    """

    id: str
    title: Text = field(compare=False)
    vote_for: int
    options: tuple[Option, ...]
    kind: str = "candidate"
    district: str | None = None

    def option(self, option_id: str) -> Option:
        """The option with this id (``KeyError`` naming it when there is none)."""
        for option in self.options:
            if option.id == option_id:
                return option
        raise KeyError(f"contest {self.id!r} has no option {option_id!r}")

    @property
    def against_all(self) -> Option | None:
        """The contest's "against all" option, if it has one."""
        for option in self.options:
            if option.against_all:
                return option
        return None


@dataclass(frozen=True)
class Election:
    """A checked election definition. Build it with ``from_dict`` or ``load_election``."""

    id: str
    title: Text
    date: str
    contests: tuple[Contest, ...]
    styles: dict[str, list[str]]
    hash: str
    districts: tuple[District, ...] = ()
    style_districts: dict[str, str | None] = field(default_factory=dict)
    definition: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)
    scope: Scope | None = None
    stations: tuple[PollingStation, ...] = ()
    style_stations: dict[str, list[str]] = field(default_factory=dict)
    warn_voter: tuple[str, ...] = ()
    end_date: str | None = None  # the last day of an election over several days
    # What was filled in or left out when the definition was read; never part of the hash.
    warnings: tuple[str, ...] = field(default=(), compare=False)

    def __hash__(self) -> int:
        # The definition hash is the election's identity (the generated hash would trip
        # over the dict of styles).
        return hash(self.hash)

    @property
    def days(self) -> str:
        """The election's day, or its first and last day (``2026-11-29 – 2026-11-30``)."""
        return self.date if self.end_date is None else f"{self.date} – {self.end_date}"

    def contest(self, contest_id: str) -> Contest:
        """The contest with this id (``KeyError`` naming it when there is none)."""
        for contest in self.contests:
            if contest.id == contest_id:
                return contest
        raise KeyError(f"election {self.id!r} has no contest {contest_id!r}")

    def style_contests(self, style_id: str) -> list[Contest]:
        """The contests on ballots of ``style_id``, in ballot order."""
        if style_id not in self.styles:
            raise KeyError(f"election {self.id!r} has no ballot style {style_id!r}")
        return [self.contest(cid) for cid in self.styles[style_id]]

    def district(self, district_id: str) -> District:
        """The district with this id (``KeyError`` naming it when there is none)."""
        for district in self.districts:
            if district.id == district_id:
                return district
        raise KeyError(f"election {self.id!r} has no district {district_id!r}")

    def station(self, station_id: str) -> PollingStation:
        """The polling station with this id (``KeyError`` naming it when there is none)."""
        for station in self.stations:
            if station.id == station_id:
                return station
        raise KeyError(f"election {self.id!r} names no polling station {station_id!r}")

    def station_styles(self, station_id: str) -> list[str]:
        """The ballot styles a station holds, in definition order (a station abroad: many)."""
        self.station(station_id)
        return [sid for sid, held_at in self.style_stations.items() if station_id in held_at]

    @classmethod
    def from_dict(cls, d: Any, source: str = "election") -> Election:
        """Check the definition ``d`` (parsed JSON) and build the election from it."""
        return _Checker(source).election(d)

    def to_dict(self) -> dict[str, Any]:
        """A deep copy of the definition's normal form (builds an election with this hash)."""
        return json.loads(json.dumps(self.definition))


def is_definition_id(value: object) -> bool:
    """True for an id a definition may give its parts: 1 to ``MAX_DEFINITION_ID``
    characters, no control characters, no space at either end (``contest-mayor--x/1``)."""
    return (
        isinstance(value, str)
        and 0 < len(value) <= MAX_DEFINITION_ID
        and value.strip() == value
        and not any(ord(ch) < 32 or ord(ch) == 127 or 0xD800 <= ord(ch) <= 0xDFFF for ch in value)
    )


def complete_text(texts: Mapping[str, str]) -> dict[str, str]:
    """``texts`` in every language of ``LANGUAGES``, a missing one taken from ``FALLBACK``.

    ``texts`` holds at least one of the languages; other keys are ignored.
    """
    out: dict[str, str] = {}
    for lang in LANGUAGES:
        if lang in texts:
            out[lang] = texts[lang]
        else:
            out[lang] = next(texts[other] for other in FALLBACK[lang] if other in texts)
    return out


def _complete(value: Any) -> Any:
    """A text of a checked definition in the normal form: all three languages written out."""
    return complete_text(value) if isinstance(value, dict) else value


def is_id(value: object) -> bool:
    """True for ids of the form ``[a-z0-9][a-z0-9-]{0,31}`` (as device and station ids)."""
    return (
        isinstance(value, str)
        and 0 < len(value) <= MAX_ID
        and value[0] in _ID_FIRST
        and all(ch in _ID_REST for ch in value)
    )


def definition_hash(d: Mapping[str, Any]) -> str:
    """SHA-256 hex of the canonical JSON of a definition (give it the normal form)."""
    return hashlib.sha256(canonical.dumps(d)).hexdigest()


def normal_form(d: Mapping[str, Any]) -> dict[str, Any]:
    """The normal form of a checked definition: the bytes ``Election.hash`` covers.

    Defaults are written out (``format``, a contest's ``kind``, the scope's ``type``, a
    text's missing languages as ``complete_text`` fills them in); what means "none" is
    left out (a ``null`` district, ``against_all: false``, no ``warn_voter``, an
    ``end_date`` equal to ``date``); ``warn_voter`` is written in the order of
    ``WARNINGS``; names and texts stay exactly as given otherwise. Two files that differ
    only in such spelling are one election, and the NIST form of an election converts
    to this same form.
    """
    out: dict[str, Any] = {
        "format": FORMAT, "id": d["id"], "title": _complete(d["title"]), "date": d["date"],
    }  # fmt: skip
    if d.get("end_date") not in (None, d["date"]):
        out["end_date"] = d["end_date"]
    if d.get("scope") is not None:
        scope = d["scope"]
        kind = scope.get("type", "country")
        out["scope"] = {"id": scope["id"], "name": _complete(scope["name"]), "type": kind}
    for key in ("districts", "stations"):
        if d.get(key):
            out[key] = [{"id": x["id"], "name": _complete(x["name"])} for x in d[key]]
    contests = []
    for c in d["contests"]:
        contest: dict[str, Any] = {
            "id": c["id"],
            "kind": c.get("kind", "candidate"),
            "title": _complete(c["title"]),
            "vote_for": c["vote_for"],
        }
        if c.get("district") is not None:
            contest["district"] = c["district"]
        options = []
        for o in c["options"]:
            option: dict[str, Any] = {"id": o["id"], "name": _complete(o["name"])}
            if o.get("against_all"):
                option["against_all"] = True
            options.append(option)
        contest["options"] = options
        contests.append(contest)
    out["contests"] = contests
    styles = []
    for st in d["styles"]:
        style: dict[str, Any] = {"id": st["id"], "contests": list(st["contests"])}
        if st.get("district") is not None:
            style["district"] = st["district"]
        if st.get("stations"):
            style["stations"] = list(st["stations"])
        styles.append(style)
    out["styles"] = styles
    if d.get("warn_voter"):
        out["warn_voter"] = [w for w in WARNINGS if w in d["warn_voter"]]
    return json.loads(json.dumps(out))


class _Checker:
    """Walks a definition, collecting every problem instead of stopping at the first."""

    def __init__(self, source: str) -> None:
        self.source = source
        self.problems: list[str] = []
        self.notes: list[str] = []  # what was filled in: Election.warnings

    def fail(self, where: str, message: str) -> None:
        self.problems.append(f"{where}: {message}" if where else message)

    def warn(self, where: str, message: str) -> None:
        self.notes.append(f"{where}: {message}" if where else message)

    def keys(self, where: str, obj: dict[str, Any], required: set[str], allowed: set[str]) -> None:
        for key in sorted(required - set(obj)):
            self.fail(where, f"missing {key!r}")
        for key in sorted(set(obj) - allowed):
            # Unknown keys are refused: a misspelt key would otherwise be silently ignored.
            self.fail(where, f"unknown key {key!r}")

    def ident(self, where: str, value: object) -> str | None:
        if is_definition_id(value):
            return value  # type: ignore[return-value]
        shown = repr(value) if len(repr(value)) <= 80 else repr(value)[:77] + "..."
        self.fail(
            where,
            f"{shown} is not an id (text of 1 to {MAX_DEFINITION_ID} characters, "
            "no control characters, no space at either end)",
        )
        return None

    def string(self, where: str, value: object) -> str | None:
        if not isinstance(value, str) or not value.strip():
            self.fail(where, "must be a non-empty string")
            return None
        if len(value) > MAX_TEXT:
            self.fail(where, f"longer than {MAX_TEXT} characters ({len(value)})")
            return None
        if any(ord(ch) < 32 or 0xD800 <= ord(ch) <= 0xDFFF for ch in value):
            self.fail(where, "contains control characters")
            return None
        if len(value) > PRINTED_TEXT:
            self.warn(
                where,
                f"longer than {PRINTED_TEXT} characters: a ballot shows what fits on its line",
            )
        return value

    def text(self, where: str, value: object, plain_ok: bool = False) -> Text | None:
        """A text in every language; ``plain_ok`` lets one string stand for all of them."""
        if plain_ok and isinstance(value, str):
            s = self.string(where, value)
            return None if s is None else Text(dict.fromkeys(LANGUAGES, s))
        if not isinstance(value, dict):
            kind = "a string or " if plain_ok else ""
            self.fail(where, f"must be {kind}an object with texts in {', '.join(LANGUAGES)}")
            return None
        before = len(self.problems)
        self.keys(where, value, set(), set(LANGUAGES))
        texts = {
            lang: self.string(f"{where}.{lang}", value[lang]) for lang in LANGUAGES if lang in value
        }
        if not texts:
            self.fail(where, f"has a text in none of {', '.join(LANGUAGES)}")
        if len(self.problems) > before:
            return None
        missing = [lang for lang in LANGUAGES if lang not in texts]
        if missing:
            filled = complete_text(texts)  # type: ignore[arg-type]
            stand_ins = ", ".join(
                f"{lang} as {next(o for o in FALLBACK[lang] if o in texts)}" for lang in missing
            )
            self.warn(where, f"has no text in {', '.join(missing)}: printed {stand_ins}")
            return Text(filled)
        return Text(texts)

    def unique(self, where: str, seen: set[str], value: str | None, what: str) -> None:
        if value is None:
            return
        if value in seen:
            self.fail(where, f"duplicate {what} id {value!r}")
        seen.add(value)

    def items(self, where: str, value: object, most: int, what: str) -> Iterator[tuple[int, Any]]:
        if not isinstance(value, list) or not value:
            self.fail(where, f"must be a non-empty list of {what}")
            return
        if len(value) > most:
            self.fail(where, f"more than {most} {what} ({len(value)})")
            return
        for i, item in enumerate(value):
            if not isinstance(item, dict):
                self.fail(f"{where}[{i}]", "must be an object")
                continue
            yield i, item

    # -- the parts ----------------------------------------------------------------------

    def election(self, d: Any) -> Election:
        if not isinstance(d, dict):
            raise ElectionError(["the definition must be a JSON object"], self.source)
        self.keys(
            "",
            d,
            {"id", "title", "date", "contests", "styles"},
            {
                "format", "id", "title", "date", "end_date", "scope", "districts", "stations",
                "contests", "styles", "warn_voter",
            },
        )  # fmt: skip
        if "format" in d and d["format"] != FORMAT:
            self.fail("format", f"{d['format']!r} is not {FORMAT!r}")
        election_id = self.ident("id", d.get("id"))
        title = self.text("title", d.get("title"))
        date = self.date("date", d.get("date"))
        end_date = self.date("end_date", d["end_date"]) if "end_date" in d else date
        if date and end_date and end_date < date:
            self.fail("end_date", f"{end_date} is before the election's first day {date}")
        scope = self.scope(d.get("scope")) if d.get("scope") is not None else None
        districts = self.districts(d.get("districts")) if "districts" in d else ()
        district_ids = {x.id for x in districts}
        stations = self.stations(d.get("stations")) if "stations" in d else ()
        contests = self.contests(d.get("contests"), district_ids)
        styles, style_districts, style_stations = self.styles(
            d.get("styles"), contests, district_ids, {x.id for x in stations}
        )
        warn_voter = self.warnings(d["warn_voter"]) if "warn_voter" in d else ()
        digest = None
        normal: dict[str, Any] = {}
        if not self.problems:
            try:
                normal = normal_form(d)
                digest = definition_hash(normal)
            except ProtocolError as err:
                self.fail("", f"has no canonical form: {err}")
        if self.problems:
            raise ElectionError(self.problems, self.source, self.notes)
        assert election_id and title is not None and date and digest
        return Election(
            id=election_id,
            title=title,
            date=date,
            contests=tuple(contests.values()),
            styles=styles,
            hash=digest,
            districts=tuple(districts),
            style_districts=style_districts,
            definition=normal,
            scope=scope,
            stations=tuple(stations),
            style_stations=style_stations,
            warn_voter=warn_voter,
            end_date=end_date if end_date != date else None,
            warnings=tuple(self.notes),
        )

    def warnings(self, value: object) -> tuple[str, ...]:
        if not isinstance(value, list):
            self.fail("warn_voter", f"must be a list of {', '.join(WARNINGS)} (or empty)")
            return ()
        seen: list[str] = []
        for i, item in enumerate(value):
            if item not in WARNINGS:
                self.fail(f"warn_voter[{i}]", f"{item!r} is not one of {', '.join(WARNINGS)}")
            elif item in seen:
                self.fail(f"warn_voter[{i}]", f"{item!r} appears twice")
            else:
                seen.append(item)
        return tuple(w for w in WARNINGS if w in seen)

    def date(self, where: str, value: object) -> str | None:
        if not isinstance(value, str):
            self.fail(where, "must be a date written YYYY-MM-DD")
            return None
        try:
            # fromisoformat alone also takes week dates and compact forms.
            if len(value) != 10 or value[4] != "-" or value[7] != "-":
                raise ValueError
            datetime.date.fromisoformat(value)
        except ValueError:
            shown = repr(value) if len(value) <= 40 else repr(value[:37]) + "..."
            self.fail(where, f"{shown} is not a date written YYYY-MM-DD")
            return None
        return value

    def districts(self, value: object) -> list[District]:
        out: list[District] = []
        seen: set[str] = set()
        for i, item in self.items("districts", value, MAX_DISTRICTS, "districts"):
            where = f"districts[{i}]"
            self.keys(where, item, {"id", "name"}, {"id", "name"})
            did = self.ident(f"{where}.id", item.get("id"))
            self.unique(f"{where}.id", seen, did, "district")
            name = self.text(f"{where}.name", item.get("name"), plain_ok=True)
            if did is not None and name is not None:
                out.append(District(did, name))
        return out

    def scope(self, value: object) -> Scope | None:
        if not isinstance(value, dict):
            self.fail("scope", "must be an object with id, name and type")
            return None
        self.keys("scope", value, {"id", "name"}, {"id", "name", "type"})
        sid = self.ident("scope.id", value.get("id"))
        name = self.text("scope.name", value.get("name"), plain_ok=True)
        kind = value.get("type", "country")
        if kind not in SCOPE_TYPES:
            self.fail("scope.type", f"{kind!r} is not an area type of NIST SP 1500-100")
            return None
        if sid is None or name is None:
            return None
        return Scope(sid, name, kind)

    def stations(self, value: object) -> list[PollingStation]:
        out: list[PollingStation] = []
        seen: set[str] = set()
        for i, item in self.items("stations", value, MAX_STATIONS, "polling stations"):
            where = f"stations[{i}]"
            self.keys(where, item, {"id", "name"}, {"id", "name"})
            pid = self.ident(f"{where}.id", item.get("id"))
            self.unique(f"{where}.id", seen, pid, "station")
            name = self.text(f"{where}.name", item.get("name"), plain_ok=True)
            if pid is not None and name is not None:
                out.append(PollingStation(pid, name))
        return out

    def contests(self, value: object, districts: set[str]) -> dict[str, Contest]:
        out: dict[str, Contest] = {}
        seen: set[str] = set()
        for i, item in self.items("contests", value, MAX_CONTESTS, "contests"):
            where = f"contests[{i}]"
            before = len(self.problems)
            self.keys(
                where,
                item,
                {"id", "title", "vote_for", "options"},
                {"id", "kind", "title", "vote_for", "district", "options"},
            )
            cid = self.ident(f"{where}.id", item.get("id"))
            self.unique(f"{where}.id", seen, cid, "contest")
            title = self.text(f"{where}.title", item.get("title"))
            kind = item.get("kind", "candidate")
            if kind not in KINDS:
                self.fail(f"{where}.kind", f"{kind!r} is not one of {', '.join(KINDS)}")
            district = item.get("district")
            if district is not None and self.ident(f"{where}.district", district) is not None:
                if district not in districts:
                    self.fail(f"{where}.district", f"names district {district!r}, not defined")
            options = self.options(where, item.get("options"))
            if kind == "ballot_measure" and any(o.against_all for o in options):
                self.fail(f"{where}.options", "a ballot measure has no 'against all' option")
            vote_for = item.get("vote_for")
            choosable = sum(1 for o in options if not o.against_all)
            if not isinstance(vote_for, int) or isinstance(vote_for, bool):
                self.fail(f"{where}.vote_for", "must be a whole number")
            elif options and not 1 <= vote_for <= max(choosable, 1):
                self.fail(
                    f"{where}.vote_for",
                    f"{vote_for} is out of range: between 1 and {choosable} "
                    f"(the options other than 'against all')",
                )
            elif kind == "ballot_measure" and vote_for != 1:
                self.fail(f"{where}.vote_for", "a ballot measure takes one answer: must be 1")
            if len(self.problems) == before and cid is not None and title is not None:
                out[cid] = Contest(cid, title, vote_for, tuple(options), kind, district)
        return out

    def options(self, contest_where: str, value: object) -> list[Option]:
        out: list[Option] = []
        seen: set[str] = set()
        against = 0
        for i, item in self.items(f"{contest_where}.options", value, MAX_OPTIONS, "options"):
            where = f"{contest_where}.options[{i}]"
            self.keys(where, item, {"id", "name"}, {"id", "name", "against_all"})
            oid = self.ident(f"{where}.id", item.get("id"))
            self.unique(f"{where}.id", seen, oid, "option")
            names = self.text(f"{where}.name", item.get("name"), plain_ok=True)
            flag = item.get("against_all", False)
            if not isinstance(flag, bool):
                self.fail(f"{where}.against_all", "must be true or false")
                flag = False
            against += flag
            if oid is not None and names is not None:
                out.append(Option(oid, str(names), names, flag))
        if against > 1:
            self.fail(f"{contest_where}.options", "more than one 'against all' option")
        if out and all(o.against_all for o in out):
            self.fail(f"{contest_where}.options", "has no option other than 'against all'")
        return out

    def styles(
        self,
        value: object,
        contests: dict[str, Contest],
        districts: set[str],
        stations: set[str],
    ) -> tuple[dict[str, list[str]], dict[str, str | None], dict[str, list[str]]]:
        styles: dict[str, list[str]] = {}
        style_districts: dict[str, str | None] = {}
        style_stations: dict[str, list[str]] = {}
        seen: set[str] = set()
        used: set[str] = set()
        for i, item in self.items("styles", value, MAX_STYLES, "ballot styles"):
            where = f"styles[{i}]"
            self.keys(
                where, item, {"id", "contests"}, {"id", "contests", "district", "stations"}
            )
            sid = self.ident(f"{where}.id", item.get("id"))
            self.unique(f"{where}.id", seen, sid, "style")
            district = item.get("district")
            if district is not None and self.ident(f"{where}.district", district) is not None:
                if district not in districts:
                    self.fail(f"{where}.district", f"names district {district!r}, not defined")
            ids: list[str] = []
            for j, cid in self.plain_items(f"{where}.contests", item.get("contests")):
                at = f"{where}.contests[{j}]"
                if not is_definition_id(cid):
                    self.fail(at, f"{cid!r} is not a contest id")
                elif cid in ids:
                    self.fail(at, f"contest {cid!r} appears twice on the style")
                elif cid not in contests:
                    self.fail(at, f"names contest {cid!r}, which the election does not define")
                else:
                    contest = contests[cid]
                    # A style without a district may carry contests of several (a precinct
                    # lies in a city and in a port district at once); one that names its
                    # district carries no other district's contest.
                    if district is not None and contest.district not in (None, district):
                        self.fail(
                            at,
                            f"contest {cid!r} belongs to district {contest.district!r}, "
                            f"the style to {district!r}",
                        )
                    ids.append(cid)
                    used.add(cid)
            held_at = self.style_stations(where, item, stations) if "stations" in item else []
            if sid is not None:
                styles[sid] = ids
                style_districts[sid] = district
                style_stations[sid] = held_at
        for cid in contests:
            if cid not in used:
                # Nothing can be marked for it, but nothing is lost either: it is counted as 0.
                self.warn("styles", f"contest {cid!r} is on no ballot style: no ballot carries it")
        return styles, style_districts, style_stations

    def style_stations(self, where: str, item: dict[str, Any], stations: set[str]) -> list[str]:
        held_at: list[str] = []
        for j, pid in self.plain_items(
            f"{where}.stations", item["stations"], MAX_STATIONS, "station ids"
        ):
            at = f"{where}.stations[{j}]"
            if not is_definition_id(pid):
                self.fail(at, f"{pid!r} is not a station id")
            elif pid in held_at:
                self.fail(at, f"station {pid!r} appears twice on the style")
            elif pid not in stations:
                self.fail(at, f"names station {pid!r}, which the election does not define")
            else:
                held_at.append(pid)
        return held_at

    def plain_items(
        self, where: str, value: object, most: int = MAX_CONTESTS, what: str = "contest ids"
    ) -> Iterator[tuple[int, Any]]:
        if not isinstance(value, list) or not value:
            self.fail(where, f"must be a non-empty list of {what}")
            return
        if len(value) > most:
            self.fail(where, f"more than {most} {what.split()[0]}s")
            return
        yield from enumerate(value)
