"""The NIST schemas as published: the copies shipped are the standard's files, and what
Shailoo writes is valid against them read plainly (no inlining, no help from
``controller.nist.schemas``), with formats checked, as any other consumer would."""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime
from functools import cache
from pathlib import Path
from typing import Any

import pytest
from jsonschema import FormatChecker, validators

from controller.election.load import load_election
from controller.nist import schemas
from controller.nist.cvr import build_report
from controller.nist.election_report import to_election_report
from tests.controller.test_cvr import KINDS, _ballot, _election, _read

ROOT = Path(__file__).resolve().parents[2]
SHIPPED = ROOT / "controller" / "nist" / "schemas"
PUBLISHED = ROOT.parent / "shared" / "standards"  # the standards folder beside the checkout
WHEN = datetime(2026, 11, 29, 20, 0, tzinfo=UTC)


@cache
def _plain(name: str) -> Any:
    schema = json.loads((SHIPPED / schemas.FILES[name]).read_text(encoding="utf-8"))
    cls = validators.validator_for(schema)
    cls.check_schema(schema)
    return cls(schema, format_checker=FormatChecker())


def _errors(document: Any, name: str) -> list[str]:
    return [f"{list(e.absolute_path)}: {e.message}" for e in _plain(name).iter_errors(document)]


@pytest.mark.parametrize("name", sorted(schemas.FILES))
def test_the_shipped_schemas_are_the_published_files(name: str) -> None:
    shipped = (SHIPPED / schemas.FILES[name]).read_bytes()
    assert shipped == (PUBLISHED / schemas.FILES[name]).read_bytes()


def test_formats_are_really_checked() -> None:
    # Without rfc3339-validator jsonschema passes any date-time silently.
    checker = FormatChecker()
    assert not checker.conforms("2026-11-29T20:00:00", "date-time")
    assert checker.conforms("2026-11-29T20:00:00Z", "date-time")


def test_cast_vote_records_are_valid_against_the_published_schema() -> None:
    e = _election()
    ballots = [_ballot(_read(*KINDS[kind])) for kind in KINDS]
    for mode in ("test", "official"):
        report = build_report(e, ballots, "ps-5101", mode, WHEN)
        assert _errors(report, schemas.CAST_VOTE_RECORDS) == []
    # The plain validator and Shailoo's agree that a broken record is broken.
    broken = copy.deepcopy(report)
    broken["CVR"][0]["CVRSnapshot"][0]["Type"] = "scanned"
    assert _errors(broken, schemas.CAST_VOTE_RECORDS)
    assert schemas.validate(broken, schemas.CAST_VOTE_RECORDS)
    undated = copy.deepcopy(report)
    undated["GeneratedDate"] = "2026-11-29T20:00:00"
    assert _errors(undated, schemas.CAST_VOTE_RECORDS)
    assert schemas.validate(undated, schemas.CAST_VOTE_RECORDS)


@pytest.mark.parametrize("example", ["election.json", "election.nist.json"])
def test_election_reports_are_valid_against_the_published_schema(example: str) -> None:
    e = load_election(ROOT / "examples" / example)
    report = to_election_report(e, WHEN)
    assert _errors(report, schemas.ELECTION_REPORT) == []
    if example.endswith(".nist.json"):
        original = json.loads((ROOT / "examples" / example).read_text(encoding="utf-8"))
        assert _errors(original, schemas.ELECTION_REPORT) == []
    broken = copy.deepcopy(report)
    broken["Election"][0]["Contest"][0]["@type"] = "ElectionResults.CandidateContst"
    assert _errors(broken, schemas.ELECTION_REPORT)
    assert schemas.validate(broken, schemas.ELECTION_REPORT)
