"""NIST SP 1500-100 v2 pre-election reports ⇄ the project's election form.

``from_election_report(doc)`` checks a report against the schema, then every
reference in it (``references``), then what Shailoo needs of it, and builds the
``Election``; ``definition_from_report(doc)`` gives the project form it converts to.
``to_election_report(election)`` writes the other way and checks its own output the
same way. How each part maps is in ``docs/election.md``; in short:

* ``Election.ExternalIdentifier`` (OtherType ``shailoo-election-id``) is the election's
  id, ``Election.Name`` its title, ``StartDate`` = ``EndDate`` its date;
* ``CandidateContest`` → ``candidate`` (``VotesAllowed`` → ``vote_for``),
  ``PartyContest`` → ``party_list``, ``BallotMeasureContest`` → ``ballot_measure``;
  ``BallotTitle`` is the title; a contest whose ``ElectionDistrictId`` is the
  election's scope is election-wide, any other names its district;
* an option's id is its selection's ``@id`` less a leading ``<contest @id>.``; its name
  is the candidate's ``BallotName``, the party's ``Name`` or the measure selection's
  ``Selection``;
* "against all" is a ``BallotMeasureSelection`` carrying an ``ExternalIdentifier`` with
  OtherType ``shailoo-against-all``, in a candidate or party contest;
* a ``BallotStyle``'s id is its ``ExternalIdentifier`` (OtherType
  ``shailoo-ballot-style-id``); its ``OrderedContent`` gives its contests in order and
  its ``GpUnitIds`` the district it belongs to and the polling stations that hold it;
* what the scanner warns the voter about (``warn_voter``) is an ``Election``
  ``ExternalIdentifier`` with OtherType ``shailoo-warn-voter`` and the warnings as its
  ``Value``, separated by spaces (the standard has no place for such a rule).

The project form produced is in normal form, so its hash is the election's hash
whichever of the two files a station loads.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

from controller.election import (
    FORMAT,
    LANGUAGES,
    Election,
    ElectionError,
    is_id,
)
from controller.nist import schemas
from controller.nist.references import check_references, short_type

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


class _Import:
    """One conversion from a report to the project form, collecting every problem."""

    def __init__(self, doc: dict[str, Any]) -> None:
        self.doc = doc
        self.problems: list[str] = []
        self.units = {u["@id"]: u for u in doc.get("GpUnit", [])}
        self.parties = {p["@id"]: p for p in doc.get("Party", [])}
        self.headers = {h["@id"]: h for h in doc.get("Header", [])}

    def fail(self, where: str, message: str) -> None:
        self.problems.append(f"{where}: {message}")

    # -- small parts ---------------------------------------------------------------

    def text(self, where: str, value: Any, name: bool) -> Any:
        """``InternationalizedText`` → ky/ru/en dict; a name may also be one single text."""
        if value is None:
            self.fail(where, "missing (Shailoo prints it)")
            return None
        strings = value["Text"]
        if name and len(strings) == 1:
            return strings[0]["Content"]
        by_language: dict[str, str] = {}
        for s in strings:
            language = s["Language"].split("-")[0].lower()  # "ru-KG" is Russian
            if language in by_language:
                self.fail(where, f"has two texts in {language!r}")
            by_language[language] = s["Content"]
        missing = [lang for lang in LANGUAGES if lang not in by_language]
        if missing:
            alternative = ", or one single text for a name" if name else ""
            self.fail(
                where,
                f"has no text in {', '.join(missing)} (Shailoo prints ky, ru and en{alternative})",
            )
            return None
        return {lang: by_language[lang] for lang in LANGUAGES}

    def ident(self, where: str, value: str, what: str) -> str | None:
        if is_id(value):
            return value
        self.fail(
            where,
            f"{value!r} cannot be a Shailoo {what} id (1 to 32 of a-z, 0-9 and '-', "
            "starting with a letter or digit): ids travel on the ballot's code",
        )
        return None

    def external_id(self, where: str, obj: dict[str, Any], kind: str) -> str | None:
        """The id an object without ``@id`` carries as an ``ExternalIdentifier``."""
        found = obj.get("ExternalIdentifier", [])
        marked = [x["Value"] for x in found if x.get("OtherType") == kind]
        if len(marked) > 1:
            self.fail(f"{where}.ExternalIdentifier", f"has {len(marked)} identifiers {kind!r}")
            return None
        if marked:
            return marked[0]
        others = [x for x in found if x.get("OtherType") not in _NOT_IDS]
        if len(others) == 1:
            return others[0]["Value"]
        self.fail(
            f"{where}.ExternalIdentifier",
            f"no id: give an ExternalIdentifier with Type 'other' and OtherType {kind!r}",
        )
        return None

    # -- the report ------------------------------------------------------------------

    def definition(self) -> dict[str, Any]:
        doc = self.doc
        if doc["Status"] != "pre-election":
            self.fail("Status", f"{doc['Status']!r}: an election definition is 'pre-election'")
        election = doc["Election"][0]
        at = "Election[0]"
        out: dict[str, Any] = {"format": FORMAT}
        eid = self.external_id(at, election, ELECTION_ID)
        out["id"] = eid and self.ident(f"{at}.ExternalIdentifier", eid, "election")
        out["title"] = self.text(f"{at}.Name", election["Name"], name=False)
        warnings = self.warnings(f"{at}.ExternalIdentifier", election)
        if warnings is not None:
            out["warn_voter"] = warnings
        if election["StartDate"] != election["EndDate"]:
            self.fail(f"{at}.EndDate", "an election runs on one day: StartDate and EndDate differ")
        out["date"] = election["StartDate"]
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
        out["styles"] = [
            self.style(f"{at}.BallotStyle[{k}]", style, districts, scope_id, by_id, selections)
            for k, style in enumerate(styles_in)
        ]
        if not styles_in:
            self.fail(f"{at}.BallotStyle", "no ballot styles: Shailoo prints ballots by style")
        if self.problems:
            raise ElectionError(self.problems)
        return out

    def warnings(self, where: str, election: dict[str, Any]) -> list[str] | None:
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
        return self.text(f"GpUnit {unit_id!r}.Name", unit.get("Name"), name=True)

    def scope(self, scope_id: str) -> dict[str, Any] | None:
        unit = self.units[scope_id]
        if unit.get("OtherType") == UNSPECIFIED_SCOPE and "Name" not in unit:
            return None  # the stand-in written for a definition that names no scope
        sid = self.ident(f"GpUnit {scope_id!r}.@id", scope_id, "scope")
        return {"id": sid, "name": self.unit_name(scope_id), "type": unit["Type"]}

    def contests(
        self, election: dict[str, Any], scope_id: str
    ) -> Iterator[tuple[dict[str, Any], dict[str, str]]]:
        candidates = {c["@id"]: c for c in election.get("Candidate", [])}
        items = election.get("Contest", [])
        if not items:
            self.fail("Election[0].Contest", "no contests")
        for i, contest in enumerate(items):
            where = f"Election[0].Contest[{i}] ({short_type(contest['@type'])} {contest['@id']!r})"
            kind = CONTEST_KINDS.get(contest["@type"])
            if kind is None:
                self.fail(where, f"a {short_type(contest['@type'])} is not supported")
                continue
            cid = self.ident(f"{where}.@id", contest["@id"], "contest") or contest["@id"]
            out: dict[str, Any] = {
                "id": cid,
                "kind": kind,
                "title": self.text(f"{where}.BallotTitle", contest.get("BallotTitle"), False),
                "vote_for": contest.get("VotesAllowed", 1),
            }
            if contest["ElectionDistrictId"] != scope_id:
                out["district"] = contest["ElectionDistrictId"]
            ids: dict[str, str] = {}
            options = []
            selections = contest.get("ContestSelection", [])
            if not selections:
                self.fail(f"{where}.ContestSelection", "no selections to mark")
            for j, selection in enumerate(selections):
                at = f"{where}.ContestSelection[{j}]"
                option = self.option(at, selection, kind, cid, candidates)
                if option is not None:
                    options.append(option)
                    ids[selection["@id"]] = option["id"]
            out["options"] = options
            yield out, ids

    def option(
        self,
        at: str,
        selection: dict[str, Any],
        kind: str,
        contest_id: str,
        candidates: dict[str, dict[str, Any]],
    ) -> dict[str, Any] | None:
        oid = self.ident(f"{at}.@id", option_id(selection["@id"], contest_id), "option")
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
            self.fail(f"{at}.IsWriteIn", "write-in selections are not supported")
            return None
        ids = selection.get("CandidateIds", [])
        if len(ids) != 1:
            self.fail(f"{at}.CandidateIds", f"must name one candidate, not {len(ids)}")
            return None
        if ids[0] not in candidates:
            self.fail(
                f"{at}.CandidateIds[0]", f"{ids[0]!r} is not a candidate of this election"
            )
            return None
        candidate = candidates[ids[0]]
        return self.text(f"Candidate {ids[0]!r}.BallotName", candidate["BallotName"], name=True)

    def party_name(self, at: str, selection: dict[str, Any]) -> Any:
        ids = selection["PartyIds"]
        if len(ids) != 1:
            self.fail(f"{at}.PartyIds", f"must name one party (or coalition), not {len(ids)}")
            return None
        return self.text(f"Party {ids[0]!r}.Name", self.parties[ids[0]]["Name"], name=True)

    def districts(
        self,
        contests: list[tuple[dict[str, Any], dict[str, str]]],
        styles: list[dict[str, Any]],
        scope_id: str,
    ) -> list[str]:
        named = {c["district"] for c, _ in contests if "district" in c}
        for style in styles:
            for unit_id in style["GpUnitIds"]:
                unit = self.units[unit_id]
                if unit["@type"].endswith("ReportingUnit") and unit["Type"] not in STATION_TYPES:
                    named.add(unit_id)
        for unit_id, unit in self.units.items():
            if unit.get("OtherType") == DISTRICT:
                named.add(unit_id)
        named.discard(scope_id)
        out = []
        for unit_id in self.units:  # in document order
            if unit_id in named:
                out.append(self.ident(f"GpUnit {unit_id!r}.@id", unit_id, "district") or unit_id)
        return out

    def stations(self, districts: list[str], scope_id: str) -> list[str]:
        out = []
        for unit_id, unit in self.units.items():
            if unit_id in districts or unit_id == scope_id:
                continue
            if unit["@type"].endswith("ReportingUnit") and unit["Type"] in STATION_TYPES:
                out.append(self.ident(f"GpUnit {unit_id!r}.@id", unit_id, "station") or unit_id)
        return out

    def style(
        self,
        where: str,
        style: dict[str, Any],
        districts: list[str],
        scope_id: str,
        contests: dict[str, dict[str, Any]],
        selections: dict[str, tuple[str, str]],
    ) -> dict[str, Any]:
        sid = self.external_id(where, style, STYLE_ID)
        sid = sid and self.ident(f"{where}.ExternalIdentifier", sid, "style")
        out: dict[str, Any] = {"id": sid}
        held_at: list[str] = []
        own: list[str] = []
        for k, unit_id in enumerate(style["GpUnitIds"]):
            at = f"{where}.GpUnitIds[{k}]"
            if self.units[unit_id]["@type"].endswith("ReportingDevice"):
                self.fail(at, f"{unit_id!r} is a ReportingDevice: a style is held at a station")
            elif unit_id in districts:
                own.append(unit_id)
            elif unit_id != scope_id:
                held_at.append(unit_id)
        ids = []
        for k, cid, listed in self.ordered(f"{where}.OrderedContent", style.get("OrderedContent")):
            ids.append(cid)
            if listed is not None and cid in contests:
                self.selection_order(f"{where}.{k}", listed, contests[cid], selections)
        if not ids:
            self.fail(f"{where}.OrderedContent", "lists no contests: Shailoo prints them in order")
        if len(own) > 1:
            self.fail(f"{where}.GpUnitIds", f"names two districts ({own[0]!r}, {own[1]!r})")
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
                    f"{where.split('.', 1)[-1]}.OrderedContestSelectionIds[{k}]",
                    f"{sid!r} is a selection of contest {owner[0]!r}, not of {contest['id']!r}",
                )
                return
            order.append(owner[1] if owner else sid)
        if order != [o["id"] for o in contest["options"]]:
            self.fail(
                f"{where.split('.', 1)[-1]}.OrderedContestSelectionIds",
                f"lists the options of {contest['id']!r} in another order or not all of them: "
                "Shailoo prints every option of a contest, in one order on every style",
            )


def definition_from_report(doc: Any, source: str = "election") -> dict[str, Any]:
    """The project form (normal form) of the NIST SP 1500-100 report ``doc``.

    Raises ``ElectionError`` listing every problem: schema violations first (then
    nothing else is checked), then references that point at nothing or at the wrong
    kind of object, then what Shailoo cannot print or count.
    """
    if not isinstance(doc, dict) or doc.get("@type") != REPORT:
        found = doc.get("@type") if isinstance(doc, dict) else type(doc).__name__
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
    problems = check_references(doc, schemas.ELECTION_REPORT)
    if problems:
        raise ElectionError(problems, source)
    try:
        return _Import(doc).definition()
    except ElectionError as err:
        raise ElectionError(err.problems, source) from None


def from_election_report(doc: Any, source: str = "election") -> Election:
    """Check a NIST SP 1500-100 pre-election report and build the election it defines."""
    definition = definition_from_report(doc, source)
    try:
        return Election.from_dict(definition, source)
    except ElectionError as err:
        # Left are rules of the election itself (a vote_for out of range, a contest on no
        # style); they are named in the project form's terms, which docs/election.md maps.
        raise ElectionError([f"as converted: {p}" for p in err.problems], source) from None


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
        "EndDate": d["date"],
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
