"""``shailoo printer``: check the thermal printer and print the results protocol again.

``shailoo printer status PRINTER`` asks the printer for paper and cover (exit 0 when
it can print, 1 when it cannot, with the reason). ``shailoo printer protocol`` prints
the stored results protocol of a closed station from its data folder, for when the
printout at closing was lost or more copies are needed (exit 0 printed, 1 not).
``PRINTER`` is a print settings file or a printer string such as
``serial:/dev/ttyUSB0:19200`` (``controller/printing/config.py``).
"""

from __future__ import annotations

import json
from pathlib import Path

import click

from controller.printing.config import PrintConfigError, PrintSettings, load_settings
from controller.printing.config import parse_settings as parse_printer


def _settings(spec: str) -> PrintSettings:
    try:
        if Path(spec).is_file():
            return load_settings(spec)
        return parse_printer(spec)
    except PrintConfigError as err:
        raise click.ClickException(str(err)) from None


@click.group("printer")
def printer() -> None:
    """The thermal printer: status, and the results protocol."""


@printer.command("status")
@click.argument("spec", metavar="PRINTER")
@click.option("--json", "as_json", is_flag=True, help="Print the status document as JSON.")
def status(spec: str, as_json: bool) -> None:
    """Ask the printer whether it can print (paper, cover, errors)."""
    from controller.printing.service import ProtocolPrinter

    doc = ProtocolPrinter(_settings(spec)).status(refresh=True)
    if as_json:
        click.echo(json.dumps(doc, ensure_ascii=False, indent=2))
    else:
        click.echo(f"{doc['target']}: {doc['state']} ({doc['message']})")
    if doc["state"] not in ("ready", "paper-near-end", "write-only"):
        raise SystemExit(1)


@printer.command("protocol")
@click.option(
    "--setup",
    "setup_path",
    required=True,
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    help="The station setup file (station.json), for the election's names.",
)
@click.option(
    "--data",
    "data_dir",
    required=True,
    type=click.Path(file_okay=False, exists=True, path_type=Path),
    help="The station's data folder.",
)
@click.option("--printer", "spec", required=True, help="Print settings file or printer string.")
@click.option("--copies", type=click.IntRange(1, 5), help="Copies (default: the settings').")
def protocol(setup_path: Path, data_dir: Path, spec: str, copies: int | None) -> None:
    """Print the results protocol of a closed station again."""
    from controller.election.definition import ElectionError
    from controller.election.load import load_election
    from controller.integrity import seals
    from controller.polls.results import get_results
    from controller.polls.state import PollsError
    from controller.printing.job import PrintFailed, print_protocol
    from controller.printing.protocol_layout import LayoutError
    from controller.station.setup import SetupError, load_setup
    from controller.store.database import Store

    settings = _settings(spec)
    try:
        election = load_election(load_setup(setup_path).election_path)
    except (SetupError, ElectionError) as err:
        raise click.ClickException(str(err)) from None
    db = data_dir / "station.db"
    if not db.is_file():
        raise click.ClickException(f"no station database in {data_dir}")
    store = Store(db)
    try:
        results = get_results(store)
        with store.read() as conn:
            close = seals.closing(conn)
    except PollsError as err:
        raise click.ClickException(str(err)) from None
    finally:
        store.close()
    try:
        seal = seals.paper_code(close) if close is not None else None
        done = print_protocol(settings, results, election, copies=copies, seal=seal)
    except (PrintFailed, LayoutError) as err:
        raise click.ClickException(f"protocol not printed: {err}") from None
    note = "" if done.checked else " (write-only link: paper and cover not checked)"
    click.echo(f"protocol printed: {done.copies} copy(ies), SHA-256 {done.sha256}{note}")
    for warning in done.warnings:
        click.echo(f"warning: {warning}", err=True)


if __name__ == "__main__":
    printer()
