"""``shailoo controller``: run the station controller and check its inputs and records."""

from __future__ import annotations

import logging
import signal
import threading
from pathlib import Path
from types import FrameType

import click


@click.group()
def controller() -> None:
    """Run the station controller and check its inputs and records."""


@controller.command()
@click.option(
    "--setup",
    "setup_path",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="The station setup file (station.json).",
)
@click.option(
    "--data",
    "data_dir",
    required=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="Directory for the station database and ballot images.",
)
@click.option("--broker-host", default="127.0.0.1", show_default=True)
@click.option("--broker-port", default=8883, show_default=True, type=int)
@click.option(
    "--broker-login",
    "login_path",
    default=None,
    type=click.Path(dir_okay=False, path_type=Path),
    help="The controller's broker login (controller.json of `shailoo broker config`); "
    "without it the controller connects in clear, as only the training broker allows.",
)
@click.option("--http-host", default="127.0.0.1", show_default=True)
@click.option("--http-port", default=8080, show_default=True, type=int)
@click.option(
    "--log-level",
    default="info",
    show_default=True,
    type=click.Choice(["debug", "info", "warning", "error"]),
)
@click.option(
    "--printer",
    "printer_spec",
    default=None,
    help="Thermal printer for the results protocol: a settings file, or "
    "usb:VID:PID, serial:/dev/ttyUSB0[:baud], tcp:host[:port], file:PATH.",
)
@click.option(
    "--api-docs",
    is_flag=True,
    help="Serve the OpenAPI document (/openapi.json, /docs) to logged-in workers.",
)
def serve(
    setup_path: Path,
    data_dir: Path,
    broker_host: str,
    broker_port: int,
    login_path: Path | None,
    http_host: str,
    http_port: int,
    log_level: str,
    printer_spec: str | None,
    api_docs: bool,
) -> None:
    """Run the controller until interrupted (Ctrl-C or SIGTERM)."""
    from controller.broker.login import LoginError, read_login
    from controller.printing.config import PrintConfigError, load_settings, parse_settings
    from controller.station.app import Station, StationError
    from controller.station.setup import SetupError

    login = None
    if login_path is not None:
        try:
            login = read_login(login_path)
        except LoginError as err:
            raise click.ClickException(str(err)) from None
    printer = None
    if printer_spec:
        try:
            if Path(printer_spec).is_file():
                printer = load_settings(printer_spec)
            else:
                printer = parse_settings(printer_spec)
        except PrintConfigError as err:
            raise click.ClickException(str(err)) from None

    logging.basicConfig(
        level=log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    try:
        station = Station(
            setup_path,
            data_dir,
            broker_host=broker_host,
            broker_port=broker_port,
            http_host=http_host,
            http_port=http_port,
            printer=printer,
            api_docs=api_docs,
            broker_login=login,
        ).start()
    except (SetupError, StationError, RuntimeError, OSError) as err:
        raise click.ClickException(str(err)) from None
    click.echo(f"station {station.station} ({station.mode} mode): dashboard at {station.url}/")
    try:
        stop.wait()
    finally:
        station.stop()
    click.echo("controller stopped")


@controller.command("check-voters")
@click.argument("voters", type=click.Path(dir_okay=False, exists=True, path_type=Path))
@click.option(
    "--election",
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    help="Also check every voter's ballot style against this election.",
)
def check_voters(voters: Path, election: Path | None) -> None:
    """Validate a voter list (CSV or JSON) without importing it."""
    from controller.checkin.voter_list import VoterListError, load_voters

    styles = None
    if election is not None:
        from controller.election.load import load_election

        styles = set(load_election(election).styles)
    try:
        found = load_voters(voters, styles)
    except VoterListError as err:
        raise click.ClickException(str(err)) from None
    click.echo(f"{voters}: {len(found)} voters, no problems")


@controller.command("keygen")
@click.option(
    "--out",
    "out",
    default="station.key",
    show_default=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="Where to write the private key (beside station.json, its default place).",
)
@click.option("--force", is_flag=True, help="Replace an existing key (its records then no "
              "longer verify with the new public key).")
def keygen(out: Path, force: bool) -> None:
    """Make the station's Ed25519 signing key; print its public key.

    The private key is written readable by its owner only (0600); the public key is
    written beside it (station.pub) and goes into the station setup's ``public_key``
    and to whoever verifies the station's records.
    """
    from controller.integrity import station_key

    try:
        public = station_key.generate(out, force)
    except station_key.StationKeyError as err:
        raise click.ClickException(str(err)) from None
    click.echo(f"private key: {out} (mode 600)")
    click.echo(f"public key:  {station_key.public_path(out)}")
    click.echo(station_key.public_hex(public))


@controller.command("verify-audit")
@click.option(
    "--data",
    "data_dir",
    required=True,
    type=click.Path(file_okay=False, exists=True, path_type=Path),
)
@click.option(
    "--public-key",
    "public_key",
    required=True,
    help="The station's public key: 64 hex digits, or the station.pub file.",
)
@click.option(
    "--election",
    "election_path",
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    help="The election definition to recount with (else the one kept with the records).",
)
@click.option(
    "--paper",
    "paper",
    default=None,
    help="The audit seal code printed on the signed results protocol, to compare.",
)
@click.option(
    "--cvr",
    "cvr_file",
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    help="A cast vote record export (export-cvr) to check against the closing seal.",
)
def verify_audit(
    data_dir: Path,
    public_key: str,
    election_path: Path | None,
    paper: str | None,
    cvr_file: Path | None,
) -> None:
    """Check a station's audit log, its signatures, cast vote records and results.

    Needs only the station's public key. Every problem found is printed with what
    differs and where; the exit status is 1 if there is any.
    """
    import sqlite3

    from controller.election.definition import ElectionError
    from controller.election.load import load_election
    from controller.integrity import station_key
    from controller.integrity.verify import check_data

    try:
        key = station_key.load_public(public_key)
    except station_key.StationKeyError as err:
        raise click.ClickException(str(err)) from None
    try:
        election = load_election(election_path) if election_path is not None else None
    except ElectionError as err:
        raise click.ClickException(str(err)) from None
    db = data_dir / "station.db"
    if not db.is_file():
        raise click.ClickException(f"no station database in {data_dir}")
    try:
        report = check_data(data_dir, key, election, paper, cvr_file)
    except sqlite3.DatabaseError as err:
        raise click.ClickException(f"{db} cannot be read ({err}): damaged or truncated") from None
    for problem in report.problems:
        click.echo(problem)
    if not report.ok:
        raise click.ClickException(
            f"{len(report.problems)} problem(s) in {report.entries} audit entries"
        )
    click.echo(f"audit log intact: {report.entries} entries, signed up to entry "
               f"{report.signed_entry} by station key {report.key}")
    if report.paper_code:
        click.echo(f"closing seal {report.paper_code}: results and cast vote records "
                   "as signed")
    if report.recounted:
        click.echo("recount of the cast vote records matches the results")
    if cvr_file is not None:
        click.echo(f"{cvr_file}: the cast vote records signed at closing")


@controller.command("export-cvr")
@click.option(
    "--data",
    "data_dir",
    required=True,
    type=click.Path(file_okay=False, exists=True, path_type=Path),
    help="The station's data directory.",
)
@click.option(
    "--out",
    "out",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="The file to write the NIST SP 1500-103 report to.",
)
@click.option(
    "--election",
    "election_path",
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    help="The election definition, when no ballot was cast (else the one kept is used).",
)
def export_cvr(data_dir: Path, out: Path, election_path: Path | None) -> None:
    """Write the cast vote records of a closed station, and print their hashes."""
    from controller.election.definition import ElectionError
    from controller.election.load import load_election
    from controller.nist.cvr import CvrError
    from controller.nist.export import export_cvrs
    from controller.polls.state import PollsError
    from controller.store.database import Store

    db = data_dir / "station.db"
    if not db.is_file():
        raise click.ClickException(f"no station database in {data_dir}")
    try:
        election = load_election(election_path) if election_path is not None else None
    except ElectionError as err:
        raise click.ClickException(str(err)) from None
    store = Store(db)
    try:
        # The archival export: checked against the published schema too.
        export = export_cvrs(store, election, schema_check=True)
    except (PollsError, CvrError) as err:
        raise click.ClickException(str(err)) from None
    finally:
        store.close()
    try:
        out.write_bytes(export.data)
    except OSError as err:
        raise click.ClickException(f"cannot write {out}: {err.strerror or err}") from None
    click.echo(f"{out}: {export.count} cast vote records")
    click.echo(f"records sha256 {export.records_sha256}")
    click.echo(f"report sha256  {export.report_sha256}")
