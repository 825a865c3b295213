"""``shailoo broker``: the station broker's configuration."""

from __future__ import annotations

from pathlib import Path

import click


@click.group()
def broker() -> None:
    """The station's MQTT broker: certificates, accounts, ACL, Mosquitto configuration."""


@broker.command("config")
@click.option(
    "--setup",
    "setup_path",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="The station setup file (station.json): the station and its devices.",
)
@click.option(
    "--out",
    required=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="Folder for the configuration (its CA and controller password are kept).",
)
@click.option(
    "--host",
    "hosts",
    multiple=True,
    help="Host name or IP address the devices and controller use to reach the broker "
    "(repeat for several; default 127.0.0.1 and localhost). The first goes to the devices.",
)
@click.option("--port", default=8883, show_default=True, type=int, help="TLS listener port.")
@click.option("--bind", default=None, help="Address the listener binds to (default: all).")
def config(
    setup_path: Path, out: Path, hosts: tuple[str, ...], port: int, bind: str | None
) -> None:
    """Write mosquitto.conf, CA, server certificate, passwords and ACL for a station."""
    from controller.broker.files import DEFAULT_HOSTS, BrokerConfigError, write_broker_config
    from controller.station.setup import SetupError, load_setup

    try:
        setup = load_setup(setup_path)
        files = write_broker_config(setup, out, list(hosts or DEFAULT_HOSTS), port, bind)
    except (SetupError, BrokerConfigError) as err:
        raise click.ClickException(str(err)) from None
    except OSError as err:
        raise click.ClickException(f"cannot write {out}: {err}") from None
    click.echo(f"broker configuration of station {setup.station} in {files.directory}/")
    click.echo(f"  run:        mosquitto -c {files.conf.resolve()}")
    login = files.path("controller.json")
    click.echo(f"  controller: shailoo controller serve --broker-login {login}")
    click.echo(f"  devices:    merge {files.path('device-broker.json')} into config.json 'broker'")
