"""Voter lists, documents and ground truth of the simulated voters."""

from __future__ import annotations

import random
from dataclasses import dataclass
from pathlib import Path

import pytest

from controller.checkin.voter_list import parse_csv
from drivers import mrz
from hil.voters import (
    choose,
    diff_contests,
    expected_contests,
    ground_truth,
    make_voters,
    stranger,
    transliterate,
    write_voter_csv,
)


@dataclass(frozen=True)
class Opt:
    id: str


@dataclass(frozen=True)
class Con:
    id: str
    vote_for: int
    options: tuple[Opt, ...]


@dataclass
class Elec:
    contests: tuple[Con, ...]
    styles: dict[str, list[str]]


ELECTION = Elec(
    (
        Con("mayor", 1, (Opt("a"), Opt("b"), Opt("c"))),
        Con("council", 2, (Opt("x"), Opt("y"), Opt("z"))),
    ),
    {"s1": ["mayor", "council"], "s2": ["mayor"]},
)


def test_transliteration_of_kyrgyz_letters() -> None:
    assert transliterate("Өмүрбеков") == "OMURBEKOV"
    assert transliterate("Чыңгыз") == "CHYNGYZ"
    assert transliterate("Жээнбекова Айгүл") == "ZHEENBEKOVA AIGUL"
    with pytest.raises(ValueError):
        transliterate("Smith?")


def test_voters_are_deterministic_distinct_and_carry_valid_documents(tmp_path: Path) -> None:
    voters = make_voters(60, seed=7, styles=("s1", "s2"))
    assert voters == make_voters(60, seed=7, styles=("s1", "s2"))
    assert voters != make_voters(60, seed=8, styles=("s1", "s2"))
    assert len({v.document_number for v in voters}) == 60
    kinds = {v.document_type for v in voters}
    assert kinds == {"ID", "P"}
    for voter in voters:
        fields = mrz.parse(voter.mrz())
        assert fields["valid"], voter
        assert fields["format"] == ("TD1" if voter.document_type == "ID" else "TD3")
        assert fields["document_number"] == voter.document_number
        assert fields["surname"] == transliterate(voter.surname)
        assert fields["personal_number"] == voter.personal_number
        assert len(voter.personal_number) == 14
        assert voter.personal_number[1:9] == "".join(reversed(voter.birth_date.split("-")))
        assert fields["birth_date"] == voter.birth_date[2:].replace("-", "")
    # The controller's own importer accepts the list as written.
    path = write_voter_csv(voters, tmp_path / "voters.csv")
    imported = parse_csv(path.read_text(encoding="utf-8"), styles={"s1", "s2"})
    assert [(v.row, v.document_number, v.surname, v.style) for v in imported] == [
        (v.row, v.document_number, v.surname, v.style) for v in voters
    ]
    outsider = stranger()
    assert outsider.document_number not in {v.document_number for v in voters}
    assert mrz.parse(outsider.mrz())["valid"]


def test_choices_respect_the_style_and_include_blank_ballots() -> None:
    voters = make_voters(200, seed=2, styles=("s1", "s2"))
    truth = ground_truth(ELECTION, voters, seed=5)
    assert truth == ground_truth(ELECTION, voters, seed=5)
    blank = 0
    for voter in voters:
        marks = truth[voter.voter_id]
        assert set(marks) == set(ELECTION.styles[voter.style])
        assert len(marks["mayor"]) <= 1
        assert len(marks.get("council", [])) <= 2
        blank += all(not chosen for chosen in marks.values())
    assert 5 <= blank <= 45
    assert choose(ELECTION, "s2", random.Random(1), blank_rate=1.0) == {"mayor": []}


def test_expected_contests_follow_the_counting_rules() -> None:
    ballots = [
        ("s1", {"mayor": ["a"], "council": ["x", "y"]}),
        ("s1", {"mayor": [], "council": ["z"]}),  # blank mayor, undervoted council
        ("s2", {"mayor": ["a", "b"]}),  # overvote: nothing counts
        ("s2", {"mayor": ["c"]}),
    ]
    got = expected_contests(ELECTION, ballots)
    assert got["mayor"] == {
        "options": {"a": 1, "b": 0, "c": 1},
        "undervotes": 0,
        "overvotes": 1,
        "blank": 1,
    }
    assert got["council"] == {
        "options": {"x": 1, "y": 1, "z": 1},
        "undervotes": 1,
        "overvotes": 0,
        "blank": 0,
    }
    assert diff_contests(got, got) == []
    changed = {k: {**v, "options": dict(v["options"])} for k, v in got.items()}
    changed["mayor"]["options"]["a"] = 2
    assert diff_contests(got, changed) == ["mayor a: expected 1, reported 2"]
