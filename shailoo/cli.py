"""``shailoo``: the one command line of the project.

Subcommand groups live beside the code they drive (``controller/cli.py``,
``hil/cli.py``, ...) and are imported only when called, so ``shailoo --help`` stays
fast and a technician's laptop without, say, a browser still runs the rest.
"""

from __future__ import annotations

import importlib
import os

import click

from shailoo import __version__

# The controller answers many small requests at once (a finger comparison is under a
# millisecond of matrix work); BLAS thread pools per call oversubscribe the station's
# cores and made one comparison take tens of milliseconds on a busy machine. Set before
# any subcommand imports numpy; an operator may still choose otherwise in the environment.
for _name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_name, "1")

# name -> (module, attribute, one-line help)
SUBCOMMANDS = {
    "controller": ("controller.station.cli", "controller", "Run the station controller."),
    "broker": ("controller.broker.cli", "broker",
               "Station broker: CA, certificates, accounts, ACL, mosquitto.conf."),
    "demo": ("hil.cli", "demo", "Run a whole training station on this machine."),
    "ballots": ("controller.ballots.cli", "ballots", "Render and read ballots."),
    "id": ("drivers.id_cli", "id_group", "ID documents: parse machine-readable zones."),
    "bio": ("controller.biometrics.cli", "bio", "Fingerprints: extract, match, identify."),
    "election": ("controller.election.cli", "election",
                 "Election definitions: check, convert NIST SP 1500-100."),
    "printer": ("controller.printing.cli", "printer",
                "Thermal printer: status, print the results protocol again."),
    "devices": ("drivers.discovery_cli", "devices", "Attached serial and USB devices."),
    "workers": ("controller.workers.cli", "workers",
                "Poll workers: enrol (PIN and TOTP secret), list, remove."),
}


class LazyGroup(click.Group):
    """A click group whose subcommands are imported on first use."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(SUBCOMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in SUBCOMMANDS:
            return None
        module_name, attr, _ = SUBCOMMANDS[cmd_name]
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as err:
            if err.name and module_name.startswith(err.name):
                return None
            raise
        return getattr(module, attr)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        rows = [(name, SUBCOMMANDS[name][2]) for name in self.list_commands(ctx)]
        with formatter.section("Commands"):
            formatter.write_dl(rows)


@click.group(cls=LazyGroup)
@click.version_option(__version__, prog_name="shailoo")
def main() -> None:
    """Shailoo: firmware and station software for polling stations."""


if __name__ == "__main__":
    main()
