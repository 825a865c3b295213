"""``shailoo devices``: what is plugged into this machine, and whether we may open it.

``shailoo devices list`` prints one line per serial port and USB device with the
role Shailoo recognises and whether the current user can open it; below the table,
each device the user may not open gets the udev rule that fixes it. ``--json``
prints a list of objects instead. When USB cannot be listed (no libusb), serial
ports are still listed and the reason goes to standard error.
"""

from __future__ import annotations

import json

import click

from drivers import discovery


@click.group("devices")
def devices() -> None:
    """Attached serial ports and USB devices: roles and permissions."""


def _ids(found: discovery.Found) -> str:
    if found.vid is None:
        return "-"
    return f"{found.vid}:{found.pid}"


@devices.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON list of objects.")
def list_devices(as_json: bool) -> None:
    """List serial ports and USB devices with their role and access."""
    listing = discovery.discover()
    if listing.usb_error:
        click.echo(f"USB listing unavailable: {listing.usb_error}", err=True)
    if as_json:
        click.echo(json.dumps([f.to_json() for f in listing.devices], indent=2))
        return
    if not listing.devices:
        click.echo("no serial ports or USB devices found")
        return
    rows = [(f.path or "?", _ids(f), f.access, f.label) for f in listing.devices]
    widths = [max(len(r[i]) for r in rows + [("PATH", "VID:PID", "ACCESS", "")]) for i in range(3)]
    click.echo(f"{'PATH':<{widths[0]}}  {'VID:PID':<{widths[1]}}  {'ACCESS':<{widths[2]}}  ROLE")
    for path, ids, access, label in rows:
        click.echo(f"{path:<{widths[0]}}  {ids:<{widths[1]}}  {access:<{widths[2]}}  {label}")
    denied = [f for f in listing.devices if f.hint]
    for found in denied:
        click.echo("")
        click.echo(f"{found.path}: {found.hint}")
