"""NIST SP 1500-100 v2 pre-election reports ⇄ the project's election form.

``from_election_report(doc)`` checks a report against the schema, then every
reference in it (``references``), then what Shailoo needs of it, and builds the
``Election``; ``definition_from_report(doc)`` gives the project form it converts to.
Definitions come from other tools and are messy: only what stops a ballot from being
printed or counted is refused (with its place in the report); what is filled in or
left out is listed in ``Election.warnings``. ``to_election_report(election)`` writes the
other way and checks its own output. How each part maps is in ``docs/election.md``; in
short:

* ``Election.ExternalIdentifier`` (OtherType ``shailoo-election-id``, else the first
  one) is the election's id, ``Election.Name`` its title, ``StartDate`` its date and
  ``EndDate`` its last day;
* ``CandidateContest`` → ``candidate`` (``VotesAllowed`` → ``vote_for``),
  ``PartyContest`` → ``party_list``, ``BallotMeasureContest`` → ``ballot_measure``;
  ``BallotTitle`` (else ``Name``) is the title; a contest whose ``ElectionDistrictId`` is
  the election's scope is election-wide, any other names its district;
* an option's id is its selection's ``@id``, less a leading ``<contest @id>.`` when
  every selection of the contest has it; its name is the candidate's ``BallotName``,
  the party's ``Name`` or the measure selection's ``Selection``;
* "against all" is a ``BallotMeasureSelection`` carrying an ``ExternalIdentifier`` with
  OtherType ``shailoo-against-all``, in a candidate or party contest;
* a ``BallotStyle``'s id is its ``ExternalIdentifier`` (OtherType
  ``shailoo-ballot-style-id``, else the first one, else its ``GpUnitIds`` joined by
  ``+``); its ``OrderedContent`` gives its contests in order and
  its ``GpUnitIds`` the district it belongs to and the polling stations that hold it;
* what the scanner warns the voter about (``warn_voter``) is an ``Election``
  ``ExternalIdentifier`` with OtherType ``shailoo-warn-voter`` and the warnings as its
  ``Value``, separated by spaces (the standard has no place for such a rule).

The project form produced is in normal form, so its hash is the election's hash
whichever of the two files a station loads.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

from controller.election.definition import (
    FALLBACK,
    FORMAT,
    LANGUAGES,
    MAX_DEFINITION_ID,
    MAX_TEXT,
    Election,
    ElectionError,
    complete_text,
    is_definition_id,
)
from controller.nist import schemas
from controller.nist.references import (
    bad_references,
    check_references,
    index_ids,
    ncname_problems,
    short_type,
    shown,
)

REPORT = "ElectionResults.ElectionReport"
ELECTION_ID = "shailoo-election-id"
STYLE_ID = "shailoo-ballot-style-id"
AGAINST_ALL = "shailoo-against-all"
WARN_VOTER = "shailoo-warn-voter"
# Identifiers that say something other than an object's id: never taken for its id.
_NOT_IDS = frozenset({AGAINST_ALL, WARN_VOTER})
DISTRICT = "electoral-district"  # OtherType of the districts this module writes
UNSPECIFIED_SCOPE = "unspecified"  # OtherType of the scope written for a form without one
# Reporting-unit types that are places where people vote: a style's units of these types
# are the polling stations that hold it; its other units are districts.
STATION_TYPES = frozenset(
    {"polling-place", "precinct", "split-precinct", "combined-precinct", "vote-center"}
)
CONTEST_KINDS = {
    "ElectionResults.CandidateContest": "candidate",
    "ElectionResults.PartyContest": "party_list",
    "ElectionResults.BallotMeasureContest": "ballot_measure",
}
KIND_TYPES = {kind: name for name, kind in CONTEST_KINDS.items()}
VENDOR = "Shailoo"


def selection_id(contest_id: str, option_id: str) -> str:
    """The NIST ``@id`` of an option's selection: ``<contest>.<option>``.

    Option ids are unique only within their contest ("against-all" is in every one),
    while NIST ids are unique in the document; the dot cannot occur in a Shailoo id,
    so the option id is recovered from it unambiguously.
    """
    return f"{contest_id}.{option_id}"


def option_id(selection: str, contest_id: str) -> str:
    """The Shailoo option id of the selection with ``@id`` ``selection``."""
    return selection.removeprefix(contest_id + ".")


def _it(value: Any) -> dict[str, Any]:
    """A project text (one string, or ky/ru/en) as an ``InternationalizedText``."""
    if isinstance(value, str):
        # One string reads the same in every language (a person's name): one text.
        texts = [("ky", value)]
    else:
        texts = [(lang, value[lang]) for lang in LANGUAGES]
    return {
        "@type": "ElectionResults.InternationalizedText",
        "Text": [
            {"@type": "ElectionResults.LanguageString", "Content": content, "Language": lang}
            for lang, content in texts
        ],
    }


def _identifier(kind: str, value: str) -> dict[str, Any]:
    return {
        "@type": "ElectionResults.ExternalIdentifier",
        "Type": "other",
        "OtherType": kind,
        "Value": value,
    }


def is_against_all(selection: dict[str, Any]) -> bool:
    """True for a selection marked as the "against all" option."""
    return any(x.get("OtherType") == AGAINST_ALL for x in selection.get("ExternalIdentifier", []))


# References without which a ballot cannot be printed or counted: the area of the
# election and of each contest (which styles may carry it), the units a style is for,
# the contests it prints and in which order their selections, the candidate or party a
# selection stands for. Any other reference naming nothing (a candidate's PersonId, a
# party's leaders, a header) is only noted.
NEEDED_REFERENCES = frozenset(
    {
        ("Election", "ElectionScopeId"),
        ("CandidateContest", "ElectionDistrictId"),
        ("PartyContest", "ElectionDistrictId"),
        ("BallotMeasureContest", "ElectionDistrictId"),
        ("RetentionContest", "ElectionDistrictId"),
        ("BallotStyle", "GpUnitIds"),
        ("OrderedContest", "ContestId"),
        ("OrderedContest", "OrderedContestSelectionIds"),
        ("CandidateSelection", "CandidateIds"),
        ("PartySelection", "PartyIds"),
    }
)


class _Import:
    """One conversion from a report to the project form, collecting problems and warnings."""

    def __init__(self, doc: dict[str, Any]) -> None:
        self.doc = doc
        self.problems: list[str] = []
        self.warnings: list[str] = []
        self.units = {u["@id"]: u for u in doc.get("GpUnit", [])}
        self.parties = {p["@id"]: p for p in doc.get("Party", [])}
        self.headers = {h["@id"]: h for h in doc.get("Header", [])}
        self.incomplete: set[str] = set()  # contests with a selection refused

    def fail(self, where: str, message: str) -> None:
        self.problems.append(f"{where}: {message}")

    def warn(self, where: str, message: str) -> None:
        self.warnings.append(f"{where}: {message}")

    # -- small parts ---------------------------------------------------------------

    def text(self, where: str, value: dict[str, Any], name: bool) -> Any:
        """``InternationalizedText`` → ky/ru/en dict; a name may also be one single text.

        A language missing is filled in from those present (``complete_text``), with a
        warning; a text in none of ky, ru, en is printed in the language it has.
        """
        strings = []
        for k, string in enumerate(value["Text"]):
            if not self.printable(f"{where}.Text[{k}].Content", string["Content"]):
                return None
            if string["Content"].strip():
                strings.append(string)
            else:
                self.warn(f"{where}.Text[{k}]", "is empty: left out")
        if not strings:
            self.fail(where, "has no text but empty ones: nothing to print")
            return None
        if name and len(strings) == 1:
            return strings[0]["Content"]
        by_language: dict[str, str] = {}
        for s in strings:
            language = s["Language"].split("-")[0].lower()  # "ru-KG" is Russian
            if language in by_language:
                if s["Content"] != by_language[language]:
                    self.warn(where, f"has two texts in {language!r}: the first is printed")
                continue
            by_language[language] = s["Content"]
        known = {lang: by_language[lang] for lang in LANGUAGES if lang in by_language}
        if not known:
            first = strings[0]
            self.warn(
                where,
                f"has no text in {', '.join(LANGUAGES)}: its {first['Language']!r} text is "
                "printed for every language",
            )
            return first["Content"] if name else dict.fromkeys(LANGUAGES, first["Content"])
        missing = [lang for lang in LANGUAGES if lang not in known]
        if missing:
            filled = complete_text(known)
            stand_ins = ", ".join(
                f"{lang} as {next(o for o in FALLBACK[lang] if o in known)}" for lang in missing
            )
            self.warn(where, f"has no text in {', '.join(missing)}: printed {stand_ins}")
            return filled
        return known

    def printable(self, where: str, content: str) -> bool:
        """Whether a text can be printed; a huge one is refused here, at its own place."""
        if len(content) > MAX_TEXT:
            self.fail(where, f"longer than {MAX_TEXT} characters ({len(content)})")
            return False
        return True

    def ident(self, where: str, value: str, what: str) -> str | None:
        if is_definition_id(value):
            return value
        shown = repr(value) if len(value) <= 80 else repr(value[:77]) + "..."
        self.fail(
            where,
            f"{shown} cannot be the {what}'s id: 1 to {MAX_DEFINITION_ID} characters, "
            "no control characters, no space at either end",
        )
        return None

    def external_id(self, where: str, obj: dict[str, Any], kind: str) -> str | None:
        """The id an object without ``@id`` carries as an ``ExternalIdentifier``.

        Shailoo's own identifier (``kind``) wins; otherwise the first other identifier
        (with a warning when there are several); None when there is none.
        """
        found = obj.get("ExternalIdentifier", [])
        marked = [x["Value"] for x in found if x.get("OtherType") == kind]
        if len(marked) > 1:
            self.fail(f"{where}.ExternalIdentifier", f"has {len(marked)} identifiers {kind!r}")
            return None
        if marked:
            return marked[0]
        others = [x for x in found if x.get("OtherType") not in _NOT_IDS]
        if len(others) > 1:
            self.warn(
                f"{where}.ExternalIdentifier",
                f"{len(others)} identifiers and none with OtherType {kind!r}: the first, "
                f"{shown(others[0]['Value'])}, is taken for the id",
            )
        return others[0]["Value"] if others else None

    # -- the report ------------------------------------------------------------------

    def definition(self) -> dict[str, Any]:
        doc = self.doc
        if doc["Status"] != "pre-election":
            self.fail("Status", f"{doc['Status']!r}: an election definition is 'pre-election'")
        election = doc["Election"][0]
        at = "Election[0]"
        out: dict[str, Any] = {"format": FORMAT}
        eid = self.external_id(at, election, ELECTION_ID)
        if eid is None:
            # Made from what the file says, so the same file always gets the same id.
            eid = f"{election['ElectionScopeId']}-{election['StartDate']}"
            self.warn(f"{at}.ExternalIdentifier", f"none: the election's id is {shown(eid)}")
        out["id"] = self.ident(f"{at}.ExternalIdentifier", eid, "election")
        out["title"] = self.text(f"{at}.Name", election["Name"], name=False)
        warnings = self.warnings_rule(f"{at}.ExternalIdentifier", election)
        if warnings is not None:
            out["warn_voter"] = warnings
        out["date"] = election["StartDate"]
        if election["EndDate"] < election["StartDate"]:
            self.fail(f"{at}.EndDate", f"{election['EndDate']} is before StartDate")
        elif election["EndDate"] != election["StartDate"]:
            out["end_date"] = election["EndDate"]
        scope_id = election["ElectionScopeId"]
        scope = self.scope(scope_id)
        if scope is not None:
            out["scope"] = scope
        contests = list(self.contests(election, scope_id))
        styles_in = election.get("BallotStyle", [])
        districts = self.districts(contests, styles_in, scope_id)
        stations = self.stations(districts, scope_id)
        if districts:
            out["districts"] = [{"id": u, "name": self.unit_name(u)} for u in districts]
        if stations:
            out["stations"] = [{"id": u, "name": self.unit_name(u)} for u in stations]
        out["contests"] = [c for c, _ in contests]
        selections = {sid: (c["id"], oid) for c, ids in contests for sid, oid in ids.items()}
        by_id = {c["id"]: c for c, _ in contests}
        taken: set[str] = set()
        out["styles"] = [
            self.style(f"{at}.BallotStyle[{k}]", k, style, districts, scope_id, by_id,
                       selections, taken)
            for k, style in enumerate(styles_in)
        ]  # fmt: skip
        if not styles_in:
            self.fail(f"{at}.BallotStyle", "no ballot styles: Shailoo prints ballots by style")
        return out

    def warnings_rule(self, where: str, election: dict[str, Any]) -> list[str] | None:
        """The ``warn_voter`` rule an election carries, if it carries one."""
        found = [
            x["Value"] for x in election.get("ExternalIdentifier", [])
            if x.get("OtherType") == WARN_VOTER
        ]  # fmt: skip
        if not found:
            return None
        if len(found) > 1:
            self.fail(where, f"has {len(found)} identifiers {WARN_VOTER!r}")
            return None
        # Checked with the rest of the converted form: an unknown word is named there.
        return found[0].split()

    def unit_name(self, unit_id: str) -> Any:
        unit = self.units[unit_id]
        if "Name" not in unit:
            self.warn(f"GpUnit {shown(unit_id)}", "has no Name: its @id is printed instead")
            return unit_id
        return self.text(f"GpUnit {shown(unit_id)}.Name", unit["Name"], name=True)

    def is_unit(self, unit_id: str) -> bool:
        unit = self.units.get(unit_id)
        return unit is not None and unit["@type"].endswith("ReportingUnit")

    def scope(self, scope_id: str) -> dict[str, Any] | None:
        if not self.is_unit(scope_id):
            # Its reference is noted already; the election is printed without a scope.
            return None
        unit = self.units[scope_id]
        if unit.get("OtherType") == UNSPECIFIED_SCOPE and "Name" not in unit:
            return None  # the stand-in written for a definition that names no scope
        sid = self.ident(f"GpUnit {shown(scope_id)}.@id", scope_id, "scope")
        return {"id": sid, "name": self.unit_name(scope_id), "type": unit["Type"]}

    def contests(
        self, election: dict[str, Any], scope_id: str
    ) -> Iterator[tuple[dict[str, Any], dict[str, str]]]:
        candidates = {c["@id"]: c for c in election.get("Candidate", [])}
        items = election.get("Contest", [])
        if not items:
            self.fail("Election[0].Contest", "no contests")
        for i, contest in enumerate(items):
            kind_name = short_type(contest["@type"])
            where = f"Election[0].Contest[{i}] ({kind_name} {shown(contest['@id'])})"
            kind = CONTEST_KINDS.get(contest["@type"])
            if kind is None:
                self.fail(where, f"a {short_type(contest['@type'])} is not supported")
                continue
            cid = self.ident(f"{where}.@id", contest["@id"], "contest") or contest["@id"]
            title = contest.get("BallotTitle")
            if title is not None and not any(t["Content"].strip() for t in title["Text"]):
                title = None  # an empty title is no title
            if title is None:
                self.warn(where, "has no BallotTitle: its Name is printed")
                name = contest["Name"]
                printable = self.printable(f"{where}.Name", name)
                title_text: Any = dict.fromkeys(LANGUAGES, name) if printable else None
            else:
                title_text = self.text(f"{where}.BallotTitle", title, False)
            out: dict[str, Any] = {
                "id": cid,
                "kind": kind,
                "title": title_text,
                "vote_for": contest.get("VotesAllowed", 1),
            }
            district = contest["ElectionDistrictId"]
            if district != scope_id and self.is_unit(district):
                out["district"] = district
            ids: dict[str, str] = {}
            options = []
            selections = self.in_sequence(contest.get("ContestSelection", []))
            if not selections:
                self.fail(f"{where}.ContestSelection", "no selections to mark")
            strip = self.option_prefix(contest["@id"], [s for _, s in selections])
            for j, selection in selections:
                at = f"{where}.ContestSelection[{j}]"
                option = self.option(at, selection, kind, cid, strip, candidates)
                if option is not None:
                    options.append(option)
                    ids[selection["@id"]] = option["id"]
                else:
                    self.incomplete.add(cid)
            out["options"] = options
            yield out, ids

    def in_sequence(self, selections: list[dict[str, Any]]) -> list[tuple[int, dict[str, Any]]]:
        """The selections with their places, in ``SequenceOrder`` when every one has one."""
        numbered = list(enumerate(selections))
        if numbered and all("SequenceOrder" in s for s in selections):
            numbered.sort(key=lambda item: item[1]["SequenceOrder"])
        return numbered

    def option_prefix(self, contest_id: str, selections: list[dict[str, Any]]) -> str:
        """``<contest>.`` when every selection's ``@id`` starts with it (as Shailoo writes
        them) and the option ids left are unique and not empty; else nothing is cut."""
        prefix = contest_id + "."
        rest = [s["@id"].removeprefix(prefix) for s in selections]
        if all(s["@id"].startswith(prefix) for s in selections) and all(rest):
            if len(set(rest)) == len(rest):
                return prefix
        return ""

    def option(
        self,
        at: str,
        selection: dict[str, Any],
        kind: str,
        contest_id: str,
        prefix: str,
        candidates: dict[str, dict[str, Any]],
    ) -> dict[str, Any] | None:
        oid = self.ident(f"{at}.@id", selection["@id"].removeprefix(prefix), "option")
        stype = selection["@type"].split(".")[-1]
        against = is_against_all(selection)
        if against and kind == "ballot_measure":
            self.fail(at, "a ballot measure has no 'against all' option")
            return None
        if against and stype != "BallotMeasureSelection":
            self.fail(at, f"'against all' is written as a BallotMeasureSelection, not a {stype}")
            return None
        expected = {
            "candidate": "CandidateSelection",
            "party_list": "PartySelection",
            "ballot_measure": "BallotMeasureSelection",
        }[kind]
        if not against and stype != expected:
            self.fail(at, f"a {stype} in a contest whose selections are {expected}s")
            return None
        if against or stype == "BallotMeasureSelection":
            name = self.text(f"{at}.Selection", selection["Selection"], name=True)
        elif stype == "CandidateSelection":
            name = self.candidate_name(at, selection, candidates)
        else:
            name = self.party_name(at, selection)
        if oid is None or name is None:
            return None
        out: dict[str, Any] = {"id": oid, "name": name}
        if against:
            out["against_all"] = True
        return out

    def candidate_name(
        self, at: str, selection: dict[str, Any], candidates: dict[str, dict[str, Any]]
    ) -> Any:
        if selection.get("IsWriteIn"):
            self.fail(
                f"{at}.IsWriteIn",
                "write-in selections are not supported: the scanner cannot read a written "
                "name (remove the write-in selections to print this contest)",
            )
            return None
        ids = selection.get("CandidateIds", [])
        if len(ids) != 1:
            self.fail(f"{at}.CandidateIds", f"must name one candidate, not {len(ids)}")
            return None
        if ids[0] not in candidates:
            self.fail(
                f"{at}.CandidateIds[0]", f"{shown(ids[0])} is not a candidate of this election"
            )
            return None
        candidate = candidates[ids[0]]
        where = f"Candidate {shown(ids[0])}.BallotName"
        return self.text(where, candidate["BallotName"], name=True)

    def party_name(self, at: str, selection: dict[str, Any]) -> Any:
        ids = selection["PartyIds"]
        if len(ids) != 1:
            self.fail(f"{at}.PartyIds", f"must name one party (or coalition), not {len(ids)}")
            return None
        if ids[0] not in self.parties:
            return None  # a reference naming nothing or another kind: refused already
        return self.text(f"Party {shown(ids[0])}.Name", self.parties[ids[0]]["Name"], name=True)

    def districts(
        self,
        contests: list[tuple[dict[str, Any], dict[str, str]]],
        styles: list[dict[str, Any]],
        scope_id: str,
    ) -> list[str]:
        named = {c["district"] for c, _ in contests if "district" in c}
        for style in styles:
            for unit_id in style["GpUnitIds"]:
                if self.is_unit(unit_id) and self.units[unit_id]["Type"] not in STATION_TYPES:
                    named.add(unit_id)
        for unit_id, unit in self.units.items():
            if unit.get("OtherType") == DISTRICT:
                named.add(unit_id)
        named.discard(scope_id)
        out = []
        for unit_id in self.units:  # in document order
            if unit_id in named:
                at = f"GpUnit {shown(unit_id)}.@id"
                out.append(self.ident(at, unit_id, "district") or unit_id)
        return out

    def stations(self, districts: list[str], scope_id: str) -> list[str]:
        out = []
        for unit_id, unit in self.units.items():
            if unit_id in districts or unit_id == scope_id:
                continue
            if unit["@type"].endswith("ReportingUnit") and unit["Type"] in STATION_TYPES:
                at = f"GpUnit {shown(unit_id)}.@id"
                out.append(self.ident(at, unit_id, "station") or unit_id)
        return out

    def style_id(self, where: str, k: int, style: dict[str, Any], taken: set[str]) -> str | None:
        sid = self.external_id(where, style, STYLE_ID)
        if sid is not None:
            return self.ident(f"{where}.ExternalIdentifier", sid, "style")
        # Named after the units it is for, as a poll worker knows them; the place in the
        # list only where two styles are for the same units.
        sid = "+".join(style["GpUnitIds"])
        if sid in taken or not is_definition_id(sid):
            sid = f"style-{k + 1}"
        self.warn(f"{where}.ExternalIdentifier", f"none: the style's id is {sid!r}")
        return sid

    def style(
        self,
        where: str,
        k: int,
        style: dict[str, Any],
        districts: list[str],
        scope_id: str,
        contests: dict[str, dict[str, Any]],
        selections: dict[str, tuple[str, str]],
        taken: set[str],
    ) -> dict[str, Any]:
        sid = self.style_id(where, k, style, taken)
        if sid is not None:
            taken.add(sid)
        out: dict[str, Any] = {"id": sid}
        held_at: list[str] = []
        own: list[str] = []
        for n, unit_id in enumerate(style["GpUnitIds"]):
            at = f"{where}.GpUnitIds[{n}]"
            unit = self.units.get(unit_id)
            if unit is None:
                continue  # refused with the references
            if unit["@type"].endswith("ReportingDevice"):
                self.fail(
                    at, f"{shown(unit_id)} is a ReportingDevice: a style is held at a station"
                )
            elif unit_id in districts:
                own.append(unit_id)
            elif unit_id != scope_id:
                held_at.append(unit_id)
        ids = []
        for at, cid, listed in self.ordered(f"{where}.OrderedContent", style.get("OrderedContent")):
            ids.append(cid)
            if listed is not None and cid in contests and cid not in self.incomplete:
                self.selection_order(at, listed, contests[cid], selections)
        if not ids:
            self.fail(f"{where}.OrderedContent", "lists no contests: Shailoo prints them in order")
        if len(own) > 1:
            # Districts overlap (a city, a port district): such a style has no single one.
            self.warn(
                f"{where}.GpUnitIds",
                f"names {len(own)} districts ({', '.join(map(repr, own))}): printed without one",
            )
        if not own:
            # Units named are stations only: the style's district is that of its contests.
            known = [contests[c] for c in ids if c in contests]
            own = sorted({c["district"] for c in known if "district" in c})
        out["contests"] = ids
        if len(own) == 1:
            out["district"] = own[0]
        if held_at:
            out["stations"] = held_at
        return out

    def ordered(
        self, where: str, content: list[dict[str, Any]] | None
    ) -> Iterator[tuple[str, str, list[str] | None]]:
        """The contests of an ``OrderedContent``, headers flattened, with their paths."""
        todo = [(f"{where}[{i}]", item) for i, item in enumerate(content or [])]
        todo.reverse()
        while todo:
            at, item = todo.pop()
            if item["@type"].endswith("OrderedHeader"):
                inner = item.get("OrderedContent", [])
                todo.extend(
                    (f"{at}.OrderedContent[{i}]", x) for i, x in reversed(list(enumerate(inner)))
                )
                continue
            yield at, item["ContestId"], item.get("OrderedContestSelectionIds")

    def selection_order(
        self,
        where: str,
        listed: list[str],
        contest: dict[str, Any],
        selections: dict[str, tuple[str, str]],
    ) -> None:
        order = []
        for k, sid in enumerate(listed):
            owner = selections.get(sid)
            if owner is not None and owner[0] != contest["id"]:
                self.fail(
                    f"{where}.OrderedContestSelectionIds[{k}]",
                    f"{shown(sid)} is a selection of contest {shown(owner[0])}, "
                    f"not of {shown(contest['id'])}",
                )
                return
            order.append(owner[1] if owner else sid)
        if order != [o["id"] for o in contest["options"]]:
            self.fail(
                f"{where}.OrderedContestSelectionIds",
                f"lists the options of {shown(contest['id'])} in another order or not all of them: "
                "Shailoo prints every option of a contest, in one order on every style",
            )


def _read_report(doc: Any, source: str) -> tuple[dict[str, Any], list[str]]:
    """The project form of ``doc`` and the warnings, or ``ElectionError`` with the problems."""
    if not isinstance(doc, dict) or doc.get("@type") != REPORT:
        found = doc.get("@type") if isinstance(doc, dict) else type(doc).__name__
        if isinstance(found, str) and len(found) > 80:
            found = found[:77] + "..."
        raise ElectionError(
            [f"@type {found!r} is not {REPORT!r}: not a NIST SP 1500-100 election report"],
            source,
        )
    problems = schemas.validate(doc, schemas.ELECTION_REPORT)
    if problems:
        raise ElectionError(["does not follow the NIST SP 1500-100 schema"] + problems, source)
    if len(doc.get("Election", [])) != 1:
        found = len(doc.get("Election", []))
        raise ElectionError([f"Election: must hold exactly one election, not {found}"], source)
    _, problems = index_ids(doc)
    bad = bad_references(doc, schemas.ELECTION_REPORT)
    problems += [b.message for b in bad if (b.owner, b.field) in NEEDED_REFERENCES]
    noted = [f"{b.message}: left out" for b in bad if (b.owner, b.field) not in NEEDED_REFERENCES]
    noted += [f"{p}: kept as it is" for p in ncname_problems(doc)]
    if problems:
        raise ElectionError(problems, source, noted)
    importer = _Import(doc)
    importer.warnings += noted
    definition = importer.definition()
    if importer.problems:
        raise ElectionError(importer.problems, source, importer.warnings)
    return definition, importer.warnings


def definition_from_report(doc: Any, source: str = "election") -> dict[str, Any]:
    """The project form (normal form) of the NIST SP 1500-100 report ``doc``.

    Raises ``ElectionError`` listing every problem: schema violations first (then
    nothing else is checked), then ids given twice and references without which a
    ballot cannot be printed (a style's units, its contests, a selection's candidate),
    then what Shailoo cannot print or count. What is only filled in is not a problem:
    ``from_election_report`` lists it in ``Election.warnings``.
    """
    definition, _ = _read_report(doc, source)
    return definition


def from_election_report(doc: Any, source: str = "election") -> Election:
    """Check a NIST SP 1500-100 pre-election report and build the election it defines."""
    definition, warnings = _read_report(doc, source)
    try:
        election = Election.from_dict(definition, source)
    except ElectionError as err:
        # Left are rules of the election itself (a vote_for out of range, a style naming
        # a district contest of another district); they are named in the project form's
        # terms, which docs/election.md maps.
        raise ElectionError(
            [f"as converted: {p}" for p in err.problems],
            source,
            warnings + [f"as converted: {w}" for w in err.warnings],
        ) from None
    return dataclasses.replace(
        election,
        warnings=tuple(warnings) + tuple(f"as converted: {w}" for w in election.warnings),
    )


# -- export ------------------------------------------------------------------------------


def _stamp(moment: datetime | None) -> str:
    moment = moment or datetime.now(UTC)
    if moment.tzinfo is None:
        raise ValueError("the report's GeneratedDate needs a time zone")
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class _Export:
    def __init__(self, d: dict[str, Any]) -> None:
        self.d = d
        self.problems: list[str] = []
        self.owners: dict[str, str] = {}
        self.parties: dict[str, dict[str, Any]] = {}
        self.candidates: dict[str, dict[str, Any]] = {}

    def claim(self, nist_id: str, owner: str) -> None:
        """One @id per object in a NIST document: two project objects may not share one."""
        if nist_id in self.owners and self.owners[nist_id] != owner:
            self.problems.append(
                f"{self.owners[nist_id]} and {owner} would share the NIST @id {nist_id!r}: "
                "rename one"
            )
        self.owners.setdefault(nist_id, owner)

    def shared(self, pool: dict[str, dict[str, Any]], obj: dict[str, Any], what: str) -> None:
        """A party or candidate named by options of several contests is one object."""
        oid = obj["@id"]
        if oid in pool and pool[oid] != obj:
            self.problems.append(f"option id {oid!r} names two different {what}s")
        pool.setdefault(oid, obj)

    def scope_unit(self) -> dict[str, Any]:
        scope = self.d.get("scope")
        if scope is None:
            unit_id = f"{self.d['id']}.scope"
            self.claim(unit_id, "the election's scope")
            return {
                "@id": unit_id,
                "@type": "ElectionResults.ReportingUnit",
                "Type": "other",
                "OtherType": UNSPECIFIED_SCOPE,
            }
        self.claim(scope["id"], f"scope {scope['id']!r}")
        unit = {
            "@id": scope["id"],
            "@type": "ElectionResults.ReportingUnit",
            "Name": _it(scope["name"]),
            "Type": scope["type"],
        }
        if scope["type"] == "other":
            unit["OtherType"] = "area"
        return unit

    def units(self, scope: dict[str, Any]) -> list[dict[str, Any]]:
        out = [scope]
        for district in self.d.get("districts", []):
            self.claim(district["id"], f"district {district['id']!r}")
            out.append(
                {
                    "@id": district["id"],
                    "@type": "ElectionResults.ReportingUnit",
                    "Name": _it(district["name"]),
                    "Type": "other",
                    "OtherType": DISTRICT,
                }
            )
        for station in self.d.get("stations", []):
            self.claim(station["id"], f"station {station['id']!r}")
            out.append(
                {
                    "@id": station["id"],
                    "@type": "ElectionResults.ReportingUnit",
                    "Name": _it(station["name"]),
                    "Type": "polling-place",
                }
            )
        return out

    def contest(self, c: dict[str, Any], scope_id: str) -> dict[str, Any]:
        cid = c["id"]
        self.claim(cid, f"contest {cid!r}")
        out: dict[str, Any] = {
            "@id": cid,
            "@type": KIND_TYPES[c["kind"]],
            "Name": c["title"]["en"],
            "BallotTitle": _it(c["title"]),
            "ElectionDistrictId": c.get("district", scope_id),
        }
        if c["kind"] == "candidate":
            out["VotesAllowed"] = c["vote_for"]
            out["VoteVariation"] = "plurality" if c["vote_for"] == 1 else "n-of-m"
        elif c["kind"] == "party_list":
            if c["vote_for"] != 1:
                self.problems.append(
                    f"contest {cid!r}: a NIST PartyContest takes one mark, not {c['vote_for']}"
                )
            out["VoteVariation"] = "proportional"
        out["ContestSelection"] = [self.selection(c, o) for o in c["options"]]
        return out

    def selection(self, c: dict[str, Any], o: dict[str, Any]) -> dict[str, Any]:
        sid = selection_id(c["id"], o["id"])
        if o.get("against_all"):
            return {
                "@id": sid,
                "@type": "ElectionResults.BallotMeasureSelection",
                "ExternalIdentifier": [_identifier(AGAINST_ALL, "true")],
                "Selection": _it(o["name"]),
            }
        if c["kind"] == "ballot_measure":
            return {
                "@id": sid,
                "@type": "ElectionResults.BallotMeasureSelection",
                "Selection": _it(o["name"]),
            }
        if c["kind"] == "party_list":
            self.claim(o["id"], f"party {o['id']!r}")
            party = {"@id": o["id"], "@type": "ElectionResults.Party", "Name": _it(o["name"])}
            self.shared(self.parties, party, "party")
            return {"@id": sid, "@type": "ElectionResults.PartySelection", "PartyIds": [o["id"]]}
        self.claim(o["id"], f"candidate {o['id']!r}")
        candidate = {
            "@id": o["id"],
            "@type": "ElectionResults.Candidate",
            "BallotName": _it(o["name"]),
        }
        self.shared(self.candidates, candidate, "candidate")
        return {
            "@id": sid,
            "@type": "ElectionResults.CandidateSelection",
            "CandidateIds": [o["id"]],
        }

    def style(self, s: dict[str, Any], scope_id: str, options: dict[str, list[str]]) -> Any:
        units = ([s["district"]] if "district" in s else []) + s.get("stations", [])
        return {
            "@type": "ElectionResults.BallotStyle",
            "ExternalIdentifier": [_identifier(STYLE_ID, s["id"])],
            "GpUnitIds": units or [scope_id],
            "OrderedContent": [
                {
                    "@type": "ElectionResults.OrderedContest",
                    "ContestId": cid,
                    "OrderedContestSelectionIds": [selection_id(cid, o) for o in options[cid]],
                }
                for cid in s["contests"]
            ],
        }


def to_election_report(
    election: Election,
    generated: datetime | None = None,
    issuer: str = VENDOR,
    issuer_abbreviation: str = VENDOR,
) -> dict[str, Any]:
    """The NIST SP 1500-100 v2 pre-election report of ``election``, checked before returned.

    ``generated`` is the report's ``GeneratedDate`` (now when None); ``issuer`` and
    ``issuer_abbreviation`` name who issues it (the project form does not say). Raises
    ``ElectionError`` when the election cannot be written in NIST form (ids that are not
    XML NCNames, two objects sharing one id, a party list taking more than one mark).
    """
    d = election.to_dict()
    export = _Export(d)
    scope = export.scope_unit()
    units = export.units(scope)
    contests = [export.contest(c, scope["@id"]) for c in d["contests"]]
    options = {c["id"]: [o["id"] for o in c["options"]] for c in d["contests"]}
    identifiers = [_identifier(ELECTION_ID, d["id"])]
    if d.get("warn_voter"):
        identifiers.append(_identifier(WARN_VOTER, " ".join(d["warn_voter"])))
    body: dict[str, Any] = {
        "@type": "ElectionResults.Election",
        "ExternalIdentifier": identifiers,
        "Name": _it(d["title"]),
        "StartDate": d["date"],
        "EndDate": d.get("end_date", d["date"]),
        "Type": "general",
        "ElectionScopeId": scope["@id"],
        "Contest": contests,
        "BallotStyle": [export.style(s, scope["@id"], options) for s in d["styles"]],
    }
    if export.candidates:
        body["Candidate"] = list(export.candidates.values())
    report: dict[str, Any] = {
        "@type": REPORT,
        "Format": "summary-contest",
        "GeneratedDate": _stamp(generated),
        "Issuer": issuer,
        "IssuerAbbreviation": issuer_abbreviation,
        "SequenceStart": 1,
        "SequenceEnd": 1,
        "Status": "pre-election",
        "VendorApplicationId": VENDOR,
        "Election": [body],
        "GpUnit": units,
    }
    if export.parties:
        report["Party"] = list(export.parties.values())
    problems = export.problems
    if not problems:
        problems = schemas.validate(report, schemas.ELECTION_REPORT) or check_references(
            report, schemas.ELECTION_REPORT
        )
    if problems:
        raise ElectionError(
            ["cannot be written as a NIST SP 1500-100 report"] + problems, election.id
        )
    return report
