"""Poll workers in the setup file: their entries, PIN hashes and TOTP secrets checked on
load, and ``shailoo workers`` that writes them."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pyotp
import pytest
from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st

from controller.station.setup import SetupError, load_setup
from controller.workers.roster import (
    WorkerError,
    hash_pin,
    parse_worker,
    parse_workers,
    totp_step,
    verify_pin,
)
from shailoo.cli import main
from tests.controller.conftest import default_devices
from tests.controller.helpers import WORKERS, make_voters, station_id, write_station

GOOD = WORKERS["chair"].setup_entry()
SECRET = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"


def entry(**changes: Any) -> dict[str, Any]:
    return {**GOOD, **changes}


BAD_ENTRIES = [
    ("not an object", ["chair-1"], "expected an object"),
    ("unknown field", entry(pin_plain="123456"), "unknown field(s) pin_plain"),
    ("id missing", {k: v for k, v in GOOD.items() if k != "id"}, "id None must match"),
    ("id with capitals", entry(id="Chair"), "id 'Chair' must match"),
    ("id too long", entry(id="c" * 33), "must match"),
    ("role", entry(role="president"), "role must be one of chair, secretary"),
    ("name empty", entry(name="  "), "name must be text of 1-80"),
    ("name too long", entry(name="A" * 81), "name must be text of 1-80"),
    ("name with a newline", entry(name="A\nB"), "control characters"),
    ("pin in clear", entry(pin="123456"), "look like scrypt$n$r$p$salt$hash"),
    ("pin not text", entry(pin=123456), "pin must be a hash"),
    ("pin hash oversized", entry(pin="scrypt$" + "1" * 300), "pin must be a hash"),
    ("pin cost too high", entry(pin=GOOD["pin"].replace("$16384$", "$1073741824$", 1)),
     "power of two in 16384..1048576"),
    ("pin cost too low", entry(pin=GOOD["pin"].replace("$16384$", "$1024$", 1)),
     "power of two"),
    ("pin cost not a power", entry(pin=GOOD["pin"].replace("$16384$", "$20000$", 1)),
     "power of two"),
    ("pin r", entry(pin=GOOD["pin"].replace("$8$1$", "$64$1$", 1)), "r must be 8..16"),
    ("pin salt not hex", entry(pin=GOOD["pin"][:-3] + "xyz"), "salt, hash hex"),
    ("pin hash short", entry(pin=GOOD["pin"][:-2]), "a 32-byte hash expected"),
    ("totp short", entry(totp="JBSWY3DPEHPK3PXP"), "totp must be a base32 secret of 26-128"),
    ("totp lower case", entry(totp=SECRET.lower()), "totp must be a base32"),
    ("totp not base32", entry(totp="1" * 32), "totp must be a base32"),
    ("totp not text", entry(totp=None), "totp must be a base32"),
]


@pytest.mark.parametrize(("what", "item", "message"), BAD_ENTRIES, ids=[c[0] for c in BAD_ENTRIES])
def test_bad_worker_entries_are_refused_with_where_and_why(what: str, item: Any,
                                                           message: str) -> None:
    with pytest.raises(WorkerError) as err:
        parse_workers([GOOD | {"id": "other-1"}, item], "station.json")
    assert "station.json: workers[1]" in str(err.value)
    assert message in str(err.value), str(err.value)


def test_worker_lists() -> None:
    assert parse_workers([], "s") == ()
    with pytest.raises(WorkerError, match="s: workers must be a list"):
        parse_workers({"chair-1": GOOD}, "s")
    with pytest.raises(WorkerError, match=r"workers\[1\]: worker id 'chair-1' appears twice"):
        parse_workers([GOOD, GOOD], "s")
    [chair] = parse_workers([entry(name="  Aida  ")], "s")
    assert chair.name == "Aida" and chair.check_pin(WORKERS["chair"].pin)


def test_the_setup_file_carries_workers(tmp_path: Path) -> None:
    sid = station_id()
    setup = write_station(tmp_path, sid, default_devices(), make_voters(2))
    loaded = load_setup(setup)
    assert [w.role for w in loaded.workers] == ["chair", "secretary", "member", "technician"]
    doc = json.loads(setup.read_text())
    doc["workers"][2]["role"] = "observer"
    setup.write_text(json.dumps(doc))
    with pytest.raises(SetupError, match=r"workers\[2\] \(member-1\): role must be one of"):
        load_setup(setup)
    # An official station cannot start without someone who may close its polls.
    official = write_station(tmp_path / "o", sid, default_devices(), make_voters(2),
                             mode="official", workers=[WORKERS["member"].setup_entry()])
    with pytest.raises(SetupError, match="an official station needs a chair"):
        load_setup(official)
    training = write_station(tmp_path / "t", sid, default_devices(), make_voters(2), workers=[])
    assert load_setup(training).workers == ()


def test_pins_and_codes() -> None:
    stored = hash_pin("24681357")
    assert stored.startswith("scrypt$16384$8$1$") and "24681357" not in stored
    assert stored != hash_pin("24681357")  # a fresh salt every time
    assert verify_pin(stored, "24681357")
    for wrong in ("24681358", "2468135", "", "24681357 ", "２４６８１３５７", None, 24681357):
        assert not verify_pin(stored, wrong)
    for bad in ("12345", "1234567890123", "12a456", "", " 123456"):
        with pytest.raises(WorkerError, match="6 to 12 digits"):
            hash_pin(bad)
    now = time.time()
    step = int(now // 30)
    totp = pyotp.TOTP(SECRET)
    assert totp_step(SECRET, totp.at(now), now) == step
    assert totp_step(SECRET, totp.at(now - 30), now) == step - 1  # typed as it rolled over
    assert totp_step(SECRET, totp.at(now + 30), now) == step + 1  # a clock a little ahead
    assert totp_step(SECRET, totp.at(now - 90), now) is None
    for bad in ("", "12345", "1234567", "abcdef", None, 123456, " " + totp.at(now)):
        assert totp_step(SECRET, bad, now) is None


@settings(max_examples=200, deadline=None)
@given(st.dictionaries(
    st.sampled_from(["id", "name", "role", "pin", "totp", "x"]),
    st.one_of(st.none(), st.integers(), st.text(max_size=40), st.sampled_from(
        ["chair", "chair-1", GOOD["pin"], SECRET, "scrypt$16384$8$1$00$00"])),
))
def test_any_entry_is_a_worker_or_a_clear_error(item: dict[str, Any]) -> None:
    try:
        worker = parse_worker(item, "w")
    except WorkerError as err:
        assert str(err).startswith("w")
    else:
        assert worker.role in ("chair", "secretary", "member", "technician")


# -- the command line ---------------------------------------------------------------------


def run(*args: str, stdin: str | None = None) -> Any:
    return CliRunner().invoke(main, ["workers", *args], input=stdin)


def test_workers_add_list_code_remove(tmp_path: Path) -> None:
    sid = station_id()
    setup = write_station(tmp_path, sid, default_devices(), make_voters(2), workers=[])
    added = run("add", "--setup", str(setup), "--id", "chair-7", "--name", "Asel Toktogulova",
                "--role", "chair", stdin="97531246\n")
    assert added.exit_code == 0, added.output
    secret = added.output.split("TOTP secret: ")[1].split()[0]
    assert f"otpauth://totp/Shailoo:chair-7%40{sid}?secret={secret}" in added.output
    assert "97531246" not in setup.read_text()
    assert setup.stat().st_mode & 0o777 == 0o600
    [chair] = load_setup(setup).workers  # the station takes what the command wrote
    assert (chair.id, chair.role, chair.totp_secret) == ("chair-7", "chair", secret)
    assert chair.check_pin("97531246")
    assert chair.code_step(pyotp.TOTP(secret).now()) is not None
    assert load_setup(setup).devices  # the rest of the file is kept

    twice = run("add", "--setup", str(setup), "--id", "chair-7", "--name", "X", "--role",
                "member", stdin="97531246\n")
    assert twice.exit_code == 1 and "already listed" in twice.output
    again = run("add", "--setup", str(setup), "--id", "chair-7", "--name", "Asel T.",
                "--role", "chair", "--replace", stdin="11223344\n")
    assert again.exit_code == 0 and "re-enrolled" in again.output
    [chair] = load_setup(setup).workers
    assert chair.check_pin("11223344") and chair.totp_secret != secret
    run("add", "--setup", str(setup), "--id", "tech-1", "--name", "Nurlan", "--role",
        "technician", "--qr", stdin="55667788\n")
    listing = run("list", "--setup", str(setup))
    assert listing.output.split("\n")[:2] == [
        f"{'chair-7':<24} {'chair':<11} Asel T.", f"{'tech-1':<24} {'technician':<11} Nurlan"]
    assert "scrypt" not in listing.output and chair.totp_secret not in listing.output

    shown = run("code", "--setup", str(setup), "--id", "chair-7")
    assert shown.exit_code == 0
    assert chair.code_step(shown.output.split()[0]) is not None
    assert run("remove", "--setup", str(setup), "--id", "tech-1").exit_code == 0
    assert [w.id for w in load_setup(setup).workers] == ["chair-7"]
    assert run("remove", "--setup", str(setup), "--id", "tech-1").exit_code == 1


def test_workers_commands_refuse_bad_input_and_change_nothing(tmp_path: Path) -> None:
    sid = station_id()
    setup = write_station(tmp_path, sid, default_devices(), make_voters(2), mode="official")
    before = setup.read_bytes()
    for args, stdin, words in (
        (["--id", "m-1", "--name", "M", "--role", "member"], "1234\n", "6 to 12 digits"),
        (["--id", "m-1", "--name", "M", "--role", "member"], "12345678x\n", "6 to 12 digits"),
        (["--id", "M 1", "--name", "M", "--role", "member"], "12345678\n", "must match"),
        (["--id", "m-1", "--name", "M\tX", "--role", "member"], "12345678\n", "control"),
        (["--id", "m-1", "--name", "M", "--role", "boss"], "12345678\n", "Invalid value"),
    ):
        refused = run("add", "--setup", str(setup), *args, stdin=stdin)
        assert refused.exit_code != 0 and words in refused.output, refused.output
    official = run("code", "--setup", str(setup), "--id", "chair-1")
    assert official.exit_code == 1 and "only for a test-mode station" in official.output
    assert setup.read_bytes() == before
    broken = tmp_path / "broken.json"
    for text, words in (("{not json", "not valid JSON"), ("[1]", "expected a JSON object"),
                        ('{"workers": [{"id": "x"}]}', "workers[0] (x): name must be")):
        broken.write_text(text)
        for command in (["list"], ["remove", "--id", "x"],
                        ["add", "--id", "y", "--name", "Y", "--role", "member"]):
            answer = run(*command, "--setup", str(broken), stdin="12345678\n")
            assert answer.exit_code == 1 and words in answer.output, (command, answer.output)
        assert broken.read_text() == text
