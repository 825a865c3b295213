"""The election definition: the example loads, every kind of broken definition is refused."""

from __future__ import annotations

import copy
import hashlib
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from controller.election.definition import Election, ElectionError, Text
from controller.election.load import MAX_FILE, load_election, parse_election_json
from protocol import canonical

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "election.json"


@pytest.fixture(scope="module")
def doc() -> dict[str, Any]:
    return json.loads(EXAMPLE.read_text(encoding="utf-8"))


def test_example_loads(doc: dict[str, Any]) -> None:
    e = load_election(EXAMPLE)
    assert e.id == "kg-2026-jk"
    assert set(e.title) == {"ky", "ru", "en"}
    assert "Кеңеш" in e.title["ky"] and str(e.title) == e.title["ky"]
    assert e.date == "2026-11-29"
    assert e.styles == {"s-d07": ["party-list", "smd-07"], "s-d12": ["party-list", "smd-12"]}
    assert e.style_districts == {"s-d07": "d-07", "s-d12": "d-12"}
    party = e.contest("party-list")
    assert party.kind == "party_list" and party.vote_for == 1
    assert len(party.options) == 9
    assert party.against_all is not None and party.against_all.id == "against-all"
    assert party.against_all.names["ru"] == "Против всех"
    smd = e.contest("smd-12")
    assert smd.district == "d-12"
    assert smd.option("c12-turdubaev").name == "Турдубаев Элмир Кеңешович"
    assert [c.id for c in e.style_contests("s-d07")] == ["party-list", "smd-07"]
    assert e.district("d-07").name["en"].startswith("Chüy")
    assert e.hash == hashlib.sha256(canonical.dumps(doc)).hexdigest()


def test_hash_ignores_formatting_but_not_content(doc: dict[str, Any]) -> None:
    base = Election.from_dict(doc)
    reordered = json.loads(json.dumps(doc, sort_keys=True, indent=4))
    assert parse_election_json(json.dumps(reordered)).hash == base.hash
    changed = copy.deepcopy(doc)
    changed["contests"][0]["options"][0]["name"]["ky"] += "."
    assert Election.from_dict(changed).hash != base.hash
    assert Election.from_dict(base.to_dict()).hash == base.hash
    assert Election.from_dict(base.to_dict()) == base
    assert len({base, Election.from_dict(base.to_dict())}) == 1


def test_lookups_name_what_is_missing() -> None:
    e = load_election(EXAMPLE)
    with pytest.raises(KeyError, match="no contest 'nope'"):
        e.contest("nope")
    with pytest.raises(KeyError, match="no option 'nope'"):
        e.contest("party-list").option("nope")
    with pytest.raises(KeyError, match="no ballot style 'nope'"):
        e.style_contests("nope")


def test_text_is_a_dict_printing_kyrgyz() -> None:
    t = Text({"ky": "Баарына каршы", "ru": "Против всех", "en": "Against all"})
    assert f"{t}" == "Баарына каршы" and t["en"] == "Against all"
    assert json.loads(json.dumps(t)) == dict(t)


def _set(path: str, value: Any) -> Callable[[dict[str, Any]], None]:
    def change(d: dict[str, Any]) -> None:
        *parents, last = path.split(".")
        node: Any = d
        for part in parents:
            node = node[int(part)] if part.isdigit() else node[part]
        if last.isdigit():
            node[int(last)] = value
        else:
            node[last] = value

    return change


def _delete(path: str) -> Callable[[dict[str, Any]], None]:
    def change(d: dict[str, Any]) -> None:
        *parents, last = path.split(".")
        node: Any = d
        for part in parents:
            node = node[int(part)] if part.isdigit() else node[part]
        del node[last]

    return change


def _dup_option(d: dict[str, Any]) -> None:
    d["contests"][0]["options"][3]["id"] = d["contests"][0]["options"][2]["id"]


def _dup_contest(d: dict[str, Any]) -> None:
    d["contests"][2]["id"] = "smd-07"


def _dup_style(d: dict[str, Any]) -> None:
    d["styles"][1]["id"] = "s-d07"


def _dup_district(d: dict[str, Any]) -> None:
    d["districts"][1]["id"] = "d-07"


def _two_against_all(d: dict[str, Any]) -> None:
    d["contests"][0]["options"][0]["against_all"] = True


def _only_against_all(d: dict[str, Any]) -> None:
    d["contests"][1]["options"] = [d["contests"][1]["options"][-1]]


def _contest_twice_on_style(d: dict[str, Any]) -> None:
    d["styles"][0]["contests"].append("party-list")


def _orphan_contest(d: dict[str, Any]) -> None:
    d["styles"][1]["contests"] = ["party-list"]


BROKEN = {
    "duplicate option id": (_dup_option, "contests[0].options[3].id: duplicate option id"),
    "duplicate contest id": (_dup_contest, "contests[2].id: duplicate contest id 'smd-07'"),
    "duplicate style id": (_dup_style, "styles[1].id: duplicate style id 's-d07'"),
    "duplicate district id": (_dup_district, "districts[1].id: duplicate district id 'd-07'"),
    "style names a missing contest": (
        _set("styles.0.contests.1", "smd-99"),
        "styles[0].contests[1]: names contest 'smd-99', which the election does not define",
    ),
    "style names a missing district": (
        _set("styles.0.district", "d-99"),
        "styles[0].district: names district 'd-99', not defined",
    ),
    "contest names a missing district": (
        _set("contests.1.district", "d-99"),
        "contests[1].district: names district 'd-99', not defined",
    ),
    "district contest on another district's style": (
        _set("styles.0.contests.1", "smd-12"),
        "contest 'smd-12' belongs to district 'd-12', the style to 'd-07'",
    ),
    "vote_for zero": (_set("contests.0.vote_for", 0), "contests[0].vote_for: 0 is out of range"),
    "vote_for above the options": (
        _set("contests.1.vote_for", 5),
        "contests[1].vote_for: 5 is out of range: between 1 and 4",
    ),
    "vote_for not a number": (_set("contests.0.vote_for", "1"), "must be a whole number"),
    "vote_for true": (_set("contests.0.vote_for", True), "must be a whole number"),
    "vote_for fractional": (_set("contests.0.vote_for", 1.0), "must be a whole number"),
    "two against-all options": (_two_against_all, "more than one 'against all' option"),
    "only against all": (_only_against_all, "has no option other than 'against all'"),
    "against_all not boolean": (
        _set("contests.0.options.8.against_all", "yes"),
        "options[8].against_all: must be true or false",
    ),
    "title in no language": (_set("title", {}), "title: has a text in none of ky, ru, en"),
    "title in an unknown language": (
        _set("title.de", "Wahl"),
        "title: unknown key 'de'",
    ),
    "empty option name": (_set("contests.1.options.0.name", "  "), "must be a non-empty string"),
    "control character": (
        _set("contests.1.options.0.name", "Осмонова\x07"),
        "contains control characters",
    ),
    "text too long": (_set("contests.1.options.0.name", "А" * 1001), "longer than 1000"),
    "unknown key": (_set("contests.0.votefor", 1), "contests[0]: unknown key 'votefor'"),
    "id with a control character": (_set("contests.0.options.0.id", "p\tala"), "is not an id"),
    "id with a space at its end": (_set("contests.0.options.0.id", "p-ala "), "is not an id"),
    "empty id": (_set("contests.0.options.0.id", ""), "'' is not an id"),
    "id not a string": (_set("contests.0.id", 7), "contests[0].id: 7 is not an id"),
    "id too long": (_set("id", "x" * 1001), "is not an id"),
    "last day before the first": (
        _set("end_date", "2026-11-28"),
        "end_date: 2026-11-28 is before the election's first day 2026-11-29",
    ),
    "last day not a date": (_set("end_date", "30.11.2026"), "end_date: '30.11.2026' is not"),
    "impossible date": (_set("date", "2026-02-30"), "date: '2026-02-30' is not a date"),
    "date in another format": (_set("date", "29.11.2026"), "date: '29.11.2026' is not a date"),
    "week date": (_set("date", "2026-W48-7"), "date: '2026-W48-7' is not a date"),
    "date not a string": (_set("date", 20261129), "date: must be a date"),
    "no contests": (_set("contests", []), "contests: must be a non-empty list of contests"),
    "contests not a list": (_set("contests", {"a": 1}), "contests: must be a non-empty list"),
    "option not an object": (_set("contests.0.options.0", "p-x"), "options[0]: must be an object"),
    "contest twice on a style": (
        _contest_twice_on_style,
        "styles[0].contests[2]: contest 'party-list' appears twice",
    ),
    "missing styles": (_delete("styles"), "missing 'styles'"),
    "wrong format": (_set("format", "nist-1500-100"), "format: 'nist-1500-100' is not"),
    "unknown warning": (_set("warn_voter", ["overvote", "marginal"]),
                        "warn_voter[1]: 'marginal' is not one of overvote, undervote, blank"),
    "warning twice": (_set("warn_voter", ["blank", "blank"]), "warn_voter[1]: 'blank' appears"),
    "warnings not a list": (_set("warn_voter", "overvote"), "warn_voter: must be a list"),
}


# What a ballot can still be printed and counted from: accepted, and said.
FILLED_IN = {
    "contest on no style": (
        _orphan_contest,
        "styles: contest 'smd-12' is on no ballot style: no ballot carries it",
    ),
    "title without Russian": (_delete("title.ru"), "title: has no text in ru: printed ru as ky"),
    "name in English only": (
        _set("contests.0.options.0.name", {"en": "Ala-Too Unity"}),
        "contests[0].options[0].name: has no text in ky, ru: printed ky as en, ru as en",
    ),
    "text longer than a line": (
        _set("contests.1.options.0.name", "А" * 201),
        "contests[1].options[0].name: longer than 200 characters: a ballot shows what fits",
    ),
}


@pytest.mark.parametrize("case", sorted(FILLED_IN))
def test_what_can_be_filled_in_is_accepted_with_a_warning(doc: dict[str, Any], case: str) -> None:
    change, expected = FILLED_IN[case]
    changed = copy.deepcopy(doc)
    change(changed)
    e = Election.from_dict(changed)
    assert any(w.startswith(expected) for w in e.warnings), e.warnings
    assert Election.from_dict(doc).warnings == ()


def test_a_missing_language_is_the_one_it_falls_back_to(doc: dict[str, Any]) -> None:
    # Leaving a translation out or writing out the text it falls back to is one election:
    # the normal form writes every language.
    short = copy.deepcopy(doc)
    del short["title"]["ru"]
    full = copy.deepcopy(doc)
    full["title"]["ru"] = full["title"]["ky"]
    e = Election.from_dict(short)
    assert e.title["ru"] == e.title["ky"] and e.to_dict()["title"] == full["title"]
    assert e.hash == Election.from_dict(full).hash != Election.from_dict(doc).hash
    english = copy.deepcopy(doc)
    english["contests"][0]["title"] = {"en": "Party lists"}
    title = Election.from_dict(english).contest("party-list").title
    assert dict(title) == {"ky": "Party lists", "ru": "Party lists", "en": "Party lists"}


def test_ids_of_any_form_are_kept(doc: dict[str, Any]) -> None:
    odd = copy.deepcopy(doc)
    long_id = "contest-party-list--national/2026/" + "x" * 600
    odd["contests"][0]["id"] = long_id
    for style in odd["styles"]:
        style["contests"][0] = long_id
    odd["contests"][0]["options"][0]["id"] = "Ala Too / Unity"
    odd["styles"][0]["id"] = "Style № 7 (Чүй)"
    e = Election.from_dict(odd)
    assert e.warnings == ()
    assert e.contest(long_id).options[0].id == "Ala Too / Unity"
    assert e.styles["Style № 7 (Чүй)"] == [long_id, "smd-07"]
    assert Election.from_dict(e.to_dict()).hash == e.hash


def test_an_election_over_several_days(doc: dict[str, Any]) -> None:
    days = copy.deepcopy(doc) | {"end_date": "2026-11-30"}
    e = Election.from_dict(days)
    assert (e.date, e.end_date, e.days) == ("2026-11-29", "2026-11-30", "2026-11-29 – 2026-11-30")
    assert e.to_dict()["end_date"] == "2026-11-30" and e.hash != Election.from_dict(doc).hash
    one = Election.from_dict(copy.deepcopy(doc) | {"end_date": "2026-11-29"})
    assert one.end_date is None and one.hash == Election.from_dict(doc).hash
    assert "end_date" not in one.to_dict()


@pytest.mark.parametrize("case", sorted(BROKEN))
def test_broken_definition_is_refused_with_its_reason(doc: dict[str, Any], case: str) -> None:
    change, expected = BROKEN[case]
    broken = copy.deepcopy(doc)
    change(broken)
    with pytest.raises(ElectionError) as caught:
        Election.from_dict(broken, "broken.json")
    assert expected in str(caught.value), caught.value.problems
    assert str(caught.value).startswith("broken.json: ")


def test_every_problem_is_reported_at_once(doc: dict[str, Any]) -> None:
    broken = copy.deepcopy(doc)
    _dup_option(broken)
    broken["contests"][1]["vote_for"] = 9
    broken["styles"][1]["contests"][1] = "smd-99"
    with pytest.raises(ElectionError) as caught:
        Election.from_dict(broken)
    problems = caught.value.problems
    assert len(problems) >= 3
    assert any("duplicate option id" in p for p in problems)
    assert any("vote_for: 9 is out of range" in p for p in problems)
    assert any("'smd-99'" in p for p in problems)


def test_not_an_object_is_refused() -> None:
    with pytest.raises(ElectionError, match="must be a JSON object"):
        Election.from_dict([1, 2, 3])


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (
            b'{"id": "x",',
            "not valid JSON: Expecting property name enclosed in double quotes at line 1 column 12",
        ),
        (b'\xff\xfe{"id"}', "not UTF-8 text"),
        (b'{"id": "a", "id": "b"}', "key 'id' appears twice in one object"),
        (b'{"id": NaN}', "NaN is not a JSON number"),
        (b"[" * 100000 + b"]" * 100000, "nested too deeply"),
    ],
)
def test_bad_json_is_refused(data: bytes, expected: str) -> None:
    with pytest.raises(ElectionError) as caught:
        parse_election_json(data, "bad.json")
    assert expected in str(caught.value)


def test_oversized_and_missing_files_are_refused(tmp_path: Path) -> None:
    big = tmp_path / "big.json"
    big.write_bytes(b" " * (MAX_FILE + 1))
    with pytest.raises(ElectionError, match="larger than"):
        load_election(big)
    with pytest.raises(ElectionError, match="cannot read"):
        load_election(tmp_path / "missing.json")


def test_file_round_trip(tmp_path: Path, doc: dict[str, Any]) -> None:
    path = tmp_path / "e.json"
    path.write_text(json.dumps(doc, ensure_ascii=False), encoding="utf-8")
    assert load_election(path).hash == load_election(EXAMPLE).hash


def test_defaults_written_out_or_left_implicit_are_one_election(doc: dict[str, Any]) -> None:
    implicit = copy.deepcopy(doc)
    del implicit["format"]
    for contest in implicit["contests"]:
        if contest["kind"] == "candidate":
            del contest["kind"]
    implicit["contests"][0]["district"] = None
    implicit["contests"][0]["options"][0]["against_all"] = False
    e = Election.from_dict(implicit)
    assert e.hash == Election.from_dict(doc).hash
    assert e.to_dict() == doc  # the example is written in the normal form
    assert e.hash == hashlib.sha256(canonical.dumps(e.to_dict())).hexdigest()


STATIONS_DOC: dict[str, Any] = {
    "id": "kg-2026-local",
    "title": {"ky": "Жергиликтүү", "ru": "Местные", "en": "Local"},
    "date": "2026-04-12",
    "scope": {"id": "osh", "name": "Ош", "type": "city"},
    "stations": [
        {"id": "ps-1", "name": "№1"},
        {
            "id": "ps-2",
            "name": {"ky": "№2 чет өлкөдө", "ru": "№2 за рубежом", "en": "No. 2 abroad"},
        },
    ],
    "contests": [
        {
            "id": "q-1",
            "kind": "ballot_measure",
            "title": {"ky": "Суроо", "ru": "Вопрос", "en": "Question"},
            "vote_for": 1,
            "options": [{"id": "yes", "name": "Ооба / Да"}, {"id": "no", "name": "Жок / Нет"}],
        }
    ],
    "styles": [
        {"id": "s-a", "contests": ["q-1"], "stations": ["ps-1", "ps-2"]},
        {"id": "s-b", "contests": ["q-1"], "stations": ["ps-2"]},
    ],
}


def test_stations_scope_and_ballot_measures() -> None:
    e = Election.from_dict(copy.deepcopy(STATIONS_DOC))
    assert e.scope is not None and (e.scope.id, e.scope.type, str(e.scope.name)) == (
        "osh",
        "city",
        "Ош",
    )
    assert e.contest("q-1").kind == "ballot_measure"
    assert e.style_stations == {"s-a": ["ps-1", "ps-2"], "s-b": ["ps-2"]}
    assert e.station_styles("ps-2") == ["s-a", "s-b"] and e.station_styles("ps-1") == ["s-a"]
    assert e.station("ps-2").name["en"] == "No. 2 abroad"
    with pytest.raises(KeyError, match="names no polling station 'ps-9'"):
        e.station_styles("ps-9")


STATION_PROBLEMS = {
    "style names an unknown station": (
        _set("styles.1.stations.0", "ps-9"),
        "styles[1].stations[0]: names station 'ps-9', which the election does not define",
    ),
    "station twice on a style": (
        _set("styles.0.stations.1", "ps-1"),
        "styles[0].stations[1]: station 'ps-1' appears twice on the style",
    ),
    "no stations on a style": (_set("styles.0.stations", []), "styles[0].stations: must be a"),
    "duplicate station": (_set("stations.1.id", "ps-1"), "stations[1].id: duplicate station id"),
    "station without a name": (_delete("stations.0.name"), "stations[0]: missing 'name'"),
    "scope of an unknown type": (
        _set("scope.type", "oblast"),
        "scope.type: 'oblast' is not an area type of NIST SP 1500-100",
    ),
    "scope not an object": (_set("scope", "osh"), "scope: must be an object"),
    "measure taking two answers": (
        _set("contests.0.vote_for", 2),
        "contests[0].vote_for: a ballot measure takes one answer: must be 1",
    ),
    "measure with against all": (
        _set("contests.0.options.1.against_all", True),
        "contests[0].options: a ballot measure has no 'against all' option",
    ),
}


@pytest.mark.parametrize("case", sorted(STATION_PROBLEMS))
def test_stations_and_measures_are_checked(case: str) -> None:
    change, expected = STATION_PROBLEMS[case]
    broken = copy.deepcopy(STATIONS_DOC)
    change(broken)
    with pytest.raises(ElectionError) as caught:
        Election.from_dict(broken)
    assert expected in str(caught.value), caught.value.problems


def test_the_voter_warnings_are_part_of_the_election(doc: dict[str, Any]) -> None:
    plain = Election.from_dict(doc)
    assert plain.warn_voter == () and "warn_voter" not in plain.to_dict()
    warned = Election.from_dict(copy.deepcopy(doc) | {"warn_voter": ["blank", "overvote"]})
    # Written in one order whatever the file's, and part of what the hash covers: a
    # station that warns is running another election than one that does not.
    assert warned.warn_voter == ("overvote", "blank")
    assert warned.to_dict()["warn_voter"] == ["overvote", "blank"]
    assert warned.hash != plain.hash
    again = Election.from_dict(copy.deepcopy(doc) | {"warn_voter": ["overvote", "blank"]})
    assert again.hash == warned.hash
    # No warnings written out is the same as none.
    assert Election.from_dict(copy.deepcopy(doc) | {"warn_voter": []}).hash == plain.hash
