"""Build a device's flash directory from this repository (runs on CPython).

The image holds ``main.py`` at the root, the ``firmware`` package (both apps, the
board profile named in the config), the whole ``protocol`` package and the
byte-level ``drivers`` the apps use, plus ``config.json`` (the device identity)
and ``manifest.json`` (SHA-256 of every code file, the version and ``fw_hash``,
see ``firmware.fwinfo``). The code files do not depend on the device's role or
identity, so every device on one board type and version has the same ``fw_hash``.

Building over an existing directory replaces the code, ``config.json`` and the
manifest, deletes code files the new manifest no longer lists, and leaves every
other file (sequence numbers, outbox, journal, counter) alone.

Usage: ``python -m firmware.build DEST CONFIG.json``.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from pathlib import Path

from firmware import VERSION
from firmware.config import check
from firmware.fwinfo import MANIFEST, file_sha256, fw_hash

ROOT = Path(__file__).resolve().parent.parent
FIRMWARE_FILES = (
    "firmware/__init__.py",
    "firmware/config.py",
    "firmware/display.py",
    "firmware/fwinfo.py",
    "firmware/link.py",
    "firmware/mqtt.py",
    "firmware/outbox.py",
    "firmware/runtime.py",
    "firmware/seqstore.py",
    "firmware/store.py",
    "firmware/boards/__init__.py",
    "firmware/apps/__init__.py",
    "firmware/apps/idterminal.py",
    "firmware/apps/scanner.py",
)
DRIVER_FILES = ("drivers/__init__.py", "drivers/mrz.py", "drivers/scanlink.py")


def image_files(board: str) -> dict[str, Path]:
    """Map of flash path -> source file for the image of ``board``."""
    files = {"main.py": ROOT / "firmware" / "main.py"}
    for rel in FIRMWARE_FILES + DRIVER_FILES + (f"firmware/boards/{board}.py",):
        files[rel] = ROOT / rel
    for src in sorted((ROOT / "protocol").glob("*.py")):
        files[f"protocol/{src.name}"] = src
    missing = [rel for rel, src in files.items() if not src.is_file()]
    if missing:
        raise FileNotFoundError("firmware sources missing: " + ", ".join(missing))
    return files


def build_flash(dest: Path, config: dict) -> str:
    """Write the flash directory for ``config`` into ``dest``; return its ``fw_hash``.

    Raises ``firmware.config.ConfigError`` for a config the device would refuse.
    """
    board = check(config)["board"]
    dest = Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    files = image_files(board)
    old_manifest = dest / MANIFEST
    if old_manifest.is_file():
        try:
            old = json.loads(old_manifest.read_text()).get("files", {})
        except (ValueError, AttributeError):
            old = {}
        for rel in old:
            target = dest / rel
            # Only paths inside dest that the new image does not carry.
            if rel not in files and target.resolve().is_relative_to(dest.resolve()):
                target.unlink(missing_ok=True)
    hashes = {}
    for rel, src in sorted(files.items()):
        target = dest / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(src, target)
        hashes[rel] = file_sha256(str(target))
    digest = fw_hash(hashes, VERSION)
    manifest = {"files": hashes, "fw_hash": digest, "version": VERSION}
    (dest / MANIFEST).write_text(json.dumps(manifest, indent=1, sort_keys=True) + "\n")
    (dest / "config.json").write_text(json.dumps(config, indent=1, sort_keys=True) + "\n")
    return digest


def main(argv: list[str] | None = None) -> int:
    """Command line: build DEST from a config file."""
    parser = argparse.ArgumentParser(description="Build a Shailoo device flash directory.")
    parser.add_argument("dest", type=Path)
    parser.add_argument("config", type=Path)
    args = parser.parse_args(argv)
    digest = build_flash(args.dest, json.loads(args.config.read_text()))
    print(f"built {args.dest} fw_hash {digest}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
