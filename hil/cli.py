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
@click.option("--terminals", default=2, show_default=True, type=click.IntRange(1, 16))
@click.option("--scanners", default=1, show_default=True, type=click.IntRange(1, 8))
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
    terminals: int,
    scanners: int,
    election: Path | None,
    pace: float | None,
) -> None:
    """Run a whole polling station (TEST MODE) with simulated voters."""
    from hil.demo import run_demo
    from hil.rig import RigError

    try:
        code = run_demo(
            voters, until_closed, http_port, seed, terminals, scanners, election, pace
        )
    except RigError as err:
        raise click.ClickException(str(err)) from None
    sys.exit(code)
