"""The station's signing key: made by ``shailoo controller keygen``, read at every start;
missing, malformed, too open, foreign or swapped keys, and damaged databases, each
refused with a clear error."""

from __future__ import annotations

import json
import os
import sqlite3
import stat
from pathlib import Path

import pytest
from click.testing import CliRunner
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from hypothesis import given, settings
from hypothesis import strategies as st

from controller.integrity import seals, station_key
from controller.station.app import Station, StationError
from controller.station.setup import SetupError, load_setup
from controller.store import audit
from controller.store.database import Store
from shailoo.cli import main
from tests.controller.conftest import default_devices
from tests.controller.helpers import load_test_election, make_voters, station_id, write_station


def _keygen(path: Path, *extra: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, ["controller", "keygen", "--out", str(path), *extra])
    return result.exit_code, result.output


def _setup(folder: Path, mode: str = "test", **fields: object) -> Path:
    setup = write_station(folder, station_id(), default_devices(), make_voters(3), mode)
    if fields:
        doc = json.loads(setup.read_text())
        doc.update(fields)
        setup.write_text(json.dumps(doc))
    return setup


def _start(setup: Path, data: Path) -> Station:
    return Station(setup, data, election_loader=load_test_election).start(http=False, mqtt=False)


def test_keygen_writes_a_private_key_for_its_owner_only(tmp_path: Path) -> None:
    key = tmp_path / "station.key"
    code, out = _keygen(key)
    assert code == 0, out
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    public = out.strip().splitlines()[-1]
    assert (tmp_path / "station.pub").read_text().strip() == public
    assert station_key.public_hex(station_key.load_private(key).public_key()) == public
    # A station keeps its key: no silent replacement.
    code, out = _keygen(key)
    assert code == 1 and "exists: a station keeps its key" in out
    assert (tmp_path / "station.pub").read_text().strip() == public
    code, out = _keygen(key, "--force")
    assert code == 0 and out.strip().splitlines()[-1] != public
    assert stat.S_IMODE(key.stat().st_mode) == 0o600


def test_a_test_station_makes_its_key_and_an_official_one_needs_it(tmp_path: Path) -> None:
    test_setup = _setup(tmp_path / "t")
    station = _start(test_setup, tmp_path / "t" / "data")
    station.stop()
    assert stat.S_IMODE((tmp_path / "t" / "station.key").stat().st_mode) == 0o600
    official = _setup(tmp_path / "o", mode="official")
    with pytest.raises(StationError, match=r"no station key at .*station.key: make one with"):
        _start(official, tmp_path / "o" / "data")
    assert not (tmp_path / "o" / "data" / "station.db").exists()  # refused before any record
    assert _keygen(tmp_path / "o" / "station.key")[0] == 0
    _start(official, tmp_path / "o" / "data").stop()


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "is not a PEM private key"),
        (b"-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n", "not a PEM"),
        (b"\x00\xff" * 100, "is not a PEM private key"),
        (b"A" * (station_key.MAX_KEY_FILE + 1), "not an Ed25519 key file"),
        (
            ec.generate_private_key(ec.SECP256R1()).private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            ),
            "not an Ed25519 key",
        ),
    ],
    ids=["empty", "bad-base64", "binary", "oversized", "ec-key"],
)
def test_a_malformed_key_file_is_refused(tmp_path: Path, content: bytes, message: str) -> None:
    setup = _setup(tmp_path)
    key = tmp_path / "station.key"
    fd = os.open(key, os.O_WRONLY | os.O_CREAT, 0o600)
    with os.fdopen(fd, "wb") as out:
        out.write(content)
    with pytest.raises(StationError, match=message):
        _start(setup, tmp_path / "data")


def test_a_key_readable_by_others_or_not_a_file_is_refused(tmp_path: Path) -> None:
    setup = _setup(tmp_path)
    key = tmp_path / "station.key"
    assert _keygen(key)[0] == 0
    key.chmod(0o644)
    with pytest.raises(StationError, match="readable by others.*chmod 600"):
        _start(setup, tmp_path / "data")
    key.unlink()
    key.mkdir()
    with pytest.raises(StationError, match="is not a file"):
        _start(setup, tmp_path / "data")


def test_the_setup_names_the_public_key_the_file_must_hold(tmp_path: Path) -> None:
    assert _keygen(tmp_path / "other.key")[0] == 0
    expected = (tmp_path / "other.pub").read_text().strip()
    setup = _setup(tmp_path, public_key=expected)
    assert _keygen(tmp_path / "station.key")[0] == 0
    with pytest.raises(StationError, match="not the public key the setup names"):
        _start(setup, tmp_path / "data")
    # The setup may name the key file elsewhere.
    setup = _setup(tmp_path, public_key=expected, signing_key="other.key")
    _start(setup, tmp_path / "data").stop()


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"public_key": "ab" * 31}, "public_key must be 32 bytes"),
        ({"public_key": "zz" * 32}, "public_key must be 32 bytes"),
        ({"public_key": 7}, "public_key must be 32 bytes"),
        ({"signing_key": ""}, "signing_key must be the path"),
        ({"signing_key": ["station.key"]}, "signing_key must be the path"),
    ],
)
def test_malformed_key_fields_of_the_setup(tmp_path: Path, fields: dict, message: str) -> None:
    with pytest.raises(SetupError, match=message):
        load_setup(_setup(tmp_path, **fields))


def test_another_key_after_polls_opened_is_refused(tmp_path: Path) -> None:
    setup = _setup(tmp_path)
    _start(setup, tmp_path / "data").stop()  # polls open: records signed with this key
    assert _keygen(tmp_path / "station.key", "--force")[0] == 0
    with pytest.raises(StationError, match="the station key changed since polls opened"):
        _start(setup, tmp_path / "data")


@pytest.mark.parametrize(
    "given",
    ["", "xyz", "g" * 64, "ab" * 33, "ab" * 5000],
    ids=["empty", "short", "not-hex", "too-long", "oversized"],
)
def test_verify_refuses_a_malformed_public_key(tmp_path: Path, given: str) -> None:
    result = CliRunner().invoke(
        main, ["controller", "verify-audit", "--data", str(tmp_path), "--public-key", given]
    )
    assert result.exit_code == 1
    assert "public key" in result.output


def test_verify_refuses_a_malformed_public_key_file(tmp_path: Path) -> None:
    for name, content in (("garbage.pub", b"\xff\xfe" * 40), ("big.pub", b"a" * 10_000),
                          ("short.pub", b"abcd\n")):
        path = tmp_path / name
        path.write_bytes(content)
        result = CliRunner().invoke(
            main, ["controller", "verify-audit", "--data", str(tmp_path), "--public-key", str(path)]
        )
        assert result.exit_code == 1, name
        assert str(path) in result.output, result.output


@pytest.mark.parametrize("keep", [0, 4096, 3 * 4096], ids=["empty", "one-page", "three-pages"])
def test_verify_a_truncated_database(tmp_path: Path, keep: int) -> None:
    setup = _setup(tmp_path)
    _start(setup, tmp_path / "data").stop()
    db = tmp_path / "data" / "station.db"
    assert db.stat().st_size > keep
    with db.open("r+b") as f:
        f.truncate(keep)
    result = CliRunner().invoke(
        main,
        ["controller", "verify-audit", "--data", str(tmp_path / "data"),
         "--public-key", str(tmp_path / "station.pub")],
    )
    assert result.exit_code == 1
    assert "cannot be read" in result.output and "damaged or truncated" in result.output


# -- generated input: whatever a file or a forger holds, a clear refusal and no crash --------

@settings(max_examples=200, deadline=None)
@given(st.one_of(st.text(max_size=200), st.binary(max_size=200).map(lambda b: b.hex())))
def test_any_public_key_text_is_a_key_or_a_clear_refusal(text: str) -> None:
    try:
        key = station_key.load_public(text) if "\x00" not in text else None
    except station_key.StationKeyError as err:
        assert "public key" in str(err) or "hex digits" in str(err)
        return
    if key is not None:
        assert station_key.public_hex(key) == text.strip().lower()


@pytest.fixture(scope="module")
def sealed_store(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """A store with three sealed entries, and its public key."""
    folder = tmp_path_factory.mktemp("sealed")
    public = station_key.generate(folder / "station.key")
    store = Store(folder / "station.db")
    seals.attach(store.path, station_key.load_private(folder / "station.key"))
    try:
        with store.tx() as conn:
            for n in range(3):
                audit.append(conn, "test", None, n=n)
    finally:
        seals.detach(store.path)
        store.close()
    return folder / "station.db", station_key.public_hex(public)


@settings(max_examples=200, deadline=None)
@given(
    name=st.sampled_from(["seal:head", "seal:000000002", "seal:000000016"]),
    value=st.one_of(
        st.text(max_size=300),
        st.recursive(
            st.none() | st.booleans() | st.integers() | st.text(max_size=20),
            lambda inner: st.lists(inner, max_size=4) | st.dictionaries(
                st.sampled_from(["statement", "signature", "entry", "head", "format", "chain"]),
                inner, max_size=6),
            max_leaves=20,
        ).map(json.dumps),
    ),
)
def test_any_stored_seal_is_checked_without_a_crash(
    sealed_store: tuple[Path, str], name: str, value: str
) -> None:
    from controller.integrity.verify import check

    db, public = sealed_store
    conn = sqlite3.connect(db, isolation_level=None)
    try:
        conn.execute("BEGIN")
        conn.execute("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", (name, value))
        report = check(conn, station_key.parse_public(public))
        conn.execute("ROLLBACK")
    finally:
        conn.close()
    assert not report.ok  # a forged seal is never taken for the station's
    assert all(isinstance(p, str) and p for p in report.problems)
