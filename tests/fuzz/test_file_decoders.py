"""Generated hostile input for the decoders of files and documents a station is given
or reads: election definitions (both forms), voter lists, the station setup, print
settings, the commission's decisions, ballot codes, finger templates and the device
config. Each returns its value or raises its own error naming the problem."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from controller.ballots.code import BallotCode, CodeError, station_tag
from controller.biometrics import iso19794_2 as iso
from controller.biometrics.template import FingerRecord, FingerView
from controller.checkin.voter_list import VoterListError, parse_csv, parse_json
from controller.election.definition import ElectionError
from controller.election.load import parse_election_json
from controller.polls.adjudication import AdjudicationError, parse_request
from controller.printing.config import PrintConfigError, parse_settings
from controller.station.setup import SetupError, load_setup, parse_setup
from firmware.config import ConfigError, check
from tests.controller.helpers import ELECTION_DOC, make_voters, voters_csv
from tests.fuzz.strategies import as_json, deep, json_values, mutated

DATA = Path(__file__).resolve().parent.parent / "controller" / "data"
NIST_DEFINITION = (DATA / "tamga_valley.nist.json").read_bytes()
PLAIN_DEFINITION = as_json(ELECTION_DOC)
VOTERS_CSV = voters_csv(make_voters(3))


@settings(max_examples=40)
@given(st.one_of(mutated(PLAIN_DEFINITION, 3), mutated(NIST_DEFINITION, 3)))
def test_a_changed_definition_loads_or_says_what_is_wrong(data: bytes) -> None:
    try:
        election = parse_election_json(data)
    except ElectionError as err:
        assert err.problems and all(isinstance(p, str) and p for p in err.problems)
        return
    assert election.contests


@pytest.mark.parametrize("opener", ["[", "{"])
def test_a_definition_nested_without_end_is_refused_before_parsing(opener: str) -> None:
    with pytest.raises(ElectionError, match="nested too deeply"):
        parse_election_json(('{"@type": %s}' % deep(100_000, opener)).encode())


@given(json_values)
def test_any_json_is_a_voter_list_or_a_voter_list_error(value: Any) -> None:
    try:
        voters = parse_json(json.dumps(value))
    except VoterListError as err:
        assert err.errors
        return
    assert isinstance(voters, list)


@given(mutated(VOTERS_CSV.encode(), 3))
def test_a_changed_voter_csv_is_read_or_refused(data: bytes) -> None:
    try:
        parse_csv(data.decode("utf-8", errors="replace"))
    except VoterListError as err:
        assert err.errors


def test_a_deep_voter_list_is_refused() -> None:
    with pytest.raises(VoterListError, match="nested deeper"):
        parse_json(deep(100_000))


@given(json_values)
def test_any_json_is_a_setup_or_a_setup_error(value: Any) -> None:
    try:
        parse_setup(value, Path("/nonexistent"))
    except SetupError as err:
        assert str(err)


def test_a_deep_or_huge_setup_file_is_refused(tmp_path: Path) -> None:
    deep_file = tmp_path / "deep.json"
    deep_file.write_text('{"station": %s}' % deep(100_000))
    with pytest.raises(SetupError, match="nested deeper"):
        load_setup(deep_file)
    huge = tmp_path / "huge.json"
    huge.write_bytes(b'{"station": "' + b"a" * (2 << 20) + b'"}')
    with pytest.raises(SetupError, match="larger than"):
        load_setup(huge)
    (tmp_path / "latin1.json").write_bytes(b'{"station": "\xe9"}')
    with pytest.raises(SetupError, match="not UTF-8"):
        load_setup(tmp_path / "latin1.json")


@given(json_values)
def test_any_json_is_print_settings_or_a_print_config_error(value: Any) -> None:
    try:
        parse_settings(value)
    except PrintConfigError as err:
        assert str(err)


@given(st.one_of(json_values, st.fixed_dictionaries(
    {"by": json_values, "reason": json_values,
     "marks": st.lists(st.dictionaries(st.sampled_from(("contest", "option", "decision")),
                                       json_values), max_size=3)})))
def test_any_decision_body_is_read_or_an_adjudication_error(value: Any) -> None:
    try:
        by, reason, marks = parse_request(value)
    except AdjudicationError as err:
        assert str(err)
        return
    assert isinstance(by, str) and isinstance(reason, str) and marks


@given(st.text(max_size=80))
def test_any_text_is_a_ballot_code_or_a_code_error(text: str) -> None:
    try:
        code = BallotCode.decode(text)
    except CodeError:
        return
    assert BallotCode.decode(code.encode()) == code


@given(st.integers(1, 200), st.sampled_from(("test", "official")),
       st.sampled_from(("A4", "letter")), st.text("abcdefghijklmnopqrstuvwxyz0123456789-",
                                                  min_size=1, max_size=32))
def test_every_code_a_ballot_carries_reads_back(style: int, mode: str, paper: str, station):
    code = BallotCode("ab" * 8, style, mode, paper, station_tag(station))
    assert BallotCode.decode(code.encode()) == code


def _template() -> bytes:
    from controller.biometrics.template import Minutiae

    minutiae = Minutiae.from_columns([10, 200, 77], [20, 250, 140], [0.0, 1.5, 3.0],
                                     [1, 2, 1], [80, 60, 40])
    return iso.encode(FingerRecord(256, 288, [FingerView(minutiae, finger=2, quality=70)]))


TEMPLATE = _template()


@given(mutated(TEMPLATE, 3))
def test_a_changed_finger_template_is_read_or_an_iso_record_error(data: bytes) -> None:
    try:
        record = iso.parse(data)
    except iso.IsoRecordError as err:
        assert str(err)
        return
    assert record.views and all(len(v.minutiae) <= 255 for v in record.views)


DEVICE_CONFIG = {
    "device": "term-1", "role": "idterminal", "station": "st-1", "key": "ab" * 32,
    "broker": {"host": "127.0.0.1", "port": 1883}, "board": "unix",
    "uart": {"mrz": "/dev/ttyS1", "display": "/dev/ttyS2"},
}


@st.composite
def device_configs(draw: st.DrawFn) -> Any:
    if draw(st.booleans()):
        return draw(json_values)
    config: dict[str, Any] = copy.deepcopy(DEVICE_CONFIG)
    for _ in range(draw(st.integers(1, 3))):
        key = draw(st.sampled_from((*config, "keepalive", "wifi", "finger_kind", "extra")))
        config[key] = draw(json_values)
    return config


@given(device_configs())
def test_any_device_config_is_checked_or_a_config_error(value: Any) -> None:
    try:
        check(value)
    except ConfigError as err:
        assert str(err)
