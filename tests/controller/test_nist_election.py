"""NIST SP 1500-100 election reports: import, cross-checks, export and the round trips."""

from __future__ import annotations

import copy
import json
import subprocess
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from controller.election.definition import Election, ElectionError
from controller.election.load import MAX_FILE, MAX_NIST_FILE, load_election, parse_election_json
from controller.nist import schemas
from controller.nist.election_report import (
    definition_from_report,
    from_election_report,
    to_election_report,
)
from shailoo.cli import main
from tests.controller.helpers import ELECTION_DOC

ROOT = Path(__file__).resolve().parents[2]
NIST_EXAMPLE = ROOT / "examples" / "election.nist.json"
EXAMPLE = ROOT / "examples" / "election.json"
WHEN = datetime(2026, 10, 1, 9, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def report() -> dict[str, Any]:
    return json.loads(NIST_EXAMPLE.read_text(encoding="utf-8"))


def _refused(doc: Any) -> list[str]:
    with pytest.raises(ElectionError) as caught:
        from_election_report(doc, "broken.nist.json")
    assert str(caught.value).startswith("broken.nist.json: ")
    return caught.value.problems


def _contest(doc: dict[str, Any], contest_id: str) -> dict[str, Any]:
    return next(c for c in doc["Election"][0]["Contest"] if c["@id"] == contest_id)


# -- the example ---------------------------------------------------------------------------


def test_example_is_valid_against_the_schema_and_loads(report: dict[str, Any]) -> None:
    assert schemas.validate(report, schemas.ELECTION_REPORT) == []
    e = load_election(NIST_EXAMPLE)
    assert (e.id, e.date) == ("kg-2026-parl", "2026-11-29")
    assert e.title["ru"] == "Выборы депутатов Жогорку Кенеша Кыргызской Республики"
    assert e.scope is not None and (e.scope.id, e.scope.type) == ("kg", "country")
    assert [d.id for d in e.districts] == ["d-03", "d-07", "d-12"]
    party = e.contest("party-list")
    assert (party.kind, party.vote_for, party.district) == ("party_list", 1, None)
    assert party.option("p-jany-muun").names == {
        "ky": "Жаңы муун",
        "ru": "Новое поколение",
        "en": "New Generation",
    }
    for contest in e.contests:
        # Every contest, party list and single-member district alike, has "against all".
        assert contest.against_all is not None
        assert contest.against_all.names["ru"] == "Против всех"
    smd = e.contest("smd-07")
    assert (smd.kind, smd.district, smd.vote_for) == ("candidate", "d-07", 1)
    assert smd.option("c07-sydykov").name == "Сыдыков Бакыт Үсөнович"
    assert e.styles["s-d07"] == ["party-list", "smd-07"]
    assert e.style_districts == {"s-d03": "d-03", "s-d07": "d-07", "s-d12": "d-12"}
    # The station abroad holds the style of every district; a station at home one.
    assert e.station_styles("ps-5101") == ["s-d03", "s-d07", "s-d12"]
    assert e.station_styles("ps-1207") == ["s-d07"]
    assert "Москва" in e.station("ps-5101").name["ru"]


def test_the_hash_is_the_same_for_the_nist_file_and_its_converted_form(tmp_path: Path) -> None:
    nist = load_election(NIST_EXAMPLE)
    converted = tmp_path / "election.json"
    converted.write_text(json.dumps(nist.to_dict(), ensure_ascii=False), encoding="utf-8")
    assert load_election(converted).hash == nist.hash
    # The hashed bytes are the canonical JSON of the converted form, nothing of the NIST
    # report's own bookkeeping: a new GeneratedDate or Issuer is the same election.
    reissued = json.loads(NIST_EXAMPLE.read_text(encoding="utf-8"))
    reissued["GeneratedDate"] = "2026-11-01T12:00:00+06:00"
    reissued["Issuer"] = "Another office"
    assert from_election_report(reissued).hash == nist.hash
    # ... while the text of an option is part of the election.
    _contest(reissued, "smd-03")["BallotTitle"]["Text"][0]["Content"] += "."
    assert from_election_report(reissued).hash != nist.hash


# -- round trips ---------------------------------------------------------------------------

MEASURE_DOC: dict[str, Any] = {
    "id": "bishkek-2026-ref",
    "title": {"ky": "Шаардык референдум", "ru": "Городской референдум", "en": "City referendum"},
    "date": "2026-06-07",
    "scope": {"id": "bishkek", "name": "Бишкек", "type": "city"},
    "stations": [{"id": "ps-1001", "name": "№1001"}, {"id": "ps-1002", "name": "№1002"}],
    "contests": [
        {
            "id": "q-parks",
            "kind": "ballot_measure",
            "title": {"ky": "Сейил бактары?", "ru": "Парки?", "en": "Parks?"},
            "vote_for": 1,
            "options": [
                {"id": "yes", "name": {"ky": "Ооба", "ru": "Да", "en": "Yes"}},
                {"id": "no", "name": {"ky": "Жок", "ru": "Нет", "en": "No"}},
            ],
        },
        {
            "id": "q-tram",
            "kind": "ballot_measure",
            "title": {"ky": "Трамвай?", "ru": "Трамвай?", "en": "Tram?"},
            "vote_for": 1,
            "options": [
                {"id": "yes", "name": {"ky": "Ооба", "ru": "Да", "en": "Yes"}},
                {"id": "no", "name": {"ky": "Жок", "ru": "Нет", "en": "No"}},
            ],
        },
    ],
    "styles": [
        {"id": "s-all", "contests": ["q-parks", "q-tram"], "stations": ["ps-1001", "ps-1002"]},
        {"id": "s-parks", "contests": ["q-parks"]},
    ],
}


@pytest.mark.parametrize(
    "source",
    [
        pytest.param(lambda: json.loads(EXAMPLE.read_text(encoding="utf-8")), id="example"),
        pytest.param(lambda: copy.deepcopy(ELECTION_DOC), id="defaults-left-out"),
        pytest.param(lambda: copy.deepcopy(MEASURE_DOC), id="ballot-measures"),
        pytest.param(lambda: copy.deepcopy(ELECTION_DOC) | {"warn_voter": ["overvote", "blank"]},
                     id="voter-warnings"),
    ],
)
def test_project_form_to_nist_and_back_is_exact(source: Callable[[], dict[str, Any]]) -> None:
    e = Election.from_dict(source())
    report = to_election_report(e, WHEN)
    assert schemas.validate(report, schemas.ELECTION_REPORT) == []
    back = from_election_report(report)
    assert back.hash == e.hash
    assert back.to_dict() == e.to_dict()
    assert back == e and back.styles == e.styles and back.style_stations == e.style_stations
    # Written again, the report is the same document.
    assert to_election_report(back, WHEN) == report


def test_nist_to_project_and_back_keeps_the_meaning(report: dict[str, Any]) -> None:
    e = from_election_report(report)
    again = to_election_report(e, WHEN, issuer=report["Issuer"], issuer_abbreviation="CEC")
    assert schemas.validate(again, schemas.ELECTION_REPORT) == []
    assert from_election_report(again).to_dict() == e.to_dict()
    # What the station uses is written as it came; NIST-only details (party abbreviations,
    # the party that nominated a candidate, notes) are not part of the project form.
    original = report["Election"][0]
    written = again["Election"][0]
    assert [c["@id"] for c in written["Contest"]] == [c["@id"] for c in original["Contest"]]
    assert written["BallotStyle"] == original["BallotStyle"]
    assert again["GpUnit"] == report["GpUnit"]
    for before, after in zip(original["Contest"], written["Contest"], strict=True):
        assert after["ContestSelection"] == before["ContestSelection"]
        assert after["BallotTitle"] == before["BallotTitle"]


def test_ids_that_are_no_xml_names_are_written_and_read_back_with_a_warning() -> None:
    doc = copy.deepcopy(ELECTION_DOC)
    doc["contests"][0]["id"] = "7-mayor"
    doc["styles"][0]["contests"][0] = doc["styles"][1]["contests"][0] = "7-mayor"
    e = Election.from_dict(doc)
    again = from_election_report(to_election_report(e, WHEN))
    assert again.hash == e.hash and again.contest("7-mayor").id == "7-mayor"
    assert any("'7-mayor' is not an XML NCName" in w for w in again.warnings), again.warnings


def test_ids_that_cannot_be_nist_ids_are_refused_on_export() -> None:
    doc = copy.deepcopy(ELECTION_DOC)
    doc["districts"] = [{"id": "mayor", "name": "Mayor district"}]
    with pytest.raises(ElectionError, match="would share the NIST @id 'mayor'"):
        to_election_report(Election.from_dict(doc))
    doc = copy.deepcopy(ELECTION_DOC)
    doc["contests"][0]["kind"] = doc["contests"][1]["kind"] = "party_list"
    doc["contests"][1]["options"][0]["name"] = "Another party"
    doc["contests"][1]["options"][0]["id"] = "m-asel"
    with pytest.raises(ElectionError) as caught:
        to_election_report(Election.from_dict(doc))
    text = str(caught.value)
    assert "option id 'm-asel' names two different partys" in text
    assert "a NIST PartyContest takes one mark, not 2" in text


# -- references that point at nothing or at the wrong kind of object --------------------------


def _set(path: str, value: Any) -> Callable[[dict[str, Any]], None]:
    def change(doc: dict[str, Any]) -> None:
        node: Any = doc
        parts = path.split("/")
        for part in parts[:-1]:
            node = node[int(part)] if part.isdigit() else node[part]
        last = parts[-1]
        node[int(last) if last.isdigit() else last] = value

    return change


E0 = "Election/0"
BROKEN_REFERENCES = {
    "scope names nothing": (
        _set(f"{E0}/ElectionScopeId", "kg-x"),
        "Election[0] (Election).ElectionScopeId: 'kg-x' points at nothing "
        "(it must name a ReportingUnit)",
    ),
    "district is a party": (
        _set(f"{E0}/Contest/1/ElectionDistrictId", "p-ala-too"),
        "Election[0].Contest[1] (CandidateContest 'smd-03').ElectionDistrictId: 'p-ala-too' is "
        "a Party, not a ReportingUnit",
    ),
    "district names nothing": (
        _set(f"{E0}/Contest/2/ElectionDistrictId", "d-99"),
        "Election[0].Contest[2] (CandidateContest 'smd-07').ElectionDistrictId: 'd-99' points "
        "at nothing",
    ),
    "style unit names nothing": (
        _set(f"{E0}/BallotStyle/1/GpUnitIds/1", "ps-9999"),
        "Election[0].BallotStyle[1] (BallotStyle).GpUnitIds[1]: 'ps-9999' points at nothing",
    ),
    "style unit is a contest": (
        _set(f"{E0}/BallotStyle/0/GpUnitIds/0", "smd-03"),
        "Election[0].BallotStyle[0] (BallotStyle).GpUnitIds[0]: 'smd-03' is a CandidateContest, "
        "not a ReportingDevice or ReportingUnit",
    ),
    "ordered contest names nothing": (
        _set(f"{E0}/BallotStyle/2/OrderedContent/1/ContestId", "smd-99"),
        "Election[0].BallotStyle[2].OrderedContent[1] (OrderedContest).ContestId: 'smd-99' "
        "points at nothing",
    ),
    "ordered contest is a district": (
        _set(f"{E0}/BallotStyle/2/OrderedContent/1/ContestId", "d-12"),
        "(OrderedContest).ContestId: 'd-12' is a ReportingUnit, not a PartyContest or "
        "BallotMeasureContest or CandidateContest or RetentionContest",
    ),
    "candidate names nothing": (
        _set(f"{E0}/Contest/1/ContestSelection/0/CandidateIds/0", "c03-nobody"),
        "Election[0].Contest[1].ContestSelection[0] (CandidateSelection 'smd-03.c03-asanova')"
        ".CandidateIds[0]: 'c03-nobody' points at nothing (it must name a Candidate)",
    ),
    "candidate is a party": (
        _set(f"{E0}/Contest/1/ContestSelection/0/CandidateIds/0", "p-el-unu"),
        ".CandidateIds[0]: 'p-el-unu' is a Party, not a Candidate",
    ),
    "party is a candidate": (
        _set(f"{E0}/Contest/0/ContestSelection/2/PartyIds/0", "c07-sydykov"),
        "Election[0].Contest[0].ContestSelection[2] (PartySelection 'party-list.p-yntymak')"
        ".PartyIds[0]: 'c07-sydykov' is a Candidate, not a Party or Coalition",
    ),
    "selection names nothing": (
        _set(f"{E0}/BallotStyle/0/OrderedContent/1/OrderedContestSelectionIds/0", "smd-03.x"),
        "(OrderedContest).OrderedContestSelectionIds[0]: 'smd-03.x' points at nothing",
    ),
    "selection is a contest": (
        _set(f"{E0}/BallotStyle/0/OrderedContent/1/OrderedContestSelectionIds/0", "smd-07"),
        "OrderedContestSelectionIds[0]: 'smd-07' is a CandidateContest, not a PartySelection",
    ),
    "selection of another contest": (
        _set(
            f"{E0}/BallotStyle/0/OrderedContent/1/OrderedContestSelectionIds/0",
            "smd-07.c07-sydykov",
        ),
        "BallotStyle[0].OrderedContent[1].OrderedContestSelectionIds[0]: 'smd-07.c07-sydykov' "
        "is a selection of contest 'smd-07', not of 'smd-03'",
    ),
    "two objects with one id": (
        _set("GpUnit/3/@id", "d-07"),
        "GpUnit[3] (ReportingUnit 'd-07').@id: 'd-07' is already the @id of GpUnit[2] "
        "(ReportingUnit 'd-07')",
    ),
}

# References a ballot is printed and counted without: noted, and the rest is read.
NOTED_REFERENCES = {
    "candidate's party names nothing": (
        _set(f"{E0}/Candidate/1/PartyId", "p-gone"),
        "(Candidate 'c03-beishenov').PartyId: 'p-gone' points at nothing (it must name a "
        "Party or Coalition): left out",
    ),
    "candidate's party is a district": (
        _set(f"{E0}/Candidate/1/PartyId", "d-07"),
        "(Candidate 'c03-beishenov').PartyId: 'd-07' is a ReportingUnit, not a Party",
    ),
    "a header names nothing": (
        lambda d: d["Election"][0]["BallotStyle"][0]["OrderedContent"].insert(
            0, {"@type": "ElectionResults.OrderedHeader", "HeaderId": "h-gone"}
        ),
        "(OrderedHeader).HeaderId: 'h-gone' points at nothing (it must name a Header): left out",
    ),
}


@pytest.mark.parametrize("case", sorted(NOTED_REFERENCES))
def test_an_optional_reference_to_nothing_is_noted(report: dict[str, Any], case: str) -> None:
    change, expected = NOTED_REFERENCES[case]
    doc = copy.deepcopy(report)
    change(doc)
    e = from_election_report(doc)
    assert any(expected in w for w in e.warnings), e.warnings
    assert e.hash == from_election_report(report).hash  # nothing printed or counted changed


def test_an_id_that_is_no_xml_name_is_kept_with_a_warning(report: dict[str, Any]) -> None:
    doc = copy.deepcopy(report)
    old = "p-ala-too"
    text = json.dumps(doc).replace(f'"{old}"', '"1party"').replace(f'.{old}"', '.1party"')
    e = from_election_report(json.loads(text))
    assert [o.id for o in e.contest("party-list").options][0] == "1party"
    assert any(
        "Party[0] (Party '1party').@id: '1party' is not an XML NCName" in w for w in e.warnings
    ), e.warnings


@pytest.mark.parametrize("case", sorted(BROKEN_REFERENCES))
def test_broken_reference_names_the_object_and_the_field(
    report: dict[str, Any], case: str
) -> None:
    change, expected = BROKEN_REFERENCES[case]
    doc = copy.deepcopy(report)
    change(doc)
    problems = _refused(doc)
    assert any(expected in p for p in problems), problems


def test_a_reporting_device_cannot_hold_a_style(report: dict[str, Any]) -> None:
    doc = copy.deepcopy(report)
    doc["GpUnit"].append({"@id": "scan-1", "@type": "ElectionResults.ReportingDevice"})
    doc["Election"][0]["BallotStyle"][0]["GpUnitIds"].append("scan-1")
    problems = _refused(doc)
    assert any("GpUnitIds[3]: 'scan-1' is a ReportingDevice" in p for p in problems), problems


def test_ballot_style_ids_missing_or_twice(report: dict[str, Any]) -> None:
    doc = copy.deepcopy(report)
    del doc["Election"][0]["BallotStyle"][1]["ExternalIdentifier"]
    e = from_election_report(doc)
    assert list(e.styles) == ["s-d03", "d-07+ps-1207+ps-5101", "s-d12"]
    assert (
        "Election[0].BallotStyle[1].ExternalIdentifier: none: the style's id is "
        "'d-07+ps-1207+ps-5101'" in e.warnings
    )
    doc = copy.deepcopy(report)
    doc["Election"][0]["BallotStyle"][2]["ExternalIdentifier"][0]["Value"] = "s-d03"
    assert any("styles[2].id: duplicate style id 's-d03'" in p for p in _refused(doc))


# -- what Shailoo needs beyond the schema ----------------------------------------------------


def _drop_language(language: str) -> Callable[[dict[str, Any]], None]:
    def change(doc: dict[str, Any]) -> None:
        title = _contest(doc, "smd-12")["BallotTitle"]
        title["Text"] = [t for t in title["Text"] if t["Language"] != language]

    return change


def _against_all_as(doc: dict[str, Any], stype: str) -> None:
    selection = _contest(doc, "smd-07")["ContestSelection"][-1]
    selection["@type"] = stype
    del selection["Selection"]
    del selection["ExternalIdentifier"]
    selection["CandidateIds"] = ["c07-osmonova"]


def _unmarked_measure_selection(doc: dict[str, Any]) -> None:
    del _contest(doc, "smd-07")["ContestSelection"][-1]["ExternalIdentifier"]


def _write_in(doc: dict[str, Any]) -> None:
    _contest(doc, "smd-07")["ContestSelection"][0]["IsWriteIn"] = True


def _two_parties(doc: dict[str, Any]) -> None:
    _contest(doc, "party-list")["ContestSelection"][0]["PartyIds"].append("p-el-unu")


def _rotated(doc: dict[str, Any]) -> None:
    ordered = doc["Election"][0]["BallotStyle"][1]["OrderedContent"][1]
    ordered["OrderedContestSelectionIds"].reverse()


def _retention(doc: dict[str, Any]) -> None:
    contest = _contest(doc, "smd-12")
    contest["@type"] = "ElectionResults.RetentionContest"
    del contest["VotesAllowed"]
    del contest["VoteVariation"]
    contest["CandidateId"] = "c12-mamytova"


def _two_days(doc: dict[str, Any]) -> None:
    doc["Election"][0]["EndDate"] = "2026-11-30"


def _results_not_definition(doc: dict[str, Any]) -> None:
    doc["Status"] = "unofficial-complete"


def _two_elections(doc: dict[str, Any]) -> None:
    doc["Election"].append(copy.deepcopy(doc["Election"][0]))


def _upper_case_id(doc: dict[str, Any]) -> None:
    contest = _contest(doc, "smd-12")
    contest["@id"] = "SMD_12"
    for style in doc["Election"][0]["BallotStyle"]:
        for item in style["OrderedContent"]:
            if item["ContestId"] == "smd-12":
                item["ContestId"] = "SMD_12"
                del item["OrderedContestSelectionIds"]


FILLED_IN = {
    "title without Kyrgyz": (
        _drop_language("ky"),
        "Election[0].Contest[3] (CandidateContest 'smd-12').BallotTitle: has no text in ky: "
        "printed ky as ru",
    ),
    "title without Russian and English": (
        lambda d: (_drop_language("ru")(d), _drop_language("en")(d)),
        "BallotTitle: has no text in ru, en: printed ru as ky, en as ky",
    ),
    "title twice in Russian": (
        lambda d: _contest(d, "smd-12")["BallotTitle"]["Text"].append(
            {"@type": "ElectionResults.LanguageString", "Content": "x", "Language": "ru-KG"}
        ),
        "BallotTitle: has two texts in 'ru': the first is printed",
    ),
    "no ballot title": (
        lambda d: _contest(d, "smd-12").pop("BallotTitle"),
        "Election[0].Contest[3] (CandidateContest 'smd-12'): has no BallotTitle: its Name is "
        "printed",
    ),
    "title in another language only": (
        lambda d: _contest(d, "smd-12")["BallotTitle"].update(
            Text=[{"@type": "ElectionResults.LanguageString", "Content": "Distrito 12",
                   "Language": "es"}]
        ),
        "BallotTitle: has no text in ky, ru, en: its 'es' text is printed for every language",
    ),
}


@pytest.mark.parametrize("case", sorted(FILLED_IN))
def test_what_is_filled_in_is_a_warning(report: dict[str, Any], case: str) -> None:
    change, expected = FILLED_IN[case]
    doc = copy.deepcopy(report)
    change(doc)
    e = from_election_report(doc)
    assert any(expected in w for w in e.warnings), e.warnings
    title = e.contest("smd-12").title
    assert set(title) == {"ky", "ru", "en"} and all(title.values())


def test_an_election_over_several_days_is_read(report: dict[str, Any]) -> None:
    doc = copy.deepcopy(report)
    _two_days(doc)
    e = from_election_report(doc)
    assert (e.date, e.end_date) == ("2026-11-29", "2026-11-30") and e.warnings == ()
    written = to_election_report(e, WHEN)["Election"][0]
    assert (written["StartDate"], written["EndDate"]) == ("2026-11-29", "2026-11-30")
    doc["Election"][0]["EndDate"] = "2026-11-28"
    assert _refused(doc) == ["Election[0].EndDate: 2026-11-28 is before StartDate"]


RULES = {
    "against all as a candidate": (
        lambda d: _against_all_as(d, "ElectionResults.CandidateSelection"),
        "",  # then it is simply a candidate: nothing wrong, checked below
    ),
    "a measure selection among candidates": (
        _unmarked_measure_selection,
        "a BallotMeasureSelection in a contest whose selections are CandidateSelections",
    ),
    "write-in": (_write_in, "ContestSelection[0].IsWriteIn: write-in selections are not supported"),
    "id with capitals": (_upper_case_id, "SMD_12"),  # any form: kept as it is
    "joint party list": (_two_parties, "PartyIds: must name one party (or coalition), not 2"),
    "rotation": (_rotated, "lists the options of 'smd-07' in another order or not all of them"),
    "retention contest": (_retention, "a RetentionContest is not supported"),
    "results": (_results_not_definition, "Status: 'unofficial-complete': an election definition"),
    "two elections": (_two_elections, "Election: must hold exactly one election, not 2"),
    "id with a control character": (
        _set(f"{E0}/ExternalIdentifier/0/Value", "kg\n2026"),
        "Election[0].ExternalIdentifier: 'kg\\n2026' cannot be the election's id",
    ),
}


@pytest.mark.parametrize("case", sorted(RULES))
def test_what_shailoo_cannot_print_or_count_is_refused(report: dict[str, Any], case: str) -> None:
    change, expected = RULES[case]
    doc = copy.deepcopy(report)
    change(doc)
    if not expected:
        e = from_election_report(doc)
        assert e.contest("smd-07").against_all is None
        return
    if expected == "SMD_12":
        assert from_election_report(doc).contest("SMD_12").id == "SMD_12"
        return
    problems = _refused(doc)
    assert any(expected in p for p in problems), problems


def test_against_all_in_a_ballot_measure_is_refused() -> None:
    report = to_election_report(Election.from_dict(copy.deepcopy(MEASURE_DOC)), WHEN)
    selection = report["Election"][0]["Contest"][0]["ContestSelection"][1]
    selection["ExternalIdentifier"] = [
        {
            "@type": "ElectionResults.ExternalIdentifier",
            "Type": "other",
            "OtherType": "shailoo-against-all",
            "Value": "true",
        }
    ]
    assert any("a ballot measure has no 'against all' option" in p for p in _refused(report))


def test_rules_of_the_election_itself_are_named_in_the_converted_form(
    report: dict[str, Any],
) -> None:
    doc = copy.deepcopy(report)
    _contest(doc, "smd-03")["VotesAllowed"] = 7
    problems = _refused(doc)
    expected = "as converted: contests[1].vote_for: 7 is out of range"
    assert any(p.startswith(expected) for p in problems), problems


# -- schema violations --------------------------------------------------------------------

SCHEMA = {
    "misspelt contest type": (
        _set(f"{E0}/Contest/2/@type", "ElectionResults.CandidateContst"),
        "Election[0].Contest[2].@type: 'ElectionResults.CandidateContst' is not one of the "
        "types allowed here (ElectionResults.PartyContest, ElectionResults.BallotMeasureContest, "
        "ElectionResults.CandidateContest, ElectionResults.RetentionContest)",
    ),
    "field of another type": (
        _set(f"{E0}/Contest/2/VotesAllowed", "1"),
        "Election[0].Contest[2].VotesAllowed: '1' is not of type 'integer'",
    ),
    "unknown field inside an alternative": (
        _set(f"{E0}/Contest/2/Votes", 1),
        "Election[0].Contest[2]: Additional properties are not allowed ('Votes' was unexpected)",
    ),
    "missing unit type": (
        lambda d: d["GpUnit"][1].pop("Type"),
        "GpUnit[1]: 'Type' is a required property",
    ),
    "time without a zone": (
        _set("GeneratedDate", "2026-10-01T09:00:00"),
        "GeneratedDate: '2026-10-01T09:00:00' is not a date and time in whole seconds with "
        "its zone",
    ),
    "a date that is no date": (_set(f"{E0}/StartDate", "2026-02-30"), "is not a 'date'"),
    "an unknown status": (_set("Status", "draft"), "Status: 'draft' is not one of"),
}


@pytest.mark.parametrize("case", sorted(SCHEMA))
def test_schema_violations_get_a_readable_message(report: dict[str, Any], case: str) -> None:
    change, expected = SCHEMA[case]
    doc = copy.deepcopy(report)
    change(doc)
    problems = _refused(doc)
    assert problems[0] == "does not follow the NIST SP 1500-100 schema"
    assert expected in problems[1], problems


def test_fractional_seconds_are_refused_as_the_standard_says(report: dict[str, Any]) -> None:
    doc = copy.deepcopy(report)
    doc["GeneratedDate"] = "2026-10-01T09:00:00.5Z"
    assert schemas.validate(doc, schemas.ELECTION_REPORT) != []
    doc["GeneratedDate"] = "2026-10-01T09:00:00+06:00"
    assert schemas.validate(doc, schemas.ELECTION_REPORT) == []


def test_wrong_report_type_is_named(report: dict[str, Any]) -> None:
    for wrong in ("ElectionReport", "CVR.CastVoteRecordReport"):
        doc = dict(report, **{"@type": wrong})
        with pytest.raises(ElectionError, match=f"@type '{wrong}' is not 'ElectionResults"):
            parse_election_json(json.dumps(doc), "x.json")


def test_deep_nesting_is_refused_before_validation(report: dict[str, Any]) -> None:
    doc = copy.deepcopy(report)
    header: dict[str, Any] = {"@type": "ElectionResults.OrderedHeader", "HeaderId": "h"}
    node = header
    for _ in range(60):
        inner = {"@type": "ElectionResults.OrderedHeader", "HeaderId": "h"}
        node["OrderedContent"] = [inner]
        node = inner
    doc["Election"][0]["BallotStyle"][0]["OrderedContent"].append(header)
    problems = _refused(doc)
    assert "nested deeper than 40 levels" in problems[1]


# -- files ---------------------------------------------------------------------------------


def test_broken_json_in_nist_form_is_refused(tmp_path: Path) -> None:
    text = NIST_EXAMPLE.read_text(encoding="utf-8")
    twice = text.replace('"Status": "pre-election",', '"Status": "pre-election", "Status": "x",')
    with pytest.raises(ElectionError, match="key 'Status' appears twice in one object"):
        parse_election_json(twice)
    with pytest.raises(ElectionError, match="not valid JSON: .* at line"):
        parse_election_json(text[: len(text) // 2])
    with pytest.raises(ElectionError, match="nested too deeply"):
        parse_election_json('{"@type": ' + "[" * 100000 + "]" * 100000 + "}")


def test_size_caps_of_the_two_forms(tmp_path: Path) -> None:
    # A NIST report may be larger than a project-form file, up to its own cap.
    padding = b" " * (MAX_FILE + 10)
    big_nist = tmp_path / "big.nist.json"
    big_nist.write_bytes(NIST_EXAMPLE.read_bytes() + padding)
    assert load_election(big_nist).hash == load_election(NIST_EXAMPLE).hash
    big_project = tmp_path / "big.json"
    big_project.write_bytes(EXAMPLE.read_bytes() + padding)
    with pytest.raises(ElectionError, match=f"larger than {MAX_FILE} bytes"):
        load_election(big_project)
    huge = tmp_path / "huge.nist.json"
    huge.write_bytes(NIST_EXAMPLE.read_bytes() + b" " * MAX_NIST_FILE)
    with pytest.raises(ElectionError, match=f"larger than {MAX_NIST_FILE} bytes"):
        load_election(huge)
    with pytest.raises(ElectionError, match=f"larger than {MAX_NIST_FILE} bytes"):
        parse_election_json(huge.read_bytes())


def test_definition_from_report_refuses_what_is_not_a_report() -> None:
    for thing in ([1, 2], "text", {"format": "shailoo-election/1"}):
        with pytest.raises(ElectionError, match="not a NIST SP 1500-100 election report"):
            definition_from_report(thing)


# -- the command line ----------------------------------------------------------------------


def _run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, ["election", *args])
    return result.exit_code, result.output


def test_check_summarises_the_example() -> None:
    # Run as an operator would: the installed command in its own process.
    done = subprocess.run(
        [str(Path(sys.executable).parent / "shailoo"), "election", "check", str(NIST_EXAMPLE)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert "valid (NIST SP 1500-100 form)" in out
    assert f"hash {load_election(NIST_EXAMPLE).hash}" in out
    assert "party-list: party list, vote for 1 of 7 options, with 'against all'" in out
    assert "s-d07: party-list, smd-07; district d-07; held at ps-1207, ps-5101" in out
    assert "ps-5101: 3 style(s) s-d03, s-d07, s-d12" in out
    assert "the scanner returns no ballot for review (no warn_voter)" in out


def test_check_names_the_voter_warnings(tmp_path: Path) -> None:
    path = tmp_path / "warned.json"
    doc = copy.deepcopy(ELECTION_DOC) | {"warn_voter": ["blank", "overvote"]}
    path.write_text(json.dumps(doc), encoding="utf-8")
    code, out = _run("check", str(path))
    assert code == 0 and "the scanner returns for review: overvote, blank" in out


def test_check_lists_every_problem(tmp_path: Path, report: dict[str, Any]) -> None:
    doc = copy.deepcopy(report)
    _contest(doc, "smd-03")["ElectionDistrictId"] = "d-99"
    _contest(doc, "smd-07")["ContestSelection"][0]["CandidateIds"] = ["nobody"]
    path = tmp_path / "broken.json"
    path.write_text(json.dumps(doc), encoding="utf-8")
    code, out = _run("check", str(path))
    assert code == 1
    assert "2 error(s), refused" in out and "'d-99' points at nothing" in out
    assert "'nobody' points at nothing" in out


def test_convert_both_ways_keeps_the_hash(tmp_path: Path) -> None:
    project = tmp_path / "e.json"
    code, out = _run("convert", str(NIST_EXAMPLE), "--to", "shailoo", "--out", str(project))
    assert code == 0, out
    nist = tmp_path / "e.nist.json"
    code, out = _run(
        "convert", str(project), "--to", "nist", "--out", str(nist), "--issuer", "CEC KR"
    )
    assert code == 0, out
    written = json.loads(nist.read_text(encoding="utf-8"))
    assert written["Issuer"] == "CEC KR"
    assert schemas.validate(written, schemas.ELECTION_REPORT) == []
    hashes = {load_election(p).hash for p in (NIST_EXAMPLE, project, nist)}
    assert len(hashes) == 1 and hashes.pop() in out
    code, out = _run("convert", str(tmp_path / "missing.json"), "--to", "nist", "--out", "x")
    assert code == 1 and "cannot read" in out


def test_ballots_printed_from_the_nist_file_read_against_either_form(tmp_path: Path) -> None:
    import numpy as np
    from PIL import Image

    from controller.ballots.read import read_ballot
    from hil.ballot_marking import mark_ballot

    result = CliRunner().invoke(
        main,
        ["ballots", "render", "--election", str(NIST_EXAMPLE), "--style", "s-d12", "--test",
         "--dpi", "100", "--out", str(tmp_path)],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    png = tmp_path / "kg-2026-parl-s-d12-test.png"
    layout = json.loads(png.with_suffix("").with_suffix(".layout.json").read_text())
    choices = {"party-list": ["p-onuguu"], "smd-12": ["against-all"]}
    with Image.open(png) as image:
        scan = np.asarray(mark_ballot(image, layout, choices))
    project = tmp_path / "e.json"
    project.write_text(json.dumps(load_election(NIST_EXAMPLE).to_dict()), encoding="utf-8")
    for source in (NIST_EXAMPLE, project):
        reading = read_ballot(scan, load_election(source), mode="test")
        assert reading["status"] == "accepted", reading
        assert reading["votes"] == choices


def test_a_style_naming_only_stations_belongs_to_its_contests_district(
    report: dict[str, Any],
) -> None:
    doc = copy.deepcopy(report)
    for style in doc["Election"][0]["BallotStyle"]:
        style["GpUnitIds"] = [u for u in style["GpUnitIds"] if u.startswith("ps-")]
    e = from_election_report(doc)
    assert e.style_districts == {"s-d03": "d-03", "s-d07": "d-07", "s-d12": "d-12"}
    assert e.station_styles("ps-5101") == ["s-d03", "s-d07", "s-d12"]
    _retention(doc)  # a refused contest on such a style is reported, nothing else breaks
    assert _refused(doc) == [
        "Election[0].Contest[3] (RetentionContest 'smd-12'): a RetentionContest is not supported"
    ]


def test_voter_warnings_in_nist_form(report: dict[str, Any]) -> None:
    doc = copy.deepcopy(report)
    identifiers = doc["Election"][0]["ExternalIdentifier"]
    identifiers.append({"@type": "ElectionResults.ExternalIdentifier", "Type": "other",
                        "OtherType": "shailoo-warn-voter", "Value": "blank overvote"})
    e = from_election_report(doc)
    assert e.warn_voter == ("overvote", "blank")
    assert e.id == from_election_report(report).id
    # The warnings are never taken for the election's id, even as the other identifier.
    del identifiers[0]
    assert from_election_report(doc).id == "kg-2026-11-29"
    doc = copy.deepcopy(report)
    doc["Election"][0]["ExternalIdentifier"].append(
        {"@type": "ElectionResults.ExternalIdentifier", "Type": "other",
         "OtherType": "shailoo-warn-voter", "Value": "overvote sometimes"})
    problems = _refused(doc)
    assert any("warn_voter[1]: 'sometimes' is not one of" in p for p in problems), problems
    doc["Election"][0]["ExternalIdentifier"].append(
        {"@type": "ElectionResults.ExternalIdentifier", "Type": "other",
         "OtherType": "shailoo-warn-voter", "Value": "blank"})
    problems = _refused(doc)
    assert any("has 2 identifiers 'shailoo-warn-voter'" in p for p in problems), problems
