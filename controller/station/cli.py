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


@controller.command("verify-audit")
@click.option(
    "--data",
    "data_dir",
    required=True,
    type=click.Path(file_okay=False, exists=True, path_type=Path),
)
def verify_audit(data_dir: Path) -> None:
    """Walk the hash chain of a station's audit log."""
    from controller.store import audit
    from controller.store.database import Store

    db = data_dir / "station.db"
    if not db.is_file():
        raise click.ClickException(f"no station database in {data_dir}")
    store = Store(db)
    try:
        with store.read() as conn:
            ok, bad = audit.verify(conn)
            count = conn.execute("SELECT COUNT(*) FROM audit").fetchone()[0]
    finally:
        store.close()
    if not ok:
        raise click.ClickException(f"audit chain broken at entry {bad} (of {count})")
    click.echo(f"audit chain intact: {count} entries")


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
