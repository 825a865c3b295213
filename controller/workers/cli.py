"""``shailoo workers``: enrol poll workers in a station's setup file, list and remove them.

``add`` asks for the PIN twice (or reads it from standard input), stores only its
scrypt hash, makes a fresh TOTP secret and prints it with its ``otpauth://`` URI (and
``--qr``: as a QR code on the terminal) for the worker's authenticator app. The setup
file is rewritten whole through a temporary file, so a crash leaves the old or the new
one, never half of either.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import click

from controller.workers.roster import (
    ROLES,
    TOTP_STEP,
    Worker,
    WorkerError,
    code_at,
    hash_pin,
    new_secret,
    parse_workers,
    provisioning_uri,
)

SetupPath = click.Path(dir_okay=False, exists=True, path_type=Path)


def _read(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except OSError as err:
        raise click.ClickException(f"cannot read {path}: {err.strerror}") from None
    except ValueError as err:
        raise click.ClickException(f"{path}: not valid JSON: {err}") from None
    if not isinstance(data, dict):
        raise click.ClickException(f"{path}: expected a JSON object")
    try:
        parse_workers(data.get("workers", []), str(path))
    except WorkerError as err:
        raise click.ClickException(str(err)) from None
    return data


def _write(path: Path, data: dict[str, Any]) -> None:
    fd, tmp = tempfile.mkstemp(prefix=".station-", suffix=".json", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            out.write(json.dumps(data, indent=1, ensure_ascii=False) + "\n")
            out.flush()
            os.fsync(out.fileno())
        os.chmod(tmp, 0o600)  # it holds the workers' second factors and the device keys
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


@click.group()
def workers() -> None:
    """Poll workers who may log in to the station: enrol, list, remove."""


@workers.command()
@click.option("--setup", "setup_path", required=True, type=SetupPath, help="station.json")
@click.option("--id", "worker_id", required=True, help="Login id: a-z, 0-9 and '-'.")
@click.option("--name", required=True, help="The worker's full name.")
@click.option("--role", required=True, type=click.Choice(ROLES))
@click.option("--replace", is_flag=True, help="Enrol again a worker already listed "
              "(new PIN and secret: a lost phone, a forgotten PIN).")
@click.option("--qr", is_flag=True, help="Also show the secret as a QR code.")
def add(setup_path: Path, worker_id: str, name: str, role: str, replace: bool, qr: bool) -> None:
    """Enrol a worker: PIN asked twice (or read from standard input), TOTP secret printed."""
    data = _read(setup_path)
    listed = list(data.get("workers", []))
    existing = [i for i, w in enumerate(listed) if w.get("id") == worker_id]
    if existing and not replace:
        raise click.ClickException(
            f"worker {worker_id} is already listed in {setup_path} (--replace to enrol again)"
        )
    if sys.stdin.isatty():
        pin = click.prompt("PIN (6-12 digits)", hide_input=True, confirmation_prompt=True)
    else:
        pin = sys.stdin.readline().strip()
    try:
        pin_hash = hash_pin(pin)
        worker = Worker(worker_id, name, role, pin_hash, new_secret())
        entry = worker.to_setup()
        parse_workers([entry], "worker")  # the same checks as the station's
    except WorkerError as err:
        raise click.ClickException(str(err)) from None
    if existing:
        listed[existing[0]] = entry
    else:
        listed.append(entry)
    data["workers"] = listed
    _write(setup_path, data)
    uri = provisioning_uri(worker, str(data.get("station", "station")))
    click.echo(f"{'re-enrolled' if existing else 'enrolled'} {worker_id} ({role}) "
               f"in {setup_path}")
    click.echo(f"TOTP secret: {worker.totp_secret}")
    click.echo(f"authenticator URI: {uri}")
    if qr:
        import segno

        segno.make(uri, error="m").terminal(compact=True)


@workers.command("list")
@click.option("--setup", "setup_path", required=True, type=SetupPath, help="station.json")
def list_workers(setup_path: Path) -> None:
    """The workers of a station: id, role, name (never a PIN hash or secret)."""
    listed = parse_workers(_read(setup_path).get("workers", []), str(setup_path))
    if not listed:
        click.echo("no workers: nobody can log in to this station")
    for worker in listed:
        click.echo(f"{worker.id:<24} {worker.role:<11} {worker.name}")


@workers.command()
@click.option("--setup", "setup_path", required=True, type=SetupPath, help="station.json")
@click.option("--id", "worker_id", required=True)
def remove(setup_path: Path, worker_id: str) -> None:
    """Remove a worker: they can no longer log in once the controller restarts."""
    data = _read(setup_path)
    listed = data.get("workers", [])
    kept = [w for w in listed if w.get("id") != worker_id]
    if len(kept) == len(listed):
        raise click.ClickException(f"no worker {worker_id} in {setup_path}")
    data["workers"] = kept
    _write(setup_path, data)
    click.echo(f"removed {worker_id} from {setup_path}")


@workers.command()
@click.option("--setup", "setup_path", required=True, type=SetupPath, help="station.json")
@click.option("--id", "worker_id", required=True)
def code(setup_path: Path, worker_id: str) -> None:
    """The current code of a worker of a TEST-mode (training) station, for trainees
    without an authenticator app; an official station refuses."""
    data = _read(setup_path)
    if data.get("mode") != "test":
        raise click.ClickException("codes are shown only for a test-mode station")
    listed = {w.id: w for w in parse_workers(data.get("workers", []), str(setup_path))}
    if worker_id not in listed:
        raise click.ClickException(f"no worker {worker_id} in {setup_path}")
    now = time.time()
    step = int(now // TOTP_STEP)
    click.echo(f"{code_at(listed[worker_id].totp_secret, step)}   "
               f"(valid for {TOTP_STEP - int(now % TOTP_STEP)} s more)")
