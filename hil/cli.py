"""``shailoo demo``: a whole training station on this machine."""

from __future__ import annotations

import sys
from pathlib import Path

import click


@click.command()
@click.option(
    "--voters",
    type=click.IntRange(0, 5000),
    default=None,
    help="How many voters come (default 20; 40 with --until-closed).",
)
@click.option(
    "--until-closed",
    is_flag=True,
    help="Run the day, close the polls, print the results and compare them with what the "
    "voters marked; exit 0 only when they match.",
)
@click.option("--http-port", default=8080, show_default=True, type=click.IntRange(0, 65535))
@click.option("--seed", default=1, show_default=True, type=int, help="Voter list and marks.")
@click.option(
    "--station",
    "station_file",
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    default=None,
    help="Station description: which devices, which peripherals on which UART, which "
    "target (default: hil/stations/training.json, 2 terminals and 1 scanner).",
)
@click.option(
    "--terminals",
    type=click.IntRange(1, 16),
    default=None,
    help="Terminals of the demo's kind (default 2); not with --station.",
)
@click.option(
    "--scanners",
    type=click.IntRange(1, 8),
    default=None,
    help="Scanners of the demo's kind (default 1); not with --station.",
)
@click.option(
    "--election",
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    default=None,
    help="Election definition (default: examples/election.json).",
)
@click.option(
    "--pace",
    type=click.FloatRange(0, 600),
    default=None,
    help="Seconds between voters' arrivals (default 3; 0 with --until-closed).",
)
def demo(
    voters: int | None,
    until_closed: bool,
    http_port: int,
    seed: int,
    station_file: Path | None,
    terminals: int | None,
    scanners: int | None,
    election: Path | None,
    pace: float | None,
) -> None:
    """Run a whole polling station (TEST MODE) with simulated voters."""
    from hil.demo import run_demo
    from hil.rig import RigError
    from hil.station import StationDescriptionError, load_station, standard_station

    try:
        if station_file is not None:
            if terminals is not None or scanners is not None:
                raise click.UsageError("--terminals and --scanners come from the --station file")
            description = load_station(station_file)
        else:
            description = standard_station(terminals or 2, scanners or 1)
        code = run_demo(voters, until_closed, http_port, seed, description, election, pace)
    except (RigError, StationDescriptionError) as err:
        raise click.ClickException(str(err)) from None
    sys.exit(code)
