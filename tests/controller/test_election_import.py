"""Election definitions exported by other tools: accepted whenever a ballot can be printed
from them, with warnings for what was filled in; refused, at the exact place, only for
what cannot be printed or counted; broken, forged and oversized files refused clearly.

The definition used is ``data/tamga_valley.nist.json`` (see ``data/README.md``): a NIST
SP 1500-100 report with every problem such files have — English only, no BallotTitle,
long and odd ids, several days, a PersonId naming nobody.
"""

from __future__ import annotations

import copy
import hashlib
import json
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pypdfium2 as pdfium
import pytest
from click.testing import CliRunner
from jsonschema import FormatChecker, validators

from controller.ballots.code import BallotCode
from controller.ballots.read import read_ballot
from controller.ballots.render import render_ballot, render_pdf
from controller.election.definition import Election, ElectionError
from controller.election.load import MAX_NIST_FILE, load_election, parse_election_json
from controller.nist.cvr import CastBallot, build_report, check_report, new_cvr_id
from controller.nist.election_report import from_election_report, to_election_report
from hil.ballot_marking import mark_ballot
from shailoo.cli import main
from tests.conftest import SHARED

DEFINITION = Path(__file__).resolve().parent / "data" / "tamga_valley.nist.json"
PUBLISHED = SHARED / "standards" / "NIST_V2_election_results_reporting.json"
WHEN = datetime(2026, 9, 20, 12, 0, tzinfo=UTC)

MAYOR = "contest-tamga-city-mayor--2026-municipal-general"
COUNCIL = "contest-tamga-valley-county-council--at-large"
MEASURE = "contest-ballot-measure--tamga-valley-county--1"
HARBOUR = "contest/party-list/tamga-harbour-board"
NORTH = "ballot-style-001--precinct-north--tamga-city"
PORT = "ballot-style-002--precinct-harbour--tamga-city--port-district"
HILLS = "precinct-hills"  # a style with no identifier is named after its units


@pytest.fixture(scope="module")
def report() -> dict[str, Any]:
    return json.loads(DEFINITION.read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def election() -> Election:
    return load_election(DEFINITION)


def _published_errors(document: Any) -> list[str]:
    """Problems a plain validator finds with the published schema (skips without it)."""
    if not PUBLISHED.is_file():
        pytest.skip(f"the published schema is not beside the checkout ({PUBLISHED})")
    schema = json.loads(PUBLISHED.read_text(encoding="utf-8"))
    validator = validators.validator_for(schema)(schema, format_checker=FormatChecker())
    return [f"{list(e.absolute_path)}: {e.message}" for e in validator.iter_errors(document)]


def _refused(doc: Any) -> ElectionError:
    with pytest.raises(ElectionError) as caught:
        from_election_report(doc, "other-tool.json")
    return caught.value


def _contest(doc: dict[str, Any], contest_id: str) -> dict[str, Any]:
    return next(c for c in doc["Election"][0]["Contest"] if c["@id"] == contest_id)


# -- accepted, with what was filled in ------------------------------------------------------


def test_the_definition_is_valid_against_the_published_schema(report: dict[str, Any]) -> None:
    assert _published_errors(report) == []


def test_every_problem_of_another_tools_file_is_a_warning(election: Election) -> None:
    e = election
    assert e.id == "tamga-valley-2026-general"
    assert (e.date, e.end_date, e.days) == ("2026-11-01", "2026-11-03", "2026-11-01 – 2026-11-03")
    text = "\n".join(e.warnings)
    for expected in (
        # text only in English: the missing languages are the English text
        "Election[0].Name: has no text in ky, ru: printed ky as en, ru as en",
        f"Election[0].Contest[1] (CandidateContest '{COUNCIL}').BallotTitle: has no text in ky, ru",
        # no BallotTitle: the contest's Name
        f"Election[0].Contest[0] (CandidateContest '{MAYOR}'): has no BallotTitle: its Name is "
        "printed",
        # a PersonId (and a coalition's party) naming nobody: left out
        "Election[0].Candidate[2] (Candidate 'candidate-nurlan-bekov').PersonId: "
        "'person-nurlan-bekov' points at nothing (it must name a Person): left out",
        "(Coalition 'coalition-lake-alliance').PartyIds[1]: 'party-lake-friends' points at nothing",
        # an id that XML could not carry: kept as it is
        f"Election[0].Contest[3] (PartyContest '{HARBOUR}').@id: '{HARBOUR}' is not an XML NCName",
        # two identifiers of the election, none of a style
        "Election[0].ExternalIdentifier: 2 identifiers and none with OtherType "
        "'shailoo-election-id': the first, 'tamga-valley-2026-general', is taken for the id",
        f"Election[0].BallotStyle[2].ExternalIdentifier: none: the style's id is '{HILLS}'",
    ):
        assert expected in text, text
    # Texts were filled in, never left empty.
    assert dict(e.title) == dict.fromkeys(("ky", "ru", "en"), "Tamga Valley County General "
                                                             "Election 2026")
    assert e.contest(MEASURE).title["ru"].startswith("Shall Tamga Valley County raise")


def test_ids_are_kept_as_the_definition_gives_them(election: Election) -> None:
    e = election
    assert [c.id for c in e.contests] == [MAYOR, COUNCIL, MEASURE, HARBOUR]
    assert list(e.styles) == [NORTH, PORT, HILLS]
    assert e.styles[PORT] == [MAYOR, HARBOUR, COUNCIL, MEASURE]
    # Selections in SequenceOrder, not in the order the file lists them.
    assert [o.id for o in e.contest(MAYOR).options] == [
        "contest-tamga-city-mayor--selection-aidai-usenova",
        "contest-tamga-city-mayor--selection-timur-sadykov",
    ]
    assert [o.name for o in e.contest(MAYOR).options] == ["Aidai Usenova", "Timur Sadykov"]
    assert e.contest(HARBOUR).options[2].name == "Lake Alliance"
    assert e.contest(HARBOUR).district == "tamga-port-district"
    assert e.style_districts == {NORTH: "tamga-city", PORT: None, HILLS: None}
    assert e.station_styles("precinct-harbour") == [PORT]


def test_every_style_renders_and_a_marked_ballot_reads_back(election: Election) -> None:
    for style in election.styles:
        image, layout = render_ballot(election, style, dpi=100, mode="official")
        assert image.size == (827, 1169) and layout["style"] == style
    choices = {
        MAYOR: ["contest-tamga-city-mayor--selection-timur-sadykov"],
        HARBOUR: ["contest/party-list/tamga-harbour-board/lake-alliance"],
        COUNCIL: ["contest-tamga-valley-county-council--selection-nurlan-bekov",
                  "contest-tamga-valley-county-council--selection-gulnara-tashieva"],
        MEASURE: ["contest-ballot-measure--tamga-valley-county--1--selection-no"],
    }  # fmt: skip
    image, layout = render_ballot(election, PORT, dpi=150, mode="official",
                                  station="precinct-harbour")  # fmt: skip
    scan = np.array(mark_ballot(image, layout, choices))
    reading = read_ballot(scan, election, mode="official", station="precinct-harbour")
    assert (reading["status"], reading["style"]) == ("accepted", PORT), reading
    assert reading["votes"] == choices
    assert set(reading["contests"].values()) == {"ok"}
    # The ballot of one precinct is another station's at the next one.
    elsewhere = read_ballot(scan, election, mode="official", station="precinct-north")
    assert (elsewhere["status"], elsewhere["reason"]) == ("rejected", "other_station")
    assert "'precinct-harbour'" in elsewhere["detail"]


def test_the_printed_pdf_of_every_style_reads_back(election: Election) -> None:
    pdf = render_pdf(election, list(election.styles), mode="test")
    document = pdfium.PdfDocument(pdf)
    try:
        assert len(document) == len(election.styles)
        pages = [
            np.array(document[i].render(scale=150 / 72, grayscale=True).to_pil().convert("L"))
            for i in range(len(document))
        ]
    finally:
        document.close()
    for page, style in zip(pages, election.styles, strict=True):
        reading = read_ballot(page, election, mode="test", dpi=150)
        assert (reading["status"], reading["style"]) == ("accepted", style), reading
        assert set(reading["contests"]) == set(election.styles[style])


def test_the_code_carries_no_id_of_the_definition(election: Election) -> None:
    code = BallotCode.for_ballot(election, PORT, "official", "A4", "precinct-harbour")
    text = code.encode()
    assert text.startswith(f"SH2:{election.hash[:16].upper()}:1:O:A:")
    assert len(text) == 37 and "PRECINCT" not in text and "BALLOT-STYLE" not in text
    assert BallotCode.decode(text).style_id(election) == PORT


def test_cast_vote_records_name_the_definitions_ids(election: Election) -> None:
    image, layout = render_ballot(election, NORTH, dpi=150, mode="official")
    choices = {MAYOR: ["contest-tamga-city-mayor--selection-aidai-usenova"]}
    reading = read_ballot(np.array(mark_ballot(image, layout, choices)), election, "official")
    ballot = CastBallot(
        id=new_cvr_id(), device="scan-1", style=reading["style"],
        image_sha256=hashlib.sha256(b"scan").hexdigest(), votes=reading["votes"],
        verdicts=reading["contests"], marks=reading["marks"], thresholds=reading["thresholds"],
    )  # fmt: skip
    cvr_report = build_report(election, [ballot], "precinct-north", "official", WHEN)
    assert check_report(cvr_report, election) == []
    (cvr,) = cvr_report["CVR"]
    assert cvr["BallotStyleId"] == NORTH
    contest_ids = {c["@id"] for c in cvr_report["Election"][0]["Contest"]}
    assert {MAYOR, COUNCIL, MEASURE} <= contest_ids
    assert cvr_report["Election"][0]["@id"] == "tamga-valley-2026-general"


def test_the_nist_form_written_back_is_valid_and_the_same_election(election: Election) -> None:
    written = to_election_report(election, WHEN)
    assert _published_errors(written) == []
    again = from_election_report(written)
    assert again.hash == election.hash
    assert (written["Election"][0]["StartDate"], written["Election"][0]["EndDate"]) == (
        "2026-11-01", "2026-11-03")  # fmt: skip
    # What was filled in is written out, so nothing is left to fill in but the XML names.
    assert all("XML NCName" in w for w in again.warnings), again.warnings


# -- the command line -----------------------------------------------------------------------


def _run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, ["election", *args])
    return result.exit_code, result.stdout, result.stderr


def test_check_separates_warnings_from_errors(tmp_path: Path, report: dict[str, Any]) -> None:
    code, out, err = _run("check", str(DEFINITION))
    assert code == 0, err
    count = len(load_election(DEFINITION).warnings)
    assert f"valid (NIST SP 1500-100 form, {count} warning(s))" in out
    assert f"{PORT}: {MAYOR}, {HARBOUR}, {COUNCIL}, {MEASURE}" in out
    assert "warning(s), filled in or left out:" in err and "points at nothing" in err
    assert "error" not in err
    broken = copy.deepcopy(report)
    _contest(broken, MEASURE)["ContestSelection"] = []
    path = tmp_path / "broken.json"
    path.write_text(json.dumps(broken), encoding="utf-8")
    code, out, err = _run("check", str(path))
    assert code == 1 and out == ""
    assert "1 error(s), refused:" in err and "ContestSelection: no selections to mark" in err
    assert "warning(s), filled in or left out:" in err  # what else it says is still said


def test_check_json(tmp_path: Path, report: dict[str, Any]) -> None:
    code, out, _ = _run("check", "--json", str(DEFINITION))
    assert code == 0
    summary = json.loads(out)
    assert summary["valid"] is True and summary["form"] == "nist" and summary["errors"] == []
    assert summary["warnings"] == list(load_election(DEFINITION).warnings)
    assert summary["election"]["end_date"] == "2026-11-03"
    assert [s["id"] for s in summary["styles"]] == [NORTH, PORT, HILLS]
    broken = copy.deepcopy(report)
    broken["Election"][0]["BallotStyle"][0]["GpUnitIds"] = ["precinct-nowhere"]
    path = tmp_path / "broken.json"
    path.write_text(json.dumps(broken), encoding="utf-8")
    code, out, _ = _run("check", "--json", str(path))
    refused = json.loads(out)
    assert code == 1 and refused["valid"] is False
    assert refused["errors"] == [
        "Election[0].BallotStyle[0] (BallotStyle).GpUnitIds[0]: 'precinct-nowhere' points at "
        "nothing (it must name a ReportingDevice or ReportingUnit)"
    ]
    assert any("PersonId" in w for w in refused["warnings"])


def test_convert_keeps_the_ids_and_the_hash(tmp_path: Path, election: Election) -> None:
    project = tmp_path / "tamga.json"
    code, out, err = _run("convert", str(DEFINITION), "--to", "shailoo", "--out", str(project))
    assert code == 0 and election.hash in out and "filled in or left out" in err
    converted = load_election(project)
    assert converted.hash == election.hash and converted.warnings == ()
    assert json.loads(project.read_text(encoding="utf-8"))["end_date"] == "2026-11-03"
    nist = tmp_path / "tamga.nist.json"
    code, _, _ = _run("convert", str(project), "--to", "nist", "--out", str(nist))
    assert code == 0 and load_election(nist).hash == election.hash


def test_ballots_render_with_odd_ids_to_safe_file_names(tmp_path: Path) -> None:
    out = tmp_path / "out"
    result = CliRunner().invoke(main, ["ballots", "render", "--election", str(DEFINITION),
                                       "--dpi", "100", "--out", str(out)])  # fmt: skip
    assert result.exit_code == 0, result.output
    files = sorted(p.name for p in out.iterdir())
    assert len(files) == 6  # a PNG and its layout for each of the three styles
    assert all(p.parent == out for p in out.iterdir())
    assert f"tamga-valley-2026-general-{HILLS}-official.png" in files
    assert "filled in" not in result.stdout and "warning:" in result.stderr


# -- refused: what cannot be printed or counted, at its place ----------------------------------


def _style_names(contest_id: str) -> Callable[[dict[str, Any]], None]:
    def change(doc: dict[str, Any]) -> None:
        doc["Election"][0]["BallotStyle"][2]["OrderedContent"][1]["ContestId"] = contest_id

    return change


def _duplicate_id(doc: dict[str, Any]) -> None:
    doc["Election"][0]["Candidate"][1]["@id"] = "candidate-aidai-usenova"


def _write_in(doc: dict[str, Any]) -> None:
    _contest(doc, COUNCIL)["ContestSelection"].append(
        {"@type": "ElectionResults.CandidateSelection", "@id": "council--write-in",
         "SequenceOrder": 5, "IsWriteIn": True}
    )  # fmt: skip


REFUSED = {
    "contest with no selections": (
        lambda d: _contest(d, MEASURE).pop("ContestSelection"),
        f"Election[0].Contest[2] (BallotMeasureContest '{MEASURE}').ContestSelection: "
        "no selections to mark",
    ),
    "style naming a missing contest": (
        _style_names("contest-dog-catcher"),
        "Election[0].BallotStyle[2].OrderedContent[1] (OrderedContest).ContestId: "
        "'contest-dog-catcher' points at nothing",
    ),
    "style naming a missing unit": (
        lambda d: d["Election"][0]["BallotStyle"][1]["GpUnitIds"].append("precinct-lake"),
        "Election[0].BallotStyle[1] (BallotStyle).GpUnitIds[1]: 'precinct-lake' points at nothing",
    ),
    "duplicate ids": (
        _duplicate_id,
        "Election[0].Candidate[1] (Candidate 'candidate-aidai-usenova').@id: "
        "'candidate-aidai-usenova' is already the @id of Election[0].Candidate[0]",
    ),
    "votes allowed 0": (
        lambda d: _contest(d, COUNCIL).update(VotesAllowed=0),
        "as converted: contests[1].vote_for: 0 is out of range: between 1 and 4",
    ),
    "write-in": (
        _write_in,
        f"Election[0].Contest[1] (CandidateContest '{COUNCIL}').ContestSelection[4].IsWriteIn: "
        "write-in selections are not supported",
    ),
    "selection naming a missing candidate": (
        lambda d: _contest(d, MAYOR)["ContestSelection"][0].update(CandidateIds=["candidate-x"]),
        "Election[0].Contest[0].ContestSelection[0] (CandidateSelection "
        "'contest-tamga-city-mayor--selection-timur-sadykov').CandidateIds[0]: 'candidate-x' "
        "points at nothing",
    ),
    "last day before the first": (
        lambda d: d["Election"][0].update(EndDate="2026-10-31"),
        "Election[0].EndDate: 2026-10-31 is before StartDate",
    ),
    "a huge text": (
        lambda d: _contest(d, MAYOR).update(Name="Mayor " * 4000),
        f"Election[0].Contest[0] (CandidateContest '{MAYOR}').Name: longer than 1000 characters",
    ),
    "a huge id": (
        lambda d: d["Election"][0]["BallotStyle"][0]["ExternalIdentifier"][0].update(
            Value="s" * 100_000),
        "Election[0].BallotStyle[0].ExternalIdentifier: 'sssssss",
    ),
}


@pytest.mark.parametrize("case", sorted(REFUSED))
def test_what_cannot_be_printed_or_counted_is_refused_at_its_place(
    report: dict[str, Any], case: str
) -> None:
    change, expected = REFUSED[case]
    doc = copy.deepcopy(report)
    change(doc)
    err = _refused(doc)
    assert any(p.startswith(expected) for p in err.problems), err.problems
    assert str(err).startswith("other-tool.json: ")
    assert len(str(err)) < 4000  # even a huge id makes no huge message


def test_a_contest_on_no_style_is_a_warning(report: dict[str, Any]) -> None:
    doc = copy.deepcopy(report)
    content = doc["Election"][0]["BallotStyle"][1]["OrderedContent"]
    content[:] = [h for h in content if h.get("HeaderId") != "header-harbour"]
    e = from_election_report(doc)
    assert (
        f"as converted: styles: contest '{HARBOUR}' is on no ballot style: no ballot carries it"
        in e.warnings
    )
    assert e.contest(HARBOUR).kind == "party_list"


# -- broken, forged and oversized files --------------------------------------------------------


def _load_bytes(tmp_path: Path, data: bytes) -> ElectionError:
    path = tmp_path / "other-tool.json"
    path.write_bytes(data)
    with pytest.raises(ElectionError) as caught:
        load_election(path)
    assert path.read_bytes() == data  # a refused file is left as it was
    return caught.value


def test_a_truncated_file_names_line_and_column(tmp_path: Path) -> None:
    data = DEFINITION.read_bytes()
    err = _load_bytes(tmp_path, data[: len(data) // 2])
    assert len(err.problems) == 1 and err.problems[0].startswith("not valid JSON: ")
    assert " at line " in err.problems[0] and " column " in err.problems[0]


def test_deep_nesting_is_refused(tmp_path: Path, report: dict[str, Any]) -> None:
    doc = copy.deepcopy(report)
    nested: Any = "x"
    for _ in range(60):
        nested = {"Notes": nested}
    doc["Election"][0]["BallotStyle"][0]["ImageUri"] = nested
    err = _load_bytes(tmp_path, json.dumps(doc).encode())
    assert any("nested deeper than" in p for p in err.problems), err.problems
    err = _load_bytes(tmp_path, b'{"@type": "ElectionResults.ElectionReport", "x": '
                      + b"[" * 200_000 + b"]" * 200_000 + b"}")
    assert err.problems == ["nested too deeply"]


def test_an_oversized_file_is_refused_before_it_is_parsed(tmp_path: Path, report: dict[str, Any]
                                                          ) -> None:
    doc = copy.deepcopy(report)
    doc["Notes"] = "x" * MAX_NIST_FILE
    err = _load_bytes(tmp_path, json.dumps(doc).encode())
    assert err.problems[0].startswith(f"larger than {MAX_NIST_FILE} bytes")


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (lambda d: _contest(d, COUNCIL).update(VotesAllowed="2"),
         "Election[0].Contest[1].VotesAllowed: '2' is not of type 'integer'"),
        (lambda d: d["Election"][0].update(Name="Tamga Valley"),
         "Election[0].Name: 'Tamga Valley' is not of type 'object'"),
        (lambda d: d["Election"][0].update(StartDate="1 November 2026"),
         "Election[0].StartDate"),
        (lambda d: d["Election"][0]["BallotStyle"][0].update(GpUnitIds="precinct-north"),
         "Election[0].BallotStyle[0].GpUnitIds: 'precinct-north' is not of type 'array'"),
        (lambda d: d["GpUnit"][1].update(Type="planet"), "GpUnit[1].Type: 'planet' is not one of"),
    ],
    ids=["number as text", "text as string", "date in words", "list as string", "unknown type"],
)  # fmt: skip
def test_wrong_types_are_refused_with_their_place(report: dict[str, Any], change: Any,
                                                  expected: str) -> None:
    doc = copy.deepcopy(report)
    change(doc)
    err = _refused(doc)
    assert err.problems[0] == "does not follow the NIST SP 1500-100 schema"
    assert any(p.startswith(expected) for p in err.problems[1:]), err.problems


def test_forged_report_type_and_key_twice(tmp_path: Path, report: dict[str, Any]) -> None:
    doc = copy.deepcopy(report)
    doc["@type"] = "ElectionResults.ElectionReport\u202e"
    err = _refused(doc)
    assert "not a NIST SP 1500-100 election report" in err.problems[0]
    text = DEFINITION.read_text(encoding="utf-8")
    twice = text.replace('"Status": "pre-election"', '"Status": "pre-election", "Status": "x"')
    err = _load_bytes(tmp_path, twice.encode())
    assert err.problems == ["key 'Status' appears twice in one object"]
    err = _load_bytes(tmp_path, b"\xff" + DEFINITION.read_bytes())
    assert err.problems[0].startswith("not UTF-8 text")


def test_convert_writes_nothing_for_a_refused_file(tmp_path: Path) -> None:
    data = DEFINITION.read_bytes()
    broken = tmp_path / "broken.json"
    broken.write_bytes(data[:1000])
    out = tmp_path / "out.json"
    code, _, err = _run("convert", str(broken), "--to", "shailoo", "--out", str(out))
    assert code == 1 and "error(s), refused" in err
    assert not out.exists()


def test_a_station_setup_logs_the_warnings(tmp_path: Path, caplog: pytest.LogCaptureFixture
                                           ) -> None:
    from controller.station.app import _default_loader

    with caplog.at_level("WARNING", logger="shailoo.controller"):
        e = _default_loader(DEFINITION)
    logged = [r.getMessage() for r in caplog.records]
    assert len(logged) == len(e.warnings) > 0
    assert any("PersonId" in line and str(DEFINITION) in line for line in logged)


def test_the_project_form_of_such_a_definition_is_the_same_election(election: Election) -> None:
    again = parse_election_json(json.dumps(election.to_dict()))
    assert again.hash == election.hash and again.warnings == ()
    assert again.styles == election.styles


def test_a_voter_list_names_the_definitions_style_ids(tmp_path: Path, report: dict[str, Any]
                                                      ) -> None:
    from controller.checkin.voter_list import VoterListError, load_voters

    doc = copy.deepcopy(report)
    long_style = "ballot-style--" + "hills-precinct/" * 10  # 164 characters
    doc["Election"][0]["BallotStyle"][2]["ExternalIdentifier"] = [
        {"@type": "ElectionResults.ExternalIdentifier", "Type": "local-level",
         "Value": long_style}
    ]  # fmt: skip
    e = from_election_report(doc)
    header = "row,voter_id,surname,given_names,birth_date,sex,document_type,document_number," \
             "personal_number,style\n"
    path = tmp_path / "voters.csv"
    path.write_text(header + f"1,v-1,Usenova,Aidai,1990-01-01,F,ID,AN1234567,,{long_style}\n"
                    f"2,v-2,Bekov,Nurlan,1985-05-05,M,ID,AN7654321,,{PORT}\n", encoding="utf-8")
    voters = load_voters(path, set(e.styles))
    assert [v.style for v in voters] == [long_style, PORT]
    path.write_text(header + "1,v-1,Usenova,Aidai,1990-01-01,F,ID,AN1234567,,s-nope\n",
                    encoding="utf-8")
    with pytest.raises(VoterListError, match="'s-nope' is not a ballot style"):
        load_voters(path, set(e.styles))


def test_empty_texts_are_left_out_or_refused(report: dict[str, Any]) -> None:
    doc = copy.deepcopy(report)
    empty = {"@type": "ElectionResults.LanguageString", "Content": " ", "Language": "ky"}
    _contest(doc, COUNCIL)["BallotTitle"]["Text"].append(empty)
    _contest(doc, HARBOUR)["BallotTitle"]["Text"] = [empty]
    e = from_election_report(doc)
    assert e.contest(COUNCIL).title["ky"] == "Tamga Valley County Council, at large"
    assert e.contest(HARBOUR).title["ky"] == "Tamga Harbour Board"  # its Name
    assert any("BallotTitle.Text[1]: is empty: left out" in w for w in e.warnings)
    doc["Election"][0]["Candidate"][0]["BallotName"]["Text"][0]["Content"] = ""
    assert _refused(doc).problems == [
        "Candidate 'candidate-aidai-usenova'.BallotName: has no text but empty ones: "
        "nothing to print"
    ]


def test_an_odd_station_id_prints_and_reads_under_a_safe_file_name(tmp_path: Path,
                                                                   election: Election) -> None:
    doc = election.to_dict()
    odd = "../precinct north/1"
    doc["stations"][0]["id"] = odd
    doc["styles"][0]["stations"] = [odd]
    path = tmp_path / "odd.json"
    path.write_text(json.dumps(doc), encoding="utf-8")
    out = tmp_path / "out"
    result = CliRunner().invoke(main, ["ballots", "render", "--election", str(path), "--station",
                                       odd, "--dpi", "150", "--out", str(out)])  # fmt: skip
    assert result.exit_code == 0, result.output
    (png,) = out.glob("*.png")
    assert png.parent == out and "-_precinct_north_1~" in png.name
    result = CliRunner().invoke(main, ["ballots", "read", str(png), "--election", str(path),
                                       "--station", odd, "--json"])  # fmt: skip
    assert result.exit_code == 0, result.output
    reading = json.loads(result.stdout)
    assert (reading["status"], reading["style"]) == ("accepted", NORTH)
    result = CliRunner().invoke(main, ["ballots", "read", str(png), "--election", str(path),
                                       "--station", "precinct-hills", "--json"])  # fmt: skip
    reading = json.loads(result.stdout)
    assert (reading["reason"], reading["detail"]) == (
        "other_station", f"the ballot is for station {odd!r}")
