"""Building a flash directory, the firmware hash, and what a device does with a bad config."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from firmware.build import build_flash
from firmware.config import ConfigError
from firmware.fwinfo import file_sha256, fw_hash
from tests.conftest import micropython_path
from tests.firmware.fake_controller import device_config


def _config(**extra):
    return device_config("term-9", "idterminal", "127.0.0.1", 1883,
                         {"mrz": "/dev/null", "display": "/dev/null"}, **extra)


def _device_fwinfo(flash: Path) -> dict:
    code = "import json; from firmware import fwinfo; print(json.dumps(fwinfo.info('.')))"
    done = subprocess.run([micropython_path(), "-X", "heapsize=96k", "-c", code], cwd=flash,
                          capture_output=True, text=True, timeout=30,
                          env={"MICROPYPATH": ".frozen"})
    assert done.returncode == 0, done.stdout + done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_image_manifest_and_hash(tmp_path):
    flash = tmp_path / "flash"
    digest = build_flash(flash, _config())
    manifest = json.loads((flash / "manifest.json").read_text())
    assert manifest["fw_hash"] == digest
    files = manifest["files"]
    assert "main.py" in files and "firmware/mqtt.mpy" in files
    assert "protocol/envelope.mpy" in files and "drivers/scanlink.mpy" in files
    assert "firmware/boards/unix.mpy" in files and "firmware/boards/esp32s3.mpy" not in files
    assert "firmware/build.mpy" not in files and "firmware/build.py" not in files
    assert [p.relative_to(flash).as_posix() for p in flash.rglob("*.py")] == ["main.py"]
    for rel, sha in files.items():
        assert file_sha256(str(flash / rel)) == sha
    assert fw_hash(files, manifest["version"]) == digest
    assert json.loads((flash / "config.json").read_text())["device"] == "term-9"
    # The same code for another device: the same hash.
    other = build_flash(tmp_path / "other", device_config(
        "scan-3", "scanner", "10.0.0.1", 8883, {"scan": "/dev/null", "display": "/dev/null"}))
    assert other == digest
    # The device computes the same hash from its files, and notices a changed file.
    assert _device_fwinfo(flash) == {"version": manifest["version"], "fw_hash": digest,
                                     "problems": []}
    target = flash / "protocol" / "envelope.mpy"
    data = bytearray(target.read_bytes())
    data[-1] ^= 1
    target.write_bytes(bytes(data))
    tampered = _device_fwinfo(flash)
    assert tampered["fw_hash"] != digest
    assert "changed protocol/envelope.mpy" in tampered["problems"]


def test_rebuild_keeps_state_and_removes_stale_code(tmp_path):
    flash = tmp_path / "flash"
    build_flash(flash, _config())
    (flash / "seq.json").write_text('{"boot": 4, "reserved": 1024}')
    (flash / "outbox").mkdir()
    (flash / "outbox" / "0000000000000900.msg").write_bytes(b"pending message\n")
    (flash / "pending.json").write_text('{"txn": "term-9-4-1", "seq": 900}')
    build_flash(flash, _config(keepalive=60), compile=False)
    assert (flash / "seq.json").read_text() == '{"boot": 4, "reserved": 1024}'
    assert (flash / "outbox" / "0000000000000900.msg").read_bytes() == b"pending message\n"
    assert (flash / "pending.json").exists()
    assert (flash / "firmware" / "mqtt.py").exists()
    assert not (flash / "firmware" / "mqtt.mpy").exists()  # would shadow nothing, but stale
    assert json.loads((flash / "config.json").read_text())["keepalive"] == 60


def test_bad_config_is_refused_by_build_and_by_the_device(tmp_path):
    with pytest.raises(ConfigError, match="'key'"):
        build_flash(tmp_path / "x", _config(key="00"))
    flash = tmp_path / "flash"
    build_flash(flash, _config())
    cfg = json.loads((flash / "config.json").read_text())
    cfg["broker"]["port"] = "1883"
    (flash / "config.json").write_text(json.dumps(cfg))
    done = subprocess.run([micropython_path(), "-X", "heapsize=96k", "main.py"], cwd=flash,
                          capture_output=True, text=True, timeout=30,
                          env={"MICROPYPATH": ".frozen"})
    assert done.returncode == 2
    assert "configuration error: config.json: 'broker.port' must be a TCP port" in done.stdout
    (flash / "config.json").write_text("{not json")
    done = subprocess.run([micropython_path(), "-X", "heapsize=96k", "main.py"], cwd=flash,
                          capture_output=True, text=True, timeout=30,
                          env={"MICROPYPATH": ".frozen"})
    assert done.returncode == 2 and "config.json is not valid JSON" in done.stdout


def test_scanner_texts_ship_with_every_key_the_scanner_shows(tmp_path):
    import re

    from firmware.apps import scanner

    flash = tmp_path / "flash"
    build_flash(flash, device_config("scan-9", "scanner", "127.0.0.1", 1883,
                                     {"scan": "/dev/null", "display": "/dev/null"}))
    assert "scanner_texts.txt" in json.loads((flash / "manifest.json").read_text())["files"]
    lines = (flash / "scanner_texts.txt").read_text(encoding="utf-8").splitlines()
    texts = dict(line.split("\t", 1) for line in lines)
    assert len(texts) == len(lines) and all(texts.values())
    source = Path(scanner.__file__).read_text()
    shown = set(re.findall(r'_message\("(\w+)"', source))
    # Sheets given back for a sensor fault are shown the text of their reason.
    shown |= {"cover_open", "jam", "double_sheet", "corrupt_scan"}
    assert shown <= set(texts), shown - set(texts)
    assert shown >= {"stuck", "interrupted", "removed", "timeout"}
    for key in shown:
        assert scanner.message(str(flash / "scanner_texts.txt"), key, "") == texts[key]


def test_boot_scratch_buffer_holds_the_scanner_chunk():
    # Allocated first at boot; a smaller one would make the scanner allocate its
    # chunk buffer later, from a heap that no longer has a hole that big.
    from firmware.apps import scanner
    from firmware.main import SCRATCH

    assert SCRATCH["scanner"] >= scanner.CHUNK_BYTES
