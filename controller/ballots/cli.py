"""``shailoo ballots``: render printable ballots and read scans of them.

``render`` writes, for every ballot style (or the ones given), ``NAME.png`` with
``NAME.layout.json`` (the oval targets in pixels of that PNG), or ``NAME.pdf`` for
print. ``read`` prints what the reader makes of each scan; with ``--json`` one JSON
object per line. Rendering makes official ballots and reading expects them unless
``--test`` is given.
"""

from __future__ import annotations

import hashlib
import json
import re
import sys
from pathlib import Path
from typing import Any

import click

from controller.ballots.layout import PAPERS, LayoutError
from controller.ballots.read import DEFAULT_THRESHOLDS, BallotImageError, read_ballot
from controller.ballots.render import render_ballot, render_pdf
from controller.ballots.scanfile import load_scan
from controller.election.definition import ElectionError, is_id
from controller.election.load import load_election

_election_option = click.option(
    "--election",
    "election_path",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="The election definition (JSON, see docs/election.md; NIST SP 1500-100 too).",
)


def _load(path: Path) -> Any:
    try:
        election = load_election(path)
    except ElectionError as err:
        raise click.ClickException(str(err)) from None
    for warning in election.warnings:
        click.echo(f"{path}: warning: {warning}", err=True)
    return election


_UNSAFE = re.compile(r"[^A-Za-z0-9._-]")
_NAME_PART = 40


def file_part(text: str) -> str:
    """``text`` as a safe part of a file name: kept as it is when it is plain
    (``s-d07``), else its plain characters with a short hash of the whole, so that no id
    of a definition can name a path elsewhere (``../x``) or two ids one file."""
    safe = _UNSAFE.sub("_", text)
    if safe == text and len(text) <= _NAME_PART and not text.startswith("."):
        return text
    digest = hashlib.sha256(text.encode("utf-8")).hexdigest()[:8]
    return f"{safe.lstrip('.')[:_NAME_PART]}~{digest}"


@click.group()
def ballots() -> None:
    """Render and read ballots."""


@ballots.command()
@_election_option
@click.option("--style", "styles", multiple=True,
              help="Ballot style (repeatable; default: all, or all the --station issues).")
@click.option("--station", default=None, help="Valid only at this station (default: any).")
@click.option("--dpi", default=200, show_default=True, type=click.IntRange(100, 600),
              help="Resolution of the PNG.")
@click.option("--paper", default="A4", show_default=True, type=click.Choice(sorted(PAPERS)))
@click.option("--format", "fmt", default="png", show_default=True,
              type=click.Choice(["png", "pdf"]),
              help="png: a raster at --dpi with its layout record; pdf: vector, for print.")
@click.option("--test", "test_mode", is_flag=True, help="Test ballots (with the test band).")
@click.option("--out", "out_dir", required=True,
              type=click.Path(file_okay=False, path_type=Path), help="Output directory.")
def render(election_path: Path, styles: tuple[str, ...], station: str | None, dpi: int,
           paper: str, fmt: str, test_mode: bool, out_dir: Path) -> None:
    """Render the ballots of an election, one file per style."""
    election = _load(election_path)
    mode = "test" if test_mode else "official"
    held = _held_at(election, station)
    chosen = list(dict.fromkeys(styles)) or sorted(held if held is not None else election.styles)
    unknown = [s for s in chosen if s not in election.styles]
    if unknown:
        raise click.ClickException(
            f"no ballot style {', '.join(unknown)} in {election.id} "
            f"(it has {', '.join(sorted(election.styles))})"
        )
    elsewhere = [s for s in chosen if held is not None and s not in held]
    if elsewhere:
        # The reader refuses them at that station: printing them helps nobody.
        raise click.ClickException(
            f"station {station} does not issue ballot style {', '.join(elsewhere)} "
            f"(it issues {', '.join(held or []) or 'none'})"
        )
    out_dir.mkdir(parents=True, exist_ok=True)
    for style in chosen:
        name = "-".join(file_part(p) for p in (election.id, style, station, mode) if p)
        try:
            if fmt == "pdf":
                path = out_dir / f"{name}.pdf"
                path.write_bytes(render_pdf(election, [style], mode, station, paper))
            else:
                image, layout = render_ballot(election, style, dpi, mode, station, paper)
                path = out_dir / f"{name}.png"
                image.save(path, dpi=(dpi, dpi))
                (out_dir / f"{name}.layout.json").write_text(
                    json.dumps(layout, ensure_ascii=False, indent=1) + "\n", encoding="utf-8"
                )
        except (ValueError, LayoutError) as err:
            raise click.ClickException(str(err)) from None
        click.echo(str(path))


def _held_at(election: Any, station: str | None) -> list[str] | None:
    """The styles ``station`` issues when the definition says, else None (any style).

    A station the definition does not name is refused when the definition names its
    stations; a style that names no stations is issued everywhere.
    """
    if station is None:
        return None
    if not election.stations:
        if not is_id(station):
            # Then it is a station's own id, as its setup gives it.
            raise click.ClickException(
                f"{station!r} is not a station id (a-z, 0-9 and '-', at most 32)"
            )
        return None
    try:
        election.station(station)
    except KeyError:
        raise click.ClickException(
            f"election {election.id} names no polling station {station} "
            f"(it names {', '.join(s.id for s in election.stations)})"
        ) from None
    return [sid for sid in election.styles
            if not election.style_stations.get(sid) or station in election.style_stations[sid]]


def _summary(record: dict[str, Any]) -> str:
    if record["status"] == "error":
        return f"{record['file']}: error: {record['error']}"
    if record["status"] == "rejected":
        return f"{record['file']}: rejected ({record['reason']}): {record['detail']}"
    contests = "; ".join(
        f"{cid}={','.join(record['votes'][cid]) or '-'} ({verdict})"
        for cid, verdict in record["contests"].items()
    )
    marginal = sum(1 for m in record["marks"] if m["class"] == "marginal")
    flag = f"  [{marginal} marginal]" if marginal else ""
    return f"{record['file']}: accepted {record['style']}: {contests}{flag}"


@ballots.command()
@click.argument("images", nargs=-1, required=True,
                type=click.Path(dir_okay=True, path_type=Path))
@_election_option
@click.option("--station", default=None, help="This station's id (default: accept any).")
@click.option("--official/--test", "official", default=True,
              help="The station's mode (default official).")
@click.option("--dpi", default=None, type=click.IntRange(50, 1200),
              help="The scans' resolution (default: as each file states): enables the "
                   "wrong-scale check.")
@click.option("--marked", type=float, default=None,
              help=f"Score from which a mark is a vote (default {DEFAULT_THRESHOLDS['marked']}).")
@click.option("--marginal", type=float, default=None,
              help="Score from which a mark is flagged for review "
                   f"(default {DEFAULT_THRESHOLDS['marginal']}).")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per image and line.")
def read(images: tuple[Path, ...], election_path: Path, station: str | None, official: bool,
         dpi: int | None, marked: float | None, marginal: float | None, as_json: bool) -> None:
    """Read scanned ballots; exits 1 when a file could not be read at all."""
    election = _load(election_path)
    thresholds = {k: v for k, v in (("marked", marked), ("marginal", marginal)) if v is not None}
    mode = "official" if official else "test"
    failed = False
    for path in images:
        try:
            pixels, stated_dpi = load_scan(path)
            record = {"file": str(path)} | read_ballot(
                pixels, election, mode=mode, station=station, thresholds=thresholds or None,
                dpi=dpi or stated_dpi,
            )
        except BallotImageError as err:
            failed = True
            record = {"file": str(path), "status": "error", "error": str(err)}
        except ValueError as err:
            raise click.ClickException(str(err)) from None
        click.echo(json.dumps(record, ensure_ascii=False) if as_json else _summary(record))
    if failed:
        sys.exit(1)
