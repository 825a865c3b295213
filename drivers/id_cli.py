"""``shailoo id``: ID-document tools for technicians (host only, not on devices).

``shailoo id parse-mrz`` reads machine-readable-zone lines on standard input, as a
serial document reader sends them or as typed, and prints every field and check as
JSON. It exits 1 when any check digit fails and 2 when the lines are no MRZ at all,
so scripts can tell a misread from a forgery attempt from garbage.
"""

from __future__ import annotations

import json
import sys

import click

from drivers import mrz

MAX_INPUT = 4096


@click.group("id")
def id_group() -> None:
    """ID documents: machine-readable zones (ICAO 9303)."""


@id_group.command("parse-mrz")
@click.option("--compact", is_flag=True, help="One line of JSON instead of indented.")
def parse_mrz(compact: bool) -> None:
    """Parse TD1, TD2 or TD3 lines from standard input; print fields and checks as JSON."""
    raw = sys.stdin.buffer.read(MAX_INPUT + 1)
    if len(raw) > MAX_INPUT:
        raise click.ClickException(f"more than {MAX_INPUT} bytes on standard input: not an MRZ")
    try:
        text = raw.decode("ascii")
    except UnicodeDecodeError as err:
        reason = f"byte {err.start} is not ASCII: an MRZ has only A-Z, 0-9 and <"
        click.echo(f"error: {reason}", err=True)
        sys.exit(2)
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    try:
        fields = mrz.parse(lines)
    except mrz.MrzError as err:
        click.echo(f"error: {err}", err=True)
        sys.exit(2)
    click.echo(json.dumps(fields, ensure_ascii=False, indent=None if compact else 2))
    if not fields["valid"]:
        failed = ", ".join(name for name, ok in fields["checks"].items() if not ok)
        click.echo(f"check digit failed: {failed}", err=True)
        sys.exit(1)
